//! Upper-confidence-bound index policies on Hoeffding- and Bernstein-type bounds.

use super::{finite_positive, ln_t, persist_policy, require, ArmCache, Core, Policy, RewardDomain};
use crate::error::Result;
use crate::stats::{argmax_random_ties, ArmStats};
use serde::{Deserialize, Serialize};

/// UCB1 (Auer, Cesa-Bianchi and Fischer 2002): play each arm once, then
/// argmax mean_i + alpha * sqrt(2 ln t / n_i). `alpha = 1` is the paper's index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCB1 {
    core: Core,
    params: UCB1Params,
    #[serde(skip)]
    cache: ArmCache<(f64, f64)>,
}

/// Arm i's (mean, 1/sqrt(n_i)), so that a decision costs one logarithm, one sqrt and K
/// multiply-adds instead of K divisions and K square roots (an update changes one arm). An
/// unplayed arm is (+inf, 0): index +inf for any alpha.
#[inline]
fn index_terms(a: &ArmStats) -> (f64, f64) {
    if a.n == 0 {
        (f64::INFINITY, 0.0)
    } else {
        (a.mean(), 1.0 / (a.n as f64).sqrt())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCB1Params {
    pub alpha: f64,
}

impl UCB1 {
    pub fn new(n_arms: usize, alpha: f64, seed: Option<u64>) -> Result<Self> {
        let p = UCB1 {
            core: Core::new(n_arms, seed)?,
            params: UCB1Params { alpha },
            cache: ArmCache::default(),
        };
        p.check_extra()?;
        Ok(p)
    }

    #[inline]
    fn index(&self, i: usize, two_ln_t: f64) -> f64 {
        let a = &self.core.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        // Same arithmetic as `select` so that scores() and decisions agree bit for bit.
        a.mean() + (self.params.alpha * two_ln_t.sqrt()) * (1.0 / (a.n as f64).sqrt())
    }
}

impl Policy for UCB1 {
    type Params = UCB1Params;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &UCB1Params {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("alpha={}", self.params.alpha)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        // The microsecond path: no allocation, one log, one sqrt, K multiply-adds. The same
        // value as `index` (mean + alpha * sqrt(2 ln t) * (1 / sqrt(n))), bit for bit.
        let arms = &self.core.arms;
        self.cache.refresh(&self.core, |i| index_terms(&arms[i]));
        let scale = self.params.alpha * (2.0 * ln_t(self.core.t)).sqrt();
        let indices = self.cache.values.iter().map(|&(m, w)| m + scale * w);
        argmax_random_ties(indices, &mut self.core.rng)
    }
    fn scores(&self) -> Vec<f64> {
        let two_ln_t = 2.0 * ln_t(self.core.t);
        (0..self.core.arms.len())
            .map(|i| self.index(i, two_ln_t))
            .collect()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let was_current = self.cache.is_current(&self.core);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        let terms = index_terms(&self.core.arms[arm]);
        self.cache.observed(&self.core, arm, was_current, terms);
    }
    fn on_add_arm(&mut self) {
        self.cache.clear();
    }
    fn on_remove_arm(&mut self, _i: usize) {
        self.cache.clear();
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.alpha.is_finite() && self.params.alpha >= 0.0,
            "alpha",
            "must be a finite number >= 0",
            self.params.alpha,
        )
    }
}
persist_policy!(UCB1, "UCB1");

/// UCB-V (Audibert, Munos and Szepesvari 2009): an empirical-Bernstein index
/// mean_i + sqrt(2 V_i zeta ln t / n_i) + 3 c zeta ln t / n_i, with V_i the empirical
/// variance and rewards in [0, 1]. Defaults zeta = 1.2, c = 1 are the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCBV {
    core: Core,
    params: UCBVParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCBVParams {
    pub zeta: f64,
    pub c: f64,
}

impl UCBV {
    pub fn new(n_arms: usize, zeta: f64, c: f64, seed: Option<u64>) -> Result<Self> {
        let p = UCBV {
            core: Core::new(n_arms, seed)?,
            params: UCBVParams { zeta, c },
        };
        p.check_extra()?;
        Ok(p)
    }

    #[inline]
    fn index(&self, i: usize, e: f64) -> f64 {
        let a = &self.core.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let n = a.n as f64;
        a.mean() + (2.0 * a.variance() * e / n).sqrt() + 3.0 * self.params.c * e / n
    }
}

impl Policy for UCBV {
    type Params = UCBVParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &UCBVParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("zeta={}, c={}", self.params.zeta, self.params.c)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let e = self.params.zeta * ln_t(self.core.t);
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties(
            (0..self.core.arms.len()).map(|i| self.index(i, e)),
            &mut rng,
        );
        self.core.rng = rng;
        i
    }
    fn scores(&self) -> Vec<f64> {
        let e = self.params.zeta * ln_t(self.core.t);
        (0..self.core.arms.len())
            .map(|i| self.index(i, e))
            .collect()
    }
    fn check_extra(&self) -> Result<()> {
        finite_positive(self.params.zeta, "zeta")?;
        finite_positive(self.params.c, "c")
    }
}
persist_policy!(UCBV, "UCBV");

/// MOSS (Audibert and Bubeck 2009): mean_i + sqrt(max(ln(H / (K n_i)), 0) / n_i) with H
/// the horizon, minimax-optimal O(sqrt(KT)). Without a horizon it is the anytime variant
/// (Degenne and Perchet 2016), which uses t in place of H.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MOSS {
    core: Core,
    params: MOSSParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MOSSParams {
    pub horizon: Option<u64>,
}

impl MOSS {
    pub fn new(n_arms: usize, horizon: Option<u64>, seed: Option<u64>) -> Result<Self> {
        let p = MOSS {
            core: Core::new(n_arms, seed)?,
            params: MOSSParams { horizon },
        };
        p.check_extra()?;
        Ok(p)
    }

    #[inline]
    fn index(&self, i: usize, h_over_k: f64) -> f64 {
        let a = &self.core.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let n = a.n as f64;
        a.mean() + ((h_over_k / n).ln().max(0.0) / n).sqrt()
    }

    fn h_over_k(&self) -> f64 {
        let h = self.params.horizon.unwrap_or(self.core.t.max(1));
        h as f64 / self.core.arms.len() as f64
    }
}

impl Policy for MOSS {
    type Params = MOSSParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &MOSSParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        match self.params.horizon {
            Some(h) => format!("horizon={h}"),
            None => "horizon=None".into(),
        }
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let hk = self.h_over_k();
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties(
            (0..self.core.arms.len()).map(|i| self.index(i, hk)),
            &mut rng,
        );
        self.core.rng = rng;
        i
    }
    fn scores(&self) -> Vec<f64> {
        let hk = self.h_over_k();
        (0..self.core.arms.len())
            .map(|i| self.index(i, hk))
            .collect()
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )
    }
}
persist_policy!(MOSS, "MOSS");
