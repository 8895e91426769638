//! One arm's model: [`RidgeModel`], the ridge regression (and, through [`Link`], the
//! online Laplace logistic regression) each linear policy keeps per arm, with its single,
//! sequential and batched updates.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::{CONTEXT_LIMIT, WEIGHT_LIMIT};
use crate::error::{Error, Result};
use crate::linalg;
use serde::{Deserialize, Serialize};

/// Rank-one updates between two exact refactorizations of an arm's inverse. The
/// Sherman-Morrison drift after a thousand updates is far below 1e-12 relative; the
/// refactorization costs O(d^3), amortized to O(d^3 / 1024) per update.
pub const REFACTOR_EVERY: u64 = 1024;

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

    pub(super) fn check(&self, dim: usize) -> Result<()> {
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
