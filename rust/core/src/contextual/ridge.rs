//! One arm's model: [`RidgeModel`], the ridge regression (and, through [`Link`], the
//! online Laplace logistic regression) each linear policy keeps per arm, with its single,
//! sequential and batched updates.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::{CONTEXT_LIMIT, LAM_RANGE, WEIGHT_LIMIT};
use crate::error::{Error, Result};
use crate::linalg;
use serde::{Deserialize, Serialize};

/// Rank-one updates between two exact refactorizations of an arm's inverse. The
/// Sherman-Morrison drift after a thousand updates is far below 1e-12 relative; the
/// refactorization costs O(d^3), amortized to O(d^3 / 1024) per update.
pub const REFACTOR_EVERY: u64 = 1024;

// Bounds on a saved model, checked on decoding, which every state reached by accepted
// calls satisfies (so its bytes load) and from which every accepted call stays within them:
// - Sums: a row adds at most WEIGHT_LIMIT * CONTEXT_LIMIT^2 = 1e90 to a Gram entry (beside
//   lam I), 1e30 * 1e30 * 1e100 = 1e160 to an entry of b and 1e30 to the weight sum, and `n`
//   counts every row. A rounded addition moves a sum by at most twice its addend (the exact
//   sum is at distance |addend| from the old value, and rounding to nearest goes no
//   farther), blocked sums (batch fits) at most 4 times, so |gram - lam I|, |b| and the
//   weight sum stay below SUM_MARGIN * n times those per-row limits: sound by construction,
//   and finite for n <= 2^64 (1.5e110, 3e180, 3e50), so merges and batches cannot overflow.
// - The inverse and theta are derived, so they are bounded by refusal instead: a
//   Sherman-Morrison step is taken only when its denominator 1 + w x^T A^{-1} x is finite
//   and at least 0.5 (a positive definite inverse gives at least 1) and when it keeps every
//   A^{-1} entry within INVERSE_LIMIT and theta within THETA_LIMIT; otherwise the row goes
//   into the exact sums and the inverse is refactorized from them (a logistic update whose
//   coefficients would leave THETA_LIMIT is refused, nothing changed). A refactorization
//   keeps the previous inverse and theta when the new ones would not be within them. The
//   exact inverse of lam I + sum w x x^T has entries below 1 / lam <= 1e30 (lam >= 1e-30),
//   so the 1e6 margin only turns away steps that rounding has already made meaningless
//   (near-singular Gram matrices).
//   THETA_LIMIT keeps x^T theta and w (r - x^T theta) finite for any accepted x, w, r.
const SUM_MARGIN: f64 = 16.0;
pub(super) const GRAM_ROW_LIMIT: f64 = WEIGHT_LIMIT * CONTEXT_LIMIT * CONTEXT_LIMIT;
pub(super) const B_ROW_LIMIT: f64 = WEIGHT_LIMIT * CONTEXT_LIMIT * crate::policy::REWARD_LIMIT;

/// The bound on a sum over `n` rows of terms each at most `per_row` (see SUM_MARGIN).
pub(super) fn sum_limit(n: u64, per_row: f64) -> f64 {
    SUM_MARGIN * n as f64 * per_row
}
/// The largest |entry| of an arm's inverse Gram matrix (see the bounds above).
pub const INVERSE_LIMIT: f64 = 1e6 / LAM_RANGE.0;
/// The largest |entry| of an arm's coefficient vector theta (see the bounds above).
pub const THETA_LIMIT: f64 = 1e150;
/// Relative slack for the rounding of one Sherman-Morrison step in the inverse's bound.
const STEP_ROUNDING: f64 = 1.0 + 1e-12;

/// Values derived from the inverse and kept beside it, neither saved nor compared by
/// equality (a decoded model rebuilds them):
/// - `bound`, an upper bound on max |A^{-1}|, so that an update checks its step against
///   [`INVERSE_LIMIT`] in O(d) and reads the whole inverse only when the bound is near the
///   limit. A decoded model starts with no bound (+inf); updates decide from the exact
///   maximum whenever the bound does not suffice, so a model and its decoded copy take the
///   same decisions.
/// - `f32_upper`, under `precision="float32"`, the upper triangle of A^{-1} rounded to
///   float32 and packed (`wide::pack_upper_f32`), which decisions read instead of the
///   float64 inverse (half the bytes); empty otherwise. It is re-derived from the float64
///   inverse after every change of it (never updated in float32), so it carries one
///   rounding and no drift, and the float64 state is that of a float64 model.
#[derive(Clone, Debug)]
pub struct DerivedFromInverse {
    bound: f64,
    f32_upper: Vec<f32>,
}

impl Default for DerivedFromInverse {
    fn default() -> Self {
        DerivedFromInverse {
            bound: f64::INFINITY,
            f32_upper: Vec::new(),
        }
    }
}

impl PartialEq for DerivedFromInverse {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

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
    #[serde(skip)]
    pub derived: DerivedFromInverse,
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
            derived: DerivedFromInverse {
                bound: 1.0 / lam,
                f32_upper: Vec::new(),
            },
        }
    }

    pub fn dim(&self) -> usize {
        self.b.len()
    }

    /// Rebuild `a_inv` exactly from `gram` (and, for ridge models, `theta` from `b`; a
    /// logistic model's `theta` is its MAP estimate, kept as is).
    pub fn refactor(&mut self, link: Link) {
        let d = self.dim();
        // A new inverse or theta beyond the limits (a near-singular Gram matrix) is not
        // taken: the previous ones are within them.
        if let Some(inv) = linalg::spd_inverse(&self.gram, d) {
            let inv_max = max_abs(&inv);
            if inv_max <= INVERSE_LIMIT {
                if link == Link::Identity {
                    let mut theta = vec![0.0; d];
                    linalg::matvec(&inv, &self.b, &mut theta);
                    if max_abs(&theta) <= THETA_LIMIT && theta.iter().all(|t| t.is_finite()) {
                        self.a_inv = inv;
                        self.theta = theta;
                        self.derived.bound = inv_max;
                    }
                } else {
                    self.a_inv = inv;
                    self.derived.bound = inv_max;
                }
            }
        }
        self.since_refactor = 0;
        self.sync_f32_copy();
    }

    /// Whether decisions read a float32 copy of the inverse (`precision="float32"`).
    pub fn has_f32_copy(&self) -> bool {
        !self.derived.f32_upper.is_empty()
    }

    /// Keeps (derived from the float64 inverse) or drops the float32 copy of the inverse's
    /// upper triangle that decisions read (see [`DerivedFromInverse`]).
    pub fn set_f32_copy(&mut self, on: bool) {
        if on {
            let d = self.dim();
            super::wide::pack_upper_f32(&self.a_inv, d, &mut self.derived.f32_upper);
        } else {
            self.derived.f32_upper = Vec::new();
        }
    }

    /// The float32 copy of the inverse's upper triangle (packed), if kept.
    pub fn f32_copy(&self) -> Option<&[f32]> {
        self.has_f32_copy().then_some(&self.derived.f32_upper[..])
    }

    /// Re-derives the float32 copy (if kept) after a change of the float64 inverse.
    #[inline]
    fn sync_f32_copy(&mut self) {
        if self.has_f32_copy() {
            self.set_f32_copy(true);
        }
    }

    /// One weighted observation, O(d^2). A Sherman-Morrison step that would leave the
    /// limits (see [`INVERSE_LIMIT`]) is replaced by a refactorization from the exact sums.
    pub fn update(
        &mut self,
        x: &[f64],
        reward: f64,
        weight: f64,
        scratch: &mut [f64],
        link: Link,
    ) -> Result<()> {
        if link == Link::Logistic {
            return self.update_logistic(x, reward, weight, scratch);
        }
        self.n += 1;
        if weight == 0.0 {
            return Ok(());
        }
        // v = A^{-1} x (into scratch), q = x^T v and x . theta in one pass over A^{-1}
        // (which the sums below do not change).
        let (q, mean) = self.inverse_times(x, scratch);
        // theta_new = theta + w (r - x.theta) / (1 + w q) * A^{-1} x (before the update).
        let den = 1.0 + weight * q;
        let gain = weight * (reward - mean) / den;
        let (theta_ok, vv) = self.theta_step_within_limit(scratch, gain);
        let bound = if theta_ok {
            self.inverse_step_bound(den, weight / den, vv)
        } else {
            None
        };
        self.weight_sum += weight;
        linalg::add_sym_outer(&mut self.gram, x, weight);
        let wr = weight * reward;
        for (b, v) in self.b.iter_mut().zip(x) {
            *b += wr * v;
        }
        let Some(bound) = bound else {
            self.refactor(Link::Identity);
            return Ok(());
        };
        for (t, v) in self.theta.iter_mut().zip(scratch.iter()) {
            *t += gain * v;
        }
        linalg::sherman_morrison(&mut self.a_inv, scratch, q, weight);
        self.derived.bound = bound;
        self.sync_f32_copy();
        self.since_refactor += 1;
        if self.since_refactor >= REFACTOR_EVERY {
            self.refactor(Link::Identity);
        }
        Ok(())
    }

    /// A^{-1} x into `v`, and (x^T A^{-1} x, x . theta). From
    /// [`linalg::UPPER_TRIANGLE_FROM`] on, by dot products of whole rows (streamed; A^{-1}
    /// is symmetric); below it by the column-panel kernel (bit for bit the earlier results).
    #[inline]
    fn inverse_times(&self, x: &[f64], v: &mut [f64]) -> (f64, f64) {
        if x.len() >= linalg::UPPER_TRIANGLE_FROM {
            let v = &mut v[..x.len()];
            linalg::matvec(&self.a_inv, x, v);
            (linalg::dot(x, v), linalg::dot(x, &self.theta))
        } else {
            linalg::symv_dot(&self.a_inv, x, Some(&self.theta), v)
        }
    }

    /// Whether theta + step v stays within [`THETA_LIMIT`], and |v|^2. By the triangle
    /// inequality on Euclidean norms, which bound every entry: two vectorized dot products
    /// instead of a pass of per-entry maxima. NaN-safe: a NaN or infinite norm fails.
    #[inline]
    fn theta_step_within_limit(&self, v: &[f64], step: f64) -> (bool, f64) {
        let vv = linalg::dot(v, v);
        let tt = linalg::dot(&self.theta, &self.theta);
        (tt.sqrt() + step.abs() * vv.sqrt() <= THETA_LIMIT, vv)
    }

    /// The bound on max |A^{-1}| after the step A^{-1} -= c v v^T (denominator `den`,
    /// `vv` = |v|^2, at least max |v_i v_j|), or None when the step may leave [`INVERSE_LIMIT`] or its
    /// denominator is below 0.5 (at least 1 for a positive definite inverse). The answer
    /// depends on the saved state only: the exact maximum is read when the kept bound is
    /// too loose to decide.
    #[inline]
    fn inverse_step_bound(&mut self, den: f64, c: f64, vv: f64) -> Option<f64> {
        if !(den >= 0.5 && den.is_finite()) {
            return None;
        }
        let growth = c * vv;
        let mut bound = (self.derived.bound + growth) * STEP_ROUNDING;
        if bound.is_nan() || bound > INVERSE_LIMIT {
            self.derived.bound = max_abs(&self.a_inv);
            bound = (self.derived.bound + growth) * STEP_ROUNDING;
        }
        (bound <= INVERSE_LIMIT).then_some(bound)
    }

    /// Online Laplace update of a logistic model with prior N(theta, A^{-1}) and one
    /// weighted observation: the exact MAP of prior + likelihood, then the precision gains
    /// the likelihood's curvature there. The MAP lies on theta + s A^{-1} x, so it reduces to
    /// the scalar equation z = x^T theta + w q (r - sigmoid(z)) in the new predictor z,
    /// solved by Newton's method inside a bracket that always holds the root.
    fn update_logistic(
        &mut self,
        x: &[f64],
        reward: f64,
        weight: f64,
        scratch: &mut [f64],
    ) -> Result<()> {
        if weight == 0.0 {
            self.n += 1;
            return Ok(());
        }
        let (q, z0) = self.inverse_times(x, scratch);
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
        let (theta_ok, vv) = self.theta_step_within_limit(scratch, step);
        if !theta_ok {
            return Err(Error::param(
                "x",
                "this update would take the model's coefficients beyond 1e150 (its state is \
                 ill-conditioned); the observation was not recorded",
            ));
        }
        let curvature = weight * p * (1.0 - p);
        let den = 1.0 + curvature * q;
        let bound = if curvature > 0.0 {
            self.inverse_step_bound(den, curvature / den, vv)
        } else {
            Some(self.derived.bound)
        };
        self.n += 1;
        self.weight_sum += weight;
        for (t, v) in self.theta.iter_mut().zip(scratch.iter()) {
            *t += step * v;
        }
        if curvature > 0.0 {
            linalg::add_sym_outer(&mut self.gram, x, curvature);
            let Some(bound) = bound else {
                // A step beyond the limits: the inverse from the exact Gram matrix instead.
                self.refactor(Link::Logistic);
                return Ok(());
            };
            linalg::sherman_morrison(&mut self.a_inv, scratch, q, curvature);
            self.derived.bound = bound;
            self.sync_f32_copy();
        }
        self.since_refactor += 1;
        if self.since_refactor >= REFACTOR_EVERY {
            self.refactor(Link::Logistic);
        }
        Ok(())
    }

    /// Many observations: accumulate the Gram matrix and b, then refactor once
    /// (O(n d^2 + d^3) instead of n Sherman-Morrison steps). Logistic models take the rows
    /// one by one and stop at the first refused one (the caller restores the model).
    pub fn update_many(&mut self, rows: &[(&[f64], f64, f64)], link: Link) -> Result<()> {
        let d = self.dim();
        if link == Link::Logistic {
            // The online Laplace posterior is sequential by construction.
            let mut scratch = vec![0.0; d];
            for &(x, r, w) in rows {
                self.update_logistic(x, r, w, &mut scratch)?;
            }
            return Ok(());
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
        Ok(())
    }

    /// Adds the rows `idx` of the row-major (n x d) `x` (ridge models): b and the counts
    /// row by row in the order given, the Gram matrix's upper triangle by a symmetric
    /// rank-k update of blocks of gathered rows (`xs`, `wxs`: reusable buffers). The lower
    /// triangle and the inverse are left for [`RidgeModel::finish_rows`].
    ///
    /// Each value of `x`, `rewards` and `weights` is read once (into the block buffer or a
    /// local), then checked and used from there: the inputs may be written by another
    /// thread meanwhile (see [`ContextualPolicy::update_batch`](super::ContextualPolicy::update_batch)). Returns false when a value
    /// was out of range (a context beyond [`CONTEXT_LIMIT`], a reward beyond
    /// `policy::REWARD_LIMIT`, a weight outside [0, [`WEIGHT_LIMIT`]]); the sums then hold
    /// it, and the caller restores them ([`RidgeModel::restore_sums`]).
    pub fn accumulate_rows(
        &mut self,
        x: &[f64],
        idx: &[u32],
        rewards: &[f64],
        weights: Option<&[f64]>,
        bufs: (&mut Vec<f64>, &mut Vec<f64>),
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked above), the function's only requirement
            // (its body is safe code compiled for AVX2).
            return unsafe { self.accumulate_rows_avx2(x, idx, rewards, weights, bufs) };
        }
        self.accumulate_rows_with(x, idx, rewards, weights, bufs, linalg::gather_row)
    }

    /// [`RidgeModel::accumulate_rows`] compiled for AVX2, with the AVX2 row kernel.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn accumulate_rows_avx2(
        &mut self,
        x: &[f64],
        idx: &[u32],
        rewards: &[f64],
        weights: Option<&[f64]>,
        bufs: (&mut Vec<f64>, &mut Vec<f64>),
    ) -> bool {
        let gather = |dst: &mut [f64], b: &mut [f64], row: &[f64], wr, limit, excess: &mut _| {
            // SAFETY: this function runs only on CPUs with AVX2, the kernel's requirement.
            unsafe { linalg::gather_row_avx2(dst, b, row, wr, limit, excess) }
        };
        self.accumulate_rows_with(x, idx, rewards, weights, bufs, gather)
    }

    /// The body of [`RidgeModel::accumulate_rows`], with the row kernel `gather` (see
    /// [`linalg::gather_row`]).
    #[inline(always)]
    fn accumulate_rows_with(
        &mut self,
        x: &[f64],
        idx: &[u32],
        rewards: &[f64],
        weights: Option<&[f64]>,
        (xs, wxs): (&mut Vec<f64>, &mut Vec<f64>),
        gather: impl Fn(&mut [f64], &mut [f64], &[f64], f64, i64, &mut [i64; 4]),
    ) -> bool {
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
        // ORed range excesses of the contexts (negative once one is out of range), and the
        // checks of the rewards and weights.
        let context_bits = CONTEXT_LIMIT.to_bits() as i64;
        let mut excess = [0i64; 4];
        let mut scalars_ok = true;
        for (c, chunk) in idx.chunks(block).enumerate() {
            for (k, &i) in chunk.iter().enumerate() {
                // The rows are scattered over x: ask for a row a few ahead.
                if let Some(&ahead) = idx.get(c * block + k + 8) {
                    prefetch_row(&x[ahead as usize * d..(ahead as usize + 1) * d]);
                }
                let i = i as usize;
                let w = weights.map_or(1.0, |w| linalg::read_once(w, i));
                let r = linalg::read_once(rewards, i);
                scalars_ok &=
                    (r.abs() <= crate::policy::REWARD_LIMIT) & (0.0..=WEIGHT_LIMIT).contains(&w);
                self.n += 1;
                self.weight_sum += w;
                let dst = &mut xs[k * dp..k * dp + d];
                let row = &x[i * d..(i + 1) * d];
                gather(dst, &mut self.b, row, w * r, context_bits, &mut excess);
                if weights.is_some() {
                    for (o, v) in wxs[k * dp..k * dp + d].iter_mut().zip(dst.iter()) {
                        *o = w * v;
                    }
                }
            }
            let wx: &[f64] = if weights.is_some() { wxs } else { xs };
            linalg::syrk_upper_add(&mut self.gram, d, xs, wx, chunk.len(), dp);
        }
        excess.iter().fold(0, |a, e| a | e) >= 0 && scalars_ok
    }

    /// The sums [`RidgeModel::accumulate_rows`] adds to, to put back with
    /// [`RidgeModel::restore_sums`] when a batch is refused.
    pub fn sums(&self) -> RidgeSums {
        RidgeSums {
            gram: self.gram.clone(),
            b: self.b.clone(),
            n: self.n,
            weight_sum: self.weight_sum,
        }
    }

    pub fn restore_sums(&mut self, s: RidgeSums) {
        self.gram = s.gram;
        self.b = s.b;
        self.n = s.n;
        self.weight_sum = s.weight_sum;
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
        // From UPPER_TRIANGLE_FROM on, half of the symmetric inverse (half the bytes), or
        // its float32 copy under precision="float32" (a quarter), accumulated in float64.
        let (q, mean) = if self.has_f32_copy() {
            let f32_upper = &self.derived.f32_upper;
            (
                super::wide::quad_upper_f32(f32_upper, x),
                linalg::dot(x, &self.theta),
            )
        } else if x.len() >= linalg::UPPER_TRIANGLE_FROM {
            linalg::quad_and_dot_upper(&self.a_inv, x, &self.theta)
        } else {
            linalg::quad_and_dot(&self.a_inv, x, &self.theta)
        };
        (mean, q.max(0.0).sqrt())
    }

    #[inline]
    pub fn mean(&self, x: &[f64]) -> f64 {
        linalg::dot(x, &self.theta)
    }

    /// sqrt(x^T A^{-1} x), the confidence width of the mean.
    #[inline]
    pub fn width(&self, x: &[f64], scratch: &mut [f64]) -> f64 {
        if x.len() >= linalg::UPPER_TRIANGLE_FROM || self.has_f32_copy() {
            return self.mean_width(x).1;
        }
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

    pub(super) fn check(&self, dim: usize, lam: f64) -> Result<()> {
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
        if !ok {
            return Err(Error::state(
                "a ridge model is inconsistent (sizes, finiteness or a non-positive Gram diagonal)",
            ));
        }
        // The bounds every reachable state satisfies (see SUM_MARGIN).
        let (b_limit, gram_limit) = (
            sum_limit(self.n, B_ROW_LIMIT),
            sum_limit(self.n, GRAM_ROW_LIMIT),
        );
        let sums_ok = self.weight_sum <= sum_limit(self.n, WEIGHT_LIMIT)
            && self.b.iter().all(|v| v.abs() <= b_limit)
            && self.gram.iter().enumerate().all(|(i, g)| {
                let prior = if i % (dim + 1) == 0 { lam } else { 0.0 };
                (g - prior).abs() <= gram_limit
            });
        let derived_ok = self.a_inv.iter().all(|v| v.abs() <= INVERSE_LIMIT)
            && self.theta.iter().all(|v| v.abs() <= THETA_LIMIT);
        if sums_ok && derived_ok {
            Ok(())
        } else {
            Err(Error::state(
                "a ridge model's sums or derived values are beyond what its updates can produce",
            ))
        }
    }
}

/// A saved copy of the sums of a [`RidgeModel`] (see [`RidgeModel::sums`]).
#[derive(Clone, Debug)]
pub struct RidgeSums {
    gram: Vec<f64>,
    b: Vec<f64>,
    n: u64,
    weight_sum: f64,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(dim: usize, lam: f64, rows: &[(&[f64], f64, f64)]) -> RidgeModel {
        let mut m = RidgeModel::new(dim, lam);
        let mut scratch = vec![0.0; dim];
        for &(x, r, w) in rows {
            m.update(x, r, w, &mut scratch, Link::Identity).unwrap();
        }
        m
    }

    #[test]
    fn rows_at_the_input_limits_stay_within_the_decoder_bounds() {
        let big = [CONTEXT_LIMIT, -CONTEXT_LIMIT];
        let r = crate::policy::REWARD_LIMIT;
        let rows: Vec<(&[f64], f64, f64)> = (0..50)
            .map(|i| (&big[..], if i % 2 == 0 { r } else { -r }, WEIGHT_LIMIT))
            .collect();
        let m = fed(2, LAM_RANGE.0, &rows);
        m.check(2, LAM_RANGE.0).unwrap();
        assert_eq!(m.n, 50);
        // The Gram entries are 50 rows of 1e90, within 16 n 1e90 and beyond 1 n 1e90 / 2.
        assert!(m.gram[1].abs() <= sum_limit(50, GRAM_ROW_LIMIT));
        assert!(m.gram[1].abs() > 0.5 * 50.0 * GRAM_ROW_LIMIT);
        assert!(m.a_inv.iter().all(|v| v.abs() <= INVERSE_LIMIT));
    }

    #[test]
    fn sums_beyond_the_row_count_and_derived_values_beyond_their_limits_do_not_decode() {
        let m = fed(2, 1.0, &[(&[1.0, 2.0], 0.5, 1.0)]);
        m.check(2, 1.0).unwrap();
        let broken = |f: &dyn Fn(&mut RidgeModel)| {
            let mut b = m.clone();
            f(&mut b);
            b.check(2, 1.0).is_err()
        };
        assert!(broken(&|b| b.gram[1] = f64::MAX));
        assert!(broken(&|b| b.gram[1] = 1.01 * sum_limit(1, GRAM_ROW_LIMIT)));
        assert!(!broken(&|b| b.gram[1] = 0.99 * sum_limit(1, GRAM_ROW_LIMIT)));
        assert!(broken(&|b| b.b[0] = 1.01 * sum_limit(1, B_ROW_LIMIT)));
        assert!(broken(&|b| b.weight_sum = 1.01 * sum_limit(1, WEIGHT_LIMIT)));
        assert!(broken(&|b| b.a_inv[3] = 1.01 * INVERSE_LIMIT));
        assert!(!broken(&|b| b.a_inv[3] = 0.99 * INVERSE_LIMIT));
        assert!(broken(&|b| b.theta[0] = -1.01 * THETA_LIMIT));
        // A fresh model carries exactly lam I.
        assert!(broken(&|b| {
            *b = RidgeModel::new(2, 1.0);
            b.gram[0] = 1.0 + 1e-9;
        }));
    }

    #[test]
    fn a_step_that_would_leave_the_inverse_limit_refactorizes_instead() {
        // A decodable inverse near its limit: the Sherman-Morrison step would take it past
        // the limit, so the row goes into the sums and the inverse is rebuilt from them.
        let mut m = RidgeModel::new(2, 1.0);
        m.a_inv = vec![0.9 * INVERSE_LIMIT, 0.0, 0.0, -0.9 * INVERSE_LIMIT];
        m.derived = DerivedFromInverse::default();
        m.check(2, 1.0).unwrap();
        let mut scratch = vec![0.0; 2];
        m.update(&[1.0, 1.0], 2.0, 1.0, &mut scratch, Link::Identity)
            .unwrap();
        m.check(2, 1.0).unwrap();
        // The exact ridge solution of lam = 1 and one row (1, 1) -> 2.
        let exact = [[2.0 / 3.0, -1.0 / 3.0], [-1.0 / 3.0, 2.0 / 3.0]];
        for i in 0..2 {
            for j in 0..2 {
                assert!((m.a_inv[i * 2 + j] - exact[i][j]).abs() < 1e-12);
            }
            assert!((m.theta[i] - 2.0 / 3.0).abs() < 1e-12);
        }
        assert_eq!(m.since_refactor, 0);
    }

    #[test]
    fn the_kept_inverse_bound_does_not_change_decisions_or_equality() {
        let rows: Vec<(&[f64], f64, f64)> = vec![(&[1.0, 0.5], 1.0, 1.0), (&[0.2, -1.0], 0.0, 2.0)];
        let m = fed(2, 1.0, &rows);
        let mut decoded = m.clone();
        decoded.derived = DerivedFromInverse::default();
        assert_eq!(m, decoded);
        let (mut a, mut b) = (m.clone(), decoded);
        let mut scratch = vec![0.0; 2];
        for k in 0..2000 {
            let x = [(k as f64).sin(), (k as f64 * 0.7).cos()];
            a.update(&x, 0.3, 1.0, &mut scratch, Link::Identity)
                .unwrap();
            b.update(&x, 0.3, 1.0, &mut scratch, Link::Identity)
                .unwrap();
        }
        assert_eq!(a.a_inv, b.a_inv);
        assert_eq!(a.theta, b.theta);
        assert!(a.derived.bound >= max_abs(&a.a_inv));
    }
}
