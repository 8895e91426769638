//! KL-UCB (Garivier and Cappe 2011; Cappe et al. 2013) and Bayes-UCB (Kaufmann, Cappe and
//! Garivier 2012): optimistic indices from a divergence or a posterior quantile.

use super::{finite_positive, ln_t, persist_policy, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::Result;
use crate::special;
use crate::stats::argmax_random_ties;
use serde::{Deserialize, Serialize};

/// The reward model whose divergence defines the KL-UCB index.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Divergence {
    /// Rewards in [0, 1]; optimal for Bernoulli arms.
    Bernoulli,
    /// Gaussian rewards with the given known variance.
    Gaussian { variance: f64 },
    /// Non-negative (count) rewards.
    Poisson,
}

/// KL-UCB: the index of arm i is max{q >= mean_i : n_i kl(mean_i, q) <= ln t + c ln ln t}.
/// With `plus = true` it is KL-UCB+: ln(t / n_i) in place of ln t, proposed by Garivier and
/// Cappe (COLT 2011) as a practical variant, proved asymptotically optimal by Kaufmann
/// ("On Bayesian index policies for sequential resource allocation", Annals of Statistics
/// 2018; also Honda 2019). The default c = 0 is the value recommended in practice (c = 3 in the
/// proofs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KLUCB {
    core: Core,
    params: KLUCBParams,
    /// Each arm's index at the previous decision: the warm start of its Newton solve.
    warm: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KLUCBParams {
    pub divergence: Divergence,
    pub c: f64,
    pub plus: bool,
}

impl KLUCB {
    pub fn new(
        n_arms: usize,
        divergence: Divergence,
        c: f64,
        plus: bool,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = KLUCB {
            core: Core::new(n_arms, seed)?,
            params: KLUCBParams {
                divergence,
                c,
                plus,
            },
            warm: vec![0.0; n_arms],
        };
        p.check_extra()?;
        Ok(p)
    }

    fn index(&self, i: usize) -> f64 {
        let w = self.warm[i];
        let warm = (w > 0.0 && w.is_finite()).then_some(w);
        let a = &self.core.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let n = a.n as f64;
        let base = if self.params.plus {
            (self.core.t as f64 / n).ln().max(0.0)
        } else {
            ln_t(self.core.t)
        };
        let level = base + self.params.c * base.ln().max(0.0);
        match self.params.divergence {
            Divergence::Bernoulli => special::klucb_bernoulli_from(a.mean(), n, level, warm),
            Divergence::Gaussian { variance } => {
                special::klucb_gaussian(a.mean(), n, level, variance)
            }
            Divergence::Poisson => special::klucb_poisson_from(a.mean(), n, level, warm),
        }
    }
}

impl Policy for KLUCB {
    type Params = KLUCBParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &KLUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let d = match self.params.divergence {
            Divergence::Bernoulli => "'bernoulli'".to_string(),
            Divergence::Gaussian { variance } => format!("'gaussian', variance={variance}"),
            Divergence::Poisson => "'poisson'".to_string(),
        };
        format!(
            "divergence={d}, c={}, plus={}",
            self.params.c, self.params.plus
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        match self.params.divergence {
            Divergence::Bernoulli => RewardDomain::Unit,
            Divergence::Gaussian { .. } => RewardDomain::Real,
            Divergence::Poisson => RewardDomain::NonNegative,
        }
    }
    fn select(&mut self) -> usize {
        let idx = self.scores();
        let i = argmax_random_ties(idx.iter().copied(), &mut self.core.rng);
        self.warm = warm_starts(idx);
        i
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let idx = self.scores();
        let i = eligible.argmax(idx.iter().copied(), &mut self.core.rng);
        self.warm = warm_starts(idx);
        i
    }
    fn scores(&self) -> Vec<f64> {
        (0..self.core.arms.len()).map(|i| self.index(i)).collect()
    }
    fn on_add_arm(&mut self) {
        self.warm.push(0.0);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.warm.remove(i);
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.c.is_finite() && self.params.c >= 0.0,
            "c",
            "must be a finite number >= 0",
            self.params.c,
        )?;
        if let Divergence::Gaussian { variance } = self.params.divergence {
            finite_positive(variance, "variance")?;
        }
        check_warm(&self.warm, self.core.arms.len())
    }
}
persist_policy!(KLUCB, "KLUCB");

/// Bayes-UCB for Bernoulli rewards: the index of arm i is the (1 - 1/(t (ln H)^c))-quantile
/// of its Beta(prior_alpha + S_i, prior_beta + n_i - S_i) posterior, H the horizon (t when
/// None). c = 0 is the paper's recommended practical value (c = 5 in the proof).
/// Fractional rewards in [0, 1] update the posterior as (r, 1 - r) pseudo-counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BayesUCB {
    core: Core,
    params: BayesUCBParams,
    /// Each arm's index at the previous decision: the warm start of its quantile solve.
    warm: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BayesUCBParams {
    pub prior_alpha: f64,
    pub prior_beta: f64,
    pub c: f64,
    pub horizon: Option<u64>,
}

impl BayesUCB {
    pub fn new(
        n_arms: usize,
        prior_alpha: f64,
        prior_beta: f64,
        c: f64,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = BayesUCB {
            core: Core::new(n_arms, seed)?,
            params: BayesUCBParams {
                prior_alpha,
                prior_beta,
                c,
                horizon,
            },
            warm: vec![0.0; n_arms],
        };
        p.check_extra()?;
        Ok(p)
    }

    fn tail(&self) -> f64 {
        let t = self.core.t.max(1) as f64;
        let h = self.params.horizon.map(|h| h as f64).unwrap_or(t);
        let log_factor = if self.params.c > 0.0 {
            h.ln().max(1.0).powf(self.params.c)
        } else {
            1.0
        };
        (1.0 / (t * log_factor)).min(1.0)
    }

    fn index(&self, i: usize, tail: f64) -> f64 {
        let a = &self.core.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let s = a.sum().clamp(0.0, a.n as f64);
        let w = self.warm[i];
        special::beta_upper_quantile_from(
            self.params.prior_alpha + s,
            self.params.prior_beta + a.n as f64 - s,
            tail,
            (w > 0.0 && w < 1.0).then_some(w),
        )
    }
}

impl Policy for BayesUCB {
    type Params = BayesUCBParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &BayesUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let h = match self.params.horizon {
            Some(h) => h.to_string(),
            None => "None".into(),
        };
        format!(
            "prior_alpha={}, prior_beta={}, c={}, horizon={h}",
            self.params.prior_alpha, self.params.prior_beta, self.params.c
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let idx = self.scores();
        let i = argmax_random_ties(idx.iter().copied(), &mut self.core.rng);
        self.warm = warm_starts(idx);
        i
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let idx = self.scores();
        let i = eligible.argmax(idx.iter().copied(), &mut self.core.rng);
        self.warm = warm_starts(idx);
        i
    }
    fn on_add_arm(&mut self) {
        self.warm.push(0.0);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.warm.remove(i);
    }
    fn scores(&self) -> Vec<f64> {
        let tail = self.tail();
        (0..self.core.arms.len())
            .map(|i| self.index(i, tail))
            .collect()
    }
    fn check_extra(&self) -> Result<()> {
        prior_in_range(self.params.prior_alpha, "prior_alpha")?;
        prior_in_range(self.params.prior_beta, "prior_beta")?;
        require(
            self.params.c.is_finite() && self.params.c >= 0.0,
            "c",
            "must be a finite number >= 0",
            self.params.c,
        )?;
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )?;
        check_warm(&self.warm, self.core.arms.len())
    }
}

/// The largest Beta prior parameter accepted: a + b + counts must stay finite (at 1e308
/// the sum overflowed and the index was NaN).
const MAX_PRIOR: f64 = 1e100;

fn prior_in_range(x: f64, name: &str) -> Result<()> {
    require(
        x.is_finite() && x > 0.0 && x <= MAX_PRIOR,
        name,
        "must be a number in (0, 1e100]",
        x,
    )
}

/// This decision's indices as the next one's warm starts; an index that is NaN (no usable
/// start) is stored as 0, which the solvers read as "none", so the state stays loadable.
fn warm_starts(mut idx: Vec<f64>) -> Vec<f64> {
    for w in &mut idx {
        if w.is_nan() {
            *w = 0.0;
        }
    }
    idx
}

fn check_warm(warm: &[f64], n_arms: usize) -> Result<()> {
    if warm.len() != n_arms || warm.iter().any(|w| w.is_nan()) {
        return Err(crate::error::Error::state(
            "warm-start indices are inconsistent with the arms",
        ));
    }
    Ok(())
}
persist_policy!(BayesUCB, "BayesUCB");
