//! Adversarial bandits: EXP3 (Auer et al. 2002) and EXP3-IX (Neu 2015), on
//! importance-weighted loss estimates with loss = 1 - reward.
//!
//! An importance weight must divide by the probability the arm was *drawn* with, which
//! differs from the current one once other rewards arrive in between (batches, delays).
//! Each decision of `decide`/`select_batch` records its arm's probability in a per-arm
//! first-in first-out queue ([`Pending`]); an update of an arm answers that arm's oldest
//! unanswered decision and divides by its recorded probability, or by `propensity` when
//! the caller gives it. This is exact whenever each arm's rewards come back in the order
//! that arm was chosen (immediate feedback, `select_batch` then `update_batch`, delays
//! that keep order per arm). An update with no recorded decision (logs, decisions made
//! elsewhere, `simulate`/`replay`, which update right after the draw) uses the current
//! probability. The queues are saved with the state (payload version 2; version 1 bytes
//! load with empty queues).

use super::list::{restrict, ListRule};
pub use super::propensity::MAX_PENDING_PER_ARM;
use super::propensity::{Pending, RecordsPropensities};
use super::{finite_positive, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::state::{read_payload, write_payload, Persist};
use crate::stats::sample_discrete;
use serde::{Deserialize, Serialize};

/// `Persist` for a policy with a [`Pending`] queue: payload version 2, and version 1
/// (the same fields without the queue), which is also what a state with no unanswered
/// decision writes.
macro_rules! persist_with_pending {
    ($ty:ident, $params:ty, $kind:literal) => {
        impl Persist for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u16 = 2;
            fn check_invariants(&self) -> Result<()> {
                self.check_policy()
            }
            fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
                if version >= 2 {
                    return read_payload(payload);
                }
                #[derive(Deserialize)]
                struct V1 {
                    core: Core,
                    params: $params,
                    losses: Vec<f64>,
                }
                let (v1, rest): (V1, &[u8]) = read_payload(payload)?;
                let pending = Pending::new(v1.core.arms.len());
                let value = $ty {
                    core: v1.core,
                    params: v1.params,
                    losses: v1.losses,
                    pending,
                };
                Ok((value, rest))
            }
            fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
                if self.pending.is_empty() {
                    let v1 = (&self.core, &self.params, &self.losses);
                    return Ok((1, write_payload(&v1)?));
                }
                Ok((2, write_payload(self)?))
            }
        }
    };
}

/// [`exponential_weights`] over the `remaining` arms only (zero elsewhere), relative to
/// the smallest remaining loss so that the weights never all underflow.
pub(super) fn exponential_weights_remaining(
    losses: &[f64],
    eta: f64,
    remaining: &[bool],
) -> Vec<f64> {
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
pub(super) fn exponential_weights(losses: &[f64], eta: f64) -> Vec<f64> {
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
pub(super) fn exponential_weights_among(losses: &[f64], eta: f64, eligible: &Eligible) -> Vec<f64> {
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
pub(super) const MIN_PROBABILITY: f64 = 1e-12;

pub(super) fn check_losses(losses: &[f64], n_arms: usize) -> Result<()> {
    if losses.len() != n_arms || !losses.iter().all(|l| l.is_finite() && *l >= 0.0) {
        return Err(Error::state(
            "loss estimates are inconsistent with the arms",
        ));
    }
    Ok(())
}

/// The value a new arm's cumulative loss estimate starts from: the current minimum, so it
/// joins with the weight of the leader and gets explored.
pub(super) fn new_arm_loss(losses: &[f64]) -> f64 {
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
    pending: Pending,
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
            pending: Pending::new(n_arms),
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

    /// Number of decisions per arm still waiting for their update.
    pub fn pending_counts(&self) -> Vec<usize> {
        self.pending.counts()
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
    /// A decision among the eligible arms, recorded like `decide`'s with the probability it
    /// was drawn with (the restricted one), so that its update divides by it.
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let p = self.probabilities_among(eligible);
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    /// The exponential weights restricted to the eligible arms and renormalized, mixed
    /// with gamma / |eligible| uniform exploration over them (the uniform part is the
    /// uniform distribution on the arms that may be played, as in sleeping-bandit EXP3);
    /// eta follows the schedule of all arms.
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
    fn decide(&mut self) -> usize {
        let p = self.probabilities();
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = match self.pending.answer(arm) {
            Some(p) => p,
            None => self.probabilities()[arm],
        };
        self.learn_weighted(arm, reward, p);
    }
    fn on_add_arm(&mut self) {
        let l = new_arm_loss(&self.losses);
        self.losses.push(l);
        self.pending.add_arm();
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.losses.remove(i);
        self.pending.remove_arm(i);
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
            self.params.gamma,
        )?;
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )?;
        check_losses(&self.losses, self.core.arms.len())?;
        self.pending.check(self.core.arms.len())
    }
}
persist_with_pending!(Exp3, Exp3Params, "Exp3");

impl Exp3 {
    /// Adds the importance-weighted loss of a pull drawn with probability `p`.
    fn learn_weighted(&mut self, arm: usize, reward: f64, p: f64) {
        self.losses[arm] += (1.0 - reward) / p.max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
    }
}

/// EXP3-IX (Neu 2015): exponential weights on implicit-exploration loss estimates
/// (1 - r) / (p_i + gamma), with gamma = eta / 2 by default; regret O(sqrt(K T ln K)) with
/// high probability, not only in expectation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exp3IX {
    core: Core,
    params: Exp3IXParams,
    losses: Vec<f64>,
    pending: Pending,
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
            pending: Pending::new(n_arms),
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

    /// Number of decisions per arm still waiting for their update.
    pub fn pending_counts(&self) -> Vec<usize> {
        self.pending.counts()
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
    /// A decision among the eligible arms, recorded like `decide`'s with the probability it
    /// was drawn with (the restricted one), so that its update divides by it.
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let p = self.probabilities_among(eligible);
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    /// The exponential weights restricted to the eligible arms and renormalized.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        exponential_weights_among(&self.losses, self.eta(), eligible)
    }
    fn decide(&mut self) -> usize {
        let p = self.probabilities();
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = match self.pending.answer(arm) {
            Some(p) => p,
            None => self.probabilities()[arm],
        };
        self.learn_weighted(arm, reward, p);
    }
    fn on_add_arm(&mut self) {
        let l = new_arm_loss(&self.losses);
        self.losses.push(l);
        self.pending.add_arm();
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.losses.remove(i);
        self.pending.remove_arm(i);
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
                g,
            )?;
        }
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )?;
        check_losses(&self.losses, self.core.arms.len())?;
        self.pending.check(self.core.arms.len())
    }
}
persist_with_pending!(Exp3IX, Exp3IXParams, "Exp3IX");

impl Exp3IX {
    /// Adds the implicit-exploration loss estimate of a pull drawn with probability `p`.
    fn learn_weighted(&mut self, arm: usize, reward: f64, p: f64) {
        self.losses[arm] += (1.0 - reward) / (p + self.gamma()).max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
    }
}

impl RecordsPropensities for Exp3 {
    fn pending_mut(&mut self) -> &mut Pending {
        &mut self.pending
    }

    fn learn(&mut self, arm: usize, reward: f64, p: f64) {
        self.learn_weighted(arm, reward, p);
    }
}

impl RecordsPropensities for Exp3IX {
    fn pending_mut(&mut self) -> &mut Pending {
        &mut self.pending
    }

    fn learn(&mut self, arm: usize, reward: f64, p: f64) {
        self.learn_weighted(arm, reward, p);
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // per-arm loops index several parallel vectors
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// The loss of arm `i` at round `t` of a fixed (oblivious) adversarial sequence.
    fn loss(t: usize, i: usize) -> f64 {
        [0.2, 0.5, 0.8][i] * (1.0 + ((t * (i + 3)) % 7) as f64 / 7.0) / 2.0
    }

    /// One run of EXP3 on the loss sequence above with feedback in batches of `batch`
    /// decisions, each answered `delay` batches late (in order): the final estimates.
    fn run(seed: u64, rounds: usize, batch: usize, delay: usize) -> Vec<f64> {
        let mut p = Exp3::new(3, Some(0.05), 0.0, None, Some(seed)).unwrap();
        let mut waiting: VecDeque<(Vec<i64>, Vec<f64>)> = VecDeque::new();
        let mut t = 0;
        while t < rounds {
            let arms: Vec<i64> = p
                .select_batch(batch)
                .into_iter()
                .map(|a| a as i64)
                .collect();
            let rewards = arms
                .iter()
                .enumerate()
                .map(|(j, &a)| 1.0 - loss(t + j, a as usize))
                .collect();
            t += batch;
            waiting.push_back((arms, rewards));
            if waiting.len() > delay {
                let (a, r) = waiting.pop_front().unwrap();
                p.update_batch(&a, &r).unwrap();
            }
        }
        while let Some((a, r)) = waiting.pop_front() {
            p.update_batch(&a, &r).unwrap();
        }
        p.cumulative_loss_estimates().to_vec()
    }

    /// E[L^_i] = sum_t l_t(i) exactly when every estimate divides by the probability of its
    /// draw, for any batching and delay: the mean over seeded runs is within 4 standard
    /// errors of it on every arm, and the error is not larger than the scatter allows.
    #[test]
    fn importance_weighted_losses_are_unbiased_with_batches_and_delays() {
        let rounds = 120;
        for (batch, delay) in [(1, 0), (20, 0), (20, 2), (1, 15)] {
            let runs = 4000;
            let est: Vec<Vec<f64>> = (0..runs).map(|s| run(s, rounds, batch, delay)).collect();
            for i in 0..3 {
                let truth: f64 = (0..rounds).map(|t| loss(t, i)).sum();
                let mean = est.iter().map(|e| e[i]).sum::<f64>() / runs as f64;
                let var =
                    est.iter().map(|e| (e[i] - mean).powi(2)).sum::<f64>() / (runs as f64 - 1.0);
                let se = (var / runs as f64).sqrt();
                assert!(
                    (mean - truth).abs() < 4.0 * se,
                    "batch {batch} delay {delay} arm {i}: mean {mean} vs exact {truth} (se {se})"
                );
                // The check has power: the standard error is a few percent of the target.
                assert!(se < 0.05 * truth, "arm {i}: se {se} too large for {truth}");
            }
        }
    }

    /// After `select_batch(20)` every decision divides by the one probability vector the
    /// batch was drawn from (not by the vectors that the first updates move to).
    #[test]
    fn a_batch_divides_by_the_probabilities_it_was_drawn_with() {
        let mut p = Exp3::new(3, Some(0.5), 0.0, None, Some(1)).unwrap();
        p.update(0, 1.0).unwrap();
        p.update(1, 0.0).unwrap();
        let before = p.probabilities();
        let start = p.cumulative_loss_estimates().to_vec();
        let arms: Vec<i64> = p.select_batch(20).into_iter().map(|a| a as i64).collect();
        p.update_batch(&arms, &[0.0; 20]).unwrap();
        for i in 0..3 {
            let n = arms.iter().filter(|&&a| a == i as i64).count() as f64;
            let want = start[i] + n / before[i];
            let got = p.cumulative_loss_estimates()[i];
            assert!(
                (got - want).abs() < 1e-9 * want.max(1.0),
                "arm {i}: {got} vs {want}"
            );
        }
        assert_eq!(p.pending_counts(), vec![0, 0, 0]);
        let mut ix = Exp3IX::new(3, Some(0.5), Some(0.1), None, Some(1)).unwrap();
        let before = ix.probabilities();
        let arms: Vec<i64> = ix.select_batch(20).into_iter().map(|a| a as i64).collect();
        ix.update_batch(&arms, &[0.0; 20]).unwrap();
        for i in 0..3 {
            let n = arms.iter().filter(|&&a| a == i as i64).count() as f64;
            let want = n / (before[i] + 0.1);
            let got = ix.cumulative_loss_estimates()[i];
            assert!(
                (got - want).abs() < 1e-9 * want.max(1.0),
                "IX arm {i}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn a_given_propensity_is_used_and_answers_the_oldest_decision() {
        let mut p = Exp3::new(2, Some(0.5), 0.0, None, Some(3)).unwrap();
        let a = p.decide();
        let _ = p.decide();
        p.update_with_propensity(a as i64, 0.0, 0.25).unwrap();
        assert!((p.cumulative_loss_estimates()[a] - 4.0).abs() < 1e-12);
        assert_eq!(p.pending_counts().iter().sum::<usize>(), 1);
        let snapshot = p.clone();
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(p.update_with_propensity(0, 0.5, bad).is_err());
            assert!(p
                .update_batch_with_propensities(&[0, 1], &[0.5, 0.5], &[0.5, bad])
                .is_err());
        }
        assert!(p.update_batch_with_propensities(&[0], &[0.5], &[]).is_err());
        assert_eq!(p, snapshot);
    }

    #[test]
    fn recorded_probabilities_survive_bytes_and_old_bytes_load() {
        let mut p = Exp3IX::new(3, Some(0.5), None, None, Some(4)).unwrap();
        let arms: Vec<i64> = p.select_batch(7).into_iter().map(|a| a as i64).collect();
        let bytes = crate::state::encode(&p).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 2);
        let idle = crate::state::encode(&Exp3IX::new(3, None, None, None, Some(4)).unwrap());
        assert_eq!(
            u16::from_le_bytes([idle.as_ref().unwrap()[4], idle.unwrap()[5]]),
            1
        );
        let mut back: Exp3IX = crate::state::decode(&bytes).unwrap();
        assert_eq!(back, p);
        p.update_batch(&arms, &[0.5; 7]).unwrap();
        back.update_batch(&arms, &[0.5; 7]).unwrap();
        assert_eq!(
            back.cumulative_loss_estimates(),
            p.cumulative_loss_estimates()
        );
        // A version-1 payload: the same fields without the queues.
        let fresh = Exp3::new(2, None, 0.1, Some(100), Some(5)).unwrap();
        let mut v1 = postcard::to_allocvec(&(&fresh.core, &fresh.params, &fresh.losses)).unwrap();
        let mut framed = b"RGLS".to_vec();
        framed.extend_from_slice(&1u16.to_le_bytes());
        framed.push(4);
        framed.extend_from_slice(b"Exp3");
        framed.append(&mut v1);
        let crc = crc32fast::hash(&framed);
        framed.extend_from_slice(&crc.to_le_bytes());
        let old: Exp3 = crate::state::decode(&framed).unwrap();
        assert_eq!(old, fresh);
    }
}
