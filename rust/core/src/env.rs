//! Simulated environments: stochastic (Bernoulli, Gaussian) and an oblivious adversary
//! given as a table of rewards.

use crate::error::{Error, Result};
use crate::policy::RewardDomain;
use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;

#[derive(Clone, Debug, PartialEq)]
pub enum Environment {
    /// Arm i pays 1 with probability means[i], else 0.
    Bernoulli { means: Vec<f64> },
    /// Arm i pays means[i] + sd * N(0, 1).
    Gaussian { means: Vec<f64>, sd: f64 },
    /// Step t pays rewards[t * n_arms + i] for arm i, fixed in advance (oblivious).
    Table {
        rewards: Vec<f64>,
        n_steps: usize,
        n_arms: usize,
    },
}

fn check_means(means: &[f64]) -> Result<()> {
    if means.is_empty() {
        return Err(Error::param("means", "needs at least one arm"));
    }
    if let Some(i) = means.iter().position(|m| !m.is_finite()) {
        return Err(Error::param("means", format!("entry {i} is not finite")));
    }
    Ok(())
}

/// Bernoulli means: at least one, each a probability in [0, 1].
pub(crate) fn check_probabilities(means: &[f64]) -> Result<()> {
    check_means(means)?;
    if let Some(i) = means.iter().position(|m| !(0.0..=1.0).contains(m)) {
        return Err(Error::param(
            "means",
            format!("entry {i} = {} is not a probability in [0, 1]", means[i]),
        ));
    }
    Ok(())
}

impl Environment {
    pub fn bernoulli(means: Vec<f64>) -> Result<Self> {
        check_probabilities(&means)?;
        Ok(Environment::Bernoulli { means })
    }

    pub fn gaussian(means: Vec<f64>, sd: f64) -> Result<Self> {
        check_means(&means)?;
        if !(sd.is_finite() && sd >= 0.0) {
            return Err(Error::param("sd", "must be a finite number >= 0"));
        }
        Ok(Environment::Gaussian { means, sd })
    }

    pub fn table(rewards: Vec<f64>, n_steps: usize, n_arms: usize) -> Result<Self> {
        if n_steps == 0 || n_arms == 0 || rewards.len() != n_steps * n_arms {
            return Err(Error::shape(
                "rewards",
                "expected a non-empty (n_steps, n_arms) table",
            ));
        }
        if let Some(i) = rewards.iter().position(|r| !r.is_finite()) {
            return Err(Error::InvalidReward {
                argument: "rewards".into(),
                value: rewards[i],
                position: Some(i / n_arms),
                expected: "finite table entries".into(),
            });
        }
        Ok(Environment::Table {
            rewards,
            n_steps,
            n_arms,
        })
    }

    pub fn n_arms(&self) -> usize {
        match self {
            Environment::Bernoulli { means } | Environment::Gaussian { means, .. } => means.len(),
            Environment::Table { n_arms, .. } => *n_arms,
        }
    }

    /// The smallest reward domain containing every reward this environment can pay.
    pub fn reward_domain(&self) -> RewardDomain {
        match self {
            Environment::Bernoulli { .. } => RewardDomain::Unit,
            Environment::Gaussian { .. } => RewardDomain::Real,
            Environment::Table { rewards, .. } => {
                if rewards.iter().all(|r| (0.0..=1.0).contains(r)) {
                    RewardDomain::Unit
                } else if rewards.iter().all(|&r| r >= 0.0) {
                    RewardDomain::NonNegative
                } else {
                    RewardDomain::Real
                }
            }
        }
    }

    #[inline]
    pub fn draw(&self, t: usize, arm: usize, rng: &mut Rng) -> f64 {
        match self {
            Environment::Bernoulli { means } => {
                if rng.uniform() < means[arm] {
                    1.0
                } else {
                    0.0
                }
            }
            Environment::Gaussian { means, sd } => {
                let z = normal_rand_distr_05(rng);
                means[arm] + sd * z
            }
            Environment::Table {
                rewards, n_arms, ..
            } => rewards[t * n_arms + arm],
        }
    }

    /// Per-step regret of playing `arm` at step `t` against `best` (the comparator arm):
    /// the gap of means for stochastic environments, the realized difference for tables.
    #[inline]
    pub fn step_regret(&self, t: usize, arm: usize, best: usize) -> f64 {
        match self {
            Environment::Bernoulli { means } | Environment::Gaussian { means, .. } => {
                means[best] - means[arm]
            }
            Environment::Table {
                rewards, n_arms, ..
            } => rewards[t * n_arms + best] - rewards[t * n_arms + arm],
        }
    }

    /// The comparator: the arm with the best mean, or for a table the best fixed arm in
    /// hindsight over the first `horizon` steps.
    pub fn best_arm(&self, horizon: usize) -> usize {
        let totals: Vec<f64> = match self {
            Environment::Bernoulli { means } | Environment::Gaussian { means, .. } => means.clone(),
            Environment::Table {
                rewards, n_arms, ..
            } => {
                let mut tot = vec![0.0; *n_arms];
                for row in rewards.chunks_exact(*n_arms).take(horizon) {
                    for (t, r) in tot.iter_mut().zip(row) {
                        *t += r;
                    }
                }
                tot
            }
        };
        let mut best = 0;
        for (i, &v) in totals.iter().enumerate() {
            if v > totals[best] {
                best = i;
            }
        }
        best
    }

    /// Steps available (None: unlimited).
    pub fn max_horizon(&self) -> Option<usize> {
        match self {
            Environment::Table { n_steps, .. } => Some(*n_steps),
            _ => None,
        }
    }
}
