//! Value-based exploration: epsilon-greedy and Boltzmann (softmax) exploration.

use super::list::{self, ListRule};
use super::{draw_among, finite_positive, persist_policy, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::Result;
use crate::stats::{argmax_distribution, argmax_random_ties, sample_discrete};
use serde::{Deserialize, Serialize};

/// Uniform probabilities over the arms never pulled, if there are any: both policies try
/// every arm once before trusting their estimates.
fn untried_distribution(core: &Core) -> Option<Vec<f64>> {
    let untried = core.arms.iter().filter(|a| a.n == 0).count();
    if untried == 0 {
        return None;
    }
    Some(
        core.arms
            .iter()
            .map(|a| if a.n == 0 { 1.0 / untried as f64 } else { 0.0 })
            .collect(),
    )
}

/// Uniform probabilities over the untried arms among `remaining`, if there are any.
fn untried_among(core: &Core, remaining: &[bool]) -> Option<Vec<f64>> {
    let untried = |(a, &r): (&crate::stats::ArmStats, &bool)| r && a.n == 0;
    let n = core
        .arms
        .iter()
        .zip(remaining)
        .filter(|&x| untried(x))
        .count();
    if n == 0 {
        return None;
    }
    Some(
        core.arms
            .iter()
            .zip(remaining)
            .map(|x| if untried(x) { 1.0 / n as f64 } else { 0.0 })
            .collect(),
    )
}

/// [`untried_distribution`] restricted to the eligible arms: uniform over the eligible
/// arms never pulled, if there are any.
fn untried_distribution_among(core: &Core, eligible: &Eligible) -> Option<Vec<f64>> {
    let untried = eligible.indices().filter(|&i| core.arms[i].n == 0).count();
    if untried == 0 {
        return None;
    }
    Some(
        (0..core.arms.len())
            .map(|i| {
                if eligible.contains(i) && core.arms[i].n == 0 {
                    1.0 / untried as f64
                } else {
                    0.0
                }
            })
            .collect(),
    )
}

fn pick_untried(core: &mut Core) -> Option<usize> {
    core.first_untried()?;
    let scores: Vec<f64> = core
        .arms
        .iter()
        .map(|a| if a.n == 0 { 1.0 } else { 0.0 })
        .collect();
    Some(argmax_random_ties(scores.into_iter(), &mut core.rng))
}

/// Epsilon-greedy: with probability epsilon_t an arm uniformly at random, otherwise the arm
/// with the best empirical mean (ties at random). Constant epsilon_t = epsilon by default;
/// with `decay` it is min(epsilon, decay * K / t), the epsilon_n-greedy schedule of Auer,
/// Cesa-Bianchi and Fischer (2002) with decay = c / d^2 (use epsilon = 1 for theirs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsilonGreedy {
    core: Core,
    params: EpsilonGreedyParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsilonGreedyParams {
    pub epsilon: f64,
    pub decay: Option<f64>,
}

impl EpsilonGreedy {
    pub fn new(n_arms: usize, epsilon: f64, decay: Option<f64>, seed: Option<u64>) -> Result<Self> {
        let p = EpsilonGreedy {
            core: Core::new(n_arms, seed)?,
            params: EpsilonGreedyParams { epsilon, decay },
        };
        p.check_extra()?;
        Ok(p)
    }

    /// The exploration probability used by the next decision.
    pub fn current_epsilon(&self) -> f64 {
        match self.params.decay {
            None => self.params.epsilon,
            Some(c) => {
                let k = self.core.arms.len() as f64;
                self.params.epsilon.min(c * k / self.core.t.max(1) as f64)
            }
        }
    }
}

impl Policy for EpsilonGreedy {
    type Params = EpsilonGreedyParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &EpsilonGreedyParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        match self.params.decay {
            Some(d) => format!("epsilon={}, decay={d}", self.params.epsilon),
            None => format!("epsilon={}, decay=None", self.params.epsilon),
        }
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Real
    }
    fn select(&mut self) -> usize {
        if let Some(i) = pick_untried(&mut self.core) {
            return i;
        }
        let eps = self.current_epsilon();
        if eps > 0.0 && self.core.rng.uniform() < eps {
            return self.core.rng.below(self.core.arms.len() as u64) as usize;
        }
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties(self.core.arms.iter().map(|a| a.mean()), &mut rng);
        self.core.rng = rng;
        i
    }
    /// Empirical means (+inf for arms not yet tried).
    fn scores(&self) -> Vec<f64> {
        self.core
            .arms
            .iter()
            .map(|a| if a.n == 0 { f64::INFINITY } else { a.mean() })
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        if let Some(p) = untried_distribution(&self.core) {
            return p;
        }
        let eps = self.current_epsilon();
        let k = self.core.arms.len() as f64;
        argmax_distribution(&self.means())
            .into_iter()
            .map(|g| eps / k + (1.0 - eps) * g)
            .collect()
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// The rule of `select` on the remaining arms: untried ones first, then epsilon
    /// uniform plus 1 - epsilon on the best remaining mean.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        if let Some(p) = untried_among(&self.core, remaining) {
            return p;
        }
        let eps = self.current_epsilon();
        let n = remaining.iter().filter(|&&r| r).count() as f64;
        let means: Vec<f64> = self
            .core
            .arms
            .iter()
            .zip(remaining)
            .map(|(a, &r)| if r { a.mean() } else { f64::NAN })
            .collect();
        argmax_distribution(&means)
            .into_iter()
            .zip(remaining)
            .map(|(g, &r)| if r { eps / n + (1.0 - eps) * g } else { 0.0 })
            .collect()
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        draw_among(self, eligible)
    }
    /// Exploration uniform over the eligible arms (epsilon / |eligible| each), the greedy
    /// share on the best eligible mean; epsilon_t itself does not depend on the mask.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        if let Some(p) = untried_distribution_among(&self.core, eligible) {
            return p;
        }
        let eps = self.current_epsilon();
        let k = eligible.count() as f64;
        eligible
            .argmax_distribution(&self.means())
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                if eligible.contains(i) {
                    eps / k + (1.0 - eps) * g
                } else {
                    0.0
                }
            })
            .collect()
    }
    fn check_extra(&self) -> Result<()> {
        require(
            (0.0..=1.0).contains(&self.params.epsilon),
            "epsilon",
            "must be in [0, 1]",
            self.params.epsilon,
        )?;
        if let Some(d) = self.params.decay {
            finite_positive(d, "decay")?;
        }
        Ok(())
    }
}
persist_policy!(EpsilonGreedy, "EpsilonGreedy");

/// Boltzmann exploration: after trying each arm once, play arm i with probability
/// proportional to exp(mean_i / temperature) (computed in log space).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    core: Core,
    params: SoftmaxParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxParams {
    pub temperature: f64,
}

impl Softmax {
    pub fn new(n_arms: usize, temperature: f64, seed: Option<u64>) -> Result<Self> {
        let p = Softmax {
            core: Core::new(n_arms, seed)?,
            params: SoftmaxParams { temperature },
        };
        p.check_extra()?;
        Ok(p)
    }

    /// exp((mean_i - max mean) / tau), normalized. Subtracting the means before dividing
    /// keeps every exponent finite and <= 0 with the best arms at exactly 0, whatever the
    /// temperature: at 1e-308 the best arms (ties included) share the mass, at 1e308 the
    /// distribution is uniform. (Dividing first overflows to inf - inf = NaN.)
    fn boltzmann(&self) -> Vec<f64> {
        self.boltzmann_over(|_| true)
    }

    /// The Boltzmann distribution over the eligible arms (0 elsewhere), from their means
    /// alone: [`Softmax::boltzmann`] restricted and renormalized, computed without underflow.
    fn boltzmann_among(&self, eligible: &Eligible) -> Vec<f64> {
        self.boltzmann_over(|i| eligible.contains(i))
    }

    /// The Boltzmann distribution over the arms `keep` accepts (at least one).
    #[inline(always)]
    fn boltzmann_over(&self, keep: impl Fn(usize) -> bool) -> Vec<f64> {
        let tau = self.params.temperature;
        let arms = &self.core.arms;
        let best = (0..arms.len())
            .filter(|&i| keep(i))
            .map(|i| arms[i].mean())
            .fold(f64::NEG_INFINITY, f64::max);
        let mut w: Vec<f64> = (0..arms.len())
            .map(|i| {
                if keep(i) {
                    ((arms[i].mean() - best) / tau).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let s: f64 = w.iter().sum();
        for x in &mut w {
            *x /= s;
        }
        w
    }
}

impl Policy for Softmax {
    type Params = SoftmaxParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &SoftmaxParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("temperature={}", self.params.temperature)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Real
    }
    fn select(&mut self) -> usize {
        if let Some(i) = pick_untried(&mut self.core) {
            return i;
        }
        let p = self.boltzmann();
        sample_discrete(&p, &mut self.core.rng)
    }
    /// Empirical means divided by the temperature (the logits), +inf for untried arms.
    fn scores(&self) -> Vec<f64> {
        self.core
            .arms
            .iter()
            .map(|a| {
                if a.n == 0 {
                    f64::INFINITY
                } else {
                    a.mean() / self.params.temperature
                }
            })
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        untried_distribution(&self.core).unwrap_or_else(|| self.boltzmann())
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// Untried remaining arms first, then Boltzmann over the remaining arms: a
    /// Plackett-Luce list with weights exp(mean / temperature).
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        if let Some(p) = untried_among(&self.core, remaining) {
            return p;
        }
        // Relative to the best remaining mean, so the next slot's weights never all
        // underflow (as they would relative to an arm already listed).
        let tau = self.params.temperature;
        let best = self
            .core
            .arms
            .iter()
            .zip(remaining)
            .filter(|(_, &r)| r)
            .map(|(a, _)| a.mean())
            .fold(f64::NEG_INFINITY, f64::max);
        let w = self
            .core
            .arms
            .iter()
            .zip(remaining)
            .map(|(a, &r)| {
                if r {
                    ((a.mean() - best) / tau).exp()
                } else {
                    0.0
                }
            })
            .collect();
        list::restrict(w, remaining)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        draw_among(self, eligible)
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        untried_distribution_among(&self.core, eligible)
            .unwrap_or_else(|| self.boltzmann_among(eligible))
    }
    fn check_extra(&self) -> Result<()> {
        finite_positive(self.params.temperature, "temperature")
    }
}
persist_policy!(Softmax, "Softmax");
