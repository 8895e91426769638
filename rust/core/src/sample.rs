//! Exact samplers for the posterior draws of Thompson sampling: a ziggurat standard normal
//! and Marsaglia and Tsang's Gamma, written so that the raw random words of a whole decision
//! can be drawn first and then consumed by branch-light arithmetic.
//!
//! Why not `rand_distr`: its ziggurat tables are private, so its normal cannot be fed
//! pre-drawn words, and its `Gamma` builds a distribution object per draw. Thompson sampling
//! draws 2K gammas per decision; drawing the words in one tight loop and keeping each arm's
//! constants between decisions halves the cost of a decision.
//!
//! Exactness: every draw is an exact sample (up to floating-point rounding, as for any
//! sampler). A pre-drawn word is used only for the first attempt of a draw; any rejection
//! continues with fresh words from the generator, which are independent of everything used
//! before, so the accepted value has the target distribution.

use crate::rng::Rng;
use std::sync::OnceLock;

/// Layers of the ziggurat (the low 8 bits of a word pick one).
const LAYERS: usize = 256;
/// Start of the tail and the common area of the layers for 256 layers (Marsaglia and
/// Tsang 2000, "The ziggurat method for generating random variables").
const TAIL_START: f64 = 3.654_152_885_361_009;
const LAYER_AREA: f64 = 0.004_928_673_233_99;

/// The ziggurat's tables (see [`tables`]).
pub struct Ziggurat {
    /// Right edges of the layers, decreasing: x[0] = LAYER_AREA / f(R) is the base strip's
    /// pseudo-width, x[1] = R, x[256] = 0.
    x: [f64; LAYERS + 1],
    /// f(x[i]) with f(x) = exp(-x^2 / 2) (unnormalized density).
    f: [f64; LAYERS + 1],
}

#[inline(always)]
fn unnormalized_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp()
}

/// The tables, computed once by the ziggurat's recurrence x[i+1] = f^-1(V / x[i] + f(x[i])).
/// Callers drawing many values fetch them once and pass them to [`normal_from`].
pub fn tables() -> &'static Ziggurat {
    static TABLES: OnceLock<Ziggurat> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut x = [0.0; LAYERS + 1];
        x[0] = LAYER_AREA / unnormalized_pdf(TAIL_START);
        x[1] = TAIL_START;
        for i in 2..LAYERS {
            let y = LAYER_AREA / x[i - 1] + unnormalized_pdf(x[i - 1]);
            x[i] = if y >= 1.0 {
                0.0
            } else {
                (-2.0 * y.ln()).sqrt()
            };
        }
        let mut f = [0.0; LAYERS + 1];
        for (fi, &xi) in f.iter_mut().zip(x.iter()) {
            *fi = unnormalized_pdf(xi);
        }
        Ziggurat { x, f }
    })
}

/// Uniform in (0, 1), never 0 (for logarithms).
#[inline(always)]
fn open01(rng: &mut Rng) -> f64 {
    ((rng.next_raw() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in [0, 1) from one word, as `Rng::uniform`.
#[inline(always)]
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A ziggurat attempt from one word: the layer (low 8 bits), the signed position in it
/// (high 52 bits, in [-1, 1)) and the candidate value.
#[inline(always)]
fn attempt(z: &Ziggurat, bits: u64) -> (usize, f64, f64) {
    let i = (bits & 0xff) as usize;
    // 52 random bits as a float in [2, 4), shifted to [-1, 1).
    let u = f64::from_bits((bits >> 12) | 0x4000_0000_0000_0000) - 3.0;
    (i, u, u * z.x[i])
}

/// A standard normal draw whose first attempt uses `bits`. About 99% of draws end at the
/// first comparison.
#[inline(always)]
pub fn normal_from(z: &Ziggurat, bits: u64, rng: &mut Rng) -> f64 {
    let (i, u, x) = attempt(z, bits);
    if x.abs() < z.x[i + 1] {
        return x;
    }
    normal_slow(z, i, u, x, rng)
}

/// The rest of a ziggurat attempt that missed the layer's core: the tail (layer 0) or the
/// wedge test, then fresh attempts until one is accepted.
#[inline(never)]
fn normal_slow(z: &Ziggurat, mut i: usize, mut u: f64, mut x: f64, rng: &mut Rng) -> f64 {
    loop {
        if i == 0 {
            // Marsaglia's tail method beyond R.
            loop {
                let e = -open01(rng).ln() / TAIL_START;
                let y = -open01(rng).ln();
                if 2.0 * y >= e * e {
                    return if u < 0.0 {
                        -(TAIL_START + e)
                    } else {
                        TAIL_START + e
                    };
                }
            }
        }
        // f increases with i: a uniform height between f[i] and f[i+1].
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * rng.uniform() < unnormalized_pdf(x) {
            return x;
        }
        (i, u, x) = attempt(z, rng.next_raw());
        if x.abs() < z.x[i + 1] {
            return x;
        }
    }
}

/// A standard normal draw.
#[inline]
pub fn normal(rng: &mut Rng) -> f64 {
    let bits = rng.next_raw();
    normal_from(tables(), bits, rng)
}

/// Marsaglia and Tsang's (2000) sampler for Gamma(shape, 1), with the constants of one shape
/// kept between draws (Thompson sampling keeps them per arm; they change only when the arm
/// is updated).
///
/// The acceptance test of a proposal `d v`, `v = (1 + c x)^3`, is
/// `ln u < x^2 / 2 + d (1 - v + ln v)`. Written as `h = d g(y)` with `y = c x`,
/// `g(y) = 3 [ln(1 + y) - (y - y^2/2 + y^3/3)] >= -(3/4) y^4 / min(1 + y, 1)` (the remainder of
/// the logarithm's series), and `exp(h) >= 1 + h`, so
/// `min(1 + y, 1) (1 - u) > x^4 / (108 d)` accepts without a logarithm. This squeeze is
/// tighter than the paper's `u < 1 - 0.0331 x^4` for every shape (it tends to certain
/// acceptance as the shape grows, where posterior shapes live), and the logarithms are
/// computed only when it fails.
#[derive(Clone, Copy, Debug)]
pub struct GammaSampler {
    d: f64,
    c: f64,
    /// 1 / (108 d), the squeeze's coefficient.
    squeeze: f64,
    /// 1 / shape when shape < 1 (boosted: Gamma(a) = Gamma(a + 1) U^(1/a)), else 0.
    inv_small_shape: f64,
}

impl GammaSampler {
    #[inline]
    pub fn new(shape: f64) -> Self {
        let (boosted, inv_small_shape) = if shape >= 1.0 {
            (shape, 0.0)
        } else {
            (shape + 1.0, 1.0 / shape)
        };
        let d = boosted - 1.0 / 3.0;
        GammaSampler {
            d,
            c: 1.0 / (9.0 * d).sqrt(),
            squeeze: 1.0 / (108.0 * d),
            inv_small_shape,
        }
    }

    /// One draw whose first attempt uses the words `normal_bits` and `uniform_bits`.
    #[inline(always)]
    pub fn sample_from(
        &self,
        z: &Ziggurat,
        normal_bits: u64,
        uniform_bits: u64,
        rng: &mut Rng,
    ) -> f64 {
        let x = normal_from(z, normal_bits, rng);
        let u = unit(uniform_bits);
        // The squeeze inline; the logarithmic test and rejections out of line.
        let g = match self.squeezed(x, u) {
            Some(g) => g,
            None => self.finish(x, u, rng),
        };
        self.unboost(g, rng)
    }

    /// One draw.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let g = self.sample_fresh(rng);
        self.unboost(g, rng)
    }

    /// The proposal `d v^3` if the squeeze accepts `(x, u)`.
    #[inline(always)]
    fn squeezed(&self, x: f64, u: f64) -> Option<f64> {
        let v = 1.0 + self.c * x;
        let x2 = x * x;
        (v > 0.0 && v.min(1.0) * (1.0 - u) > self.squeeze * x2 * x2).then_some(self.d * v * v * v)
    }

    /// The proposal `d v^3` if the exact (logarithmic) test accepts `(x, u)`.
    #[inline(always)]
    fn log_test(&self, x: f64, u: f64) -> Option<f64> {
        let v = 1.0 + self.c * x;
        if v <= 0.0 {
            return None;
        }
        let v3 = v * v * v;
        (u.ln() < 0.5 * x * x + self.d * (1.0 - v3 + v3.ln())).then_some(self.d * v3)
    }

    /// A first attempt the squeeze did not accept: the exact test, then fresh attempts.
    #[inline(never)]
    fn finish(&self, x: f64, u: f64, rng: &mut Rng) -> f64 {
        match self.log_test(x, u) {
            Some(g) => g,
            None => self.sample_fresh(rng),
        }
    }

    #[inline(never)]
    fn sample_fresh(&self, rng: &mut Rng) -> f64 {
        loop {
            let x = normal(rng);
            let u = rng.uniform();
            if let Some(g) = self.squeezed(x, u).or_else(|| self.log_test(x, u)) {
                return g;
            }
        }
    }

    #[inline(always)]
    fn unboost(&self, g: f64, rng: &mut Rng) -> f64 {
        if self.inv_small_shape == 0.0 {
            g
        } else {
            self.unboost_small_shape(g, rng)
        }
    }

    #[cold]
    #[inline(never)]
    fn unboost_small_shape(&self, g: f64, rng: &mut Rng) -> f64 {
        g * rng.uniform().powf(self.inv_small_shape)
    }
}

/// One Gamma(shape, 1) draw.
#[inline]
pub fn gamma(shape: f64, rng: &mut Rng) -> f64 {
    GammaSampler::new(shape).sample(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::inc_beta_pair;

    /// Kolmogorov-Smirnov statistic of `xs` against the CDF `cdf`.
    fn ks(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x);
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max)
    }

    /// The KS statistic's 0.1% critical value for n draws (1.95 / sqrt(n)).
    fn ks_critical(n: usize) -> f64 {
        1.95 / (n as f64).sqrt()
    }

    #[test]
    fn ziggurat_layers_have_equal_area() {
        let z = tables();
        for i in 1..LAYERS {
            // Layer i spans heights f[i]..f[i+1] with width x[i] (the rectangle convention).
            let area = z.x[i] * (z.f[i + 1] - z.f[i]);
            assert!((area / LAYER_AREA - 1.0).abs() < 1e-8, "layer {i}: {area}");
        }
        assert_eq!(z.x[LAYERS], 0.0);
    }

    #[test]
    fn normal_moments_and_shape() {
        let mut rng = Rng::seed_from_u64(3);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let m = |k: i32| xs.iter().map(|x| x.powi(k)).sum::<f64>() / n as f64;
        assert!(m(1).abs() < 5.0 / (n as f64).sqrt());
        assert!((m(2) - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt());
        assert!((m(4) - 3.0).abs() < 5.0 * (96.0 / n as f64).sqrt());
        let tail = xs.iter().filter(|x| x.abs() > TAIL_START).count() as f64 / n as f64;
        // P(|Z| > 3.654) = 2.58e-4.
        assert!(
            (tail - 2.58e-4).abs() < 5.0 * (2.58e-4 / n as f64).sqrt(),
            "{tail}"
        );
        // X^2 / (X^2 + Y^2) ~ Beta(1/2, 1/2) for independent standard normals.
        let ratios: Vec<f64> = xs
            .chunks(2)
            .map(|p| p[0] * p[0] / (p[0] * p[0] + p[1] * p[1]))
            .collect();
        let k = ratios.len();
        let d = ks(ratios, |r| inc_beta_pair(0.5, 0.5, r).0);
        assert!(d < ks_critical(k), "{d}");
    }

    #[test]
    fn squeeze_is_a_lower_bound_of_the_acceptance_probability() {
        let mut rng = Rng::seed_from_u64(5);
        for &shape in &[1.0, 1.3, 2.0, 10.0, 1e3, 1e6] {
            let g = GammaSampler::new(shape);
            for _ in 0..200_000 {
                let x = (rng.uniform() * 2.0 - 1.0) * 9.0;
                let v = 1.0 + g.c * x;
                if v <= 0.0 {
                    continue;
                }
                let v3 = v * v * v;
                let accept = (0.5 * x * x + g.d * (1.0 - v3 + v3.ln())).exp();
                let bound = 1.0 - g.squeeze * x.powi(4) / v.min(1.0);
                assert!(
                    bound <= accept + 1e-12,
                    "shape {shape} x {x}: {bound} > {accept}"
                );
            }
        }
    }

    #[test]
    fn beta_draws_follow_the_beta_distribution() {
        // Shapes below 1 (boosted), near 1 (the logarithm path is common) and large.
        let mut rng = Rng::seed_from_u64(11);
        for &(a, b) in &[
            (0.4, 0.7),
            (1.0, 1.0),
            (2.5, 1.5),
            (30.0, 70.0),
            (4000.0, 900.0),
        ] {
            let (ga, gb) = (GammaSampler::new(a), GammaSampler::new(b));
            let n = 100_000;
            let xs: Vec<f64> = (0..n)
                .map(|i| {
                    let (x, y) = if i % 2 == 0 {
                        (ga.sample(&mut rng), gb.sample(&mut rng))
                    } else {
                        let w = [rng.next_raw(), rng.next_raw(), rng.next_raw()];
                        let x = ga.sample_from(tables(), w[0], w[1], &mut rng);
                        (x, gb.sample_from(tables(), w[2], rng.next_raw(), &mut rng))
                    };
                    x / (x + y)
                })
                .collect();
            let d = ks(xs, |x| inc_beta_pair(a, b, x).0);
            assert!(d < ks_critical(n), "Beta({a}, {b}): KS {d}");
        }
    }

    #[test]
    fn gamma_moments() {
        let mut rng = Rng::seed_from_u64(12);
        for &shape in &[0.3, 1.0, 2.5, 40.0, 5000.0] {
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| gamma(shape, &mut rng)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            // Gamma(k, 1): mean k, variance k.
            assert!(
                (mean - shape).abs() < 5.0 * (shape / n as f64).sqrt(),
                "{shape} {mean}"
            );
            assert!((var / shape - 1.0).abs() < 0.03, "{shape} {var}");
        }
    }
}
