//! The registry of multi-armed policies: [`AnyPolicy`] holds any one of them and is the one
//! list from which the Python classes, simulation, replay and state decoding derive.
//!
//! Single calls dispatch with one `match` (`each_policy!`). Loops that run many steps match
//! once with [`AnyPolicy::visit`] and then run monomorphized for the concrete type.
//!
//! Adding a policy: a variant of [`AnyPolicy`], its arm in `each_policy!` and its name in the
//! `registered!` list below. The compiler checks that the three agree: `each_policy!` must
//! cover every variant, each of its arms needs the [`Registered`] impl that `registered!`
//! writes, and `registered!` names variants that must exist.

use super::{
    BayesUCB, DiscountedThompsonSampling, DiscountedUCB, EpsilonGreedy, Exp3, Exp3IX,
    GaussianThompsonSampling, Policy, SlidingWindowUCB, Softmax, SuccessiveElimination,
    ThompsonSampling, TsallisINF, CUSUMUCB, GLRUCB, KLUCB, MOSS, UCB1, UCBV,
};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{python_name, Error, Result};
use crate::state::{self, Persist};

/// Any multi-armed bandit policy. Its bytes are exactly those of the policy it holds.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyPolicy {
    EpsilonGreedy(EpsilonGreedy),
    Softmax(Softmax),
    UCB1(UCB1),
    UCBV(UCBV),
    MOSS(MOSS),
    KLUCB(KLUCB),
    BayesUCB(BayesUCB),
    ThompsonSampling(ThompsonSampling),
    GaussianThompsonSampling(GaussianThompsonSampling),
    Exp3(Exp3),
    Exp3IX(Exp3IX),
    SuccessiveElimination(SuccessiveElimination),
    SlidingWindowUCB(SlidingWindowUCB),
    DiscountedUCB(DiscountedUCB),
    DiscountedThompsonSampling(DiscountedThompsonSampling),
    TsallisINF(TsallisINF),
    CUSUMUCB(CUSUMUCB),
    GLRUCB(GLRUCB),
}

/// `each_policy!(value, p => body)`: `body` with `p` bound to the policy inside `value`
/// (an `AnyPolicy`, `&AnyPolicy` or `&mut AnyPolicy`), monomorphized per variant.
macro_rules! each_policy {
    ($value:expr, $p:ident => $body:expr) => {
        match $value {
            AnyPolicy::EpsilonGreedy($p) => $body,
            AnyPolicy::Softmax($p) => $body,
            AnyPolicy::UCB1($p) => $body,
            AnyPolicy::UCBV($p) => $body,
            AnyPolicy::MOSS($p) => $body,
            AnyPolicy::KLUCB($p) => $body,
            AnyPolicy::BayesUCB($p) => $body,
            AnyPolicy::ThompsonSampling($p) => $body,
            AnyPolicy::GaussianThompsonSampling($p) => $body,
            AnyPolicy::Exp3($p) => $body,
            AnyPolicy::Exp3IX($p) => $body,
            AnyPolicy::SuccessiveElimination($p) => $body,
            AnyPolicy::SlidingWindowUCB($p) => $body,
            AnyPolicy::DiscountedUCB($p) => $body,
            AnyPolicy::DiscountedThompsonSampling($p) => $body,
            AnyPolicy::TsallisINF($p) => $body,
            AnyPolicy::CUSUMUCB($p) => $body,
            AnyPolicy::GLRUCB($p) => $body,
        }
    };
}

/// A policy type listed in the registry: it converts into and out of [`AnyPolicy`].
pub trait Registered: Policy + Into<AnyPolicy> {
    /// The policy if `any` holds this type.
    fn from_any(any: &AnyPolicy) -> Option<&Self>;
    /// The policy if `any` holds this type, mutably.
    fn from_any_mut(any: &mut AnyPolicy) -> Option<&mut Self>;
}

/// A computation generic over the policy type, run by [`AnyPolicy::visit`] on the
/// concrete policy (Rust closures cannot be generic, so this stands in for one).
pub trait PolicyVisitor {
    type Output;
    fn visit<P: Registered>(self, policy: &mut P) -> Self::Output;
}

/// The [`Registered`] impls, [`AnyPolicy::NAMES`] and the decoder, for the listed types
/// (each the name of its variant).
macro_rules! registered {
    ($($ty:ident),* $(,)?) => {
        $(
            impl From<$ty> for AnyPolicy {
                fn from(policy: $ty) -> Self {
                    AnyPolicy::$ty(policy)
                }
            }

            impl Registered for $ty {
                fn from_any(any: &AnyPolicy) -> Option<&Self> {
                    match any {
                        AnyPolicy::$ty(p) => Some(p),
                        _ => None,
                    }
                }
                fn from_any_mut(any: &mut AnyPolicy) -> Option<&mut Self> {
                    match any {
                        AnyPolicy::$ty(p) => Some(p),
                        _ => None,
                    }
                }
            }
        )*

        impl AnyPolicy {
            /// The kind name of every registered policy (its type's name, the name in its
            /// state header), in registry order.
            pub const NAMES: &'static [&'static str] = &[$(<$ty as Persist>::KIND),*];

            /// Decodes `to_bytes()` output of any registered policy, by the kind name in
            /// its header.
            pub fn decode(bytes: &[u8]) -> Result<AnyPolicy> {
                let (_, kind) = state::peek_kind(bytes)?;
                $(
                    if kind == <$ty as Persist>::KIND {
                        return state::decode::<$ty>(bytes).map(AnyPolicy::from);
                    }
                )*
                Err(Error::state(format!(
                    "the bytes hold a {kind}, not a multi-armed bandit policy"
                )))
            }
        }
    };
}

registered!(
    EpsilonGreedy,
    Softmax,
    UCB1,
    UCBV,
    MOSS,
    KLUCB,
    BayesUCB,
    ThompsonSampling,
    GaussianThompsonSampling,
    Exp3,
    Exp3IX,
    SuccessiveElimination,
    SlidingWindowUCB,
    DiscountedUCB,
    DiscountedThompsonSampling,
    TsallisINF,
    CUSUMUCB,
    GLRUCB,
);

/// `merge` of two policies of the same type `P`; an incompatible error otherwise.
fn merge_same<P: Registered>(policy: &mut P, other: &AnyPolicy) -> Result<()> {
    match P::from_any(other) {
        Some(o) => policy.merge(o),
        None => Err(Error::incompatible(format!(
            "other: cannot merge {} into {} (the classes differ)",
            python_name(other.name()),
            python_name(P::KIND)
        ))),
    }
}

fn kind_of<P: Persist>(_: &P) -> &'static str {
    P::KIND
}

impl AnyPolicy {
    /// Runs `visitor` on the concrete policy: one `match`, then monomorphized code.
    pub fn visit<V: PolicyVisitor>(&mut self, visitor: V) -> V::Output {
        each_policy!(self, p => visitor.visit(p))
    }

    /// The kind name of the policy held (one of [`AnyPolicy::NAMES`]).
    pub fn name(&self) -> &'static str {
        each_policy!(self, p => kind_of(p))
    }

    /// The versioned bytes of the policy held: exactly what encoding it alone writes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        each_policy!(self, p => state::encode(p))
    }

    /// Adds the observations of `other`, which must hold the same type (see
    /// [`Policy::merge`]).
    pub fn merge(&mut self, other: &AnyPolicy) -> Result<()> {
        each_policy!(self, p => merge_same(p, other))
    }

    // Always inlined: the serving loop's two calls (fastcall.rs) then pay only the match.
    #[inline(always)]
    pub fn select(&mut self) -> usize {
        each_policy!(self, p => p.decide())
    }

    #[inline(always)]
    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        each_policy!(self, p => p.update(arm, reward))
    }

    pub fn select_batch(&mut self, n: usize) -> Vec<usize> {
        each_policy!(self, p => p.select_batch(n))
    }

    /// A ranked list of `k` arms and its propensities (see [`Policy::select_list`]).
    pub fn select_list(&mut self, k: usize) -> Result<super::RankedList> {
        each_policy!(self, p => p.select_list(k))
    }

    /// Position-wise marginals of `select_list(k)` (see [`Policy::list_marginals`]).
    pub fn list_marginals(
        &self,
        k: usize,
        samples: usize,
    ) -> Result<(super::list::Marginals, bool)> {
        each_policy!(self, p => p.list_marginals(k, samples))
    }

    pub fn update_batch(&mut self, arms: &[i64], rewards: &[f64]) -> Result<()> {
        each_policy!(self, p => p.update_batch(arms, rewards))
    }

    pub fn scores(&self) -> Vec<f64> {
        each_policy!(self, p => p.scores())
    }

    pub fn probabilities(&self) -> Vec<f64> {
        each_policy!(self, p => p.probabilities())
    }

    /// One decision among the eligible arms (see [`crate::eligible`]).
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        each_policy!(self, p => p.select_eligible(eligible))
    }

    pub fn select_batch_eligible(
        &mut self,
        n: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        each_policy!(self, p => p.select_batch_eligible(n, eligible))
    }

    pub fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        each_policy!(self, p => p.scores_eligible(eligible))
    }

    pub fn probabilities_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        each_policy!(self, p => p.probabilities_eligible(eligible))
    }

    pub fn counts(&self) -> Vec<u64> {
        each_policy!(self, p => p.counts())
    }

    pub fn means(&self) -> Vec<f64> {
        each_policy!(self, p => p.means())
    }

    pub fn n_arms(&self) -> usize {
        each_policy!(self, p => p.n_arms())
    }

    pub fn n_updates(&self) -> u64 {
        each_policy!(self, p => p.n_updates())
    }

    pub fn add_arm(&mut self) -> usize {
        each_policy!(self, p => p.add_arm())
    }

    pub fn remove_arm(&mut self, arm: i64) -> Result<()> {
        each_policy!(self, p => p.remove_arm(arm))
    }

    /// Hyperparameters as `name=value` pairs, for `repr`.
    pub fn describe_params(&self) -> String {
        each_policy!(self, p => p.describe_params())
    }

    /// Restarts the generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        each_policy!(self, p => p.reseed(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Divergence, Restart};

    /// One policy of every registered type, in registry order, each having seen a few
    /// rewards.
    fn one_of_each() -> Vec<AnyPolicy> {
        let mut all: Vec<AnyPolicy> = vec![
            EpsilonGreedy::new(3, 0.1, None, Some(8)).unwrap().into(),
            Softmax::new(3, 0.1, Some(9)).unwrap().into(),
            UCB1::new(3, 1.0, Some(1)).unwrap().into(),
            UCBV::new(3, 1.2, 1.0, Some(2)).unwrap().into(),
            MOSS::new(3, Some(100), Some(3)).unwrap().into(),
            KLUCB::new(3, Divergence::Bernoulli, 0.0, false, Some(4))
                .unwrap()
                .into(),
            BayesUCB::new(3, 1.0, 1.0, 0.0, None, Some(5))
                .unwrap()
                .into(),
            ThompsonSampling::new(3, 1.0, 1.0, Some(6)).unwrap().into(),
            GaussianThompsonSampling::new(3, 0.0, 1.0, 1.0, 1.0, Some(7))
                .unwrap()
                .into(),
            Exp3::new(3, None, 0.0, Some(100), Some(10)).unwrap().into(),
            Exp3IX::new(3, None, None, Some(100), Some(11))
                .unwrap()
                .into(),
            SuccessiveElimination::new(3, 0.05, Some(12))
                .unwrap()
                .into(),
            SlidingWindowUCB::new(3, Some(10), 0.6, None, Some(13))
                .unwrap()
                .into(),
            DiscountedUCB::new(3, Some(0.9), 0.6, None, Some(14))
                .unwrap()
                .into(),
            DiscountedThompsonSampling::new(3, 0.9, 1.0, 1.0, Some(15))
                .unwrap()
                .into(),
            TsallisINF::new(3, 1.0, Some(16)).unwrap().into(),
            CUSUMUCB::new(
                3,
                Some(4.0),
                0.1,
                2,
                Some(0.2),
                1.0,
                Restart::Local,
                None,
                1,
                Some(17),
            )
            .unwrap()
            .into(),
            GLRUCB::new(
                3,
                Some(0.05),
                Some(0.2),
                Restart::Local,
                2,
                1,
                None,
                Some(18),
            )
            .unwrap()
            .into(),
        ];
        for p in &mut all {
            p.update_batch(&[0, 1, 2, 1], &[1.0, 0.0, 0.5, 1.0])
                .unwrap();
        }
        all
    }

    #[test]
    fn every_variant_is_named_once_in_registry_order() {
        let names: Vec<&str> = one_of_each().iter().map(AnyPolicy::name).collect();
        assert_eq!(names, AnyPolicy::NAMES);
    }

    #[test]
    fn bytes_are_the_concrete_types_bytes_and_decode_to_the_same_variant() {
        let ucb = UCB1::new(4, 0.5, Some(3)).unwrap();
        let any = AnyPolicy::from(ucb.clone());
        assert_eq!(any.encode().unwrap(), state::encode(&ucb).unwrap());
        for p in one_of_each() {
            let bytes = p.encode().unwrap();
            let back = AnyPolicy::decode(&bytes).unwrap();
            assert_eq!(back, p);
            assert_eq!(back.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn foreign_and_corrupt_bytes_are_refused() {
        let bytes = AnyPolicy::from(UCB1::new(2, 1.0, Some(0)).unwrap())
            .encode()
            .unwrap();
        let mut foreign = bytes.clone();
        foreign[7..11].copy_from_slice(b"UCBX");
        let err = AnyPolicy::decode(&foreign).unwrap_err().to_string();
        assert!(err.contains("UCBX") && err.contains("not a"), "{err}");
        let mut corrupt = bytes;
        let n = corrupt.len();
        corrupt[n - 6] ^= 0xFF;
        let err = AnyPolicy::decode(&corrupt).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn dispatch_matches_the_concrete_policy() {
        let mut concrete = ThompsonSampling::new(3, 1.0, 1.0, Some(42)).unwrap();
        let mut any = AnyPolicy::from(concrete.clone());
        for step in 0..50 {
            let (a, b) = (concrete.select(), any.select());
            assert_eq!(a, b);
            let r = (step % 3) as f64 / 2.0;
            concrete.update(a as i64, r).unwrap();
            any.update(b as i64, r).unwrap();
        }
        assert_eq!(any.counts(), concrete.counts());
        assert_eq!(any.scores(), concrete.scores());
        assert_eq!(AnyPolicy::from(concrete), any);
    }

    #[test]
    fn merge_needs_the_same_type() {
        let mut a: AnyPolicy = UCB1::new(2, 1.0, Some(0)).unwrap().into();
        let mut b = a.clone();
        b.update_batch(&[0, 1, 1], &[1.0, 0.0, 1.0]).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.counts(), vec![1, 2]);
        let other: AnyPolicy = UCBV::new(2, 1.2, 1.0, Some(0)).unwrap().into();
        let err = a.merge(&other).unwrap_err();
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert!(err.to_string().contains("UCBV"), "{err}");
        assert_eq!(a.counts(), vec![1, 2]);
        // Messages name the Python classes, which for EXP3 differ from the core's kinds.
        let exp3: AnyPolicy = Exp3::new(2, None, 0.0, None, Some(0)).unwrap().into();
        let err = a.merge(&exp3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "other: cannot merge EXP3 into UCB1 (the classes differ)"
        );
        let mut exp3_copy = exp3.clone();
        let err = exp3_copy.merge(&exp3).unwrap_err();
        assert!(
            err.to_string().starts_with("EXP3 does not support merge"),
            "{err}"
        );
    }

    #[test]
    fn eligible_decisions_follow_the_reported_restricted_probabilities() {
        let eligible = Eligible::from_indices(&[2, 0], 3).unwrap();
        let draws = 20_000;
        for p in one_of_each() {
            let probs = p.probabilities_eligible(&eligible).unwrap();
            assert_eq!(probs[1], 0.0, "{}", p.name());
            assert!(
                (probs.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "{}",
                p.name()
            );
            let mut q = p.clone();
            let mut hist = [0usize; 3];
            for _ in 0..draws {
                hist[q.select_eligible(&eligible).unwrap()] += 1;
            }
            assert_eq!(hist[1], 0, "{}", p.name());
            // Learned state is untouched: only the generator (and warm starts) moved.
            assert_eq!(q.counts(), p.counts());
            assert_eq!(q.n_updates(), p.n_updates());
            for a in [0, 2] {
                let f = hist[a] as f64 / draws as f64;
                // Binomial noise of the draws plus that of a 10,000-draw Monte Carlo
                // estimate (Thompson sampling), at five standard deviations.
                let sd = (probs[a] * (1.0 - probs[a]) * (1.0 / draws as f64 + 1e-4)).sqrt();
                assert!(
                    (f - probs[a]).abs() <= 5.0 * sd + 1e-9,
                    "{}: arm {a} drawn {f}, reported {}",
                    p.name(),
                    probs[a]
                );
            }
            let scores = p.scores_eligible(&eligible).unwrap();
            assert_eq!(scores[1], f64::NEG_INFINITY);
            assert_eq!(scores[0], p.scores()[0]);
        }
    }

    #[test]
    fn all_eligible_is_the_unrestricted_distribution_and_bad_masks_change_nothing() {
        for p in one_of_each() {
            let all = Eligible::all(3);
            if !matches!(
                p,
                AnyPolicy::ThompsonSampling(_)
                    | AnyPolicy::GaussianThompsonSampling(_)
                    | AnyPolicy::DiscountedThompsonSampling(_)
            ) {
                let (a, b) = (p.probabilities_eligible(&all).unwrap(), p.probabilities());
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-12, "{}: {a:?} {b:?}", p.name());
                }
            }
            let mut q = p.clone();
            let wrong = Eligible::all(4);
            assert!(matches!(
                q.select_eligible(&wrong),
                Err(Error::Shape { .. })
            ));
            let rows = EligibleRows::PerRow(vec![Eligible::all(3); 2]);
            assert!(q.select_batch_eligible(3, &rows).is_err());
            assert_eq!(q, p);
            assert_eq!(q.select_batch_eligible(2, &rows).unwrap().len(), 2);
        }
    }

    struct CountSteps;
    impl PolicyVisitor for CountSteps {
        type Output = (&'static str, u64);
        fn visit<P: Registered>(self, policy: &mut P) -> Self::Output {
            policy.update(0, 1.0).unwrap();
            (P::KIND, policy.n_updates())
        }
    }

    #[test]
    fn visit_runs_on_the_concrete_policy_in_place() {
        for mut p in one_of_each() {
            let before = p.n_updates();
            let (kind, after) = p.visit(CountSteps);
            assert_eq!(kind, p.name());
            assert_eq!(after, before + 1);
            assert_eq!(p.n_updates(), before + 1);
        }
    }
}
