//! Weighted tallying bandits (Malik, Igoe, Li, Singh 2023): arm a's mean reward at round t
//! is f_a(sum_{j=1..m} w_j 1{a_{t-j} = a}), a function of a weighted tally of its plays in
//! the last m rounds. The environment takes f_a(x) = base_a + slope_a x (reward = 1 - the
//! paper's loss; the tally is at most sum_j w_j).
//!
//! [`TallyingElimination`] is successive elimination with warm-up plays (ALGORITHMS.md 5.3):
//! phase k = 1, 2, ... plays each active arm `M + 2^k` times in a row, where M >= m bounds
//! the window, discards the first M rewards of each block (they are taken while the tally
//! fills), and averages the others over all phases; at the end of a phase it eliminates arm
//! a if mean_a + c_a < max_b (mean_b - c_b), c_a = sqrt(2 ln(2 K T^2) / N_a) with N_a the
//! kept rewards; once one arm is left it plays it forever. The arms' order within a phase
//! is drawn at random.

use super::{bernoulli, check_horizon, Agent, Cells, Pending, ReactiveEnv, ReactiveModel};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use serde::{Deserialize, Serialize};

/// The tallying environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TallyingEnv {
    base: Vec<f64>,
    slope: Vec<f64>,
    weights: Vec<f64>,
    /// The last m plays, most recent first (fewer at the start).
    history: Vec<usize>,
    rng: Rng,
    n_pulls: u64,
}

fn check_model(base: &[f64], slope: &[f64], weights: &[f64]) -> Result<()> {
    let k = base.len();
    if k < 2 {
        return Err(Error::param(
            "base",
            format!("needs at least 2 arms, got {k}"),
        ));
    }
    if slope.len() != k {
        return Err(Error::shape(
            "slope",
            format!("length {} does not match base (length {k})", slope.len()),
        ));
    }
    if weights.is_empty() || weights.len() > 1 << 16 {
        return Err(Error::shape(
            "weights",
            format!(
                "expected 1..=65536 weights (the window m), got {}",
                weights.len()
            ),
        ));
    }
    if let Some((i, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(**w >= 0.0 && w.is_finite()))
    {
        return Err(Error::param(
            "weights",
            format!(
                "must be nonnegative and finite, got {} at position {i}",
                crate::error::show(*w)
            ),
        ));
    }
    let total: f64 = weights.iter().sum();
    for a in 0..k {
        let (lo, hi) = (base[a], base[a] + slope[a] * total);
        if !((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi)) {
            return Err(Error::param(
                "base",
                format!(
                    "arm {a}: base + slope * tally must stay in [0, 1] for tallies in [0, {total}], got {} and {}",
                    crate::error::show(lo),
                    crate::error::show(hi)
                ),
            ));
        }
    }
    crate::limits::check_alloc("weights", &[weights.len(), k], 16)
}

impl TallyingEnv {
    pub fn new(base: &[f64], slope: &[f64], weights: &[f64], seed: Option<u64>) -> Result<Self> {
        check_model(base, slope, weights)?;
        Ok(TallyingEnv {
            base: base.to_vec(),
            slope: slope.to_vec(),
            weights: weights.to_vec(),
            history: Vec::new(),
            rng: Rng::from_optional_seed(seed),
            n_pulls: 0,
        })
    }

    pub fn n_arms(&self) -> usize {
        self.base.len()
    }
    pub fn window(&self) -> usize {
        self.weights.len()
    }
    pub fn base(&self) -> &[f64] {
        &self.base
    }
    pub fn slope(&self) -> &[f64] {
        &self.slope
    }
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    pub fn n_pulls(&self) -> u64 {
        self.n_pulls
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    fn tally_of(&self, history: &[usize], arm: usize) -> f64 {
        history
            .iter()
            .zip(&self.weights)
            .filter(|(&a, _)| a == arm)
            .fold(0.0, |acc, (_, w)| acc + w)
    }

    /// The weighted tally of each arm now.
    pub fn tallies(&self) -> Vec<f64> {
        (0..self.n_arms())
            .map(|a| self.tally_of(&self.history, a))
            .collect()
    }

    /// Expected reward of each arm if played now.
    pub fn means(&self) -> Vec<f64> {
        (0..self.n_arms())
            .map(|a| self.f(a, self.tally_of(&self.history, a)))
            .collect()
    }

    fn f(&self, arm: usize, tally: f64) -> f64 {
        (self.base[arm] + self.slope[arm] * tally).clamp(0.0, 1.0)
    }

    /// Plays `arm`: its reward.
    pub fn pull(&mut self, arm: i64) -> Result<f64> {
        let arms = super::check_arms(&[arm], self.n_arms(), 1)?;
        let mut rng = self.rng.clone();
        let r = self.pull_unchecked(&arms, &mut rng)[0];
        self.rng = rng;
        Ok(r)
    }

    fn push(history: &mut Vec<usize>, arm: usize, m: usize) {
        history.insert(0, arm);
        history.truncate(m);
    }

    /// Encoded history: base K + 1 digits (K = no play yet), most recent first.
    fn encode(&self, history: &[usize]) -> usize {
        let b = self.n_arms() + 1;
        (0..self.window()).rev().fold(0, |acc, j| {
            acc * b + history.get(j).copied().unwrap_or(b - 1)
        })
    }

    fn decode(&self, mut s: usize) -> Vec<usize> {
        let b = self.n_arms() + 1;
        let mut h = Vec::new();
        for _ in 0..self.window() {
            let d = s % b;
            s /= b;
            if d == b - 1 {
                break;
            }
            h.push(d);
        }
        h
    }

    /// The cumulative expected reward of playing `arm` every round from now.
    pub fn constant_curve(&self, arm: usize, horizon: usize) -> Vec<f64> {
        let mut h = self.history.clone();
        let mut total = 0.0;
        (0..horizon)
            .map(|_| {
                total += self.f(arm, self.tally_of(&h, arm));
                Self::push(&mut h, arm, self.window());
                total
            })
            .collect()
    }
}

impl ReactiveModel for TallyingEnv {
    fn n_arms(&self) -> usize {
        self.base.len()
    }
    fn n_states(&self) -> Option<u64> {
        ((self.n_arms() + 1) as u64).checked_pow(self.window() as u32)
    }
    fn state_index(&self) -> usize {
        self.encode(&self.history)
    }
    fn actions(&self) -> Vec<Vec<usize>> {
        (0..self.n_arms()).map(|a| vec![a]).collect()
    }
    fn transition(&self, s: usize, arms: &[usize]) -> (f64, usize) {
        let mut h = self.decode(s);
        let a = arms[0];
        let r = self.f(a, self.tally_of(&h, a));
        Self::push(&mut h, a, self.window());
        (r, self.encode(&h))
    }
}

impl ReactiveEnv for TallyingEnv {
    fn expected(&self, arms: &[usize]) -> Vec<f64> {
        arms.iter()
            .map(|&a| self.f(a, self.tally_of(&self.history, a)))
            .collect()
    }
    fn pull_unchecked(&mut self, arms: &[usize], rng: &mut Rng) -> Vec<f64> {
        let r = self
            .expected(arms)
            .iter()
            .map(|&m| bernoulli(rng, m))
            .collect();
        for &a in arms {
            Self::push(&mut self.history, a, self.weights.len());
        }
        self.n_pulls += arms.len() as u64;
        r
    }
    /// The best constant action sequence (complete policy regret's comparator).
    fn benchmark_curve(&self, horizon: usize) -> Vec<f64> {
        (0..self.n_arms())
            .map(|a| self.constant_curve(a, horizon))
            .max_by(|x, y| x.last().unwrap_or(&0.0).total_cmp(y.last().unwrap_or(&0.0)))
            .unwrap_or_default()
    }
}

/// Successive elimination with warm-up plays (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TallyingElimination {
    n_arms: usize,
    max_window: u64,
    horizon: u64,
    rng: Rng,
    /// Kept rewards per arm.
    kept: Cells,
    active: Vec<usize>,
    /// The phase's order of the active arms, and where it is.
    order: Vec<usize>,
    phase: u32,
    turn: usize,
    played: u64,
    pending: Pending,
    n_updates: u64,
}

impl TallyingElimination {
    pub fn new(n_arms: usize, max_window: u64, horizon: u64, seed: Option<u64>) -> Result<Self> {
        if n_arms < 2 {
            return Err(Error::param(
                "n_arms",
                format!("must be at least 2, got {n_arms}"),
            ));
        }
        crate::limits::check_alloc("n_arms", &[n_arms], 32)?;
        check_horizon(horizon)?;
        if max_window > 1 << 40 {
            return Err(Error::param(
                "max_window",
                format!("must be at most 2^40, got {max_window}"),
            ));
        }
        let mut p = TallyingElimination {
            n_arms,
            max_window,
            horizon,
            rng: Rng::from_optional_seed(seed),
            kept: Cells::new(n_arms),
            active: (0..n_arms).collect(),
            order: Vec::new(),
            phase: 0,
            turn: 0,
            played: 0,
            pending: Pending::default(),
            n_updates: 0,
        };
        p.start_phase();
        Ok(p)
    }

    pub fn n_arms(&self) -> usize {
        self.n_arms
    }
    pub fn max_window(&self) -> u64 {
        self.max_window
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn n_updates(&self) -> u64 {
        self.n_updates
    }
    /// The current phase (1, 2, ...).
    pub fn phase(&self) -> u32 {
        self.phase
    }
    /// Arms not eliminated.
    pub fn active(&self) -> &[usize] {
        &self.active
    }
    /// Kept (post-warm-up) rewards per arm.
    pub fn counts(&self) -> Vec<u64> {
        self.kept.n.clone()
    }
    /// Mean of the kept rewards per arm (0 where none).
    pub fn means(&self) -> Vec<f64> {
        self.kept.means()
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    fn block_len(&self) -> u64 {
        self.max_window + (1u64 << self.phase.min(40))
    }

    /// Half-width of arm `a`'s interval.
    pub fn width(&self, a: usize) -> f64 {
        let n = self.kept.n[a];
        if n == 0 {
            return f64::INFINITY;
        }
        let k = self.n_arms as f64;
        let t = self.horizon as f64;
        (2.0 * (2.0 * k * t * t).ln() / n as f64).sqrt()
    }

    fn eliminate(&mut self) {
        let best_lower = self
            .active
            .iter()
            .map(|&b| self.kept.mean(b) - self.width(b))
            .fold(f64::NEG_INFINITY, f64::max);
        let keep: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&a| self.kept.mean(a) + self.width(a) >= best_lower)
            .collect();
        if !keep.is_empty() {
            self.active = keep;
        }
    }

    fn start_phase(&mut self) {
        if self.phase > 0 {
            self.eliminate();
        }
        self.phase += 1;
        self.order = self.active.clone();
        for i in (1..self.order.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            self.order.swap(i, j);
        }
        self.turn = 0;
        self.played = 0;
    }

    /// The arm to play this round.
    pub fn select(&mut self) -> usize {
        let a = self.scheduled();
        self.play_scheduled(a);
        a
    }

    /// `select` among the `eligible` arms: the schedule's arm (the current block's, or the
    /// last survivor) when it is eligible, the schedule then advancing as unrestricted;
    /// otherwise the schedule waits and the eligible arm with the highest [`Self::scores`]
    /// (upper confidence bound of the kept rewards) is played, among the eligible arms not
    /// eliminated when there are any, ties at random. The reward of such a substitute play
    /// is not kept (it was not played consistently), and it does not count in the block.
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_arms)?;
        let a = self.scheduled();
        if eligible.contains(a) {
            self.play_scheduled(a);
            return Ok(a);
        }
        let scores = self.scores();
        let any_active = self.active.iter().any(|&b| eligible.contains(b));
        let arm = eligible.argmax(
            scores.iter().enumerate().map(|(b, &s)| {
                if !any_active || self.active.contains(&b) {
                    s
                } else {
                    f64::NEG_INFINITY
                }
            }),
            &mut self.rng,
        );
        // Cell 0: discarded, as a warm-up reward.
        self.pending.push(arm, 0);
        Ok(arm)
    }

    /// The index of every arm: `mean_a + c_a` over its kept rewards (the upper end of the
    /// interval the elimination test uses), +inf with none.
    pub fn scores(&self) -> Vec<f64> {
        (0..self.n_arms)
            .map(|a| self.kept.mean(a) + self.width(a))
            .collect()
    }

    /// The schedule's arm for this round, moving to the next block or phase when the
    /// current block is complete.
    fn scheduled(&mut self) -> usize {
        if self.active.len() == 1 {
            return self.active[0];
        }
        if self.played == self.block_len() {
            self.turn += 1;
            self.played = 0;
            if self.turn == self.order.len() {
                self.start_phase();
                if self.active.len() == 1 {
                    return self.active[0];
                }
            }
        }
        self.order[self.turn]
    }

    /// Hands out the schedule's play of `a` (its reward kept once the warm-up is over).
    fn play_scheduled(&mut self, a: usize) {
        if self.active.len() == 1 {
            self.pending.push(a, 0);
            return;
        }
        // Cell 1: a kept reward; 0: warm-up, discarded.
        let keep = self.played >= self.max_window;
        self.pending.push(a, keep as usize);
        self.played += 1;
    }

    /// The reward of a play of `arm` handed out by `select` (the oldest one waiting).
    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        let (a, keep) = self
            .pending
            .take(arm, reward, self.n_arms, "TallyingElimination")?;
        if keep == 1 {
            self.kept.push(a, reward);
        }
        self.n_updates += 1;
        Ok(())
    }
}

impl Agent for TallyingElimination {
    fn act(&mut self) -> Vec<usize> {
        vec![self.select()]
    }
    fn feed(&mut self, arm: usize, reward: f64) -> Result<()> {
        self.update(arm as i64, reward)
    }
}

impl Persist for TallyingElimination {
    const KIND: &'static str = "TallyingElimination";
    fn check_invariants(&self) -> Result<()> {
        let n = self.n_arms;
        check_horizon(self.horizon)?;
        let sorted = |v: &[usize]| v.windows(2).all(|w| w[0] < w[1]);
        let mut order = self.order.clone();
        order.sort_unstable();
        let ok = n >= 2
            && self.max_window <= 1 << 40
            && self.rng.is_valid()
            && self.kept.is_valid(n)
            && !self.active.is_empty()
            && sorted(&self.active)
            && self.active.iter().all(|&a| a < n)
            && sorted(&order)
            && order.iter().all(|&a| a < n)
            && (self.active.len() == 1 || self.turn < self.order.len())
            && self.phase >= 1
            && self.played <= self.block_len()
            && self.pending.is_valid(n, 2)
            && self.kept.total() <= self.n_updates;
        if !ok {
            return Err(Error::state("TallyingElimination state is inconsistent"));
        }
        Ok(())
    }
}

impl Persist for TallyingEnv {
    const KIND: &'static str = "TallyingEnv";
    fn check_invariants(&self) -> Result<()> {
        check_model(&self.base, &self.slope, &self.weights)?;
        let ok = self.rng.is_valid()
            && self.history.len() <= self.weights.len()
            && self.history.iter().all(|&a| a < self.base.len());
        if !ok {
            return Err(Error::state("TallyingEnv state is inconsistent"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{optimal_curve, simulate, Baseline};
    use super::*;
    use crate::policy::UCB1;

    /// Arm 1 is bad when played sporadically (0 plus 0.045 per play in the last 20 rounds)
    /// and the best when played consistently (0.9); arm 0 is a flat 0.6.
    pub(crate) fn trap(seed: u64) -> TallyingEnv {
        TallyingEnv::new(&[0.6, 0.0], &[0.0, 0.9], &[0.05; 20], Some(seed)).unwrap()
    }

    #[test]
    fn the_reward_model_matches_a_hand_computation() {
        let mut e = TallyingEnv::new(
            &[0.6, 0.1, 0.3],
            &[0.0, 0.8, 0.2],
            &[0.5, 0.3, 0.2],
            Some(0),
        )
        .unwrap();
        assert_eq!(e.means(), vec![0.6, 0.1, 0.3]);
        for a in [1, 2, 1] {
            e.pull(a).unwrap();
        }
        // Arm 1's tally: w1 + w3 = 0.7; arm 2's: w2 = 0.3.
        let m = e.means();
        assert!((m[1] - (0.1 + 0.8 * 0.7)).abs() < 1e-12);
        assert!((m[2] - (0.3 + 0.2 * 0.3)).abs() < 1e-12);
        e.pull(0).unwrap();
        // The oldest play of arm 1 leaves the window of 3.
        let m = e.means();
        assert!((m[1] - (0.1 + 0.8 * 0.3)).abs() < 1e-12, "{m:?}");
        assert!((m[0] - 0.6).abs() < 1e-12);
        assert!(TallyingEnv::new(&[0.5, 0.9], &[0.0, 0.5], &[1.0], None).is_err());
    }

    #[test]
    fn the_warm_up_finds_the_arm_that_plain_ucb_misses() {
        let t = 10_000;
        for seed in 0..3 {
            let e = trap(seed);
            let mut p = TallyingElimination::new(2, 20, t as u64, Some(seed)).unwrap();
            let run = simulate(&mut p, &e, t, seed).unwrap();
            assert_eq!(p.active(), &[1], "seed {seed}");
            let late = &run.arms[t - 1000..];
            assert!(late.iter().all(|&a| a == 1));
            let mut ucb = Baseline(UCB1::new(2, 1.0, Some(seed)).unwrap());
            let run_ucb = simulate(&mut ucb, &e, t, seed).unwrap();
            let share = run_ucb.arms.iter().filter(|&&a| a == 1).count() as f64 / t as f64;
            assert!(share < 0.2, "UCB1 played the trap arm {share}");
            let regret =
                |r: &super::super::ReactiveRun| r.benchmark[t - 1] - r.expected.iter().sum::<f64>();
            assert!(regret(&run) < 0.5 * regret(&run_ucb));
        }
        // On a window of 4 (small enough for the exact oracle), playing the saturating arm
        // forever is optimal: the benchmark is the optimum.
        let e = TallyingEnv::new(&[0.6, 0.0], &[0.0, 0.9], &[0.25; 4], Some(0)).unwrap();
        let opt = optimal_curve(&e, 500).unwrap();
        assert!((opt[499] - e.benchmark_curve(500)[499]).abs() < 1e-9);
    }

    #[test]
    fn masked_plays_stay_eligible_and_a_full_mask_changes_nothing() {
        let make = || TallyingElimination::new(3, 2, 2000, Some(4)).unwrap();
        let (mut plain, mut full, mut masked) = (make(), make(), make());
        let all = Eligible::all(3);
        let only_two = Eligible::from_indices(&[2], 3).unwrap();
        for t in 0..600 {
            let a = plain.select();
            assert_eq!(full.select_eligible(&all).unwrap(), a);
            let r = (t % 3) as f64 / 2.0;
            plain.update(a as i64, r).unwrap();
            full.update(a as i64, r).unwrap();
            let m = masked.select_eligible(&only_two).unwrap();
            assert_eq!(m, 2);
            masked.update(m as i64, r).unwrap();
        }
        assert_eq!(plain, full);
        let err = masked
            .select_eligible(&Eligible::all(4))
            .unwrap_err()
            .to_string();
        assert!(err.contains("eligible"), "{err}");
    }
}
