//! Policies for drifting rewards: they forget old rewards, by a sliding window
//! (`SlidingWindowUCB`) or by geometric discounting (`DiscountedUCB`,
//! `DiscountedThompsonSampling`), so that after a change the new best arm wins within about
//! a window (or 1 / (1 - gamma) steps).
//!
//! The shared [`Core`] keeps every arm's lifetime statistics (so `counts` and `means` mean
//! what they mean for every policy); the forgetting statistics are extra state. None of them
//! merges: a window or a discount weighs each reward by its position in one stream, which
//! two separate streams do not define.

use super::list::ListRule;
use super::thompson::{beta as beta_draw, monte_carlo_probabilities};
use super::{finite_positive, persist_policy, require, sample_among, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::stats::{argmax_random_ties, RandomTieArgmax};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

const NOT_MERGEABLE: &str = "its statistics weigh each reward by its position in one stream of \
    rewards (a window or a discount), which two separate streams do not define";

/// Garivier and Moulines' window for horizon T: floor(4 sqrt(T ln T)), at least 1.
pub fn default_window(horizon: u64) -> u64 {
    let t = horizon as f64;
    ((4.0 * (t * t.ln()).sqrt()).floor() as u64).max(1)
}

/// The common discount for horizon T: 1 - 1 / (4 sqrt(T)).
pub fn default_gamma(horizon: u64) -> f64 {
    1.0 - 1.0 / (4.0 * (horizon as f64).sqrt())
}

fn check_xi(xi: f64) -> Result<()> {
    finite_positive(xi, "xi")
}

fn check_horizon(horizon: Option<u64>) -> Result<()> {
    require(
        horizon != Some(0),
        "horizon",
        "must be >= 1 or None",
        horizon,
    )
}

fn check_gamma(gamma: f64) -> Result<()> {
    require(
        gamma > 0.0 && gamma < 1.0,
        "gamma",
        "must be a number in (0, 1)",
        gamma,
    )
}

/// Sliding-window UCB (Garivier and Moulines 2011): the index of arm i is
/// X̄_i + B sqrt(xi ln min(t, window) / N_i), with N_i and X̄_i the count and mean of arm
/// i's rewards among the last `window` rewards, B = 1 (rewards in [0, 1]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlidingWindowUCB {
    core: Core,
    params: SlidingWindowParams,
    /// The last (at most `window`) (arm, reward) pairs, oldest first.
    recent: VecDeque<(usize, f64)>,
    /// Per arm: count and reward sum over `recent`.
    window_counts: Vec<u64>,
    window_sums: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlidingWindowParams {
    pub window: u64,
    pub xi: f64,
    pub horizon: Option<u64>,
}

impl SlidingWindowUCB {
    /// `window` defaults to floor(4 sqrt(T ln T)) for `horizon` T; one of them is required.
    pub fn new(
        n_arms: usize,
        window: Option<u64>,
        xi: f64,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_horizon(horizon)?;
        let window = match (window, horizon) {
            (Some(w), _) => w,
            (None, Some(h)) => default_window(h),
            (None, None) => {
                return Err(Error::param(
                    "window",
                    "is required when no horizon is given (the default is floor(4 sqrt(T ln T)) for horizon T)",
                ))
            }
        };
        let core = Core::new(n_arms, seed)?;
        let p = SlidingWindowUCB {
            params: SlidingWindowParams {
                window,
                xi,
                horizon,
            },
            recent: VecDeque::new(),
            window_counts: vec![0; core.arms.len()],
            window_sums: vec![0.0; core.arms.len()],
            core,
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn window(&self) -> u64 {
        self.params.window
    }

    /// Per arm: the number of its rewards among the last `window`.
    pub fn window_counts(&self) -> &[u64] {
        &self.window_counts
    }

    /// Per arm: the mean of its rewards among the last `window` (0 where there are none).
    pub fn window_means(&self) -> Vec<f64> {
        self.window_counts
            .iter()
            .zip(&self.window_sums)
            .map(|(&n, &s)| if n == 0 { 0.0 } else { s / n as f64 })
            .collect()
    }

    fn exploration(&self) -> f64 {
        let m = self.core.t.min(self.params.window);
        let ln = if m <= 1 { 0.0 } else { (m as f64).ln() };
        self.params.xi * ln
    }

    #[inline]
    fn index(&self, i: usize, exploration: f64) -> f64 {
        let n = self.window_counts[i];
        if n == 0 {
            return f64::INFINITY;
        }
        let n = n as f64;
        self.window_sums[i] / n + (exploration / n).sqrt()
    }
}

impl Policy for SlidingWindowUCB {
    type Params = SlidingWindowParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &SlidingWindowParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("window={}, xi={}", self.params.window, self.params.xi)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let e = self.exploration();
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties((0..self.n_arms()).map(|i| self.index(i, e)), &mut rng);
        self.core.rng = rng;
        i
    }
    fn scores(&self) -> Vec<f64> {
        let e = self.exploration();
        (0..self.n_arms()).map(|i| self.index(i, e)).collect()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        if self.recent.len() as u64 == self.params.window {
            if let Some((old, r)) = self.recent.pop_front() {
                self.window_counts[old] -= 1;
                // An arm that leaves the window entirely restarts from an exact zero, so
                // rounding cannot accumulate over a long stream.
                self.window_sums[old] = if self.window_counts[old] == 0 {
                    0.0
                } else {
                    self.window_sums[old] - r
                };
            }
        }
        self.recent.push_back((arm, reward));
        self.window_counts[arm] += 1;
        self.window_sums[arm] += reward;
    }
    fn on_add_arm(&mut self) {
        self.window_counts.push(0);
        self.window_sums.push(0.0);
    }
    /// Forgets the arm's rewards in the window too; later arms shift down.
    fn on_remove_arm(&mut self, i: usize) {
        self.recent.retain(|&(a, _)| a != i);
        for (a, _) in self.recent.iter_mut() {
            if *a > i {
                *a -= 1;
            }
        }
        self.window_counts.remove(i);
        self.window_sums.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some(NOT_MERGEABLE)
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.window >= 1,
            "window",
            "must be >= 1",
            self.params.window,
        )?;
        check_xi(self.params.xi)?;
        check_horizon(self.params.horizon)?;
        let k = self.core.arms.len();
        if self.window_counts.len() != k || self.window_sums.len() != k {
            return Err(Error::state(
                "window statistics do not have one entry per arm",
            ));
        }
        if self.recent.len() as u64 > self.params.window {
            return Err(Error::state(
                "the window holds more rewards than its length",
            ));
        }
        let mut counts = vec![0u64; k];
        let mut sums = vec![0.0; k];
        for &(a, r) in &self.recent {
            if a >= k || !RewardDomain::Unit.contains(r) {
                return Err(Error::state(
                    "the window holds an invalid (arm, reward) pair",
                ));
            }
            counts[a] += 1;
            sums[a] += r;
        }
        let consistent = counts == self.window_counts
            && sums
                .iter()
                .zip(&self.window_sums)
                .all(|(s, w)| (s - w).abs() <= 1e-6 * (1.0 + s.abs()));
        if !consistent {
            return Err(Error::state(
                "window statistics disagree with the rewards in the window",
            ));
        }
        Ok(())
    }
}
persist_policy!(SlidingWindowUCB, "SlidingWindowUCB");

/// Rescale once the global factor falls below this: far from underflow for the stored
/// values (which grow like 1 / scale), and rare (every ln(1e-100) / ln(gamma) steps).
const RENORMALIZE_BELOW: f64 = 1e-100;

/// Per-arm discounted weights W_i = sum_s gamma^(t - s) 1{arm_s = i} and reward sums
/// S_i = sum_s gamma^(t - s) r_s 1{arm_s = i}, kept lazily: the true values are
/// `scale * weights[i]` and `scale * sums[i]`, so that discounting every arm is one
/// multiplication of `scale` and an update is O(1). When `scale` gets small, every entry is
/// multiplied by it and it restarts at 1 (O(K), amortized over many steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discounted {
    scale: f64,
    weights: Vec<f64>,
    sums: Vec<f64>,
}

impl Discounted {
    fn new(n_arms: usize) -> Self {
        Discounted {
            scale: 1.0,
            weights: vec![0.0; n_arms],
            sums: vec![0.0; n_arms],
        }
    }

    /// One step: every arm decays by `gamma`, then `arm` gains weight 1 and reward `reward`.
    #[inline]
    fn push(&mut self, gamma: f64, arm: usize, reward: f64) {
        self.scale *= gamma;
        if self.scale < RENORMALIZE_BELOW {
            for (w, s) in self.weights.iter_mut().zip(&mut self.sums) {
                *w *= self.scale;
                *s *= self.scale;
            }
            self.scale = 1.0;
        }
        let unit = 1.0 / self.scale;
        self.weights[arm] += unit;
        self.sums[arm] += reward * unit;
    }

    /// Discounted weight of arm i.
    #[inline]
    pub fn weight(&self, i: usize) -> f64 {
        self.scale * self.weights[i]
    }

    /// Discounted reward sum of arm i.
    #[inline]
    pub fn sum(&self, i: usize) -> f64 {
        self.scale * self.sums[i]
    }

    /// Discounted mean of arm i (the scale cancels), None for an arm with no weight.
    #[inline]
    pub fn mean(&self, i: usize) -> Option<f64> {
        (self.weights[i] > 0.0).then(|| self.sums[i] / self.weights[i])
    }

    /// Total discounted weight over the arms.
    pub fn total(&self) -> f64 {
        self.scale * self.weights.iter().sum::<f64>()
    }

    fn check(&self, k: usize) -> Result<()> {
        if self.weights.len() != k || self.sums.len() != k {
            return Err(Error::state(
                "discounted statistics do not have one entry per arm",
            ));
        }
        if !(self.scale > 0.0 && self.scale <= 1.0) {
            return Err(Error::state("discount scale is not in (0, 1]"));
        }
        let ok = self.weights.iter().zip(&self.sums).all(|(&w, &s)| {
            w.is_finite() && s.is_finite() && w >= 0.0 && s >= 0.0 && s <= w * (1.0 + 1e-9)
        });
        if !ok {
            return Err(Error::state(
                "discounted statistics are not finite or not 0 <= sum <= weight",
            ));
        }
        Ok(())
    }
}

/// Discounted UCB (Kocsis and Szepesvári 2006; Garivier and Moulines 2011): the index of
/// arm i is X̄_i + 2B sqrt(xi ln n_t / N_i) with N_i the discounted count, X̄_i the
/// discounted mean and n_t the total discounted count, B = 1 (rewards in [0, 1]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscountedUCB {
    core: Core,
    params: DiscountedUCBParams,
    discounted: Discounted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscountedUCBParams {
    pub gamma: f64,
    pub xi: f64,
    pub horizon: Option<u64>,
}

impl DiscountedUCB {
    /// `gamma` defaults to 1 - 1 / (4 sqrt(T)) for `horizon` T; one of them is required.
    pub fn new(
        n_arms: usize,
        gamma: Option<f64>,
        xi: f64,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_horizon(horizon)?;
        let gamma = match (gamma, horizon) {
            (Some(g), _) => g,
            (None, Some(h)) => default_gamma(h),
            (None, None) => {
                return Err(Error::param(
                    "gamma",
                    "is required when no horizon is given (the default is 1 - 1 / (4 sqrt(T)) for horizon T)",
                ))
            }
        };
        let core = Core::new(n_arms, seed)?;
        let p = DiscountedUCB {
            params: DiscountedUCBParams { gamma, xi, horizon },
            discounted: Discounted::new(core.arms.len()),
            core,
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn gamma(&self) -> f64 {
        self.params.gamma
    }

    /// The discounted statistics (weights, sums, total).
    pub fn discounted(&self) -> &Discounted {
        &self.discounted
    }

    fn exploration(&self) -> f64 {
        4.0 * self.params.xi * self.discounted.total().ln().max(0.0)
    }

    #[inline]
    fn index(&self, i: usize, exploration: f64) -> f64 {
        match self.discounted.mean(i) {
            None => f64::INFINITY,
            Some(mean) => mean + (exploration / self.discounted.weight(i)).sqrt(),
        }
    }
}

impl Policy for DiscountedUCB {
    type Params = DiscountedUCBParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &DiscountedUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("gamma={}, xi={}", self.params.gamma, self.params.xi)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let e = self.exploration();
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties((0..self.n_arms()).map(|i| self.index(i, e)), &mut rng);
        self.core.rng = rng;
        i
    }
    fn scores(&self) -> Vec<f64> {
        let e = self.exploration();
        (0..self.n_arms()).map(|i| self.index(i, e)).collect()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.discounted.push(self.params.gamma, arm, reward);
    }
    fn on_add_arm(&mut self) {
        self.discounted.weights.push(0.0);
        self.discounted.sums.push(0.0);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.discounted.weights.remove(i);
        self.discounted.sums.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some(NOT_MERGEABLE)
    }
    fn check_extra(&self) -> Result<()> {
        check_gamma(self.params.gamma)?;
        check_xi(self.params.xi)?;
        check_horizon(self.params.horizon)?;
        self.discounted.check(self.core.arms.len())
    }
}
persist_policy!(DiscountedUCB, "DiscountedUCB");

/// Discounted Thompson sampling (Raj and Kalyani 2017): arm i's posterior is
/// Beta(prior_alpha + S_i, prior_beta + F_i) with S_i and F_i its discounted successes and
/// failures (every step multiplies all of them by gamma, then the played arm gains r and
/// 1 - r). Rewards in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscountedThompsonSampling {
    core: Core,
    params: DiscountedThompsonParams,
    discounted: Discounted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscountedThompsonParams {
    pub gamma: f64,
    pub prior_alpha: f64,
    pub prior_beta: f64,
}

impl DiscountedThompsonSampling {
    pub fn new(
        n_arms: usize,
        gamma: f64,
        prior_alpha: f64,
        prior_beta: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let core = Core::new(n_arms, seed)?;
        let p = DiscountedThompsonSampling {
            params: DiscountedThompsonParams {
                gamma,
                prior_alpha,
                prior_beta,
            },
            discounted: Discounted::new(core.arms.len()),
            core,
        };
        p.check_extra()?;
        Ok(p)
    }

    /// Posterior (alpha, beta) of arm i.
    pub fn posterior(&self, i: usize) -> (f64, f64) {
        let w = self.discounted.weight(i);
        let s = self.discounted.sum(i).clamp(0.0, w);
        (
            self.params.prior_alpha + s,
            self.params.prior_beta + (w - s),
        )
    }

    fn monte_carlo(&self, eligible: Option<&Eligible>) -> Vec<f64> {
        let post: Vec<(f64, f64)> = (0..self.n_arms()).map(|i| self.posterior(i)).collect();
        monte_carlo_probabilities(self.n_arms(), &self.core.rng, eligible, |i, r| {
            beta_draw(post[i].0, post[i].1, r)
        })
    }
}

impl Policy for DiscountedThompsonSampling {
    type Params = DiscountedThompsonParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &DiscountedThompsonParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "gamma={}, prior_alpha={}, prior_beta={}",
            p.gamma, p.prior_alpha, p.prior_beta
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let mut rng = self.core.rng.clone();
        let mut argmax = RandomTieArgmax::new();
        for i in 0..self.n_arms() {
            let (a, b) = self.posterior(i);
            let draw = beta_draw(a, b, &mut rng);
            argmax.push(i, draw, &mut rng);
        }
        self.core.rng = rng;
        argmax.finish()
    }
    /// Posterior means.
    fn scores(&self) -> Vec<f64> {
        (0..self.n_arms())
            .map(|i| {
                let (a, b) = self.posterior(i);
                a / (a + b)
            })
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        self.monte_carlo(None)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let mut rng = self.core.rng.clone();
        let i = sample_among(&mut rng, eligible, |i, r| {
            let (a, b) = self.posterior(i);
            beta_draw(a, b, r)
        });
        self.core.rng = rng;
        i
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        self.monte_carlo(Some(eligible))
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sampled
    }
    fn draw_keys(&self, rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.n_arms()).map(|i| {
            let (a, b) = self.posterior(i);
            beta_draw(a, b, rng)
        }));
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.discounted.push(self.params.gamma, arm, reward);
    }
    fn on_add_arm(&mut self) {
        self.discounted.weights.push(0.0);
        self.discounted.sums.push(0.0);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.discounted.weights.remove(i);
        self.discounted.sums.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some(NOT_MERGEABLE)
    }
    fn check_extra(&self) -> Result<()> {
        check_gamma(self.params.gamma)?;
        finite_positive(self.params.prior_alpha, "prior_alpha")?;
        finite_positive(self.params.prior_beta, "prior_beta")?;
        self.discounted.check(self.core.arms.len())
    }
}
persist_policy!(DiscountedThompsonSampling, "DiscountedThompsonSampling");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::state;

    fn stream(n: usize, k: usize, seed: u64) -> Vec<(usize, f64)> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let arm = rng.below(k as u64) as usize;
                let r = if rng.uniform() < 0.3 + 0.2 * arm as f64 {
                    1.0
                } else {
                    rng.uniform() * 0.5
                };
                (arm, r)
            })
            .collect()
    }

    #[test]
    fn default_window_and_gamma_follow_the_formulas() {
        assert_eq!(default_window(10_000), 1213); // 4 sqrt(1e4 ln 1e4) = 1213.9
        assert_eq!(default_window(1), 1);
        assert!((default_gamma(10_000) - 0.9975).abs() < 1e-15);
        let p = SlidingWindowUCB::new(3, None, 0.6, Some(10_000), None).unwrap();
        assert_eq!(p.window(), 1213);
        let err = SlidingWindowUCB::new(3, None, 0.6, None, None).unwrap_err();
        assert!(err.to_string().contains("window"), "{err}");
        let err = DiscountedUCB::new(3, None, 0.6, None, None).unwrap_err();
        assert!(err.to_string().contains("gamma"), "{err}");
        assert!(DiscountedUCB::new(3, Some(1.0), 0.6, None, None).is_err());
        assert!(DiscountedUCB::new(3, Some(0.0), 0.6, None, None).is_err());
        assert!(SlidingWindowUCB::new(3, Some(0), 0.6, None, None).is_err());
        assert!(DiscountedThompsonSampling::new(3, 1.5, 1.0, 1.0, None).is_err());
    }

    #[test]
    fn sliding_window_index_equals_a_recomputation_over_the_last_window() {
        let (k, window, xi) = (4, 37u64, 0.6);
        let mut p = SlidingWindowUCB::new(k, Some(window), xi, None, Some(1)).unwrap();
        let data = stream(500, k, 2);
        for (t, &(a, r)) in data.iter().enumerate() {
            p.update(a as i64, r).unwrap();
            let seen = &data[..=t];
            let last = &seen[seen.len().saturating_sub(window as usize)..];
            let m = ((t + 1) as u64).min(window) as f64;
            let scores = p.scores();
            for (i, &score) in scores.iter().enumerate() {
                let rewards: Vec<f64> = last.iter().filter(|x| x.0 == i).map(|x| x.1).collect();
                if rewards.is_empty() {
                    assert_eq!(score, f64::INFINITY);
                    continue;
                }
                let n = rewards.len() as f64;
                let mean = rewards.iter().sum::<f64>() / n;
                let expected = mean + (xi * m.ln() / n).sqrt();
                assert!((score - expected).abs() < 1e-12, "t={t} arm={i}");
            }
        }
        // Lifetime statistics are kept apart from the window's.
        assert_eq!(p.counts().iter().sum::<u64>(), 500);
        assert_eq!(p.window_counts().iter().sum::<u64>(), window);
    }

    #[test]
    fn sliding_window_remove_arm_forgets_it_and_shifts_the_rest() {
        let mut p = SlidingWindowUCB::new(3, Some(10), 0.6, None, Some(1)).unwrap();
        p.update_batch(&[0, 1, 2, 2, 1], &[1.0, 0.0, 0.5, 1.0, 1.0])
            .unwrap();
        p.remove_arm(1).unwrap();
        assert_eq!(p.window_counts(), &[1, 2]);
        assert_eq!(p.window_means(), vec![1.0, 0.75]);
        p.check_policy().unwrap();
        assert_eq!(p.add_arm(), 2);
        assert_eq!(p.scores()[2], f64::INFINITY);
    }

    /// The O(K)-per-step recursion the lazy form stands for.
    struct NaiveDiscounted {
        weights: Vec<f64>,
        sums: Vec<f64>,
    }

    impl NaiveDiscounted {
        fn push(&mut self, gamma: f64, arm: usize, r: f64) {
            for (w, s) in self.weights.iter_mut().zip(&mut self.sums) {
                *w *= gamma;
                *s *= gamma;
            }
            self.weights[arm] += 1.0;
            self.sums[arm] += r;
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn discounted_ucb_equals_the_naive_recursion() {
        // gamma = 0.99 renormalizes every ~23,000 steps: 10^5 steps cross it four times.
        let (k, gamma, xi) = (3, 0.99, 0.6);
        let mut p = DiscountedUCB::new(k, Some(gamma), xi, None, Some(1)).unwrap();
        let mut naive = NaiveDiscounted {
            weights: vec![0.0; k],
            sums: vec![0.0; k],
        };
        for (t, &(a, r)) in stream(100_000, k, 3).iter().enumerate() {
            p.update(a as i64, r).unwrap();
            naive.push(gamma, a, r);
            if t % 97 == 0 || t > 99_990 {
                let n_t: f64 = naive.weights.iter().sum();
                let scores = p.scores();
                for (i, &score) in scores.iter().enumerate() {
                    let (w, s) = (naive.weights[i], naive.sums[i]);
                    assert!(close(p.discounted().weight(i), w), "t={t}");
                    assert!(close(p.discounted().sum(i), s), "t={t}");
                    let expected = if w == 0.0 {
                        f64::INFINITY
                    } else {
                        s / w + 2.0 * (xi * n_t.ln().max(0.0) / w).sqrt()
                    };
                    if expected.is_infinite() {
                        assert_eq!(score, expected);
                        continue;
                    }
                    assert!(close(score, expected), "t={t}: {score} {expected}");
                }
            }
        }
    }

    #[test]
    fn discounted_statistics_stay_finite_over_ten_million_steps() {
        let mut d = Discounted::new(3);
        let mut rng = Rng::seed_from_u64(5);
        let gamma = 0.9;
        for t in 0..10_000_000u64 {
            // Arm 2 is played only at the start: its weight underflows to zero, not NaN.
            let arm = if t < 10 { 2 } else { (t % 2) as usize };
            d.push(gamma, arm, rng.uniform());
        }
        d.check(3).unwrap();
        // Steady state of alternating arms: weights 1 / (1 - gamma^2) and gamma times it.
        let hi = 1.0 / (1.0 - gamma * gamma);
        let (w0, w1) = (d.weight(0), d.weight(1));
        assert!(close(w0.max(w1), hi) && close(w0.min(w1), gamma * hi));
        assert!(close(d.total(), 1.0 / (1.0 - gamma)));
        assert_eq!(d.weight(2), 0.0);
        assert_eq!(d.mean(2), None);
    }

    #[test]
    fn discounted_thompson_posterior_follows_the_discounted_counts() {
        let (k, gamma) = (3, 0.9);
        let mut p = DiscountedThompsonSampling::new(k, gamma, 1.0, 2.0, Some(4)).unwrap();
        let mut naive = NaiveDiscounted {
            weights: vec![0.0; k],
            sums: vec![0.0; k],
        };
        for &(a, r) in &stream(5_000, k, 6) {
            p.update(a as i64, r).unwrap();
            naive.push(gamma, a, r);
        }
        for i in 0..k {
            let (a, b) = p.posterior(i);
            assert!(close(a, 1.0 + naive.sums[i]));
            assert!(close(b, 2.0 + naive.weights[i] - naive.sums[i]));
        }
        // Monte Carlo probabilities sum to one and follow the posterior's ranking.
        let probs = p.probabilities();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn discounted_thompson_forgets_an_old_best_arm() {
        let mut p = DiscountedThompsonSampling::new(2, 0.95, 1.0, 1.0, Some(7)).unwrap();
        for _ in 0..500 {
            p.update(0, 1.0).unwrap();
            p.update(1, 0.0).unwrap();
        }
        for _ in 0..200 {
            p.update(0, 0.0).unwrap();
            p.update(1, 1.0).unwrap();
        }
        // Plain Thompson sampling would still favour arm 0 (500 vs 200 successes).
        let picks = (0..200).filter(|_| p.select() == 1).count();
        assert!(picks > 190, "{picks}");
    }

    #[test]
    fn none_of_them_merges_and_all_round_trip() {
        let mut sw = SlidingWindowUCB::new(3, Some(5), 0.6, None, Some(1)).unwrap();
        let mut du = DiscountedUCB::new(3, Some(0.9), 0.6, None, Some(1)).unwrap();
        let mut dt = DiscountedThompsonSampling::new(3, 0.9, 1.0, 1.0, Some(1)).unwrap();
        let (arms, rewards) = (&[0, 1, 2, 1, 0, 0, 2], &[1.0, 0.0, 0.5, 1.0, 0.2, 0.3, 0.9]);
        sw.update_batch(arms, rewards).unwrap();
        du.update_batch(arms, rewards).unwrap();
        dt.update_batch(arms, rewards).unwrap();
        let err = sw.clone().merge(&sw).unwrap_err().to_string();
        assert!(err.contains("does not support merge"), "{err}");
        assert!(du.clone().merge(&du).is_err());
        assert!(dt.clone().merge(&dt).is_err());
        let back: SlidingWindowUCB = state::decode(&state::encode(&sw).unwrap()).unwrap();
        assert_eq!(back, sw);
        let back: DiscountedUCB = state::decode(&state::encode(&du).unwrap()).unwrap();
        assert_eq!(back, du);
        let back: DiscountedThompsonSampling = state::decode(&state::encode(&dt).unwrap()).unwrap();
        assert_eq!(back, dt);
    }
}
