//! The registry of the linear contextual policies: [`AnyContextual`] holds any one of them,
//! and each call is a `match` that runs the concrete type's own (monomorphized) code, so
//! the batch loops never dispatch per row. Bytes are exactly the concrete type's; decoding
//! dispatches on the kind name in the state header. Adding a policy: a variant here, in
//! [`NAMES`] and in the `dispatch!` arms (see CONTRIBUTING.md).
//!
//! [`super::HybridLinUCB`] is not a member: it takes shared features beside the per-arm
//! context, so it does not speak the [`ContextualPolicy`] vocabulary.

use super::DiagonalLinUCB;
use super::{
    ContextualPolicy, GibbsGreedy, KLRegularizedUCB, LinGreedy, LinTS, LinUCB, LinearBase,
    LogisticTS, LogisticUCB,
};
use super::{SketchedLinTS, SketchedLinUCB};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::state::{decode, encode, peek_kind, Persist};

/// Any linear contextual policy.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyContextual {
    LinUCB(LinUCB),
    LinTS(LinTS),
    LinGreedy(LinGreedy),
    KLRegularizedUCB(KLRegularizedUCB),
    GibbsGreedy(GibbsGreedy),
    LogisticUCB(LogisticUCB),
    LogisticTS(LogisticTS),
    SketchedLinUCB(SketchedLinUCB),
    SketchedLinTS(SketchedLinTS),
    DiagonalLinUCB(DiagonalLinUCB),
}

/// The kind names of the registered policies, in the order Python lists them.
pub const NAMES: [&str; 10] = [
    LinUCB::KIND,
    LinTS::KIND,
    LinGreedy::KIND,
    LogisticUCB::KIND,
    LogisticTS::KIND,
    KLRegularizedUCB::KIND,
    GibbsGreedy::KIND,
    SketchedLinUCB::KIND,
    SketchedLinTS::KIND,
    DiagonalLinUCB::KIND,
];

/// `$body` with `$p` bound to the concrete policy inside `$any`.
macro_rules! dispatch {
    ($any:expr, $p:ident => $body:expr) => {
        match $any {
            AnyContextual::LinUCB($p) => $body,
            AnyContextual::LinTS($p) => $body,
            AnyContextual::LinGreedy($p) => $body,
            AnyContextual::KLRegularizedUCB($p) => $body,
            AnyContextual::GibbsGreedy($p) => $body,
            AnyContextual::LogisticUCB($p) => $body,
            AnyContextual::LogisticTS($p) => $body,
            AnyContextual::SketchedLinUCB($p) => $body,
            AnyContextual::SketchedLinTS($p) => $body,
            AnyContextual::DiagonalLinUCB($p) => $body,
        }
    };
}

macro_rules! from_concrete {
    ($($ty:ident),*) => {
        $(impl From<$ty> for AnyContextual {
            fn from(p: $ty) -> Self {
                AnyContextual::$ty(p)
            }
        })*
    };
}
from_concrete!(
    LinUCB,
    LinTS,
    LinGreedy,
    KLRegularizedUCB,
    GibbsGreedy,
    LogisticUCB,
    LogisticTS
);
from_concrete!(SketchedLinUCB, SketchedLinTS);
from_concrete!(DiagonalLinUCB);

impl AnyContextual {
    /// The kind name (the class name, and the one in the state header).
    pub fn kind(&self) -> &'static str {
        fn kind_of<T: Persist>(_: &T) -> &'static str {
            T::KIND
        }
        dispatch!(self, p => kind_of(p))
    }

    /// The concrete policy's `to_bytes` (the same bytes).
    pub fn encode(&self) -> Result<Vec<u8>> {
        dispatch!(self, p => encode(p))
    }

    /// Decodes a state of any registered kind.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (_, kind) = peek_kind(bytes)?;
        Self::decode_as(&kind, bytes)
    }

    /// Decodes a state that must be of kind `kind` (the concrete type's decoding and errors).
    pub fn decode_as(kind: &str, bytes: &[u8]) -> Result<Self> {
        Ok(match kind {
            "LinUCB" => AnyContextual::LinUCB(decode(bytes)?),
            "LinTS" => AnyContextual::LinTS(decode(bytes)?),
            "LinGreedy" => AnyContextual::LinGreedy(decode(bytes)?),
            "KLRegularizedUCB" => AnyContextual::KLRegularizedUCB(decode(bytes)?),
            "GibbsGreedy" => AnyContextual::GibbsGreedy(decode(bytes)?),
            "LogisticUCB" => AnyContextual::LogisticUCB(decode(bytes)?),
            "LogisticTS" => AnyContextual::LogisticTS(decode(bytes)?),
            "SketchedLinUCB" => AnyContextual::SketchedLinUCB(decode(bytes)?),
            "SketchedLinTS" => AnyContextual::SketchedLinTS(decode(bytes)?),
            "DiagonalLinUCB" => AnyContextual::DiagonalLinUCB(decode(bytes)?),
            other => {
                let held = peek_kind(bytes).map(|(_, k)| k).unwrap_or_default();
                return Err(Error::state(format!(
                    "the bytes hold a {held}, not a {other} (a linear contextual policy)"
                )));
            }
        })
    }

    pub fn base(&self) -> &LinearBase {
        dispatch!(self, p => p.base())
    }
    /// The discount factor of a policy with forgetting (`decay`), None otherwise.
    pub fn decay(&self) -> Option<f64> {
        dispatch!(self, p => p.forgetting().map(|f| f.gamma))
    }
    /// Every arm's coefficients theta_a, (K x d) row-major (with `decay`, at the current round).
    pub fn coefficients(&self) -> Vec<f64> {
        dispatch!(self, p => p.arm_coefficients())
    }
    pub fn describe_params(&self) -> String {
        dispatch!(self, p => p.describe_params())
    }
    /// The storage of the inverses decisions read: "float32" for the exact linear
    /// policies created with `precision="float32"`, "float64" otherwise.
    pub fn precision(&self) -> &'static str {
        // The sketched policies keep a float32 copy of their sketch rows instead.
        match self {
            AnyContextual::SketchedLinUCB(p) => return p.precision().name(),
            AnyContextual::SketchedLinTS(p) => return p.precision().name(),
            _ => {}
        }
        let f32_copy =
            dispatch!(self, p => p.base().arms.first().is_some_and(|m| m.has_f32_copy()));
        if f32_copy {
            "float32"
        } else {
            "float64"
        }
    }
    pub fn n_arms(&self) -> usize {
        dispatch!(self, p => p.n_arms())
    }
    pub fn dim(&self) -> usize {
        dispatch!(self, p => p.dim())
    }
    pub fn n_updates(&self) -> u64 {
        dispatch!(self, p => p.n_updates())
    }
    pub fn counts(&self) -> Vec<u64> {
        dispatch!(self, p => p.counts())
    }
    pub fn reseed(&mut self, seed: u64) {
        dispatch!(self, p => p.reseed(seed))
    }
    pub fn select(&mut self, x: &[f64]) -> Result<usize> {
        dispatch!(self, p => p.select(x))
    }
    pub fn select_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<usize> {
        dispatch!(self, p => p.select_ref(x, pi_ref))
    }
    pub fn select_batch(&mut self, x: &[f64]) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_batch(x))
    }
    pub fn select_batch_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_batch_ref(x, pi_ref))
    }
    pub fn update(&mut self, x: &[f64], arm: i64, reward: f64, weight: f64) -> Result<()> {
        dispatch!(self, p => p.update(x, arm, reward, weight))
    }
    pub fn update_batch(
        &mut self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        dispatch!(self, p => p.update_batch(x, arms, rewards, weights))
    }
    pub fn mean_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        dispatch!(self, p => p.mean_batch(x))
    }
    pub fn width_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        dispatch!(self, p => p.width_batch(x))
    }
    pub fn scores_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        dispatch!(self, p => p.scores_batch(x))
    }
    pub fn probabilities_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
        dispatch!(self, p => p.probabilities_batch(x))
    }
    pub fn probabilities_batch_ref(&self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<f64>> {
        dispatch!(self, p => p.probabilities_batch_ref(x, pi_ref))
    }
    pub fn top_k(&self, x: &[f64], k: usize) -> Result<Vec<usize>> {
        dispatch!(self, p => p.top_k(x, k))
    }
    /// One decision among the eligible arms (see [`crate::eligible`]).
    pub fn select_eligible(
        &mut self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &Eligible,
    ) -> Result<usize> {
        dispatch!(self, p => p.select_eligible(x, pi_ref, eligible))
    }
    pub fn select_batch_eligible(
        &mut self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_batch_eligible(x, pi_ref, eligible))
    }
    pub fn scores_batch_eligible(&self, x: &[f64], eligible: &EligibleRows) -> Result<Vec<f64>> {
        dispatch!(self, p => p.scores_batch_eligible(x, eligible))
    }
    pub fn probabilities_batch_eligible(
        &self,
        x: &[f64],
        pi_ref: Option<&[f64]>,
        eligible: &EligibleRows,
    ) -> Result<Vec<f64>> {
        dispatch!(self, p => p.probabilities_batch_eligible(x, pi_ref, eligible))
    }
    pub fn top_k_eligible(
        &self,
        x: &[f64],
        k: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        dispatch!(self, p => p.top_k_eligible(x, k, eligible))
    }
    pub fn add_arm(&mut self) -> usize {
        dispatch!(self, p => p.add_arm())
    }
    pub fn remove_arm(&mut self, arm: i64) -> Result<()> {
        dispatch!(self, p => p.remove_arm(arm))
    }

    /// Adds another replica's data; both must be the same policy (kind and hyperparameters).
    pub fn merge(&mut self, other: &AnyContextual) -> Result<()> {
        use AnyContextual as A;
        match (self, other) {
            (A::LinUCB(a), A::LinUCB(b)) => a.merge(b),
            (A::LinTS(a), A::LinTS(b)) => a.merge(b),
            (A::LinGreedy(a), A::LinGreedy(b)) => a.merge(b),
            (A::KLRegularizedUCB(a), A::KLRegularizedUCB(b)) => a.merge(b),
            (A::GibbsGreedy(a), A::GibbsGreedy(b)) => a.merge(b),
            (A::LogisticUCB(a), A::LogisticUCB(b)) => a.merge(b),
            (A::LogisticTS(a), A::LogisticTS(b)) => a.merge(b),
            (A::SketchedLinUCB(a), A::SketchedLinUCB(b)) => a.merge(b),
            (A::SketchedLinTS(a), A::SketchedLinTS(b)) => a.merge(b),
            (A::DiagonalLinUCB(a), A::DiagonalLinUCB(b)) => a.merge(b),
            (a, b) => Err(Error::incompatible(format!(
                "other: cannot merge {} into {} (the classes differ)",
                b.kind(),
                a.kind()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_policy() -> Vec<AnyContextual> {
        vec![
            LinUCB::new(3, 2, 0.7, 1.0, Some(1)).unwrap().into(),
            LinTS::new(3, 2, 0.3, 1.0, Some(2)).unwrap().into(),
            LinGreedy::new(3, 2, 0.2, 1.0, Some(3)).unwrap().into(),
            KLRegularizedUCB::new(3, 2, 2.0, None, 1.0, Some(4))
                .unwrap()
                .into(),
            GibbsGreedy::new(3, 2, 2.0, None, 1.0, Some(5))
                .unwrap()
                .into(),
            LogisticUCB::new(3, 2, 1.0, 1.0, Some(6)).unwrap().into(),
            LogisticTS::new(3, 2, 1.0, 1.0, Some(7)).unwrap().into(),
            SketchedLinUCB::new(3, 2, 1, false, 1.0, 1.0, Some(8))
                .unwrap()
                .into(),
            SketchedLinTS::new(3, 2, 1, true, 0.3, 1.0, Some(9))
                .unwrap()
                .into(),
            DiagonalLinUCB::new(3, 2, 0.7, 1.0, Some(10))
                .unwrap()
                .into(),
        ]
    }

    #[test]
    fn names_list_every_variant_once() {
        let kinds: Vec<&str> = every_policy().iter().map(|p| p.kind()).collect();
        let mut sorted_kinds = kinds.clone();
        sorted_kinds.sort_unstable();
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(sorted_kinds, names);
    }

    #[test]
    fn bytes_are_the_concrete_types_and_decode_by_kind() {
        let concrete = LinTS::new(3, 2, 0.3, 1.0, Some(2)).unwrap();
        let any = AnyContextual::from(concrete.clone());
        assert_eq!(any.encode().unwrap(), encode(&concrete).unwrap());
        for mut p in every_policy() {
            let x = [0.5, -0.25];
            p.update(&x, 1, 0.75, 1.0).unwrap();
            let bytes = p.encode().unwrap();
            let mut q = AnyContextual::decode(&bytes).unwrap();
            assert_eq!(p, q);
            assert_eq!(p.select(&x).unwrap(), q.select(&x).unwrap());
            assert_eq!(
                AnyContextual::decode_as(p.kind(), &bytes).unwrap().kind(),
                p.kind()
            );
            let other = if p.kind() == "LinUCB" {
                "LinTS"
            } else {
                "LinUCB"
            };
            let err = AnyContextual::decode_as(other, &bytes).unwrap_err();
            assert!(err.to_string().contains(p.kind()), "{err}");
        }
    }

    #[test]
    fn merge_needs_the_same_kind() {
        let mut a: AnyContextual = LinUCB::new(2, 1, 1.0, 1.0, Some(0)).unwrap().into();
        let b: AnyContextual = LinGreedy::new(2, 1, 0.1, 1.0, Some(0)).unwrap().into();
        let err = a.merge(&b).unwrap_err();
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "other: cannot merge LinGreedy into LinUCB (the classes differ)"
        );
        let c = a.clone();
        a.merge(&c).unwrap();
    }
}
