//! CascadeUCB1 and CascadeKL-UCB (Kveton et al. 2015): per-item click rates with a UCB1 or
//! a Bernoulli KL-UCB index over the rounds seen.

use super::{ln_rounds, CascadeCore, CascadePolicy};
use crate::error::{Error, Result};
use crate::special::klucb_bernoulli;
use serde::{Deserialize, Serialize};

fn finite_non_negative(x: f64, name: &str) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number >= 0, got {x}"),
        ))
    }
}

/// CascadeUCB1: index w_hat(e) + sqrt(c ln t / T(e)), c = 1.5 in the paper; items never
/// examined first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeUCB1 {
    core: CascadeCore,
    c: f64,
}

impl CascadeUCB1 {
    pub fn new(n_items: usize, c: f64, seed: Option<u64>) -> Result<Self> {
        finite_non_negative(c, "c")?;
        Ok(CascadeUCB1 {
            core: CascadeCore::new(n_items, seed)?,
            c,
        })
    }
    pub fn c(&self) -> f64 {
        self.c
    }
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        merge_counts(&mut self.core, &other.core, "CascadeUCB1", self.c, other.c)
    }
}

impl CascadePolicy for CascadeUCB1 {
    fn core(&self) -> &CascadeCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut CascadeCore {
        &mut self.core
    }
    fn describe_params(&self) -> String {
        format!("c={}", self.c)
    }
    fn scores(&self) -> Vec<f64> {
        let level = self.c * ln_rounds(self.core.rounds);
        self.core
            .examined
            .iter()
            .zip(&self.core.clicks)
            .map(|(&n, &k)| {
                if n == 0 {
                    f64::INFINITY
                } else {
                    k as f64 / n as f64 + (level / n as f64).sqrt()
                }
            })
            .collect()
    }
}

impl crate::state::Persist for CascadeUCB1 {
    const KIND: &'static str = "CascadeUCB1";
    fn check_invariants(&self) -> Result<()> {
        finite_non_negative(self.c, "c")?;
        self.core.check()
    }
}

/// CascadeKL-UCB: index max{q in [w_hat, 1] : T(e) kl(w_hat, q) <= ln t + c ln ln t}
/// (c = 3 in the paper's analysis); items never examined first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeKLUCB {
    core: CascadeCore,
    c: f64,
}

impl CascadeKLUCB {
    pub fn new(n_items: usize, c: f64, seed: Option<u64>) -> Result<Self> {
        finite_non_negative(c, "c")?;
        Ok(CascadeKLUCB {
            core: CascadeCore::new(n_items, seed)?,
            c,
        })
    }
    pub fn c(&self) -> f64 {
        self.c
    }
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        merge_counts(&mut self.core, &other.core, "CascadeKLUCB", self.c, other.c)
    }
    /// ln t + c ln ln t, with the second term only once ln t > 1 (it is negative before).
    fn level(&self) -> f64 {
        let l = ln_rounds(self.core.rounds);
        if l > 1.0 {
            l + self.c * l.ln()
        } else {
            l
        }
    }
}

impl CascadePolicy for CascadeKLUCB {
    fn core(&self) -> &CascadeCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut CascadeCore {
        &mut self.core
    }
    fn describe_params(&self) -> String {
        format!("c={}", self.c)
    }
    fn scores(&self) -> Vec<f64> {
        let level = self.level();
        self.core
            .examined
            .iter()
            .zip(&self.core.clicks)
            .map(|(&n, &k)| {
                if n == 0 {
                    f64::INFINITY
                } else {
                    klucb_bernoulli(k as f64 / n as f64, n as f64, level)
                }
            })
            .collect()
    }
}

impl crate::state::Persist for CascadeKLUCB {
    const KIND: &'static str = "CascadeKLUCB";
    fn check_invariants(&self) -> Result<()> {
        finite_non_negative(self.c, "c")?;
        self.core.check()
    }
}

pub(super) fn merge_counts(
    core: &mut CascadeCore,
    other: &CascadeCore,
    name: &str,
    c: f64,
    other_c: f64,
) -> Result<()> {
    if core.n_items() != other.n_items() {
        return Err(Error::incompatible(format!(
            "other: cannot merge a {name} over {} items into one over {} items",
            other.n_items(),
            core.n_items()
        )));
    }
    if c != other_c {
        return Err(crate::error::hyperparameter_mismatch(
            name,
            &format!("c={c}"),
            &format!("c={other_c}"),
        ));
    }
    core.merge(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_feedback_labels_the_examined_prefix() {
        let mut p = CascadeUCB1::new(5, 1.5, Some(0)).unwrap();
        p.update_list(&[3, 1, 4], Some(1)).unwrap();
        p.update_list(&[0, 2], None).unwrap();
        assert_eq!(p.core.examined, vec![1, 1, 1, 1, 0]);
        assert_eq!(p.core.clicks, vec![0, 1, 0, 0, 0]);
        assert_eq!(p.core.rounds, 2);
        // UCB1 index: w_hat + sqrt(1.5 ln 2 / T); item 4 never examined.
        let s = p.scores();
        let w = (1.5 * 2f64.ln()).sqrt();
        assert!((s[1] - (1.0 + w)).abs() < 1e-15 && (s[0] - w).abs() < 1e-15);
        assert_eq!(s[4], f64::INFINITY);
        // A bad row changes nothing.
        let before = p.clone();
        assert!(p.update_list(&[0, 0], None).is_err());
        assert!(p.update_list(&[0, 7], None).is_err());
        assert!(p.update_list(&[0, 1], Some(2)).is_err());
        assert!(p.update_list_batch(&[0, 1, 2, 2], 2, &[0, -1]).is_err());
        assert_eq!(p, before);
    }

    #[test]
    fn klucb_index_solves_the_kl_equation() {
        let mut p = CascadeKLUCB::new(3, 3.0, Some(0)).unwrap();
        for r in 0..40 {
            p.update_list(&[0, 1, 2], if r % 4 == 0 { Some(0) } else { None })
                .unwrap();
        }
        let s = p.scores();
        let level = 40f64.ln() + 3.0 * 40f64.ln().ln();
        let (w, n) = (0.25, 40.0);
        let kl = |q: f64| w * (w / q).ln() + (1.0 - w) * ((1.0 - w) / (1.0 - q)).ln();
        assert!((n * kl(s[0]) - level).abs() < 1e-6, "{}", s[0]);
        assert!(s[0] > w && s[0] < 1.0);
    }
}
