//! Last-switch-dependent (LSD) bandits with monotone payoffs (Foussoul, Goyal,
//! Papadigenopoulos, Zeevi 2023): an arm's payoff depends on the signed time since its last
//! switch. Played on for tau consecutive rounds before this one, it pays `satiation[tau]`
//! (nonincreasing in tau); idle for tau rounds, it pays `deprivation[tau]` (nondecreasing);
//! both truncated at `tau_max`. One arm per round; every arm starts rested (idle tau_max).
//!
//! [`LSDExploreCommit`] is the explore-then-commit reconstruction of ALGORITHMS.md 5.2:
//! - explore in cycles: for each arm i in turn and each d = 1..tau_max, play i for
//!   tau_max + 1 consecutive rounds (the satiation cells +1..+tau_max and one deprivation
//!   cell), then let it rest d rounds while the other arms, in turn, fill them; until every
//!   (arm, state) cell has n0 = ceil((T / (K tau_max))^(2/3)) rewards;
//! - commit: plan the best cyclic schedule of length at most L on the estimated payoffs
//!   (every sequence of K^1 + ... + K^L candidates, L the largest with at most 2^17
//!   sequences and L <= 2 tau_max + 2; each valued by its steady-state mean reward) and
//!   repeat it forever.
//!
//! The same planner with the true payoffs, followed from the first round, is the benchmark
//! against which the regret is O~(T^(2/3)).

use super::{
    bernoulli, check_horizon, check_monotone, check_table, Agent, Cells, Pending, ReactiveEnv,
    ReactiveModel,
};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use serde::{Deserialize, Serialize};

/// The most candidate sequences the cycle planner values.
const PLAN_BUDGET: u64 = 1 << 17;

/// The next signed state of an arm: `played` or not, from `s` (+tau played on, -tau idle).
#[inline]
fn step_state(s: i32, played: bool, tau_max: i32) -> i32 {
    match (played, s > 0) {
        (true, true) => (s + 1).min(tau_max),
        (true, false) => 1,
        (false, true) => -1,
        (false, false) => (s - 1).max(-tau_max),
    }
}

/// The cell of a signed state among 2 tau_max: satiation +1..+tau_max first, then
/// deprivation -1..-tau_max.
#[inline]
fn cell_of(s: i32, tau_max: usize) -> usize {
    if s > 0 {
        s as usize - 1
    } else {
        tau_max + (-s) as usize - 1
    }
}

fn check_sizes(n_arms: usize, tau_max: usize) -> Result<()> {
    if n_arms < 2 {
        return Err(Error::param(
            "n_arms",
            format!("must be at least 2, got {n_arms}"),
        ));
    }
    if tau_max == 0 || tau_max > 1 << 16 {
        return Err(Error::param(
            "tau_max",
            format!("must be in 1..=65536, got {tau_max}"),
        ));
    }
    crate::limits::check_alloc("n_arms", &[n_arms, 2 * tau_max], 16)
}

/// The LSD environment: `satiation` and `deprivation` (n_arms x tau_max) mean payoffs,
/// Bernoulli rewards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LSDEnv {
    n_arms: usize,
    tau_max: usize,
    satiation: Vec<f64>,
    deprivation: Vec<f64>,
    state: Vec<i32>,
    rng: Rng,
    n_pulls: u64,
}

impl LSDEnv {
    pub fn new(
        satiation: &[f64],
        deprivation: &[f64],
        n_arms: usize,
        tau_max: usize,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_sizes(n_arms, tau_max)?;
        check_table("satiation", satiation, n_arms, tau_max)?;
        check_table("deprivation", deprivation, n_arms, tau_max)?;
        check_monotone("satiation", satiation, tau_max, false)?;
        check_monotone("deprivation", deprivation, tau_max, true)?;
        Ok(LSDEnv {
            n_arms,
            tau_max,
            satiation: satiation.to_vec(),
            deprivation: deprivation.to_vec(),
            state: vec![-(tau_max as i32); n_arms],
            rng: Rng::from_optional_seed(seed),
            n_pulls: 0,
        })
    }

    pub fn n_arms(&self) -> usize {
        self.n_arms
    }
    pub fn tau_max(&self) -> usize {
        self.tau_max
    }
    pub fn satiation(&self) -> &[f64] {
        &self.satiation
    }
    pub fn deprivation(&self) -> &[f64] {
        &self.deprivation
    }
    pub fn n_pulls(&self) -> u64 {
        self.n_pulls
    }
    /// The signed state of each arm: +tau played on for tau rounds, -tau idle for tau.
    pub fn states(&self) -> &[i32] {
        &self.state
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    /// The mean payoff table as cells (n_arms x 2 tau_max: satiation, then deprivation).
    pub fn cell_means(&self) -> Vec<f64> {
        let t = self.tau_max;
        (0..self.n_arms)
            .flat_map(|i| {
                self.satiation[i * t..(i + 1) * t]
                    .iter()
                    .chain(&self.deprivation[i * t..(i + 1) * t])
                    .copied()
            })
            .collect()
    }

    fn mean_of(&self, arm: usize, s: i32) -> f64 {
        let t = self.tau_max;
        if s > 0 {
            self.satiation[arm * t + s as usize - 1]
        } else {
            self.deprivation[arm * t + (-s) as usize - 1]
        }
    }

    /// Expected payoff of each arm if played now.
    pub fn means(&self) -> Vec<f64> {
        (0..self.n_arms)
            .map(|i| self.mean_of(i, self.state[i]))
            .collect()
    }

    /// Plays `arm`: its reward.
    pub fn pull(&mut self, arm: i64) -> Result<f64> {
        let arms = super::check_arms(&[arm], self.n_arms, 1)?;
        let mut rng = self.rng.clone();
        let r = self.pull_unchecked(&arms, &mut rng)[0];
        self.rng = rng;
        Ok(r)
    }

    fn encode(&self, state: &[i32]) -> usize {
        let b = 2 * self.tau_max;
        state
            .iter()
            .rev()
            .fold(0, |acc, &s| acc * b + cell_of(s, self.tau_max))
    }

    fn decode(&self, mut index: usize) -> Vec<i32> {
        let b = 2 * self.tau_max;
        (0..self.n_arms)
            .map(|_| {
                let c = index % b;
                index /= b;
                if c < self.tau_max {
                    c as i32 + 1
                } else {
                    -((c - self.tau_max) as i32 + 1)
                }
            })
            .collect()
    }
}

impl ReactiveModel for LSDEnv {
    fn n_arms(&self) -> usize {
        self.n_arms
    }
    fn n_states(&self) -> Option<u64> {
        ((2 * self.tau_max) as u64).checked_pow(self.n_arms as u32)
    }
    fn state_index(&self) -> usize {
        self.encode(&self.state)
    }
    fn actions(&self) -> Vec<Vec<usize>> {
        (0..self.n_arms).map(|a| vec![a]).collect()
    }
    fn transition(&self, s: usize, arms: &[usize]) -> (f64, usize) {
        let state = self.decode(s);
        let arm = arms[0];
        let r = self.mean_of(arm, state[arm]);
        let next: Vec<i32> = state
            .iter()
            .enumerate()
            .map(|(i, &x)| step_state(x, i == arm, self.tau_max as i32))
            .collect();
        (r, self.encode(&next))
    }
}

impl ReactiveEnv for LSDEnv {
    fn expected(&self, arms: &[usize]) -> Vec<f64> {
        arms.iter()
            .map(|&a| self.mean_of(a, self.state[a]))
            .collect()
    }
    fn pull_unchecked(&mut self, arms: &[usize], rng: &mut Rng) -> Vec<f64> {
        let r = self
            .expected(arms)
            .iter()
            .map(|&m| bernoulli(rng, m))
            .collect();
        let t = self.tau_max as i32;
        for (i, s) in self.state.iter_mut().enumerate() {
            *s = step_state(*s, arms.contains(&i), t);
        }
        self.n_pulls += arms.len() as u64;
        r
    }
    /// The best cycle of the planner on the true payoffs, repeated from the first round.
    fn benchmark_curve(&self, horizon: usize) -> Vec<f64> {
        let cycle = plan_cycle(&self.cell_means(), self.n_arms, self.tau_max);
        let mut env = self.clone();
        let mut rng = Rng::seed_from_u64(0);
        let mut total = 0.0;
        (0..horizon)
            .map(|t| {
                let a = [cycle[t % cycle.len()]];
                total += env.expected(&a)[0];
                env.pull_unchecked(&a, &mut rng);
                total
            })
            .collect()
    }
}

/// Steady-state mean reward of repeating `cycle` with cell means `m` (n x 2 tau_max).
fn cycle_value(cycle: &[usize], m: &[f64], n: usize, tau_max: usize) -> f64 {
    let t = tau_max as i32;
    let mut state = vec![-t; n];
    // Warm-up repetitions make the states periodic (a run or a rest is capped at tau_max).
    let warm = tau_max.div_ceil(cycle.len()) + 1;
    let mut total = 0.0;
    for rep in 0..=warm {
        for &a in cycle {
            if rep == warm {
                total += m[a * 2 * tau_max + cell_of(state[a], tau_max)];
            }
            for (i, s) in state.iter_mut().enumerate() {
                *s = step_state(*s, i == a, t);
            }
        }
    }
    total / cycle.len() as f64
}

/// The longest cycle length the planner enumerates for `n` arms.
fn max_cycle_len(n: usize, tau_max: usize) -> usize {
    let mut len = 1;
    let mut count = n as u64;
    while len < 2 * tau_max + 2 {
        let next = (n as u64).saturating_pow(len as u32 + 1);
        if count.saturating_add(next) > PLAN_BUDGET {
            break;
        }
        count += next;
        len += 1;
    }
    len
}

/// The best cycle (highest steady-state mean under cell means `m`) among all sequences of
/// length 1..=L (see the module docs); ties go to the shortest, then the first found.
pub fn plan_cycle(m: &[f64], n: usize, tau_max: usize) -> Vec<usize> {
    let longest = max_cycle_len(n, tau_max);
    let mut best = (vec![0], f64::NEG_INFINITY);
    for len in 1..=longest {
        let mut seq = vec![0usize; len];
        loop {
            let v = cycle_value(&seq, m, n, tau_max);
            if v > best.1 + 1e-12 {
                best = (seq.clone(), v);
            }
            // Next sequence (odometer).
            let mut i = 0;
            while i < len {
                seq[i] += 1;
                if seq[i] < n {
                    break;
                }
                seq[i] = 0;
                i += 1;
            }
            if i == len {
                break;
            }
        }
    }
    best.0
}

/// Where the explore-then-commit policy is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Target arm, rest length d (1..=tau_max), position within the block, filler turn.
    Explore {
        target: usize,
        d: usize,
        pos: usize,
        filler: usize,
    },
    /// The committed cycle and the position in it.
    Commit { cycle: Vec<usize>, pos: usize },
}

/// Explore-then-commit for LSD bandits (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LSDExploreCommit {
    n_arms: usize,
    tau_max: usize,
    horizon: u64,
    n0: u64,
    rng: Rng,
    cells: Cells,
    state: Vec<i32>,
    phase: Phase,
    pending: Pending,
    n_updates: u64,
    n_selected: u64,
}

impl LSDExploreCommit {
    /// `n0` defaults to ceil((horizon / (n_arms tau_max))^(2/3)).
    pub fn new(
        n_arms: usize,
        tau_max: usize,
        horizon: u64,
        n0: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_sizes(n_arms, tau_max)?;
        check_horizon(horizon)?;
        let n0 = match n0 {
            Some(0) => return Err(Error::param("n0", "must be at least 1, got 0")),
            Some(v) => v,
            None => ((horizon as f64 / (n_arms * tau_max) as f64)
                .powf(2.0 / 3.0)
                .ceil() as u64)
                .max(1),
        };
        let mut rng = Rng::from_optional_seed(seed);
        let target = rng.below(n_arms as u64) as usize;
        Ok(LSDExploreCommit {
            n_arms,
            tau_max,
            horizon,
            n0,
            rng,
            cells: Cells::new(n_arms * 2 * tau_max),
            state: vec![-(tau_max as i32); n_arms],
            phase: Phase::Explore {
                target,
                d: 1,
                pos: 0,
                filler: 0,
            },
            pending: Pending::default(),
            n_updates: 0,
            n_selected: 0,
        })
    }

    pub fn n_arms(&self) -> usize {
        self.n_arms
    }
    pub fn tau_max(&self) -> usize {
        self.tau_max
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn n0(&self) -> u64 {
        self.n0
    }
    pub fn n_updates(&self) -> u64 {
        self.n_updates
    }
    pub fn n_selected(&self) -> u64 {
        self.n_selected
    }
    /// The committed cycle, once exploration is over.
    pub fn cycle(&self) -> Option<&[usize]> {
        match &self.phase {
            Phase::Commit { cycle, .. } => Some(cycle),
            Phase::Explore { .. } => None,
        }
    }
    /// Rewards per (arm, state) cell: n_arms x 2 tau_max, satiation +1..+tau_max then
    /// deprivation -1..-tau_max.
    pub fn counts(&self) -> Vec<u64> {
        self.cells.n.clone()
    }
    pub fn means(&self) -> Vec<f64> {
        self.cells.means()
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    fn explored(&self) -> bool {
        // Cells answered or handed out: a batch of selects does not over-explore.
        let mut n = self.cells.n.clone();
        for &(_, c) in &self.pending.queue {
            n[c as usize] += 1;
        }
        n.iter().all(|&c| c >= self.n0)
    }

    /// The arm to play this round.
    pub fn select(&mut self) -> usize {
        self.commit_when_explored();
        let arm = self.scheduled();
        self.advance_schedule();
        self.play(arm);
        arm
    }

    /// `select` among the `eligible` arms: the schedule's arm (exploration block or
    /// committed cycle) when it is eligible, the schedule then advancing as unrestricted;
    /// otherwise the schedule waits and the eligible arm with the highest [`Self::scores`]
    /// (the estimated payoff of playing it now, unseen cells first) is played, ties at
    /// random. Either way the play's reward is recorded in the (arm, state) cell it was
    /// played in, and every arm's state moves on.
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_arms)?;
        self.commit_when_explored();
        let scheduled = self.scheduled();
        let arm = if eligible.contains(scheduled) {
            self.advance_schedule();
            scheduled
        } else {
            let scores = self.scores();
            eligible.argmax(scores.into_iter(), &mut self.rng)
        };
        self.play(arm);
        Ok(arm)
    }

    /// The estimated payoff of playing each arm now: the mean reward of its (arm, current
    /// state) cell, +inf for a cell with no reward yet.
    pub fn scores(&self) -> Vec<f64> {
        (0..self.n_arms)
            .map(|a| {
                let cell = a * 2 * self.tau_max + cell_of(self.state[a], self.tau_max);
                if self.cells.n[cell] == 0 {
                    f64::INFINITY
                } else {
                    self.cells.mean(cell)
                }
            })
            .collect()
    }

    fn commit_when_explored(&mut self) {
        if matches!(self.phase, Phase::Explore { .. }) && self.explored() {
            let cycle = plan_cycle(&self.cells.means(), self.n_arms, self.tau_max);
            self.phase = Phase::Commit { cycle, pos: 0 };
        }
    }

    /// The schedule's arm for this round (the schedule is not moved).
    fn scheduled(&self) -> usize {
        let n = self.n_arms;
        match &self.phase {
            Phase::Commit { cycle, pos } => cycle[*pos % cycle.len()],
            Phase::Explore {
                target,
                pos,
                filler,
                ..
            } => {
                if *pos < self.tau_max + 1 {
                    *target
                } else {
                    // The other arms in turn.
                    (*target + 1 + *filler % (n - 1)) % n
                }
            }
        }
    }

    /// Moves the schedule past this round's arm.
    fn advance_schedule(&mut self) {
        let n = self.n_arms;
        let block = self.tau_max + 1;
        match &mut self.phase {
            Phase::Commit { cycle, pos } => *pos = (*pos + 1) % cycle.len(),
            Phase::Explore {
                target,
                d,
                pos,
                filler,
            } => {
                if *pos >= block {
                    *filler += 1;
                }
                *pos += 1;
                if *pos == block + *d {
                    *pos = 0;
                    *filler = 0;
                    if *d == self.tau_max {
                        *d = 1;
                        *target = (*target + 1) % n;
                    } else {
                        *d += 1;
                    }
                }
            }
        }
    }

    /// Hands out a play of `arm`: its cell waits for the reward, every state moves on.
    fn play(&mut self, arm: usize) {
        let cell = arm * 2 * self.tau_max + cell_of(self.state[arm], self.tau_max);
        self.pending.push(arm, cell);
        let t = self.tau_max as i32;
        for (i, s) in self.state.iter_mut().enumerate() {
            *s = step_state(*s, i == arm, t);
        }
        self.n_selected += 1;
    }

    /// The reward of a play of `arm` handed out by `select` (the oldest one waiting).
    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        let (_, cell) = self
            .pending
            .take(arm, reward, self.n_arms, "LSDExploreCommit")?;
        self.cells.push(cell, reward);
        self.n_updates += 1;
        Ok(())
    }
}

impl Agent for LSDExploreCommit {
    fn act(&mut self) -> Vec<usize> {
        vec![self.select()]
    }
    fn feed(&mut self, arm: usize, reward: f64) -> Result<()> {
        self.update(arm as i64, reward)
    }
}

impl Persist for LSDExploreCommit {
    const KIND: &'static str = "LSDExploreCommit";
    fn check_invariants(&self) -> Result<()> {
        check_sizes(self.n_arms, self.tau_max)?;
        check_horizon(self.horizon)?;
        let (n, t) = (self.n_arms, self.tau_max);
        let phase_ok = match &self.phase {
            Phase::Explore {
                target,
                d,
                pos,
                filler,
            } => *target < n && (1..=t).contains(d) && *pos < t + 1 + *d && *filler <= *d,
            Phase::Commit { cycle, pos } => {
                !cycle.is_empty() && *pos < cycle.len() && cycle.iter().all(|&a| a < n)
            }
        };
        let ok = phase_ok
            && self.n0 >= 1
            && self.rng.is_valid()
            && self.cells.is_valid(n * 2 * t)
            && self.state.len() == n
            && self
                .state
                .iter()
                .all(|&s| s != 0 && s.unsigned_abs() as usize <= t)
            && self.state.iter().filter(|&&s| s > 0).count() <= 1
            && self.pending.is_valid(n, n * 2 * t)
            && self.cells.total() == self.n_updates
            && self.n_updates <= self.n_selected;
        if !ok {
            return Err(Error::state("LSDExploreCommit state is inconsistent"));
        }
        Ok(())
    }
}

impl Persist for LSDEnv {
    const KIND: &'static str = "LSDEnv";
    fn check_invariants(&self) -> Result<()> {
        check_sizes(self.n_arms, self.tau_max)?;
        let t = self.tau_max;
        check_table("satiation", &self.satiation, self.n_arms, t)?;
        check_table("deprivation", &self.deprivation, self.n_arms, t)?;
        check_monotone("satiation", &self.satiation, t, false)?;
        check_monotone("deprivation", &self.deprivation, t, true)?;
        let ok = self.rng.is_valid()
            && self.state.len() == self.n_arms
            && self
                .state
                .iter()
                .all(|&s| s != 0 && s.unsigned_abs() as usize <= t)
            && self.state.iter().filter(|&&s| s > 0).count() <= 1;
        if !ok {
            return Err(Error::state("LSDEnv state is inconsistent"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{optimal_curve, simulate};
    use super::*;

    /// Arm 0 satiates fast; arm 1 satiates slowly and recovers slowly.
    fn env() -> LSDEnv {
        LSDEnv::new(
            &[0.9, 0.5, 0.2, 0.7, 0.6, 0.5],
            &[0.3, 0.6, 0.9, 0.2, 0.4, 0.8],
            2,
            3,
            Some(0),
        )
        .unwrap()
    }

    #[test]
    fn the_reward_model_matches_a_hand_computation() {
        let mut e = env();
        assert_eq!(e.means(), vec![0.9, 0.8]); // both rested 3 rounds
        e.pull(0).unwrap();
        // Arm 0 played on once (+1: satiation[0]); arm 1 idle 3 (capped).
        assert_eq!(e.states(), &[1, -3]);
        assert_eq!(e.means(), vec![0.9, 0.8]);
        e.pull(0).unwrap();
        assert_eq!(e.means(), vec![0.5, 0.8]);
        e.pull(1).unwrap();
        // Arm 0 switched off one round ago (-1), arm 1 on for 1 round.
        assert_eq!(e.states(), &[-1, 1]);
        assert_eq!(e.means(), vec![0.3, 0.7]);
        e.pull(1).unwrap();
        assert_eq!(e.means(), vec![0.6, 0.6]);
        assert!(LSDEnv::new(&[0.1, 0.5], &[0.5, 0.6], 2, 1, None).is_ok());
        assert!(
            LSDEnv::new(&[0.1, 0.5, 0.1, 0.1], &[0.5; 4], 2, 2, None).is_err(),
            "satiation must be nonincreasing"
        );
        assert!(e.pull(2).is_err());
    }

    #[test]
    fn the_planner_finds_the_best_cycle_and_is_near_the_optimum() {
        let e = env();
        let cycle = plan_cycle(&e.cell_means(), 2, 3);
        let v = cycle_value(&cycle, &e.cell_means(), 2, 3);
        // Every single-arm or alternating cycle is worse or equal.
        for c in [vec![0], vec![1], vec![0, 1], vec![0, 0, 1, 1]] {
            assert!(cycle_value(&c, &e.cell_means(), 2, 3) <= v + 1e-12);
        }
        let opt = optimal_curve(&e, 3000).unwrap()[2999] / 3000.0;
        assert!(v <= opt + 1e-3 && v > 0.95 * opt, "{v} {opt}");
    }

    #[test]
    fn explore_then_commit_regret_grows_like_t_to_the_two_thirds() {
        let e = env();
        let mut regrets = Vec::new();
        let horizons = [4_000usize, 32_000, 256_000];
        for &t in &horizons {
            let mut total = 0.0;
            for seed in 0..3 {
                let mut p = LSDExploreCommit::new(2, 3, t as u64, None, Some(seed)).unwrap();
                let run = simulate(&mut p, &e, t, seed + 10).unwrap();
                let got: f64 = run.expected.iter().sum();
                total += run.benchmark[t - 1] - got;
            }
            regrets.push(total / 3.0);
        }
        let slope = (regrets[2] / regrets[0]).ln() / (horizons[2] as f64 / horizons[0] as f64).ln();
        assert!(
            (0.5..0.8).contains(&slope),
            "slope {slope}, regrets {regrets:?}"
        );
    }

    #[test]
    fn exploration_fills_every_cell() {
        let mut p = LSDExploreCommit::new(3, 2, 1000, Some(5), Some(0)).unwrap();
        let mut e = LSDEnv::new(&[0.5; 6], &[0.5; 6], 3, 2, Some(0)).unwrap();
        while p.cycle().is_none() {
            let a = p.select();
            let r = e.pull(a as i64).unwrap();
            p.update(a as i64, r).unwrap();
        }
        assert!(p.counts().iter().all(|&c| c >= 5), "{:?}", p.counts());
        // Its state tracking agrees with the environment's.
        assert_eq!(p.state, e.states());
        let bytes = crate::state::encode(&p).unwrap();
        let q: LSDExploreCommit = crate::state::decode(&bytes).unwrap();
        assert_eq!(q, p);
    }

    #[test]
    fn masked_plays_stay_eligible_and_a_full_mask_changes_nothing() {
        let make = || LSDExploreCommit::new(3, 2, 2000, Some(2), Some(4)).unwrap();
        let (mut plain, mut full, mut masked) = (make(), make(), make());
        let all = Eligible::all(3);
        let not_zero = Eligible::from_indices(&[1, 2], 3).unwrap();
        for t in 0..600 {
            let a = plain.select();
            assert_eq!(full.select_eligible(&all).unwrap(), a);
            let r = (t % 2) as f64;
            plain.update(a as i64, r).unwrap();
            full.update(a as i64, r).unwrap();
            let m = masked.select_eligible(&not_zero).unwrap();
            assert_ne!(m, 0);
            masked.update(m as i64, r).unwrap();
        }
        assert_eq!(plain, full);
    }
}
