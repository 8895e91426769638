//! Best-arm identification: find the arm with the highest mean reward (in [0, 1]) and
//! stop, rather than minimize regret on the way.
//!
//! One [`BestArmIdentifier`] runs one of three rules ([`Rule`]):
//! - successive halving (Karnin, Koren, Somekh 2013), fixed budget T: ceil(log2 K) rounds,
//!   each pulls the survivors floor(T / (|S| ceil(log2 K))) times and keeps the better half;
//! - LUCB (Kalyanakrishnan et al. 2012), fixed confidence delta: pull the empirical best h
//!   and the challenger l with the highest upper bound among the rest, stop when
//!   LCB_h > UCB_l, with Hoeffding bounds at beta(t, delta) = ln(5 K t^4 / (4 delta));
//! - track-and-stop (Garivier & Kaufmann 2016), fixed confidence delta: D-tracking of the
//!   optimal proportions w*(mu_hat) of the Gaussian model with variance 1/4 (sub-Gaussian
//!   for rewards in [0, 1]), forced exploration when some n_i < sqrt(t) - K/2, stop when
//!   the GLR statistic exceeds ln((ln t + 1) / delta).
//!
//! Decisions handed out but not yet answered count for scheduling (`assigned`), so
//! `select_batch` followed by `update_batch` follows the same schedule as single calls.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::{self, Persist};
use crate::stats::ArmStats;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Variance proxy of rewards in [0, 1] (Hoeffding).
const SIGMA2: f64 = 0.25;

/// The rule and its parameter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// Fixed budget of `budget` pulls; `delta` only sets the level of the reported intervals.
    SuccessiveHalving { budget: u64, delta: f64 },
    /// Fixed confidence 1 - `delta`.
    LUCB { delta: f64 },
    /// Fixed confidence 1 - `delta`.
    TrackAndStop { delta: f64 },
}

impl Rule {
    /// The Python class name.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::SuccessiveHalving { .. } => "SuccessiveHalving",
            Rule::LUCB { .. } => "LUCB",
            Rule::TrackAndStop { .. } => "TrackAndStop",
        }
    }

    fn delta(&self) -> f64 {
        match *self {
            Rule::SuccessiveHalving { delta, .. } | Rule::LUCB { delta } => delta,
            Rule::TrackAndStop { delta } => delta,
        }
    }
}

/// What `recommend` answers: the arm, the confidence that it is the best, and per-arm
/// confidence intervals at the rule's level.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub arm: usize,
    pub confidence: f64,
    pub means: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// A best-arm identification run (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestArmIdentifier {
    rule: Rule,
    rng: Rng,
    arms: Vec<ArmStats>,
    /// Pulls handed out by `select` per arm (answered or not).
    assigned: Vec<u64>,
    /// Successive halving: arms still in, the round, and this round's pulls.
    survivors: Vec<usize>,
    round: u32,
    round_assigned: Vec<u64>,
    round_observed: Vec<u64>,
    /// LUCB: the arms of the current round not yet handed out.
    queue: VecDeque<usize>,
}

fn rounds(k: usize) -> u32 {
    (k as f64).log2().ceil().max(1.0) as u32
}

fn check_delta(delta: f64) -> Result<()> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::param(
            "delta",
            format!("must be in (0, 1), got {}", crate::error::show(delta)),
        ))
    }
}

/// Optimal sampling proportions of the Gaussian model for means `mu` (best arm `h`):
/// x_a(y) = y / (d_a - y) with d_a = gap_a^2, F(y) = sum x_a(y)^2 = 1 solved by bisection
/// on (0, min d_a); w_h = 1 / (1 + sum x_a), w_a = x_a w_h (Garivier & Kaufmann, Thm 5,
/// where the Gaussian divergences make the inner problem closed-form).
pub fn optimal_proportions(mu: &[f64]) -> Vec<f64> {
    let k = mu.len();
    let h = argmax(mu);
    let d: Vec<f64> = mu.iter().map(|&m| (mu[h] - m).powi(2)).collect();
    let dmin = (0..k)
        .filter(|&a| a != h)
        .map(|a| d[a])
        .fold(f64::INFINITY, f64::min);
    if dmin.is_nan() || dmin <= 1e-24 || dmin.is_infinite() {
        return vec![1.0 / k as f64; k];
    }
    let x = |y: f64| -> Vec<f64> {
        (0..k)
            .map(|a| if a == h { 0.0 } else { y / (d[a] - y) })
            .collect()
    };
    let (mut lo, mut hi) = (0.0, dmin);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if x(mid).iter().map(|v| v * v).sum::<f64>() > 1.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let xs = x(0.5 * (lo + hi));
    let wh = 1.0 / (1.0 + xs.iter().sum::<f64>());
    (0..k)
        .map(|a| if a == h { wh } else { xs[a] * wh })
        .collect()
}

/// The index of the largest value (the lowest index among ties).
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// LUCB's exploration level ln(5 K t^4 / (4 delta)), t >= 1.
fn beta(k: usize, t: u64, delta: f64) -> f64 {
    let t = t.max(1) as f64;
    (5.0 * k as f64 / (4.0 * delta)).ln() + 4.0 * t.ln()
}

impl BestArmIdentifier {
    pub fn new(n_arms: usize, rule: Rule, seed: Option<u64>) -> Result<Self> {
        if n_arms < 2 {
            return Err(Error::param(
                "n_arms",
                format!("must be at least 2, got {n_arms}"),
            ));
        }
        crate::limits::check_alloc("n_arms", &[n_arms], 64)?;
        let id = BestArmIdentifier {
            rule,
            rng: Rng::from_optional_seed(seed),
            arms: vec![ArmStats::default(); n_arms],
            assigned: vec![0; n_arms],
            survivors: (0..n_arms).collect(),
            round: 0,
            round_assigned: vec![0; n_arms],
            round_observed: vec![0; n_arms],
            queue: VecDeque::new(),
        };
        id.check_rule()?;
        Ok(id)
    }

    fn check_rule(&self) -> Result<()> {
        let k = self.arms.len();
        check_delta(self.rule.delta())?;
        if let Rule::SuccessiveHalving { budget, .. } = self.rule {
            let need = k as u64 * rounds(k) as u64;
            if budget < need {
                return Err(Error::param(
                    "budget",
                    format!(
                        "must be at least n_arms * ceil(log2(n_arms)) = {need} (one pull per arm and round), got {budget}"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }
    pub fn n_arms(&self) -> usize {
        self.arms.len()
    }
    /// Rewards recorded.
    pub fn n_samples(&self) -> u64 {
        self.arms.iter().map(|a| a.n).sum()
    }
    pub fn counts(&self) -> Vec<u64> {
        self.arms.iter().map(|a| a.n).collect()
    }
    pub fn means(&self) -> Vec<f64> {
        self.arms.iter().map(|a| a.mean()).collect()
    }
    /// Successive halving's remaining arms (all arms for the other rules).
    pub fn survivors(&self) -> Vec<usize> {
        match self.rule {
            Rule::SuccessiveHalving { .. } => self.survivors.clone(),
            _ => (0..self.arms.len()).collect(),
        }
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    /// Pulls per survivor in the current round of successive halving.
    fn quota(&self, budget: u64) -> u64 {
        let r = rounds(self.arms.len()) as u64;
        (budget / (self.survivors.len() as u64 * r)).max(1)
    }

    /// The next arm to pull.
    pub fn select(&mut self) -> usize {
        let k = self.arms.len();
        let arm = match self.rule {
            Rule::SuccessiveHalving { .. } => *self
                .survivors
                .iter()
                .min_by_key(|&&i| self.round_assigned[i])
                .unwrap_or(&0),
            _ if self.assigned.contains(&0) => {
                // Each arm once first, in random order.
                let untried: Vec<usize> = (0..k).filter(|&i| self.assigned[i] == 0).collect();
                untried[self.rng.below(untried.len() as u64) as usize]
            }
            Rule::LUCB { .. } => {
                if self.queue.is_empty() {
                    let (h, l) = self.leader_and_challenger();
                    self.queue.push_back(h);
                    self.queue.push_back(l);
                }
                self.queue.pop_front().unwrap_or(0)
            }
            Rule::TrackAndStop { .. } => {
                let t: u64 = self.assigned.iter().sum();
                let forced = (t as f64).sqrt() - k as f64 / 2.0;
                let least = argmin_u64(&self.assigned);
                if (self.assigned[least] as f64) < forced {
                    least
                } else {
                    let w = optimal_proportions(&self.means());
                    let deficit: Vec<f64> = (0..k)
                        .map(|i| t as f64 * w[i] - self.assigned[i] as f64)
                        .collect();
                    argmax(&deficit)
                }
            }
        };
        self.assigned[arm] += 1;
        self.round_assigned[arm] += 1;
        arm
    }

    pub fn select_batch(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.select()).collect()
    }

    fn check_row(
        &self,
        argument_arm: &str,
        arm: i64,
        reward: f64,
        pos: Option<usize>,
    ) -> Result<()> {
        let k = self.arms.len();
        if arm < 0 || arm as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: argument_arm.to_string(),
                arm,
                n_arms: k,
                position: pos,
            });
        }
        let argument = if pos.is_some() { "rewards" } else { "reward" };
        crate::policy::RewardDomain::Unit.check(argument, reward, pos, self.rule.name())
    }

    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        self.check_row("arm", arm, reward, None)?;
        self.observe(arm as usize, reward);
        Ok(())
    }

    /// Validates every row before recording any.
    pub fn update_batch(&mut self, arms: &[i64], rewards: &[f64]) -> Result<()> {
        if arms.len() != rewards.len() {
            return Err(Error::shape(
                "rewards",
                format!(
                    "length {} does not match arms (length {})",
                    rewards.len(),
                    arms.len()
                ),
            ));
        }
        for (i, (&a, &r)) in arms.iter().zip(rewards).enumerate() {
            self.check_row("arms", a, r, Some(i))?;
        }
        for (&a, &r) in arms.iter().zip(rewards) {
            self.observe(a as usize, r);
        }
        Ok(())
    }

    fn observe(&mut self, arm: usize, reward: f64) {
        self.arms[arm].push(reward);
        // An update of an arm never handed out (logged data) counts as handed out too.
        self.assigned[arm] = self.assigned[arm].max(self.arms[arm].n);
        if let Rule::SuccessiveHalving { budget, .. } = self.rule {
            if self.survivors.len() > 1 && self.survivors.contains(&arm) {
                self.round_observed[arm] += 1;
                self.round_assigned[arm] = self.round_assigned[arm].max(self.round_observed[arm]);
                let quota = self.quota(budget);
                if self
                    .survivors
                    .iter()
                    .all(|&i| self.round_observed[i] >= quota)
                {
                    self.halve();
                }
            }
        }
    }

    /// Keeps the better half (ceil) of the survivors by empirical mean.
    fn halve(&mut self) {
        let means = self.means();
        let mut s = self.survivors.clone();
        s.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
        s.truncate(s.len().div_ceil(2));
        s.sort_unstable();
        self.survivors = s;
        self.round += 1;
        self.round_assigned.iter_mut().for_each(|x| *x = 0);
        self.round_observed.iter_mut().for_each(|x| *x = 0);
    }

    /// Hoeffding half-width of arm `i` at level `b` (infinite before its first reward).
    fn width(&self, i: usize, b: f64) -> f64 {
        let n = self.arms[i].n;
        if n == 0 {
            f64::INFINITY
        } else {
            (b / (2.0 * n as f64)).sqrt()
        }
    }

    fn level(&self) -> f64 {
        beta(self.arms.len(), self.n_samples(), self.rule.delta())
    }

    /// LUCB's pair: the empirical best, and the other arm with the highest upper bound.
    fn leader_and_challenger(&self) -> (usize, usize) {
        let means = self.means();
        let h = argmax(&means);
        let b = self.level();
        let ucb: Vec<f64> = (0..means.len())
            .map(|i| {
                if i == h {
                    f64::NEG_INFINITY
                } else {
                    means[i] + self.width(i, b)
                }
            })
            .collect();
        (h, argmax(&ucb))
    }

    /// GLR statistic of the empirical best against its closest competitor (Gaussian model).
    fn glr(&self) -> f64 {
        let means = self.means();
        let h = argmax(&means);
        let nh = self.arms[h].n as f64;
        (0..means.len())
            .filter(|&l| l != h)
            .map(|l| {
                let nl = self.arms[l].n as f64;
                let gap = (means[h] - means[l]).max(0.0);
                gap * gap / (2.0 * SIGMA2 * (1.0 / nh + 1.0 / nl))
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Whether the rule has reached its verdict (budget spent and one survivor, or the
    /// stopping condition at confidence 1 - delta).
    pub fn should_stop(&self) -> bool {
        if self.arms.iter().any(|a| a.n == 0) {
            return false;
        }
        match self.rule {
            Rule::SuccessiveHalving { .. } => self.survivors.len() == 1,
            Rule::LUCB { .. } => {
                let (h, l) = self.leader_and_challenger();
                let b = self.level();
                let means = self.means();
                means[h] - self.width(h, b) > means[l] + self.width(l, b)
            }
            Rule::TrackAndStop { delta } => {
                let t = self.n_samples() as f64;
                self.glr() > ((t.ln() + 1.0) / delta).ln()
            }
        }
    }

    /// The recommended arm (successive halving: the last survivor, or the best of the
    /// current ones; the others: the empirical best), the confidence that it is the best
    /// (1 minus the smallest delta at which the rule's stopping test would pass now), and
    /// Hoeffding intervals at the rule's level.
    pub fn recommend(&self) -> Recommendation {
        let k = self.arms.len();
        let means = self.means();
        let arm = match self.rule {
            Rule::SuccessiveHalving { .. } => {
                let s = &self.survivors;
                s[argmax(&s.iter().map(|&i| means[i]).collect::<Vec<_>>())]
            }
            _ => argmax(&means),
        };
        let t = self.n_samples();
        let risk = if self.arms.iter().any(|a| a.n == 0) {
            1.0
        } else if let Rule::TrackAndStop { .. } = self.rule {
            ((t as f64).ln() + 1.0) * (-self.glr()).exp()
        } else {
            // The delta at which LCB_arm = max_l UCB_l under beta(t, delta).
            let c = |i: usize| 1.0 / (2.0 * self.arms[i].n as f64).sqrt();
            let b = (0..k)
                .filter(|&l| l != arm)
                .map(|l| ((means[arm] - means[l]).max(0.0) / (c(arm) + c(l))).powi(2))
                .fold(f64::INFINITY, f64::min);
            5.0 * k as f64 / 4.0 * (t.max(1) as f64).powi(4) * (-b).exp()
        };
        let b = self.level();
        let lower = (0..k)
            .map(|i| (means[i] - self.width(i, b)).max(0.0))
            .collect();
        let upper = (0..k)
            .map(|i| (means[i] + self.width(i, b)).min(1.0))
            .collect();
        Recommendation {
            arm,
            confidence: (1.0 - risk).clamp(0.0, 1.0),
            means,
            lower,
            upper,
        }
    }

    /// One identification on Bernoulli arms with `means`, from a copy of this state: the
    /// recommended arm and the number of samples, stopping at `max_samples` at the latest.
    pub fn run_bernoulli(&self, means: &[f64], seed: u64, max_samples: u64) -> (usize, u64, bool) {
        let mut id = self.clone();
        id.reseed(Rng::child_seed(seed, 0));
        let mut env = Rng::seed_from_u64(Rng::child_seed(seed, 1));
        while !id.should_stop() && id.n_samples() < max_samples {
            let a = id.select();
            let r = if env.uniform() < means[a] { 1.0 } else { 0.0 };
            id.observe(a, r);
        }
        (id.recommend().arm, id.n_samples(), id.should_stop())
    }
}

/// `n_runs` seeded identifications (run in parallel; each from a copy of `template`):
/// per run the recommended arm, the samples used and whether the rule stopped by itself.
pub fn run_identifications(
    template: &BestArmIdentifier,
    means: &[f64],
    n_runs: usize,
    seed: u64,
    max_samples: u64,
) -> Result<Vec<(usize, u64, bool)>> {
    if means.len() != template.n_arms() {
        return Err(Error::shape(
            "means",
            format!(
                "length {} does not match the identifier's {} arms",
                means.len(),
                template.n_arms()
            ),
        ));
    }
    if let Some((i, m)) = means
        .iter()
        .enumerate()
        .find(|(_, m)| !(0.0..=1.0).contains(*m))
    {
        return Err(Error::param(
            "means",
            format!(
                "must be Bernoulli means in [0, 1], got {} at position {i}",
                crate::error::show(*m)
            ),
        ));
    }
    crate::limits::check_alloc("n_runs", &[n_runs], 64)?;
    Ok(crate::parallel::install(|| {
        crate::parallel::map_with_caller(n_runs, |i| {
            template.run_bernoulli(means, Rng::child_seed(seed, i as u64), max_samples)
        })
    }))
}

fn argmin_u64(v: &[u64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x < v[best] {
            best = i;
        }
    }
    best
}

impl Persist for BestArmIdentifier {
    const KIND: &'static str = "BestArmIdentifier";
    fn check_invariants(&self) -> Result<()> {
        let k = self.arms.len();
        let ok = k >= 2
            && self.rng.is_valid()
            && self.assigned.len() == k
            && self.round_assigned.len() == k
            && self.round_observed.len() == k
            && self
                .arms
                .iter()
                .all(|a| a.is_valid() && a.mean() >= 0.0 && a.mean() <= 1.0)
            && !self.survivors.is_empty()
            && self.survivors.windows(2).all(|w| w[0] < w[1])
            && self.survivors.iter().all(|&i| i < k)
            && self.queue.iter().all(|&i| i < k)
            && self.queue.len() <= 2
            && self.arms.iter().zip(&self.assigned).all(|(a, &n)| a.n <= n);
        if !ok {
            return Err(Error::state(
                "best-arm identification state is inconsistent",
            ));
        }
        self.check_rule()
    }
}

/// Decodes an identifier's bytes.
pub fn decode(bytes: &[u8]) -> Result<BestArmIdentifier> {
    state::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bernoulli_runs(rule: Rule, means: &[f64], n: usize) -> (f64, f64) {
        let id = BestArmIdentifier::new(means.len(), rule, Some(0)).unwrap();
        let runs = run_identifications(&id, means, n, 11, 10_000_000).unwrap();
        let best = argmax(means);
        let wrong = runs.iter().filter(|r| r.0 != best).count() as f64 / n as f64;
        let samples = runs.iter().map(|r| r.1 as f64).sum::<f64>() / n as f64;
        (wrong, samples)
    }

    #[test]
    fn optimal_proportions_of_two_arms_are_equal_and_sum_to_one() {
        let w = optimal_proportions(&[0.7, 0.3]);
        assert!((w[0] - 0.5).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9);
        let w = optimal_proportions(&[0.5, 0.45, 0.2]);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // The close competitor needs more samples than the far one; sum x_a^2 = 1.
        assert!(w[1] > w[2]);
        let x1 = w[1] / w[0];
        let x2 = w[2] / w[0];
        assert!((x1 * x1 + x2 * x2 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn successive_halving_spends_its_budget_in_halving_rounds() {
        let mut id = BestArmIdentifier::new(
            4,
            Rule::SuccessiveHalving {
                budget: 400,
                delta: 0.05,
            },
            Some(0),
        )
        .unwrap();
        let means = [0.9, 0.1, 0.2, 0.3];
        while !id.should_stop() {
            let a = id.select();
            id.update(a as i64, means[a]).unwrap();
        }
        // 2 rounds: 4 arms x 50, then 2 arms x 100.
        assert_eq!(id.counts(), vec![150, 50, 50, 150]);
        assert_eq!(id.recommend().arm, 0);
        assert!(BestArmIdentifier::new(
            4,
            Rule::SuccessiveHalving {
                budget: 7,
                delta: 0.1
            },
            None
        )
        .is_err());
    }

    #[test]
    fn lucb_and_track_and_stop_are_right_at_their_confidence() {
        let means = [0.5, 0.4, 0.3];
        for rule in [Rule::LUCB { delta: 0.1 }, Rule::TrackAndStop { delta: 0.1 }] {
            let (wrong, _) = bernoulli_runs(rule, &means, 40);
            assert!(wrong <= 0.1 + 0.15, "{rule:?}: {wrong}");
        }
    }

    #[test]
    fn state_round_trips_and_continues_identically() {
        let mut id = BestArmIdentifier::new(3, Rule::LUCB { delta: 0.05 }, Some(1)).unwrap();
        for a in id.select_batch(5) {
            id.update(a as i64, 0.5).unwrap();
        }
        let bytes = state::encode(&id).unwrap();
        let mut back = decode(&bytes).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.select_batch(6), id.select_batch(6));
        let snapshot = id.clone();
        assert!(id.update_batch(&[0, 5], &[0.5, 0.5]).is_err());
        assert!(id.update_batch(&[0, 1], &[0.5, 1.5]).is_err());
        assert_eq!(id, snapshot);
    }
}
