//! Successive elimination (Even-Dar, Mannor and Mansour 2006).

use super::{persist_policy, require, Core, Policy, RewardDomain};
use crate::error::{Error, Result};
use crate::stats::argmax_random_ties;
use serde::{Deserialize, Serialize};

/// Successive elimination: sample the active arms round-robin (the least-pulled first) and
/// eliminate arm i for good once mean_i + r(n_i) < max_j (mean_j - r(n_j)), with the
/// anytime Hoeffding radius r(n) = sqrt(ln(4 K n^2 / delta) / (2 n)). With probability
/// at least 1 - delta the best arm is never eliminated. Rewards in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuccessiveElimination {
    core: Core,
    params: EliminationParams,
    active: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EliminationParams {
    pub delta: f64,
}

impl SuccessiveElimination {
    pub fn new(n_arms: usize, delta: f64, seed: Option<u64>) -> Result<Self> {
        let p = SuccessiveElimination {
            core: Core::new(n_arms, seed)?,
            params: EliminationParams { delta },
            active: vec![true; n_arms],
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn active(&self) -> &[bool] {
        &self.active
    }

    fn radius(&self, n: u64) -> f64 {
        let k = self.core.arms.len() as f64;
        let n = n as f64;
        ((4.0 * k * n * n / self.params.delta).ln() / (2.0 * n)).sqrt()
    }

    fn eliminate(&mut self) {
        let best_lcb = self
            .core
            .arms
            .iter()
            .zip(&self.active)
            .filter(|(a, &act)| act && a.n > 0)
            .map(|(a, _)| a.mean() - self.radius(a.n))
            .fold(f64::NEG_INFINITY, f64::max);
        for i in 0..self.active.len() {
            let a = self.core.arms[i];
            if self.active[i] && a.n > 0 && a.mean() + self.radius(a.n) < best_lcb {
                self.active[i] = false;
            }
        }
    }

    /// -n_i for active arms (the least pulled wins), -inf for eliminated ones.
    fn priority(&self) -> Vec<f64> {
        self.core
            .arms
            .iter()
            .zip(&self.active)
            .map(|(a, &act)| {
                if act {
                    -(a.n as f64)
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect()
    }
}

impl Policy for SuccessiveElimination {
    type Params = EliminationParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &EliminationParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("delta={}", self.params.delta)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let pr = self.priority();
        argmax_random_ties(pr.into_iter(), &mut self.core.rng)
    }
    /// Upper confidence bounds of active arms (+inf if untried), -inf for eliminated arms.
    fn scores(&self) -> Vec<f64> {
        self.core
            .arms
            .iter()
            .zip(&self.active)
            .map(|(a, &act)| match (act, a.n) {
                (false, _) => f64::NEG_INFINITY,
                (true, 0) => f64::INFINITY,
                (true, n) => a.mean() + self.radius(n),
            })
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        crate::stats::argmax_distribution(&self.priority())
    }
    /// The least-pulled active arms first, eliminated arms last (what `select` maximizes).
    fn list_keys(&self) -> Vec<f64> {
        self.priority()
    }
    /// The least-pulled eligible active arm; eligible arms that are all eliminated are
    /// played uniformly (the mask overrides the elimination, which it does not undo).
    fn select_among(&mut self, eligible: &crate::eligible::Eligible) -> usize {
        let pr = self.priority();
        eligible.argmax(pr.into_iter(), &mut self.core.rng)
    }
    fn probabilities_among(&self, eligible: &crate::eligible::Eligible) -> Vec<f64> {
        eligible.argmax_distribution(&self.priority())
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.eliminate();
    }
    fn on_add_arm(&mut self) {
        self.active.push(true);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.active.remove(i);
        if !self.active.iter().any(|&a| a) {
            // Removing the last survivor reopens the contest among the remaining arms.
            self.active.iter_mut().for_each(|a| *a = true);
        }
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("eliminations are irreversible and depend on the order of the observations")
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.delta > 0.0 && self.params.delta < 1.0,
            "delta",
            "must be in (0, 1)",
            self.params.delta,
        )?;
        if self.active.len() != self.core.arms.len() || !self.active.iter().any(|&a| a) {
            return Err(Error::state("active set is inconsistent with the arms"));
        }
        Ok(())
    }
}
persist_policy!(SuccessiveElimination, "SuccessiveElimination");
