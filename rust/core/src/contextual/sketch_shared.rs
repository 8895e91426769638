//! Shared-parameter linear bandits on one Frequent Directions sketch, for arm features (the
//! "action-dependent features" setting of Vowpal Wabbit's `--cb_explore_adf`): each decision
//! offers n_actions feature vectors x_a (n_actions may change from call to call), one
//! parameter vector theta scores them all, and one sketch of the played rows stands in for
//! the Gram matrix (SOFUL: Kuzborskij, Cella and Cesa-Bianchi, AISTATS 2019).
//!
//! A = S^T S + c I with c = lam (or lam + Delta / 2, robust), b = sum w r x kept exactly,
//! theta = A^{-1} b, and x^T A^{-1} x by Woodbury on the sketch's m x m factor
//! ([`SharedRidge`], the disjoint sketched policies' construction kept here on
//! [`FrequentDirections`]' public methods and the [`dot_rows`] kernel): O(m d) per action
//! scored and per row learned.
//! With m >= d nothing is dropped and the policy is exact shared-parameter LinUCB (OFUL) /
//! linear Thompson sampling.

use super::sketch::{dot_rows, gemm, FrequentDirections};
use super::{
    check_contexts, check_top_k, sampling_probabilities, top_k_rows_eligible, LAM_RANGE,
    WEIGHT_LIMIT,
};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::linalg;
use crate::policy::{check_room, REWARD_LIMIT};
use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;
use crate::state::Persist;
use crate::stats::RandomTieArgmax;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The largest number of f64 values the sketch may hold (2^31, 16 GB), as the disjoint
/// sketched policies.
const MAX_VALUES: u128 = 1 << 31;

/// The shared model's sketched design: A = S^T S + c I with S a Frequent Directions sketch
/// of the rows sqrt(w) x and c the regularizer, and H = (S S^T + c I)^{-1} on the filled
/// rows (2m x 2m storage), so that by Woodbury A^{-1} = (I - S^T H S) / c costs O(m d) per
/// product. H grows by a bordered (Schur complement) step per row and is diagonal after each
/// shrink, where the sketch's rows are orthogonal (the only time c changes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SharedRidge {
    fd: FrequentDirections,
    h: Vec<f64>,
}

/// Runs `f` on a zeroed buffer of `n` values, on the stack when `n` <= 256.
#[inline]
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    if n <= 256 {
        let mut b = [0.0; 256];
        f(&mut b[..n])
    } else {
        f(&mut vec![0.0; n])
    }
}

impl SharedRidge {
    fn new(dim: usize, size: usize) -> Result<Self> {
        let fd = FrequentDirections::new(dim, size)?;
        Ok(SharedRidge {
            h: vec![0.0; 4 * size * size],
            fd,
        })
    }

    /// c = lam, or lam + (sum of the deltas) / 2 for the robust variant (Robust Frequent
    /// Directions, Luo et al. 2019).
    fn regularizer(&self, lam: f64, robust: bool) -> f64 {
        if robust {
            lam + 0.5 * self.fd.shrinkage
        } else {
            lam
        }
    }

    fn stride(&self) -> usize {
        2 * self.fd.size
    }

    /// u = S x over the filled rows (four sketch rows at a time, the disjoint sketches'
    /// kernel).
    fn project(&self, x: &[f64], u: &mut [f64]) {
        let r = self.fd.filled;
        dot_rows(&self.fd.rows, self.fd.dim, x, &mut u[..r]);
    }

    /// x^T A^{-1} x = (|x|^2 - u^T H u) / c with u = S x.
    fn quad(&self, x: &[f64], c: f64) -> f64 {
        let (r, s) = (self.fd.filled, self.stride());
        with_scratch(r, |u| {
            self.project(x, u);
            let mut q = 0.0;
            for i in 0..r {
                q += u[i] * linalg::dot(&self.h[i * s..i * s + r], u);
            }
            ((linalg::dot(x, x) - q) / c).max(0.0)
        })
    }

    /// Adds the row sqrt(w) x to the sketch and keeps H current.
    fn add_row(&mut self, x: &[f64], weight: f64, lam0: f64, robust: bool) {
        let s = self.stride();
        let c0 = self.regularizer(lam0, robust);
        let row: Vec<f64> = x.iter().map(|v| weight.sqrt() * v).collect();
        let r = self.fd.filled;
        let mut u = vec![0.0; r];
        self.project(&row, &mut u);
        // k = H u, schur = (row.row + c) - u^T k; H' = [[H + k k^T / schur, -k / schur],
        // [-k^T / schur, 1 / schur]].
        let k: Vec<f64> = (0..r)
            .map(|i| linalg::dot(&self.h[i * s..i * s + r], &u))
            .collect();
        let schur = (linalg::dot(&row, &row) + c0 - linalg::dot(&u, &k)).max(c0);
        for i in 0..r {
            for j in 0..r {
                self.h[i * s + j] += k[i] * k[j] / schur;
            }
            self.h[i * s + r] = -k[i] / schur;
            self.h[r * s + i] = -k[i] / schur;
        }
        self.h[r * s + r] = 1.0 / schur;
        if let Some(norms) = self.fd.insert(&row) {
            let c = self.regularizer(lam0, robust);
            self.h.fill(0.0);
            for (i, n) in norms.iter().enumerate() {
                self.h[i * s + i] = 1.0 / (n + c);
            }
        }
    }

    /// H = (S S^T + c I)^{-1} on the filled rows, from scratch (after rows were fed to the
    /// sketch in blocks): one r x d by d x r product and an r x r Cholesky inverse, the
    /// disjoint sketches' `refresh_h`. Equal to the bordered steps of [`Self::add_row`] up
    /// to rounding.
    fn refresh_h(&mut self, lam0: f64, robust: bool) {
        let (r, s, d) = (self.fd.filled, self.stride(), self.fd.dim);
        let c = self.regularizer(lam0, robust);
        self.h.fill(0.0);
        if r == 0 {
            return;
        }
        let rows = &self.fd.rows[..r * d];
        let mut g = vec![0.0; r * r];
        gemm((r, d, r), rows, (d, 1), rows, (1, d), &mut g, r, 0.0);
        for i in 0..r {
            for j in 0..i {
                let v = 0.5 * (g[i * r + j] + g[j * r + i]);
                g[i * r + j] = v;
                g[j * r + i] = v;
            }
            g[i * r + i] += c;
        }
        let inv = linalg::spd_inverse(&g, r).unwrap_or_else(|| {
            // S S^T + c I has every eigenvalue >= c > 0; only rounding could fail the
            // factorization: invert through the eigendecomposition instead.
            let (vals, vecs) = super::sketch::sym_eigen_fast(&g, r);
            let mut inv = vec![0.0; r * r];
            for i in 0..r {
                for j in 0..r {
                    inv[i * r + j] = (0..r)
                        .map(|k| vecs[i * r + k] * vecs[j * r + k] / vals[k].max(c))
                        .sum();
                }
            }
            inv
        });
        for i in 0..r {
            self.h[i * s..i * s + r].copy_from_slice(&inv[i * r..(i + 1) * r]);
        }
    }

    /// sqrt(x^T A^{-1} x) of the rows of `x` (row-major, one width each) as a block: U = X S^T
    /// and V = U H by two matrix products, then width_i = sqrt((|x_i|^2 - U_i . V_i) / c),
    /// [`Self::quad`] row by row up to rounding.
    fn block_widths(&self, x: &[f64], c: f64, widths: &mut [f64]) {
        let (r, s, d) = (self.fd.filled, self.stride(), self.fd.dim);
        let n = widths.len();
        if r == 0 {
            for (w, row) in widths.iter_mut().zip(x.chunks_exact(d)) {
                *w = (linalg::dot(row, row) / c).max(0.0).sqrt();
            }
            return;
        }
        let mut u = vec![0.0; n * r];
        let mut v = vec![0.0; n * r];
        gemm((n, d, r), x, (d, 1), &self.fd.rows, (1, d), &mut u, r, 0.0);
        gemm((n, r, r), &u, (r, 1), &self.h, (s, 1), &mut v, r, 0.0);
        for (i, (w, row)) in widths.iter_mut().zip(x.chunks_exact(d)).enumerate() {
            let hq = linalg::dot(&u[i * r..(i + 1) * r], &v[i * r..(i + 1) * r]);
            *w = ((linalg::dot(row, row) - hq) / c).max(0.0).sqrt();
        }
    }

    /// theta = A^{-1} b = (b - S^T H S b) / c.
    fn solve(&self, b: &[f64], c: f64, theta: &mut [f64]) {
        let (r, s) = (self.fd.filled, self.stride());
        let mut u = vec![0.0; r];
        self.project(b, &mut u);
        theta.copy_from_slice(b);
        for i in 0..r {
            let hu = linalg::dot(&self.h[i * s..i * s + r], &u);
            for (t, v) in theta.iter_mut().zip(self.fd.row(i)) {
                *t -= hu * v;
            }
        }
        theta.iter_mut().for_each(|t| *t /= c);
    }

    fn check(&self, dim: usize, size: usize) -> bool {
        let fd = &self.fd;
        fd.dim == dim
            && fd.size == size
            && fd.rows.len() == 2 * size * dim
            && fd.filled < 2 * size
            && self.h.len() == 4 * size * size
            && fd.shrinkage.is_finite()
            && fd.shrinkage >= 0.0
            && fd.rows.iter().chain(&self.h).all(|v| v.is_finite())
    }
}

/// The decision rule of a shared-sketch policy: an index (UCB) or a sampled score (TS).
pub trait SharedSketchRule:
    Clone + std::fmt::Debug + PartialEq + Send + Sync + Serialize + serde::de::DeserializeOwned
{
    /// The Python class name, written in every state header.
    const KIND: &'static str;
    /// The deterministic score of an action from its mean and width: the UCB index, or the
    /// posterior mean of a sampling rule.
    fn score(&self, mean: f64, width: f64) -> f64;
    /// The standard deviation of a sampled score (None for an index rule).
    fn sd(&self, width: f64) -> Option<f64>;
    fn check(&self) -> Result<()>;
    fn describe(&self) -> String;
}

/// SharedSketchLinUCB's rule: x^T theta + alpha sqrt(x^T A^{-1} x).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedUcb {
    pub alpha: f64,
}

impl SharedSketchRule for SharedUcb {
    const KIND: &'static str = "SharedSketchLinUCB";
    fn score(&self, mean: f64, width: f64) -> f64 {
        mean + self.alpha * width
    }
    fn sd(&self, _width: f64) -> Option<f64> {
        None
    }
    fn check(&self) -> Result<()> {
        super::linear::finite_nonneg(self.alpha, "alpha")
    }
    fn describe(&self) -> String {
        format!("alpha={}", self.alpha)
    }
}

/// SharedSketchLinTS's rule: the score of each action drawn from N(x^T theta, v^2 x^T A^{-1}
/// x), independently per action, as [`super::LinTS`] and [`super::SketchedLinTS`] draw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedTs {
    pub v: f64,
}

impl SharedSketchRule for SharedTs {
    const KIND: &'static str = "SharedSketchLinTS";
    fn score(&self, mean: f64, _width: f64) -> f64 {
        mean
    }
    fn sd(&self, width: f64) -> Option<f64> {
        Some(self.v * width)
    }
    fn check(&self) -> Result<()> {
        super::linear::finite_nonneg(self.v, "v")
    }
    fn describe(&self) -> String {
        format!("v={}", self.v)
    }
}

/// A shared-parameter linear policy on one Frequent Directions sketch (see the module
/// docs). [`SharedSketchLinUCB`] and [`SharedSketchLinTS`] are its two rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedSketch<R> {
    rng: Rng,
    dim: usize,
    sketch_size: usize,
    robust: bool,
    lam: f64,
    rule: R,
    ridge: SharedRidge,
    /// b = sum w r x (exact) and theta = A^{-1} b.
    b: Vec<f64>,
    theta: Vec<f64>,
    n_updates: u64,
}

/// SOFUL with a UCB index on arm features.
pub type SharedSketchLinUCB = SharedSketch<SharedUcb>;
/// Linear Thompson sampling on the shared sketch.
pub type SharedSketchLinTS = SharedSketch<SharedTs>;

impl SharedSketchLinUCB {
    pub fn new(
        dim: usize,
        sketch_size: usize,
        robust: bool,
        alpha: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        SharedSketch::with_rule(dim, sketch_size, robust, SharedUcb { alpha }, lam, seed)
    }
}

impl SharedSketchLinTS {
    pub fn new(
        dim: usize,
        sketch_size: usize,
        robust: bool,
        v: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        SharedSketch::with_rule(dim, sketch_size, robust, SharedTs { v }, lam, seed)
    }
}

/// The layout of `n` decisions of `n_actions` actions each: checks the sizes, that every
/// value is finite and within the context limit, and that the outputs can be allocated.
fn check_decisions(argument: &str, x: &[f64], n: usize, n_actions: usize, d: usize) -> Result<()> {
    if n_actions == 0 {
        return Err(Error::shape(
            argument,
            "a decision needs at least one action (n_actions >= 1)",
        ));
    }
    let expected = n.checked_mul(n_actions).and_then(|v| v.checked_mul(d));
    if expected != Some(x.len()) {
        return Err(Error::shape(
            argument,
            format!(
                "expected {n} decisions of {n_actions} actions with {d} features, got {} values",
                x.len()
            ),
        ));
    }
    crate::limits::check_alloc(argument, &[n, n_actions], 16)?;
    check_contexts(argument, x, d)?;
    Ok(())
}

impl<R: SharedSketchRule> SharedSketch<R> {
    pub fn with_rule(
        dim: usize,
        sketch_size: usize,
        robust: bool,
        rule: R,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if sketch_size == 0 {
            return Err(Error::param("sketch_size", "must be at least 1, got 0"));
        }
        if !(LAM_RANGE.0..=LAM_RANGE.1).contains(&lam) {
            return Err(Error::param_got(
                "lam",
                "must be a number in [1e-30, 1e30]",
                lam,
            ));
        }
        rule.check()?;
        // The 2m x d buffer, the 2m x 2m Woodbury factor and two d-vectors, before any
        // allocation (u128: no product of two usizes overflows it).
        let (d, m) = (dim as u128, sketch_size as u128);
        if d > MAX_VALUES || m > MAX_VALUES || 2 * m * (d + 2 * m) + 2 * d > MAX_VALUES {
            return Err(Error::param(
                "sketch_size",
                format!("2 sketch_size (dim + 2 sketch_size) + 2 dim must be at most {MAX_VALUES}, got dim {dim}, sketch_size {sketch_size}"),
            ));
        }
        Ok(SharedSketch {
            rng: Rng::from_optional_seed(seed),
            dim,
            sketch_size,
            robust,
            lam,
            rule,
            ridge: SharedRidge::new(dim, sketch_size)?,
            b: vec![0.0; dim],
            theta: vec![0.0; dim],
            n_updates: 0,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn sketch_size(&self) -> usize {
        self.sketch_size
    }
    pub fn robust(&self) -> bool {
        self.robust
    }
    pub fn lam(&self) -> f64 {
        self.lam
    }
    pub fn rule(&self) -> &R {
        &self.rule
    }
    pub fn n_updates(&self) -> u64 {
        self.n_updates
    }
    /// theta = A^{-1} b.
    pub fn coefficients(&self) -> &[f64] {
        &self.theta
    }
    /// The Frequent Directions sketch of the played rows (for inspection and tests).
    pub fn sketch(&self) -> &FrequentDirections {
        &self.ridge.fd
    }
    pub fn describe_params(&self) -> String {
        format!(
            "sketch_size={}, robust={}, {}, lam={}",
            self.sketch_size,
            if self.robust { "True" } else { "False" },
            self.rule.describe(),
            self.lam
        )
    }

    /// The regularizer c of A = S^T S + c I.
    fn regularizer(&self) -> f64 {
        self.ridge.regularizer(self.lam, self.robust)
    }

    /// (x^T theta, sqrt(x^T A^{-1} x)) of one action.
    #[inline]
    fn mean_width(&self, x: &[f64], c: f64) -> (f64, f64) {
        (linalg::dot(x, &self.theta), self.ridge.quad(x, c).sqrt())
    }

    /// (x^T theta, sqrt(x^T A^{-1} x)) of every action row of validated decisions (the
    /// n n_actions rows of `x` as one block matrix): per block of rows one matrix-vector
    /// product for the means and two matrix products for the widths
    /// ([`SharedRidge::block_widths`]), blocks in parallel. Equal to [`Self::mean_width`]
    /// row by row up to rounding.
    fn moments(&self, x: &[f64], with_width: bool) -> (Vec<f64>, Vec<f64>) {
        let (d, c) = (self.dim, self.regularizer());
        let rows = x.len() / d;
        let mut means = vec![0.0; rows];
        let mut widths = vec![0.0; if with_width { rows } else { 0 }];
        // Blocks of 128 rows: the sketch is read once per block, and a block is enough
        // work per task to pay for the hand-off.
        const BLOCK: usize = 128;
        let block = |b: usize, m: &mut [f64], w: Option<&mut [f64]>| {
            let xb = &x[b * BLOCK * d..(b * BLOCK + m.len()) * d];
            dot_rows(xb, d, &self.theta, m);
            if let Some(w) = w {
                self.ridge.block_widths(xb, c, w);
            }
        };
        if rows <= BLOCK {
            block(0, &mut means, with_width.then_some(&mut widths[..]));
        } else if with_width {
            crate::parallel::install(|| {
                means
                    .par_chunks_mut(BLOCK)
                    .zip(widths.par_chunks_mut(BLOCK))
                    .enumerate()
                    .for_each(|(b, (m, w))| block(b, m, Some(w)))
            });
        } else {
            crate::parallel::install(|| {
                means
                    .par_chunks_mut(BLOCK)
                    .enumerate()
                    .for_each(|(b, m)| block(b, m, None))
            });
        }
        (means, widths)
    }

    /// `f(mean, width)` of every action of validated decisions, by [`Self::moments`].
    fn per_action(&self, x: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let (means, widths) = self.moments(x, true);
        means.iter().zip(&widths).map(|(&m, &w)| f(m, w)).collect()
    }

    /// One validated decision among the eligible actions: the argmax of the index (ties at
    /// random), or of the scores drawn for the eligible actions in index order, one normal
    /// each (as LinTS), then the argmax with random ties from the same generator.
    fn decide(&mut self, x: &[f64], n_actions: usize, eligible: Option<&Eligible>) -> usize {
        let (d, c) = (self.dim, self.regularizer());
        let (mut means, mut widths) = (vec![0.0; n_actions], vec![0.0; n_actions]);
        for a in 0..n_actions {
            if eligible.is_some_and(|e| !e.contains(a)) {
                continue;
            }
            (means[a], widths[a]) = self.mean_width(&x[a * d..(a + 1) * d], c);
        }
        self.decide_from(&means, &widths, eligible)
    }

    /// [`Self::decide`] from the actions' means and widths (computed for the eligible
    /// ones): the one place the generator is drawn from, so a batch of decisions scored as
    /// a block draws the same stream as the loop of single ones.
    fn decide_from(&mut self, means: &[f64], widths: &[f64], eligible: Option<&Eligible>) -> usize {
        let mut rng = self.rng.clone();
        let mut best = RandomTieArgmax::new();
        for (a, (&mean, &width)) in means.iter().zip(widths).enumerate() {
            if eligible.is_some_and(|e| !e.contains(a)) {
                continue;
            }
            let score = match self.rule.sd(width) {
                None => self.rule.score(mean, width),
                Some(sd) => mean + sd * normal_rand_distr_05(&mut rng),
            };
            best.push(a, score, &mut rng);
        }
        self.rng = rng;
        best.finish()
    }

    /// One decision: `x` holds n_actions rows of dim features.
    pub fn select(
        &mut self,
        x: &[f64],
        n_actions: usize,
        eligible: Option<&Eligible>,
    ) -> Result<usize> {
        check_decisions("x", x, 1, n_actions, self.dim)?;
        if let Some(e) = eligible {
            e.check_arms(n_actions)?;
        }
        Ok(self.decide(x, n_actions, eligible))
    }

    /// n decisions (no feedback between them): every action scored as one block
    /// ([`Self::moments`]), then the decisions in order from the same generator, the loop of
    /// [`Self::select`] up to rounding (the same draws).
    pub fn select_batch(
        &mut self,
        x: &[f64],
        n: usize,
        n_actions: usize,
        eligible: Option<&EligibleRows>,
    ) -> Result<Vec<usize>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        if let Some(e) = eligible {
            e.check(n, n_actions)?;
        }
        let (means, widths) = self.moments(x, true);
        Ok((0..n)
            .map(|i| {
                let span = i * n_actions..(i + 1) * n_actions;
                self.decide_from(
                    &means[span.clone()],
                    &widths[span],
                    eligible.map(|e| e.row(i)),
                )
            })
            .collect())
    }

    /// Scores (n x n_actions): the index, or the posterior mean of a sampling rule; -inf
    /// for ineligible actions.
    pub fn scores(
        &self,
        x: &[f64],
        n: usize,
        n_actions: usize,
        eligible: Option<&EligibleRows>,
    ) -> Result<Vec<f64>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        if let Some(e) = eligible {
            e.check(n, n_actions)?;
        }
        let mut s = self.per_action(x, |m, w| self.rule.score(m, w));
        if let Some(e) = eligible {
            for (i, row) in s.chunks_exact_mut(n_actions).enumerate() {
                e.row(i).mask_scores(row);
            }
        }
        Ok(s)
    }

    /// x^T theta of every action (n x n_actions).
    pub fn mean(&self, x: &[f64], n: usize, n_actions: usize) -> Result<Vec<f64>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        Ok(self.moments(x, false).0)
    }

    /// sqrt(x^T A^{-1} x) of every action (n x n_actions).
    pub fn width(&self, x: &[f64], n: usize, n_actions: usize) -> Result<Vec<f64>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        Ok(self.moments(x, true).1)
    }

    /// The law of the next decision for each of n decisions (n x n_actions): uniform over
    /// the maximizers of an index; for a sampling rule a Monte Carlo estimate (4096 draws,
    /// seeded from the policy's generator and the decision's features, as LinTS), exact
    /// one-hot when every width is 0.
    pub fn probabilities(
        &self,
        x: &[f64],
        n: usize,
        n_actions: usize,
        eligible: Option<&EligibleRows>,
    ) -> Result<Vec<f64>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        if let Some(e) = eligible {
            e.check(n, n_actions)?;
        }
        let (means, widths) = self.moments(x, true);
        let means: Vec<f64> = means
            .iter()
            .zip(&widths)
            .map(|(&m, &w)| self.rule.score(m, w))
            .collect();
        let sds: Vec<f64> = widths
            .iter()
            .map(|&w| self.rule.sd(w).unwrap_or(0.0))
            .collect();
        let w = n_actions * self.dim;
        let all = Eligible::all(n_actions);
        let mut out = vec![0.0; n * n_actions];
        for (i, row) in out.chunks_exact_mut(n_actions).enumerate() {
            let e = eligible.map_or(&all, |e| e.row(i));
            let (m, s) = (
                &means[i * n_actions..(i + 1) * n_actions],
                &sds[i * n_actions..(i + 1) * n_actions],
            );
            let p = sampling_probabilities(&self.rng, &x[i * w..(i + 1) * w], m, s, e);
            row.copy_from_slice(&p);
        }
        Ok(out)
    }

    /// The k best actions of each decision by score, best first (n x k).
    pub fn top_k(
        &self,
        x: &[f64],
        n: usize,
        n_actions: usize,
        k: usize,
        eligible: Option<&EligibleRows>,
    ) -> Result<Vec<usize>> {
        check_decisions("X", x, n, n_actions, self.dim)?;
        let all = EligibleRows::Shared(Eligible::all(n_actions));
        let e = eligible.unwrap_or(&all);
        e.check(n, n_actions)?;
        check_top_k(k, n, n_actions, e)?;
        let s = self.per_action(x, |m, w| self.rule.score(m, w));
        Ok(top_k_rows_eligible(&s, n_actions, k, e))
    }

    /// Validates a batch of played rows (n x dim), their rewards and weights.
    fn check_rows(&self, x: &[f64], rewards: &[f64], weights: Option<&[f64]>) -> Result<usize> {
        let n = rewards.len();
        if x.len() != n.saturating_mul(self.dim) || weights.is_some_and(|w| w.len() != n) {
            return Err(Error::shape(
                "X/rewards/weights",
                format!(
                    "expected ({n}, {}) rows for the {n} rewards (and {n} weights), got {} \
                     values and {} weights",
                    self.dim,
                    x.len(),
                    weights.map_or(n, |w| w.len())
                ),
            ));
        }
        check_contexts("X", x, self.dim)?;
        if let Some(i) = rewards
            .iter()
            .position(|r| !(-REWARD_LIMIT..=REWARD_LIMIT).contains(r))
        {
            return Err(Error::InvalidReward {
                argument: "rewards".into(),
                value: rewards[i],
                position: Some(i),
                expected: "a number in [-1e100, 1e100]".into(),
            });
        }
        if let Some(w) = weights {
            if let Some(i) = w.iter().position(|w| !(0.0..=WEIGHT_LIMIT).contains(w)) {
                return Err(Error::param(
                    "weights",
                    format!(
                        "entry {i} is {}; importance weights must be in [0, 1e30]",
                        crate::error::show(w[i])
                    ),
                ));
            }
        }
        check_room(self.n_updates, n as u64)?;
        Ok(n)
    }

    /// Adds one validated row without refreshing theta.
    fn add(&mut self, x: &[f64], reward: f64, weight: f64) {
        if weight > 0.0 {
            self.ridge.add_row(x, weight, self.lam, self.robust);
            let wr = weight * reward;
            for (b, v) in self.b.iter_mut().zip(x) {
                *b += wr * v;
            }
        }
    }

    fn refresh_theta(&mut self) {
        let c = self.regularizer();
        self.ridge.solve(&self.b, c, &mut self.theta);
    }

    /// Records the reward of the played action, whose features are `x` (dim values).
    pub fn update(&mut self, x: &[f64], reward: f64, weight: f64) -> Result<()> {
        if x.len() != self.dim {
            return Err(Error::shape(
                "x",
                format!(
                    "expected the played action's {} features, got {}",
                    self.dim,
                    x.len()
                ),
            ));
        }
        check_contexts("x", x, self.dim)?;
        if !(-REWARD_LIMIT..=REWARD_LIMIT).contains(&reward) {
            return Err(Error::InvalidReward {
                argument: "reward".into(),
                value: reward,
                position: None,
                expected: "a number in [-1e100, 1e100]".into(),
            });
        }
        if !(0.0..=WEIGHT_LIMIT).contains(&weight) {
            return Err(Error::param(
                "weight",
                format!("got {}; must be in [0, 1e30]", crate::error::show(weight)),
            ));
        }
        check_room(self.n_updates, 1)?;
        self.add(x, reward, weight);
        self.refresh_theta();
        self.n_updates += 1;
        Ok(())
    }

    /// Records n played rows (validated first: a refused batch changes nothing), in order:
    /// b accumulated in one pass, the rows scaled by sqrt(w) fed to the sketch in blocks
    /// ([`FrequentDirections::extend`], shrinking whenever the buffer fills), then H and
    /// theta recomputed once. The same sketch as the loop of single updates (the shrinks see
    /// the same rows), H and theta equal up to rounding.
    pub fn update_batch(
        &mut self,
        x: &[f64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let n = self.check_rows(x, rewards, weights)?;
        let d = self.dim;
        // Blocks of scaled rows: bounded scratch for any batch.
        const BLOCK: usize = 256;
        let mut rows = Vec::with_capacity(BLOCK.min(n) * d);
        let mut added = false;
        for lo in (0..n).step_by(BLOCK) {
            rows.clear();
            for i in lo..(lo + BLOCK).min(n) {
                let w = weights.map_or(1.0, |w| w[i]);
                if w > 0.0 {
                    let xi = &x[i * d..(i + 1) * d];
                    let wr = w * rewards[i];
                    for (b, v) in self.b.iter_mut().zip(xi) {
                        *b += wr * v;
                    }
                    let sw = w.sqrt();
                    rows.extend(xi.iter().map(|v| sw * v));
                }
            }
            added |= !rows.is_empty();
            self.ridge.fd.extend(&rows);
        }
        if added {
            self.ridge.refresh_h(self.lam, self.robust);
        }
        self.refresh_theta();
        self.n_updates += n as u64;
        Ok(())
    }

    /// Adds another replica's data. Frequent Directions sketches merge by stacking and
    /// shrinking (Ghashami et al. 2016, Section 3): the rows of both sketches are fed to a
    /// fresh sketch whose shrinkage starts at the sum of the two, so S^T S stays within the
    /// FD bound of the combined rows (0 <= X^T X - S^T S <= Delta I, Delta the total
    /// shrinkage). When sketch_size >= dim nothing is dropped and the result equals one
    /// policy fitted on both data sets (up to rounding); b adds exactly either way.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if other.dim != self.dim {
            return Err(Error::incompatible(format!(
                "other: cannot merge a {} with dim={} into one with dim={}",
                R::KIND,
                other.dim,
                self.dim
            )));
        }
        if other.sketch_size != self.sketch_size
            || other.robust != self.robust
            || other.lam != self.lam
            || other.rule != self.rule
        {
            return Err(crate::error::hyperparameter_mismatch(
                R::KIND,
                &self.describe_params(),
                &other.describe_params(),
            ));
        }
        let n = crate::error::checked_count(self.n_updates, other.n_updates, "update count")?;
        let mut ridge = SharedRidge::new(self.dim, self.sketch_size)?;
        ridge.fd.shrinkage = self.ridge.fd.shrinkage + other.ridge.fd.shrinkage;
        for src in [&self.ridge.fd, &other.ridge.fd] {
            ridge.fd.extend(&src.rows[..src.filled * src.dim]);
        }
        ridge.refresh_h(self.lam, self.robust);
        self.ridge = ridge;
        for (b, o) in self.b.iter_mut().zip(&other.b) {
            *b += o;
        }
        self.refresh_theta();
        self.n_updates = n;
        Ok(())
    }
}

impl<R: SharedSketchRule> Persist for SharedSketch<R> {
    const KIND: &'static str = R::KIND;
    fn check_invariants(&self) -> Result<()> {
        let d = self.dim;
        let ok = d > 0
            && self.sketch_size > 0
            && (LAM_RANGE.0..=LAM_RANGE.1).contains(&self.lam)
            && self.rng.is_valid()
            && self.rule.check().is_ok()
            && self.ridge.check(d, self.sketch_size)
            && self.b.len() == d
            && self.theta.len() == d
            && self.b.iter().chain(&self.theta).all(|v| v.is_finite());
        if ok {
            Ok(())
        } else {
            Err(Error::state(format!(
                "{} state is inconsistent (sizes, finiteness or parameters)",
                R::KIND
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n decisions of k actions (n x k x d) and rewards from a linear model.
    fn problem(n: usize, k: usize, d: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * k * d).map(|_| rng.uniform() - 0.5).collect();
        let theta: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
        let r = x.chunks(d).map(|a| linalg::dot(a, &theta)).collect();
        (x, r)
    }

    /// Exact OFUL: A = lam I + sum w x x^T, b = sum w r x.
    struct Exact {
        a: Vec<f64>,
        b: Vec<f64>,
        d: usize,
    }

    impl Exact {
        fn new(d: usize, lam: f64) -> Self {
            let mut a = vec![0.0; d * d];
            for i in 0..d {
                a[i * d + i] = lam;
            }
            Exact {
                a,
                b: vec![0.0; d],
                d,
            }
        }
        fn add(&mut self, x: &[f64], r: f64, w: f64) {
            linalg::add_sym_outer(&mut self.a, x, w);
            for (b, v) in self.b.iter_mut().zip(x) {
                *b += w * r * v;
            }
        }
        fn mean_width(&self, x: &[f64]) -> (f64, f64) {
            let inv = linalg::spd_inverse(&self.a, self.d).unwrap();
            let mut theta = vec![0.0; self.d];
            linalg::matvec(&inv, &self.b, &mut theta);
            let mut s = vec![0.0; self.d];
            (
                linalg::dot(x, &theta),
                linalg::quad_form(&inv, x, &mut s).sqrt(),
            )
        }
    }

    #[test]
    fn equals_exact_oful_when_the_sketch_holds_every_dimension() {
        let (d, k, n) = (5, 4, 150);
        let (x, r) = problem(n, k, d, 1);
        for (m, robust) in [(5, false), (8, false), (5, true)] {
            let mut p = SharedSketchLinUCB::new(d, m, robust, 0.7, 0.5, Some(2)).unwrap();
            let mut e = Exact::new(d, 0.5);
            let mut rng = Rng::seed_from_u64(2);
            for i in 0..n {
                let xi = &x[i * k * d..(i + 1) * k * d];
                // The exact rule's decision, ties broken by the same generator.
                let mut best = RandomTieArgmax::new();
                for a in 0..k {
                    let (mean, width) = e.mean_width(&xi[a * d..(a + 1) * d]);
                    best.push(a, mean + 0.7 * width, &mut rng);
                }
                let want = best.finish();
                let got = p.select(xi, k, None).unwrap();
                assert_eq!(got, want, "decision {i}");
                let row = &xi[got * d..(got + 1) * d];
                let w = 0.5 + (i % 3) as f64;
                p.update(row, r[i * k + got], w).unwrap();
                e.add(row, r[i * k + got], w);
            }
            // Shrinks happened (2m < 150 rows) and lost nothing.
            assert!(p.sketch().shrinkage < 1e-9);
            let (means, widths) = (p.mean(&x, n, k).unwrap(), p.width(&x, n, k).unwrap());
            for (j, a) in x.chunks(d).enumerate() {
                let (mean, width) = e.mean_width(a);
                assert!((means[j] - mean).abs() < 1e-8, "{} {mean}", means[j]);
                assert!((widths[j] - width).abs() < 1e-8, "{} {width}", widths[j]);
            }
        }
    }

    #[test]
    fn thompson_sampling_draws_as_its_exact_formula() {
        let (d, k, n) = (4, 5, 120);
        let (x, r) = problem(n, k, d, 3);
        let mut p = SharedSketchLinTS::new(d, d, false, 0.6, 1.0, Some(9)).unwrap();
        let mut e = Exact::new(d, 1.0);
        let mut rng = Rng::seed_from_u64(9);
        for i in 0..n {
            let xi = &x[i * k * d..(i + 1) * k * d];
            let mut best = RandomTieArgmax::new();
            for a in 0..k {
                let (mean, width) = e.mean_width(&xi[a * d..(a + 1) * d]);
                let z = normal_rand_distr_05(&mut rng);
                best.push(a, mean + 0.6 * width * z, &mut rng);
            }
            let want = best.finish();
            assert_eq!(p.select(xi, k, None).unwrap(), want, "decision {i}");
            let row = &xi[want * d..(want + 1) * d];
            p.update(row, r[i * k + want], 1.0).unwrap();
            e.add(row, r[i * k + want], 1.0);
        }
        // A wrong v would draw other decisions: the sampling is really used.
        let mut q = p.clone();
        q.rule.v = 3.0;
        let picks = |mut p: SharedSketchLinTS| -> Vec<usize> {
            (0..n)
                .map(|i| p.select(&x[i * k * d..(i + 1) * k * d], k, None).unwrap())
                .collect()
        };
        assert_ne!(picks(q), picks(p.clone()));
    }

    #[test]
    fn a_small_sketch_stays_within_the_frequent_directions_bound_and_merges() {
        let (d, k, n, m) = (12, 3, 200, 3);
        let (x, r) = problem(n, k, d, 5);
        let rows: Vec<&[f64]> = (0..n).map(|i| &x[i * k * d..i * k * d + d]).collect();
        let mut p = SharedSketchLinUCB::new(d, m, false, 1.0, 1.0, Some(1)).unwrap();
        let mut q = p.clone();
        let mut gram = vec![0.0; d * d];
        for (i, row) in rows.iter().enumerate() {
            if i < 120 {
                p.update(row, r[i], 1.0).unwrap();
            } else {
                q.update(row, r[i], 1.0).unwrap();
            }
            linalg::add_sym_outer(&mut gram, row, 1.0);
        }
        p.merge(&q).unwrap();
        assert_eq!(p.n_updates(), n as u64);
        let fd = p.sketch();
        assert!(fd.shrinkage > q.sketch().shrinkage);
        let diff: Vec<f64> = gram.iter().zip(fd.gram()).map(|(a, b)| a - b).collect();
        let (err, _) = super::super::sketch::sym_eigen(&diff, d);
        assert!(err[d - 1] >= -1e-9, "{err:?}");
        assert!(
            err[0] <= fd.shrinkage * (1.0 + 1e-9),
            "{} {}",
            err[0],
            fd.shrinkage
        );
        // Mismatched hyperparameters are refused and change nothing.
        let before = p.clone();
        let other = SharedSketchLinUCB::new(d, m + 1, false, 1.0, 1.0, Some(1)).unwrap();
        assert!(p
            .merge(&other)
            .unwrap_err()
            .to_string()
            .contains("sketch_size"));
        assert_eq!(p, before);
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn batch_fit_and_block_scoring_equal_the_row_by_row_paths() {
        // 400 rows through a sketch of 2 m = 12 rows: many shrinks, zero weights skipped;
        // 300 decisions of 5 actions: 1500 action rows, several parallel blocks.
        let (d, k, n, m) = (24, 5, 400, 6);
        let (x, r) = problem(n, k, d, 11);
        let rows: Vec<f64> = (0..n)
            .flat_map(|i| x[i * k * d..i * k * d + d].to_vec())
            .collect();
        let rewards: Vec<f64> = (0..n).map(|i| r[i * k]).collect();
        let weights: Vec<f64> = (0..n).map(|i| [0.5, 0.0, 2.0, 1.0][i % 4]).collect();
        for robust in [false, true] {
            let mut one = SharedSketchLinUCB::new(d, m, robust, 0.8, 0.7, Some(4)).unwrap();
            let mut batch = one.clone();
            for i in 0..n {
                one.update(&rows[i * d..(i + 1) * d], rewards[i], weights[i])
                    .unwrap();
            }
            batch.update_batch(&rows, &rewards, Some(&weights)).unwrap();
            assert_eq!(batch.n_updates(), one.n_updates());
            // The same sketch (the shrinks saw the same rows), b to rounding, H and theta to
            // rounding.
            assert_eq!(batch.ridge.fd, one.ridge.fd);
            assert!(one.sketch().shrinkage > 0.0);
            for (a, b) in batch.b.iter().zip(&one.b) {
                assert!(close(*a, *b, 1e-12), "{a} {b}");
            }
            for (a, b) in batch.ridge.h.iter().zip(&one.ridge.h) {
                assert!(close(*a, *b, 1e-9), "{a} {b}");
            }
            for (a, b) in batch.theta.iter().zip(&one.theta) {
                assert!(close(*a, *b, 1e-10), "{a} {b}");
            }
            // Block scoring against the per-row mean_width.
            let nd = 300;
            let xs = &x[..nd * k * d];
            let c = one.regularizer();
            let (means, widths) = (one.mean(xs, nd, k).unwrap(), one.width(xs, nd, k).unwrap());
            let scores = one.scores(xs, nd, k, None).unwrap();
            for (j, a) in xs.chunks(d).enumerate() {
                let (mean, width) = one.mean_width(a, c);
                assert!(close(means[j], mean, 1e-10), "{} {mean}", means[j]);
                assert!(close(widths[j], width, 1e-10), "{} {width}", widths[j]);
                assert!(close(scores[j], mean + 0.8 * width, 1e-10));
            }
            // A wrong width would be seen.
            assert!(widths.iter().any(|w| *w > 1e-3));
        }
        // select_batch draws the decisions and the generator of the loop of selects, for both
        // rules, with and without eligible rows.
        let nd = 300;
        let xs = &x[..nd * k * d];
        let masks: Vec<Eligible> = (0..nd)
            .map(|i| {
                Eligible::from_mask(&(0..k).map(|a| (a + i) % 3 != 0).collect::<Vec<_>>(), k)
                    .unwrap()
            })
            .collect();
        let rows_e = EligibleRows::PerRow(masks.clone());
        fn check<R: SharedSketchRule>(
            p: &SharedSketch<R>,
            xs: &[f64],
            nd: usize,
            k: usize,
            masks: &[Eligible],
            rows_e: &EligibleRows,
        ) {
            let w = k * p.dim();
            for eligible in [false, true] {
                let (mut one, mut batch) = (p.clone(), p.clone());
                let e = eligible.then_some(rows_e);
                let got = batch.select_batch(xs, nd, k, e).unwrap();
                let want: Vec<usize> = (0..nd)
                    .map(|i| {
                        let m = eligible.then(|| &masks[i]);
                        one.select(&xs[i * w..(i + 1) * w], k, m).unwrap()
                    })
                    .collect();
                assert_eq!(got, want);
                assert_eq!(batch.rng, one.rng);
                assert_eq!(batch, one);
            }
        }
        let mut ucb = SharedSketchLinUCB::new(d, m, false, 0.8, 0.7, Some(4)).unwrap();
        let mut ts = SharedSketchLinTS::new(d, m, true, 0.5, 0.7, Some(5)).unwrap();
        ucb.update_batch(&rows, &rewards, None).unwrap();
        ts.update_batch(&rows, &rewards, Some(&weights)).unwrap();
        check(&ucb, xs, nd, k, &masks, &rows_e);
        check(&ts, xs, nd, k, &masks, &rows_e);
        // The sampling rule really draws: the decisions differ from the posterior means'.
        let greedy: Vec<usize> = ts
            .scores(xs, nd, k, None)
            .unwrap()
            .chunks(k)
            .map(|s| (0..k).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap())
            .collect();
        assert_ne!(ts.clone().select_batch(xs, nd, k, None).unwrap(), greedy);
    }

    #[test]
    fn bad_input_and_sizes_are_refused() {
        let mut p = SharedSketchLinUCB::new(3, 2, false, 1.0, 1.0, Some(0)).unwrap();
        assert!(p.select(&[0.0; 5], 2, None).is_err());
        assert!(p.select(&[], 0, None).is_err());
        assert!(p.select(&[f64::NAN, 0.0, 0.0], 1, None).is_err());
        assert!(p.update(&[1.0, 2.0], 1.0, 1.0).is_err());
        assert!(p.update(&[1.0, 2.0, 3.0], f64::NAN, 1.0).is_err());
        assert!(p.update(&[1.0, 2.0, 3.0], 1.0, -1.0).is_err());
        assert!(p
            .update_batch(&[1.0; 6], &[1.0, f64::INFINITY], None)
            .is_err());
        assert_eq!(p.n_updates(), 0);
        for (d, m) in [(1, usize::MAX), (usize::MAX, 1), (1 << 20, 1 << 10)] {
            let err = SharedSketchLinUCB::new(d, m, false, 1.0, 1.0, None).unwrap_err();
            assert!(err.to_string().contains("sketch_size"), "{err}");
        }
        let err = SharedSketchLinTS::new(3, 2, false, -1.0, 1.0, None).unwrap_err();
        assert!(err.to_string().contains('v'), "{err}");
        let bytes = crate::state::encode(&p).unwrap();
        let back: SharedSketchLinUCB = crate::state::decode(&bytes).unwrap();
        assert_eq!(back, p);
        assert!(crate::state::decode::<SharedSketchLinTS>(&bytes).is_err());
    }
}
