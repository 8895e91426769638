//! A baseline for sparse misspecified linear bandits (after Dong & Yang, ICML 2023).
//!
//! Setting: |mu(a) - <theta*, phi(a)>| <= eps with theta* s-sparse. The paper reaches
//! O(eps)-optimality with O~((d/eps)^s) queries; this baseline does *not*: for each
//! support S of size s it runs phased elimination with a G-optimal design (Frank-Wolfe)
//! on the coordinates in S, with elimination widths inflated by eps sqrt(s); then it
//! pulls each support's winner O~(1/eps^2) times and returns the best. Its answer is
//! O(eps sqrt(s))-optimal (the misspecification of each support's fit) and it costs
//! C(d, s) poly(s / eps) queries.

use crate::error::{Error, Result};
use crate::state::Persist;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The most supports the baseline enumerates (C(d, s) above it is refused).
pub const MAX_SUPPORTS: u64 = 100_000;

/// Where the baseline is: eliminating within a support, or evaluating the winners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Stage {
    Eliminate {
        support: usize,
        phase: u32,
        active: Vec<usize>,
    },
    Evaluate,
    Done,
}

/// The baseline (see the module docs). Rewards are real with noise of variance proxy
/// `noise` (1 by default in Python).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseLinearBaseline {
    features: Vec<f64>,
    n_arms: usize,
    dim: usize,
    sparsity: usize,
    epsilon: f64,
    delta: f64,
    noise: f64,
    stage: Stage,
    /// Pulls of the current phase (or of the evaluation) not yet handed out.
    queue: VecDeque<usize>,
    /// Pulls handed out and not yet answered, per arm.
    outstanding: Vec<u64>,
    /// Count and reward sum per arm in the current phase (or evaluation).
    count: Vec<u64>,
    sum: Vec<f64>,
    /// Each finished support's winner.
    winners: Vec<usize>,
    /// The arm recommended at the end and its estimated mean.
    result: Option<(usize, f64)>,
    total: u64,
}

fn binomial(n: usize, k: usize) -> u64 {
    if k > n {
        return 0;
    }
    let mut c: u64 = 1;
    for i in 0..k as u64 {
        c = match c.checked_mul(n as u64 - i) {
            Some(v) => v / (i + 1),
            None => return u64::MAX,
        };
    }
    c
}

/// The `index`-th s-subset of 0..d in lexicographic order.
fn support(d: usize, s: usize, mut index: u64) -> Vec<usize> {
    let mut out = Vec::with_capacity(s);
    let mut next = 0;
    for left in (1..=s).rev() {
        loop {
            let with = binomial(d - next - 1, left - 1);
            if index < with {
                out.push(next);
                next += 1;
                break;
            }
            index -= with;
            next += 1;
        }
    }
    out
}

/// Solves the symmetric positive-definite system `a x = b` (n x n, row-major) by
/// Cholesky; `None` if `a` is not positive definite.
fn solve_spd(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= l[i * n + k] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= l[k * n + i] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    Some(y)
}

/// G-optimal design over the rows `xs` (each of length s) by Frank-Wolfe on
/// log det V(pi) (Kiefer-Wolfowitz: max_a ||x_a||^2_{V^-1} -> s); a small ridge keeps V
/// invertible when the rows do not span R^s.
pub fn g_optimal_design(xs: &[Vec<f64>], iterations: usize) -> Vec<f64> {
    let n = xs.len();
    let s = xs.first().map_or(0, Vec::len);
    let mut pi = vec![1.0 / n as f64; n];
    for it in 0..iterations {
        let mut v = vec![0.0; s * s];
        for (x, &p) in xs.iter().zip(&pi) {
            for i in 0..s {
                for j in 0..s {
                    v[i * s + j] += p * x[i] * x[j];
                }
            }
        }
        for i in 0..s {
            v[i * s + i] += 1e-9;
        }
        let norms: Vec<f64> = xs
            .iter()
            .map(|x| solve_spd(&v, x, s).map_or(0.0, |y| y.iter().zip(x).map(|(a, b)| a * b).sum()))
            .collect();
        let (best, &g) = norms
            .iter()
            .enumerate()
            .fold((0, &f64::NEG_INFINITY), |acc, (i, x)| {
                if *x > *acc.1 {
                    (i, x)
                } else {
                    acc
                }
            });
        if g <= s as f64 * (1.0 + 1e-3) {
            break;
        }
        // The exact line search of Frank-Wolfe for log det.
        let step = ((g / s as f64 - 1.0) / (g - 1.0)).clamp(0.0, 1.0);
        let step = if step > 0.0 {
            step
        } else {
            1.0 / (it + 2) as f64
        };
        for p in &mut pi {
            *p *= 1.0 - step;
        }
        pi[best] += step;
    }
    pi
}

impl SparseLinearBaseline {
    /// `features`: (n_arms, dim) row-major.
    pub fn new(
        features: &[f64],
        n_arms: usize,
        dim: usize,
        sparsity: usize,
        epsilon: f64,
        delta: f64,
        noise: f64,
    ) -> Result<Self> {
        if n_arms < 2 || dim < 1 || features.len() != n_arms * dim {
            return Err(Error::shape(
                "features",
                format!(
                    "expected a (n_arms >= 2, dim >= 1) matrix, got {} values for {n_arms} x {dim}",
                    features.len()
                ),
            ));
        }
        if let Some(i) = features
            .iter()
            .position(|x| !x.is_finite() || x.abs() > 1e100)
        {
            return Err(Error::param(
                "features",
                format!(
                    "must be finite, got {} at flat position {i}",
                    crate::error::show(features[i])
                ),
            ));
        }
        if sparsity < 1 || sparsity > dim {
            return Err(Error::param(
                "sparsity",
                format!("must be in [1, dim = {dim}], got {sparsity}"),
            ));
        }
        if binomial(dim, sparsity) > MAX_SUPPORTS {
            return Err(Error::param(
                "sparsity",
                format!("C(dim, sparsity) = C({dim}, {sparsity}) supports exceed {MAX_SUPPORTS}"),
            ));
        }
        for (name, v, lo, hi) in [
            ("epsilon", epsilon, 1e-6, 1.0),
            ("delta", delta, 1e-12, 0.5),
            ("noise", noise, 1e-12, 1e6),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(Error::param(
                    name,
                    format!("must be in [{lo}, {hi}], got {}", crate::error::show(v)),
                ));
            }
        }
        let mut b = SparseLinearBaseline {
            features: features.to_vec(),
            n_arms,
            dim,
            sparsity,
            epsilon,
            delta,
            noise,
            stage: Stage::Eliminate {
                support: 0,
                phase: 1,
                active: (0..n_arms).collect(),
            },
            queue: VecDeque::new(),
            outstanding: vec![0; n_arms],
            count: vec![0; n_arms],
            sum: vec![0.0; n_arms],
            winners: Vec::new(),
            result: None,
            total: 0,
        };
        b.schedule();
        Ok(b)
    }

    fn n_supports(&self) -> u64 {
        binomial(self.dim, self.sparsity)
    }

    fn projected(&self, arm: usize, cols: &[usize]) -> Vec<f64> {
        cols.iter()
            .map(|&c| self.features[arm * self.dim + c])
            .collect()
    }

    /// Confidence level of every test: delta split over supports, phases and arms.
    fn log_term(&self, phase: u32) -> f64 {
        let p = phase as f64;
        (self.n_supports() as f64 * self.n_arms as f64 * p * (p + 1.0) * 2.0 / self.delta).ln()
    }

    /// Fills the queue with the pulls of the current phase (or of the evaluation).
    fn schedule(&mut self) {
        self.count.iter_mut().for_each(|c| *c = 0);
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        self.queue.clear();
        match &self.stage {
            Stage::Eliminate {
                support: si,
                phase,
                active,
            } => {
                let cols = support(self.dim, self.sparsity, *si as u64);
                let xs: Vec<Vec<f64>> = active.iter().map(|&a| self.projected(a, &cols)).collect();
                let pi = g_optimal_design(&xs, 200);
                let accuracy = 0.5f64.powi(*phase as i32);
                let scale = 2.0 * self.noise * self.sparsity as f64 / (accuracy * accuracy)
                    * self.log_term(*phase);
                for (&a, &p) in active.iter().zip(&pi) {
                    if p > 1e-6 {
                        for _ in 0..(p * scale).ceil() as u64 {
                            self.queue.push_back(a);
                        }
                    }
                }
            }
            Stage::Evaluate => {
                let mut arms = self.winners.clone();
                arms.sort_unstable();
                arms.dedup();
                let m = (2.0 * self.noise * (2.0 * arms.len() as f64 / self.delta).ln()
                    / (self.epsilon * self.epsilon))
                    .ceil() as u64;
                for _ in 0..m {
                    self.queue.extend(arms.iter().copied());
                }
            }
            Stage::Done => {}
        }
    }

    /// The next arm to pull (after the end, the recommended arm).
    pub fn select(&mut self) -> usize {
        let arm = match self.queue.pop_front() {
            Some(a) => a,
            None => match (&self.stage, self.result) {
                (_, Some((a, _))) => a,
                (Stage::Eliminate { active, .. }, _) => active[0],
                _ => self.winners.first().copied().unwrap_or(0),
            },
        };
        self.outstanding[arm] += 1;
        arm
    }

    pub fn select_batch(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.select()).collect()
    }

    fn check_row(&self, arm: i64, reward: f64, pos: Option<usize>) -> Result<()> {
        if arm < 0 || arm as u64 >= self.n_arms as u64 {
            return Err(Error::ArmOutOfRange {
                argument: if pos.is_some() { "arms" } else { "arm" }.into(),
                arm,
                n_arms: self.n_arms,
                position: pos,
            });
        }
        let argument = if pos.is_some() { "rewards" } else { "reward" };
        crate::policy::RewardDomain::Real.check(argument, reward, pos, "SparseLinearBaseline")
    }

    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        self.check_row(arm, reward, None)?;
        self.observe(arm as usize, reward);
        Ok(())
    }

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
            self.check_row(a, r, Some(i))?;
        }
        for (&a, &r) in arms.iter().zip(rewards) {
            self.observe(a as usize, r);
        }
        Ok(())
    }

    fn observe(&mut self, arm: usize, reward: f64) {
        self.outstanding[arm] = self.outstanding[arm].saturating_sub(1);
        self.count[arm] += 1;
        self.sum[arm] += reward;
        self.total += 1;
        if self.queue.is_empty() && self.outstanding.iter().all(|&n| n == 0) {
            self.advance();
        }
    }

    /// Ends the current phase: least squares on the support, elimination, next phase,
    /// support or stage.
    fn advance(&mut self) {
        match self.stage.clone() {
            Stage::Eliminate {
                support: si,
                phase,
                active,
            } => {
                let cols = support(self.dim, self.sparsity, si as u64);
                let s = self.sparsity;
                let mut v = vec![0.0; s * s];
                let mut r = vec![0.0; s];
                for a in 0..self.n_arms {
                    if self.count[a] == 0 {
                        continue;
                    }
                    let x = self.projected(a, &cols);
                    for i in 0..s {
                        r[i] += x[i] * self.sum[a];
                        for j in 0..s {
                            v[i * s + j] += self.count[a] as f64 * x[i] * x[j];
                        }
                    }
                }
                for i in 0..s {
                    v[i * s + i] += 1e-9;
                }
                let theta = solve_spd(&v, &r, s).unwrap_or_else(|| vec![0.0; s]);
                let value: Vec<f64> = active
                    .iter()
                    .map(|&a| {
                        self.projected(a, &cols)
                            .iter()
                            .zip(&theta)
                            .map(|(x, t)| x * t)
                            .sum()
                    })
                    .collect();
                let best = value.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let accuracy = 0.5f64.powi(phase as i32);
                let floor = self.epsilon * (s as f64).sqrt();
                let width = 2.0 * accuracy + 2.0 * floor;
                let kept: Vec<usize> = active
                    .iter()
                    .zip(&value)
                    .filter(|(_, &v)| best - v <= width)
                    .map(|(&a, _)| a)
                    .collect();
                if kept.len() == 1 || accuracy <= floor || phase >= 30 {
                    let winner =
                        active[value
                            .iter()
                            .enumerate()
                            .fold(0, |b, (i, &x)| if x > value[b] { i } else { b })];
                    self.winners.push(winner);
                    self.stage = if (si as u64 + 1) < self.n_supports() {
                        Stage::Eliminate {
                            support: si + 1,
                            phase: 1,
                            active: (0..self.n_arms).collect(),
                        }
                    } else {
                        Stage::Evaluate
                    };
                } else {
                    self.stage = Stage::Eliminate {
                        support: si,
                        phase: phase + 1,
                        active: kept,
                    };
                }
                self.schedule();
            }
            Stage::Evaluate => {
                let mut best: Option<(usize, f64)> = None;
                for &a in &self.winners {
                    if self.count[a] == 0 {
                        continue;
                    }
                    let m = self.sum[a] / self.count[a] as f64;
                    if best.is_none_or(|(_, b)| m > b) {
                        best = Some((a, m));
                    }
                }
                self.result = best;
                self.stage = Stage::Done;
                self.queue.clear();
            }
            Stage::Done => {}
        }
    }

    /// Whether the search is over (every support eliminated and the winners evaluated).
    pub fn should_stop(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The recommended arm and its estimated mean reward, once stopped.
    pub fn recommend(&self) -> Option<(usize, f64)> {
        self.result
    }

    /// Each finished support's winner, in support order.
    pub fn support_winners(&self) -> &[usize] {
        &self.winners
    }

    pub fn n_arms(&self) -> usize {
        self.n_arms
    }
    pub fn n_samples(&self) -> u64 {
        self.total
    }
}

impl Persist for SparseLinearBaseline {
    const KIND: &'static str = "SparseLinearBaseline";
    fn check_invariants(&self) -> Result<()> {
        let k = self.n_arms;
        let fresh = SparseLinearBaseline::new(
            &self.features,
            k,
            self.dim,
            self.sparsity,
            self.epsilon,
            self.delta,
            self.noise,
        );
        let ok = fresh.is_ok()
            && self.outstanding.len() == k
            && self.count.len() == k
            && self.sum.len() == k
            && self.sum.iter().all(|s| s.is_finite())
            && self.queue.iter().all(|&a| a < k)
            && self.winners.iter().all(|&a| a < k)
            && (self.winners.len() as u64) <= self.n_supports()
            && self.result.is_none_or(|(a, m)| a < k && m.is_finite())
            && match &self.stage {
                Stage::Eliminate {
                    support, active, ..
                } => {
                    (*support as u64) < self.n_supports()
                        && !active.is_empty()
                        && active.iter().all(|&a| a < k)
                }
                _ => true,
            };
        if ok {
            Ok(())
        } else {
            Err(Error::state("sparse linear baseline state is inconsistent"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supports_enumerate_every_subset_once() {
        let all: Vec<Vec<usize>> = (0..binomial(5, 2)).map(|i| support(5, 2, i)).collect();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0], vec![0, 1]);
        assert_eq!(all[9], vec![3, 4]);
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
    }

    #[test]
    fn g_optimal_design_of_the_simplex_is_uniform() {
        let xs = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, 0.5]];
        let pi = g_optimal_design(&xs, 500);
        assert!(
            (pi[0] - 0.5).abs() < 0.02 && (pi[1] - 0.5).abs() < 0.02,
            "{pi:?}"
        );
    }
}
