//! Contextual bandits on per-arm ridge-regression models ("disjoint" linear models):
//! LinUCB, linear Thompson sampling and linear epsilon-greedy share the [`RidgeModel`]
//! state and the [`ContextualPolicy`] vocabulary defined here.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use crate::error::{Error, Result};
use crate::linalg;
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::argmax_random_ties;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod gibbs;
pub mod hybrid;
pub mod linear;
pub mod logistic;
pub mod registry;
pub mod sketch;
pub use gibbs::{GibbsGreedy, GibbsWidth, KLRegularizedUCB};
pub use hybrid::{HybridContext, HybridLinUCB};
pub use linear::{LinGreedy, LinTS, LinUCB};
pub use logistic::{LogisticTS, LogisticUCB};
pub use registry::AnyContextual;
pub use sketch::{FrequentDirections, SketchedLinTS, SketchedLinUCB};

/// Rank-one updates between two exact refactorizations of an arm's inverse. The
/// Sherman-Morrison drift after a thousand updates is far below 1e-12 relative; the
/// refactorization costs O(d^3), amortized to O(d^3 / 1024) per update.
pub const REFACTOR_EVERY: u64 = 1024;

/// The largest context entry magnitude accepted. With weights up to [`WEIGHT_LIMIT`],
/// rewards up to `policy::REWARD_LIMIT` and the ridge parameter in [`LAM_RANGE`], every
/// Gram entry stays below 2^64 * 1e30 * 1e60 ~ 2e109 and b below 2e179 for any number of
/// updates, and A^{-1} below 1 / lam: a state always encodes, decodes and continues.
pub const CONTEXT_LIMIT: f64 = 1e30;
/// The largest importance weight accepted (see [`CONTEXT_LIMIT`]).
pub const WEIGHT_LIMIT: f64 = 1e30;
/// The accepted range of the ridge parameter lam (see [`CONTEXT_LIMIT`]).
pub const LAM_RANGE: (f64, f64) = (1e-30, 1e30);

/// The model linking an arm's linear predictor z = x^T theta to its expected reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    /// Ridge regression: the reward is z plus noise.
    Identity,
    /// Logistic regression with an online Laplace posterior (Chapelle and Li 2011): the
    /// reward is Bernoulli(sigmoid(z)) (or a soft label in [0, 1]).
    Logistic,
}

#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// One arm's ridge regression: A = lam I + sum w x x^T, b = sum w r x, theta = A^{-1} b.
/// `gram` and `b` are exact sums (what `merge` adds and refactorization starts from);
/// `a_inv` and `theta` are maintained by Sherman-Morrison and refreshed from them every
/// [`REFACTOR_EVERY`] updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RidgeModel {
    pub gram: Vec<f64>,
    pub b: Vec<f64>,
    pub a_inv: Vec<f64>,
    pub theta: Vec<f64>,
    /// Number of observations (rows) and their total weight.
    pub n: u64,
    pub weight_sum: f64,
    pub since_refactor: u64,
}

impl RidgeModel {
    pub fn new(dim: usize, lam: f64) -> Self {
        let mut gram = vec![0.0; dim * dim];
        let mut a_inv = vec![0.0; dim * dim];
        for i in 0..dim {
            gram[i * dim + i] = lam;
            a_inv[i * dim + i] = 1.0 / lam;
        }
        RidgeModel {
            gram,
            b: vec![0.0; dim],
            a_inv,
            theta: vec![0.0; dim],
            n: 0,
            weight_sum: 0.0,
            since_refactor: 0,
        }
    }

    pub fn dim(&self) -> usize {
        self.b.len()
    }

    /// Rebuild `a_inv` exactly from `gram` (and, for ridge models, `theta` from `b`; a
    /// logistic model's `theta` is its MAP estimate, kept as is).
    pub fn refactor(&mut self, link: Link) {
        let d = self.dim();
        if let Some(inv) = linalg::spd_inverse(&self.gram, d) {
            self.a_inv = inv;
            if link == Link::Identity {
                let mut theta = vec![0.0; d];
                linalg::matvec(&self.a_inv, &self.b, &mut theta);
                self.theta = theta;
            }
        }
        self.since_refactor = 0;
    }

    /// One weighted observation, O(d^2).
    pub fn update(&mut self, x: &[f64], reward: f64, weight: f64, scratch: &mut [f64], link: Link) {
        if link == Link::Logistic {
            self.update_logistic(x, reward, weight, scratch);
            return;
        }
        self.n += 1;
        if weight == 0.0 {
            return;
        }
        self.weight_sum += weight;
        linalg::add_sym_outer(&mut self.gram, x, weight);
        let wr = weight * reward;
        for (b, v) in self.b.iter_mut().zip(x) {
            *b += wr * v;
        }
        // v = A^{-1} x (into scratch), q = x^T v and x . theta in one pass over A^{-1}.
        let (q, mean) = linalg::symv_dot(&self.a_inv, x, Some(&self.theta), scratch);
        // theta_new = theta + w (r - x.theta) / (1 + w q) * A^{-1} x (before the update).
        let gain = weight * (reward - mean) / (1.0 + weight * q);
        for (t, v) in self.theta.iter_mut().zip(scratch.iter()) {
            *t += gain * v;
        }
        linalg::sherman_morrison(&mut self.a_inv, scratch, q, weight);
        self.since_refactor += 1;
        if self.since_refactor >= REFACTOR_EVERY {
            self.refactor(Link::Identity);
        }
    }

    /// Online Laplace update of a logistic model with prior N(theta, A^{-1}) and one
    /// weighted observation: the exact MAP of prior + likelihood, then the precision gains
    /// the likelihood's curvature there. The MAP lies on theta + s A^{-1} x, so it reduces to
    /// the scalar equation z = x^T theta + w q (r - sigmoid(z)) in the new predictor z,
    /// solved by Newton's method inside a bracket that always holds the root.
    fn update_logistic(&mut self, x: &[f64], reward: f64, weight: f64, scratch: &mut [f64]) {
        self.n += 1;
        if weight == 0.0 {
            return;
        }
        self.weight_sum += weight;
        let (q, z0) = linalg::symv_dot(&self.a_inv, x, Some(&self.theta), scratch);
        let wq = weight * q;
        let z1 = z0 + wq * (reward - sigmoid(z0));
        let (mut lo, mut hi) = if z1 >= z0 { (z0, z1) } else { (z1, z0) };
        let mut z = z0;
        for _ in 0..100 {
            let p = sigmoid(z);
            let g = z - z0 - wq * (reward - p);
            if g > 0.0 {
                hi = z;
            } else {
                lo = z;
            }
            let next = z - g / (1.0 + wq * p * (1.0 - p));
            let next = if next > lo && next < hi {
                next
            } else {
                0.5 * (lo + hi)
            };
            if (next - z).abs() <= 1e-14 * (1.0 + z.abs()) {
                z = next;
                break;
            }
            z = next;
        }
        let p = sigmoid(z);
        let step = weight * (reward - p);
        for (t, v) in self.theta.iter_mut().zip(scratch.iter()) {
            *t += step * v;
        }
        let curvature = weight * p * (1.0 - p);
        if curvature > 0.0 {
            linalg::add_sym_outer(&mut self.gram, x, curvature);
            linalg::sherman_morrison(&mut self.a_inv, scratch, q, curvature);
        }
        self.since_refactor += 1;
        if self.since_refactor >= REFACTOR_EVERY {
            self.refactor(Link::Logistic);
        }
    }

    /// Many observations: accumulate the Gram matrix and b, then refactor once
    /// (O(n d^2 + d^3) instead of n Sherman-Morrison steps).
    pub fn update_many(&mut self, rows: &[(&[f64], f64, f64)], link: Link) {
        let d = self.dim();
        if link == Link::Logistic {
            // The online Laplace posterior is sequential by construction.
            let mut scratch = vec![0.0; d];
            for &(x, r, w) in rows {
                self.update_logistic(x, r, w, &mut scratch);
            }
            return;
        }
        // Gather the rows into blocks and add X^T (W X) with one matrix product per block.
        const BLOCK: usize = 2048;
        let mut xs = Vec::with_capacity(BLOCK.min(rows.len()) * d);
        let mut wxs = Vec::with_capacity(BLOCK.min(rows.len()) * d);
        for chunk in rows.chunks(BLOCK) {
            xs.clear();
            wxs.clear();
            for &(x, r, w) in chunk {
                self.n += 1;
                self.weight_sum += w;
                xs.extend_from_slice(x);
                wxs.extend(x.iter().map(|v| w * v));
                let wr = w * r;
                for (b, v) in self.b.iter_mut().zip(x) {
                    *b += wr * v;
                }
            }
            linalg::add_at_b(&xs, &wxs, &mut self.gram, chunk.len(), d, d);
        }
        // Exact symmetry before the factorization.
        for i in 0..d {
            for j in 0..i {
                let v = 0.5 * (self.gram[i * d + j] + self.gram[j * d + i]);
                self.gram[i * d + j] = v;
                self.gram[j * d + i] = v;
            }
        }
        self.refactor(Link::Identity);
    }

    /// Adds the rows `idx` of the row-major (n x d) `x` (ridge models): b and the counts
    /// row by row in the order given, the Gram matrix's upper triangle by a symmetric
    /// rank-k update of blocks of gathered rows (`xs`, `wxs`: reusable buffers). The lower
    /// triangle and the inverse are left for [`RidgeModel::finish_rows`].
    pub fn accumulate_rows(
        &mut self,
        x: &[f64],
        idx: &[u32],
        rewards: &[f64],
        weights: Option<&[f64]>,
        (xs, wxs): (&mut Vec<f64>, &mut Vec<f64>),
    ) {
        let d = self.dim();
        // Blocks of rows padded to a multiple of 4 features (zeros), in cache.
        let dp = d.div_ceil(4) * 4;
        let block = (8192 / dp).clamp(16, 256);
        xs.clear();
        xs.resize(block * dp, 0.0);
        wxs.clear();
        if weights.is_some() {
            wxs.resize(block * dp, 0.0);
        }
        for (c, chunk) in idx.chunks(block).enumerate() {
            for (k, &i) in chunk.iter().enumerate() {
                // The rows are scattered over x: ask for a row a few ahead.
                if let Some(&ahead) = idx.get(c * block + k + 8) {
                    prefetch_row(&x[ahead as usize * d..(ahead as usize + 1) * d]);
                }
                let i = i as usize;
                let row = &x[i * d..(i + 1) * d];
                let w = weights.map_or(1.0, |w| w[i]);
                self.n += 1;
                self.weight_sum += w;
                let wr = w * rewards[i];
                // Copy and accumulate b in one loop (no call to memcpy per row).
                let dst = &mut xs[k * dp..k * dp + d];
                for ((o, b), v) in dst.iter_mut().zip(self.b.iter_mut()).zip(row) {
                    *o = *v;
                    *b += wr * v;
                }
                if weights.is_some() {
                    for (o, v) in wxs[k * dp..k * dp + d].iter_mut().zip(row) {
                        *o = w * v;
                    }
                }
            }
            let wx: &[f64] = if weights.is_some() { wxs } else { xs };
            linalg::syrk_upper_add(&mut self.gram, d, xs, wx, chunk.len(), dp);
        }
    }

    /// After [`RidgeModel::accumulate_rows`]: the upper triangle mirrored (exactly
    /// symmetric), then one refactorization.
    pub fn finish_rows(&mut self) {
        let d = self.dim();
        for i in 0..d {
            for j in i + 1..d {
                self.gram[j * d + i] = self.gram[i * d + j];
            }
        }
        self.refactor(Link::Identity);
    }

    /// (x^T theta, sqrt(x^T A^{-1} x)) in one pass over A^{-1}: a decision's mean and width.
    #[inline]
    pub fn mean_width(&self, x: &[f64]) -> (f64, f64) {
        let (q, mean) = linalg::quad_and_dot(&self.a_inv, x, &self.theta);
        (mean, q.max(0.0).sqrt())
    }

    #[inline]
    pub fn mean(&self, x: &[f64]) -> f64 {
        linalg::dot(x, &self.theta)
    }

    /// sqrt(x^T A^{-1} x), the confidence width of the mean.
    #[inline]
    pub fn width(&self, x: &[f64], scratch: &mut [f64]) -> f64 {
        linalg::quad_form(&self.a_inv, x, scratch).max(0.0).sqrt()
    }

    pub fn merge(&mut self, other: &RidgeModel, lam: f64) {
        let d = self.dim();
        for (i, (g, o)) in self.gram.iter_mut().zip(&other.gram).enumerate() {
            *g += o;
            if i % (d + 1) == 0 {
                // Both Gram matrices carry the prior lam I; keep it once.
                *g -= lam;
            }
        }
        for (b, o) in self.b.iter_mut().zip(&other.b) {
            *b += o;
        }
        self.n += other.n;
        self.weight_sum += other.weight_sum;
        self.refactor(Link::Identity);
    }

    fn check(&self, dim: usize) -> Result<()> {
        // Positive definiteness of the Gram matrix is not required: sums of many
        // near-parallel contexts make it singular in floating point (lam I is lost beside
        // entries of 1e16), which every update path handles (refactorization then keeps the
        // Sherman-Morrison inverse), so a state that updates produced must decode.
        let ok = self.gram.len() == dim * dim
            && self.a_inv.len() == dim * dim
            && self.b.len() == dim
            && self.theta.len() == dim
            && self.weight_sum.is_finite()
            && self.weight_sum >= 0.0
            && self
                .gram
                .iter()
                .chain(&self.a_inv)
                .chain(&self.b)
                .chain(&self.theta)
                .all(|v| v.is_finite())
            && (0..dim).all(|i| self.gram[i * dim + i] > 0.0);
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "a ridge model is inconsistent (sizes, finiteness or a non-positive Gram diagonal)",
            ))
        }
    }
}

/// State shared by the linear policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearBase {
    pub rng: Rng,
    pub dim: usize,
    pub lam: f64,
    pub arms: Vec<RidgeModel>,
    pub t: u64,
    pub link: Link,
}

impl LinearBase {
    pub fn new(n_arms: usize, dim: usize, lam: f64, seed: Option<u64>) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1"));
        }
        if !(LAM_RANGE.0..=LAM_RANGE.1).contains(&lam) {
            return Err(Error::param("lam", "must be a number in [1e-30, 1e30]"));
        }
        // Per arm: a Gram matrix and its inverse (d x d) and two d-vectors.
        let side = dim.saturating_add(1);
        crate::limits::check_alloc("dim", &[side, side], 16)?;
        crate::limits::check_alloc("n_arms", &[n_arms, side, side], 16)?;
        Ok(LinearBase {
            rng: Rng::from_optional_seed(seed),
            dim,
            lam,
            arms: vec![RidgeModel::new(dim, lam); n_arms],
            t: 0,
            link: Link::Identity,
        })
    }

    fn check(&self) -> Result<()> {
        if self.arms.is_empty() || self.dim == 0 || !(LAM_RANGE.0..=LAM_RANGE.1).contains(&self.lam)
        {
            return Err(Error::state("dimensions or ridge parameter are invalid"));
        }
        if !self.rng.is_valid() {
            return Err(Error::state("generator state is all zeros"));
        }
        for a in &self.arms {
            a.check(self.dim)?;
        }
        if self.arms.iter().map(|a| a.n).sum::<u64>() != self.t {
            return Err(Error::state("step counter disagrees with the arm counts"));
        }
        Ok(())
    }
}

/// Hints the CPU to fetch the cache lines of `row` (no effect on results).
#[inline(always)]
fn prefetch_row(row: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = row.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(row);
        let mut off = 0;
        while off < bytes {
            // SAFETY: `off < bytes`, so `p.add(off)` stays inside `row`; a prefetch (SSE,
            // baseline on x86_64) only hints the cache: it never faults and reads nothing.
            unsafe { _mm_prefetch(p.add(off), _MM_HINT_T0) };
            off += 64;
        }
        if bytes > 0 {
            // SAFETY: as above, for the last byte of `row` (`bytes > 0`).
            unsafe { _mm_prefetch(p.add(bytes - 1), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Runs `f` on a zeroed scratch buffer of `n` values, on the stack when `n` <= 64 (a
/// decision's per-arm scores without an allocation).
#[inline]
pub(crate) fn with_buffer<R>(n: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    if n <= 64 {
        let mut b = [0.0; 64];
        f(&mut b[..n])
    } else {
        f(&mut vec![0.0; n])
    }
}

/// Validates an (n, d) row-major context matrix.
pub fn check_contexts(argument: &str, x: &[f64], dim: usize) -> Result<usize> {
    if x.len() % dim != 0 {
        return Err(Error::shape(
            argument,
            format!("expected rows of {dim} features, got {} values", x.len()),
        ));
    }
    // A branch-free scan by chunks; the exact position searched only when a chunk fails.
    let within = |v: &f64| v.abs() <= CONTEXT_LIMIT;
    let bad_chunk = x
        .chunks(4096)
        .position(|c| !(linalg::all_finite(c) && c.iter().fold(true, |ok, v| ok & within(v))));
    if let Some(i) = bad_chunk.and_then(|c| {
        x[c * 4096..]
            .iter()
            .position(|v| !within(v))
            .map(|i| c * 4096 + i)
    }) {
        return Err(Error::InvalidParameter {
            name: argument.to_string(),
            message: format!(
                "row {} column {} is {}; contexts must be finite with |value| <= 1e30",
                i / dim,
                i % dim,
                crate::error::show(x[i])
            ),
        });
    }
    Ok(x.len() / dim)
}

/// The common behaviour of the contextual policies on ridge models.
pub trait ContextualPolicy: Persist + Clone + Send + Sync + 'static {
    type Params: PartialEq + std::fmt::Debug;

    fn base(&self) -> &LinearBase;
    fn base_mut(&mut self) -> &mut LinearBase;
    fn params(&self) -> &Self::Params;
    fn describe_params(&self) -> String;
    /// Per-arm score of the decision rule for one (validated) context; deterministic.
    fn score_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]);
    /// One decision for a validated context.
    fn decide(&mut self, x: &[f64]) -> usize;
    /// Selection probabilities for one validated context.
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]);
    fn check_params(&self) -> Result<()>;
    /// c in score = mean + c * width when the decision rule's score has that form (0 for
    /// rules scoring by the mean alone): lets batch scoring run on matrix products.
    fn width_coefficient(&self) -> f64;
    /// Applied to mean + c * width to give the score (KL-regularized policies clip the
    /// optimistic reward to [0, 1]).
    fn transform_score(&self, score: f64) -> f64 {
        score
    }
    /// True when a decision is the argmax of `scores` (ties at random): batch decisions
    /// then run on the batched scoring path.
    fn deterministic(&self) -> bool {
        false
    }
    /// True for policies regularized towards a reference policy (pi_ref).
    fn uses_reference(&self) -> bool {
        false
    }
    /// One decision given log pi_ref for the row (only called when `uses_reference`).
    fn decide_ref(&mut self, x: &[f64], _log_ref: &[f64]) -> usize {
        self.decide(x)
    }
    /// Selection probabilities given log pi_ref for the row.
    fn probability_row_ref(
        &self,
        x: &[f64],
        _log_ref: &[f64],
        out: &mut [f64],
        scratch: &mut [f64],
    ) {
        self.probability_row(x, out, scratch)
    }

    // ---- provided ----

    /// Validates reference probabilities for `n` rows (n x K, each row a distribution)
    /// and returns their logs.
    fn log_reference(&self, pi_ref: &[f64], n: usize) -> Result<Vec<f64>> {
        let k = self.n_arms();
        if !self.uses_reference() {
            return Err(Error::param(
                "pi_ref",
                format!(
                    "{} has no reference policy; pi_ref applies to KL-regularized policies",
                    Self::KIND
                ),
            ));
        }
        if pi_ref.len() != n * k {
            return Err(Error::shape(
                "pi_ref",
                format!(
                    "expected {n} rows of {k} probabilities, got {} values",
                    pi_ref.len()
                ),
            ));
        }
        for (r, row) in pi_ref.chunks_exact(k).enumerate() {
            let bad = row
                .iter()
                .any(|p| !(p.is_finite() && (0.0..=1.0).contains(p)));
            let total: f64 = row.iter().sum();
            if bad || (total - 1.0).abs() > 1e-6 {
                return Err(Error::param(
                    "pi_ref",
                    format!("row {r} is not a probability distribution (entries in [0, 1] summing to 1; sum is {total})"),
                ));
            }
        }
        Ok(pi_ref.iter().map(|p| p.ln()).collect())
    }

    fn n_arms(&self) -> usize {
        self.base().arms.len()
    }
    fn dim(&self) -> usize {
        self.base().dim
    }
    fn n_updates(&self) -> u64 {
        self.base().t
    }
    fn counts(&self) -> Vec<u64> {
        self.base().arms.iter().map(|a| a.n).collect()
    }
    fn reseed(&mut self, seed: u64) {
        self.base_mut().rng = Rng::seed_from_u64(seed);
    }

    fn select(&mut self, x: &[f64]) -> Result<usize> {
        self.select_ref(x, None)
    }

    fn select_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<usize> {
        if x.len() != self.dim() {
            return Err(Error::shape(
                "x",
                format!("expected {} features, got {}", self.dim(), x.len()),
            ));
        }
        check_contexts("x", x, self.dim())?;
        match pi_ref {
            None => Ok(self.decide(x)),
            Some(p) => {
                let log_ref = self.log_reference(p, 1)?;
                Ok(self.decide_ref(x, &log_ref))
            }
        }
    }

    /// One decision per row of `x` (n x d, row-major), no feedback between them.
    fn select_batch(&mut self, x: &[f64]) -> Result<Vec<usize>> {
        self.select_batch_ref(x, None)
    }

    fn select_batch_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<usize>> {
        let n = check_contexts("X", x, self.dim())?;
        let (d, k) = (self.dim(), self.n_arms());
        match pi_ref {
            None if self.deterministic() => Ok(self.argmax_batch(x, n)),
            None => Ok((0..n)
                .map(|i| self.decide(&x[i * d..(i + 1) * d]))
                .collect()),
            Some(p) => {
                let log_ref = self.log_reference(p, n)?;
                Ok((0..n)
                    .map(|i| self.decide_ref(&x[i * d..(i + 1) * d], &log_ref[i * k..(i + 1) * k]))
                    .collect())
            }
        }
    }

    fn check_update(
        &self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<usize> {
        let n = check_contexts("X", x, self.dim())?;
        if arms.len() != n || rewards.len() != n || weights.is_some_and(|w| w.len() != n) {
            return Err(Error::shape(
                "arms/rewards/weights",
                format!(
                    "lengths {}, {}, {} do not match the {n} context rows",
                    arms.len(),
                    rewards.len(),
                    weights.map_or(n, |w| w.len())
                ),
            ));
        }
        let k = self.n_arms();
        for (i, &a) in arms.iter().enumerate() {
            if a < 0 || a as u64 >= k as u64 {
                return Err(Error::ArmOutOfRange {
                    argument: "arms".into(),
                    arm: a,
                    n_arms: k,
                    position: Some(i),
                });
            }
        }
        let logistic = self.base().link == Link::Logistic;
        let valid = |r: &f64| {
            if logistic {
                (0.0..=1.0).contains(r)
            } else {
                r.abs() <= crate::policy::REWARD_LIMIT
            }
        };
        if let Some(i) = rewards.iter().position(|r| !valid(r)) {
            return Err(Error::InvalidReward {
                argument: "rewards".into(),
                value: rewards[i],
                position: Some(i),
                expected: if logistic {
                    format!("a label or probability in [0, 1] for {}", Self::KIND)
                } else {
                    "a number in [-1e100, 1e100]".into()
                },
            });
        }
        if let Some(w) = weights {
            if let Some(i) = w.iter().position(|w| !(0.0..=WEIGHT_LIMIT).contains(w)) {
                return Err(Error::InvalidParameter {
                    name: "weights".into(),
                    message: format!(
                        "entry {i} is {}; importance weights must be in [0, 1e30]",
                        crate::error::show(w[i])
                    ),
                });
            }
        }
        Ok(n)
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
        let b = self.base_mut();
        let link = b.link;
        with_buffer(b.dim, |scratch| {
            b.arms[arm as usize].update(x, reward, weight, scratch, link)
        });
        b.t += 1;
        Ok(())
    }

    /// Validates every row, then fits each arm's rows at once (Gram accumulation and one
    /// refactorization per arm, arms in parallel). Equal to the loop of single updates up
    /// to rounding.
    fn update_batch(
        &mut self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let n = self.check_update(x, arms, rewards, weights)?;
        crate::policy::check_room(self.n_updates(), n as u64)?;
        let d = self.dim();
        let k = self.n_arms();
        let b = self.base_mut();
        let link = b.link;
        // One hop into the pool for the whole fit: the sections below then split among
        // awake workers.
        crate::parallel::install(|| {
            if link == Link::Logistic || n > u32::MAX as usize {
                let mut rows: Vec<Vec<(&[f64], f64, f64)>> = vec![Vec::new(); k];
                for i in 0..n {
                    rows[arms[i] as usize].push((
                        &x[i * d..(i + 1) * d],
                        rewards[i],
                        weights.map_or(1.0, |w| w[i]),
                    ));
                }
                b.arms
                    .par_iter_mut()
                    .zip(rows.par_iter())
                    .filter(|(_, r)| !r.is_empty())
                    .for_each(|(model, r)| model.update_many(r, link));
            } else {
                // Rows are taken in chunks of ~1 MB (in the shared cache; few enough that the
                // threads rarely wait for each other, and ~64 rows per arm on average); in
                // each, a counting sort of the row indices by arm (stable: every arm sees its
                // rows in order), then each arm's rows gathered (prefetched) into its Gram
                // matrix, arms in parallel. Each arm's arithmetic is sequential and the chunks
                // are fixed, so the result does not depend on the number of threads.
                let chunk = (131_072 / d.max(1)).max(64 * k).max(1);
                let mut start = vec![0usize; k + 1];
                let mut order = vec![0u32; chunk.min(n)];
                let mut touched = vec![false; k];
                for c0 in (0..n).step_by(chunk) {
                    let ca = &arms[c0..(c0 + chunk).min(n)];
                    start.fill(0);
                    for &a in ca {
                        start[a as usize + 1] += 1;
                    }
                    for a in 0..k {
                        start[a + 1] += start[a];
                        touched[a] |= start[a + 1] > start[a];
                    }
                    let mut next = start.clone();
                    for (i, &a) in ca.iter().enumerate() {
                        let s = &mut next[a as usize];
                        order[*s] = (c0 + i) as u32;
                        *s += 1;
                    }
                    let (start, order) = (&start, &order);
                    b.arms
                        .par_iter_mut()
                        .enumerate()
                        .filter(|(a, _)| start[a + 1] > start[*a])
                        .for_each_init(
                            || (Vec::new(), Vec::new()),
                            |(xs, wxs), (a, model)| {
                                let idx = &order[start[a]..start[a + 1]];
                                model.accumulate_rows(x, idx, rewards, weights, (xs, wxs))
                            },
                        );
                }
                b.arms
                    .par_iter_mut()
                    .zip(touched.par_iter())
                    .filter(|(_, t)| **t)
                    .for_each(|(model, _)| model.finish_rows());
            }
        });
        b.t += n as u64;
        Ok(())
    }

    /// The batch scoring engine. Rows are processed in parallel blocks; a block is
    /// transposed into groups of [`linalg::GROUP`] rows, and for each arm (its A^{-1} read
    /// once per block, in cache) every group costs one call of the symmetric quadratic-form
    /// kernel, d(d+1)/2 multiply-adds per row with four rows per vector instruction, which
    /// also gives the means x^T theta_a. `val(mean, q)` of each (row, arm), q = x^T A_a^{-1}
    /// x (0 unless `with_q`), fills the block's arm-major buffer (K x rp, rp = rows rounded
    /// up to a group; row r of arm a at a * rp + r), which `f(buffer, rp, out)` turns into the
    /// block's chunk of `out` (`per_row` values per row). Every row's values depend on that
    /// row alone, so the results do not depend on the number of threads or the blocking.
    fn for_each_row_block<T: Send>(
        &self,
        x: &[f64],
        (ca, cw, transform): (f64, f64, bool),
        out: &mut [T],
        per_row: usize,
        f: impl Fn(&[f64], usize, &mut [T]) + Sync + Send,
    ) {
        const G: usize = linalg::GROUP;
        let (d, k) = (self.dim(), self.n_arms());
        let arms = &self.base().arms;
        // Rows per block: the transposed block (rows x d) stays within ~128 KB.
        let block = ((16_384 / d.max(1)) / G * G).clamp(G, 512);
        crate::parallel::install(|| {
            out.par_chunks_mut(block * per_row)
                .enumerate()
                .for_each_init(
                    || (Vec::new(), Vec::new()),
                    |(xt, sb): &mut (Vec<f64>, Vec<f64>), (bi, chunk)| {
                        let r0 = bi * block;
                        let rows = chunk.len() / per_row;
                        let groups = rows.div_ceil(G);
                        let rp = groups * G;
                        xt.clear();
                        xt.resize(groups * d * G, 0.0);
                        for r in 0..rows {
                            let (g, l) = (r / G, r % G);
                            let dst = &mut xt[g * d * G..(g + 1) * d * G];
                            for (j, v) in x[(r0 + r) * d..(r0 + r + 1) * d].iter().enumerate() {
                                dst[j * G + l] = *v;
                            }
                        }
                        sb.clear();
                        sb.resize(k * rp, 0.0);
                        for (a, m) in arms.iter().enumerate() {
                            for g in 0..groups {
                                let xg = &xt[g * d * G..(g + 1) * d * G];
                                let dst = &mut sb[a * rp + g * G..a * rp + (g + 1) * G];
                                linalg::group_values(&m.a_inv, &m.theta, xg, d, ca, cw, dst);
                                if transform {
                                    for v in dst.iter_mut() {
                                        *v = self.transform_score(*v);
                                    }
                                }
                            }
                        }
                        f(sb, rp, chunk);
                    },
                )
        });
    }

    /// `ca * mean + cw * width` (then `transform_score` if the flag is set) of every
    /// (row, arm) of validated rows, (n x K) row-major.
    fn row_values(&self, x: &[f64], coefs: (f64, f64, bool)) -> Vec<f64> {
        let k = self.n_arms();
        let mut out = vec![0.0; x.len() / self.dim() * k];
        self.for_each_row_block(x, coefs, &mut out, k, |sb, rp, o| {
            for (r, row) in o.chunks_exact_mut(k).enumerate() {
                for (a, v) in row.iter_mut().enumerate() {
                    *v = sb[a * rp + r];
                }
            }
        });
        out
    }

    /// Means and (if `with_width`) widths of every (row, arm), (n x K) row-major each.
    fn mean_width_batch(&self, x: &[f64], with_width: bool) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = check_contexts("X", x, self.dim())?;
        crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
        let means = self.row_values(x, (1.0, 0.0, false));
        let widths = if with_width {
            self.row_values(x, (0.0, 1.0, false))
        } else {
            Vec::new()
        };
        Ok((means, widths))
    }

    /// The decision rule's scores of validated rows, (n x K).
    fn scores_rows(&self, x: &[f64]) -> Vec<f64> {
        self.row_values(x, (1.0, self.width_coefficient(), true))
    }

    /// Deterministic decisions for validated rows: the argmax of each row's scores, found
    /// in the parallel blocks without branches (eight rows at a time); rows that meet a tie
    /// (measure zero for continuous contexts) are rescored and decided afterwards, in row
    /// order, with the policy's generator: the same decisions and random stream as deciding
    /// row by row.
    fn argmax_batch(&mut self, x: &[f64], n: usize) -> Vec<usize> {
        const G: usize = linalg::GROUP;
        let (d, k) = (self.dim(), self.n_arms());
        let coefs = (1.0, self.width_coefficient(), true);
        let mut out = vec![0usize; n];
        self.for_each_row_block(x, coefs, &mut out, 1, |sb, rp, o| {
            for (g, dst) in o.chunks_mut(G).enumerate() {
                let mut best = [f64::NEG_INFINITY; G];
                let mut idx = [u64::MAX; G];
                let mut tied = [false; G];
                for a in 0..k {
                    let s = &sb[a * rp + g * G..a * rp + (g + 1) * G];
                    for l in 0..G {
                        let v = s[l];
                        // As argmax_random_ties: the first non-NaN value, then strictly
                        // larger ones; an equal value is a tie (it drew from the generator).
                        let take = v > best[l] || (idx[l] == u64::MAX && !v.is_nan());
                        tied[l] |= !take && v == best[l];
                        best[l] = if take { v } else { best[l] };
                        idx[l] = if take { a as u64 } else { idx[l] };
                    }
                }
                for (l, o) in dst.iter_mut().enumerate() {
                    *o = if tied[l] || idx[l] == u64::MAX {
                        usize::MAX
                    } else {
                        idx[l] as usize
                    };
                }
            }
        });
        for i in 0..n {
            if out[i] == usize::MAX {
                let row = self.scores_rows(&x[i * d..(i + 1) * d]);
                out[i] = pick(&row, &mut self.base_mut().rng);
            }
        }
        out
    }

    /// Estimated mean reward, (n x K): x^T theta_a, or sigmoid(x^T theta_a) for logistic
    /// models.
    fn mean_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        let mut m = self.mean_width_batch(x, false)?.0;
        if self.base().link == Link::Logistic {
            m.iter_mut().for_each(|v| *v = sigmoid(*v));
        }
        Ok(m)
    }

    /// Confidence width sqrt(x^T A_a^{-1} x), (n x K).
    fn width_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        Ok(self.mean_width_batch(x, true)?.1)
    }

    /// The decision rule's scores, (n x K): mean + c * width on matrix products.
    fn scores_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        let n = check_contexts("X", x, self.dim())?;
        // The (n x K) output, and top_k's selection from it.
        crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
        Ok(self.scores_rows(x))
    }

    fn probabilities_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.probabilities_batch_ref(x, None)
    }

    fn probabilities_batch_ref(&self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<f64>> {
        let n = check_contexts("X", x, self.dim())?;
        let (d, k) = (self.dim(), self.n_arms());
        crate::limits::check_alloc("X", &[n, k], 16)?;
        let log_ref = pi_ref.map(|p| self.log_reference(p, n)).transpose()?;
        let mut out = vec![0.0; n * k];
        crate::parallel::install(|| {
            out.par_chunks_mut(k).enumerate().for_each_init(
                || vec![0.0; d],
                |scratch, (i, row)| {
                    let xi = &x[i * d..(i + 1) * d];
                    match &log_ref {
                        None => self.probability_row(xi, row, scratch),
                        Some(l) => {
                            self.probability_row_ref(xi, &l[i * k..(i + 1) * k], row, scratch)
                        }
                    }
                },
            )
        });
        Ok(out)
    }

    /// The `k` best arms of each row by score, best first, (n x k).
    fn top_k(&self, x: &[f64], k: usize) -> Result<Vec<usize>> {
        if k == 0 || k > self.n_arms() {
            return Err(Error::param(
                "k",
                format!("must be in [1, {}], got {k}", self.n_arms()),
            ));
        }
        Ok(top_k_rows(&self.scores_batch(x)?, self.n_arms(), k))
    }

    fn add_arm(&mut self) -> usize {
        let b = self.base_mut();
        b.arms.push(RidgeModel::new(b.dim, b.lam));
        b.arms.len() - 1
    }

    fn remove_arm(&mut self, i: i64) -> Result<()> {
        let k = self.n_arms();
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
        let b = self.base_mut();
        let removed = b.arms.remove(i as usize);
        b.t -= removed.n;
        Ok(())
    }

    /// Adds another replica's data: equal to one policy fitted on both data sets.
    fn merge(&mut self, other: &Self) -> Result<()> {
        if self.base().link == Link::Logistic {
            return Err(Error::incompatible(format!(
                "{} does not support merge: an online Laplace posterior depends on the order of its updates",
                Self::KIND
            )));
        }
        let (a, o) = (self.base(), other.base());
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
        if a.lam != o.lam || self.params() != other.params() {
            return Err(crate::error::hyperparameter_mismatch(
                Self::KIND,
                &self.describe_params(),
                &other.describe_params(),
            ));
        }
        let t = crate::error::checked_count(a.t, o.t, "update count")?;
        let lam = a.lam;
        let other_arms = o.arms.clone();
        let ot = o.t;
        let b = self.base_mut();
        for (m, om) in b.arms.iter_mut().zip(&other_arms) {
            m.merge(om, lam);
        }
        debug_assert_eq!(t, b.t + ot);
        b.t = t;
        Ok(())
    }

    fn check_policy(&self) -> Result<()> {
        self.base().check()?;
        self.check_params()
    }
}

fn rename_single(e: Error) -> Error {
    match e {
        Error::ArmOutOfRange { arm, n_arms, .. } => Error::ArmOutOfRange {
            argument: "arm".into(),
            arm,
            n_arms,
            position: None,
        },
        Error::InvalidReward {
            value, expected, ..
        } => Error::InvalidReward {
            argument: "reward".into(),
            value,
            position: None,
            expected,
        },
        Error::InvalidParameter { name, message } if name == "weights" => Error::InvalidParameter {
            name: "weight".into(),
            message: message.replace("entry 0 is", "got"),
        },
        Error::InvalidParameter { name, message } if name == "X" => Error::InvalidParameter {
            name: "x".into(),
            message,
        },
        other => other,
    }
}

/// The `k` best arms of every row of an (n x n_arms) score matrix, best first (ties by
/// arm index), flattened (n x k). `k` must be in [1, n_arms].
pub(crate) fn top_k_rows(scores: &[f64], n_arms: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(scores.len() / n_arms * k);
    let mut idx: Vec<usize> = (0..n_arms).collect();
    for row in scores.chunks_exact(n_arms) {
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        out.extend_from_slice(&idx[..k]);
        idx.sort_unstable();
    }
    out
}

/// argmax with random ties over one row of scores.
pub(crate) fn pick(scores: &[f64], rng: &mut Rng) -> usize {
    argmax_random_ties(scores.iter().copied(), rng)
}

macro_rules! persist_contextual {
    ($ty:ty, $kind:literal) => {
        impl $crate::state::Persist for $ty {
            const KIND: &'static str = $kind;
            fn check_invariants(&self) -> $crate::error::Result<()> {
                <$ty as $crate::contextual::ContextualPolicy>::check_policy(self)
            }
        }
    };
}
pub(crate) use persist_contextual;

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, d: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<i64>, Vec<f64>, Vec<f64>) {
        let mut rng = Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * d).map(|_| rng.uniform() - 0.5).collect();
        let arms: Vec<i64> = (0..n).map(|_| rng.below(k as u64) as i64).collect();
        let r: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let w: Vec<f64> = (0..n).map(|_| 2.0 * rng.uniform()).collect();
        (x, arms, r, w)
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn batch_fit_and_scoring_do_not_depend_on_the_thread_count() {
        for (d, k) in [(3, 2), (20, 10), (9, 40)] {
            let (x, arms, r, w) = data(7_000, d, k, d as u64);
            let fit = |threads| {
                in_pool(threads, || {
                    let mut p = LinUCB::new(k, d, 0.7, 1.0, Some(1)).unwrap();
                    p.update_batch(&x, &arms, &r, Some(&w)).unwrap();
                    p.update_batch(&x[..50 * d], &arms[..50], &r[..50], None)
                        .unwrap();
                    let s = p.scores_batch(&x).unwrap();
                    let picks = p.select_batch(&x).unwrap();
                    (p, s, picks)
                })
            };
            let (p1, s1, c1) = fit(1);
            let (p3, s3, c3) = fit(3);
            assert_eq!(p1, p3);
            assert_eq!(s1, s3);
            assert_eq!(c1, c3);
            // Each arm's Gram matrix is exactly symmetric and equals the sum it stands for.
            for (a, m) in p1.base().arms.iter().enumerate() {
                for i in 0..d {
                    for j in 0..d {
                        assert_eq!(m.gram[i * d + j], m.gram[j * d + i]);
                        let mut e = if i == j { 1.0 } else { 0.0 };
                        for row in 0..7_000 {
                            if arms[row] == a as i64 {
                                e += w[row] * x[row * d + i] * x[row * d + j];
                            }
                        }
                        for row in 0..50 {
                            if arms[row] == a as i64 {
                                e += x[row * d + i] * x[row * d + j];
                            }
                        }
                        assert!((m.gram[i * d + j] - e).abs() < 1e-9 * e.abs().max(1.0));
                    }
                }
            }
        }
    }

    #[test]
    fn batch_fit_equals_the_loop_of_single_updates_and_batch_scores_equal_single_rows() {
        let (d, k) = (7, 4);
        let (x, arms, r, w) = data(3_000, d, k, 11);
        let mut batch = LinUCB::new(k, d, 0.5, 0.3, Some(2)).unwrap();
        batch.update_batch(&x, &arms, &r, Some(&w)).unwrap();
        let mut single = LinUCB::new(k, d, 0.5, 0.3, Some(2)).unwrap();
        for i in 0..3_000 {
            single
                .update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
                .unwrap();
        }
        let (sb, ss) = (
            batch.scores_batch(&x).unwrap(),
            single.scores_batch(&x).unwrap(),
        );
        for (a, b) in sb.iter().zip(&ss) {
            assert!((a - b).abs() < 1e-9, "{a} {b}");
        }
        let mut row = vec![0.0; k];
        for i in 0..100 {
            batch.score_row(&x[i * d..(i + 1) * d], &mut row, &mut []);
            for (a, b) in row.iter().zip(&sb[i * k..(i + 1) * k]) {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }
}
