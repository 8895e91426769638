//! Bandits with knapsacks: each pull of arm i earns a reward in [0, 1] and consumes a vector
//! of resources in [0, 1]^d; play stops when a resource runs out. [`PrimalDualBwK`] is
//! Badanidiyuru, Kleinberg and Slivkins' (2013) primal-dual algorithm; [`KnapsackEnv`]
//! simulates Bernoulli rewards and consumptions.
//!
//! PrimalDualBwK rescales every budget to B = min_j B_j, treats time as one more resource
//! (each pull consumes B/T of it), keeps a price y_j per resource updated by multiplicative
//! weights y_j <- y_j (1 + eps)^{c_j} with eps = sqrt(ln(d+1) / B), and pulls the arm with
//! the best optimistic bang-per-buck UCB(r_i) / (LCB(c_i) . y). Confidence radius
//! rad(v, n) = sqrt(C v / n) + C / n with C = ln((d+1) T K), as in the paper.

use crate::eligible::Eligible;
use crate::error::{show, Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use serde::{Deserialize, Serialize};

fn check_budgets(budgets: &[f64]) -> Result<()> {
    if budgets.is_empty() {
        return Err(Error::param("budgets", "expected at least one resource"));
    }
    if let Some(i) = budgets.iter().position(|b| !(b.is_finite() && *b >= 1.0)) {
        return Err(Error::param(
            "budgets",
            format!(
                "expected finite budgets >= 1 (a pull may consume up to 1), got {} at position {i}",
                show(budgets[i])
            ),
        ));
    }
    Ok(())
}

fn check_unit(name: &str, values: &[f64]) -> Result<()> {
    match values
        .iter()
        .position(|v| !(v.is_finite() && (0.0..=1.0).contains(v)))
    {
        Some(i) => Err(Error::param(
            name,
            format!(
                "expected values in [0, 1], got {} at position {i}",
                show(values[i])
            ),
        )),
        None => Ok(()),
    }
}

/// The primal-dual policy for bandits with knapsacks (Badanidiyuru, Kleinberg, Slivkins
/// 2013). `select` returns None once a resource has less than one unit left (the most a
/// pull can consume, so the budgets are never exceeded) or the horizon is reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrimalDualBwK {
    budgets: Vec<f64>,
    horizon: u64,
    pulls: Vec<u64>,
    reward_sums: Vec<f64>,
    /// Per arm and resource (row-major), raw consumption sums.
    cost_sums: Vec<f64>,
    spent: Vec<f64>,
    /// Log-prices of the d resources and of time (last), kept as logarithms so that they
    /// never overflow.
    log_prices: Vec<f64>,
    t: u64,
    rng: Rng,
}

impl PrimalDualBwK {
    pub fn new(n_arms: usize, budgets: &[f64], horizon: u64, seed: Option<u64>) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        check_budgets(budgets)?;
        if horizon == 0 {
            return Err(Error::param("horizon", "must be at least 1, got 0"));
        }
        let d = budgets.len();
        crate::limits::check_alloc("n_arms", &[n_arms, d + 1], 8)?;
        Ok(PrimalDualBwK {
            budgets: budgets.to_vec(),
            horizon,
            pulls: vec![0; n_arms],
            reward_sums: vec![0.0; n_arms],
            cost_sums: vec![0.0; n_arms * d],
            spent: vec![0.0; d],
            log_prices: vec![0.0; d + 1],
            t: 0,
            rng: Rng::from_optional_seed(seed),
        })
    }

    pub fn n_arms(&self) -> usize {
        self.pulls.len()
    }
    pub fn n_resources(&self) -> usize {
        self.budgets.len()
    }
    pub fn budgets(&self) -> &[f64] {
        &self.budgets
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn spent(&self) -> &[f64] {
        &self.spent
    }
    pub fn counts(&self) -> &[u64] {
        &self.pulls
    }
    pub fn n_pulls(&self) -> u64 {
        self.t
    }
    pub fn remaining(&self) -> Vec<f64> {
        self.budgets
            .iter()
            .zip(&self.spent)
            .map(|(b, s)| b - s)
            .collect()
    }

    /// True once a resource has less than one unit left or the horizon is reached.
    pub fn stopped(&self) -> bool {
        self.t >= self.horizon || self.remaining().iter().any(|&r| r < 1.0)
    }

    /// Empirical mean rewards (NaN for arms never pulled).
    pub fn reward_means(&self) -> Vec<f64> {
        self.reward_sums
            .iter()
            .zip(&self.pulls)
            .map(|(s, &n)| if n == 0 { f64::NAN } else { s / n as f64 })
            .collect()
    }

    /// Empirical mean consumption per arm and resource (NaN rows for arms never pulled).
    pub fn consumption_means(&self) -> Vec<f64> {
        let d = self.n_resources();
        self.cost_sums
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = self.pulls[i / d];
                if n == 0 {
                    f64::NAN
                } else {
                    s / n as f64
                }
            })
            .collect()
    }

    /// Current resource prices (normalized to sum to 1; the last is time's).
    pub fn prices(&self) -> Vec<f64> {
        let top = self
            .log_prices
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = self.log_prices.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = w.iter().sum();
        w.iter().map(|x| x / total).collect()
    }

    fn scale(&self) -> f64 {
        self.budgets.iter().cloned().fold(f64::INFINITY, f64::min)
    }

    /// The bang-per-buck index UCB(r) / (LCB(c) . y) of every arm (+inf for arms never
    /// pulled).
    pub fn scores(&self) -> Vec<f64> {
        let (k, d) = (self.n_arms(), self.n_resources());
        let big_b = self.scale();
        let c_rad = (((d + 1) as f64) * self.horizon as f64 * k as f64)
            .ln()
            .max(1.0);
        let rad = |v: f64, n: f64| (c_rad * v / n).sqrt() + c_rad / n;
        let y = self.prices();
        (0..k)
            .map(|i| {
                let n = self.pulls[i];
                if n == 0 {
                    return f64::INFINITY;
                }
                let n = n as f64;
                let r = self.reward_sums[i] / n;
                let ucb = (r + rad(r, n)).min(1.0);
                let mut price = y[d] * big_b / self.horizon as f64;
                let sums = &self.cost_sums[i * d..(i + 1) * d];
                for ((yj, sum), budget) in y.iter().zip(sums).zip(&self.budgets) {
                    let c = sum / n * big_b / budget;
                    price += yj * (c - rad(c, n)).max(0.0);
                }
                ucb / price
            })
            .collect()
    }

    /// The arm to pull, or None once play must stop.
    pub fn select(&mut self) -> Option<usize> {
        if self.stopped() {
            return None;
        }
        let scores = self.scores();
        Some(crate::stats::argmax_random_ties(
            scores.iter().copied(),
            &mut self.rng,
        ))
    }

    /// `select` among the `eligible` arms: the argmax of the index over them, ties at
    /// random (None once play must stop, as `select`). Ineligible arms keep their state.
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<Option<usize>> {
        eligible.check_arms(self.n_arms())?;
        if self.stopped() {
            return Ok(None);
        }
        let scores = self.scores();
        Ok(Some(eligible.argmax(scores.into_iter(), &mut self.rng)))
    }

    /// `scores` with -inf for the arms outside `eligible`.
    pub fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        eligible.check_arms(self.n_arms())?;
        let mut s = self.scores();
        eligible.mask_scores(&mut s);
        Ok(s)
    }

    /// The law of the arm `select` (restricted to `eligible` when given) returns while
    /// play goes on: uniform over the maximizers of the index (an index rule; its only
    /// randomness is the tie-break), 0 elsewhere.
    pub fn probabilities(&self, eligible: Option<&Eligible>) -> Result<Vec<f64>> {
        let scores = self.scores();
        match eligible {
            None => Ok(crate::stats::argmax_distribution(&scores)),
            Some(e) => {
                e.check_arms(self.n_arms())?;
                Ok(e.argmax_distribution(&scores))
            }
        }
    }

    /// Record a pull: its reward in [0, 1] and its consumption of each resource in [0, 1].
    pub fn update(&mut self, arm: i64, reward: f64, consumption: &[f64]) -> Result<()> {
        let (k, d) = (self.n_arms(), self.n_resources());
        if arm < 0 || arm as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm,
                n_arms: k,
                position: None,
            });
        }
        if !(reward.is_finite() && (0.0..=1.0).contains(&reward)) {
            return Err(Error::InvalidReward {
                argument: "reward".into(),
                value: reward,
                position: None,
                expected: "a number in [0, 1]".into(),
            });
        }
        if consumption.len() != d {
            return Err(Error::shape(
                "consumption",
                format!(
                    "expected one value per resource ({d}), got {}",
                    consumption.len()
                ),
            ));
        }
        check_unit("consumption", consumption)?;
        if self.t == u64::MAX {
            return Err(Error::param("arm", "the pull count would exceed 2**64 - 1"));
        }
        let a = arm as usize;
        let big_b = self.scale();
        let eps = ((d + 1) as f64).ln().max(f64::MIN_POSITIVE).sqrt() / big_b.sqrt();
        let step = (1.0 + eps.min(1.0)).ln();
        self.pulls[a] += 1;
        self.reward_sums[a] += reward;
        for (j, &c) in consumption.iter().enumerate() {
            self.cost_sums[a * d + j] += c;
            self.spent[j] += c;
            self.log_prices[j] += step * c * big_b / self.budgets[j];
        }
        self.log_prices[d] += step * big_b / self.horizon as f64;
        // Keep the largest log-price at 0: the prices are scale-free.
        let top = self
            .log_prices
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        for l in &mut self.log_prices {
            *l -= top;
        }
        self.t += 1;
        Ok(())
    }

    pub fn describe_params(&self) -> String {
        format!(
            "n_arms={}, budgets={:?}, horizon={}",
            self.n_arms(),
            self.budgets,
            self.horizon
        )
    }
}

impl Persist for PrimalDualBwK {
    const KIND: &'static str = "PrimalDualBwK";
    fn check_invariants(&self) -> Result<()> {
        check_budgets(&self.budgets)?;
        let (k, d) = (self.pulls.len(), self.budgets.len());
        let ok = k > 0
            && self.horizon > 0
            && self.reward_sums.len() == k
            && self.cost_sums.len() == k * d
            && self.spent.len() == d
            && self.log_prices.len() == d + 1
            && self.pulls.iter().sum::<u64>() == self.t
            && self
                .reward_sums
                .iter()
                .chain(&self.cost_sums)
                .chain(&self.spent)
                .all(|v| v.is_finite() && *v >= 0.0)
            && self.log_prices.iter().all(|v| v.is_finite() && *v <= 0.0)
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "PrimalDualBwK: sizes, counts or sums are inconsistent",
            ))
        }
    }
}

/// Bernoulli rewards and consumptions with the given means, budgets and horizon, and its own
/// generator. `pull` refuses once the episode is over (a resource below one unit, or the
/// horizon reached), so a policy run in it never exceeds a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnapsackEnv {
    reward_means: Vec<f64>,
    consumption_means: Vec<f64>,
    budgets: Vec<f64>,
    horizon: u64,
    spent: Vec<f64>,
    t: u64,
    total_reward: f64,
    rng: Rng,
}

impl KnapsackEnv {
    pub fn new(
        reward_means: &[f64],
        consumption_means: &[f64],
        budgets: &[f64],
        horizon: u64,
        seed: Option<u64>,
    ) -> Result<Self> {
        if reward_means.is_empty() {
            return Err(Error::param("reward_means", "expected at least one arm"));
        }
        check_unit("reward_means", reward_means)?;
        check_budgets(budgets)?;
        if consumption_means.len() != reward_means.len() * budgets.len() {
            return Err(Error::shape(
                "consumption_means",
                format!(
                    "expected shape (n_arms, n_resources) = ({}, {})",
                    reward_means.len(),
                    budgets.len()
                ),
            ));
        }
        check_unit("consumption_means", consumption_means)?;
        if horizon == 0 {
            return Err(Error::param("horizon", "must be at least 1, got 0"));
        }
        Ok(KnapsackEnv {
            reward_means: reward_means.to_vec(),
            consumption_means: consumption_means.to_vec(),
            budgets: budgets.to_vec(),
            horizon,
            spent: vec![0.0; budgets.len()],
            t: 0,
            total_reward: 0.0,
            rng: Rng::from_optional_seed(seed),
        })
    }

    pub fn n_arms(&self) -> usize {
        self.reward_means.len()
    }
    pub fn n_resources(&self) -> usize {
        self.budgets.len()
    }
    pub fn reward_means(&self) -> &[f64] {
        &self.reward_means
    }
    pub fn consumption_means(&self) -> &[f64] {
        &self.consumption_means
    }
    pub fn budgets(&self) -> &[f64] {
        &self.budgets
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn spent(&self) -> &[f64] {
        &self.spent
    }
    pub fn n_pulls(&self) -> u64 {
        self.t
    }
    pub fn total_reward(&self) -> f64 {
        self.total_reward
    }

    /// True once a resource has less than one unit left or the horizon is reached.
    pub fn done(&self) -> bool {
        self.t >= self.horizon
            || self
                .budgets
                .iter()
                .zip(&self.spent)
                .any(|(b, s)| b - s < 1.0)
    }

    /// Pull `arm`: its Bernoulli reward and consumption vector.
    pub fn pull(&mut self, arm: i64) -> Result<(f64, Vec<f64>)> {
        let (k, d) = (self.n_arms(), self.n_resources());
        if arm < 0 || arm as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm,
                n_arms: k,
                position: None,
            });
        }
        if self.done() {
            return Err(Error::protocol(
                "arm",
                "the episode is over (a resource is spent or the horizon reached)",
            ));
        }
        let a = arm as usize;
        let reward = f64::from(u8::from(self.rng.uniform() < self.reward_means[a]));
        let consumption: Vec<f64> = (0..d)
            .map(|j| {
                f64::from(u8::from(
                    self.rng.uniform() < self.consumption_means[a * d + j],
                ))
            })
            .collect();
        for (s, c) in self.spent.iter_mut().zip(&consumption) {
            *s += c;
        }
        self.total_reward += reward;
        self.t += 1;
        Ok((reward, consumption))
    }

    /// Runs `policy` until it stops or the episode is over; returns the reward earned.
    pub fn run(&mut self, policy: &mut PrimalDualBwK) -> Result<f64> {
        if policy.n_arms() != self.n_arms() || policy.n_resources() != self.n_resources() {
            return Err(Error::incompatible(format!(
                "policy: it has {} arms and {} resources, the environment {} and {}",
                policy.n_arms(),
                policy.n_resources(),
                self.n_arms(),
                self.n_resources()
            )));
        }
        let start = self.total_reward;
        while !self.done() {
            let Some(arm) = policy.select() else { break };
            let (r, c) = self.pull(arm as i64)?;
            policy.update(arm as i64, r, &c)?;
        }
        Ok(self.total_reward - start)
    }
}

impl Persist for KnapsackEnv {
    const KIND: &'static str = "KnapsackEnv";
    fn check_invariants(&self) -> Result<()> {
        check_unit("reward_means", &self.reward_means)?;
        check_unit("consumption_means", &self.consumption_means)?;
        check_budgets(&self.budgets)?;
        let ok = !self.reward_means.is_empty()
            && self.consumption_means.len() == self.reward_means.len() * self.budgets.len()
            && self.spent.len() == self.budgets.len()
            && self.horizon > 0
            && self.spent.iter().all(|v| v.is_finite() && *v >= 0.0)
            && self.total_reward.is_finite()
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "KnapsackEnv: sizes or totals are inconsistent",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overspends_and_beats_the_reward_greedy() {
        // The best-reward arm burns the budget; the optimum mixes the cheap arms.
        let r = [0.9, 0.5, 0.4];
        let c = [1.0, 0.1, 0.05];
        let (budget, horizon) = (300.0, 3000);
        let mut total_pd = 0.0;
        let mut total_greedy = 0.0;
        for seed in 0..5 {
            let mut env = KnapsackEnv::new(&r, &c, &[budget], horizon, Some(seed)).unwrap();
            let mut p = PrimalDualBwK::new(3, &[budget], horizon, Some(seed)).unwrap();
            total_pd += env.run(&mut p).unwrap();
            assert!(env.spent()[0] <= budget);
            // Greedy on the best known reward: arm 0.
            let mut env = KnapsackEnv::new(&r, &c, &[budget], horizon, Some(seed)).unwrap();
            while !env.done() {
                env.pull(0).unwrap();
            }
            total_greedy += env.total_reward();
        }
        assert!(
            total_pd > 2.0 * total_greedy,
            "{total_pd} vs {total_greedy}"
        );
    }
}
