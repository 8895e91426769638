//! Replay evaluation (Li, Chu, Langford and Wang 2011): the unbiased offline evaluation of
//! an adaptive policy on logs collected by a uniformly random logger.
//!
//! Rows are taken in order; at each the policy chooses an arm. If it equals the logged
//! action, the row's reward is revealed to the policy (it learns from it, as it would
//! online) and counted; otherwise the row is skipped and the policy's state is unchanged
//! (a randomized policy has still drawn from its generator). With a uniform logger each
//! row is kept with probability 1/K whatever the policy does, so the kept rows are an
//! unbiased sample of the policy's online interaction and their mean reward estimates its
//! online per-step reward.

use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::stats::ArmStats;

#[derive(Clone, Debug, PartialEq)]
pub struct ReplayOutput {
    pub n_rounds: u64,
    /// Rows where the policy chose the logged action (about n_rounds / K).
    pub n_matched: u64,
    /// Mean reward over the matched rows (NaN when none matched).
    pub estimate: f64,
    /// Standard error of that mean, treating matched rewards as independent (NaN below 2).
    pub std_err: f64,
    /// Which rows matched.
    pub matched: Vec<bool>,
}

/// Replays `policy` (which learns from the matched rows) over the logged `actions` and
/// `rewards`. Every row is validated against the policy's arms and reward range first,
/// so an error leaves the policy unchanged.
///
/// ```
/// use regretless_core::ope::replay;
/// use regretless_core::policy::UCB1;
/// let mut p = UCB1::new(2, 1.0, Some(0)).unwrap();
/// let actions: Vec<i64> = (0..1000).map(|i| (i % 2) as i64).collect();
/// let rewards: Vec<f64> = actions.iter().map(|&a| a as f64).collect();
/// let out = replay(&mut p, &actions, &rewards).unwrap();
/// assert!(out.estimate > 0.9);
/// ```
pub fn replay<P: Policy>(policy: &mut P, actions: &[i64], rewards: &[f64]) -> Result<ReplayOutput> {
    if actions.len() != rewards.len() {
        return Err(Error::shape(
            "rewards",
            format!(
                "length {} does not match actions (length {})",
                rewards.len(),
                actions.len()
            ),
        ));
    }
    for (i, (&a, &r)) in actions.iter().zip(rewards).enumerate() {
        policy.check_arm("actions", a, Some(i))?;
        policy.check_reward("rewards", r, Some(i))?;
    }
    // At most one update per row.
    crate::policy::check_room(policy.n_updates(), actions.len() as u64)?;
    let mut matched = vec![false; actions.len()];
    let mut stats = ArmStats::default();
    for ((&a, &r), m) in actions.iter().zip(rewards).zip(matched.iter_mut()) {
        let chosen = policy.select();
        if chosen as i64 == a {
            policy.observe(chosen, r);
            stats.push(r);
            *m = true;
        }
    }
    let (estimate, std_err) = match stats.n {
        0 => (f64::NAN, f64::NAN),
        1 => (stats.mean(), f64::NAN),
        k => (
            stats.mean(),
            (stats.m2.max(0.0) / (k as f64 - 1.0) / k as f64).sqrt(),
        ),
    };
    Ok(ReplayOutput {
        n_rounds: actions.len() as u64,
        n_matched: stats.n,
        estimate,
        std_err,
        matched,
    })
}
