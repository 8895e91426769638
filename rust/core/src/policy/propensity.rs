//! Selection probabilities recorded per decision, for the importance-weighted policies
//! (EXP3, EXP3-IX, Tsallis-INF): an update divides by the probability its arm was drawn
//! with, which differs from the current one once other rewards arrive in between.

use super::Policy;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Unanswered decisions kept per arm; beyond it the oldest is forgotten (its update, if it
/// ever comes, then uses the next recorded or the current probability).
pub const MAX_PENDING_PER_ARM: usize = 4096;

/// The probabilities of decisions not yet answered by an update, per arm, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    queues: Vec<VecDeque<f64>>,
}

impl Pending {
    pub(crate) fn new(n_arms: usize) -> Self {
        Pending {
            queues: vec![VecDeque::new(); n_arms],
        }
    }

    pub(crate) fn record(&mut self, arm: usize, p: f64) {
        let q = &mut self.queues[arm];
        if q.len() == MAX_PENDING_PER_ARM {
            q.pop_front();
        }
        q.push_back(p);
    }

    /// The probability of `arm`'s oldest unanswered decision, now answered.
    pub(crate) fn answer(&mut self, arm: usize) -> Option<f64> {
        self.queues[arm].pop_front()
    }

    /// Number of unanswered decisions per arm.
    pub fn counts(&self) -> Vec<usize> {
        self.queues.iter().map(VecDeque::len).collect()
    }

    /// Whether no decision waits for its update.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// A new arm, with no decision waiting.
    pub(crate) fn add_arm(&mut self) {
        self.queues.push(VecDeque::new());
    }

    /// Forgets arm `i`'s decisions; the arms after it shift down.
    pub(crate) fn remove_arm(&mut self, i: usize) {
        self.queues.remove(i);
    }

    pub(crate) fn check(&self, n_arms: usize) -> Result<()> {
        let ok = self.queues.len() == n_arms
            && self
                .queues
                .iter()
                .all(|q| q.len() <= MAX_PENDING_PER_ARM && q.iter().all(|&p| p > 0.0 && p <= 1.0));
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "recorded selection probabilities are inconsistent with the arms",
            ))
        }
    }
}

/// A propensity given by the caller: the probability the arm was drawn with, in (0, 1].
pub(crate) fn check_propensity(argument: &str, p: f64, position: Option<usize>) -> Result<()> {
    if p > 0.0 && p <= 1.0 {
        return Ok(());
    }
    let at = position.map_or(String::new(), |i| format!(" at position {i}"));
    Err(Error::param(
        argument,
        format!(
            "must be a probability in (0, 1]{at}, got {}",
            crate::error::show(p)
        ),
    ))
}

/// Validates `update_batch(arms, rewards, propensities)` before anything is recorded.
pub(crate) fn check_propensity_batch<P: Policy>(
    policy: &P,
    arms: &[i64],
    rewards: &[f64],
    propensities: &[f64],
) -> Result<()> {
    for (name, len) in [
        ("rewards", rewards.len()),
        ("propensities", propensities.len()),
    ] {
        if len != arms.len() {
            return Err(Error::shape(
                name,
                format!("length {len} does not match arms (length {})", arms.len()),
            ));
        }
    }
    for (i, ((&a, &r), &p)) in arms.iter().zip(rewards).zip(propensities).enumerate() {
        policy.check_arm("arms", a, Some(i))?;
        policy.check_reward("rewards", r, Some(i))?;
        check_propensity("propensities", p, Some(i))?;
    }
    super::check_room(policy.core().t, arms.len() as u64)
}

/// A policy that learns from importance-weighted rewards and records the probability of
/// each decision (EXP3, EXP3-IX, Tsallis-INF, batched EXP3, the shrinking dartboard): the
/// updates with caller-given propensities, written once.
pub trait RecordsPropensities: Policy {
    /// The decisions still waiting for their update.
    fn pending_mut(&mut self) -> &mut Pending;

    /// Learns `reward` of `arm`, drawn with probability `p` (both already validated).
    fn learn(&mut self, arm: usize, reward: f64, p: f64);

    /// `update` of a decision whose arm was drawn with probability `propensity` (it answers
    /// the arm's oldest unanswered decision, if any, in place of its recorded probability).
    fn update_with_propensity(&mut self, arm: i64, reward: f64, propensity: f64) -> Result<()> {
        let a = self.check_arm("arm", arm, None)?;
        self.check_reward("reward", reward, None)?;
        check_propensity("propensity", propensity, None)?;
        super::check_room(self.core().t, 1)?;
        self.pending_mut().answer(a);
        self.learn(a, reward, propensity);
        Ok(())
    }

    /// `update_batch` with the probability each arm was drawn with; validates every row
    /// before recording any.
    fn update_batch_with_propensities(
        &mut self,
        arms: &[i64],
        rewards: &[f64],
        propensities: &[f64],
    ) -> Result<()> {
        check_propensity_batch(self, arms, rewards, propensities)?;
        for ((&a, &r), &p) in arms.iter().zip(rewards).zip(propensities) {
            self.pending_mut().answer(a as usize);
            self.learn(a as usize, r, p);
        }
        Ok(())
    }
}
