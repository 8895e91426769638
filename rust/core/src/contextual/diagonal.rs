//! The diagonal baseline: LinUCB whose per-arm Gram matrices keep only their diagonals,
//! O(d) per decision and update. The cheapest linear policy at embedding sizes, and a
//! baseline only: with correlated features its estimates are not the ridge solution and its
//! widths carry no confidence guarantee.

use super::ridge::{sum_limit, B_ROW_LIMIT, GRAM_ROW_LIMIT};
use super::{
    check_contexts, persist_contextual, pick, rename_single, with_buffer, ContextualPolicy,
    LinearBase, Link, PrivateBatch, RidgeModel, WEIGHT_LIMIT,
};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::argmax_distribution;
use serde::{Deserialize, Serialize};

/// An arm's counts and sums as a [`RidgeModel`] without matrices: `b` is sum w r x, `theta`
/// is b / diag, `gram` and `a_inv` are empty (the diagonal is kept beside).
fn bookkeeping_model(dim: usize) -> RidgeModel {
    RidgeModel {
        gram: Vec::new(),
        b: vec![0.0; dim],
        a_inv: Vec::new(),
        theta: vec![0.0; dim],
        n: 0,
        weight_sum: 0.0,
        since_refactor: 0,
        derived: Default::default(),
    }
}

/// Diagonal LinUCB: per arm, D_a = lam + sum w x^2 (coordinate-wise: the diagonal of
/// LinUCB's A_a), b_a = sum w r x, theta_a = b_a / D_a, and score_a(x) = x^T theta_a +
/// alpha sqrt(sum_i x_i^2 / D_a,i). Each coordinate is its own one-dimensional ridge
/// regression, so it equals [`super::LinUCB`] exactly when every arm's contexts have
/// disjoint supports (for instance one-hot rows) and is otherwise only an approximation
/// without a guarantee: the cheapest baseline, O(d) per decision and update, and mergeable
/// (its sums add up).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagonalLinUCB {
    base: LinearBase,
    diag: Vec<Vec<f64>>,
    params: DiagonalLinUCBParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagonalLinUCBParams {
    pub alpha: f64,
}

impl DiagonalLinUCB {
    pub fn new(n_arms: usize, dim: usize, alpha: f64, lam: f64, seed: Option<u64>) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if !(super::LAM_RANGE.0..=super::LAM_RANGE.1).contains(&lam) {
            return Err(Error::param_got(
                "lam",
                "must be a number in [1e-30, 1e30]",
                lam,
            ));
        }
        // Per arm three d-vectors.
        crate::limits::check_alloc("n_arms", &[n_arms, dim, 3], 8)?;
        let p = DiagonalLinUCB {
            base: LinearBase {
                rng: Rng::from_optional_seed(seed),
                dim,
                lam,
                arms: vec![bookkeeping_model(dim); n_arms],
                t: 0,
                link: Link::Identity,
            },
            diag: vec![vec![lam; dim]; n_arms],
            params: DiagonalLinUCBParams { alpha },
        };
        p.check_params()?;
        Ok(p)
    }

    /// The diagonal D_a of arm `arm` (for inspection and tests).
    pub fn diagonal(&self, arm: usize) -> &[f64] {
        &self.diag[arm]
    }

    /// (x^T theta_a, sqrt(sum x_i^2 / D_a,i)).
    #[inline]
    fn mean_width(&self, a: usize, x: &[f64]) -> (f64, f64) {
        let (theta, diag) = (&self.base.arms[a].theta, &self.diag[a]);
        let (mut mean, mut q) = (0.0, 0.0);
        for ((&xi, &t), &g) in x.iter().zip(theta).zip(diag) {
            mean += xi * t;
            q += xi * xi / g;
        }
        (mean, q.sqrt())
    }

    /// One validated row.
    fn add(&mut self, a: usize, x: &[f64], reward: f64, weight: f64) {
        let m = &mut self.base.arms[a];
        m.n += 1;
        if weight == 0.0 {
            return;
        }
        m.weight_sum += weight;
        let wr = weight * reward;
        for (((b, t), g), &xi) in
            m.b.iter_mut()
                .zip(&mut m.theta)
                .zip(&mut self.diag[a])
                .zip(x)
        {
            *b += wr * xi;
            *g += weight * xi * xi;
            *t = *b / *g;
        }
    }

    /// (n x K) values of `f(arm, row)` of validated rows.
    fn per_row(&self, x: &[f64], f: impl Fn(usize, &[f64]) -> f64) -> Vec<f64> {
        let (d, k) = (self.base.dim, self.base.arms.len());
        let mut out = vec![0.0; x.len() / d * k];
        for (row, xi) in out.chunks_exact_mut(k).zip(x.chunks_exact(d)) {
            for (a, o) in row.iter_mut().enumerate() {
                *o = f(a, xi);
            }
        }
        out
    }
}

impl ContextualPolicy for DiagonalLinUCB {
    type Params = DiagonalLinUCBParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &DiagonalLinUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("alpha={}, lam={}", self.params.alpha, self.base.lam)
    }
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate() {
            let (mean, width) = self.mean_width(a, x);
            *o = mean + self.params.alpha * width;
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        with_buffer(self.n_arms(), |scores| {
            self.score_row(x, scores, &mut []);
            pick(scores, &mut self.base.rng)
        })
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.score_row(x, out, scratch);
        let p = argmax_distribution(out);
        out.copy_from_slice(&p);
    }
    fn check_params(&self) -> Result<()> {
        super::linear::finite_nonneg(self.params.alpha, "alpha")
    }
    fn width_coefficient(&self) -> f64 {
        self.params.alpha
    }
    fn deterministic(&self) -> bool {
        true
    }

    fn select_batch_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<usize>> {
        let n = check_contexts("X", x, self.dim())?;
        if let Some(p) = pi_ref {
            self.log_reference(p, n)?;
        }
        let d = self.dim();
        Ok((0..n)
            .map(|i| self.decide(&x[i * d..(i + 1) * d]))
            .collect())
    }

    fn update(&mut self, x: &[f64], arm: i64, reward: f64, weight: f64) -> Result<()> {
        if x.len() != self.dim() {
            return Err(Error::shape(
                "x",
                format!("expected {} features, got {}", self.dim(), x.len()),
            ));
        }
        self.check_update(x, &[arm], &[reward], Some(&[weight]))
            .map_err(rename_single)?;
        crate::policy::check_room(self.n_updates(), 1)?;
        self.add(arm as usize, x, reward, weight);
        self.base.t += 1;
        Ok(())
    }

    /// Validates every row of a private copy (the inputs may be written by another thread,
    /// see [`ContextualPolicy::update_batch`]), then adds them in order: the same state as
    /// the loop of single updates, bit for bit.
    fn update_batch(
        &mut self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let batch = PrivateBatch::copy(x, arms, rewards, weights)?;
        let (x, arms, rewards, weights) = (
            &batch.x[..],
            &batch.arms[..],
            &batch.rewards[..],
            batch.weights(),
        );
        let n = self.check_update(x, arms, rewards, weights)?;
        crate::policy::check_room(self.n_updates(), n as u64)?;
        let d = self.dim();
        for i in 0..n {
            let w = weights.map_or(1.0, |w| w[i]);
            self.add(arms[i] as usize, &x[i * d..(i + 1) * d], rewards[i], w);
        }
        self.base.t += n as u64;
        Ok(())
    }

    fn mean_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_contexts("X", x, self.dim())?;
        Ok(self.per_row(x, |a, xi| self.mean_width(a, xi).0))
    }

    fn width_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_contexts("X", x, self.dim())?;
        Ok(self.per_row(x, |a, xi| self.mean_width(a, xi).1))
    }

    fn scores_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_contexts("X", x, self.dim())?;
        let c = self.params.alpha;
        Ok(self.per_row(x, |a, xi| {
            let (mean, width) = self.mean_width(a, xi);
            mean + c * width
        }))
    }

    fn add_arm(&mut self) -> usize {
        let d = self.base.dim;
        self.base.arms.push(bookkeeping_model(d));
        self.diag.push(vec![self.base.lam; d]);
        self.base.arms.len() - 1
    }

    fn remove_arm(&mut self, i: i64) -> Result<()> {
        let k = self.base.arms.len();
        if i < 0 || i as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm: i,
                n_arms: k,
                position: None,
            });
        }
        if k == 1 {
            return Err(Error::param("arm", "cannot remove the last remaining arm"));
        }
        let removed = self.base.arms.remove(i as usize);
        self.diag.remove(i as usize);
        self.base.t -= removed.n;
        Ok(())
    }

    /// Adds another replica's sums (the diagonals, b and the counts): equal, up to
    /// rounding, to one policy fitted on both data sets.
    fn merge(&mut self, other: &Self) -> Result<()> {
        let (a, o) = (&self.base, &other.base);
        if a.arms.len() != o.arms.len() || a.dim != o.dim {
            return Err(Error::incompatible(format!(
                "other: cannot merge a {kind} with {} arms of dimension {} into one with {} arms of dimension {}",
                o.arms.len(),
                o.dim,
                a.arms.len(),
                a.dim,
                kind = Self::KIND
            )));
        }
        if a.lam != o.lam || self.params != other.params {
            return Err(crate::error::hyperparameter_mismatch(
                Self::KIND,
                &self.describe_params(),
                &other.describe_params(),
            ));
        }
        let t = crate::error::checked_count(a.t, o.t, "update count")?;
        let saved = self.clone();
        let lam = self.base.lam;
        for ((m, g), (om, og)) in self
            .base
            .arms
            .iter_mut()
            .zip(&mut self.diag)
            .zip(other.base.arms.iter().zip(&other.diag))
        {
            m.n += om.n;
            m.weight_sum += om.weight_sum;
            for (((b, t), gi), (ob, ogi)) in
                m.b.iter_mut()
                    .zip(&mut m.theta)
                    .zip(g.iter_mut())
                    .zip(om.b.iter().zip(og))
            {
                *b += ob;
                // Both carry the prior lam; keep it once.
                *gi += ogi - lam;
                *t = *b / *gi;
            }
        }
        self.base.t = t;
        if self.check_policy().is_err() {
            *self = saved;
            return Err(Error::param(
                "other",
                "merging would put the models beyond the bounds a saved state must satisfy",
            ));
        }
        Ok(())
    }

    fn check_policy(&self) -> Result<()> {
        let b = &self.base;
        let d = b.dim;
        let ok = !b.arms.is_empty()
            && d > 0
            && (super::LAM_RANGE.0..=super::LAM_RANGE.1).contains(&b.lam)
            && b.rng.is_valid()
            && b.link == Link::Identity
            && self.diag.len() == b.arms.len()
            && b.arms.iter().zip(&self.diag).all(|(a, g)| {
                let (gram_limit, b_limit) =
                    (sum_limit(a.n, GRAM_ROW_LIMIT), sum_limit(a.n, B_ROW_LIMIT));
                a.gram.is_empty()
                    && a.a_inv.is_empty()
                    && a.b.len() == d
                    && a.theta.len() == d
                    && g.len() == d
                    && a.weight_sum.is_finite()
                    && (0.0..=sum_limit(a.n, WEIGHT_LIMIT)).contains(&a.weight_sum)
                    && a.b.iter().all(|v| v.abs() <= b_limit)
                    && g.iter().all(|v| *v >= b.lam && v - b.lam <= gram_limit)
                    && a.theta.iter().all(|v| v.is_finite())
            })
            && b.arms.iter().map(|a| a.n).sum::<u64>() == b.t;
        if !ok {
            return Err(Error::state(
                "a diagonal linear policy is inconsistent (sizes, finiteness, bounds or counts)",
            ));
        }
        self.check_params()
    }
}
persist_contextual!(DiagonalLinUCB, "DiagonalLinUCB");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_a_per_coordinate_ridge_and_exact_linucb_on_disjoint_supports() {
        let (k, d) = (3, 5);
        let mut p = DiagonalLinUCB::new(k, d, 0.7, 2.0, Some(1)).unwrap();
        let mut exact = super::super::LinUCB::new(k, d, 0.7, 2.0, Some(1)).unwrap();
        let mut rng = Rng::seed_from_u64(5);
        let mut rows = Vec::new();
        for i in 0..200 {
            // One-hot rows with a random scale: disjoint supports.
            let mut x = vec![0.0; d];
            x[i % d] = 0.5 + rng.uniform();
            let (a, r, w) = ((i % k) as i64, rng.uniform(), 0.5 + rng.uniform());
            p.update(&x, a, r, w).unwrap();
            exact.update(&x, a, r, w).unwrap();
            rows.push((x, a, r, w));
        }
        // A dense context: the per-coordinate reference and, on these data, exact LinUCB.
        let x: Vec<f64> = (0..d).map(|i| (i as f64 - 2.0) / 3.0).collect();
        let (mut s, mut e) = (vec![0.0; k], vec![0.0; k]);
        p.score_row(&x, &mut s, &mut []);
        exact.score_row(&x, &mut e, &mut vec![0.0; d]);
        for a in 0..k {
            let (mut g, mut b) = (vec![2.0; d], vec![0.0; d]);
            for (xr, ar, r, w) in &rows {
                if *ar as usize == a {
                    for i in 0..d {
                        g[i] += w * xr[i] * xr[i];
                        b[i] += w * r * xr[i];
                    }
                }
            }
            let mean: f64 = (0..d).map(|i| x[i] * b[i] / g[i]).sum();
            let q: f64 = (0..d).map(|i| x[i] * x[i] / g[i]).sum();
            let reference = mean + 0.7 * q.sqrt();
            assert!((s[a] - reference).abs() < 1e-12, "{} vs {reference}", s[a]);
            assert!((e[a] - reference).abs() < 1e-10);
        }
    }
}
