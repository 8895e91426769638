//! Tsallis-INF with the 1/2-Tsallis entropy (Zimmert & Seldin 2021): best of both worlds,
//! O(sqrt(K T)) regret against an adversary and O(sum_i ln T / Delta_i) on stochastic
//! rewards, with no tuning. Loss = 1 - reward.
//!
//! The play distribution is p_i = 4 (eta_t (L_i - x))^-2 with eta_t = 2 scale / sqrt(t) and
//! x < min L the normalizer, found by Newton's method (see [`tsallis_probabilities`]).
//!
//! An importance weight divides by the probability the arm was *drawn* with: each decision
//! of `decide`/`select_batch` records it in a per-arm first-in first-out queue, and an
//! update answers its arm's oldest unanswered decision (or uses `propensity` when given;
//! the current probability when nothing was recorded). The same design as EXP3's.

pub use super::propensity::MAX_PENDING_PER_ARM;
use super::propensity::{Pending, RecordsPropensities};
use super::{finite_positive, persist_policy, Core, Policy, RewardDomain};
use crate::error::{Error, Result};
use crate::stats::sample_discrete;
use serde::{Deserialize, Serialize};

/// Floor on the probability an importance weight divides by (updates may come from
/// elsewhere for arms whose probability is negligible): keeps the estimates finite.
const MIN_PROBABILITY: f64 = 1e-12;

/// Newton iterations are capped; from the right of the root the iteration is monotone and
/// quadratically convergent, so a few tens suffice for any K.
const MAX_NEWTON_STEPS: usize = 100;

/// The 1/2-Tsallis-INF distribution for cumulative loss estimates `losses` and learning
/// rate `eta`: p_i = 4 (eta (L_i - x))^-2 with x < min L such that sum p = 1.
///
/// f(x) = sum p(x) - 1 is increasing and convex on x < min L, with f'(x) = eta sum p^(3/2).
/// Newton's method from x0 = min L - 2/eta (where the leader alone has p = 1, so f >= 0)
/// moves monotonically left to the root. The result is renormalized to sum exactly 1.
pub fn tsallis_probabilities(losses: &[f64], eta: f64) -> Vec<f64> {
    let m = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let mut x = m - 2.0 / eta;
    let mut p = vec![0.0; losses.len()];
    for _ in 0..MAX_NEWTON_STEPS {
        let mut sum = 0.0;
        let mut slope = 0.0;
        for (pi, &l) in p.iter_mut().zip(losses) {
            let z = eta * (l - x);
            *pi = 4.0 / (z * z);
            sum += *pi;
            slope += *pi * pi.sqrt();
        }
        let step = (sum - 1.0) / (eta * slope);
        if step.is_nan() || step <= 1e-15 * x.abs().max(1.0 / eta) {
            break;
        }
        x -= step;
    }
    let total: f64 = p.iter().sum();
    for pi in &mut p {
        *pi /= total;
    }
    p
}

/// 1/2-Tsallis-INF: p_i = 4 (eta_t (L_i - x))^-2 over importance-weighted cumulative loss
/// estimates L_i, eta_t = 2 scale / sqrt(t).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TsallisINF {
    core: Core,
    params: TsallisINFParams,
    losses: Vec<f64>,
    pending: Pending,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TsallisINFParams {
    /// Multiplies the learning rate 2 / sqrt(t) (1 is the paper's tuning).
    pub eta_scale: f64,
}

impl TsallisINF {
    pub fn new(n_arms: usize, eta_scale: f64, seed: Option<u64>) -> Result<Self> {
        let p = TsallisINF {
            core: Core::new(n_arms, seed)?,
            params: TsallisINFParams { eta_scale },
            losses: vec![0.0; n_arms],
            pending: Pending::new(n_arms),
        };
        p.check_extra()?;
        Ok(p)
    }

    /// The learning rate of the next decision: 2 scale / sqrt(t), t = updates + 1.
    pub fn eta(&self) -> f64 {
        2.0 * self.params.eta_scale / ((self.core.t as f64) + 1.0).sqrt()
    }

    pub fn eta_scale(&self) -> f64 {
        self.params.eta_scale
    }

    pub fn cumulative_loss_estimates(&self) -> &[f64] {
        &self.losses
    }

    /// Number of decisions per arm still waiting for their update.
    pub fn pending_counts(&self) -> Vec<usize> {
        self.pending.counts()
    }

    /// Adds the importance-weighted loss of a pull drawn with probability `p`.
    fn learn_weighted(&mut self, arm: usize, reward: f64, p: f64) {
        self.losses[arm] += (1.0 - reward) / p.max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
    }
}

impl Policy for TsallisINF {
    type Params = TsallisINFParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &TsallisINFParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("eta_scale={}", self.params.eta_scale)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let p = self.probabilities();
        sample_discrete(&p, &mut self.core.rng)
    }
    fn decide(&mut self) -> usize {
        let p = self.probabilities();
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    /// Negated cumulative loss estimates (higher is better).
    fn scores(&self) -> Vec<f64> {
        self.losses.iter().map(|l| -l).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        tsallis_probabilities(&self.losses, self.eta())
    }
    /// A decision among the eligible arms, drawn from the Tsallis probabilities
    /// renormalized over them and recorded with that probability (as `decide` records).
    fn select_among(&mut self, eligible: &crate::eligible::Eligible) -> usize {
        let p = self.probabilities_among(eligible);
        let arm = sample_discrete(&p, &mut self.core.rng);
        self.pending.record(arm, p[arm]);
        arm
    }
    fn list_rule(&self) -> super::list::ListRule {
        super::list::ListRule::Sequential
    }
    /// Slot after slot from the Tsallis probabilities renormalized over the arms not yet
    /// listed (sampling without replacement), the restriction `select_among` uses.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        super::list::restrict(self.probabilities(), remaining)
    }
    /// The Tsallis probabilities renormalized over the eligible arms (0 elsewhere).
    fn probabilities_among(&self, eligible: &crate::eligible::Eligible) -> Vec<f64> {
        eligible.renormalize(&self.probabilities())
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = match self.pending.answer(arm) {
            Some(p) => p,
            None => self.probabilities()[arm],
        };
        self.learn_weighted(arm, reward, p);
    }
    fn on_add_arm(&mut self) {
        // Joins at the leader's estimate, so it is explored.
        let l = self
            .losses
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .clamp(0.0, f64::MAX);
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
        finite_positive(self.params.eta_scale, "eta_scale")?;
        if self.losses.len() != self.core.arms.len()
            || !self.losses.iter().all(|l| l.is_finite() && *l >= 0.0)
        {
            return Err(Error::state(
                "loss estimates are inconsistent with the arms",
            ));
        }
        self.pending.check(self.core.arms.len())
    }
}
persist_policy!(TsallisINF, "TsallisINF");

impl RecordsPropensities for TsallisINF {
    fn pending_mut(&mut self) -> &mut Pending {
        &mut self.pending
    }

    fn learn(&mut self, arm: usize, reward: f64, p: f64) {
        self.learn_weighted(arm, reward, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sum p = 1 by bisection on x (an independent method), then p.
    fn bisection(losses: &[f64], eta: f64) -> Vec<f64> {
        let m = losses.iter().copied().fold(f64::INFINITY, f64::min);
        let p_at = |x: f64| -> Vec<f64> {
            losses
                .iter()
                .map(|&l| 4.0 / (eta * (l - x)).powi(2))
                .collect()
        };
        let (mut lo, mut hi) = (
            m - 2.0 * (losses.len() as f64).sqrt() / eta - 1.0,
            m - 2.0 / eta,
        );
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if p_at(mid).iter().sum::<f64>() > 1.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        p_at(0.5 * (lo + hi))
    }

    #[test]
    fn newton_matches_bisection_and_is_uniform_at_equal_losses() {
        let p = tsallis_probabilities(&[0.0; 4], 2.0);
        for x in &p {
            assert!((x - 0.25).abs() < 1e-14);
        }
        for (losses, eta) in [
            (vec![0.0, 1.0, 5.0, 20.0], 0.3),
            (vec![3.0, 1.0, 1.5], 2.0),
            (vec![100.0, 0.0, 1e6, 7.0, 7.0], 0.05),
        ] {
            let got = tsallis_probabilities(&losses, eta);
            let want = bisection(&losses, eta);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn a_batch_divides_by_the_probabilities_it_was_drawn_with() {
        let mut p = TsallisINF::new(3, 1.0, Some(2)).unwrap();
        p.update_batch(&[0, 1, 2], &[0.2, 0.9, 0.5]).unwrap();
        let before = p.probabilities();
        let start = p.cumulative_loss_estimates().to_vec();
        let arms: Vec<i64> = p.select_batch(30).into_iter().map(|a| a as i64).collect();
        p.update_batch(&arms, &[0.0; 30]).unwrap();
        for i in 0..3 {
            let n = arms.iter().filter(|&&a| a == i as i64).count() as f64;
            let want = start[i] + n / before[i];
            let got = p.cumulative_loss_estimates()[i];
            assert!((got - want).abs() < 1e-9 * want.max(1.0), "{got} vs {want}");
        }
        assert_eq!(p.pending_counts(), vec![0, 0, 0]);
    }

    #[test]
    fn a_given_propensity_is_used_and_bad_ones_change_nothing() {
        let mut p = TsallisINF::new(2, 1.0, Some(3)).unwrap();
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
        let back: TsallisINF = crate::state::decode(&crate::state::encode(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(TsallisINF::new(2, 0.0, None).is_err());
        assert!(TsallisINF::new(2, f64::NAN, None).is_err());
    }
}
