//! Contextual bandits on per-arm ridge-regression models ("disjoint" linear models):
//! LinUCB, linear Thompson sampling and linear epsilon-greedy share the [`RidgeModel`]
//! state (`ridge.rs`) and the [`ContextualPolicy`] vocabulary defined here, with its batch
//! scoring engine; `batch.rs` holds the batch fit, `forgetting.rs` the discounted sums of
//! `decay=` (D-LinUCB), `select.rs` the top-k and sampling helpers, `tests.rs` the engine's
//! tests.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::linalg;
use crate::rng::Rng;
use crate::state::Persist;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod batch;
pub mod diagonal;
pub mod forgetting;
pub mod gibbs;
pub mod hybrid;
pub mod linear;
pub mod logistic;
pub mod registry;
mod ridge;
mod select;
pub mod sketch;
mod wide;
pub(crate) use batch::PrivateBatch;
pub use diagonal::DiagonalLinUCB;
pub use forgetting::{check_decay, Forgetting};
pub use gibbs::{GibbsGreedy, GibbsWidth, KLRegularizedUCB};
pub use hybrid::{HybridContext, HybridLinUCB};
pub use linear::{LinGreedy, LinTS, LinUCB, Precision};
pub use logistic::{LogisticTS, LogisticUCB};
pub use registry::AnyContextual;
pub use ridge::{sigmoid, Link, RidgeModel, RidgeSums, INVERSE_LIMIT, REFACTOR_EVERY, THETA_LIMIT};
use select::rename_single;
pub(crate) use select::{
    check_top_k, pick, sampling_probabilities, top_k_rows, top_k_rows_eligible,
};
pub use sketch::{FrequentDirections, SketchedLinTS, SketchedLinUCB};
pub use sketch_shared::{SharedSketchLinTS, SharedSketchLinUCB};

/// One parameter vector over arm features on one Frequent Directions sketch (issue 20).
pub mod sketch_shared;

/// The largest context entry magnitude accepted. With weights up to [`WEIGHT_LIMIT`],
/// rewards up to `policy::REWARD_LIMIT` and the ridge parameter in [`LAM_RANGE`], every
/// Gram entry stays below 2^64 * 1e30 * 1e60 ~ 2e109 and b below 2e179 for any number of
/// updates, and A^{-1} below 1 / lam: a state always encodes, decodes and continues.
pub const CONTEXT_LIMIT: f64 = 1e30;
/// The largest importance weight accepted (see [`CONTEXT_LIMIT`]).
pub const WEIGHT_LIMIT: f64 = 1e30;
/// The accepted range of the ridge parameter lam (see [`CONTEXT_LIMIT`]).
pub const LAM_RANGE: (f64, f64) = (1e-30, 1e30);

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
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if !(LAM_RANGE.0..=LAM_RANGE.1).contains(&lam) {
            return Err(Error::param_got(
                "lam",
                "must be a number in [1e-30, 1e30]",
                lam,
            ));
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
            a.check(self.dim, self.lam)?;
        }
        if self.arms.iter().map(|a| a.n).sum::<u64>() != self.t {
            return Err(Error::state("step counter disagrees with the arm counts"));
        }
        Ok(())
    }
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
        .position(|c| !linalg::all_within(c, CONTEXT_LIMIT));
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
    /// The forgetting state of a policy created with `decay` (see `forgetting.rs`); None for
    /// the others, whose updates are the plain ridge regression.
    fn forgetting(&self) -> Option<&Forgetting> {
        None
    }
    /// The model and the forgetting state, borrowed together (None without `decay`).
    fn forgetting_mut(&mut self) -> Option<(&mut LinearBase, &mut Forgetting)> {
        None
    }
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
    /// True for the exact disjoint rules whose decision and probabilities are functions of
    /// every arm's (mean, width) alone (LinUCB, LinTS): from
    /// [`linalg::UPPER_TRIANGLE_FROM`] on (or under `precision="float32"`), their batch
    /// decisions and probabilities take these from the batch engine's matrix products
    /// ([`ContextualPolicy::decide_from_moments`],
    /// [`ContextualPolicy::probability_from_moments`]) instead of a pass over every
    /// inverse per row.
    fn moments_rule(&self) -> bool {
        false
    }
    /// One decision from a row's means and widths (per arm), drawing from the generator as
    /// `decide` does (only called when `moments_rule`).
    fn decide_from_moments(&mut self, _means: &[f64], _widths: &[f64]) -> usize {
        unreachable!("only called when moments_rule")
    }
    /// A row's selection probabilities from its means and widths, as `probability_row`
    /// (only called when `moments_rule`).
    fn probability_from_moments(
        &self,
        _x: &[f64],
        _means: &[f64],
        _widths: &[f64],
        _out: &mut [f64],
    ) {
        unreachable!("only called when moments_rule")
    }
    /// Whether batch decisions and probabilities run on the batch engine's moments.
    /// Not for decayed models, whose stored inverses stay at the prior (forgetting.rs).
    fn moments_batches(&self) -> bool {
        self.moments_rule()
            && self.forgetting().is_none()
            && (self.dim() >= linalg::UPPER_TRIANGLE_FROM
                || self.base().arms.first().is_some_and(|m| m.has_f32_copy()))
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

    /// For Thompson-sampling rules, whose sampled score of arm a is mean_a + sd_a z_a with
    /// independent standard normals z_a: writes every arm's (mean_a, sd_a) for one
    /// validated context and returns true. Other rules return false.
    fn sampling_moments(
        &self,
        _x: &[f64],
        _means: &mut [f64],
        _sds: &mut [f64],
        _scratch: &mut [f64],
    ) -> bool {
        false
    }

    /// One decision among the `eligible` arms for a validated context (and, for
    /// KL-regularized rules, the row's log pi_ref). Written once for the three kinds of
    /// rule: index rules (`deterministic`) take the argmax of `score_row` over the eligible
    /// arms, ties at random; sampling rules draw each eligible arm's score and take the
    /// argmax; others draw from `probability_row_among`.
    fn decide_among(&mut self, x: &[f64], log_ref: Option<&[f64]>, eligible: &Eligible) -> usize {
        let k = self.n_arms();
        let mut scratch = vec![0.0; self.dim()];
        let (mut a, mut b) = (vec![0.0; k], vec![0.0; k]);
        let mut rng = self.base().rng.clone();
        let i = if self.deterministic() {
            self.score_row(x, &mut a, &mut scratch);
            eligible.argmax(a.iter().copied(), &mut rng)
        } else if self.sampling_moments(x, &mut a, &mut b, &mut scratch) {
            let mut argmax = crate::stats::RandomTieArgmax::new();
            for i in eligible.indices() {
                let z = crate::sample::normal_rand_distr_05(&mut rng);
                argmax.push(i, a[i] + b[i] * z, &mut rng);
            }
            argmax.finish()
        } else {
            self.probability_row_among(x, log_ref, eligible, &mut a, &mut scratch);
            crate::stats::sample_discrete(&a, &mut rng)
        };
        self.base_mut().rng = rng;
        i
    }

    /// The distribution `decide_among` draws from, into `out` (0 for ineligible arms).
    /// Index rules: uniform over the eligible maximizers; sampling rules: a Monte Carlo
    /// estimate over the eligible arms as `probability_row`'s; other rules: their
    /// distribution renormalized over the eligible arms, exact for rules whose odds between
    /// two arms do not depend on the other arms (override otherwise).
    fn probability_row_among(
        &self,
        x: &[f64],
        log_ref: Option<&[f64]>,
        eligible: &Eligible,
        out: &mut [f64],
        scratch: &mut [f64],
    ) {
        let k = out.len();
        let p = if self.deterministic() {
            self.score_row(x, out, scratch);
            eligible.argmax_distribution(out)
        } else {
            let (mut means, mut sds) = (vec![0.0; k], vec![0.0; k]);
            if self.sampling_moments(x, &mut means, &mut sds, scratch) {
                sampling_probabilities(&self.base().rng, x, &means, &sds, eligible)
            } else {
                match log_ref {
                    None => self.probability_row(x, out, scratch),
                    Some(l) => self.probability_row_ref(x, l, out, scratch),
                }
                eligible.renormalize(out)
            }
        };
        out.copy_from_slice(&p);
    }

    // ---- provided ----

    /// `select_ref` restricted to the eligible arms.
    fn select_eligible(
        &mut self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &Eligible,
    ) -> Result<usize> {
        if x.len() != self.dim() {
            return Err(Error::shape(
                "x",
                format!("expected {} features, got {}", self.dim(), x.len()),
            ));
        }
        check_contexts("x", x, self.dim())?;
        eligible.check_arms(self.n_arms())?;
        let log_ref = pi_ref.map(|p| self.log_reference(p, 1)).transpose()?;
        Ok(self.decide_among(x, log_ref.as_deref(), eligible))
    }

    /// `select_batch_ref` restricted to the eligible arms of each row (all validated first).
    fn select_batch_eligible(
        &mut self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        let n = check_contexts("X", x, self.dim())?;
        let (d, k) = (self.dim(), self.n_arms());
        eligible.check(n, k)?;
        let log_ref = pi_ref.map(|p| self.log_reference(p, n)).transpose()?;
        Ok((0..n)
            .map(|i| {
                let l = log_ref.as_ref().map(|l| &l[i * k..(i + 1) * k]);
                self.decide_among(&x[i * d..(i + 1) * d], l, eligible.row(i))
            })
            .collect())
    }

    /// `scores_batch` with -inf for each row's ineligible arms.
    fn scores_batch_eligible(&self, x: &[f64], eligible: &EligibleRows) -> Result<Vec<f64>> {
        let n = check_contexts("X", x, self.dim())?;
        let k = self.n_arms();
        eligible.check(n, k)?;
        let mut s = self.scores_batch(x)?;
        for (i, row) in s.chunks_exact_mut(k).enumerate() {
            eligible.row(i).mask_scores(row);
        }
        Ok(s)
    }

    /// `probabilities_batch_ref` of the restricted decisions: each row is the law of
    /// `select(eligible=...)` for that row.
    fn probabilities_batch_eligible(
        &self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &EligibleRows,
    ) -> Result<Vec<f64>> {
        let n = check_contexts("X", x, self.dim())?;
        let (d, k) = (self.dim(), self.n_arms());
        crate::limits::check_alloc("X", &[n, k], 16)?;
        eligible.check(n, k)?;
        let log_ref = pi_ref.map(|p| self.log_reference(p, n)).transpose()?;
        let mut out = vec![0.0; n * k];
        let mut scratch = vec![0.0; d];
        for (i, row) in out.chunks_exact_mut(k).enumerate() {
            let l = log_ref.as_ref().map(|l| &l[i * k..(i + 1) * k]);
            self.probability_row_among(
                &x[i * d..(i + 1) * d],
                l,
                eligible.row(i),
                row,
                &mut scratch,
            );
        }
        Ok(out)
    }

    /// `top_k` among each row's eligible arms; `k` may not exceed any row's eligible count.
    fn top_k_eligible(&self, x: &[f64], k: usize, eligible: &EligibleRows) -> Result<Vec<usize>> {
        let n = check_contexts("X", x, self.dim())?;
        let n_arms = self.n_arms();
        eligible.check(n, n_arms)?;
        check_top_k(k, n, n_arms, eligible)?;
        Ok(top_k_rows_eligible(
            &self.scores_batch(x)?,
            n_arms,
            k,
            eligible,
        ))
    }

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
            None if self.moments_batches() => {
                let (means, widths) = self.mean_width_batch(x, true)?;
                Ok((0..n)
                    .map(|i| {
                        let r = i * k..(i + 1) * k;
                        self.decide_from_moments(&means[r.clone()], &widths[r])
                    })
                    .collect())
            }
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
        if let Some((b, f)) = self.forgetting_mut() {
            crate::policy::check_room(f.rounds, 1)?;
            f.update(b, arm as usize, x, reward, weight);
            return Ok(());
        }
        let b = self.base_mut();
        let link = b.link;
        with_buffer(b.dim, |scratch| {
            b.arms[arm as usize].update(x, reward, weight, scratch, link)
        })?;
        b.t += 1;
        Ok(())
    }

    /// Records a batch: every row, or none when any is refused (the error then names the
    /// first bad value as [`ContextualPolicy::check_update`] does). Ridge models fit each
    /// arm's rows at once (Gram accumulation and one refactorization per arm, arms in
    /// parallel), equal to the loop of single updates up to rounding.
    ///
    /// The slices may be borrowed from buffers another thread writes meanwhile (numpy
    /// arrays read with Python's GIL released): every value is read once, into a local or a
    /// private buffer, and checked and recorded from there, so such a writer can change
    /// which values are recorded but cannot get one past the checks. The ridge fit checks
    /// each row as it adds it, into sums saved beforehand and restored if any row is
    /// refused; other models fit from private copies ([`PrivateBatch`]).
    fn update_batch(
        &mut self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let d = self.dim();
        let n = x.len() / d;
        // Sizes first, reading no values.
        let sized = x.len() % d == 0
            && arms.len() == n
            && rewards.len() == n
            && weights.is_none_or(|w| w.len() == n);
        if !sized {
            return Err(self.refusal(x, arms, rewards, weights, None));
        }
        if let Err(e) = crate::policy::check_room(self.n_updates(), n as u64) {
            return Err(self.refusal(x, arms, rewards, weights, Some(e)));
        }
        if let Some(rounds) = self.forgetting().map(|f| f.rounds) {
            // Discounted sums depend on the order of the rows: one round per row, from a
            // private copy validated whole before anything changes.
            crate::policy::check_room(rounds, n as u64)?;
            let batch = PrivateBatch::copy(x, arms, rewards, weights)?;
            self.check_update(&batch.x, &batch.arms, &batch.rewards, batch.weights())?;
            let rows: Vec<(usize, &[f64], f64, f64)> = (0..n)
                .map(|i| {
                    (
                        batch.arms[i] as usize,
                        &batch.x[i * d..(i + 1) * d],
                        batch.rewards[i],
                        batch.weights().map_or(1.0, |w| w[i]),
                    )
                })
                .collect();
            if let Some((b, f)) = self.forgetting_mut() {
                f.update_rows(b, &rows);
            }
            return Ok(());
        }
        if self.base().link == Link::Logistic || n > u32::MAX as usize {
            let batch = PrivateBatch::copy(x, arms, rewards, weights)?;
            self.check_update(&batch.x, &batch.arms, &batch.rewards, batch.weights())?;
            return self.base_mut().fit_rows_in_order(&batch);
        }
        if self.base_mut().fit_ridge_rows(x, arms, rewards, weights) {
            Ok(())
        } else {
            Err(self.refusal(x, arms, rewards, weights, None))
        }
    }

    /// The error of a refused batch: the first bad value as [`ContextualPolicy::check_update`]
    /// finds it, else `fallback`, else (the values changed since they were read) a race.
    fn refusal(
        &self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
        fallback: Option<Error>,
    ) -> Error {
        match self.check_update(x, arms, rewards, weights) {
            Err(e) => e,
            Ok(_) => fallback.unwrap_or_else(|| {
                Error::param(
                    "X/arms/rewards/weights",
                    "a value was out of range when read, and another thread has changed it since; nothing was recorded",
                )
            }),
        }
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
        let (forgetting, lam) = (self.forgetting(), self.base().lam);
        // The product kernel reads each arm's stored inverse, which decayed models keep at
        // the prior (forgetting.rs): they take the path below, whatever d.
        if forgetting.is_none()
            && (d >= wide::GEMM_SCORING_FROM || arms.first().is_some_and(|m| m.has_f32_copy()))
        {
            return self.for_each_row_block_wide(x, (ca, cw, transform), out, per_row, f);
        }
        // Decayed models (forgetting.rs): with more rows than about 2 d, each arm's theta and
        // width matrix at the current round are built once (O(K d^3)) for the kernel below;
        // with fewer, each row is scored as a decision is (O(K d^2) per row).
        let built = forgetting
            .filter(|_| x.len() / d.max(1) > 2 * d)
            .map(|f| f.current_models(self.base()));
        let forgetting = forgetting.filter(|_| built.is_none());
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
                            if let Some(f) = forgetting {
                                // A few rows of decayed models: the decisions' own values.
                                for r in 0..rows {
                                    let xr = &x[(r0 + r) * d..(r0 + r + 1) * d];
                                    let v = f.value(arms, lam, a, xr, ca, cw);
                                    sb[a * rp + r] = if transform {
                                        self.transform_score(v)
                                    } else {
                                        v
                                    };
                                }
                                continue;
                            }
                            let (inv, theta) = match &built {
                                Some(b) => (&b[a].0, &b[a].1),
                                None => (&m.a_inv, &m.theta),
                            };
                            for g in 0..groups {
                                let xg = &xt[g * d * G..(g + 1) * d * G];
                                let dst = &mut sb[a * rp + g * G..a * rp + (g + 1) * G];
                                linalg::group_values(inv, theta, xg, d, ca, cw, dst);
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

    /// [`ContextualPolicy::for_each_row_block`] from [`wide::GEMM_SCORING_FROM`] on:
    /// blocks of [`wide::SCORE_BLOCK`] rows, copied once into a private buffer, and for
    /// each arm one matrix product W = X_blk U (U the upper triangle of its inverse, read
    /// once per block) whose row-wise dots with X_blk give the quadratic forms
    /// ([`wide::block_values`]): a GEMM instead of a matrix-vector product per (row, arm).
    /// The buffer handed to `f` has the same layout (rp = rows rounded up to a group).
    /// Under `precision="float32"` (at any d) the products read each arm's float32 copy,
    /// widened once per block, as the policy's single decisions do.
    fn for_each_row_block_wide<T: Send>(
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
        let block = wide::SCORE_BLOCK;
        crate::parallel::install(|| {
            out.par_chunks_mut(block * per_row)
                .enumerate()
                .for_each_init(
                    || (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
                    |(xb, w, sb, wide_inv): &mut (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>),
                     (bi, chunk)| {
                        let r0 = bi * block;
                        let rows = chunk.len() / per_row;
                        let rp = rows.div_ceil(G) * G;
                        xb.clear();
                        xb.extend_from_slice(&x[r0 * d..(r0 + rows) * d]);
                        sb.clear();
                        sb.resize(k * rp, 0.0);
                        for (a, m) in arms.iter().enumerate() {
                            let dst = &mut sb[a * rp..a * rp + rows];
                            let inv = match m.f32_copy() {
                                Some(p) if cw != 0.0 => {
                                    wide::unpack_upper_f32(p, d, wide_inv);
                                    &wide_inv[..]
                                }
                                _ => &m.a_inv[..],
                            };
                            wide::block_values(inv, &m.theta, xb, rows, d, (ca, cw), w, dst);
                            if transform {
                                for v in dst.iter_mut() {
                                    *v = self.transform_score(*v);
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
        if log_ref.is_none() && self.moments_batches() {
            let (mut out, widths) = self.mean_width_batch(x, true)?;
            crate::parallel::install(|| {
                out.par_chunks_mut(k).enumerate().for_each_init(
                    || vec![0.0; k],
                    |means, (i, row)| {
                        means.copy_from_slice(row);
                        let (xi, wi) = (&x[i * d..(i + 1) * d], &widths[i * k..(i + 1) * k]);
                        self.probability_from_moments(xi, means, wi, row);
                    },
                )
            });
            return Ok(out);
        }
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

    /// Every arm's coefficients theta_a, (K x d) row-major: the models' own, or with `decay`
    /// V^{-1} b at the current round (forgetting.rs).
    fn arm_coefficients(&self) -> Vec<f64> {
        match self.forgetting() {
            Some(f) => f.coefficients(self.base()),
            None => self
                .base()
                .arms
                .iter()
                .flat_map(|m| m.theta.iter().copied())
                .collect(),
        }
    }

    fn add_arm(&mut self) -> usize {
        if let Some((b, f)) = self.forgetting_mut() {
            f.on_add_arm(b);
        }
        let b = self.base_mut();
        // A new arm keeps the others' storage (the float32 copy of `precision="float32"`).
        let f32_copy = b.arms.first().is_some_and(|m| m.has_f32_copy());
        let mut m = RidgeModel::new(b.dim, b.lam);
        m.set_f32_copy(f32_copy);
        b.arms.push(m);
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
        if let Some((_, f)) = self.forgetting_mut() {
            f.on_remove_arm(i as usize);
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
        if self.forgetting().is_some() || other.forgetting().is_some() {
            return Err(Error::incompatible(format!(
                "{} with decay does not support merge: a discounted sum weights each row by its age, and the rows of two replicas have no common order",
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
        let saved = b.arms.clone();
        for (m, om) in b.arms.iter_mut().zip(&other_arms) {
            m.merge(om, lam);
        }
        debug_assert_eq!(t, b.t + ot);
        let saved_t = std::mem::replace(&mut b.t, t);
        // The merged sums of two loadable states stay within the decoder's bounds up to
        // rounding; a state at their very edge is refused rather than saved unloadable.
        if b.check().is_err() {
            b.arms = saved;
            b.t = saved_t;
            return Err(Error::param(
                "other",
                "merging would put the models beyond the bounds a saved state must satisfy",
            ));
        }
        Ok(())
    }

    fn check_policy(&self) -> Result<()> {
        self.base().check()?;
        if let Some(f) = self.forgetting() {
            f.check(self.base())?;
        }
        self.check_params()
    }
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
mod tests;
