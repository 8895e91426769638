//! CascadeLinUCB (Zong, Ni, Sung, Ke, Wen, Kveton 2016): attraction probabilities linear in
//! known item features, w(e) ~ x_e' theta, so what is learned about one item carries over
//! to the others. One ridge regression over every examined item's label.

use super::{CascadeCore, CascadePolicy};
use crate::error::{Error, Result};
use crate::linalg::spd_inverse;
use serde::{Deserialize, Serialize};

/// Index min(x_e' theta_hat + alpha sqrt(x_e' M^-1 x_e), 1)... without the clip: the
/// ranking is the same. M = lam I + sum x x' over examined items, theta_hat = M^-1 sum
/// label x. The state keeps the sums; M^-1 is recomputed (O(d^3)) per decision, so merged
/// and restored states score exactly as the one that learned everything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeLinUCB {
    core: CascadeCore,
    /// (L, d) row-major item features.
    features: Vec<f64>,
    dim: usize,
    alpha: f64,
    lam: f64,
    /// sum over examinations of x x' (d x d), and of label x.
    gram: Vec<f64>,
    b: Vec<f64>,
}

fn check_params(alpha: f64, lam: f64) -> Result<()> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(Error::param(
            "alpha",
            format!("must be a finite number >= 0, got {alpha}"),
        ));
    }
    if !(lam.is_finite() && lam > 0.0) {
        return Err(Error::param(
            "lam",
            format!("must be a finite number > 0, got {lam}"),
        ));
    }
    Ok(())
}

/// Features must be finite and bounded, so the sums stay finite for any count below 2^64.
const FEATURE_LIMIT: f64 = 1e100;

impl CascadeLinUCB {
    /// `features`: (n_items, dim) row-major.
    pub fn new(
        features: &[f64],
        n_items: usize,
        dim: usize,
        alpha: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_params(alpha, lam)?;
        if dim == 0 || features.len() != n_items.saturating_mul(dim) {
            return Err(Error::shape(
                "features",
                format!("expected a non-empty (n_items, dim) matrix, got {} values for {n_items} x {dim}", features.len()),
            ));
        }
        crate::limits::check_alloc("dim", &[dim, dim], 8)?;
        if let Some(i) = features
            .iter()
            .position(|v| !(v.is_finite() && v.abs() <= FEATURE_LIMIT))
        {
            return Err(Error::param(
                "features",
                format!(
                    "must be finite numbers of magnitude <= 1e100; row {} holds {}",
                    i / dim,
                    features[i]
                ),
            ));
        }
        Ok(CascadeLinUCB {
            core: CascadeCore::new(n_items, seed)?,
            features: features.to_vec(),
            dim,
            alpha,
            lam,
            gram: vec![0.0; dim * dim],
            b: vec![0.0; dim],
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    pub fn lam(&self) -> f64 {
        self.lam
    }
    pub fn features(&self) -> &[f64] {
        &self.features
    }

    /// (M^-1, theta_hat) for M = lam I + gram.
    fn posterior(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let mut m = self.gram.clone();
        for i in 0..d {
            m[i * d + i] += self.lam;
        }
        // M is SPD (lam > 0 plus a sum of outer products): the fallback only guards rounding.
        let inv = spd_inverse(&m, d).unwrap_or_else(|| {
            let mut id = vec![0.0; d * d];
            for i in 0..d {
                id[i * d + i] = 1.0 / self.lam;
            }
            id
        });
        let mut theta = vec![0.0; d];
        crate::linalg::matvec(&inv, &self.b, &mut theta);
        (inv, theta)
    }

    /// Estimated attraction x_e' theta_hat of every item.
    pub fn estimates(&self) -> Vec<f64> {
        let (_, theta) = self.posterior();
        self.features
            .chunks_exact(self.dim)
            .map(|x| crate::linalg::dot(x, &theta))
            .collect()
    }

    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if self.features != other.features || self.alpha != other.alpha || self.lam != other.lam {
            return Err(Error::incompatible(
                "other: cannot merge CascadeLinUCB objects with different features, alpha or lam",
            ));
        }
        self.core.merge(&other.core)?;
        for (a, b) in self.gram.iter_mut().zip(&other.gram) {
            *a += b;
        }
        for (a, b) in self.b.iter_mut().zip(&other.b) {
            *a += b;
        }
        Ok(())
    }
}

impl CascadePolicy for CascadeLinUCB {
    fn core(&self) -> &CascadeCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut CascadeCore {
        &mut self.core
    }
    fn describe_params(&self) -> String {
        format!("dim={}, alpha={}, lam={}", self.dim, self.alpha, self.lam)
    }
    /// x_e' theta_hat + alpha sqrt(x_e' M^-1 x_e).
    fn scores(&self) -> Vec<f64> {
        let (inv, theta) = self.posterior();
        let mut v = vec![0.0; self.dim];
        self.features
            .chunks_exact(self.dim)
            .map(|x| {
                crate::linalg::matvec(&inv, x, &mut v);
                let width = crate::linalg::dot(x, &v).max(0.0).sqrt();
                crate::linalg::dot(x, &theta) + self.alpha * width
            })
            .collect()
    }
    fn observe_extra(&mut self, item: usize, label: f64) {
        let d = self.dim;
        let x = &self.features[item * d..(item + 1) * d];
        for i in 0..d {
            for j in 0..d {
                self.gram[i * d + j] += x[i] * x[j];
            }
            self.b[i] += label * x[i];
        }
    }
}

impl crate::state::Persist for CascadeLinUCB {
    const KIND: &'static str = "CascadeLinUCB";
    fn check_invariants(&self) -> Result<()> {
        check_params(self.alpha, self.lam)?;
        self.core.check()?;
        let d = self.dim;
        if d == 0
            || self.features.len() != self.core.n_items().saturating_mul(d)
            || self.gram.len() != d.saturating_mul(d)
            || self.b.len() != d
        {
            return Err(Error::state("CascadeLinUCB: matrix shapes disagree"));
        }
        if !crate::linalg::all_finite(&self.gram)
            || !crate::linalg::all_finite(&self.b)
            || !self
                .features
                .iter()
                .all(|v| v.is_finite() && v.abs() <= FEATURE_LIMIT)
        {
            return Err(Error::state("CascadeLinUCB: statistics are not finite"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_features_reduce_to_per_item_ridge_estimates() {
        // With one-hot features theta_hat(e) = clicks / (examined + lam).
        let l = 4;
        let mut f = vec![0.0; l * l];
        for i in 0..l {
            f[i * l + i] = 1.0;
        }
        let mut p = CascadeLinUCB::new(&f, l, l, 0.0, 1.0, Some(0)).unwrap();
        p.update_list(&[2, 0, 1], Some(1)).unwrap();
        p.update_list(&[0, 3], None).unwrap();
        let s = p.scores();
        let expect = [1.0 / 3.0, 0.0, 0.0, 0.0];
        for (a, b) in s.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{s:?}");
        }
    }
}
