//! Policies for switching costs: each holds an arm for a block (BatchedExp3), until a lazy
//! coin says move (ShrinkingDartboard) or for an epoch (UCB2), so that the number of
//! switches grows like T^(2/3), sqrt(T) or log T instead of linearly.
//!
//! A held arm changes only when feedback arrives (an update closes its block or epoch, or
//! the lazy coin drops it; the first update draws the first one), so between updates every
//! decision is the held arm and `probabilities()` is the point mass on it; before the first
//! update nothing is held and each decision is drawn by the rule of a new block (EXP3's
//! distribution, Hedge's, the best index). Decisions never change what is held, so the law
//! of the next decision is always a function of the state. With `eligible=`: a held arm that is
//! eligible is played; an ineligible one is kept, and the decision is a substitute drawn by
//! the policy's rule restricted to the eligible arms (a substitute neither starts, ends nor
//! advances a block or epoch; the block resumes when its arm is eligible again).
//! `n_switches` counts decisions whose arm differs from the decision before.

use super::exp3::{
    check_losses, exponential_weights, exponential_weights_among, exponential_weights_remaining,
    new_arm_loss, MIN_PROBABILITY,
};
use super::list::ListRule;
use super::propensity::{Pending, RecordsPropensities};
use super::{finite_positive, persist_policy, require, Core, Policy, RewardDomain};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::stats::{argmax_distribution, argmax_random_ties, sample_discrete};
use serde::{Deserialize, Serialize};

/// The arm a policy holds: drawn with probability `prob`; `len` rewards of it make its
/// block (or epoch), `received` of which have arrived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub arm: usize,
    pub prob: f64,
    pub len: u64,
    pub received: u64,
}

/// Switch counting and the held arm's bookkeeping under arm removal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Switches {
    last: Option<usize>,
    n: u64,
}

impl Switches {
    #[inline]
    fn note(&mut self, arm: usize) {
        if let Some(l) = self.last {
            if l != arm {
                self.n = self.n.saturating_add(1);
            }
        }
        self.last = Some(arm);
    }
    /// Arm `i` was removed: the arms after it shift down. A removed last arm is forgotten
    /// (the next decision is not counted as a switch).
    fn remove_arm(&mut self, i: usize) {
        self.last = shift_removed(self.last, i);
    }
    fn check(&self, n_arms: usize) -> Result<()> {
        match self.last {
            Some(l) if l >= n_arms => Err(Error::state("last played arm is out of range")),
            _ => Ok(()),
        }
    }
}

fn shift_removed(arm: Option<usize>, i: usize) -> Option<usize> {
    match arm {
        Some(a) if a == i => None,
        Some(a) if a > i => Some(a - 1),
        other => other,
    }
}

fn point_mass(n: usize, arm: usize) -> Vec<f64> {
    let mut p = vec![0.0; n];
    p[arm] = 1.0;
    p
}

fn check_held(held: &Option<Held>, n_arms: usize) -> Result<()> {
    if let Some(h) = held {
        let ok =
            h.arm < n_arms && h.prob > 0.0 && h.prob <= 1.0 && h.len >= 1 && h.received < h.len;
        if !ok {
            return Err(Error::state("the held arm's block is inconsistent"));
        }
    }
    Ok(())
}

fn ln_k(n_arms: usize) -> f64 {
    (n_arms as f64).ln()
}

// ---- Batched EXP3 -----------------------------------------------------------------------

/// Batched EXP3 (Arora, Dekel and Tewari 2012): EXP3 on blocks of `tau` rounds. Block j
/// draws a_j from p_j = softmax(-eta L) and plays it for the whole block; the block's mean
/// loss, importance-weighted by p_j(a_j), is one EXP3 loss:
/// L(a_j) += mean loss / p_j(a_j). With tau = ceil((T / (K ln K))^(1/3)), N = ceil(T / tau)
/// blocks and eta = sqrt(2 ln K / (N K)), the regret with unit switching costs is at most
/// tau sqrt(2 N K ln K) + N = O((K ln K)^(1/3) T^(2/3)); it switches at most N times.
/// Each reward r of block j adds (1 - r) / (tau_j p_j(a_j)) at once, so the estimate
/// after the block is exactly the block's; without a horizon, tau_j = ceil((t / (K ln K))^(1/3))
/// at the block's start (t = rewards so far, plus one) and eta_j = sqrt(ln K / (K j)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchedExp3 {
    core: Core,
    params: BatchedExp3Params,
    losses: Vec<f64>,
    held: Option<Held>,
    n_blocks: u64,
    switches: Switches,
    pending: Pending,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchedExp3Params {
    pub tau: Option<u64>,
    pub eta: Option<f64>,
    pub horizon: Option<u64>,
}

impl BatchedExp3 {
    pub fn new(
        n_arms: usize,
        tau: Option<u64>,
        eta: Option<f64>,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = BatchedExp3 {
            core: Core::new(n_arms, seed)?,
            params: BatchedExp3Params { tau, eta, horizon },
            losses: vec![0.0; n_arms],
            held: None,
            n_blocks: 0,
            switches: Switches::default(),
            pending: Pending::new(n_arms),
        };
        p.check_extra()?;
        Ok(p)
    }

    /// Length of a block started now: `tau`, else ceil((T / (K ln K))^(1/3)) for a known
    /// horizon T, else ceil(((t + 1) / (K ln K))^(1/3)); at least 1 and at most T (t + 1).
    pub fn block_length(&self) -> u64 {
        if let Some(tau) = self.params.tau {
            return tau;
        }
        let k = self.losses.len();
        let cap = self
            .params
            .horizon
            .unwrap_or_else(|| self.core.t.saturating_add(1));
        let scale = k as f64 * ln_k(k);
        if scale <= 0.0 {
            return 1;
        }
        let tau = (cap as f64 / scale).cbrt().ceil();
        (tau as u64).clamp(1, cap.max(1))
    }

    /// The learning rate of the next block: `eta`, else sqrt(2 ln K / (N K)) with
    /// N = ceil(T / tau) for a known horizon, else sqrt(ln K / (K j)) for block j.
    pub fn eta(&self) -> f64 {
        if let Some(e) = self.params.eta {
            return e;
        }
        let k = self.losses.len() as f64;
        match self.params.horizon {
            Some(h) => {
                let n = h.div_ceil(self.block_length()).max(1) as f64;
                (2.0 * k.ln() / (n * k)).sqrt()
            }
            None => {
                let j = self.n_blocks.saturating_add(1) as f64;
                (k.ln() / (k * j)).sqrt()
            }
        }
    }

    /// The EXP3 distribution a new block is drawn from.
    pub fn block_distribution(&self) -> Vec<f64> {
        exponential_weights(&self.losses, self.eta())
    }

    pub fn cumulative_loss_estimates(&self) -> &[f64] {
        &self.losses
    }

    /// The block in force (its arm, the probability it was drawn with, its length and the
    /// rewards of it received), if any.
    pub fn block(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    pub fn n_blocks(&self) -> u64 {
        self.n_blocks
    }

    pub fn n_switches(&self) -> u64 {
        self.switches.n
    }

    /// Number of decisions per arm still waiting for their update.
    pub fn pending_counts(&self) -> Vec<usize> {
        self.pending.counts()
    }

    /// Starts a block on an arm drawn from `p`.
    fn open_block(&mut self, p: &[f64]) {
        let arm = sample_discrete(p, &mut self.core.rng);
        self.held = Some(Held {
            arm,
            prob: p[arm].clamp(MIN_PROBABILITY, 1.0),
            len: self.block_length(),
            received: 0,
        });
        self.n_blocks = self.n_blocks.saturating_add(1);
    }

    fn learn_weighted(&mut self, arm: usize, reward: f64, p: f64) {
        let tau = match &self.held {
            Some(h) => h.len,
            None => self.block_length(),
        };
        self.losses[arm] += (1.0 - reward) / (tau as f64 * p.max(MIN_PROBABILITY));
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        let closed = match &mut self.held {
            Some(h) if h.arm == arm => {
                h.received += 1;
                h.received >= h.len
            }
            Some(_) => false,
            None => true,
        };
        if closed {
            let p = self.block_distribution();
            self.open_block(&p);
        }
    }
}

impl Policy for BatchedExp3 {
    type Params = BatchedExp3Params;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &BatchedExp3Params {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        let show = |x: Option<u64>| x.map_or("None".into(), |v| v.to_string());
        format!(
            "tau={}, eta={}, horizon={}",
            show(p.tau),
            p.eta.map_or("None".into(), |e| e.to_string()),
            show(p.horizon)
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let arm = match &self.held {
            Some(h) => h.arm,
            None => {
                let p = self.block_distribution();
                sample_discrete(&p, &mut self.core.rng)
            }
        };
        self.switches.note(arm);
        arm
    }
    fn decide(&mut self) -> usize {
        let (arm, prob) = match &self.held {
            Some(h) => (h.arm, h.prob),
            None => {
                let p = self.block_distribution();
                let arm = sample_discrete(&p, &mut self.core.rng);
                (arm, p[arm])
            }
        };
        self.switches.note(arm);
        self.pending.record(arm, prob.clamp(MIN_PROBABILITY, 1.0));
        arm
    }
    /// Negated cumulative loss estimates (higher is better).
    fn scores(&self) -> Vec<f64> {
        self.losses.iter().map(|l| -l).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        match &self.held {
            Some(h) => point_mass(self.losses.len(), h.arm),
            None => self.block_distribution(),
        }
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let (arm, prob) = match &self.held {
            Some(h) if eligible.contains(h.arm) => (h.arm, h.prob),
            _ => {
                let p = exponential_weights_among(&self.losses, self.eta(), eligible);
                let arm = sample_discrete(&p, &mut self.core.rng);
                (arm, p[arm])
            }
        };
        self.switches.note(arm);
        self.pending.record(arm, prob.clamp(MIN_PROBABILITY, 1.0));
        arm
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        match &self.held {
            Some(h) if eligible.contains(h.arm) => point_mass(self.losses.len(), h.arm),
            _ => exponential_weights_among(&self.losses, self.eta(), eligible),
        }
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// The held arm first (the law of `select`), then EXP3's weights over the rest.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        match &self.held {
            Some(h) if remaining[h.arm] => point_mass(self.losses.len(), h.arm),
            _ => exponential_weights_remaining(&self.losses, self.eta(), remaining),
        }
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = match self.pending.answer(arm) {
            Some(p) => p,
            None => match &self.held {
                Some(h) if h.arm == arm => h.prob,
                _ => self.block_distribution()[arm],
            },
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
        self.switches.remove_arm(i);
        self.held = self.held.take().and_then(|mut h| {
            let arm = shift_removed(Some(h.arm), i)?;
            h.arm = arm;
            Some(h)
        });
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("its loss estimates are weighted by the probabilities of its own blocks")
    }
    fn check_extra(&self) -> Result<()> {
        if let Some(t) = self.params.tau {
            require(t >= 1, "tau", "must be >= 1 or None", t)?;
        }
        if let Some(e) = self.params.eta {
            finite_positive(e, "eta")?;
        }
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )?;
        let k = self.core.arms.len();
        check_losses(&self.losses, k)?;
        check_held(&self.held, k)?;
        self.switches.check(k)?;
        self.pending.check(k)
    }
}
persist_policy!(BatchedExp3, "BatchedExp3");

// ---- Shrinking dartboard ----------------------------------------------------------------

/// Shrinking dartboard (Geulen, Voecking and Winkler 2010): Hedge with weights
/// w(i) = (1 - eta)^L(i), sampled lazily. After each round the held arm h is kept with
/// probability c p_t(h) / p_{t-1}(h), with c = min_j p_{t-1}(j) / p_t(j); otherwise the arm
/// is redrawn from p_t. For a fixed eta this is (1 - eta)^(l_t(h) - min_j l_t(j)): the
/// paper's w_t(h) / w_{t-1}(h) on the losses shifted by the round's smallest one (which
/// leaves Hedge unchanged and keeps at least as often; with bandit feedback, where one arm's
/// loss moves, it is the paper's rule), and it stays valid when eta changes. Every
/// decision is then distributed as Hedge's p_t, and with full information the expected
/// number of switches is at most eta L* + 1: regret O(sqrt(T ln K)) switches included, with
/// eta = min(1/2, sqrt(ln K / T)) for a known horizon (sqrt(ln K / t) at round t without).
/// `update_full` gives the full information; `update` (bandit feedback) adds EXP3's
/// importance-weighted estimate (1 - r) / p of the played arm instead (lazy EXP3: fewer
/// switches than EXP3, but the held arm is the one being charged, so the estimates are
/// biased and the regret can grow linearly; no guarantee is claimed for it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrinkingDartboard {
    core: Core,
    params: DartboardParams,
    losses: Vec<f64>,
    held: Option<usize>,
    /// Feedback rounds: bandit updates plus full-information updates.
    rounds: u64,
    switches: Switches,
    pending: Pending,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DartboardParams {
    pub eta: Option<f64>,
    pub horizon: Option<u64>,
}

impl ShrinkingDartboard {
    pub fn new(
        n_arms: usize,
        eta: Option<f64>,
        horizon: Option<u64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = ShrinkingDartboard {
            core: Core::new(n_arms, seed)?,
            params: DartboardParams { eta, horizon },
            losses: vec![0.0; n_arms],
            held: None,
            rounds: 0,
            switches: Switches::default(),
            pending: Pending::new(n_arms),
        };
        p.check_extra()?;
        Ok(p)
    }

    /// The weights' eta: `eta`, else min(1/2, sqrt(ln K / T)) for a known horizon T, else
    /// min(1/2, sqrt(ln K / (t + 1))) after t rounds.
    pub fn eta(&self) -> f64 {
        if let Some(e) = self.params.eta {
            return e;
        }
        let n = self
            .params
            .horizon
            .unwrap_or_else(|| self.rounds.saturating_add(1)) as f64;
        (ln_k(self.losses.len()) / n).sqrt().min(0.5)
    }

    /// Hedge's distribution p(i) proportional to (1 - eta)^L(i): the law of every decision.
    pub fn hedge_probabilities(&self) -> Vec<f64> {
        exponential_weights(&self.losses, -(1.0 - self.eta()).ln())
    }

    pub fn cumulative_loss_estimates(&self) -> &[f64] {
        &self.losses
    }

    pub fn held_arm(&self) -> Option<usize> {
        self.held
    }

    pub fn n_switches(&self) -> u64 {
        self.switches.n
    }

    /// Number of feedback rounds (bandit and full-information updates).
    pub fn n_rounds(&self) -> u64 {
        self.rounds
    }

    /// One round of full information: `rewards[i]` in [0, 1] for every arm. Answers the held
    /// arm's oldest unanswered decision.
    pub fn update_full(&mut self, rewards: &[f64]) -> Result<()> {
        let k = self.losses.len();
        if rewards.len() != k {
            return Err(Error::shape(
                "rewards",
                format!("length {} does not match n_arms ({k})", rewards.len()),
            ));
        }
        for (i, &r) in rewards.iter().enumerate() {
            self.check_reward("rewards", r, Some(i))?;
        }
        super::check_room(self.core.t, k as u64)?;
        if let Some(h) = self.held {
            self.pending.answer(h);
        }
        let before = self.hedge_probabilities();
        for (i, &r) in rewards.iter().enumerate() {
            self.losses[i] += 1.0 - r;
            self.core.arms[i].push(r);
        }
        self.core.t += k as u64;
        self.rounds = self.rounds.saturating_add(1);
        self.lazy_step(&before);
        Ok(())
    }

    /// The dartboard: keep the held arm with probability c p_t(h) / p_{t-1}(h), else
    /// redraw from p_t.
    fn lazy_step(&mut self, before: &[f64]) {
        let after = self.hedge_probabilities();
        let Some(h) = self.held else {
            // The first round: the first held arm, drawn from p_t.
            self.held = Some(sample_discrete(&after, &mut self.core.rng));
            return;
        };
        let c = before
            .iter()
            .zip(&after)
            .filter(|(_, &a)| a > 0.0)
            .map(|(&b, &a)| b / a)
            .fold(f64::INFINITY, f64::min)
            .min(1.0);
        let keep = if before[h] > 0.0 {
            c * after[h] / before[h]
        } else {
            0.0
        };
        // Within rounding of 1 (an update of another arm): kept without a draw.
        if keep >= 1.0 - 1e-12 {
            return;
        }
        if self.core.rng.uniform() >= keep {
            self.held = Some(sample_discrete(&after, &mut self.core.rng));
        }
    }

    fn learn_weighted(&mut self, arm: usize, reward: f64, p: f64) {
        let before = self.hedge_probabilities();
        self.losses[arm] += (1.0 - reward) / p.max(MIN_PROBABILITY);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        self.rounds = self.rounds.saturating_add(1);
        self.lazy_step(&before);
    }
}

impl Policy for ShrinkingDartboard {
    type Params = DartboardParams;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &DartboardParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "eta={}, horizon={}",
            self.params.eta.map_or("None".into(), |e| e.to_string()),
            self.params.horizon.map_or("None".into(), |h| h.to_string())
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let arm = match self.held {
            Some(h) => h,
            None => {
                let p = self.hedge_probabilities();
                sample_discrete(&p, &mut self.core.rng)
            }
        };
        self.switches.note(arm);
        arm
    }
    /// Records Hedge's probability of the arm (the law of the decision given the losses)
    /// for its update.
    fn decide(&mut self) -> usize {
        let arm = self.select();
        let p = self.hedge_probabilities()[arm];
        self.pending.record(arm, p.clamp(MIN_PROBABILITY, 1.0));
        arm
    }
    fn scores(&self) -> Vec<f64> {
        self.losses.iter().map(|l| -l).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        match self.held {
            Some(h) => point_mass(self.losses.len(), h),
            None => self.hedge_probabilities(),
        }
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let beta = -(1.0 - self.eta()).ln();
        let (arm, prob) = match self.held {
            Some(h) if eligible.contains(h) => (h, self.hedge_probabilities()[h]),
            _ => {
                let p = exponential_weights_among(&self.losses, beta, eligible);
                let arm = sample_discrete(&p, &mut self.core.rng);
                (arm, p[arm])
            }
        };
        self.switches.note(arm);
        self.pending.record(arm, prob.clamp(MIN_PROBABILITY, 1.0));
        arm
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        match self.held {
            Some(h) if eligible.contains(h) => point_mass(self.losses.len(), h),
            _ => exponential_weights_among(&self.losses, -(1.0 - self.eta()).ln(), eligible),
        }
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// The held arm first (the law of `select`), then Hedge's weights over the rest.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        match self.held {
            Some(h) if remaining[h] => point_mass(self.losses.len(), h),
            _ => exponential_weights_remaining(&self.losses, -(1.0 - self.eta()).ln(), remaining),
        }
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let p = match self.pending.answer(arm) {
            Some(p) => p,
            None => self.hedge_probabilities()[arm],
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
        self.switches.remove_arm(i);
        self.held = shift_removed(self.held, i);
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("its held arm and estimates follow its own sequence of plays")
    }
    fn check_extra(&self) -> Result<()> {
        if let Some(e) = self.params.eta {
            require(
                e.is_finite() && e > 0.0 && e <= 0.5,
                "eta",
                "must be a number in (0, 0.5]",
                e,
            )?;
        }
        require(
            self.params.horizon != Some(0),
            "horizon",
            "must be >= 1 or None",
            self.params.horizon,
        )?;
        let k = self.core.arms.len();
        check_losses(&self.losses, k)?;
        if matches!(self.held, Some(h) if h >= k) {
            return Err(Error::state("the held arm is out of range"));
        }
        self.switches.check(k)?;
        self.pending.check(k)
    }
}
persist_policy!(ShrinkingDartboard, "ShrinkingDartboard");

// ---- UCB2 -------------------------------------------------------------------------------

/// UCB2 (Auer, Cesa-Bianchi and Fischer 2002): after one pull of each arm, play the arm j
/// maximizing mean_j + sqrt((1 + alpha) ln(e n / tau(r_j)) / (2 tau(r_j))) for an epoch of
/// tau(r_j + 1) - tau(r_j) pulls (at least one), then r_j += 1; tau(r) = ceil((1 + alpha)^r)
/// and n is the number of rewards so far. Regret sum_j (1 + alpha)(1 + 4 alpha)
/// ln(2 e Delta_j^2 n) / (2 Delta_j) + c_alpha / Delta_j; arm j starts O(ln n / ln(1 + alpha))
/// epochs, so the number of switches grows like log T.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCB2 {
    core: Core,
    params: UCB2Params,
    /// r_j: epochs started per arm.
    epochs: Vec<u64>,
    held: Option<Held>,
    switches: Switches,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UCB2Params {
    pub alpha: f64,
}

impl UCB2 {
    pub fn new(n_arms: usize, alpha: f64, seed: Option<u64>) -> Result<Self> {
        let p = UCB2 {
            core: Core::new(n_arms, seed)?,
            params: UCB2Params { alpha },
            epochs: vec![0; n_arms],
            held: None,
            switches: Switches::default(),
        };
        p.check_extra()?;
        Ok(p)
    }

    pub fn alpha(&self) -> f64 {
        self.params.alpha
    }

    /// tau(r) = ceil((1 + alpha)^r), saturating.
    pub fn tau(&self, r: u64) -> u64 {
        let v = ((1.0 + self.params.alpha).ln() * r as f64).exp().ceil();
        if v >= u64::MAX as f64 {
            u64::MAX
        } else {
            v as u64
        }
    }

    /// Epochs started per arm (r_j).
    pub fn epochs(&self) -> &[u64] {
        &self.epochs
    }

    /// The epoch in force (arm, length, pulls received), if any.
    pub fn epoch(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    pub fn n_switches(&self) -> u64 {
        self.switches.n
    }

    fn index(&self, j: usize) -> f64 {
        let a = &self.core.arms[j];
        if a.n == 0 {
            return f64::INFINITY;
        }
        let tau = self.tau(self.epochs[j]) as f64;
        let n = self.core.t as f64;
        let log = (std::f64::consts::E * n / tau).max(1.0).ln();
        a.mean() + ((1.0 + self.params.alpha) * log / (2.0 * tau)).sqrt()
    }

    /// Starts an epoch on `arm`: one pull if it was never pulled, else
    /// max(1, tau(r + 1) - tau(r)) pulls, and r += 1.
    fn open_epoch(&mut self, arm: usize) {
        let len = if self.core.arms[arm].n == 0 {
            1
        } else {
            let r = self.epochs[arm];
            let len = self.tau(r.saturating_add(1)).saturating_sub(self.tau(r));
            self.epochs[arm] = r.saturating_add(1);
            len.max(1)
        };
        self.held = Some(Held {
            arm,
            prob: 1.0,
            len,
            received: 0,
        });
    }

    fn choose(&mut self) {
        let scores = self.scores();
        let arm = argmax_random_ties(scores.into_iter(), &mut self.core.rng);
        self.open_epoch(arm);
    }
}

impl Policy for UCB2 {
    type Params = UCB2Params;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &UCB2Params {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("alpha={}", self.params.alpha)
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let arm = match &self.held {
            Some(h) => h.arm,
            None => {
                let scores = self.scores();
                argmax_random_ties(scores.into_iter(), &mut self.core.rng)
            }
        };
        self.switches.note(arm);
        arm
    }
    /// The UCB2 index of each arm (+inf for arms never pulled).
    fn scores(&self) -> Vec<f64> {
        (0..self.epochs.len()).map(|j| self.index(j)).collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        match &self.held {
            Some(h) => point_mass(self.epochs.len(), h.arm),
            None => argmax_distribution(&self.scores()),
        }
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let arm = match &self.held {
            Some(h) if eligible.contains(h.arm) => h.arm,
            _ => {
                let scores = self.scores();
                eligible.argmax(scores.into_iter(), &mut self.core.rng)
            }
        };
        self.switches.note(arm);
        arm
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        match &self.held {
            Some(h) if eligible.contains(h.arm) => point_mass(self.epochs.len(), h.arm),
            _ => eligible.argmax_distribution(&self.scores()),
        }
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sequential
    }
    /// The epoch's arm first (the law of `select`), then the best indices of the rest.
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        match &self.held {
            Some(h) if remaining[h.arm] => point_mass(self.epochs.len(), h.arm),
            _ => {
                let mut s = self.scores();
                for (x, &r) in s.iter_mut().zip(remaining) {
                    if !r {
                        *x = f64::NEG_INFINITY;
                    }
                }
                argmax_distribution(&s)
            }
        }
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        let closed = match &mut self.held {
            Some(h) if h.arm == arm => {
                h.received += 1;
                h.received >= h.len
            }
            Some(_) => false,
            None => true,
        };
        if closed {
            self.choose();
        }
    }
    fn on_add_arm(&mut self) {
        self.epochs.push(0);
    }
    fn on_remove_arm(&mut self, i: usize) {
        self.epochs.remove(i);
        self.switches.remove_arm(i);
        self.held = self.held.take().and_then(|mut h| {
            h.arm = shift_removed(Some(h.arm), i)?;
            Some(h)
        });
    }
    fn not_mergeable(&self) -> Option<&'static str> {
        Some("its epoch schedule follows its own sequence of plays")
    }
    fn check_extra(&self) -> Result<()> {
        require(
            self.params.alpha.is_finite() && self.params.alpha > 0.0 && self.params.alpha < 1.0,
            "alpha",
            "must be a number in (0, 1)",
            self.params.alpha,
        )?;
        let k = self.core.arms.len();
        if self.epochs.len() != k {
            return Err(Error::state(
                "epoch counters are inconsistent with the arms",
            ));
        }
        check_held(&self.held, k)?;
        self.switches.check(k)
    }
}
persist_policy!(UCB2, "UCB2");

impl RecordsPropensities for BatchedExp3 {
    fn pending_mut(&mut self) -> &mut Pending {
        &mut self.pending
    }

    fn learn(&mut self, arm: usize, reward: f64, p: f64) {
        self.learn_weighted(arm, reward, p);
    }
}

impl RecordsPropensities for ShrinkingDartboard {
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

    /// Plays `p` for `rounds` steps on Bernoulli-like deterministic rewards and returns the
    /// arms chosen.
    fn play<P: Policy>(p: &mut P, rounds: usize, means: &[f64]) -> Vec<usize> {
        let mut rng = crate::rng::Rng::seed_from_u64(99);
        (0..rounds)
            .map(|_| {
                let a = p.decide();
                let r = if rng.uniform() < means[a] { 1.0 } else { 0.0 };
                p.update(a as i64, r).unwrap();
                a
            })
            .collect()
    }

    fn switches(arms: &[usize]) -> u64 {
        arms.windows(2).filter(|w| w[0] != w[1]).count() as u64
    }

    #[test]
    fn batched_exp3_defaults_follow_the_paper() {
        // K = 4, T = 100000: tau = ceil((1e5 / (4 ln 4))^(1/3)) = ceil(26.2) = 27.
        let p = BatchedExp3::new(4, None, None, Some(100_000), Some(0)).unwrap();
        let kl = 4.0 * 4f64.ln();
        let tau = (1e5 / kl).cbrt().ceil() as u64;
        assert_eq!(p.block_length(), tau);
        assert_eq!(tau, 27);
        let n = 100_000u64.div_ceil(tau) as f64;
        assert!((p.eta() - (2.0 * 4f64.ln() / (n * 4.0)).sqrt()).abs() < 1e-15);
        // A wrong exponent (1/2) would give 89.
        assert!(p.block_length() < 30 && p.block_length() > 20);
    }

    #[test]
    fn batched_exp3_holds_each_arm_for_a_block_and_estimates_the_block_mean() {
        let mut p = BatchedExp3::new(3, Some(5), Some(0.1), None, Some(1)).unwrap();
        let arms = play(&mut p, 200, &[0.2, 0.5, 0.8]);
        // The first update opens block 1 (decisions 1..=5), then blocks of 5: arms change
        // only after decisions 0, 5, 10, ...
        for (t, w) in arms.windows(2).enumerate() {
            if w[0] != w[1] {
                assert_eq!(t % 5, 0, "switch inside a block after decision {t}");
            }
        }
        assert_eq!(p.n_blocks(), 40);
        assert_eq!(p.n_switches(), switches(&arms));
        assert!(p.n_switches() <= 39);
        // One block by hand: the estimate moves by (block mean loss) / p(a).
        let mut q = BatchedExp3::new(2, Some(4), Some(0.5), None, Some(3)).unwrap();
        let first = q.decide();
        q.update(first as i64, 1.0).unwrap(); // no loss: the estimates stay at 0
        let before = q.block_distribution();
        let a = q.block().unwrap().arm;
        assert_eq!(q.block().unwrap().prob, before[a]);
        for r in [1.0, 0.0, 0.0, 0.5] {
            assert_eq!(q.decide(), a);
            q.update(a as i64, r).unwrap();
        }
        let want = (0.0 + 1.0 + 1.0 + 0.5) / 4.0 / before[a];
        assert!((q.cumulative_loss_estimates()[a] - want).abs() < 1e-12);
        assert_eq!(q.cumulative_loss_estimates()[1 - a], 0.0);
        assert_eq!(q.n_blocks(), 2);
        assert_eq!(q.pending_counts().iter().sum::<usize>(), 0);
    }

    #[test]
    fn batched_exp3_block_estimates_are_unbiased() {
        // E[L^_i] = sum of arm i's per-round losses / tau ... over blocks: with losses fixed
        // per arm, E[L^_i after B blocks] = B * loss_i exactly (each block adds
        // loss_i / p_i with probability p_i).
        let losses = [0.3, 0.6];
        let runs = 4000;
        let blocks = 10;
        let mut mean = [0.0; 2];
        for s in 0..runs {
            let mut p = BatchedExp3::new(2, Some(3), Some(0.2), None, Some(s)).unwrap();
            for _ in 0..blocks * 3 {
                let a = p.decide();
                p.update(a as i64, 1.0 - losses[a]).unwrap();
            }
            for i in 0..2 {
                mean[i] += p.cumulative_loss_estimates()[i] / runs as f64;
            }
        }
        for i in 0..2 {
            let want = blocks as f64 * losses[i];
            assert!(
                (mean[i] - want).abs() < 0.05 * want,
                "arm {i}: {} vs {want}",
                mean[i]
            );
        }
    }

    #[test]
    fn dartboard_keeps_hedge_marginals_and_its_exact_expected_switches() {
        // Full information on a fixed loss sequence: P(a_t = i) = p_t(i) (Hedge's), and
        // P(switch after round t) = sum_i p_t(i) (1 - keep_i) (1 - p_{t+1}(i)) with
        // keep_i = (1 - eta)^(l_t(i) - min_j l_t(j)).
        let (k, t_max, eta) = (3, 300, 0.1);
        let loss = |t: usize, i: usize| {
            [0.3, 0.5, 0.7][i] * (1.0 + ((t * (i + 2)) % 5) as f64 / 5.0) / 2.0
        };
        // The reference: Hedge's distributions and the expected switch count, in closed form.
        let hedge = |t: usize| -> Vec<f64> {
            let l: Vec<f64> = (0..k).map(|i| (0..t).map(|s| loss(s, i)).sum()).collect();
            let w: Vec<f64> = l.iter().map(|&x| (1.0f64 - eta).powf(x)).collect();
            let z: f64 = w.iter().sum();
            w.iter().map(|x| x / z).collect()
        };
        let mut expected = 0.0;
        for t in 0..t_max - 1 {
            let (p, q) = (hedge(t), hedge(t + 1));
            for i in 0..k {
                // Nothing is held before the first update: decision 1 is a fresh draw.
                let min = (0..k).map(|j| loss(t, j)).fold(f64::INFINITY, f64::min);
                let keep = if t == 0 {
                    0.0
                } else {
                    (1.0f64 - eta).powf(loss(t, i) - min)
                };
                expected += p[i] * (1.0 - keep) * (1.0 - q[i]);
            }
        }
        let runs = 3000;
        let mut last = vec![0.0; k];
        let mut sw = Vec::with_capacity(runs);
        for s in 0..runs as u64 {
            let mut p = ShrinkingDartboard::new(k, Some(eta), None, Some(s)).unwrap();
            let mut arms = vec![];
            for t in 0..t_max {
                arms.push(p.decide());
                if t + 1 < t_max {
                    let r: Vec<f64> = (0..k).map(|i| 1.0 - loss(t, i)).collect();
                    p.update_full(&r).unwrap();
                }
            }
            last[arms[t_max - 1]] += 1.0 / runs as f64;
            assert_eq!(p.n_switches(), switches(&arms));
            sw.push(switches(&arms) as f64);
        }
        let p_last = hedge(t_max - 1);
        for i in 0..k {
            let sd = (p_last[i] * (1.0 - p_last[i]) / runs as f64).sqrt();
            assert!(
                (last[i] - p_last[i]).abs() < 5.0 * sd + 1e-9,
                "arm {i}: {} vs {}",
                last[i],
                p_last[i]
            );
        }
        let mean = sw.iter().sum::<f64>() / runs as f64;
        let var = sw.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs as f64 - 1.0);
        let se = (var / runs as f64).sqrt();
        assert!(
            (mean - expected).abs() < 5.0 * se,
            "{mean} vs {expected} (se {se})"
        );
        // The check has power: the unshifted rule (1 - eta)^l_t(i) would switch 3.25 times
        // on average here (200 standard errors away), and redrawing every round ~ t_max / 2.
        assert!(
            expected > 1.0 && expected < 0.05 * t_max as f64,
            "{expected}"
        );
    }

    #[test]
    fn ucb2_epochs_follow_tau_and_switch_logarithmically() {
        let p = UCB2::new(2, 0.5, Some(0)).unwrap();
        assert_eq!(
            (0..6).map(|r| p.tau(r)).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 6, 8]
        );
        let mut q = UCB2::new(3, 0.5, Some(1)).unwrap();
        let arms = play(&mut q, 20_000, &[0.3, 0.5, 0.7]);
        let mut first: Vec<usize> = arms[..3].to_vec();
        first.sort_unstable();
        assert_eq!(first, vec![0, 1, 2]);
        assert_eq!(q.n_switches(), switches(&arms));
        // Each arm's epochs r_j <= ln(n_j) / ln(1.5) + 2.
        for (j, &r) in q.epochs().iter().enumerate() {
            let n = q.counts()[j] as f64;
            assert!(
                r as f64 <= n.ln() / 1.5f64.ln() + 2.0,
                "arm {j}: {r} epochs, {n} pulls"
            );
        }
        assert!(q.n_switches() < 200, "{}", q.n_switches());
        assert!(q.counts()[2] > 15_000);
    }

    #[test]
    fn held_arms_survive_bytes_and_bad_states_are_refused() {
        let mut p = BatchedExp3::new(3, Some(7), None, None, Some(5)).unwrap();
        play(&mut p, 10, &[0.5; 3]);
        let back: BatchedExp3 = crate::state::decode(&crate::state::encode(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let mut bad = p.clone();
        bad.held.as_mut().unwrap().received = 7;
        assert!(crate::state::decode::<BatchedExp3>(&crate::state::encode(&bad).unwrap()).is_err());
        assert!(BatchedExp3::new(3, Some(0), None, None, None).is_err());
        assert!(ShrinkingDartboard::new(3, Some(0.6), None, None).is_err());
        assert!(UCB2::new(3, 1.0, None).is_err());
        assert!(UCB2::new(3, 0.0, None).is_err());
    }
}
