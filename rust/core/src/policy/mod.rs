//! Multi-armed bandit policies. Each algorithm is a struct holding a shared [`Core`]
//! (random generator, per-arm statistics, step counter), its hyperparameters and any extra
//! per-arm state; the [`Policy`] trait gives every one of them the same vocabulary.

use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result, Shown};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::{argmax_distribution, ArmStats};
use serde::{Deserialize, Serialize};

pub mod detect;
pub mod drift;
pub mod elimination;
pub mod exp3;
pub mod greedy;
pub mod klucb;
pub mod list;
pub mod propensity;
pub mod registry;
pub mod switching;
pub mod thompson;
pub mod tsallis;
pub mod ucb;

pub use detect::{Restart, CUSUMUCB, GLRUCB};
pub use drift::{DiscountedThompsonSampling, DiscountedUCB, SlidingWindowUCB};
pub use elimination::SuccessiveElimination;
pub use exp3::{Exp3, Exp3IX};
pub use greedy::{EpsilonGreedy, Softmax};
pub use klucb::{BayesUCB, Divergence, KLUCB};
pub use list::{ListRule, RankedList};
pub use propensity::RecordsPropensities;
pub use registry::{AnyPolicy, PolicyVisitor, Registered};
pub use switching::{BatchedExp3, ShrinkingDartboard, UCB2};
pub use thompson::{GaussianThompsonSampling, ThompsonSampling};
pub use tsallis::TsallisINF;
pub use ucb::{MOSS, UCB1, UCBV};

/// The set of rewards a policy's model is defined on. Rewards outside it are rejected
/// (with [`Error::InvalidReward`]) rather than silently clipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RewardDomain {
    /// [0, 1]: Bernoulli models, Hoeffding-based indices, EXP3 rewards.
    Unit,
    /// [0, inf): Poisson models.
    NonNegative,
    /// Any finite value.
    Real,
}

/// The largest reward magnitude any policy accepts. Per-arm statistics then stay finite
/// whatever happens to them: a sum of up to 2^64 rewards is at most 1.8e119 and the sum
/// of squared deviations at most 2^64 (2e100)^2 = 7e219 (merges included), so every
/// accepted sequence of calls leaves a state that encodes and decodes.
pub const REWARD_LIMIT: f64 = 1e100;

impl RewardDomain {
    #[inline]
    pub fn contains(self, x: f64) -> bool {
        match self {
            RewardDomain::Unit => (0.0..=1.0).contains(&x),
            RewardDomain::NonNegative => (0.0..=REWARD_LIMIT).contains(&x),
            RewardDomain::Real => (-REWARD_LIMIT..=REWARD_LIMIT).contains(&x),
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            RewardDomain::Unit => "a finite number in [0, 1]",
            RewardDomain::NonNegative => "a number in [0, 1e100]",
            RewardDomain::Real => "a number in [-1e100, 1e100]",
        }
    }
    /// `Ok` if `reward` is in the domain, else the error naming `argument` (row `position`
    /// of a batch) and the model `kind` that refuses it.
    pub fn check(
        self,
        argument: &str,
        reward: f64,
        position: Option<usize>,
        kind: &str,
    ) -> Result<()> {
        if self.contains(reward) {
            return Ok(());
        }
        Err(Error::InvalidReward {
            argument: argument.to_string(),
            value: reward,
            position,
            expected: format!("{} for {kind}", self.describe()),
        })
    }
    /// True when every reward of `inner` is also in `self`.
    pub fn includes(self, inner: RewardDomain) -> bool {
        matches!(
            (self, inner),
            (RewardDomain::Real, _)
                | (
                    RewardDomain::NonNegative,
                    RewardDomain::NonNegative | RewardDomain::Unit
                )
                | (RewardDomain::Unit, RewardDomain::Unit)
        )
    }
}

/// State every policy has: its generator, per-arm statistics and the number of rewards seen.
/// Per-arm values derived from each arm's statistics (index terms, sampler constants),
/// tagged with the count they were derived for, so a decision re-derives only what changed.
/// Derived state: never serialized, ignored by equality. `observe` keeps it current arm by
/// arm; anything else that changes counts (merge, decoding) is caught by the count tags on
/// the next `refresh`; adding or removing arms must `clear` it (entries would shift).
#[derive(Clone, Debug)]
pub(crate) struct ArmCache<T> {
    counts: Vec<u64>,
    pub values: Vec<T>,
    /// The core's `t` when every entry was last known current.
    current_at: Option<u64>,
}

impl<T> Default for ArmCache<T> {
    fn default() -> Self {
        ArmCache {
            counts: Vec::new(),
            values: Vec::new(),
            current_at: None,
        }
    }
}

impl<T> PartialEq for ArmCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> ArmCache<T> {
    #[inline]
    pub fn is_current(&self, core: &Core) -> bool {
        self.current_at == Some(core.t) && self.counts.len() == core.arms.len()
    }

    /// Re-derives (with `derive(i)`) the entries of arms whose count changed.
    #[inline]
    pub fn refresh(&mut self, core: &Core, mut derive: impl FnMut(usize) -> T) {
        if self.is_current(core) {
            return;
        }
        if self.counts.len() != core.arms.len() {
            self.values = (0..core.arms.len()).map(&mut derive).collect();
        } else {
            for (i, a) in core.arms.iter().enumerate() {
                if self.counts[i] != a.n {
                    self.values[i] = derive(i);
                }
            }
        }
        self.counts = core.arms.iter().map(|a| a.n).collect();
        self.current_at = Some(core.t);
    }

    /// After one observation of `arm`: stores its new entry if the cache was current
    /// before it (`was_current`), so that it stays current.
    #[inline]
    pub fn observed(&mut self, core: &Core, arm: usize, was_current: bool, value: T) {
        if was_current {
            self.counts[arm] = core.arms[arm].n;
            self.values[arm] = value;
            self.current_at = Some(core.t);
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Core {
    pub rng: Rng,
    pub arms: Vec<ArmStats>,
    /// Total number of rewards observed (the "t" of the index formulas).
    pub t: u64,
}

impl Core {
    pub fn new(n_arms: usize, seed: Option<u64>) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        // Twice the arm statistics: room for a policy's own per-arm vector.
        crate::limits::check_alloc("n_arms", &[n_arms], 2 * std::mem::size_of::<ArmStats>())?;
        Ok(Core {
            rng: Rng::from_optional_seed(seed),
            arms: vec![ArmStats::default(); n_arms],
            t: 0,
        })
    }

    fn check(&self) -> Result<()> {
        if self.arms.is_empty() {
            return Err(Error::state("a policy must hold at least one arm"));
        }
        if !self.rng.is_valid() {
            return Err(Error::state("generator state is all zeros"));
        }
        if !self.arms.iter().all(ArmStats::is_valid) {
            return Err(Error::state("arm statistics are not finite"));
        }
        Ok(())
    }

    /// Indices of arms never pulled, in order.
    #[inline]
    pub fn first_untried(&self) -> Option<usize> {
        self.arms.iter().position(|a| a.n == 0)
    }
}

/// A hyperparameter check shared by the constructors and the state decoder.
/// The message names the value given: "alpha: must be ..., got -1".
pub(crate) fn require(ok: bool, name: &str, message: &str, got: impl Shown) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::param_got(name, message, got))
    }
}

pub(crate) fn finite_positive(x: f64, name: &str) -> Result<()> {
    require(
        x.is_finite() && x > 0.0,
        name,
        "must be a finite number > 0",
        x,
    )
}

/// The common behaviour of every multi-armed bandit policy.
///
/// Implementors provide the decision rule (`select`, `scores`) and, where they keep more
/// than the shared per-arm statistics, the hooks for that extra state; validation,
/// batching, arm management and merging are provided here once for all of them.
pub trait Policy: Persist + Clone + Send + Sync + 'static {
    type Params: PartialEq + std::fmt::Debug;

    fn core(&self) -> &Core;
    fn core_mut(&mut self) -> &mut Core;
    fn params(&self) -> &Self::Params;
    /// Hyperparameters as `name=value` pairs, for `repr`.
    fn describe_params(&self) -> String;
    fn reward_domain(&self) -> RewardDomain;

    /// One decision (may draw from the generator).
    fn select(&mut self) -> usize;
    /// One decision for a caller who will answer it later with `update` (the public
    /// `select` and `select_batch`): a policy that weights its updates by the probability
    /// of the draw records that probability here. Loops that update right after the draw
    /// (simulation, replay) call [`Policy::select`].
    fn decide(&mut self) -> usize {
        self.select()
    }
    /// Per-arm index of the decision rule (+inf for arms the rule must try first).
    fn scores(&self) -> Vec<f64>;
    /// Probability of each arm at the next `select`, for the current state.
    fn probabilities(&self) -> Vec<f64> {
        argmax_distribution(&self.scores())
    }
    /// One decision among the `eligible` arms (a mask built for this policy's arm count).
    /// The default is the index rule: the argmax of `scores` over the eligible arms, ties
    /// at random as in `select`. Randomized rules override it with [`draw_among`] (an
    /// explicit distribution) or [`sample_among`] (posterior sampling).
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let scores = self.scores();
        let mut rng = self.core().rng.clone();
        let i = eligible.argmax(scores.into_iter(), &mut rng);
        self.core_mut().rng = rng;
        i
    }
    /// The distribution `select_among(eligible)` draws from: 0 for ineligible arms.
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        eligible.argmax_distribution(&self.scores())
    }
    /// Record a reward that has already been validated.
    fn observe(&mut self, arm: usize, reward: f64) {
        let c = self.core_mut();
        c.arms[arm].push(reward);
        c.t += 1;
    }
    /// Extend any extra per-arm state for a new last arm.
    fn on_add_arm(&mut self) {}
    /// Remove arm `i` from any extra per-arm state.
    fn on_remove_arm(&mut self, _i: usize) {}
    /// Why `merge` is not defined for this policy, if it is not: its state depends on the
    /// order of play (importance weights, irreversible eliminations), so no combination of
    /// two states equals learning on the concatenated streams.
    fn not_mergeable(&self) -> Option<&'static str> {
        None
    }
    /// Invariants of the extra state and hyperparameters after decoding.
    fn check_extra(&self) -> Result<()> {
        Ok(())
    }
    /// How `select_list` ranks arms (see [`list`]); by default the top k of `list_keys`.
    fn list_rule(&self) -> ListRule {
        ListRule::Index
    }
    /// For [`ListRule::Index`]: the per-arm keys `select` maximizes.
    fn list_keys(&self) -> Vec<f64> {
        self.scores()
    }
    /// For [`ListRule::Sequential`]: the next slot's distribution over every arm, zero
    /// outside `remaining` (the policy's rule applied to the arms not yet listed).
    fn next_slot_probabilities(&self, remaining: &[bool]) -> Vec<f64> {
        list::restrict(self.probabilities(), remaining)
    }
    /// For [`ListRule::Sampled`]: one draw of every arm's randomized index, into `out`.
    fn draw_keys(&self, _rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.scores());
    }

    // ---- provided ----

    fn n_arms(&self) -> usize {
        self.core().arms.len()
    }
    fn n_updates(&self) -> u64 {
        self.core().t
    }
    fn counts(&self) -> Vec<u64> {
        self.core().arms.iter().map(|a| a.n).collect()
    }
    /// Empirical mean reward per arm (0 for arms never pulled).
    fn means(&self) -> Vec<f64> {
        self.core().arms.iter().map(|a| a.mean()).collect()
    }
    fn reseed(&mut self, seed: u64) {
        self.core_mut().rng = Rng::seed_from_u64(seed);
    }

    fn check_arm(&self, argument: &str, arm: i64, position: Option<usize>) -> Result<usize> {
        let n = self.n_arms();
        if arm < 0 || arm as u64 >= n as u64 {
            return Err(Error::ArmOutOfRange {
                argument: argument.to_string(),
                arm,
                n_arms: n,
                position,
            });
        }
        Ok(arm as usize)
    }

    fn check_reward(&self, argument: &str, reward: f64, position: Option<usize>) -> Result<()> {
        self.reward_domain()
            .check(argument, reward, position, Self::KIND)
    }

    fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        let a = self.check_arm("arm", arm, None)?;
        self.check_reward("reward", reward, None)?;
        check_room(self.core().t, 1)?;
        self.observe(a, reward);
        Ok(())
    }

    /// Validates every row before recording any, so a failing batch changes nothing.
    fn update_batch(&mut self, arms: &[i64], rewards: &[f64]) -> Result<()> {
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
            self.check_arm("arms", a, Some(i))?;
            self.check_reward("rewards", r, Some(i))?;
        }
        check_room(self.core().t, arms.len() as u64)?;
        for (&a, &r) in arms.iter().zip(rewards) {
            self.observe(a as usize, r);
        }
        Ok(())
    }

    /// A ranked list of `k` distinct arms with its propensities (see [`list`]); draws from
    /// the generator as `select` does, and changes no statistic.
    fn select_list(&mut self, k: usize) -> Result<RankedList> {
        let n = self.n_arms();
        if k == 0 || k > n {
            return Err(Error::param(
                "k",
                format!("must be an integer in [1, {n}] (the number of arms), got {k}"),
            ));
        }
        let mut rng = self.core().rng.clone();
        let ranked = match self.list_rule() {
            ListRule::Index => list::top_k_random_ties(&self.list_keys(), k, &mut rng),
            ListRule::Sequential => {
                list::sample_sequential(n, k, &mut rng, |r| self.next_slot_probabilities(r))
            }
            ListRule::Sampled => {
                list::top_k_of_draw(n, k, &mut rng, |r, out| self.draw_keys(r, out))
            }
        };
        self.core_mut().rng = rng;
        Ok(ranked)
    }

    /// Position-wise marginals of `select_list(k)` in the current state, `m[a * k + j]` =
    /// P(slot j shows arm a) (see [`list::Marginals`]), and whether they are exact. Exact
    /// for [`ListRule::Index`] (ties are uniform) and for [`ListRule::Sequential`] when
    /// [`list::sequential_marginals`] is cheap; otherwise the slot frequencies of `samples`
    /// lists drawn from a generator forked from the policy's (which does not move).
    fn list_marginals(&self, k: usize, samples: usize) -> Result<(list::Marginals, bool)> {
        let n = self.n_arms();
        if k == 0 || k > n {
            return Err(Error::param(
                "k",
                format!("must be an integer in [1, {n}] (the number of arms), got {k}"),
            ));
        }
        if samples == 0 {
            return Err(Error::param("samples", "must be at least 1, got 0"));
        }
        crate::limits::check_alloc("k", &[n, k], 16)?;
        let rng = &self.core().rng;
        Ok(match self.list_rule() {
            ListRule::Index => (list::index_marginals(&self.list_keys(), k), true),
            ListRule::Sequential => {
                match list::sequential_marginals(n, k, |r| self.next_slot_probabilities(r)) {
                    Some(m) => (m, true),
                    None => {
                        let m = list::monte_carlo_marginals(n, k, samples, rng, |g| {
                            list::sample_sequential(n, k, g, |r| self.next_slot_probabilities(r))
                                .arms
                        });
                        (m, false)
                    }
                }
            }
            ListRule::Sampled => {
                let mut keys = Vec::with_capacity(n);
                let m = list::monte_carlo_marginals(n, k, samples, rng, |g| {
                    self.draw_keys(g, &mut keys);
                    list::top_k_random_ties(&keys, k, g).arms
                });
                (m, false)
            }
        })
    }

    /// `n` decisions with no feedback between them (as a batched deployment makes).
    fn select_batch(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.decide()).collect()
    }

    /// `select` restricted to `eligible` (checked against the arm count first).
    fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_arms())?;
        Ok(self.select_among(eligible))
    }

    /// `n` decisions restricted to the eligible arms of each row (validated first, so a
    /// bad mask changes nothing).
    fn select_batch_eligible(&mut self, n: usize, eligible: &EligibleRows) -> Result<Vec<usize>> {
        eligible.check(n, self.n_arms())?;
        Ok((0..n).map(|i| self.select_among(eligible.row(i))).collect())
    }

    /// `scores` with -inf for ineligible arms.
    fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        eligible.check_arms(self.n_arms())?;
        let mut s = self.scores();
        eligible.mask_scores(&mut s);
        Ok(s)
    }

    /// `probabilities` of `select_eligible`: renormalized over the eligible arms.
    fn probabilities_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        eligible.check_arms(self.n_arms())?;
        Ok(self.probabilities_among(eligible))
    }

    /// Appends an arm with no observations; returns its index.
    fn add_arm(&mut self) -> usize {
        self.core_mut().arms.push(ArmStats::default());
        self.on_add_arm();
        self.n_arms() - 1
    }

    /// Removes arm `i`; arms after it shift down by one.
    fn remove_arm(&mut self, i: i64) -> Result<()> {
        let i = self.check_arm("arm", i, None)?;
        if self.n_arms() == 1 {
            return Err(Error::param("arm", "cannot remove the last remaining arm"));
        }
        let c = self.core_mut();
        let removed = c.arms.remove(i);
        c.t -= removed.n;
        self.on_remove_arm(i);
        Ok(())
    }

    /// Adds another policy's observations to this one: the result equals one policy that
    /// observed both streams. Requires the same type, arm count and hyperparameters.
    /// Merging a policy with itself (or a copy) doubles its statistics, as if every reward
    /// had been seen twice. Fails, changing nothing, when the update count would exceed
    /// 2^64 - 1.
    fn merge(&mut self, other: &Self) -> Result<()> {
        let name = crate::error::python_name(Self::KIND);
        if let Some(why) = self.not_mergeable() {
            return Err(Error::incompatible(format!(
                "{name} does not support merge: {why}"
            )));
        }
        if self.n_arms() != other.n_arms() {
            return Err(Error::incompatible(format!(
                "other: cannot merge a {name} with {} arms into one with {} arms",
                other.n_arms(),
                self.n_arms()
            )));
        }
        if self.params() != other.params() {
            return Err(crate::error::hyperparameter_mismatch(
                Self::KIND,
                &self.describe_params(),
                &other.describe_params(),
            ));
        }
        let oc = other.core();
        // Every arm's count is at most t (the counts sum to t), so a t that does not
        // overflow leaves no arm count that does.
        let t = crate::error::checked_count(self.core().t, oc.t, "update count")?;
        let c = self.core_mut();
        for (a, b) in c.arms.iter_mut().zip(&oc.arms) {
            a.merge(b);
        }
        c.t = t;
        Ok(())
    }

    fn check_policy(&self) -> Result<()> {
        self.core().check()?;
        let total: u64 = self.core().arms.iter().map(|a| a.n).sum();
        if total != self.core().t {
            return Err(Error::state("step counter disagrees with the arm counts"));
        }
        self.check_extra()
    }
}

/// `select_among` of a rule that draws from an explicit distribution: one draw from
/// `probabilities_among(eligible)`, so the reported probabilities are the draw's law.
pub(crate) fn draw_among<P: Policy>(policy: &mut P, eligible: &Eligible) -> usize {
    let p = policy.probabilities_among(eligible);
    crate::stats::sample_discrete(&p, &mut policy.core_mut().rng)
}

/// `select_among` of a posterior-sampling rule: one draw of each eligible arm's value
/// (`draw(arm, rng)`), then their argmax, ties at random.
pub(crate) fn sample_among(
    rng: &mut Rng,
    eligible: &Eligible,
    mut draw: impl FnMut(usize, &mut Rng) -> f64,
) -> usize {
    let mut argmax = crate::stats::RandomTieArgmax::new();
    for i in eligible.indices() {
        let v = draw(i, rng);
        argmax.push(i, v, rng);
    }
    argmax.finish()
}

/// Implements [`Persist`] for a policy: its kind name and its invariants.
macro_rules! persist_policy {
    ($ty:ty, $kind:literal) => {
        impl $crate::state::Persist for $ty {
            const KIND: &'static str = $kind;
            fn check_invariants(&self) -> $crate::error::Result<()> {
                <$ty as $crate::policy::Policy>::check_policy(self)
            }
        }
    };
}
pub(crate) use persist_policy;

/// `Ok` when `added` more updates keep the update count below 2^64 (reachable only through
/// merges of a policy with itself).
pub(crate) fn check_room(t: u64, added: u64) -> Result<()> {
    if t.checked_add(added).is_some() {
        return Ok(());
    }
    Err(Error::param(
        "n_updates",
        format!("the update count {t} cannot grow by {added}: it would exceed 2**64 - 1"),
    ))
}

/// Exploration level ln t, floored at 0 (t counts observed rewards).
#[inline]
pub(crate) fn ln_t(t: u64) -> f64 {
    if t <= 1 {
        0.0
    } else {
        (t as f64).ln()
    }
}
