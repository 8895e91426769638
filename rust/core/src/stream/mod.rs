//! Single-pass streaming multi-armed bandits (Wang, ICML 2023, "Tight regret bounds for
//! single-pass streaming multi-armed bandits", and the algorithms it builds on).
//!
//! `K` arms arrive one at a time. A policy can pull only the arms it holds, holds a handful
//! at most, and an arm it lets go never comes back. `T` pulls are allowed in all; when the
//! stream ends the policy commits to one held arm for the pulls that are left.
//!
//! Every algorithm is a [`Rule`]: a small state machine that reacts to three events (an
//! arm arrives, the pulls it asked for are done, the stream ends) by asking for a number of
//! pulls of one held arm ([`Ctx::sample`]) or by waiting for the next arm. [`Stream`] wraps
//! a rule with what every algorithm shares: the checks of the streaming protocol, the
//! horizon (a request that does not fit is cut to the pulls left, and the rule is then told
//! that the budget is gone), the commit phase, the generator and the versioned state. The
//! same state machine serves a real stream (`offer` / `next_pull` / `update`) and the
//! batched simulation ([`simulate_stream`]), so the two cannot disagree.
//!
//! ```
//! use regretless_core::stream::UniformExploration;
//! let means = [0.2, 0.9, 0.5];
//! let mut p = UniformExploration::new(3, 3_000, Some(0)).unwrap();
//! let mut rng = regretless_core::rng::Rng::seed_from_u64(1);
//! for arm in 0..3 {
//!     p.offer(arm).unwrap();
//!     while let Some(a) = p.next_pull() {
//!         let r = if rng.uniform() < means[a as usize] { 1.0 } else { 0.0 };
//!         p.update(a, r).unwrap();
//!     }
//! }
//! p.finish().unwrap();
//! assert_eq!(p.committed(), Some(1));
//! assert_eq!(p.pending(), 3_000 - p.n_pulls()); // the commit phase
//! ```

use crate::error::{Error, Result};
use crate::policy::RewardDomain;
use crate::rng::Rng;
use crate::state::Persist;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub mod game_of_arms;
pub mod king;
pub mod registry;
pub mod selective_promotion;
pub mod simulate;

pub use game_of_arms::GameOfArmsRule;
pub use king::{NaiveRule, UniformRule};
pub use registry::AnyStream;
pub use selective_promotion::SelectivePromotionRule;
pub use simulate::{simulate_stream, Order, StreamSimulation};

/// Uniform exploration: every arm sampled `(T/K)^(2/3) (ln T)^(1/3)` times, best kept.
pub type UniformExploration = Stream<UniformRule>;
/// Naive single-memory epsilon-best: every arm sampled `ln K / eps^2` times.
pub type NaiveEpsilonBest = Stream<NaiveRule>;
/// King/challenger "game of arms" with its fractional-stream fallback.
pub type GameOfArms = Stream<GameOfArmsRule>;
/// Aggressive selective promotion with O(log* K) memory.
pub type AggressiveSelectivePromotion = Stream<SelectivePromotionRule>;

/// Largest horizon: pull counts and reward sums stay exact in float64 below 2^53.
pub const MAX_HORIZON: u64 = 1 << 53;

/// Slots a rule reports its held arms in (the largest rule, selective promotion, needs
/// log*(K) + 2 <= 6 for any 64-bit K).
pub const SLOTS: usize = 8;

/// eps = (K/T)^(1/3), the accuracy every epsilon-best rule targets; capped at 1 (K > T).
pub(crate) fn epsilon(n_arms: u64, horizon: u64) -> f64 {
    (n_arms as f64 / horizon as f64).cbrt().min(1.0)
}

/// A number of pulls from a real-valued formula: rounded up, at least 1, at most
/// [`MAX_HORIZON`] (a request is cut to the pulls left anyway).
pub(crate) fn pulls(x: f64) -> u64 {
    if x.is_nan() || x <= 1.0 {
        1
    } else if x >= MAX_HORIZON as f64 {
        MAX_HORIZON
    } else {
        x.ceil() as u64
    }
}

/// What a rule may do while it reacts to an event: draw from the generator, read the
/// pulls left, and ask for pulls of one held arm.
pub struct Ctx<'a> {
    rng: &'a mut Rng,
    remaining: u64,
    next: Option<(i64, u64)>,
}

impl Ctx<'_> {
    /// Ask for `n` pulls of `arm` (at least one); the rule hears back in `on_sampled`.
    pub fn sample(&mut self, arm: i64, n: u64) {
        self.next = Some((arm, n.max(1)));
    }
    /// Pulls left in the horizon.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }
}

/// One streaming algorithm, as a state machine over arrivals and completed samples.
///
/// A rule never sees the budget directly: [`Stream`] cuts a request that does not fit and
/// calls `on_exhausted` instead of `on_sampled` when it completes. A rule must stay usable
/// (and never panic) whatever order a decoded state throws events at it.
pub trait Rule:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    const KIND: &'static str;
    /// The rule for `n_arms` arms and `horizon` pulls (both >= 1, validated by the caller).
    fn new(n_arms: u64, horizon: u64) -> Self;
    /// The most arms the rule ever holds at once, the arriving one included.
    fn max_arms(&self) -> usize;
    /// An arm arrives.
    fn on_offer(&mut self, arm: i64, ctx: &mut Ctx<'_>);
    /// The pulls asked for are done; `mean` is their average reward.
    fn on_sampled(&mut self, mean: f64, ctx: &mut Ctx<'_>);
    /// The horizon ran out before the pulls asked for were done: drop the arm under
    /// evaluation, keep what is stored.
    fn on_exhausted(&mut self);
    /// The stream ended: the rule may still ask for pulls of held arms before it commits.
    fn on_finish(&mut self, _ctx: &mut Ctx<'_>) {}
    /// The arm to commit to, once the stream has ended and no pull is pending.
    fn choose(&self) -> Option<i64>;
    /// Let go of every arm (the committed one is kept by [`Stream`]).
    fn release(&mut self);
    /// The arm whose pulls the rule waits for, if any.
    fn awaiting(&self) -> Option<i64>;
    /// Held arms, one slot each (duplicates and `None` allowed).
    fn slots(&self) -> [Option<i64>; SLOTS];
    /// Consistency of a decoded rule (parameters in range, stage in range).
    fn check(&self) -> Result<()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    /// Pulls a rule asked for.
    Explore,
    /// A rule's request cut short by the horizon: the rule gets `on_exhausted`.
    Last,
    /// The pulls left after the commit.
    Commit,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Request {
    arm: i64,
    wanted: u64,
    got: u64,
    sum: f64,
    purpose: Purpose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Arms may be offered.
    Streaming,
    /// `finish` was called; the rule may still be sampling before it commits.
    Finishing,
    /// The rule has committed (to no arm if it held none).
    Committed(Option<i64>),
}

/// A streaming policy: a [`Rule`] plus the protocol, the horizon and the commit phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stream<R> {
    n_arms: u64,
    horizon: u64,
    rng: Rng,
    offered: u64,
    pulls: u64,
    phase: Phase,
    request: Option<Request>,
    rule: R,
}

impl<R: Rule> Stream<R> {
    /// A policy for a stream of `n_arms` arms and `horizon` pulls in all.
    pub fn new(n_arms: u64, horizon: u64, seed: Option<u64>) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        if horizon == 0 || horizon > MAX_HORIZON {
            return Err(Error::param(
                "horizon",
                format!("must be in [1, 2**53], got {horizon}"),
            ));
        }
        Ok(Stream {
            n_arms,
            horizon,
            rng: Rng::from_optional_seed(seed),
            offered: 0,
            pulls: 0,
            phase: Phase::Streaming,
            request: None,
            rule: R::new(n_arms, horizon),
        })
    }

    pub fn n_arms(&self) -> u64 {
        self.n_arms
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    /// Arms offered so far.
    pub fn n_offered(&self) -> u64 {
        self.offered
    }
    /// Pulls recorded so far (exploration and commit).
    pub fn n_pulls(&self) -> u64 {
        self.pulls
    }
    pub fn is_finished(&self) -> bool {
        self.phase != Phase::Streaming
    }
    /// True once the policy has committed (after `finish` and any final sampling).
    pub fn is_committed(&self) -> bool {
        matches!(self.phase, Phase::Committed(_))
    }
    /// The arm committed to, once committed.
    pub fn committed(&self) -> Option<i64> {
        match self.phase {
            Phase::Committed(arm) => arm,
            _ => None,
        }
    }
    /// The arm to pull next, if the policy wants a pull now.
    #[inline]
    pub fn next_pull(&self) -> Option<i64> {
        self.request.map(|r| r.arm)
    }
    /// Pulls of `next_pull()` the policy wants before it decides anything (0 if none).
    #[inline]
    pub fn pending(&self) -> u64 {
        self.request.map_or(0, |r| r.wanted - r.got)
    }
    /// The pending request as (arm, pulls).
    #[inline]
    pub fn pending_request(&self) -> Option<(i64, u64)> {
        self.request.map(|r| (r.arm, r.wanted - r.got))
    }

    /// The most arms this policy ever holds at once, whatever the stream.
    pub fn max_arms_in_memory(&self) -> usize {
        self.rule
            .max_arms()
            .min(usize::try_from(self.n_arms).unwrap_or(usize::MAX))
    }

    fn held_slots(&self) -> [Option<i64>; SLOTS] {
        match self.phase {
            Phase::Committed(arm) => {
                let mut s = [None; SLOTS];
                s[0] = arm;
                s
            }
            _ => self.rule.slots(),
        }
    }

    /// Arms held now, each once, in slot order.
    pub fn arms_in_memory(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(SLOTS);
        for a in self.held_slots().into_iter().flatten() {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// `arms_in_memory().len()` without allocating.
    pub fn n_in_memory(&self) -> usize {
        let s = self.held_slots();
        (0..SLOTS)
            .filter(|&i| s[i].is_some() && !s[..i].contains(&s[i]))
            .count()
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    /// An arm arrives. Refused while pulls are pending, after `finish`, beyond `n_arms`
    /// arms, or if the id is one the policy holds. Once the horizon is used up, arriving
    /// arms are let go unpulled.
    pub fn offer(&mut self, arm: i64) -> Result<()> {
        if self.phase != Phase::Streaming {
            return Err(Error::protocol(
                "arm",
                format!("cannot offer arm {arm}: the stream has ended (finish() was called)"),
            ));
        }
        if let Some(r) = self.request {
            return Err(Error::protocol(
                "arm",
                format!(
                    "cannot offer arm {arm} yet: {} pulls of arm {} are pending (see next_pull())",
                    r.wanted - r.got,
                    r.arm
                ),
            ));
        }
        if self.offered >= self.n_arms {
            return Err(Error::protocol(
                "arm",
                format!(
                    "cannot offer arm {arm}: all n_arms={} arms of the stream were offered",
                    self.n_arms
                ),
            ));
        }
        if self.rule.slots().contains(&Some(arm)) {
            return Err(Error::protocol(
                "arm",
                format!("arm {arm} is already in memory; every arm of a stream needs its own id"),
            ));
        }
        self.offered += 1;
        if self.pulls < self.horizon {
            self.step(|rule, ctx| rule.on_offer(arm, ctx));
        }
        Ok(())
    }

    /// Checks that `arm` is the arm whose pulls are pending; returns the pulls pending.
    fn check_pull(&self, arm: i64) -> Result<u64> {
        match self.request {
            Some(r) if r.arm == arm => Ok(r.wanted - r.got),
            Some(r) => {
                let held = self.arms_in_memory();
                let what = if held.contains(&arm) {
                    "is in memory but no pull of it is pending"
                } else {
                    "is not in memory"
                };
                Err(Error::protocol(
                    "arm",
                    format!(
                        "arm {arm} {what}; the pending pulls are of arm {} (next_pull()); arms in memory: {held:?}",
                        r.arm
                    ),
                ))
            }
            None => {
                let why = if self.offered == 0 && self.phase == Phase::Streaming {
                    "no arm has been offered yet (call offer() first)".to_string()
                } else if self.pulls == self.horizon {
                    format!("the horizon of {} pulls is used up", self.horizon)
                } else if self.phase == Phase::Streaming {
                    "no pull is pending (next_pull() is None): offer() the next arm or finish()"
                        .to_string()
                } else {
                    "the policy committed to no arm: it holds none".to_string()
                };
                Err(Error::protocol(
                    "arm",
                    format!("cannot record a pull of arm {arm}: {why}"),
                ))
            }
        }
    }

    /// Records the reward of one pull of `arm`, which must be `next_pull()`.
    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        self.check_pull(arm)?;
        RewardDomain::Unit.check("reward", reward, None, R::KIND)?;
        self.record(1, reward);
        Ok(())
    }

    /// Records the rewards of `rewards.len()` pulls of `arm` (pulls evaluated in parallel):
    /// at most `pending()` of them. Validates everything before recording anything.
    pub fn update_many(&mut self, arm: i64, rewards: &[f64]) -> Result<()> {
        if rewards.is_empty() {
            return Ok(());
        }
        let pending = self.check_pull(arm)?;
        if rewards.len() as u64 > pending {
            return Err(Error::shape(
                "rewards",
                format!(
                    "{} rewards given but only {pending} pulls of arm {arm} are pending",
                    rewards.len()
                ),
            ));
        }
        let mut sum = 0.0;
        for (i, &r) in rewards.iter().enumerate() {
            RewardDomain::Unit.check("rewards", r, Some(i), R::KIND)?;
            sum += r;
        }
        self.record(rewards.len() as u64, sum);
        Ok(())
    }

    /// The stream has ended. Refused while pulls are pending; a second call does nothing.
    /// The policy may ask for a few more pulls of held arms, then commits: `next_pull()`
    /// then returns the committed arm until the horizon is used up.
    pub fn finish(&mut self) -> Result<()> {
        if self.phase != Phase::Streaming {
            return Ok(());
        }
        if let Some(r) = self.request {
            return Err(Error::protocol(
                "finish",
                format!(
                    "{} pulls of arm {} are still pending: record them with update() or update_many() first",
                    r.wanted - r.got,
                    r.arm
                ),
            ));
        }
        self.phase = Phase::Finishing;
        self.step(|rule, ctx| rule.on_finish(ctx));
        Ok(())
    }

    /// Records all pending pulls at once with total reward `sum` (the simulator's path:
    /// the arm is right by construction and `sum` is a binomial draw).
    pub(crate) fn record_pending(&mut self, sum: f64) {
        let n = self.pending();
        if n > 0 {
            self.record(n, sum);
        }
    }

    /// Adds `n` validated pulls (`n <= pending()`) to the request; completes it if full.
    fn record(&mut self, n: u64, sum: f64) {
        let Some(mut r) = self.request else {
            return;
        };
        self.pulls += n;
        r.got += n;
        r.sum += sum;
        if r.got < r.wanted {
            self.request = Some(r);
            return;
        }
        self.request = None;
        match r.purpose {
            Purpose::Commit => {}
            Purpose::Explore => {
                let mean = r.sum / r.got as f64;
                self.step(|rule, ctx| rule.on_sampled(mean, ctx));
            }
            Purpose::Last => {
                self.rule.on_exhausted();
                self.settle(None);
            }
        }
    }

    /// Runs one rule event, then turns what it asked for into the next request.
    fn step(&mut self, event: impl FnOnce(&mut R, &mut Ctx<'_>)) {
        let mut ctx = Ctx {
            rng: &mut self.rng,
            remaining: self.horizon - self.pulls,
            next: None,
        };
        event(&mut self.rule, &mut ctx);
        let next = ctx.next;
        self.settle(next);
    }

    fn settle(&mut self, next: Option<(i64, u64)>) {
        if let Some((arm, n)) = next {
            let remaining = self.horizon - self.pulls;
            if remaining == 0 {
                self.rule.on_exhausted();
            } else {
                self.request = Some(Request {
                    arm,
                    wanted: n.min(remaining),
                    got: 0,
                    sum: 0.0,
                    purpose: if n <= remaining {
                        Purpose::Explore
                    } else {
                        Purpose::Last
                    },
                });
                return;
            }
        }
        if self.phase == Phase::Finishing {
            let arm = self.rule.choose();
            self.rule.release();
            self.phase = Phase::Committed(arm);
            let remaining = self.horizon - self.pulls;
            if let (Some(arm), true) = (arm, remaining > 0) {
                self.request = Some(Request {
                    arm,
                    wanted: remaining,
                    got: 0,
                    sum: 0.0,
                    purpose: Purpose::Commit,
                });
            }
        }
    }

    /// `n_arms=K, horizon=T` for `repr`.
    pub fn describe_params(&self) -> String {
        format!("n_arms={}, horizon={}", self.n_arms, self.horizon)
    }
}

impl<R: Rule> Persist for Stream<R> {
    const KIND: &'static str = R::KIND;

    fn check_invariants(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::state(format!("{}: {m}", R::KIND)));
        if self.n_arms == 0 || self.horizon == 0 || self.horizon > MAX_HORIZON {
            return bad("n_arms or horizon out of range");
        }
        if !self.rng.is_valid() {
            return bad("generator state is all zeros");
        }
        if self.offered > self.n_arms || self.pulls > self.horizon {
            return bad("more arms offered or pulls recorded than the stream allows");
        }
        self.rule.check()?;
        if self.rule.max_arms() > SLOTS {
            return bad("memory bound exceeds the slots");
        }
        let awaiting = self.rule.awaiting();
        match (self.request, self.phase) {
            (Some(r), _)
                if r.got >= r.wanted
                    || r.wanted - r.got > self.horizon - self.pulls
                    || !(r.sum.is_finite()
                        && r.sum >= 0.0
                        && r.sum <= r.got as f64 * (1.0 + 1e-9)) =>
            {
                return bad("pending request is inconsistent");
            }
            (Some(r), Phase::Committed(arm))
                if r.purpose != Purpose::Commit || arm != Some(r.arm) =>
            {
                return bad("a committed policy can only pull its committed arm");
            }
            (Some(r), Phase::Streaming | Phase::Finishing)
                if r.purpose == Purpose::Commit || awaiting != Some(r.arm) =>
            {
                return bad("the pending pulls are not the ones the rule waits for");
            }
            (None, _) if awaiting.is_some() => {
                return bad("the rule waits for pulls that are not pending");
            }
            (None, Phase::Finishing) => {
                return bad("a finished stream with no pull pending must have committed")
            }
            _ => {}
        }
        if self.is_committed() && self.rule.slots().iter().any(Option::is_some) {
            return bad("a committed policy holds only its committed arm");
        }
        Ok(())
    }
}

/// An arm with the mean of the pulls that evaluated it.
pub(crate) type Scored = (i64, f64);

/// Keeps the better of a stored arm and a new one: the new one must be strictly better.
#[inline]
pub(crate) fn keep_better(stored: &mut Option<Scored>, arm: i64, mean: f64) {
    if stored.is_none_or(|(_, m)| mean > m) {
        *stored = Some((arm, mean));
    }
}

pub(crate) fn check_scored(s: &Option<Scored>, what: &str) -> Result<()> {
    match s {
        Some((_, m)) if !m.is_finite() => Err(Error::state(format!("{what}: mean is not finite"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a policy through `means` in the given order with exact Bernoulli rewards
    /// drawn pull by pull through `update`; returns (pseudo-regret, peak memory).
    pub(crate) fn drive<R: Rule>(p: &mut Stream<R>, means: &[f64], seed: u64) -> (f64, usize) {
        let best = means.iter().cloned().fold(0.0, f64::max);
        let mut rng = Rng::seed_from_u64(seed);
        let mut regret = 0.0;
        let mut peak = 0;
        let mut drain = |p: &mut Stream<R>, regret: &mut f64, peak: &mut usize| {
            *peak = (*peak).max(p.n_in_memory());
            while let Some((a, n)) = p.pending_request() {
                let mu = means[a as usize];
                let s = crate::stats::binomial(n, mu, &mut rng) as f64;
                // Half through update_many of 0/1 rewards, the rest in one sum.
                let first = (n / 2).min(1000) as usize;
                let ones = (s as usize).min(first);
                let mut v = vec![1.0; ones];
                v.resize(first, 0.0);
                p.update_many(a, &v).unwrap();
                p.record_pending(s - ones as f64);
                *regret += n as f64 * (best - mu);
                *peak = (*peak).max(p.n_in_memory());
            }
        };
        for i in 0..means.len() {
            p.offer(i as i64).unwrap();
            drain(p, &mut regret, &mut peak);
        }
        p.finish().unwrap();
        drain(p, &mut regret, &mut peak);
        (regret, peak)
    }

    #[test]
    fn pulls_rounds_up_and_clips() {
        assert_eq!(pulls(0.2), 1);
        assert_eq!(pulls(f64::NAN), 1);
        assert_eq!(pulls(2.000001), 3);
        assert_eq!(pulls(1e30), MAX_HORIZON);
        assert_eq!(pulls(f64::INFINITY), MAX_HORIZON);
        assert!((epsilon(1000, 1_000_000_000_000) - 1e-3).abs() < 1e-12);
        assert_eq!(epsilon(10, 3), 1.0);
    }

    #[test]
    fn protocol_checks_refuse_and_change_nothing() {
        let mut p = UniformExploration::new(3, 1000, Some(1)).unwrap();
        let fresh = p.clone();
        let e = p.update(0, 1.0).unwrap_err();
        assert!(e.to_string().contains("no arm has been offered"), "{e}");
        assert!(matches!(e, Error::Protocol { .. }));
        assert_eq!(p, fresh);
        p.offer(7).unwrap();
        assert_eq!(p.next_pull(), Some(7));
        let n = p.pending();
        let snapshot = p.clone();
        for e in [
            p.offer(8).unwrap_err(),
            p.update(3, 1.0).unwrap_err(),
            p.finish().unwrap_err(),
            p.update(7, f64::NAN).unwrap_err(),
            p.update(7, 1.5).unwrap_err(),
            p.update_many(7, &[1.0, f64::INFINITY]).unwrap_err(),
            p.update_many(7, &vec![0.5; n as usize + 1]).unwrap_err(),
            p.update_many(3, &[1.0]).unwrap_err(),
        ] {
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(p, snapshot, "a refused call must change nothing");
        p.update_many(7, &vec![1.0; n as usize]).unwrap();
        assert_eq!(p.next_pull(), None);
        assert!(p
            .update(7, 1.0)
            .unwrap_err()
            .to_string()
            .contains("no pull is pending"));
        assert!(p
            .offer(7)
            .unwrap_err()
            .to_string()
            .contains("already in memory"));
        p.offer(8).unwrap();
        let e = p.update(7, 1.0).unwrap_err().to_string();
        assert!(
            e.contains("is in memory but no pull of it is pending"),
            "{e}"
        );
        let e = p.update(99, 1.0).unwrap_err().to_string();
        assert!(e.contains("is not in memory"), "{e}");
    }

    #[test]
    fn horizon_is_never_exceeded_and_late_arms_are_let_go() {
        // 2 pulls per arm (ln 4 / eps^2 rounded up) and 5 in all: the third arm's
        // evaluation is cut to the one pull left, and the fourth arm is never pulled.
        let mut p = NaiveEpsilonBest::new(4, 5, Some(0)).unwrap();
        p.offer(0).unwrap();
        assert_eq!(p.pending(), 2);
        p.update_many(0, &[1.0, 1.0]).unwrap();
        p.offer(1).unwrap();
        p.update_many(1, &[0.0, 0.0]).unwrap();
        p.offer(2).unwrap();
        assert_eq!(p.pending(), 1);
        p.update(2, 1.0).unwrap();
        assert_eq!(p.n_pulls(), 5);
        assert_eq!(p.arms_in_memory(), vec![0], "a cut evaluation is dropped");
        p.offer(3).unwrap();
        assert_eq!(p.next_pull(), None);
        assert_eq!(p.arms_in_memory(), vec![0]);
        p.finish().unwrap();
        assert_eq!(p.committed(), Some(0));
        assert_eq!(p.pending(), 0);
        let e = p.update(0, 1.0).unwrap_err().to_string();
        assert!(e.contains("horizon of 5 pulls is used up"), "{e}");
        assert!(p
            .offer(4)
            .unwrap_err()
            .to_string()
            .contains("stream has ended"));
        assert!(p.finish().is_ok(), "finish twice is a no-op");
    }

    #[test]
    fn commit_phase_pulls_the_committed_arm_to_the_horizon() {
        let means = [0.1, 0.8, 0.3, 0.5];
        let mut p = UniformExploration::new(4, 1_000_000, Some(3)).unwrap();
        let (_, peak) = drive(&mut p, &means, 1);
        assert_eq!(p.committed(), Some(1));
        assert_eq!(p.n_pulls(), 1_000_000);
        assert_eq!(p.arms_in_memory(), vec![1]);
        assert!(peak <= p.max_arms_in_memory());
        assert!(p.offer(9).is_err());
    }
}
