//! The registry of the cascade policies: [`AnyCascade`] holds any one of them, each call a
//! `match` into the concrete type's code. Bytes are exactly the concrete type's; decoding
//! dispatches on the kind name in the state header. [`NAMES`] is the list Python reads.

use super::{CascadeKLUCB, CascadeLinUCB, CascadePolicy, CascadeUCB1};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{python_name, Error, Result};
use crate::policy::RankedList;
use crate::state::{decode, encode, peek_kind, Persist};

/// Any cascade policy.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyCascade {
    CascadeUCB1(CascadeUCB1),
    CascadeKLUCB(CascadeKLUCB),
    CascadeLinUCB(CascadeLinUCB),
}

/// The kind names of the registered cascade policies, in the order Python lists them.
pub const NAMES: [&str; 3] = [CascadeUCB1::KIND, CascadeKLUCB::KIND, CascadeLinUCB::KIND];

macro_rules! dispatch {
    ($any:expr, $p:ident => $body:expr) => {
        match $any {
            AnyCascade::CascadeUCB1($p) => $body,
            AnyCascade::CascadeKLUCB($p) => $body,
            AnyCascade::CascadeLinUCB($p) => $body,
        }
    };
}

impl From<CascadeUCB1> for AnyCascade {
    fn from(p: CascadeUCB1) -> Self {
        AnyCascade::CascadeUCB1(p)
    }
}
impl From<CascadeKLUCB> for AnyCascade {
    fn from(p: CascadeKLUCB) -> Self {
        AnyCascade::CascadeKLUCB(p)
    }
}
impl From<CascadeLinUCB> for AnyCascade {
    fn from(p: CascadeLinUCB) -> Self {
        AnyCascade::CascadeLinUCB(p)
    }
}

impl AnyCascade {
    pub fn kind(&self) -> &'static str {
        fn kind_of<T: Persist>(_: &T) -> &'static str {
            T::KIND
        }
        dispatch!(self, p => kind_of(p))
    }
    pub fn encode(&self) -> Result<Vec<u8>> {
        dispatch!(self, p => encode(p))
    }
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (_, kind) = peek_kind(bytes)?;
        Self::decode_as(&kind, bytes)
    }
    pub fn decode_as(kind: &str, bytes: &[u8]) -> Result<Self> {
        Ok(match kind {
            "CascadeUCB1" => AnyCascade::CascadeUCB1(decode(bytes)?),
            "CascadeKLUCB" => AnyCascade::CascadeKLUCB(decode(bytes)?),
            "CascadeLinUCB" => AnyCascade::CascadeLinUCB(decode(bytes)?),
            other => {
                let held = peek_kind(bytes).map(|(_, k)| k).unwrap_or_default();
                return Err(Error::state(format!(
                    "the bytes hold a {held}, not a {other} (a cascade policy)"
                )));
            }
        })
    }
    /// Adds the counts of `other`, which must hold the same type and hyperparameters.
    pub fn merge(&mut self, other: &AnyCascade) -> Result<()> {
        match (self, other) {
            (AnyCascade::CascadeUCB1(a), AnyCascade::CascadeUCB1(b)) => a.merge(b),
            (AnyCascade::CascadeKLUCB(a), AnyCascade::CascadeKLUCB(b)) => a.merge(b),
            (AnyCascade::CascadeLinUCB(a), AnyCascade::CascadeLinUCB(b)) => a.merge(b),
            (a, b) => Err(Error::incompatible(format!(
                "other: cannot merge {} into {} (the classes differ)",
                python_name(b.kind()),
                python_name(a.kind())
            ))),
        }
    }
    pub fn n_items(&self) -> usize {
        dispatch!(self, p => p.n_items())
    }
    pub fn n_rounds(&self) -> u64 {
        dispatch!(self, p => p.core().rounds)
    }
    pub fn examined(&self) -> Vec<u64> {
        dispatch!(self, p => p.core().examined.clone())
    }
    pub fn click_rates(&self) -> Vec<f64> {
        dispatch!(self, p => p.core().click_rates())
    }
    pub fn scores(&self) -> Vec<f64> {
        dispatch!(self, p => p.scores())
    }
    pub fn describe_params(&self) -> String {
        dispatch!(self, p => p.describe_params())
    }
    pub fn select_list(&mut self, k: usize) -> Result<RankedList> {
        dispatch!(self, p => p.select_list(k))
    }
    pub fn select_list_batch(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_list_batch(n, k))
    }
    pub fn select_list_eligible(&mut self, k: usize, eligible: &Eligible) -> Result<RankedList> {
        dispatch!(self, p => p.select_list_eligible(k, eligible))
    }
    pub fn select_list_batch_eligible(
        &mut self,
        n: usize,
        k: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        dispatch!(self, p => p.select_list_batch_eligible(n, k, eligible))
    }
    pub fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        dispatch!(self, p => p.scores_eligible(eligible))
    }
    pub fn update_list(&mut self, items: &[i64], click: Option<i64>) -> Result<()> {
        dispatch!(self, p => p.update_list(items, click))
    }
    pub fn update_list_batch(&mut self, lists: &[i64], k: usize, clicks: &[i64]) -> Result<()> {
        dispatch!(self, p => p.update_list_batch(lists, k, clicks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_policy() -> Vec<AnyCascade> {
        let f: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
        vec![
            CascadeUCB1::new(5, 1.5, Some(1)).unwrap().into(),
            CascadeKLUCB::new(5, 3.0, Some(2)).unwrap().into(),
            CascadeLinUCB::new(&f, 5, 2, 0.5, 1.0, Some(3))
                .unwrap()
                .into(),
        ]
    }

    #[test]
    fn bytes_round_trip_and_merge_equals_learning_both() {
        let kinds: Vec<&str> = every_policy().iter().map(AnyCascade::kind).collect();
        assert_eq!(kinds, NAMES);
        for p in every_policy() {
            let (mut a, mut b, mut both) = (p.clone(), p.clone(), p.clone());
            a.update_list(&[0, 1, 2], Some(2)).unwrap();
            both.update_list(&[0, 1, 2], Some(2)).unwrap();
            b.update_list_batch(&[4, 3, 1, 0], 2, &[-1, 1]).unwrap();
            both.update_list_batch(&[4, 3, 1, 0], 2, &[-1, 1]).unwrap();
            a.merge(&b).unwrap();
            assert_eq!(a.examined(), both.examined());
            assert_eq!(a.scores(), both.scores());
            let bytes = a.encode().unwrap();
            let mut back = AnyCascade::decode(&bytes).unwrap();
            assert_eq!(back, a);
            assert_eq!(back.select_list(3).unwrap(), a.select_list(3).unwrap());
        }
        let mut u = every_policy().remove(0);
        let err = u.merge(&every_policy()[1]).unwrap_err();
        assert!(err.to_string().contains("classes differ"), "{err}");
    }
}
