//! Action-dependent (reactive) rewards: an arm's mean reward depends on what the policy did
//! before, so the best policy is a schedule, not an arm.
//!
//! Three settings, one file each, each with its environment, its policy and its reference
//! policies:
//! - [`recovering`]: an arm's mean grows with the time since its last pull (recovery
//!   curves), up to K pulls per period; [`PeriodicUCB`] (Simchi-Levi, Zheng, Zhu 2021).
//! - [`lsd`]: last-switch-dependent payoffs (Foussoul et al. 2023), nonincreasing while an
//!   arm is played on, nondecreasing while it rests; [`LSDExploreCommit`].
//! - [`tallying`]: weighted tallying bandits (Malik et al. 2023), the mean depends on a
//!   weighted count of the arm's plays in the last m rounds; [`TallyingElimination`].
//!
//! These policies are not in the multi-armed registry: their decisions depend on the order
//! of their own past plays (a schedule, a switch clock, a tally), so merging statistics,
//! learning from logged (arm, reward) rows, `update_batch` on rows in any order, arm
//! addition and eligibility masks have no meaning for them, and PeriodicUCB decides a set
//! of arms per period. Each speaks `select()` (which advances the clock and records the
//! pulls it hands out) and `update(arm, reward)` (the reward of a pull handed out).
//!
//! The environments are deterministic state machines in expectation (the state is the
//! capped history the reward model depends on), so the optimal expected reward over any
//! horizon is computed exactly by dynamic programming over that state space
//! ([`optimal_curve`]); it is the brute force over all schedules, done without enumerating
//! them, and is available while states x actions stays below [`ORACLE_LIMIT`].

pub mod lsd;
pub mod recovering;
pub mod tallying;

pub use lsd::{LSDEnv, LSDExploreCommit};
pub use recovering::{PeriodicUCB, RecoveringEnv};
pub use tallying::{TallyingElimination, TallyingEnv};

use crate::error::{Error, Result};
use crate::policy::{Policy, RewardDomain};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The largest `states * actions` of the exact oracle's table, and of `horizon * states *
/// actions` divided by 64 (its work); beyond either, [`optimal_curve`] returns `None`.
pub const ORACLE_LIMIT: u64 = 1 << 22;

/// A reactive environment in expectation: a finite state, the actions allowed in it, their
/// expected rewards and the next state.
pub trait ReactiveModel {
    fn n_arms(&self) -> usize;
    /// Arms pulled per period at most.
    fn per_period(&self) -> usize {
        1
    }
    /// Number of encoded states (`None` if it does not fit in u64).
    fn n_states(&self) -> Option<u64>;
    /// The encoded current state.
    fn state_index(&self) -> usize;
    /// The actions (sets of arms) the oracle searches.
    fn actions(&self) -> Vec<Vec<usize>>;
    /// Expected total reward of pulling `arms` in encoded state `s`, and the next state.
    fn transition(&self, s: usize, arms: &[usize]) -> (f64, usize);
}

/// A reactive environment that can be played.
pub trait ReactiveEnv: ReactiveModel + Clone {
    /// Expected reward of each pull of `arms` now (distinct arms, validated).
    fn expected(&self, arms: &[usize]) -> Vec<f64>;
    /// Pulls `arms` (validated by [`check_arms`]): Bernoulli rewards with the expected
    /// means, then the state advances one period.
    fn pull_unchecked(&mut self, arms: &[usize], rng: &mut Rng) -> Vec<f64>;
    /// Cumulative expected reward, per period 1..=horizon, of the setting's reference
    /// policy (the planner the policy approximates, with the true model).
    fn benchmark_curve(&self, horizon: usize) -> Vec<f64>;
}

/// Validates a set of arms pulled in one period: in range, distinct, at most `per_period`.
pub fn check_arms(arms: &[i64], n_arms: usize, per_period: usize) -> Result<Vec<usize>> {
    if arms.len() > per_period {
        return Err(Error::shape(
            "arms",
            format!("at most {per_period} arms per period, got {}", arms.len()),
        ));
    }
    let mut out = Vec::with_capacity(arms.len());
    for (i, &a) in arms.iter().enumerate() {
        if a < 0 || a as u64 >= n_arms as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arms".into(),
                arm: a,
                n_arms,
                position: if per_period > 1 { Some(i) } else { None },
            });
        }
        if out.contains(&(a as usize)) {
            return Err(Error::param(
                "arms",
                format!("arm {a} appears twice in one period"),
            ));
        }
        out.push(a as usize);
    }
    Ok(out)
}

/// Bernoulli draw with mean `p`.
#[inline]
pub(crate) fn bernoulli(rng: &mut Rng, p: f64) -> f64 {
    if rng.uniform() < p {
        1.0
    } else {
        0.0
    }
}

/// The optimal expected cumulative reward V*_h from the current state, for h = 1..=horizon
/// (finite-horizon dynamic programming over the model's states; exact). `None` when the
/// table or the work exceeds [`ORACLE_LIMIT`].
pub fn optimal_curve<M: ReactiveModel>(model: &M, horizon: usize) -> Option<Vec<f64>> {
    let s = model.n_states()?;
    let actions = model.actions();
    let a = actions.len() as u64;
    let size = s.checked_mul(a)?;
    if size > ORACLE_LIMIT || size.checked_mul(horizon as u64)? / 64 > ORACLE_LIMIT {
        return None;
    }
    let s = s as usize;
    // The transition table, once.
    let mut table = Vec::with_capacity(s * actions.len());
    for state in 0..s {
        for arms in &actions {
            table.push(model.transition(state, arms));
        }
    }
    let start = model.state_index();
    let mut v = vec![0.0; s];
    let mut next = vec![0.0; s];
    let mut curve = Vec::with_capacity(horizon);
    for _ in 0..horizon {
        for (state, out) in next.iter_mut().enumerate() {
            let row = &table[state * actions.len()..(state + 1) * actions.len()];
            *out = row
                .iter()
                .map(|&(r, to)| r + v[to])
                .fold(f64::NEG_INFINITY, f64::max);
        }
        std::mem::swap(&mut v, &mut next);
        curve.push(v[start]);
    }
    Some(curve)
}

/// A policy of a reactive setting, as the simulator drives it.
pub trait Agent {
    /// The arms of the next period.
    fn act(&mut self) -> Vec<usize>;
    /// The reward of a pull handed out by `act`.
    fn feed(&mut self, arm: usize, reward: f64) -> Result<()>;
}

/// Any multi-armed policy as a baseline: one arm per period.
pub struct Baseline<P: Policy>(pub P);

impl<P: Policy> Agent for Baseline<P> {
    fn act(&mut self) -> Vec<usize> {
        vec![self.0.select()]
    }
    fn feed(&mut self, arm: usize, reward: f64) -> Result<()> {
        self.0.update(arm as i64, reward)
    }
}

/// What [`simulate`] returns, one entry per period.
#[derive(Clone, Debug, PartialEq)]
pub struct ReactiveRun {
    /// The arms pulled, `per_period` per row, padded with -1.
    pub arms: Vec<i64>,
    /// The realized reward of each period (summed over its pulls).
    pub rewards: Vec<f64>,
    /// The expected reward of each period given the state it was played in.
    pub expected: Vec<f64>,
    /// V*_t: the optimal expected cumulative reward over the first t periods (exact), if
    /// the state space is small enough.
    pub optimal: Option<Vec<f64>>,
    /// The cumulative expected reward of the setting's reference policy.
    pub benchmark: Vec<f64>,
}

/// Plays `agent` against a copy of `env` for `horizon` periods, the rewards drawn from a
/// generator seeded by `seed`.
pub fn simulate<A: Agent, E: ReactiveEnv>(
    agent: &mut A,
    env: &E,
    horizon: usize,
    seed: u64,
) -> Result<ReactiveRun> {
    let k = env.per_period();
    crate::limits::check_alloc("horizon", &[horizon, k + 3], 8)?;
    let mut env = env.clone();
    let optimal = optimal_curve(&env, horizon);
    let benchmark = env.benchmark_curve(horizon);
    let mut rng = Rng::seed_from_u64(seed);
    let mut run = ReactiveRun {
        arms: Vec::with_capacity(horizon * k),
        rewards: Vec::with_capacity(horizon),
        expected: Vec::with_capacity(horizon),
        optimal,
        benchmark,
    };
    for _ in 0..horizon {
        let arms = agent.act();
        let wide: Vec<i64> = arms.iter().map(|&a| a as i64).collect();
        let arms = check_arms(&wide, env.n_arms(), k)?;
        run.expected.push(env.expected(&arms).iter().sum());
        let rewards = env.pull_unchecked(&arms, &mut rng);
        for (&a, &r) in arms.iter().zip(&rewards) {
            agent.feed(a, r)?;
        }
        run.rewards.push(rewards.iter().sum());
        run.arms.extend(wide.iter().copied());
        run.arms.extend(std::iter::repeat_n(-1, k - arms.len()));
    }
    Ok(run)
}

/// Pulls handed out and not yet answered: (arm, statistics cell), oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub queue: VecDeque<(u32, u32)>,
}

/// Pending pulls are bounded: a caller that never answers cannot grow the state forever.
pub(crate) const MAX_PENDING: usize = 1 << 16;

impl Pending {
    /// The cell of the oldest pending pull of `arm`, removed; a protocol error (arm error in
    /// Python) if `arm` has none. Checks the reward first, so a refused call changes nothing.
    pub fn take(
        &mut self,
        arm: i64,
        reward: f64,
        n_arms: usize,
        kind: &str,
    ) -> Result<(usize, usize)> {
        if arm < 0 || arm as u64 >= n_arms as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm,
                n_arms,
                position: None,
            });
        }
        RewardDomain::Unit.check("reward", reward, None, kind)?;
        let pos = self
            .queue
            .iter()
            .position(|&(a, _)| a as i64 == arm)
            .ok_or_else(|| {
                Error::protocol(
                    "arm",
                    format!("arm {arm} has no pull waiting for its reward (select() hands out the pulls)"),
                )
            })?;
        let (a, c) = self.queue.remove(pos).unwrap_or_default();
        Ok((a as usize, c as usize))
    }

    pub fn push(&mut self, arm: usize, cell: usize) {
        if self.queue.len() >= MAX_PENDING {
            self.queue.pop_front();
        }
        self.queue.push_back((arm as u32, cell as u32));
    }

    pub fn is_valid(&self, n_arms: usize, n_cells: usize) -> bool {
        self.queue.len() <= MAX_PENDING
            && self
                .queue
                .iter()
                .all(|&(a, c)| (a as usize) < n_arms && (c as usize) < n_cells)
    }
}

/// Per-cell reward statistics (count and sum) of a table of cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cells {
    pub n: Vec<u64>,
    pub sum: Vec<f64>,
}

impl Cells {
    pub fn new(len: usize) -> Self {
        Cells {
            n: vec![0; len],
            sum: vec![0.0; len],
        }
    }
    pub fn push(&mut self, cell: usize, reward: f64) {
        self.n[cell] += 1;
        self.sum[cell] += reward;
    }
    pub fn mean(&self, cell: usize) -> f64 {
        if self.n[cell] == 0 {
            0.0
        } else {
            self.sum[cell] / self.n[cell] as f64
        }
    }
    pub fn means(&self) -> Vec<f64> {
        (0..self.n.len()).map(|c| self.mean(c)).collect()
    }
    pub fn total(&self) -> u64 {
        self.n.iter().sum()
    }
    pub fn is_valid(&self, len: usize) -> bool {
        self.n.len() == len
            && self.sum.len() == len
            && self
                .n
                .iter()
                .zip(&self.sum)
                .all(|(&n, &s)| s.is_finite() && s >= 0.0 && s <= n as f64)
    }
}

/// Validates a table of means in [0, 1] of `rows` x `cols`.
pub(crate) fn check_table(name: &str, v: &[f64], rows: usize, cols: usize) -> Result<()> {
    if v.len() != rows * cols || cols == 0 {
        return Err(Error::shape(
            name,
            format!(
                "expected {rows} x {cols} values (at least one column), got {}",
                v.len()
            ),
        ));
    }
    if let Some((i, x)) = v
        .iter()
        .enumerate()
        .find(|(_, x)| !(0.0..=1.0).contains(*x))
    {
        return Err(Error::param(
            name,
            format!(
                "must be mean rewards in [0, 1], got {} at position {i}",
                crate::error::show(*x)
            ),
        ));
    }
    Ok(())
}

/// Checks that each row of `v` (rows x cols) is monotone (`increasing` or not).
pub(crate) fn check_monotone(name: &str, v: &[f64], cols: usize, increasing: bool) -> Result<()> {
    for (r, row) in v.chunks(cols).enumerate() {
        for j in 1..row.len() {
            let ok = if increasing {
                row[j] >= row[j - 1]
            } else {
                row[j] <= row[j - 1]
            };
            if !ok {
                let how = if increasing {
                    "nondecreasing"
                } else {
                    "nonincreasing"
                };
                return Err(Error::param(
                    name,
                    format!("row {r} must be {how}, but position {j} breaks it"),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn check_horizon(horizon: u64) -> Result<()> {
    if horizon == 0 {
        return Err(Error::param("horizon", "must be at least 1, got 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action sequence of length `t`: the best expected total, by enumeration.
    pub(crate) fn brute_force<M: ReactiveModel>(model: &M, t: usize) -> f64 {
        fn go<M: ReactiveModel>(m: &M, s: usize, left: usize, acts: &[Vec<usize>]) -> f64 {
            if left == 0 {
                return 0.0;
            }
            acts.iter()
                .map(|a| {
                    let (r, to) = m.transition(s, a);
                    r + go(m, to, left - 1, acts)
                })
                .fold(f64::NEG_INFINITY, f64::max)
        }
        go(model, model.state_index(), t, &model.actions())
    }

    #[test]
    fn the_oracle_equals_brute_force_over_all_schedules_on_tiny_instances() {
        let rec = RecoveringEnv::new(
            &[0.1, 0.5, 0.9, 0.3, 0.4, 0.5, 0.0, 0.2, 0.7],
            3,
            3,
            1,
            Some(0),
        )
        .unwrap();
        let rec2 = RecoveringEnv::new(
            &[0.1, 0.5, 0.9, 0.3, 0.4, 0.5, 0.0, 0.2, 0.7],
            3,
            3,
            2,
            Some(0),
        )
        .unwrap();
        let lsd = LSDEnv::new(
            &[0.9, 0.5, 0.2, 0.6, 0.6, 0.1],
            &[0.3, 0.6, 0.9, 0.2, 0.5, 0.5],
            2,
            3,
            Some(0),
        )
        .unwrap();
        let tal = TallyingEnv::new(
            &[0.6, 0.1, 0.3],
            &[0.0, 0.8, 0.2],
            &[0.5, 0.3, 0.2],
            Some(0),
        )
        .unwrap();
        for t in 1..=7 {
            for (name, curve, brute) in [
                ("recovering", optimal_curve(&rec, t), brute_force(&rec, t)),
                (
                    "recovering K=2",
                    optimal_curve(&rec2, t),
                    brute_force(&rec2, t),
                ),
                ("lsd", optimal_curve(&lsd, t), brute_force(&lsd, t)),
                ("tallying", optimal_curve(&tal, t), brute_force(&tal, t)),
            ] {
                let v = *curve.unwrap().last().unwrap();
                assert!((v - brute).abs() < 1e-12, "{name} t={t}: {v} vs {brute}");
            }
        }
        // Greedy (the best arm now) resets arm 0 at 0.55 and never collects its 1.0 again;
        // the oracle (and brute force) wait: 0.5, 0.5, 1.0, ...
        let rec = RecoveringEnv::new(&[0.0, 0.55, 1.0, 0.5, 0.5, 0.5], 2, 3, 1, Some(0)).unwrap();
        let greedy: f64 = {
            let mut env = rec.clone();
            let mut rng = Rng::seed_from_u64(0);
            let mut total = 0.0;
            for _ in 0..7 {
                let m: Vec<f64> = (0..2).map(|a| env.expected(&[a])[0]).collect();
                let best = (0..2).max_by(|&a, &b| m[a].total_cmp(&m[b])).unwrap();
                total += m[best];
                env.pull_unchecked(&[best], &mut rng);
            }
            total
        };
        let best = brute_force(&rec, 7);
        assert!((optimal_curve(&rec, 7).unwrap()[6] - best).abs() < 1e-12);
        assert!(best > greedy + 0.1, "{best} {greedy}");
    }

    #[test]
    fn check_arms_refuses_duplicates_out_of_range_and_too_many() {
        assert_eq!(check_arms(&[2, 0], 3, 2).unwrap(), vec![2, 0]);
        assert!(check_arms(&[1, 1], 3, 2).is_err());
        assert!(check_arms(&[3], 3, 2).is_err());
        assert!(check_arms(&[-1], 3, 2).is_err());
        assert!(check_arms(&[0, 1], 3, 1).is_err());
    }
}
