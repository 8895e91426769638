//! Simulated environments: stochastic (Bernoulli, Gaussian), piecewise-stationary
//! Bernoulli, and an oblivious adversary given as a table of rewards.

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
    /// Bernoulli arms whose means change at given steps: from step change_points[s - 1]
    /// (0-based; segment 0 starts at step 0) arm i pays 1 with probability
    /// means[s * n_arms + i]. Regret is dynamic: against the best arm of the current segment.
    PiecewiseBernoulli {
        means: Vec<f64>,
        change_points: Vec<usize>,
        n_arms: usize,
        /// The best mean of each segment.
        segment_best: Vec<f64>,
    },
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
        return Err(Error::param(
            "means",
            format!("entry {i} is not finite, got {}", means[i]),
        ));
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
            return Err(Error::param_got("sd", "must be a finite number >= 0", sd));
        }
        Ok(Environment::Gaussian { means, sd })
    }

    /// `means` is row-major (segments, n_arms) with one more segment than change points;
    /// change points are strictly increasing steps >= 1.
    pub fn piecewise_bernoulli(
        means: Vec<f64>,
        n_arms: usize,
        change_points: Vec<usize>,
    ) -> Result<Self> {
        let n_segments = change_points.len() + 1;
        if n_arms == 0 || means.len() != n_segments.saturating_mul(n_arms) {
            return Err(Error::shape(
                "means_by_segment",
                format!(
                    "expected a ({n_segments}, n_arms) array with n_arms >= 1 (one row per segment: \
                     one more than the {} change points), got {} values",
                    change_points.len(),
                    means.len()
                ),
            ));
        }
        check_probabilities(&means).map_err(|_| {
            let i = means
                .iter()
                .position(|m| !(0.0..=1.0).contains(m))
                .unwrap_or(0);
            Error::param(
                "means_by_segment",
                format!(
                    "every entry must be a probability in [0, 1], got {} at flat position {i}",
                    means[i]
                ),
            )
        })?;
        let mut previous = 0;
        for (i, &c) in change_points.iter().enumerate() {
            if c <= previous {
                return Err(Error::param(
                    "change_points",
                    format!("must be strictly increasing steps >= 1 (entry {i} is {c})"),
                ));
            }
            previous = c;
        }
        let segment_best = means
            .chunks_exact(n_arms)
            .map(|row| row.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        Ok(Environment::PiecewiseBernoulli {
            means,
            change_points,
            n_arms,
            segment_best,
        })
    }

    /// The segment in force at (0-based) step `t` of a piecewise environment, else 0.
    #[inline]
    pub fn segment(&self, t: usize) -> usize {
        match self {
            Environment::PiecewiseBernoulli { change_points, .. } => {
                change_points.partition_point(|&c| c <= t)
            }
            _ => 0,
        }
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
            Environment::Table { n_arms, .. } | Environment::PiecewiseBernoulli { n_arms, .. } => {
                *n_arms
            }
        }
    }

    /// The smallest reward domain containing every reward this environment can pay.
    pub fn reward_domain(&self) -> RewardDomain {
        match self {
            Environment::Bernoulli { .. } | Environment::PiecewiseBernoulli { .. } => {
                RewardDomain::Unit
            }
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
            Environment::PiecewiseBernoulli { means, n_arms, .. } => {
                if rng.uniform() < means[self.segment(t) * n_arms + arm] {
                    1.0
                } else {
                    0.0
                }
            }
            Environment::Table {
                rewards, n_arms, ..
            } => rewards[t * n_arms + arm],
        }
    }

    /// Per-step regret of playing `arm` at step `t` against `best` (the comparator arm):
    /// the gap of means for stochastic environments, the realized difference for tables.
    /// A piecewise environment ignores `best`: its comparator is the best arm of the
    /// segment in force (dynamic regret).
    #[inline]
    pub fn step_regret(&self, t: usize, arm: usize, best: usize) -> f64 {
        match self {
            Environment::Bernoulli { means } | Environment::Gaussian { means, .. } => {
                means[best] - means[arm]
            }
            Environment::Table {
                rewards, n_arms, ..
            } => rewards[t * n_arms + best] - rewards[t * n_arms + arm],
            Environment::PiecewiseBernoulli {
                means,
                n_arms,
                segment_best,
                ..
            } => {
                let s = self.segment(t);
                segment_best[s] - means[s * n_arms + arm]
            }
        }
    }

    /// The comparator: the arm with the best mean, or for a table the best fixed arm in
    /// hindsight over the first `horizon` steps. For a piecewise environment (whose regret
    /// is dynamic) the arm with the best mean averaged over the first `horizon` steps.
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
            Environment::PiecewiseBernoulli {
                means,
                change_points,
                n_arms,
                ..
            } => {
                let mut tot = vec![0.0; *n_arms];
                let mut start = 0;
                for (s, row) in means.chunks_exact(*n_arms).enumerate() {
                    let end = change_points.get(s).copied().unwrap_or(usize::MAX);
                    let steps = end.min(horizon.max(1)).saturating_sub(start) as f64;
                    for (t, m) in tot.iter_mut().zip(row) {
                        *t += steps * m;
                    }
                    start = end;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piecewise_bernoulli_changes_means_and_charges_dynamic_regret() {
        let means = vec![0.9, 0.1, 0.2, 0.8, 0.5, 0.5];
        let env = Environment::piecewise_bernoulli(means, 2, vec![10, 25]).unwrap();
        assert_eq!(env.n_arms(), 2);
        let segments: Vec<usize> = [0, 9, 10, 24, 25, 1000].map(|t| env.segment(t)).to_vec();
        assert_eq!(segments, vec![0, 0, 1, 1, 2, 2]);
        // The comparator argument is ignored: each step is charged against its segment's
        // best arm.
        assert!((env.step_regret(3, 1, 1) - 0.8).abs() < 1e-15);
        assert!((env.step_regret(12, 0, 0) - 0.6).abs() < 1e-15);
        assert_eq!(env.step_regret(30, 0, 1), 0.0);
        // Best fixed arm by mean over the first `horizon` steps.
        assert_eq!(env.best_arm(10), 0);
        assert_eq!(env.best_arm(100), 1); // 9 + 3 + 37.5 < 1 + 12 + 37.5
        let mut rng = Rng::seed_from_u64(1);
        let n = 20_000;
        let hits = (0..n).filter(|_| env.draw(12, 1, &mut rng) == 1.0).count();
        assert!((hits as f64 / n as f64 - 0.8).abs() < 0.015);
    }

    #[test]
    fn piecewise_bernoulli_refuses_bad_shapes_and_change_points() {
        let ok = || vec![0.5; 4];
        assert!(Environment::piecewise_bernoulli(ok(), 2, vec![5]).is_ok());
        for (means, k, changes) in [
            (ok(), 2, vec![]),
            (ok(), 2, vec![5, 6]),
            (ok(), 0, vec![5]),
            (ok(), 2, vec![0]),
            (vec![0.5, 0.5, 1.5, 0.5], 2, vec![5]),
            (vec![0.5; 6], 2, vec![5, 5]),
        ] {
            assert!(
                Environment::piecewise_bernoulli(means, k, changes.clone()).is_err(),
                "{changes:?}"
            );
        }
    }
}
