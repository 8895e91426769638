//! The registry of the kernel bandits: [`AnyKernelBandit`] holds any one of them, each call
//! a `match` into the concrete type's code. Bytes are exactly the concrete type's; decoding
//! dispatches on the kind name in the state header and rebuilds derived state as the
//! concrete type does. [`NAMES`] is the list Python reads (see CONTRIBUTING.md).

use super::{BKB, GPUCB};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::state::{encode, peek_kind, Persist};

/// Any kernel bandit over a finite candidate set.
// BKB's inline header is a few hundred bytes larger than GPUCB's; one value lives per Python
// object, so boxing it would only add an indirection to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum AnyKernelBandit {
    GPUCB(GPUCB),
    BKB(BKB),
}

/// The kind names of the registered kernel bandits, in the order Python lists them.
pub const NAMES: [&str; 2] = [GPUCB::KIND, BKB::KIND];

/// `$body` with `$p` bound to the concrete bandit inside `$any`.
macro_rules! dispatch {
    ($any:expr, $p:ident => $body:expr) => {
        match $any {
            AnyKernelBandit::GPUCB($p) => $body,
            AnyKernelBandit::BKB($p) => $body,
        }
    };
}

impl From<GPUCB> for AnyKernelBandit {
    fn from(p: GPUCB) -> Self {
        AnyKernelBandit::GPUCB(p)
    }
}
impl From<BKB> for AnyKernelBandit {
    fn from(p: BKB) -> Self {
        AnyKernelBandit::BKB(p)
    }
}

impl AnyKernelBandit {
    /// The kind name (the class name, and the one in the state header).
    pub fn kind(&self) -> &'static str {
        fn kind_of<T: Persist>(_: &T) -> &'static str {
            T::KIND
        }
        dispatch!(self, p => kind_of(p))
    }

    /// The concrete bandit's `to_bytes` (the same bytes).
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
            "GPUCB" => AnyKernelBandit::GPUCB(GPUCB::from_bytes(bytes)?),
            "BKB" => AnyKernelBandit::BKB(BKB::from_bytes(bytes)?),
            other => {
                let held = peek_kind(bytes).map(|(_, k)| k).unwrap_or_default();
                return Err(Error::state(format!(
                    "the bytes hold a {held}, not a {other} (a kernel bandit)"
                )));
            }
        })
    }

    pub fn n_candidates(&self) -> usize {
        dispatch!(self, p => p.n_candidates())
    }
    pub fn dim(&self) -> usize {
        dispatch!(self, p => p.dim())
    }
    /// Number of observations recorded.
    pub fn t(&self) -> u64 {
        match self {
            AnyKernelBandit::GPUCB(p) => p.t() as u64,
            AnyKernelBandit::BKB(p) => p.t(),
        }
    }
    pub fn candidates(&self) -> &[f64] {
        dispatch!(self, p => p.candidates())
    }
    /// Posterior mean at every candidate.
    pub fn mean(&self) -> &[f64] {
        dispatch!(self, p => p.mean())
    }
    /// Posterior variance at every candidate.
    pub fn variance(&self) -> Vec<f64> {
        dispatch!(self, p => p.variance().to_vec())
    }
    pub fn describe_params(&self) -> String {
        dispatch!(self, p => p.describe_params())
    }
    pub fn scores(&self) -> Vec<f64> {
        dispatch!(self, p => p.scores())
    }
    pub fn select(&mut self) -> usize {
        dispatch!(self, p => p.select())
    }
    pub fn update(&mut self, index: i64, reward: f64) -> Result<()> {
        dispatch!(self, p => p.update(index, reward))
    }
    pub fn select_batch(&mut self, b: usize) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_batch(b))
    }
    pub fn posterior(&self, xq: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        dispatch!(self, p => p.posterior(xq))
    }

    /// One decision among the eligible candidates: the argmax of `scores` over them, ties
    /// at random (see [`crate::eligible`]).
    pub fn select_eligible(&mut self, eligible: &Eligible) -> Result<usize> {
        eligible.check_arms(self.n_candidates())?;
        let scores = self.scores();
        Ok(dispatch!(self, p => eligible.argmax(scores.into_iter(), p.rng_mut())))
    }
    /// `select_batch` among the eligible candidates (`b` at most their number).
    pub fn select_batch_eligible(&mut self, b: usize, eligible: &Eligible) -> Result<Vec<usize>> {
        eligible.check_arms(self.n_candidates())?;
        dispatch!(self, p => p.select_batch_among(b, Some(eligible)))
    }
    /// `scores` with -inf for ineligible candidates.
    pub fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        eligible.check_arms(self.n_candidates())?;
        let mut s = self.scores();
        eligible.mask_scores(&mut s);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kernel;
    use super::*;

    fn every_bandit() -> Vec<AnyKernelBandit> {
        let x: Vec<f64> = (0..20).map(|i| i as f64 / 19.0).collect();
        let k = Kernel::from_spec("rbf", 0.3, 1.0, 2.0, 1.0).unwrap();
        vec![
            GPUCB::new(&x, 1, k, 0.01, 1.0, 0.1, Some(1))
                .unwrap()
                .into(),
            BKB::new(&x, 1, k, 0.01, 4.0, 1.0, 0.5, None, Some(2))
                .unwrap()
                .into(),
        ]
    }

    #[test]
    fn bytes_round_trip_by_kind_and_continue_identically() {
        let mut kinds: Vec<&str> = every_bandit().iter().map(|p| p.kind()).collect();
        kinds.sort_unstable();
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(kinds, names);
        for mut p in every_bandit() {
            for _ in 0..5 {
                let i = p.select();
                p.update(i as i64, (i as f64 / 10.0).sin()).unwrap();
            }
            let bytes = p.encode().unwrap();
            let mut q = AnyKernelBandit::decode(&bytes).unwrap();
            assert_eq!(q.encode().unwrap(), bytes);
            assert_eq!(q.t(), 5);
            assert_eq!(p.select(), q.select());
            let other = if p.kind() == "BKB" { "GPUCB" } else { "BKB" };
            let err = AnyKernelBandit::decode_as(other, &bytes).unwrap_err();
            assert!(err.to_string().contains(p.kind()), "{err}");
        }
    }
}
