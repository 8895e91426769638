//! Adversarial bandits: EXP3 (Auer et al. 2002) and EXP3-IX (Neu 2015), on
//! importance-weighted loss estimates with loss = 1 - reward.

use super::list::{restrict, ListRule};
use super::{draw_among, finite_positive, persist_policy, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::stats::sample_discrete;
use serde::{Deserialize, Serialize};

/// [`exponential_weights`] over the `remaining` arms only (zero elsewhere), relative to
/// the smallest remaining loss so that the weights never all underflow.
fn exponential_weights_remaining(losses: &[f64], eta: f64, remaining: &[bool]) -> Vec<f64> {
    let m = losses
        .iter()
        .zip(remaining)
        .filter(|(_, &r)| r)
        .map(|(&l, _)| l)
        .fold(f64::INFINITY, f64::min);
    let w = losses
        .iter()
        .zip(remaining)
        .map(|(&l, &r)| if r { (-eta * (l - m)).exp() } else { 0.0 })
        .collect();
    restrict(w, remaining)
}

/// p_i proportional to exp(-eta (L_i - min L)): the exponential weights, shifted so the
/// largest weight is 1 and none overflows or underflows to a zero total.
fn exponential_weights(losses: &[f64], eta: f64) -> Vec<f64> {
    let m = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let mut w: Vec<f64> = losses.iter().map(|&l| (-eta * (l - m)).exp()).collect();
    let s: f64 = w.iter().sum();
    for x in &mut w {
        *x /= s;
    }
    w
}

/// [`exponential_weights`] over the eligible arms alone (0 elsewhere), shifted by their
/// own smallest loss: the restriction of the weights, renormalized, with no underflow.
fn exponential_weights_among(losses: &[f64], eta: f64, eligible: &Eligible) -> Vec<f64> {
    let m = eligible
        .indices()
        .map(|i| losses[i])
        .fold(f64::INFINITY, f64::min);
    let mut w: Vec<f64> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if eligible.contains(i) {
                (-eta * (l - m)).exp()
            } else {
                0.0
            }
        })
        .collect();
    let s: f64 = w.iter().sum();
    for x in &mut w {
        *x /= s;
    }
    w
}

/// Learning rate: fixed `eta`, else sqrt(2 ln K / (K T)) for a known horizon T, else the
/// anytime rate sqrt(ln K / (K t)).
fn learning_rate(eta: Option<f64>, horizon: Option<u64>, n_arms: usize, t: u64) -> f64 {
    let k = n_arms as f64;
    match (eta, horizon) {
        (Some(e), _) => e,
        (None, Some(h)) => (2.0 * k.ln() / (k * h as f64)).sqrt(),
        (None, None) => (k.ln() / (k * (t + 1) as f64)).sqrt(),
    }
}

/// Floor on the probability an importance weight divides by. The policy itself only draws
/// arms with non-negligible probability, but updates may also come from elsewhere (logs,
/// other replicas) for arms whose weight has underflowed to 0; capping the weight at 1e12
/// keeps the estimates finite instead of turning them into inf and then NaN.
const MIN_PROBABILITY: f64 = 1e-12;

fn check_losses(losses: &[f64], n_arms: usize) -> Result<()> {
    if losses.len() != n_arms || !losses.iter().all(|l| l.is_finite() && *l >= 0.0) {
        return Err(Error::state(
            "loss estimates are inconsistent with the arms",
        ));
    }
    Ok(())
}

/// The value a new arm's cumulative loss estimate starts from: the current minimum, so it
/// joins with the weight of the leader and gets explored.
fn new_arm_loss(losses: &[f64]) -> f64 {
    losses
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .clamp(0.0, f64::MAX)
}

/// EXP3: play from p = (1 - gamma) * softmax(-eta * L) + gamma / K, where L_i sums the
/// importance-weighted losses (1 - r) / p_i of arm i's pulls. Expected regret
/// <= sqrt(2 K T ln K) with the horizon-tuned rate and gamma = 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exp3 {
    core: Core,
    params: Exp3Params,
    losses: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exp3Params {
    pub eta: Option<f64>,
    pub gamma: f64,
    pub horizon: Option<u64>,
}

impl Exp3 {
    pub fn new(
        n_arms: usize,
        eta: Option<f64>,
        gamma: f64,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = Exp3 {
            core: Core::new(n_arms, seed)?,
            params: Exp3Params {
                eta,
                gamma,
                horizon,
            },
            losses: vec![0.0; n_arms],
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn eta(&self) -> f64 {
        learning_rate(
            self.params.eta,
            self.params.horizon,
            self.losses.len(),
            self.core.t,
        )
    }

    pub fn cumulative_loss_estimates(&self) -> &[f64] {
        &self.losses
    }
}

impl Policy for Exp3 {
    type Params = Exp3Params;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &Exp3Params {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "eta={}, gamma={}, horizon={}",
            p.eta.map_or("None".into(), |e| e.to_string()),
            p.gamma,
            p.horizon.map_or("None".into(), |h| h.to_string())
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let p = self.probabilities();
        sample_discrete(&p, &mut self.core.rng)
    }
    /// Negated cumulative loss estimates (higher is better).
    fn scores(&self) -> Vec<f64> {
        self.losses.iter().map(|l| -l).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        let k = self.losses.len() as f64;
        let g = self.params.gamma;
        exponential_weights(&self.losses, self.eta())
            .into_iter()
            .map(|w| (1.0 - g) * w + g / k)
            .collect()
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// The rule of `select` on the remaining arms R: (1 - gamma) w_i / sum_R w + gamma / |R|.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        let n = remaining.iter().filter(|&&r| r).count() as f64;
        let g = self.params.gamma;
        exponential_weights_remaining(&self.losses, self.eta(), remaining)
            .into_iter()
            .zip(remaining)
            .map(|(w, &r)| if r { (1.0 - g) * w + g / n } else { 0.0 })
            .collect()
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        draw_among(self, eligible)
    }
    /// The exponential weights restricted to the eligible arms and renormalized, mixed
    /// with gamma / |eligible| uniform exploration over them (the uniform part is the
    /// uniform distribution on the arms that may be played, as in sleeping-bandit EXP3);
    /// eta follows the schedule of all arms. `update` weighs the loss by the unrestricted
    /// probability, since it does not see the mask.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        let k = eligible.count() as f64;
        let g = self.params.gamma;
        exponential_weights_among(&self.losses, self.eta(), eligible)
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                if eligible.contains(i) {
                    (1.0 - g) * w + g / k
                } else {
                    0.0
                }
            })
            .collect()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        // The probability under which the arm was drawn: the state has not moved since.
        let p = self.probabilities()[arm];
        self.losses[arm] += (1.0 - reward) / p.max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
    }
    fn on_add_arm(&mut self) {
        let l = new_arm_loss(&self.losses);
        self.losses.push(l);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.losses.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("its loss estimates are weighted by the probabilities of its own history")
    }
    fn check_extra(&self) -> Result<()> {
        if let Some(e) = self.params.eta {
            finite_positive(e, "eta")?;
        }
        require(
            (0.0..=1.0).contains(&self.params.gamma),
            "gamma",
            "must be in [0, 1]",
        )?;
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
        )?;
        check_losses(&self.losses, self.core.arms.len())
    }
}
persist_policy!(Exp3, "Exp3");

/// EXP3-IX (Neu 2015): exponential weights on implicit-exploration loss estimates
/// (1 - r) / (p_i + gamma), with gamma = eta / 2 by default; regret O(sqrt(K T ln K)) with
/// high probability, not only in expectation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exp3IX {
    core: Core,
    params: Exp3IXParams,
    losses: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exp3IXParams {
    pub eta: Option<f64>,
    pub gamma: Option<f64>,
    pub horizon: Option<u64>,
}

impl Exp3IX {
    pub fn new(
        n_arms: usize,
        eta: Option<f64>,
        gamma: Option<f64>,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = Exp3IX {
            core: Core::new(n_arms, seed)?,
            params: Exp3IXParams {
                eta,
                gamma,
                horizon,
            },
            losses: vec![0.0; n_arms],
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn eta(&self) -> f64 {
        learning_rate(
            self.params.eta,
            self.params.horizon,
            self.losses.len(),
            self.core.t,
        )
    }

    pub fn gamma(&self) -> f64 {
        self.params.gamma.unwrap_or_else(|| 0.5 * self.eta())
    }

    pub fn cumulative_loss_estimates(&self) -> &[f64] {
        &self.losses
    }
}

impl Policy for Exp3IX {
    type Params = Exp3IXParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &Exp3IXParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "eta={}, gamma={}, horizon={}",
            p.eta.map_or("None".into(), |e| e.to_string()),
            p.gamma.map_or("None".into(), |g| g.to_string()),
            p.horizon.map_or("None".into(), |h| h.to_string())
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let p = self.probabilities();
        sample_discrete(&p, &mut self.core.rng)
    }
    fn scores(&self) -> Vec<f64> {
        self.losses.iter().map(|l| -l).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        exponential_weights(&self.losses, self.eta())
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// Exponential weights over the remaining arms (a Plackett-Luce list).
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        exponential_weights_remaining(&self.losses, self.eta(), remaining)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        draw_among(self, eligible)
    }
    /// The exponential weights restricted to the eligible arms and renormalized.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        exponential_weights_among(&self.losses, self.eta(), eligible)
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = self.probabilities()[arm];
        self.losses[arm] += (1.0 - reward) / (p + self.gamma()).max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
    }
    fn on_add_arm(&mut self) {
        let l = new_arm_loss(&self.losses);
        self.losses.push(l);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.losses.remove(i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("its loss estimates are weighted by the probabilities of its own history")
    }
    fn check_extra(&self) -> Result<()> {
        if let Some(e) = self.params.eta {
            finite_positive(e, "eta")?;
        }
        if let Some(g) = self.params.gamma {
            require(
                g.is_finite() && g >= 0.0,
                "gamma",
                "must be a finite number >= 0",
            )?;
        }
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
        )?;
        check_losses(&self.losses, self.core.arms.len())
    }
}
persist_policy!(Exp3IX, "Exp3IX");
