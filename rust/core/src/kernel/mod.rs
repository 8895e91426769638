//! Kernel bandits over a finite candidate set: covariance functions evaluated in blocks,
//! exact GP-UCB with the incremental posterior of docs/ALGORITHMS.md 1.1 ([`GPUCB`]) and the
//! budgeted kernelized bandit with a resampled Nystrom dictionary ([`BKB`], 1.2).
//!
//! Candidates are row-major `(A, d)` float64 matrices. Work over the candidates is split
//! into fixed-size row blocks run with rayon, so results do not depend on the thread count.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod bkb;
pub(crate) mod dense;
pub mod gpucb;
pub mod registry;
pub use bkb::BKB;
pub use gpucb::GPUCB;
pub use registry::AnyKernelBandit;

/// Rows per parallel block (fixed, so that results are identical on any number of threads).
pub const BLOCK: usize = 256;

/// A covariance function with a lengthscale `l` and a variance `s2`:
/// - `Rbf`: `s2 exp(-r^2 / (2 l^2))`
/// - `Matern12` / `Matern32` / `Matern52`: the Matern kernels with nu = 1/2, 3/2, 5/2 in
///   `r / l` (`s2 exp(-u)`, `s2 (1 + sqrt3 u) exp(-sqrt3 u)`,
///   `s2 (1 + sqrt5 u + 5u^2/3) exp(-sqrt5 u)`)
/// - `Linear`: `s2 <x, y> / l^2`
/// - `Polynomial`: `s2 (<x, y> / l^2 + offset)^degree`
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    Rbf {
        lengthscale: f64,
        variance: f64,
    },
    Matern12 {
        lengthscale: f64,
        variance: f64,
    },
    Matern32 {
        lengthscale: f64,
        variance: f64,
    },
    Matern52 {
        lengthscale: f64,
        variance: f64,
    },
    Linear {
        lengthscale: f64,
        variance: f64,
    },
    Polynomial {
        lengthscale: f64,
        variance: f64,
        degree: u32,
        offset: f64,
    },
}

fn positive(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number > 0, got {v}"),
        ))
    }
}

/// The accepted range of a kernel's lengthscale and variance. With kernel values
/// bounded by [`KERNEL_VALUE_LIMIT`] (and rewards, noise within their limits) the squares
/// and quotients of the posterior updates stay finite: a state always encodes and decodes.
pub const KERNEL_SCALE_RANGE: (f64, f64) = (1e-100, 1e100);
/// The largest k(x, x) accepted over the candidates; by Cauchy-Schwarz it bounds every
/// kernel value |k(x, y)| <= sqrt(k(x, x) k(y, y)).
pub const KERNEL_VALUE_LIMIT: f64 = 1e100;

fn in_scale_range(name: &str, v: f64) -> Result<()> {
    positive(name, v)?;
    if (KERNEL_SCALE_RANGE.0..=KERNEL_SCALE_RANGE.1).contains(&v) {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be in [1e-100, 1e100], got {}", crate::error::show(v)),
        ))
    }
}

/// `Ok` when every k(x, x) of the candidates is finite and at most
/// [`KERNEL_VALUE_LIMIT`], else the error naming the kernel and the first candidate.
pub(crate) fn check_kernel_diagonal(kdiag: &[f64]) -> Result<()> {
    match kdiag
        .iter()
        .position(|v| !(v.is_finite() && v.abs() <= KERNEL_VALUE_LIMIT))
    {
        None => Ok(()),
        Some(i) => Err(Error::param(
            "kernel",
            format!(
                "k(x, x) is {} at candidate {i}; kernel values must be at most 1e100 \
                 (lower the variance or the degree, or rescale the candidates)",
                crate::error::show(kdiag[i])
            ),
        )),
    }
}

impl Kernel {
    /// A kernel from its name (`rbf`, `matern12`, `matern32`, `matern52`, `linear`,
    /// `polynomial`) and parameters, validated.
    pub fn from_spec(
        name: &str,
        lengthscale: f64,
        variance: f64,
        degree: f64,
        offset: f64,
    ) -> Result<Kernel> {
        let (l, s2) = (lengthscale, variance);
        let k = match name.to_ascii_lowercase().replace(['-', '_', ' ', '/'], "").as_str() {
            "rbf" | "se" | "gaussian" | "squaredexponential" => Kernel::Rbf {
                lengthscale: l,
                variance: s2,
            },
            "matern12" | "exponential" | "laplace" => Kernel::Matern12 {
                lengthscale: l,
                variance: s2,
            },
            "matern32" | "matern" => Kernel::Matern32 {
                lengthscale: l,
                variance: s2,
            },
            "matern52" => Kernel::Matern52 {
                lengthscale: l,
                variance: s2,
            },
            "linear" => Kernel::Linear {
                lengthscale: l,
                variance: s2,
            },
            "polynomial" | "poly" => {
                if !((1.0..=64.0).contains(&degree) && degree.fract() == 0.0)
                {
                    return Err(Error::param(
                        "degree",
                        format!("must be an integer in [1, 64], got {degree}"),
                    ));
                }
                Kernel::Polynomial {
                    lengthscale: l,
                    variance: s2,
                    degree: degree as u32,
                    offset,
                }
            }
            other => {
                return Err(Error::param(
                    "kernel",
                    format!(
                        "unknown kernel {other:?}; expected one of rbf, matern12, matern32, matern52, linear, polynomial"
                    ),
                ))
            }
        };
        k.validate()?;
        Ok(k)
    }

    pub fn validate(&self) -> Result<()> {
        let (l, s2) = self.scale();
        in_scale_range("lengthscale", l)?;
        in_scale_range("variance", s2)?;
        if let Kernel::Polynomial { degree, offset, .. } = self {
            if !(1..=64).contains(degree) {
                return Err(Error::param(
                    "degree",
                    format!("must be an integer in [1, 64], got {degree}"),
                ));
            }
            if !(offset.is_finite() && *offset >= 0.0) {
                return Err(Error::param(
                    "offset",
                    format!("must be a finite number >= 0, got {offset}"),
                ));
            }
        }
        Ok(())
    }

    /// (lengthscale, variance).
    pub fn scale(&self) -> (f64, f64) {
        match *self {
            Kernel::Rbf {
                lengthscale,
                variance,
            }
            | Kernel::Matern12 {
                lengthscale,
                variance,
            }
            | Kernel::Matern32 {
                lengthscale,
                variance,
            }
            | Kernel::Matern52 {
                lengthscale,
                variance,
            }
            | Kernel::Linear {
                lengthscale,
                variance,
            }
            | Kernel::Polynomial {
                lengthscale,
                variance,
                ..
            } => (lengthscale, variance),
        }
    }

    /// The name `from_spec` reads.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Rbf { .. } => "rbf",
            Kernel::Matern12 { .. } => "matern12",
            Kernel::Matern32 { .. } => "matern32",
            Kernel::Matern52 { .. } => "matern52",
            Kernel::Linear { .. } => "linear",
            Kernel::Polynomial { .. } => "polynomial",
        }
    }

    pub fn describe(&self) -> String {
        let (l, s2) = self.scale();
        match self {
            Kernel::Polynomial { degree, offset, .. } => format!(
                "polynomial(lengthscale={l}, variance={s2}, degree={degree}, offset={offset})"
            ),
            _ => format!("{}(lengthscale={l}, variance={s2})", self.name()),
        }
    }

    /// k(x, y) for two points of the same length.
    #[inline]
    pub fn eval(&self, x: &[f64], y: &[f64]) -> f64 {
        let (l, s2) = self.scale();
        match *self {
            Kernel::Linear { .. } | Kernel::Polynomial { .. } => {
                let ip: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() / (l * l);
                match *self {
                    Kernel::Polynomial { degree, offset, .. } => {
                        s2 * (ip + offset).powi(degree as i32)
                    }
                    _ => s2 * ip,
                }
            }
            _ => {
                let r2: f64 =
                    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (l * l);
                match *self {
                    Kernel::Rbf { .. } => s2 * (-0.5 * r2).exp(),
                    Kernel::Matern12 { .. } => s2 * (-r2.sqrt()).exp(),
                    // Beyond u ~ 745 exp(-u) is 0; at u = inf the product would be NaN.
                    Kernel::Matern32 { .. } => {
                        let u = (3.0 * r2).sqrt();
                        if u > 800.0 {
                            return 0.0;
                        }
                        s2 * (1.0 + u) * (-u).exp()
                    }
                    _ => {
                        let u = (5.0 * r2).sqrt();
                        if u > 800.0 {
                            return 0.0;
                        }
                        s2 * (1.0 + u + u * u / 3.0) * (-u).exp()
                    }
                }
            }
        }
    }

    /// The block `K[i, j] = k(x_i, y_j)` of row-major `x` (n x d) and `y` (m x d), row-major
    /// (n x m), computed in parallel row blocks.
    pub fn block(&self, x: &[f64], y: &[f64], d: usize) -> Vec<f64> {
        let n = x.len().checked_div(d).unwrap_or(0);
        let m = y.len().checked_div(d).unwrap_or(0);
        let mut out = vec![0.0; n * m];
        if m == 0 {
            return out;
        }
        out.par_chunks_mut(BLOCK * m)
            .enumerate()
            .for_each(|(b, chunk)| {
                for (r, row) in chunk.chunks_mut(m).enumerate() {
                    let i = b * BLOCK + r;
                    let xi = &x[i * d..(i + 1) * d];
                    for (j, o) in row.iter_mut().enumerate() {
                        *o = self.eval(xi, &y[j * d..(j + 1) * d]);
                    }
                }
            });
        out
    }

    /// k(x_i, x_i) for every row of `x`.
    pub fn diag(&self, x: &[f64], d: usize) -> Vec<f64> {
        if d == 0 {
            return Vec::new();
        }
        x.chunks(d).map(|r| self.eval(r, r)).collect()
    }
}

/// Checks a candidate (or query) matrix: `len = n * d`, d >= 1, every value finite.
pub fn check_points(argument: &str, x: &[f64], d: usize) -> Result<usize> {
    if d == 0 {
        return Err(Error::shape(
            argument,
            "expected at least one feature (d >= 1)",
        ));
    }
    if x.len() % d != 0 {
        return Err(Error::shape(
            argument,
            format!("length {} is not a multiple of d = {d}", x.len()),
        ));
    }
    if let Some(p) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::shape(
            argument,
            format!(
                "row {}, column {} is {}; every value must be finite",
                p / d,
                p % d,
                x[p]
            ),
        ));
    }
    Ok(x.len() / d)
}

pub(crate) fn check_index(index: i64, a: usize) -> Result<usize> {
    if index < 0 || index as u64 >= a as u64 {
        return Err(Error::ArmOutOfRange {
            argument: "index".into(),
            arm: index,
            n_arms: a,
            position: None,
        });
    }
    Ok(index as usize)
}

pub(crate) fn check_reward(reward: f64) -> Result<()> {
    if !(-crate::policy::REWARD_LIMIT..=crate::policy::REWARD_LIMIT).contains(&reward) {
        return Err(Error::InvalidReward {
            argument: "reward".into(),
            value: reward,
            position: None,
            expected: "a number in [-1e100, 1e100]".into(),
        });
    }
    Ok(())
}

/// GP-UCB's confidence multiplier for a finite set (ALGORITHMS.md 1.1):
/// `beta_t = beta_scale * 2 log(A t^2 pi^2 / (6 delta))` at step `t >= 1`.
pub fn gp_ucb_beta(a: usize, t: u64, delta: f64, beta_scale: f64) -> f64 {
    let t = t.max(1) as f64;
    let pi2 = std::f64::consts::PI * std::f64::consts::PI;
    beta_scale * 2.0 * ((a as f64) * t * t * pi2 / (6.0 * delta)).ln().max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_have_the_documented_values() {
        let x = [0.0, 0.0];
        let y = [0.3, 0.4]; // r = 0.5
        let k = |name| Kernel::from_spec(name, 0.5, 2.0, 2.0, 1.0).unwrap();
        assert!((k("rbf").eval(&x, &y) - 2.0 * (-0.5f64).exp()).abs() < 1e-15);
        assert!((k("matern12").eval(&x, &y) - 2.0 * (-1.0f64).exp()).abs() < 1e-15);
        let u = 3f64.sqrt();
        assert!((k("matern32").eval(&x, &y) - 2.0 * (1.0 + u) * (-u).exp()).abs() < 1e-15);
        let u = 5f64.sqrt();
        let m52 = 2.0 * (1.0 + u + u * u / 3.0) * (-u).exp();
        assert!((k("matern52").eval(&x, &y) - m52).abs() < 1e-15);
        let a = [1.0, 2.0];
        assert!((k("linear").eval(&a, &y) - 2.0 * 1.1 / 0.25).abs() < 1e-12);
        assert!((k("polynomial").eval(&a, &y) - 2.0 * (4.4f64 + 1.0).powi(2)).abs() < 1e-12);
        let b = k("rbf").block(&[0.0, 0.0, 1.0, 1.0], &y, 2);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0], k("rbf").eval(&x, &y));
    }

    #[test]
    fn invalid_kernels_are_refused() {
        assert!(Kernel::from_spec("rbf", 0.0, 1.0, 1.0, 0.0).is_err());
        assert!(Kernel::from_spec("rbf", 1.0, f64::NAN, 1.0, 0.0).is_err());
        assert!(Kernel::from_spec("polynomial", 1.0, 1.0, 1.5, 0.0).is_err());
        assert!(Kernel::from_spec("polynomial", 1.0, 1.0, 2.0, -1.0).is_err());
        assert!(Kernel::from_spec("cosine", 1.0, 1.0, 1.0, 0.0).is_err());
    }
}
