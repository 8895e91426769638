//! Change detection with restarts, for piecewise-stationary rewards: a change-point test
//! runs on each arm's rewards, and an alarm restarts that arm's statistics (a local
//! restart) or every arm's (a global restart).
//!
//! - [`CUSUMUCB`] (Liu, Lee and Shroff, AAAI 2018): UCB on the rewards since each arm's
//!   last restart, uniform exploration with probability alpha, a two-sided CUSUM test per
//!   arm.
//! - [`GLRUCB`] (Besson, Kaufmann, Maillard and Seznec, JMLR 2022, "GLR-klUCB"): kl-UCB on
//!   the rewards since each arm's last restart, deterministic forced exploration, a
//!   Bernoulli generalized likelihood ratio test per arm.
//!
//! The shared [`Core`] keeps lifetime statistics (so `counts` and `means` mean what they
//! mean for every policy); the statistics since the last restart, the detectors and the
//! alarm steps are extra state. Neither merges (see [`NOT_MERGEABLE`]).

use super::list::{self, ListRule};
use super::{draw_among, finite_positive, persist_policy, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::special::{kl_bernoulli, klucb_bernoulli};
use crate::stats::{argmax_distribution, argmax_random_ties};
use serde::{Deserialize, Serialize};

const NOT_MERGEABLE: &str = "its change detectors run over each arm's rewards in the order \
    of one stream, and its restarts cut that stream at alarm steps, which two separate \
    streams do not define";

/// What an alarm on one arm restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Restart {
    /// Only the arm whose test fired (the papers' local restart).
    Local,
    /// Every arm (the global restart).
    Global,
}

impl Restart {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "local" => Ok(Restart::Local),
            "global" => Ok(Restart::Global),
            _ => Err(Error::param(
                "restart",
                format!("must be 'local' or 'global', got '{name}'"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Restart::Local => "local",
            Restart::Global => "global",
        }
    }
}

fn check_horizon(horizon: Option<u64>) -> Result<()> {
    require(
        horizon != Some(0),
        "horizon",
        "must be >= 1 or None",
        horizon,
    )
}

fn check_alpha(alpha: f64) -> Result<()> {
    require(
        (0.0..=1.0).contains(&alpha),
        "alpha",
        "must be a number in [0, 1]",
        alpha,
    )
}

/// The steps (1-based update numbers) at which alarms fired, in order; shared check.
fn check_alarms(change_points: &[u64], step: u64, t: u64) -> Result<()> {
    if step < t {
        return Err(Error::state(
            "the step counter is below the number of updates",
        ));
    }
    let ordered = change_points.windows(2).all(|w| w[0] <= w[1]);
    if !ordered || change_points.last().is_some_and(|&c| c > step || c == 0) {
        return Err(Error::state(
            "change points are not increasing steps in [1, step]",
        ));
    }
    Ok(())
}

fn check_since(n: u64, sum: f64, lifetime: u64) -> Result<()> {
    let nf = n as f64;
    if n > lifetime || !sum.is_finite() || sum < -1e-9 * (1.0 + nf) || sum > nf * (1.0 + 1e-9) {
        return Err(Error::state(
            "statistics since the last restart are not within the arm's lifetime statistics",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CUSUM-UCB

/// Liu, Lee and Shroff's threshold for horizon T and Υ change points: h = ln(T / Υ).
pub fn default_h(horizon: u64, n_changes: u64) -> f64 {
    (horizon as f64 / n_changes as f64).ln()
}

/// Liu, Lee and Shroff's exploration probability for horizon T and Υ change points:
/// alpha = sqrt(Υ ln(T / Υ) / T), at most 1.
pub fn default_cusum_alpha(horizon: u64, n_changes: u64) -> f64 {
    let (t, u) = (horizon as f64, n_changes as f64);
    (u * (t / u).ln() / t).sqrt().min(1.0)
}

/// One arm's rewards since its last restart and its two-sided CUSUM statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CusumArm {
    /// Rewards since the last restart, and their sum.
    pub n: u64,
    pub sum: f64,
    /// û0, the mean of the first `warmup` rewards since the restart (0 before).
    pub reference: f64,
    /// g+ (upward change) and g- (downward change).
    pub g_plus: f64,
    pub g_minus: f64,
}

impl CusumArm {
    /// Records one reward; true when the test fires (g+ >= h or g- >= h).
    ///
    /// s+_k = (y_k - û0 - eps) 1{k > M}, s-_k = (û0 - y_k - eps) 1{k > M},
    /// g+_k = max(0, g+_{k-1} + s+_k), g-_k = max(0, g-_{k-1} + s-_k).
    #[inline]
    pub fn push(&mut self, y: f64, warmup: u64, epsilon: f64, h: f64) -> bool {
        self.n += 1;
        self.sum += y;
        if self.n < warmup {
            return false;
        }
        if self.n == warmup {
            self.reference = self.sum / warmup as f64;
            return false;
        }
        self.g_plus = (self.g_plus + y - self.reference - epsilon).max(0.0);
        self.g_minus = (self.g_minus + self.reference - y - epsilon).max(0.0);
        self.g_plus >= h || self.g_minus >= h
    }

    fn check(&self, lifetime: u64, warmup: u64) -> Result<()> {
        check_since(self.n, self.sum, lifetime)?;
        let g_ok = [self.g_plus, self.g_minus]
            .iter()
            .all(|g| g.is_finite() && *g >= 0.0);
        let ref_ok =
            (0.0..=1.0).contains(&self.reference) && (self.n >= warmup || self.reference == 0.0);
        if !g_ok || !ref_ok {
            return Err(Error::state(
                "CUSUM statistics are not finite and non-negative, or the reference mean is not in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// CUSUM-UCB (Liu, Lee and Shroff, "A Change-Detection based Framework for
/// Piecewise-stationary Multi-Armed Bandit Problem", AAAI 2018).
///
/// With probability alpha an arm uniformly at random, otherwise the argmax of
/// X̄_i + sqrt(xi ln n_t / N_i), where N_i and X̄_i are arm i's count and mean since its last
/// restart and n_t = Σ_j N_j. Each arm runs a two-sided CUSUM test: the mean û0 of its first
/// `warmup` (M) rewards after a restart is the reference, then
/// g+ = max(0, g+ + y - û0 - eps), g- = max(0, g- + û0 - y - eps); an alarm (g+ >= h or
/// g- >= h) restarts that arm (local) or every arm (global). O(K) per step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CUSUMUCB {
    core: Core,
    params: CusumParams,
    arms: Vec<CusumArm>,
    /// Updates seen, never decreasing (`remove_arm` lowers the core's count, not this).
    step: u64,
    change_points: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CusumParams {
    pub h: f64,
    pub epsilon: f64,
    pub warmup: u64,
    pub alpha: f64,
    pub xi: f64,
    pub restart: Restart,
    pub horizon: Option<u64>,
    pub n_changes: u64,
}

impl CUSUMUCB {
    /// `h` defaults to ln(T / n_changes) and `alpha` to sqrt(n_changes ln(T / n_changes) / T)
    /// for `horizon` T; without a horizon both are required.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_arms: usize,
        h: Option<f64>,
        epsilon: f64,
        warmup: u64,
        alpha: Option<f64>,
        xi: f64,
        restart: Restart,
        horizon: Option<u64>,
        n_changes: u64,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_horizon(horizon)?;
        require(n_changes >= 1, "n_changes", "must be >= 1", n_changes)?;
        if let Some(t) = horizon {
            if h.is_none() || alpha.is_none() {
                require(
                    n_changes < t,
                    "n_changes",
                    "must be below the horizon (the defaults use ln(horizon / n_changes))",
                    n_changes,
                )?;
            }
        }
        let h = match (h, horizon) {
            (Some(h), _) => h,
            (None, Some(t)) => default_h(t, n_changes),
            (None, None) => {
                return Err(Error::param(
                    "h",
                    "is required when no horizon is given (the default is ln(T / n_changes) for horizon T)",
                ))
            }
        };
        let alpha = match (alpha, horizon) {
            (Some(a), _) => a,
            (None, Some(t)) => default_cusum_alpha(t, n_changes),
            (None, None) => {
                return Err(Error::param(
                    "alpha",
                    "is required when no horizon is given (the default is sqrt(n_changes ln(T / n_changes) / T) for horizon T)",
                ))
            }
        };
        let core = Core::new(n_arms, seed)?;
        let p = CUSUMUCB {
            params: CusumParams {
                h,
                epsilon,
                warmup,
                alpha,
                xi,
                restart,
                horizon,
                n_changes,
            },
            arms: vec![CusumArm::default(); core.arms.len()],
            step: 0,
            change_points: Vec::new(),
            core,
        };
        p.check_extra()?;
        Ok(p)
    }

    /// Per arm: its count and mean since the last restart and its CUSUM statistics.
    pub fn detectors(&self) -> &[CusumArm] {
        &self.arms
    }

    /// Steps (1-based update numbers) at which an alarm fired.
    pub fn change_points(&self) -> &[u64] {
        &self.change_points
    }

    pub fn n_restarts(&self) -> usize {
        self.change_points.len()
    }

    fn exploration(&self) -> f64 {
        let n_t: u64 = self.arms.iter().map(|a| a.n).sum();
        self.params.xi * super::ln_t(n_t)
    }

    #[inline]
    fn index(&self, i: usize, exploration: f64) -> f64 {
        let a = &self.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let n = a.n as f64;
        a.sum / n + (exploration / n).sqrt()
    }

    fn mixed(&self, greedy: Vec<f64>, keep: impl Fn(usize) -> bool) -> Vec<f64> {
        let alpha = self.params.alpha;
        let k = (0..self.arms.len()).filter(|&i| keep(i)).count() as f64;
        greedy
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                if keep(i) {
                    alpha / k + (1.0 - alpha) * g
                } else {
                    0.0
                }
            })
            .collect()
    }
}

impl Policy for CUSUMUCB {
    type Params = CusumParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &CusumParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "h={}, epsilon={}, warmup={}, alpha={}, xi={}, restart='{}'",
            p.h,
            p.epsilon,
            p.warmup,
            p.alpha,
            p.xi,
            p.restart.name()
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let alpha = self.params.alpha;
        if alpha > 0.0 && self.core.rng.uniform() < alpha {
            return self.core.rng.below(self.arms.len() as u64) as usize;
        }
        let e = self.exploration();
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties((0..self.arms.len()).map(|i| self.index(i, e)), &mut rng);
        self.core.rng = rng;
        i
    }
    /// The UCB indices on the statistics since each arm's last restart.
    fn scores(&self) -> Vec<f64> {
        let e = self.exploration();
        (0..self.arms.len()).map(|i| self.index(i, e)).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        self.mixed(argmax_distribution(&self.scores()), |_| true)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        draw_among(self, eligible)
    }
    /// Exploration uniform over the eligible arms, the UCB share on the best eligible index.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        let greedy = eligible.argmax_distribution(&self.scores());
        self.mixed(greedy, |i| eligible.contains(i))
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        let scores: Vec<f64> = self
            .scores()
            .into_iter()
            .zip(remaining)
            .map(|(s, &r)| if r { s } else { f64::NAN })
            .collect();
        let greedy = list::restrict(argmax_distribution(&scores), remaining);
        self.mixed(greedy, |i| remaining[i])
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.step += 1;
        let p = &self.params;
        if self.arms[arm].push(reward, p.warmup, p.epsilon, p.h) {
            self.change_points.push(self.step);
            match p.restart {
                Restart::Local => self.arms[arm] = CusumArm::default(),
                Restart::Global => self.arms.fill(CusumArm::default()),
            }
        }
    }
    fn on_add_arm(&mut self) {
        self.arms.push(CusumArm::default());
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.arms.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some(NOT_MERGEABLE)
    }
    fn check_extra(&self) -> Result<()> {
        let p = &self.params;
        finite_positive(p.h, "h")?;
        require(
            p.epsilon.is_finite() && p.epsilon >= 0.0,
            "epsilon",
            "must be a finite number >= 0",
            p.epsilon,
        )?;
        require(p.warmup >= 1, "warmup", "must be >= 1", p.warmup)?;
        check_alpha(p.alpha)?;
        finite_positive(p.xi, "xi")?;
        check_horizon(p.horizon)?;
        require(p.n_changes >= 1, "n_changes", "must be >= 1", p.n_changes)?;
        if self.arms.len() != self.core.arms.len() {
            return Err(Error::state(
                "CUSUM statistics do not have one entry per arm",
            ));
        }
        for (a, lifetime) in self.arms.iter().zip(&self.core.arms) {
            a.check(lifetime.n, p.warmup)?;
        }
        check_alarms(&self.change_points, self.step, self.core.t)
    }
}
persist_policy!(CUSUMUCB, "CUSUMUCB");

// ---------------------------------------------------------------------------------------
// GLR-klUCB

/// The threshold of Besson et al.'s experiments: beta(n, delta) = ln(n^{3/2} / delta).
pub fn glr_threshold(n: u64, delta: f64) -> f64 {
    1.5 * (n as f64).ln() - delta.ln()
}

/// Besson et al.'s confidence level for horizon T: delta = 1 / sqrt(T).
pub fn default_delta(horizon: u64) -> f64 {
    1.0 / (horizon as f64).sqrt()
}

/// Besson et al.'s exploration parameter for horizon T and K arms: alpha0 = sqrt(K ln T / T),
/// at most 1.
pub fn default_glr_alpha(horizon: u64, n_arms: usize) -> f64 {
    let t = horizon as f64;
    (n_arms as f64 * t.ln() / t).sqrt().min(1.0)
}

/// The Bernoulli GLR statistic of n rewards with sum `total`, maximized over the split
/// points s whose prefix sums `prefix` holds (prefix[j] = sum of the first s_j rewards,
/// s_j = (j + 1) * split_every), s < n:
/// max_s [ s kl(μ̂_{1:s}, μ̂_{1:n}) + (n - s) kl(μ̂_{s+1:n}, μ̂_{1:n}) ].
pub fn glr_statistic(n: u64, total: f64, prefix: &[f64], split_every: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let nf = n as f64;
    let mu = total / nf;
    let mut best = 0.0f64;
    for (j, &head) in prefix.iter().enumerate() {
        let s = (j as u64 + 1) * split_every;
        if s >= n {
            break;
        }
        let (sf, rest) = (s as f64, (n - s) as f64);
        let v = sf * kl_bernoulli(head / sf, mu) + rest * kl_bernoulli((total - head) / rest, mu);
        best = best.max(v);
    }
    best
}

/// One arm's rewards since its last restart: count, sum, the step of the restart and the
/// prefix sums at the split points the test examines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlrArm {
    pub n: u64,
    pub sum: f64,
    /// The step of the last restart (0 if none): the arm's local time is `step - start`.
    pub start: u64,
    /// prefix[j] = sum of the first (j + 1) * split_every rewards since the restart.
    pub prefix: Vec<f64>,
}

impl GlrArm {
    fn restarted(start: u64) -> Self {
        GlrArm {
            start,
            ..GlrArm::default()
        }
    }
}

/// GLR-klUCB (Besson, Kaufmann, Maillard and Seznec, "Efficient Change-Point Detection for
/// Tackling Piecewise-Stationary Bandits", JMLR 2022).
///
/// Forced exploration: with alpha_t = min(1, alpha sqrt(1 + restarts)) and
/// R = floor(K / alpha_t), the step t (0-based) with t mod R = i < K plays arm i. Otherwise
/// the argmax of arm i's Bernoulli kl-UCB index max{q : N_i kl(X̄_i, q) <= ln(t - τ_i)} on
/// its rewards since its last restart τ_i. Each arm runs a Bernoulli GLR test against
/// beta(n, delta) = ln(n^{3/2} / delta); an alarm restarts that arm (local, the paper's
/// recommendation for GLR-klUCB) or every arm (global).
///
/// Down-sampling (the paper's Section on computational cost): an arm is tested once every
/// `test_every` (Δn) of its rewards, at the split points s = Δs, 2Δs, ... (Δs =
/// `split_every`), whose prefix sums are the only history kept: a test costs O(n / Δs),
/// amortized O(n / (Δn Δs)) per update, and memory is O(n / Δs) per arm, with n the arm's
/// rewards since its restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GLRUCB {
    core: Core,
    params: GlrParams,
    arms: Vec<GlrArm>,
    step: u64,
    change_points: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlrParams {
    pub delta: f64,
    pub alpha: f64,
    pub restart: Restart,
    pub test_every: u64,
    pub split_every: u64,
    pub horizon: Option<u64>,
}

impl GLRUCB {
    /// `delta` defaults to 1 / sqrt(T) and `alpha` to sqrt(K ln T / T) for `horizon` T;
    /// without a horizon both are required.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_arms: usize,
        delta: Option<f64>,
        alpha: Option<f64>,
        restart: Restart,
        test_every: u64,
        split_every: u64,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        check_horizon(horizon)?;
        let delta = match (delta, horizon) {
            (Some(d), _) => d,
            (None, Some(t)) => default_delta(t),
            (None, None) => return Err(Error::param(
                "delta",
                "is required when no horizon is given (the default is 1 / sqrt(T) for horizon T)",
            )),
        };
        let alpha = match (alpha, horizon) {
            (Some(a), _) => a,
            (None, Some(t)) => default_glr_alpha(t, n_arms),
            (None, None) => {
                return Err(Error::param(
                    "alpha",
                    "is required when no horizon is given (the default is sqrt(K ln T / T) for horizon T)",
                ))
            }
        };
        let core = Core::new(n_arms, seed)?;
        let p = GLRUCB {
            params: GlrParams {
                delta,
                alpha,
                restart,
                test_every,
                split_every,
                horizon,
            },
            arms: vec![GlrArm::default(); core.arms.len()],
            step: 0,
            change_points: Vec::new(),
            core,
        };
        p.check_extra()?;
        Ok(p)
    }

    /// Per arm: its count, sum, restart step and stored prefix sums since the last restart.
    pub fn detectors(&self) -> &[GlrArm] {
        &self.arms
    }

    /// Per arm: the GLR statistic over its stored split points (what its next test compares
    /// with beta(n, delta)).
    pub fn glr_statistics(&self) -> Vec<f64> {
        self.arms
            .iter()
            .map(|a| glr_statistic(a.n, a.sum, &a.prefix, self.params.split_every))
            .collect()
    }

    pub fn change_points(&self) -> &[u64] {
        &self.change_points
    }

    pub fn n_restarts(&self) -> usize {
        self.change_points.len()
    }

    /// The forced-exploration probability now: min(1, alpha sqrt(1 + restarts)).
    pub fn current_alpha(&self) -> f64 {
        (self.params.alpha * (1.0 + self.change_points.len() as f64).sqrt()).min(1.0)
    }

    /// The arm the next step must play for forced exploration, if any.
    pub fn forced_arm(&self) -> Option<usize> {
        let alpha = self.current_alpha();
        if alpha <= 0.0 {
            return None;
        }
        let k = self.arms.len() as u64;
        // floor(K / alpha) saturates for tiny alpha; at least K so every arm has its turn.
        let period = ((k as f64 / alpha).floor() as u64).max(k);
        let r = self.step % period;
        (r < k).then_some(r as usize)
    }

    #[inline]
    fn index(&self, i: usize) -> f64 {
        let a = &self.arms[i];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let local = self.step.saturating_sub(a.start);
        klucb_bernoulli(a.sum / a.n as f64, a.n as f64, super::ln_t(local))
    }
}

impl Policy for GLRUCB {
    type Params = GlrParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &GlrParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "delta={}, alpha={}, restart='{}', test_every={}, split_every={}",
            p.delta,
            p.alpha,
            p.restart.name(),
            p.test_every,
            p.split_every
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        if let Some(i) = self.forced_arm() {
            return i;
        }
        let mut rng = self.core.rng.clone();
        let i = argmax_random_ties((0..self.arms.len()).map(|i| self.index(i)), &mut rng);
        self.core.rng = rng;
        i
    }
    /// The kl-UCB indices since each arm's restart; the arm of a forced-exploration step
    /// scores +inf (so the argmax of the scores is the decision, restricted or not).
    fn scores(&self) -> Vec<f64> {
        let forced = self.forced_arm();
        (0..self.arms.len())
            .map(|i| {
                if forced == Some(i) {
                    f64::INFINITY
                } else {
                    self.index(i)
                }
            })
            .collect()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.step += 1;
        let p = &self.params;
        let a = &mut self.arms[arm];
        a.n += 1;
        a.sum += reward;
        if a.n % p.split_every == 0 {
            a.prefix.push(a.sum);
        }
        if a.n % p.test_every != 0 || a.n < 2 {
            return;
        }
        let stat = glr_statistic(a.n, a.sum, &a.prefix, p.split_every);
        if stat > glr_threshold(a.n, p.delta) {
            self.change_points.push(self.step);
            match p.restart {
                Restart::Local => self.arms[arm] = GlrArm::restarted(self.step),
                Restart::Global => self.arms.fill(GlrArm::restarted(self.step)),
            }
        }
    }
    fn on_add_arm(&mut self) {
        self.arms.push(GlrArm::restarted(self.step));
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.arms.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some(NOT_MERGEABLE)
    }
    fn check_extra(&self) -> Result<()> {
        let p = &self.params;
        require(
            p.delta > 0.0 && p.delta <= 1.0,
            "delta",
            "must be a number in (0, 1]",
            p.delta,
        )?;
        check_alpha(p.alpha)?;
        require(
            p.test_every >= 1,
            "test_every",
            "must be >= 1",
            p.test_every,
        )?;
        require(
            p.split_every >= 1,
            "split_every",
            "must be >= 1",
            p.split_every,
        )?;
        check_horizon(p.horizon)?;
        if self.arms.len() != self.core.arms.len() {
            return Err(Error::state("GLR statistics do not have one entry per arm"));
        }
        for (a, lifetime) in self.arms.iter().zip(&self.core.arms) {
            check_since(a.n, a.sum, lifetime.n)?;
            let prefix_ok = a.prefix.len() as u64 == a.n / p.split_every
                && a.prefix.iter().all(|s| s.is_finite())
                && a.start <= self.step;
            if !prefix_ok {
                return Err(Error::state(
                    "GLR prefix sums do not match the arm's count, or its restart step is in the future",
                ));
            }
        }
        check_alarms(&self.change_points, self.step, self.core.t)
    }
}
persist_policy!(GLRUCB, "GLRUCB");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::state;

    fn bernoulli(rng: &mut Rng, p: f64) -> f64 {
        if rng.uniform() < p {
            1.0
        } else {
            0.0
        }
    }

    #[test]
    fn defaults_follow_the_papers_formulas() {
        assert!((default_h(10_000, 2) - 5000f64.ln()).abs() < 1e-12);
        assert!((default_cusum_alpha(10_000, 2) - (2.0 * 5000f64.ln() / 1e4).sqrt()).abs() < 1e-12);
        assert!((default_delta(10_000) - 0.01).abs() < 1e-15);
        assert!((default_glr_alpha(10_000, 3) - (3.0 * 1e4f64.ln() / 1e4).sqrt()).abs() < 1e-12);
        assert!((glr_threshold(100, 0.01) - (1000.0f64 / 0.01).ln()).abs() < 1e-12);
        let p = CUSUMUCB::new(
            3,
            None,
            0.1,
            100,
            None,
            1.0,
            Restart::Local,
            Some(10_000),
            2,
            None,
        )
        .unwrap();
        assert_eq!(p.params().h, default_h(10_000, 2));
        let err = CUSUMUCB::new(
            3,
            None,
            0.1,
            100,
            Some(0.1),
            1.0,
            Restart::Local,
            None,
            1,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains('h'), "{err}");
        let err = GLRUCB::new(3, None, Some(0.1), Restart::Local, 10, 10, None, None).unwrap_err();
        assert!(err.to_string().contains("delta"), "{err}");
        assert!(GLRUCB::new(3, Some(0.0), Some(0.1), Restart::Local, 10, 10, None, None).is_err());
        assert!(GLRUCB::new(3, Some(0.1), Some(1.5), Restart::Local, 10, 10, None, None).is_err());
        assert!(GLRUCB::new(3, Some(0.1), Some(0.1), Restart::Local, 0, 10, None, None).is_err());
        assert!(CUSUMUCB::new(
            3,
            Some(5.0),
            0.1,
            0,
            Some(0.1),
            1.0,
            Restart::Local,
            None,
            1,
            None
        )
        .is_err());
        assert!(Restart::parse("both").is_err());
    }

    #[test]
    fn cusum_statistic_matches_a_hand_computed_sequence() {
        // M = 3: û0 = (1 + 0 + 1) / 3 = 2/3, eps = 0.1, h = 1.
        // y:   0              0               1                 0
        // g+:  0              0               1-2/3-.1=.2333    max(0,.2333-.7667)=0
        // g-:  2/3-.1=.5667   1.1333 -> alarm
        let mut a = CusumArm::default();
        let (m, eps, h) = (3, 0.1, 1.0);
        for y in [1.0, 0.0, 1.0] {
            assert!(!a.push(y, m, eps, h));
        }
        assert!((a.reference - 2.0 / 3.0).abs() < 1e-15);
        assert!(!a.push(0.0, m, eps, h));
        assert!((a.g_minus - (2.0 / 3.0 - 0.1)).abs() < 1e-15 && a.g_plus == 0.0);
        let mut b = a.clone();
        assert!(b.push(0.0, m, eps, h)); // g- = 1.1333 >= 1
        assert!((b.g_minus - 2.0 * (2.0 / 3.0 - 0.1)).abs() < 1e-15);
        assert!(!a.push(1.0, m, eps, h)); // g+ = 0.2333, g- = 0.5667 - 0.4333 = 0.1333
        assert!((a.g_plus - (1.0 - 2.0 / 3.0 - 0.1)).abs() < 1e-15);
        assert!((a.g_minus - (2.0 / 3.0 - 0.1 + 2.0 / 3.0 - 1.0 - 0.1)).abs() < 1e-15);
        assert!(!a.push(0.0, m, eps, h));
        assert_eq!(a.g_plus, 0.0);
    }

    #[test]
    fn cusum_policy_restarts_the_arm_whose_test_fires() {
        let mut p = CUSUMUCB::new(
            2,
            Some(3.0),
            0.05,
            20,
            Some(0.0),
            1.0,
            Restart::Local,
            None,
            1,
            Some(1),
        )
        .unwrap();
        for _ in 0..20 {
            p.update(0, 1.0).unwrap();
            p.update(1, 0.5).unwrap();
        }
        // Arm 0 drops to 0: g- grows by 0.95 per reward, so the 4th reward fires (3.8 >= 3).
        for k in 1..=4 {
            p.update(0, 0.0).unwrap();
            assert_eq!(p.n_restarts(), usize::from(k == 4), "reward {k}");
        }
        assert_eq!(p.change_points(), &[44]);
        assert_eq!(p.detectors()[0], CusumArm::default());
        assert_eq!(p.detectors()[1].n, 20);
        assert_eq!(p.counts(), vec![24, 20]); // lifetime statistics are kept
                                              // Global restart clears every arm.
        let mut g = CUSUMUCB::new(
            2,
            Some(3.0),
            0.05,
            20,
            Some(0.0),
            1.0,
            Restart::Global,
            None,
            1,
            Some(1),
        )
        .unwrap();
        for _ in 0..20 {
            g.update(0, 1.0).unwrap();
            g.update(1, 0.5).unwrap();
        }
        for _ in 0..4 {
            g.update(0, 0.0).unwrap();
        }
        assert!(g.detectors().iter().all(|a| *a == CusumArm::default()));
    }

    fn brute_force_glr(rewards: &[f64], split_every: usize) -> f64 {
        let n = rewards.len();
        let mu = rewards.iter().sum::<f64>() / n as f64;
        let mut best = 0.0f64;
        let mut s = split_every;
        while s < n {
            let (a, b) = rewards.split_at(s);
            let m1 = a.iter().sum::<f64>() / a.len() as f64;
            let m2 = b.iter().sum::<f64>() / b.len() as f64;
            best = best
                .max(a.len() as f64 * kl_bernoulli(m1, mu) + b.len() as f64 * kl_bernoulli(m2, mu));
            s += split_every;
        }
        best
    }

    #[test]
    fn glr_statistic_equals_brute_force_over_the_split_points() {
        let mut rng = Rng::seed_from_u64(3);
        for split_every in [1usize, 3, 10] {
            let mut p = GLRUCB::new(
                1,
                Some(1e-300), // threshold ~690: no alarm, the statistic keeps growing
                Some(0.0),
                Restart::Local,
                1,
                split_every as u64,
                None,
                Some(1),
            )
            .unwrap();
            let mut rewards = Vec::new();
            for t in 0..400 {
                let y = if t < 250 {
                    bernoulli(&mut rng, 0.3)
                } else {
                    0.7 + 0.3 * rng.uniform()
                };
                rewards.push(y);
                p.update(0, y).unwrap();
                let got = p.glr_statistics()[0];
                let want = brute_force_glr(&rewards, split_every);
                assert!(
                    (got - want).abs() <= 1e-9 * (1.0 + want),
                    "t={t}: {got} {want}"
                );
            }
            assert_eq!(p.n_restarts(), 0);
            assert!(p.glr_statistics()[0] > 10.0);
        }
    }

    #[test]
    fn glr_fires_exactly_when_the_statistic_crosses_the_threshold() {
        let mut rng = Rng::seed_from_u64(8);
        let delta = 0.01;
        let mut p = GLRUCB::new(
            2,
            Some(delta),
            Some(0.0),
            Restart::Local,
            1,
            1,
            None,
            Some(1),
        )
        .unwrap();
        let mut rewards = Vec::new();
        let mut fired_at = None;
        for t in 0..600 {
            let y = bernoulli(&mut rng, if t < 300 { 0.8 } else { 0.2 });
            rewards.push(y);
            p.update(0, y).unwrap();
            let crossed = brute_force_glr(&rewards, 1) > glr_threshold(rewards.len() as u64, delta);
            if crossed {
                fired_at = Some(t + 1);
                break;
            }
            assert_eq!(p.n_restarts(), 0, "t={t}");
        }
        let step = fired_at.expect("a 0.8 -> 0.2 change is detected") as u64;
        assert_eq!(p.change_points(), &[step]);
        assert!(step > 300 && step < 340, "{step}");
        assert_eq!(p.detectors()[0].n, 0);
        assert_eq!(p.detectors()[0].start, step);
    }

    #[test]
    fn glr_forced_exploration_follows_its_period() {
        let mut p = GLRUCB::new(
            3,
            Some(0.01),
            Some(0.3),
            Restart::Local,
            10,
            10,
            None,
            Some(1),
        )
        .unwrap();
        // Period floor(3 / 0.3) = 10: steps 0, 1, 2 (mod 10) play arms 0, 1, 2.
        let mut forced = Vec::new();
        for _ in 0..30 {
            let arm = p.select();
            let f = p.forced_arm();
            if let Some(f) = f {
                assert_eq!(arm, f);
                assert_eq!(p.scores()[f], f64::INFINITY);
            }
            forced.push(f);
            p.update(arm as i64, 0.5).unwrap();
        }
        for (t, f) in forced.iter().enumerate() {
            let want = (t % 10 < 3).then_some(t % 10);
            assert_eq!(*f, want, "t={t}");
        }
    }

    #[test]
    fn neither_merges_and_both_round_trip() {
        let mut c = CUSUMUCB::new(
            3,
            Some(4.0),
            0.1,
            5,
            Some(0.1),
            1.0,
            Restart::Local,
            None,
            1,
            Some(1),
        )
        .unwrap();
        let mut g = GLRUCB::new(
            3,
            Some(0.05),
            Some(0.1),
            Restart::Global,
            2,
            3,
            None,
            Some(2),
        )
        .unwrap();
        let mut rng = Rng::seed_from_u64(4);
        for t in 0..300 {
            let m = if t < 150 { 0.9 } else { 0.1 };
            let a = c.select();
            c.update(a as i64, bernoulli(&mut rng, if a == 0 { m } else { 0.5 }))
                .unwrap();
            let a = g.select();
            g.update(a as i64, bernoulli(&mut rng, if a == 0 { m } else { 0.5 }))
                .unwrap();
        }
        assert!(c.n_restarts() >= 1 && g.n_restarts() >= 1);
        assert!(c
            .clone()
            .merge(&c)
            .unwrap_err()
            .to_string()
            .contains("does not support merge"));
        assert!(g.clone().merge(&g).is_err());
        let back: CUSUMUCB = state::decode(&state::encode(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let back: GLRUCB = state::decode(&state::encode(&g).unwrap()).unwrap();
        assert_eq!(back, g);
        // Removing an arm keeps the rest consistent.
        c.remove_arm(0).unwrap();
        g.remove_arm(0).unwrap();
        c.check_policy().unwrap();
        g.check_policy().unwrap();
        assert_eq!(c.add_arm(), 2);
        assert_eq!(g.add_arm(), 2);
        assert_eq!(c.scores()[2], f64::INFINITY);
    }
}
