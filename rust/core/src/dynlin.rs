//! Dynamical linear bandits (Mussi, Metelli and Restelli, ICML 2023): the reward of an action
//! acts through a hidden state,
//!
//! ```text
//! x_{t+1} = A x_t + B u_t + noise,      y_t = w . (C x_t + D u_t + noise),
//! ```
//!
//! so a constant action `u` earns `h . u` in steady state, with the steady-state gain
//! `h = w^T (D + C (I - A)^{-1} B)`. [`DynLinUCB`] estimates `h` directly: it plays in epochs
//! of growing length `H_j = 1 + floor(ln j / ln(1 / rho_bar))`, holds one action for a whole
//! epoch (chosen optimistically at its start, `argmax_u h_hat . u + beta_t ||u||_{V^-1}`) and
//! regresses only the reward of the epoch's last round on the action (`V += u u^T`,
//! `b += y u`, `h_hat = V^{-1} b`): by then the state has nearly forgotten the previous
//! epoch's action, so the reward is nearly `h . u`. [`MyopicLinUCB`] is the baseline that
//! ignores the dynamics: LinUCB with one shared parameter over the same action vectors,
//! regressing every round's reward on that round's action, as if rewards were immediate.
//! [`DynamicalLinearEnv`] simulates the system (the authors' synthetic configuration is
//! [`DynamicalLinearEnv::synthetic`]); [`simulate_dynlin`] runs a policy in it and measures
//! the steady-state regret `h . u* - h . u_t`, the authors' measure.
//!
//! Checked against the authors' code (marcomussi/DLB, `agents.py`, `environment.py`,
//! `scripts/main.py`): the epoch schedule, the exploration radius `beta_t`, the regression on
//! the epoch's last reward, the first action drawn at random, the synthetic matrices, the
//! budget-split action set and the regret measure. One difference: their first regression
//! happens one round late (round 0 never enters it); here epoch `j` is exactly `H_j` rounds.

use crate::eligible::Eligible;
use crate::error::{show, Error, Result};
use crate::linalg::spd_inverse;
use crate::rng::Rng;
use crate::sample::normal;
use crate::state::Persist;
use crate::stats::argmax_random_ties;
use serde::{Deserialize, Serialize};

/// Below this `rho_bar` every epoch is one round long: DynLinUCB is LinUCB (the authors'
/// threshold).
pub const RHO_EPSILON: f64 = 1e-6;

/// Largest number of campaigns [`budget_splits`] enumerates the orders of (8! = 40320).
pub const MAX_SPLIT_CAMPAIGNS: usize = 8;

fn finite_positive(x: f64, name: &str) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("expected a finite number > 0, got {}", show(x)),
        ))
    }
}

fn finite_nonneg(x: f64, name: &str) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("expected a finite number >= 0, got {}", show(x)),
        ))
    }
}

fn check_matrix(name: &str, values: &[f64], rows: usize, cols: usize) -> Result<()> {
    if values.len() != rows * cols {
        return Err(Error::shape(
            name,
            format!(
                "expected {rows} x {cols} = {} values, got {}",
                rows * cols,
                values.len()
            ),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::param(
            name,
            format!(
                "expected finite values, got {} at position {i}",
                show(values[i])
            ),
        ));
    }
    Ok(())
}

/// Row-major product of `a` (r x k) and `b` (k x c).
fn mat_mul(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for l in 0..k {
            let ail = a[i * k + l];
            if ail != 0.0 {
                for j in 0..c {
                    out[i * c + j] += ail * b[l * c + j];
                }
            }
        }
    }
    out
}

fn frobenius(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Solves `m X = rhs` (m n x n, rhs n x c) by Gaussian elimination with partial pivoting;
/// None if `m` is numerically singular.
fn solve(m: &[f64], rhs: &[f64], n: usize, c: usize) -> Option<Vec<f64>> {
    let (mut a, mut x) = (m.to_vec(), rhs.to_vec());
    let scale = a
        .iter()
        .fold(0.0f64, |s, v| s.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() <= 1e-14 * scale {
            return None;
        }
        if piv != col {
            for j in 0..n {
                a.swap(piv * n + j, col * n + j);
            }
            for j in 0..c {
                x.swap(piv * c + j, col * c + j);
            }
        }
        let p = a[col * n + col];
        for i in col + 1..n {
            let f = a[i * n + col] / p;
            if f != 0.0 {
                for j in col..n {
                    a[i * n + j] -= f * a[col * n + j];
                }
                for j in 0..c {
                    x[i * c + j] -= f * x[col * c + j];
                }
            }
        }
    }
    for col in (0..n).rev() {
        let p = a[col * n + col];
        for j in 0..c {
            let mut s = x[col * c + j];
            for k in col + 1..n {
                s -= a[col * n + k] * x[k * c + j];
            }
            x[col * c + j] = s / p;
        }
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Largest eigenvalue of the symmetric `s` (n x n), by cyclic Jacobi rotations.
fn symmetric_max_eigenvalue(s: &[f64], n: usize) -> f64 {
    let mut a = s.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s_ = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s_ * akq;
                    a[k * n + q] = s_ * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s_ * aqk;
                    a[q * n + k] = s_ * apk + c * aqk;
                }
            }
        }
    }
    (0..n)
        .map(|i| a[i * n + i])
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The spectral norm (largest singular value) of `m` (r x c).
pub fn spectral_norm(m: &[f64], r: usize, c: usize) -> f64 {
    if r == 0 || c == 0 {
        return 0.0;
    }
    // The smaller Gram matrix: M M^T (r x r) or M^T M (c x c).
    let gram = if r <= c {
        let mut g = vec![0.0; r * r];
        for i in 0..r {
            for j in 0..r {
                g[i * r + j] = (0..c).map(|k| m[i * c + k] * m[j * c + k]).sum();
            }
        }
        (g, r)
    } else {
        let mut g = vec![0.0; c * c];
        for i in 0..c {
            for j in 0..c {
                g[i * c + j] = (0..r).map(|k| m[k * c + i] * m[k * c + j]).sum();
            }
        }
        (g, c)
    };
    symmetric_max_eigenvalue(&gram.0, gram.1).max(0.0).sqrt()
}

/// The spectral radius of `a` (n x n), by Gelfand's formula `lim ||A^k||^(1/k)` on
/// `k = 2^60` (repeated normalized squaring): exact up to rounding for any matrix.
pub fn spectral_radius(a: &[f64], n: usize) -> f64 {
    let norm = frobenius(a);
    if norm == 0.0 {
        return 0.0;
    }
    let mut m: Vec<f64> = a.iter().map(|v| v / norm).collect();
    // ln of the scale c_i with A^(2^i) = c_i M_i and ||M_i|| = 1.
    let mut log_scale = norm.ln();
    let mut power = 1.0f64;
    for _ in 0..60 {
        let sq = mat_mul(&m, &m, n, n, n);
        let s = frobenius(&sq);
        if s == 0.0 || !s.is_finite() {
            return 0.0;
        }
        m = sq.iter().map(|v| v / s).collect();
        log_scale = 2.0 * log_scale + s.ln();
        power *= 2.0;
    }
    (log_scale / power).exp()
}

/// The authors' discrete actions for budget allocation: `n` campaigns, each given between
/// `floor` and `cap`, `total` to split. Every order of the campaigns fills them greedily
/// (each gets `floor`, then in that order as much as is left up to `cap`); the distinct
/// splits, sorted lexicographically (as numpy's `unique`), row-major (k x n).
pub fn budget_splits(n: usize, total: f64, cap: f64, floor: f64) -> Result<Vec<f64>> {
    if n == 0 || n > MAX_SPLIT_CAMPAIGNS {
        return Err(Error::param(
            "n",
            format!("expected 1 to {MAX_SPLIT_CAMPAIGNS} campaigns, got {n}"),
        ));
    }
    finite_nonneg(floor, "floor")?;
    if !(cap.is_finite() && cap >= floor) {
        return Err(Error::param(
            "cap",
            format!("expected a finite number >= floor, got {}", show(cap)),
        ));
    }
    if !(total.is_finite() && total >= n as f64 * floor) {
        return Err(Error::param(
            "total",
            format!("expected a finite number >= n * floor, got {}", show(total)),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut splits: Vec<Vec<f64>> = Vec::new();
    loop {
        let mut u = vec![floor; n];
        let mut left = total - n as f64 * floor;
        for &i in &order {
            let give = left.min(cap - u[i]);
            u[i] += give;
            left -= give;
        }
        splits.push(u);
        // Next permutation (lexicographic); stop after the last.
        let Some(i) = (0..n.saturating_sub(1))
            .rev()
            .find(|&i| order[i] < order[i + 1])
        else {
            break;
        };
        let j = (i + 1..n)
            .rev()
            .find(|&j| order[j] > order[i])
            .unwrap_or(i + 1);
        order.swap(i, j);
        order[i + 1..].reverse();
    }
    splits.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    splits.dedup();
    Ok(splits.concat())
}

// ---- the regression on actions ---------------------------------------------------------------

/// Ridge regression of rewards on action vectors from a finite set (k x d, row-major):
/// `V = lam I + sum u u^T`, `b = sum y u`, `h_hat = V^{-1} b`, with `V^{-1}` kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ActionRidge {
    actions: Vec<f64>,
    dim: usize,
    lam: f64,
    gram: Vec<f64>,
    target: Vec<f64>,
    inverse: Vec<f64>,
    estimate: Vec<f64>,
    rows: u64,
}

impl ActionRidge {
    fn new(actions: &[f64], dim: usize, lam: f64) -> Result<Self> {
        if dim == 0 {
            return Err(Error::param(
                "actions",
                "expected actions of dimension at least 1, got dim 0",
            ));
        }
        if actions.is_empty() || actions.len() % dim != 0 {
            return Err(Error::shape(
                "actions",
                format!(
                    "expected a non-empty (n_actions, {dim}) array, got {} values",
                    actions.len()
                ),
            ));
        }
        check_matrix("actions", actions, actions.len() / dim, dim)?;
        if let Some(i) = actions.iter().position(|v| v.abs() > 1e100) {
            return Err(Error::param(
                "actions",
                format!(
                    "expected entries of magnitude at most 1e100, got {} at position {i}",
                    show(actions[i])
                ),
            ));
        }
        finite_positive(lam, "lam")?;
        crate::limits::check_alloc("actions", &[dim, dim], 24)?;
        let mut gram = vec![0.0; dim * dim];
        let mut inverse = vec![0.0; dim * dim];
        for i in 0..dim {
            gram[i * dim + i] = lam;
            inverse[i * dim + i] = 1.0 / lam;
        }
        Ok(ActionRidge {
            actions: actions.to_vec(),
            dim,
            lam,
            gram,
            target: vec![0.0; dim],
            inverse,
            estimate: vec![0.0; dim],
            rows: 0,
        })
    }

    fn n_actions(&self) -> usize {
        self.actions.len() / self.dim
    }

    fn action(&self, i: usize) -> &[f64] {
        &self.actions[i * self.dim..(i + 1) * self.dim]
    }

    /// Largest Euclidean norm of an action (the authors' U).
    fn max_norm(&self) -> f64 {
        (0..self.n_actions())
            .map(|i| self.action(i).iter().map(|v| v * v).sum::<f64>().sqrt())
            .fold(0.0, f64::max)
    }

    /// `||u||_{V^-1}` of action `i`.
    fn width(&self, i: usize) -> f64 {
        let (u, d) = (self.action(i), self.dim);
        let mut q = 0.0;
        for r in 0..d {
            let row: f64 = (0..d).map(|c| self.inverse[r * d + c] * u[c]).sum();
            q += u[r] * row;
        }
        q.max(0.0).sqrt()
    }

    fn scores(&self, beta: f64) -> Vec<f64> {
        (0..self.n_actions())
            .map(|i| {
                let mean: f64 = self
                    .action(i)
                    .iter()
                    .zip(&self.estimate)
                    .map(|(u, h)| u * h)
                    .sum();
                mean + beta * self.width(i)
            })
            .collect()
    }

    /// Adds the row (action `i`, reward `y`); refuses (changing nothing) if the statistics
    /// would leave the finite range.
    fn add(&mut self, i: usize, y: f64) -> Result<()> {
        let d = self.dim;
        let u = self.action(i).to_vec();
        let mut gram = self.gram.clone();
        let mut target = self.target.clone();
        for r in 0..d {
            for c in 0..d {
                gram[r * d + c] += u[r] * u[c];
            }
            target[r] += y * u[r];
        }
        let inverse = spd_inverse(&gram, d).filter(|v| v.iter().all(|x| x.is_finite()));
        let ok = target.iter().all(|v| v.is_finite()) && gram.iter().all(|v| v.is_finite());
        let (Some(inverse), true) = (inverse, ok) else {
            return Err(Error::InvalidReward {
                argument: "reward".into(),
                value: y,
                position: None,
                expected: "a reward that keeps the regression finite".into(),
            });
        };
        let estimate: Vec<f64> = (0..d)
            .map(|r| (0..d).map(|c| inverse[r * d + c] * target[c]).sum())
            .collect();
        self.gram = gram;
        self.target = target;
        self.inverse = inverse;
        self.estimate = estimate;
        self.rows += 1;
        Ok(())
    }

    fn check(&self) -> Result<()> {
        let d = self.dim;
        let ok = d > 0
            && !self.actions.is_empty()
            && self.actions.len() % d == 0
            && self
                .actions
                .iter()
                .all(|v| v.is_finite() && v.abs() <= 1e100)
            && self.lam.is_finite()
            && self.lam > 0.0
            && self.gram.len() == d * d
            && self.inverse.len() == d * d
            && self.target.len() == d
            && self.estimate.len() == d
            && [&self.gram, &self.inverse, &self.target, &self.estimate]
                .iter()
                .all(|v| v.iter().all(|x| x.is_finite()));
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "action ridge: sizes or values are inconsistent",
            ))
        }
    }

    fn check_action(&self, action: i64) -> Result<usize> {
        let k = self.n_actions();
        if action < 0 || action as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "action".into(),
                arm: action,
                n_arms: k,
                position: None,
            });
        }
        Ok(action as usize)
    }
}

/// An eligible action drawn uniformly (with every action eligible, `rng.below(n)` itself).
fn uniform_eligible(eligible: &Eligible, rng: &mut Rng) -> usize {
    let j = rng.below(eligible.count() as u64) as usize;
    eligible.indices().nth(j).unwrap_or(0)
}

fn check_reward(reward: f64) -> Result<()> {
    if reward.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidReward {
            argument: "reward".into(),
            value: reward,
            position: None,
            expected: "a finite number".into(),
        })
    }
}

/// A policy that picks one of a fixed set of action vectors each round and learns the
/// round's scalar reward: what [`simulate_dynlin`] runs.
pub trait ActionPolicy {
    /// The action (row index) to play this round.
    fn select(&mut self) -> usize;
    /// Records the reward observed after playing `action` this round.
    fn update(&mut self, action: i64, reward: f64) -> Result<()>;
    /// The action vectors, row-major (n_actions x dim).
    fn actions(&self) -> &[f64];
    fn dim(&self) -> usize;
}

// ---- DynLinUCB -----------------------------------------------------------------------------

/// The norm bounds DynLinUCB's exploration radius is built from (the authors' notation):
/// `rho_bar >= rho(A)`, `omega >= ||w^T C||`, `theta >= ||w^T D||`, `b_norm >= ||B||`,
/// `phi >= sup_k ||A^k|| / rho^k`, `sigma` the noise's standard deviation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynLinBounds {
    pub rho_bar: f64,
    pub omega: f64,
    pub theta: f64,
    pub b_norm: f64,
    pub phi: f64,
    pub sigma: f64,
}

impl DynLinBounds {
    fn check(&self) -> Result<()> {
        if !(self.rho_bar.is_finite() && (0.0..1.0).contains(&self.rho_bar)) {
            return Err(Error::param(
                "rho_bar",
                format!("expected a number in [0, 1), got {}", show(self.rho_bar)),
            ));
        }
        finite_nonneg(self.omega, "omega")?;
        finite_nonneg(self.theta, "theta")?;
        finite_nonneg(self.b_norm, "b_norm")?;
        finite_nonneg(self.phi, "phi")?;
        finite_nonneg(self.sigma, "sigma")
    }
}

/// DynLinUCB (Mussi, Metelli and Restelli, ICML 2023). Epoch `j` (from 1) lasts
/// `H_j = 1 + floor(ln j / ln(1 / rho_bar))` rounds (1 when `rho_bar < 1e-6`); its action is
/// drawn at random for the first epoch, then chosen at the epoch's start as
/// `argmax_u h_hat . u + beta_t sqrt(u^T V^-1 u)` and held; only the last round's reward is
/// regressed. `beta_t = scale * (c1 sqrt(lam) + c2 / sqrt(lam) ln(e (t + 1))
/// + sqrt(2 sigma_bar^2 (ln T + d/2 ln(1 + t U^2 / (d lam)))))` with `t` the rounds played,
/// `c1 = theta + omega b_norm phi / (1 - rho_bar)`,
/// `c2 = U omega phi (U b_norm / (1 - rho_bar) + U / (1 - rho_bar))`,
/// `sigma_bar^2 = sigma^2 (1 + omega^2 phi^2 / (1 - rho_bar^2))`, `U = max ||u||`
/// (`scale = 1` is the paper's radius).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynLinUCB {
    ridge: ActionRidge,
    bounds: DynLinBounds,
    horizon: u64,
    scale: f64,
    /// The current epoch, from 1.
    epoch: u64,
    /// Rounds left in the current epoch once its action is chosen (0: not chosen yet).
    left: u64,
    held: Option<usize>,
    /// Rounds played (updates recorded).
    t: u64,
    rng: Rng,
}

/// The length of epoch `j` (from 1): `1 + floor(ln j / ln(1 / rho_bar))`, 1 when
/// `rho_bar < 1e-6`. Boundaries where `j` is a power of `1 / rho_bar` count mathematically
/// (a relative tolerance of 1e-12 absorbs the rounding of the logarithms).
pub fn epoch_length(j: u64, rho_bar: f64) -> u64 {
    if rho_bar < RHO_EPSILON || j <= 1 {
        return 1;
    }
    let ratio = (j as f64).ln() / (1.0 / rho_bar).ln();
    1 + (ratio * (1.0 + 1e-12)).floor() as u64
}

impl DynLinUCB {
    pub fn new(
        actions: &[f64],
        dim: usize,
        horizon: u64,
        bounds: DynLinBounds,
        lam: f64,
        scale: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        bounds.check()?;
        if horizon == 0 {
            return Err(Error::param("horizon", "expected at least 1 round, got 0"));
        }
        finite_nonneg(scale, "scale")?;
        let ridge = ActionRidge::new(actions, dim, lam)?;
        Ok(DynLinUCB {
            ridge,
            bounds,
            horizon,
            scale,
            epoch: 1,
            left: 0,
            held: None,
            t: 0,
            rng: Rng::from_optional_seed(seed),
        })
    }

    pub fn n_actions(&self) -> usize {
        self.ridge.n_actions()
    }
    pub fn bounds(&self) -> DynLinBounds {
        self.bounds
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn lam(&self) -> f64 {
        self.ridge.lam
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Rounds played.
    pub fn n_updates(&self) -> u64 {
        self.t
    }
    /// Epochs completed (regression rows).
    pub fn n_epochs(&self) -> u64 {
        self.ridge.rows
    }
    /// The current epoch, from 1.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The action held for the current epoch, if chosen.
    pub fn held(&self) -> Option<usize> {
        self.held
    }
    /// The estimate of the steady-state gain `h`.
    pub fn estimate(&self) -> &[f64] {
        &self.ridge.estimate
    }
    /// `V = lam I + sum u u^T` over the regressed rounds (d x d).
    pub fn gram(&self) -> &[f64] {
        &self.ridge.gram
    }
    pub fn describe_params(&self) -> String {
        let b = &self.bounds;
        format!(
            "n_actions={}, dim={}, horizon={}, rho_bar={}, omega={}, theta={}, b_norm={}, phi={}, sigma={}, lam={}, scale={}",
            self.n_actions(),
            self.ridge.dim,
            self.horizon,
            b.rho_bar,
            b.omega,
            b.theta,
            b.b_norm,
            b.phi,
            b.sigma,
            self.ridge.lam,
            self.scale
        )
    }

    /// The exploration radius `beta_t` at the current round.
    pub fn beta(&self) -> f64 {
        let b = &self.bounds;
        let (lam, d, t) = (self.ridge.lam, self.ridge.dim as f64, self.t as f64);
        let u = self.ridge.max_norm();
        let gap = 1.0 - b.rho_bar;
        let c1 = b.theta + b.omega * b.b_norm * b.phi / gap;
        let c2 = u * b.omega * b.phi * (u * b.b_norm / gap + u / gap);
        let sigma_bar_sq =
            b.sigma * b.sigma * (1.0 + (b.omega * b.phi).powi(2) / (1.0 - b.rho_bar * b.rho_bar));
        let log_t = (self.horizon as f64).ln();
        let conf = 2.0 * sigma_bar_sq * (log_t + d / 2.0 * (1.0 + t * u * u / (d * lam)).ln());
        self.scale
            * (c1 * lam.sqrt()
                + c2 / lam.sqrt() * (std::f64::consts::E * (t + 1.0)).ln()
                + conf.max(0.0).sqrt())
    }

    /// The optimistic index `h_hat . u + beta_t ||u||_{V^-1}` of every action.
    pub fn scores(&self) -> Vec<f64> {
        self.ridge.scores(self.beta())
    }

    /// The action of this round: the epoch's held action, chosen at the epoch's start.
    pub fn select(&mut self) -> usize {
        if let Some(a) = self.held {
            return a;
        }
        let a = if self.epoch == 1 {
            self.rng.below(self.n_actions() as u64) as usize
        } else {
            let scores = self.scores();
            argmax_random_ties(scores.into_iter(), &mut self.rng)
        };
        self.held = Some(a);
        self.left = epoch_length(self.epoch, self.bounds.rho_bar);
        a
    }

    /// `select` among the `eligible` actions. At an epoch's start the epoch's action is
    /// chosen among them (the first epoch's uniformly, later ones as the argmax of
    /// [`Self::scores`] over them, ties at random) and held. Within an epoch the held
    /// action is returned when it is eligible; when it is not, an InvalidParameterError
    /// (the epoch's regression row needs the same action to its end).
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_actions())?;
        if let Some(a) = self.held {
            if eligible.contains(a) {
                return Ok(a);
            }
            return Err(Error::param(
                "eligible",
                format!(
                    "the action held for this epoch ({a}) is not eligible; DynLinUCB holds one \
                     action for a whole epoch ({} more rounds)",
                    self.left
                ),
            ));
        }
        let a = if self.epoch == 1 {
            uniform_eligible(eligible, &mut self.rng)
        } else {
            let scores = self.scores();
            eligible.argmax(scores.into_iter(), &mut self.rng)
        };
        self.held = Some(a);
        self.left = epoch_length(self.epoch, self.bounds.rho_bar);
        Ok(a)
    }

    /// Records this round's reward; `action` must be the epoch's held action.
    pub fn update(&mut self, action: i64, reward: f64) -> Result<()> {
        let a = self.ridge.check_action(action)?;
        check_reward(reward)?;
        match self.held {
            None => {
                return Err(Error::protocol(
                    "action",
                    "no action is held for this round: call select() first",
                ))
            }
            Some(h) if h != a => {
                return Err(Error::protocol(
                    "action",
                    format!("expected the action held for this epoch ({h}), got {a}"),
                ))
            }
            Some(_) => {}
        }
        if self.left == 1 {
            self.ridge.add(a, reward)?;
            self.epoch += 1;
            self.held = None;
        }
        self.left -= 1;
        self.t += 1;
        Ok(())
    }
}

impl ActionPolicy for DynLinUCB {
    fn select(&mut self) -> usize {
        DynLinUCB::select(self)
    }
    fn update(&mut self, action: i64, reward: f64) -> Result<()> {
        DynLinUCB::update(self, action, reward)
    }
    fn actions(&self) -> &[f64] {
        &self.ridge.actions
    }
    fn dim(&self) -> usize {
        self.ridge.dim
    }
}

impl Persist for DynLinUCB {
    const KIND: &'static str = "DynLinUCB";
    fn check_invariants(&self) -> Result<()> {
        self.ridge.check()?;
        self.bounds.check()?;
        let ok = self.horizon > 0
            && self.scale.is_finite()
            && self.scale >= 0.0
            && self.epoch >= 1
            && self.ridge.rows == self.epoch - 1
            && self.held.is_some() == (self.left > 0)
            && self.held.is_none_or(|a| a < self.n_actions())
            && self.left <= epoch_length(self.epoch, self.bounds.rho_bar)
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "DynLinUCB: epochs, counters or sizes are inconsistent",
            ))
        }
    }
}

// ---- the myopic baseline ---------------------------------------------------------------------

/// LinUCB with one shared parameter over a finite set of action vectors, regressing every
/// round's reward on that round's action as if rewards were immediate: the authors' LinUCB
/// baseline (their `LinUCBAgent`), blind to the hidden state. The first action is drawn at
/// random, then `argmax_u h_hat . u + beta ||u||_{V^-1}` with the constant
/// `beta = scale * (theta sqrt(lam) + sigma sqrt(2 ln T + d ln(1 + T U^2 / (d lam))))`,
/// `U = max ||u||`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MyopicLinUCB {
    ridge: ActionRidge,
    horizon: u64,
    theta: f64,
    sigma: f64,
    scale: f64,
    t: u64,
    rng: Rng,
}

impl MyopicLinUCB {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        actions: &[f64],
        dim: usize,
        horizon: u64,
        theta: f64,
        sigma: f64,
        lam: f64,
        scale: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        if horizon == 0 {
            return Err(Error::param("horizon", "expected at least 1 round, got 0"));
        }
        finite_nonneg(theta, "theta")?;
        finite_nonneg(sigma, "sigma")?;
        finite_nonneg(scale, "scale")?;
        let ridge = ActionRidge::new(actions, dim, lam)?;
        Ok(MyopicLinUCB {
            ridge,
            horizon,
            theta,
            sigma,
            scale,
            t: 0,
            rng: Rng::from_optional_seed(seed),
        })
    }

    pub fn n_actions(&self) -> usize {
        self.ridge.n_actions()
    }
    pub fn horizon(&self) -> u64 {
        self.horizon
    }
    pub fn theta(&self) -> f64 {
        self.theta
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    pub fn lam(&self) -> f64 {
        self.ridge.lam
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
    pub fn n_updates(&self) -> u64 {
        self.t
    }
    pub fn estimate(&self) -> &[f64] {
        &self.ridge.estimate
    }
    pub fn gram(&self) -> &[f64] {
        &self.ridge.gram
    }
    pub fn describe_params(&self) -> String {
        format!(
            "n_actions={}, dim={}, horizon={}, theta={}, sigma={}, lam={}, scale={}",
            self.n_actions(),
            self.ridge.dim,
            self.horizon,
            self.theta,
            self.sigma,
            self.ridge.lam,
            self.scale
        )
    }

    /// The constant exploration radius.
    pub fn beta(&self) -> f64 {
        let (lam, d) = (self.ridge.lam, self.ridge.dim as f64);
        let (u, big_t) = (self.ridge.max_norm(), self.horizon as f64);
        let conf = 2.0 * big_t.ln() + d * (1.0 + big_t * u * u / (d * lam)).ln();
        self.scale * (self.theta * lam.sqrt() + self.sigma * conf.max(0.0).sqrt())
    }

    pub fn scores(&self) -> Vec<f64> {
        self.ridge.scores(self.beta())
    }

    pub fn select(&mut self) -> usize {
        if self.t == 0 {
            return self.rng.below(self.n_actions() as u64) as usize;
        }
        let scores = self.scores();
        argmax_random_ties(scores.into_iter(), &mut self.rng)
    }

    /// `select` among the `eligible` actions: the first uniformly among them, then the
    /// argmax of [`Self::scores`] over them, ties at random (with every action eligible,
    /// the same draws as `select`).
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_actions())?;
        if self.t == 0 {
            return Ok(uniform_eligible(eligible, &mut self.rng));
        }
        let scores = self.scores();
        Ok(eligible.argmax(scores.into_iter(), &mut self.rng))
    }

    /// Records the reward of a round in which `action` was played (any action of the set).
    pub fn update(&mut self, action: i64, reward: f64) -> Result<()> {
        let a = self.ridge.check_action(action)?;
        check_reward(reward)?;
        self.ridge.add(a, reward)?;
        self.t += 1;
        Ok(())
    }
}

impl ActionPolicy for MyopicLinUCB {
    fn select(&mut self) -> usize {
        MyopicLinUCB::select(self)
    }
    fn update(&mut self, action: i64, reward: f64) -> Result<()> {
        MyopicLinUCB::update(self, action, reward)
    }
    fn actions(&self) -> &[f64] {
        &self.ridge.actions
    }
    fn dim(&self) -> usize {
        self.ridge.dim
    }
}

impl Persist for MyopicLinUCB {
    const KIND: &'static str = "MyopicLinUCB";
    fn check_invariants(&self) -> Result<()> {
        self.ridge.check()?;
        let ok = self.horizon > 0
            && [self.theta, self.sigma, self.scale]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            && self.ridge.rows == self.t
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "MyopicLinUCB: counters or parameters are inconsistent",
            ))
        }
    }
}

// ---- the environment -------------------------------------------------------------------------

/// A linear dynamical system with a scalar reward:
/// `y_t = w . (C x_t + D u_t + sigma e_t)`, `x_{t+1} = A x_t + B u_t + sigma e'_t`, with
/// standard normal `e_t` (m) and `e'_t` (n), the state starting at 0 (the authors'
/// `DynLinEnvironment`, `w` their output mapping). `A` must have spectral radius below 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynamicalLinearEnv {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    d: Vec<f64>,
    output: Vec<f64>,
    n: usize,
    p: usize,
    m: usize,
    sigma: f64,
    state: Vec<f64>,
    t: u64,
    rng: Rng,
}

impl DynamicalLinearEnv {
    /// `a` (n x n), `b` (n x p), `c` (m x n), `d` (m x p) row-major; `output` (m) or ones.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        a: &[f64],
        b: &[f64],
        c: &[f64],
        d: &[f64],
        n: usize,
        p: usize,
        m: usize,
        output: Option<&[f64]>,
        sigma: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        for (name, size) in [("n", n), ("p", p), ("m", m)] {
            if size == 0 {
                return Err(Error::param(
                    name,
                    "expected a dimension of at least 1, got 0",
                ));
            }
        }
        crate::limits::check_alloc("a", &[n, n.max(p).max(m)], 32)?;
        check_matrix("a", a, n, n)?;
        check_matrix("b", b, n, p)?;
        check_matrix("c", c, m, n)?;
        check_matrix("d", d, m, p)?;
        let output = match output {
            Some(w) => {
                check_matrix("output", w, 1, m)?;
                w.to_vec()
            }
            None => vec![1.0; m],
        };
        finite_nonneg(sigma, "sigma")?;
        let rho = spectral_radius(a, n);
        if rho.is_nan() || rho >= 1.0 {
            return Err(Error::param(
                "a",
                format!(
                    "expected a stable matrix (spectral radius below 1), got spectral radius {}",
                    show(rho)
                ),
            ));
        }
        let env = DynamicalLinearEnv {
            a: a.to_vec(),
            b: b.to_vec(),
            c: c.to_vec(),
            d: d.to_vec(),
            output,
            n,
            p,
            m,
            sigma,
            state: vec![0.0; n],
            t: 0,
            rng: Rng::from_optional_seed(seed),
        };
        // I - A is invertible when rho(A) < 1; a numerically singular one is refused here.
        env.try_gain()?;
        Ok(env)
    }

    /// The authors' synthetic configuration (`config/testcase_synt_sigma*.json`): n = p = m
    /// = 3, A = diag(0.2, 0, 0.1), B = diag(0.45, 0, 0.1), C = diag(1, 0, 0.1),
    /// D = diag(0, 0.5, 0.1), outputs summed; they ran sigma in {0.001, 0.01, 0.1}.
    pub fn synthetic(sigma: f64, seed: Option<u64>) -> Result<Self> {
        let diag = |v: [f64; 3]| {
            let mut m = vec![0.0; 9];
            for i in 0..3 {
                m[i * 4] = v[i];
            }
            m
        };
        Self::new(
            &diag([0.2, 0.0, 0.1]),
            &diag([0.45, 0.0, 0.1]),
            &diag([1.0, 0.0, 0.1]),
            &diag([0.0, 0.5, 0.1]),
            3,
            3,
            3,
            None,
            sigma,
            seed,
        )
    }

    pub fn n_state(&self) -> usize {
        self.n
    }
    pub fn n_inputs(&self) -> usize {
        self.p
    }
    pub fn n_outputs(&self) -> usize {
        self.m
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    pub fn a(&self) -> &[f64] {
        &self.a
    }
    pub fn b(&self) -> &[f64] {
        &self.b
    }
    pub fn c(&self) -> &[f64] {
        &self.c
    }
    pub fn d(&self) -> &[f64] {
        &self.d
    }
    pub fn output(&self) -> &[f64] {
        &self.output
    }
    /// The hidden state x_t.
    pub fn state(&self) -> &[f64] {
        &self.state
    }
    /// Steps taken.
    pub fn n_steps(&self) -> u64 {
        self.t
    }

    fn try_gain(&self) -> Result<Vec<f64>> {
        let (n, p, m) = (self.n, self.p, self.m);
        let mut i_minus_a: Vec<f64> = self.a.iter().map(|v| -v).collect();
        for i in 0..n {
            i_minus_a[i * n + i] += 1.0;
        }
        let x = solve(&i_minus_a, &self.b, n, p)
            .ok_or_else(|| Error::param("a", "I - a is numerically singular"))?;
        let cx = mat_mul(&self.c, &x, m, n, p);
        Ok((0..p)
            .map(|j| {
                (0..m)
                    .map(|i| self.output[i] * (self.d[i * p + j] + cx[i * p + j]))
                    .sum()
            })
            .collect())
    }

    /// The steady-state gain `h = w^T (D + C (I - A)^{-1} B)` (p): a constant action `u`
    /// earns `h . u` per round in the long run.
    pub fn steady_state_gain(&self) -> Vec<f64> {
        self.try_gain().expect("checked at construction")
    }

    /// The spectral radius of A.
    pub fn spectral_radius(&self) -> f64 {
        spectral_radius(&self.a, self.n)
    }

    /// The bounds the authors give DynLinUCB from the true system: `rho_bar = rho(A)`,
    /// `omega = ||w^T C||`, `theta = ||w^T D||`, `b_norm = ||B||_2`,
    /// `phi = max_{1 <= k < 1000} ||A^k||_2 / rho^k` (1 when rho = 0), and sigma.
    pub fn bounds(&self) -> DynLinBounds {
        let (n, p, m) = (self.n, self.p, self.m);
        let row = |mat: &[f64], cols: usize| -> f64 {
            (0..cols)
                .map(|j| {
                    (0..m)
                        .map(|i| self.output[i] * mat[i * cols + j])
                        .sum::<f64>()
                        .powi(2)
                })
                .sum::<f64>()
                .sqrt()
        };
        let rho = self.spectral_radius();
        let mut phi: f64 = 1.0;
        if rho > 0.0 {
            phi = 0.0;
            let mut power = self.a.clone();
            let mut scale = rho;
            for _ in 1..1000 {
                let ratio = spectral_norm(&power, n, n) / scale;
                phi = phi.max(ratio);
                power = mat_mul(&power, &self.a, n, n, n);
                scale *= rho;
                if scale < 1e-250 || power.iter().all(|v| *v == 0.0) {
                    break;
                }
            }
        }
        DynLinBounds {
            rho_bar: rho,
            omega: row(&self.c, n),
            theta: row(&self.d, p),
            b_norm: spectral_norm(&self.b, n, p),
            phi,
            sigma: self.sigma,
        }
    }

    /// Plays `u` (p) for one round: the reward, then the state moves on.
    pub fn step(&mut self, u: &[f64]) -> Result<f64> {
        check_matrix("u", u, 1, self.p)?;
        Ok(self.step_unchecked(u))
    }

    fn step_unchecked(&mut self, u: &[f64]) -> f64 {
        let (n, p, m) = (self.n, self.p, self.m);
        let mut y = 0.0;
        for i in 0..m {
            let mut out: f64 = (0..n).map(|k| self.c[i * n + k] * self.state[k]).sum();
            out += (0..p).map(|k| self.d[i * p + k] * u[k]).sum::<f64>();
            out += self.sigma * normal(&mut self.rng);
            y += self.output[i] * out;
        }
        let next: Vec<f64> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|k| self.a[i * n + k] * self.state[k])
                    .sum::<f64>()
                    + (0..p).map(|k| self.b[i * p + k] * u[k]).sum::<f64>()
                    + self.sigma * normal(&mut self.rng)
            })
            .collect();
        self.state = next;
        self.t += 1;
        y
    }

    /// Back to the zero state (the generator continues).
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|v| *v = 0.0);
        self.t = 0;
    }
}

impl Persist for DynamicalLinearEnv {
    const KIND: &'static str = "DynamicalLinearEnv";
    fn check_invariants(&self) -> Result<()> {
        let (n, p, m) = (self.n, self.p, self.m);
        let sizes = n > 0
            && p > 0
            && m > 0
            && self.a.len() == n * n
            && self.b.len() == n * p
            && self.c.len() == m * n
            && self.d.len() == m * p
            && self.output.len() == m
            && self.state.len() == n;
        let finite = [
            &self.a,
            &self.b,
            &self.c,
            &self.d,
            &self.output,
            &self.state,
        ]
        .iter()
        .all(|v| v.iter().all(|x| x.is_finite()));
        let ok = sizes
            && finite
            && self.sigma.is_finite()
            && self.sigma >= 0.0
            && spectral_radius(&self.a, n) < 1.0
            && self.try_gain().is_ok()
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "DynamicalLinearEnv: sizes or values are inconsistent",
            ))
        }
    }
}

// ---- simulation ----------------------------------------------------------------------------

/// One run of [`simulate_dynlin`]: per round the action played, the reward observed and the
/// cumulative steady-state regret `sum_s h . u* - h . u_s` (u* the best action of the set).
#[derive(Clone, Debug, PartialEq)]
pub struct DynLinRun {
    pub actions: Vec<usize>,
    pub rewards: Vec<f64>,
    pub regret: Vec<f64>,
}

/// Runs `policy` for `horizon` rounds in `env` (continuing from the environment's state).
pub fn simulate_dynlin<P: ActionPolicy>(
    policy: &mut P,
    env: &mut DynamicalLinearEnv,
    horizon: usize,
) -> Result<DynLinRun> {
    let d = policy.dim();
    if d != env.n_inputs() {
        return Err(Error::incompatible(format!(
            "policy: its actions have dimension {d}, the environment takes {} inputs",
            env.n_inputs()
        )));
    }
    crate::limits::check_alloc("horizon", &[horizon], 24)?;
    let h = env.steady_state_gain();
    let values: Vec<f64> = policy
        .actions()
        .chunks(d)
        .map(|u| u.iter().zip(&h).map(|(a, b)| a * b).sum())
        .collect();
    let best = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut run = DynLinRun {
        actions: Vec::with_capacity(horizon),
        rewards: Vec::with_capacity(horizon),
        regret: Vec::with_capacity(horizon),
    };
    let mut total = 0.0;
    for _ in 0..horizon {
        let a = policy.select();
        let u = policy.actions()[a * d..(a + 1) * d].to_vec();
        let y = env.step_unchecked(&u);
        policy.update(a as i64, y)?;
        total += best - values[a];
        run.actions.push(a);
        run.rewards.push(y);
        run.regret.push(total);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic_policy(seed: u64) -> (DynLinUCB, DynamicalLinearEnv) {
        let env = DynamicalLinearEnv::synthetic(0.01, Some(seed)).unwrap();
        let actions = budget_splits(3, 1.5, 1.0, 0.0).unwrap();
        let p = DynLinUCB::new(&actions, 3, 100_000, env.bounds(), 1.0, 1.0, Some(seed)).unwrap();
        (p, env)
    }

    #[test]
    fn budget_splits_are_the_six_orders_of_one_half_and_one() {
        let s = budget_splits(3, 1.5, 1.0, 0.0).unwrap();
        assert_eq!(
            s,
            vec![
                0.0, 0.5, 1.0, 0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0,
                0.5, 0.0
            ]
        );
        assert!(budget_splits(9, 1.5, 1.0, 0.0).is_err());
        assert!(budget_splits(3, 0.1, 1.0, 0.1).is_err());
    }

    #[test]
    fn synthetic_gain_bounds_and_radius_are_the_closed_forms() {
        let env = DynamicalLinearEnv::synthetic(0.01, Some(0)).unwrap();
        let h = env.steady_state_gain();
        let want = [0.45 / 0.8, 0.5, 0.1 + 0.01 / 0.9];
        for (a, b) in h.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{h:?}");
        }
        let b = env.bounds();
        assert!((b.rho_bar - 0.2).abs() < 1e-12, "{b:?}");
        assert!((b.phi - 1.0).abs() < 1e-9, "{b:?}");
        assert!((b.b_norm - 0.45).abs() < 1e-12);
        assert!((b.omega - 1.01f64.sqrt()).abs() < 1e-12);
        assert!((b.theta - 0.26f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn spectral_radius_of_a_rotation_and_a_jordan_block() {
        // Rotation by 1 radian scaled by 0.7: complex eigenvalues of modulus 0.7.
        let (c, s) = (0.7 * 1f64.cos(), 0.7 * 1f64.sin());
        assert!((spectral_radius(&[c, -s, s, c], 2) - 0.7).abs() < 1e-12);
        // A Jordan block: ||A^k|| grows like k 0.5^k, the radius is still 0.5.
        assert!((spectral_radius(&[0.5, 10.0, 0.0, 0.5], 2) - 0.5).abs() < 1e-9);
        assert_eq!(spectral_radius(&[0.0, 1.0, 0.0, 0.0], 2), 0.0);
        assert!((spectral_norm(&[3.0, 0.0, 4.0, 5.0], 2, 2) - 45f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn unstable_systems_are_refused() {
        let e = DynamicalLinearEnv::new(&[1.0], &[1.0], &[1.0], &[0.0], 1, 1, 1, None, 0.1, None);
        assert!(matches!(e, Err(Error::InvalidParameter { ref name, .. }) if name == "a"));
    }

    #[test]
    fn epochs_have_the_schedule_and_hold_their_action() {
        assert_eq!(
            (1..=26).map(|j| epoch_length(j, 0.2)).collect::<Vec<_>>(),
            [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3]
        );
        assert_eq!(epoch_length(1000, 1e-7), 1);
        let (mut p, mut env) = synthetic_policy(3);
        let mut rounds = 0;
        for j in 1..=60u64 {
            let a = p.select();
            for _ in 0..epoch_length(j, 0.2) {
                assert_eq!(p.select(), a);
                let y = env.step(p.ridge.action(a)).unwrap();
                p.update(a as i64, y).unwrap();
                rounds += 1;
            }
            assert_eq!(p.n_epochs(), j);
        }
        assert_eq!(p.n_updates(), rounds);
        assert!(matches!(p.update(0, 0.0), Err(Error::Protocol { .. })));
        let a = p.select();
        assert!(matches!(
            p.update(((a + 1) % 6) as i64, 0.0),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn dynlin_regret_flattens_where_myopic_linucb_grows_linearly() {
        // The authors' synthetic system, sigma = 0.01, the paper's radius (scale 1). Measured
        // (T = 200000, seed 1): DynLinUCB 6933 then 3264 (second half / first 0.47);
        // MyopicLinUCB stuck on (0.5, 1, 0): exactly 0.03125 per round in the second half.
        let actions = budget_splits(3, 1.5, 1.0, 0.0).unwrap();
        let t = 200_000;
        {
            let seed = 1;
            let env = DynamicalLinearEnv::synthetic(0.01, Some(seed)).unwrap();
            let b = env.bounds();
            let mut p = DynLinUCB::new(&actions, 3, t as u64, b, 1.0, 1.0, Some(seed)).unwrap();
            let mut q = MyopicLinUCB::new(
                &actions,
                3,
                t as u64,
                b.theta,
                b.sigma,
                1.0,
                1.0,
                Some(seed),
            )
            .unwrap();
            let r1 = simulate_dynlin(&mut p, &mut env.clone(), t).unwrap().regret;
            let r2 = simulate_dynlin(&mut q, &mut env.clone(), t).unwrap().regret;
            let (first, second) = (r1[t / 2 - 1], r1[t - 1] - r1[t / 2 - 1]);
            assert!((0.35..0.6).contains(&(second / first)), "{first} {second}");
            let second = r2[t - 1] - r2[t / 2 - 1];
            assert!((second - 0.03125 * (t / 2) as f64).abs() < 1.0, "{second}");
            // The steady-state gain is learned by DynLinUCB, not by the myopic regression.
            let h = env.steady_state_gain();
            assert!(p
                .estimate()
                .iter()
                .zip(&h)
                .all(|(a, b)| (a - b).abs() < 0.005));
            assert!(
                q.estimate()[0] < 0.4 && q.estimate()[1] > 0.55,
                "{:?}",
                q.estimate()
            );
        }
    }

    #[test]
    fn masked_actions_stay_eligible_and_a_full_mask_changes_nothing() {
        let actions = budget_splits(3, 1.5, 1.0, 0.0).unwrap();
        let k = actions.len() / 3;
        let all = Eligible::all(k);
        let last_two = Eligible::from_indices(&[k as i64 - 2, k as i64 - 1], k).unwrap();
        let make = || MyopicLinUCB::new(&actions, 3, 1000, 0.5, 0.05, 1.0, 1.0, Some(3)).unwrap();
        let (mut plain, mut full, mut masked) = (make(), make(), make());
        for t in 0..300 {
            let a = plain.select();
            assert_eq!(full.select_eligible(&all).unwrap(), a);
            let r = 0.1 * (t % 7) as f64;
            plain.update(a as i64, r).unwrap();
            full.update(a as i64, r).unwrap();
            let m = masked.select_eligible(&last_two).unwrap();
            assert!(m >= k - 2);
            masked.update(m as i64, r).unwrap();
        }
        assert_eq!(plain, full);

        let (mut dyn_plain, _) = synthetic_policy(5);
        let (mut dyn_full, _) = synthetic_policy(5);
        for t in 0..300 {
            let a = dyn_plain.select();
            assert_eq!(dyn_full.select_eligible(&all).unwrap(), a);
            let r = 0.1 * (t % 5) as f64;
            dyn_plain.update(a as i64, r).unwrap();
            dyn_full.update(a as i64, r).unwrap();
        }
        assert_eq!(dyn_plain, dyn_full);
        // Masking out the held action mid-epoch is refused, changing nothing.
        let held = loop {
            let a = dyn_plain.select();
            if dyn_plain.left > 1 {
                break a;
            }
            dyn_plain.update(a as i64, 0.5).unwrap();
        };
        let others: Vec<i64> = (0..k as i64).filter(|&i| i != held as i64).collect();
        let before = dyn_plain.clone();
        let err = dyn_plain
            .select_eligible(&Eligible::from_indices(&others, k).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("held for this epoch"), "{err}");
        assert_eq!(dyn_plain, before);
    }
}
