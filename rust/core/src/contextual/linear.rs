//! Disjoint linear policies: LinUCB (Li et al. 2010), linear Thompson sampling (Agrawal and
//! Goyal 2013) and epsilon-greedy on the ridge estimates.

use super::forgetting::{mean as arm_mean, mean_width as arm_mean_width, ForgettingV2};
use super::{pick, with_buffer, ContextualPolicy, Forgetting, LinearBase};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;
use crate::state::{read_payload, write_payload, Persist};
use crate::stats::argmax_distribution;
use serde::{Deserialize, Serialize};

/// The check of a coefficient that must be a finite number >= 0 (alpha, v, ...).
pub(super) fn finite_nonneg(x: f64, name: &str) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(Error::param_got(name, "must be a finite number >= 0", x))
    }
}

fn decay_suffix(f: &Option<Forgetting>) -> String {
    f.as_ref()
        .map_or(String::new(), |f| format!(", decay={}", f.gamma))
}

/// `Persist` for a disjoint linear policy: payload version 1 is (base, params), the layout
/// before `decay`, still written for policies without it (their bytes are unchanged, and
/// older releases read them); version 2 added the forgetting state and version 3 its stamps
/// (forgetting.rs; version 2 still loads); version 4, written only under
/// `precision="float32"` (which does not combine with decay), is the policy followed by the
/// precision (the float32 copies are not written: they are rebuilt from the float64
/// inverses on loading).
macro_rules! persist_linear {
    ($ty:ident, $kind:literal, $params:ident) => {
        impl Persist for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u16 = 4;
            fn check_invariants(&self) -> Result<()> {
                self.check_policy()
            }
            fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
                if version >= 4 {
                    let ((p, precision), rest): (($ty, Precision), &[u8]) = read_payload(payload)?;
                    if precision == Precision::Float32 && p.forgetting.is_some() {
                        return Err(Error::state("float32 storage and decay do not combine"));
                    }
                    return Ok((p.stored_as(precision), rest));
                }
                if version == 3 {
                    return read_payload(payload);
                }
                if version == 2 {
                    let ((mut base, params, old), rest): (
                        (LinearBase, $params, Option<ForgettingV2>),
                        &[u8],
                    ) = read_payload(payload)?;
                    let forgetting = old.map(|f| f.upgrade(&mut base));
                    return Ok((
                        $ty {
                            base,
                            params,
                            forgetting,
                            precision: Precision::Float64,
                        },
                        rest,
                    ));
                }
                let ((base, params), rest): ((LinearBase, $params), &[u8]) = read_payload(payload)?;
                Ok((
                    $ty {
                        base,
                        params,
                        forgetting: None,
                        precision: Precision::Float64,
                    },
                    rest,
                ))
            }
            fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
                if self.precision == Precision::Float32 {
                    return Ok((4, write_payload(&(self, self.precision))?));
                }
                if self.forgetting.is_none() {
                    return Ok((1, write_payload(&(&self.base, &self.params))?));
                }
                Ok((3, write_payload(self)?))
            }
        }
    };
}

/// How the inverse each decision reads is stored (`precision=`): `Float64`, the float64
/// inverse itself (its upper triangle from d = 64 on); `Float32`, beside the float64 state
/// (which updates, batch scoring, merges and saved states use unchanged), a copy of each
/// arm's inverse's upper triangle rounded to float32 and packed, read with float64
/// accumulation: half the bytes a decision streams, scores within float32 rounding of
/// float64's. The copy is re-derived from the float64 inverse after every update (never
/// updated in float32), so nothing drifts over any number of updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    Float64,
    Float32,
}

impl Precision {
    /// "float64" or "float32"; anything else is refused, naming `precision`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "float64" => Ok(Precision::Float64),
            "float32" => Ok(Precision::Float32),
            _ => Err(Error::param(
                "precision",
                format!("must be \"float64\" or \"float32\", got {s:?}"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Float64 => "float64",
            Precision::Float32 => "float32",
        }
    }
}

fn precision_suffix(p: Precision) -> String {
    match p {
        Precision::Float64 => String::new(),
        Precision::Float32 => ", precision=float32".into(),
    }
}

/// Adds `decay` to a new policy (None leaves it unchanged).
macro_rules! with_decay {
    ($ty:ident) => {
        impl $ty {
            /// This policy with discounting by `decay` in (0, 1] (None: none), before any
            /// update.
            pub fn with_decay(mut self, decay: Option<f64>) -> Result<Self> {
                super::check_decay(decay)?;
                if decay.is_some() && self.precision == Precision::Float32 {
                    return Err(Error::param(
                        "precision",
                        "\"float32\" does not combine with decay; use \"float64\"",
                    ));
                }
                self.forgetting = decay.map(|g| Forgetting::new(g, &self.base)).transpose()?;
                Ok(self)
            }

            /// The discount factor, None without forgetting.
            pub fn decay(&self) -> Option<f64> {
                self.forgetting.as_ref().map(|f| f.gamma)
            }

            /// This policy with the inverse decisions read stored as `precision`
            /// ("float64" or "float32", see [`Precision`]). Refused with `decay` (the
            /// discounted models rewrite their inverses outside the ridge updates).
            pub fn with_precision(self, precision: &str) -> Result<Self> {
                let p = Precision::parse(precision)?;
                if p == Precision::Float32 {
                    if self.forgetting.is_some() {
                        return Err(Error::param(
                            "precision",
                            "\"float32\" does not combine with decay; use \"float64\"",
                        ));
                    }
                    // The copies: half the inverse's d^2 values, 4 bytes each.
                    let side = self.base.dim.saturating_add(1);
                    crate::limits::check_alloc("dim", &[self.base.arms.len(), side, side], 2)?;
                }
                Ok(self.stored_as(p))
            }

            /// The storage of the inverse decisions read.
            pub fn precision(&self) -> Precision {
                self.precision
            }

            fn stored_as(mut self, p: Precision) -> Self {
                self.precision = p;
                for m in &mut self.base.arms {
                    m.set_f32_copy(p == Precision::Float32);
                }
                self
            }
        }
    };
}
with_decay!(LinUCB);
with_decay!(LinTS);
with_decay!(LinGreedy);

/// LinUCB with disjoint models: score_a(x) = x^T theta_a + alpha sqrt(x^T A_a^{-1} x),
/// A_a = lam I + sum x x^T over the rows of arm a. Li et al.'s alpha = 1 + sqrt(ln(2/delta)/2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinUCB {
    base: LinearBase,
    params: LinUCBParams,
    /// Discounting (`decay`), None for the plain ridge regression.
    forgetting: Option<Forgetting>,
    /// The storage of the inverse decisions read (saved by payload version 3 only).
    #[serde(skip)]
    precision: Precision,
}

/// Serde for a `LinUCB` that never forgets, as a field of another state (HATCH's models):
/// the (base, params) layout from before `decay`, so the enclosing state's bytes did not
/// change when `decay` arrived. Encoding a decayed policy this way is refused.
pub(crate) mod undecayed_linucb {
    use super::{LinUCB, LinUCBParams, LinearBase, Precision};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &LinUCB, serializer: S) -> Result<S::Ok, S::Error> {
        if p.forgetting.is_some() || p.precision != Precision::Float64 {
            return Err(serde::ser::Error::custom(
                "a decayed or float32 LinUCB has no undecayed encoding",
            ));
        }
        (&p.base, &p.params).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LinUCB, D::Error> {
        let (base, params) = <(LinearBase, LinUCBParams)>::deserialize(deserializer)?;
        Ok(LinUCB {
            base,
            params,
            forgetting: None,
            precision: Precision::Float64,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinUCBParams {
    pub alpha: f64,
}

impl LinUCB {
    pub fn new(n_arms: usize, dim: usize, alpha: f64, lam: f64, seed: Option<u64>) -> Result<Self> {
        let p = LinUCB {
            base: LinearBase::new(n_arms, dim, lam, seed)?,
            params: LinUCBParams { alpha },
            forgetting: None,
            precision: Precision::Float64,
        };
        p.check_params()?;
        Ok(p)
    }
}

impl ContextualPolicy for LinUCB {
    type Params = LinUCBParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn forgetting(&self) -> Option<&Forgetting> {
        self.forgetting.as_ref()
    }
    fn forgetting_mut(&mut self) -> Option<(&mut LinearBase, &mut Forgetting)> {
        self.forgetting.as_mut().map(|f| (&mut self.base, f))
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &LinUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "alpha={}, lam={}{}{}",
            self.params.alpha,
            self.base.lam,
            decay_suffix(&self.forgetting),
            precision_suffix(self.precision)
        )
    }
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for (a, o) in out.iter_mut().enumerate() {
            let (mean, width) = arm_mean_width(f, arms, lam, a, x);
            *o = mean + self.params.alpha * width;
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        let alpha = self.params.alpha;
        let (f, lam) = (self.forgetting.as_ref(), self.base.lam);
        let (arms, rng) = (&self.base.arms, &mut self.base.rng);
        with_buffer(arms.len(), |scores| {
            for (a, o) in scores.iter_mut().enumerate() {
                let (mean, width) = arm_mean_width(f, arms, lam, a, x);
                *o = mean + alpha * width;
            }
            pick(scores, rng)
        })
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.score_row(x, out, scratch);
        let p = argmax_distribution(out);
        out.copy_from_slice(&p);
    }
    fn check_params(&self) -> Result<()> {
        finite_nonneg(self.params.alpha, "alpha")
    }
    fn width_coefficient(&self) -> f64 {
        self.params.alpha
    }
    fn deterministic(&self) -> bool {
        true
    }
    fn moments_rule(&self) -> bool {
        true
    }
    fn decide_from_moments(&mut self, means: &[f64], widths: &[f64]) -> usize {
        let alpha = self.params.alpha;
        let rng = &mut self.base.rng;
        with_buffer(means.len(), |scores| {
            for (o, (m, w)) in scores.iter_mut().zip(means.iter().zip(widths)) {
                *o = m + alpha * w;
            }
            pick(scores, rng)
        })
    }
    fn probability_from_moments(&self, _x: &[f64], means: &[f64], widths: &[f64], out: &mut [f64]) {
        for (o, (m, w)) in out.iter_mut().zip(means.iter().zip(widths)) {
            *o = m + self.params.alpha * w;
        }
        let p = argmax_distribution(out);
        out.copy_from_slice(&p);
    }
}
persist_linear!(LinUCB, "LinUCB", LinUCBParams);

/// Draws used by `LinTS::probabilities`, which has no closed form.
pub const PROBABILITY_SAMPLES: usize = 4096;

/// Linear Thompson sampling (Agrawal and Goyal 2013) with disjoint models: each decision
/// samples theta_a ~ N(theta_hat_a, v^2 A_a^{-1}) and plays argmax_a x^T theta_a. For one
/// context the sampled score of arm a is exactly N(x^T theta_hat_a, v^2 x^T A_a^{-1} x), so
/// a decision draws one normal per arm instead of a d-dimensional vector: the same
/// distribution at O(K d^2) cost with no Cholesky factor. Practical v in [0.05, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinTS {
    base: LinearBase,
    params: LinTSParams,
    /// Discounting (`decay`), None for the plain ridge regression.
    forgetting: Option<Forgetting>,
    /// The storage of the inverse decisions read (saved by payload version 3 only).
    #[serde(skip)]
    precision: Precision,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinTSParams {
    pub v: f64,
}

impl LinTS {
    pub fn new(n_arms: usize, dim: usize, v: f64, lam: f64, seed: Option<u64>) -> Result<Self> {
        let p = LinTS {
            base: LinearBase::new(n_arms, dim, lam, seed)?,
            params: LinTSParams { v },
            forgetting: None,
            precision: Precision::Float64,
        };
        p.check_params()?;
        Ok(p)
    }

    fn sampled_scores(&self, x: &[f64], rng: &mut Rng, out: &mut [f64]) {
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for (a, o) in out.iter_mut().enumerate() {
            let z = normal_rand_distr_05(rng);
            let (mean, width) = arm_mean_width(f, arms, lam, a, x);
            *o = mean + self.params.v * width * z;
        }
    }
}

impl ContextualPolicy for LinTS {
    type Params = LinTSParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn forgetting(&self) -> Option<&Forgetting> {
        self.forgetting.as_ref()
    }
    fn forgetting_mut(&mut self) -> Option<(&mut LinearBase, &mut Forgetting)> {
        self.forgetting.as_mut().map(|f| (&mut self.base, f))
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &LinTSParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "v={}, lam={}{}{}",
            self.params.v,
            self.base.lam,
            decay_suffix(&self.forgetting),
            precision_suffix(self.precision)
        )
    }
    /// Posterior means x^T theta_hat_a.
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for (a, o) in out.iter_mut().enumerate() {
            *o = arm_mean(f, arms, lam, a, x);
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        let mut rng = self.base.rng.clone();
        let i = with_buffer(self.base.arms.len(), |scores| {
            self.sampled_scores(x, &mut rng, scores);
            pick(scores, &mut rng)
        });
        self.base.rng = rng;
        i
    }
    /// Monte Carlo estimate (4096 joint draws from a generator forked from the policy's, so
    /// the decision stream does not move); exact one-hot when v = 0.
    fn probability_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let k = out.len();
        let mut means = vec![0.0; k];
        let mut widths = vec![0.0; k];
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for i in 0..k {
            (means[i], widths[i]) = arm_mean_width(f, arms, lam, i, x);
        }
        self.probability_from_moments(x, &means, &widths, out);
    }
    fn moments_rule(&self) -> bool {
        true
    }
    fn decide_from_moments(&mut self, means: &[f64], widths: &[f64]) -> usize {
        let v = self.params.v;
        let rng = &mut self.base.rng;
        with_buffer(means.len(), |scores| {
            for (o, (m, w)) in scores.iter_mut().zip(means.iter().zip(widths)) {
                let z = normal_rand_distr_05(rng);
                *o = m + v * w * z;
            }
            pick(scores, rng)
        })
    }
    fn probability_from_moments(&self, x: &[f64], means: &[f64], widths: &[f64], out: &mut [f64]) {
        let k = out.len();
        let sds: Vec<f64> = widths.iter().map(|w| self.params.v * w).collect();
        if sds.iter().all(|&s| s == 0.0) {
            out.copy_from_slice(&argmax_distribution(means));
            return;
        }
        // Seeded from the policy state and the context, so the estimate is reproducible.
        let mut h = self.base.rng.clone().next_raw();
        for v in x {
            h = h.rotate_left(5) ^ v.to_bits();
        }
        let mut rng = Rng::seed_from_u64(h);
        let mut wins = vec![0u32; k];
        for _ in 0..PROBABILITY_SAMPLES {
            let mut best = f64::NEG_INFINITY;
            let mut best_i = 0;
            for i in 0..k {
                let z = normal_rand_distr_05(&mut rng);
                let s = means[i] + sds[i] * z;
                if s > best {
                    best = s;
                    best_i = i;
                }
            }
            wins[best_i] += 1;
        }
        for (o, w) in out.iter_mut().zip(wins) {
            *o = w as f64 / PROBABILITY_SAMPLES as f64;
        }
    }
    fn check_params(&self) -> Result<()> {
        finite_nonneg(self.params.v, "v")
    }
    fn width_coefficient(&self) -> f64 {
        0.0
    }
    fn sampling_moments(
        &self,
        x: &[f64],
        means: &mut [f64],
        sds: &mut [f64],
        _scratch: &mut [f64],
    ) -> bool {
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for a in 0..arms.len() {
            let (mean, width) = arm_mean_width(f, arms, lam, a, x);
            means[a] = mean;
            sds[a] = self.params.v * width;
        }
        true
    }
}
persist_linear!(LinTS, "LinTS", LinTSParams);

/// Epsilon-greedy on the ridge estimates: with probability epsilon a uniformly random arm,
/// otherwise argmax_a x^T theta_a (ties at random).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinGreedy {
    base: LinearBase,
    params: LinGreedyParams,
    /// Discounting (`decay`), None for the plain ridge regression.
    forgetting: Option<Forgetting>,
    /// The storage of the inverse decisions read (saved by payload version 3 only).
    #[serde(skip)]
    precision: Precision,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinGreedyParams {
    pub epsilon: f64,
}

impl LinGreedy {
    pub fn new(
        n_arms: usize,
        dim: usize,
        epsilon: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = LinGreedy {
            base: LinearBase::new(n_arms, dim, lam, seed)?,
            params: LinGreedyParams { epsilon },
            forgetting: None,
            precision: Precision::Float64,
        };
        p.check_params()?;
        Ok(p)
    }
}

impl ContextualPolicy for LinGreedy {
    type Params = LinGreedyParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn forgetting(&self) -> Option<&Forgetting> {
        self.forgetting.as_ref()
    }
    fn forgetting_mut(&mut self) -> Option<(&mut LinearBase, &mut Forgetting)> {
        self.forgetting.as_mut().map(|f| (&mut self.base, f))
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &LinGreedyParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "epsilon={}, lam={}{}{}",
            self.params.epsilon,
            self.base.lam,
            decay_suffix(&self.forgetting),
            precision_suffix(self.precision)
        )
    }
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let (f, arms, lam) = (self.forgetting.as_ref(), &self.base.arms, self.base.lam);
        for (a, o) in out.iter_mut().enumerate() {
            *o = arm_mean(f, arms, lam, a, x);
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        let k = self.base.arms.len();
        let eps = self.params.epsilon;
        if eps > 0.0 && self.base.rng.uniform() < eps {
            return self.base.rng.below(k as u64) as usize;
        }
        let (f, lam) = (self.forgetting.as_ref(), self.base.lam);
        let (arms, rng) = (&self.base.arms, &mut self.base.rng);
        with_buffer(k, |scores| {
            for (a, o) in scores.iter_mut().enumerate() {
                *o = arm_mean(f, arms, lam, a, x);
            }
            pick(scores, rng)
        })
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.score_row(x, out, scratch);
        let k = out.len() as f64;
        let eps = self.params.epsilon;
        let g = argmax_distribution(out);
        for (o, gi) in out.iter_mut().zip(g) {
            *o = eps / k + (1.0 - eps) * gi;
        }
    }
    /// Exploration uniform over the eligible arms (epsilon / |eligible| each), the greedy
    /// share on the best eligible estimate.
    fn probability_row_among(
        &self,
        x: &[f64],
        _log_ref: Option<&[f64]>,
        eligible: &Eligible,
        out: &mut [f64],
        scratch: &mut [f64],
    ) {
        self.score_row(x, out, scratch);
        let k = eligible.count() as f64;
        let eps = self.params.epsilon;
        let g = eligible.argmax_distribution(out);
        for (i, (o, gi)) in out.iter_mut().zip(g).enumerate() {
            *o = if eligible.contains(i) {
                eps / k + (1.0 - eps) * gi
            } else {
                0.0
            };
        }
    }
    fn check_params(&self) -> Result<()> {
        if (0.0..=1.0).contains(&self.params.epsilon) {
            Ok(())
        } else {
            Err(Error::param_got(
                "epsilon",
                "must be in [0, 1]",
                self.params.epsilon,
            ))
        }
    }
    fn width_coefficient(&self) -> f64 {
        0.0
    }
}
persist_linear!(LinGreedy, "LinGreedy", LinGreedyParams);
