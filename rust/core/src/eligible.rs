//! Eligible arms: the arms one decision (or each row of a batch) may choose. A validated
//! [`Eligible`] is what every policy family's restricted decision path takes; the helpers
//! below are the restricted forms of the shared decision rules (argmax with random ties,
//! argmax distribution, a draw from a distribution), written once for every family.
//!
//! Conventions, the same for every family: the policy chooses among eligible arms only;
//! an index rule takes the argmax of its index over them (ties at random, as unrestricted);
//! a randomized rule draws from its distribution restricted to them and renormalized
//! (`probabilities` report exactly that distribution, 0 for ineligible arms); `scores`
//! report -inf for ineligible arms. Learned state is never touched by a mask.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::stats::{argmax_distribution, RandomTieArgmax};

/// A validated set of eligible arms: a mask of length `n_arms` with at least one arm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eligible {
    mask: Vec<bool>,
    count: usize,
}

fn none_eligible(row: Option<usize>) -> Error {
    let at = row.map_or(String::new(), |r| format!(" in row {r}"));
    Error::param(
        "eligible",
        format!("no arm is eligible{at}; a decision needs at least one eligible arm"),
    )
}

impl Eligible {
    /// From a boolean mask of length `n_arms` (true = eligible).
    pub fn from_mask(mask: &[bool], n_arms: usize) -> Result<Self> {
        Self::mask_row(mask, n_arms, None)
    }

    fn mask_row(mask: &[bool], n_arms: usize, row: Option<usize>) -> Result<Self> {
        if mask.len() != n_arms {
            return Err(Error::shape(
                "eligible",
                format!(
                    "a boolean mask must have one entry per arm ({n_arms}), got {}",
                    mask.len()
                ),
            ));
        }
        let count = mask.iter().filter(|&&m| m).count();
        if count == 0 {
            return Err(none_eligible(row));
        }
        Ok(Eligible {
            mask: mask.to_vec(),
            count,
        })
    }

    /// From distinct arm indices in `[0, n_arms)` (any order, at least one).
    pub fn from_indices(indices: &[i64], n_arms: usize) -> Result<Self> {
        if indices.is_empty() {
            return Err(none_eligible(None));
        }
        let mut mask = vec![false; n_arms];
        for (j, &a) in indices.iter().enumerate() {
            if a < 0 || a as u64 >= n_arms as u64 {
                return Err(Error::ArmOutOfRange {
                    argument: "eligible".into(),
                    arm: a,
                    n_arms,
                    position: Some(j),
                });
            }
            if std::mem::replace(&mut mask[a as usize], true) {
                return Err(Error::param(
                    "eligible",
                    format!("arm {a} is listed more than once (again at position {j}); indices must be distinct (a 0/1 mask must be boolean: np.asarray(mask, dtype=bool))"),
                ));
            }
        }
        Ok(Eligible {
            mask,
            count: indices.len(),
        })
    }

    /// Every one of `n_arms` arms (`n_arms` >= 1).
    pub fn all(n_arms: usize) -> Self {
        Eligible {
            mask: vec![true; n_arms],
            count: n_arms,
        }
    }

    #[inline]
    pub fn contains(&self, arm: usize) -> bool {
        self.mask[arm]
    }
    /// Number of eligible arms (>= 1).
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }
    #[inline]
    pub fn n_arms(&self) -> usize {
        self.mask.len()
    }
    #[inline]
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }
    /// Eligible arm indices in increasing order.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.mask
            .iter()
            .enumerate()
            .filter_map(|(i, &m)| m.then_some(i))
    }

    /// `Ok` when the mask was built for `n_arms` arms (a policy may have gained or lost arms).
    pub fn check_arms(&self, n_arms: usize) -> Result<()> {
        if self.mask.len() == n_arms {
            return Ok(());
        }
        Err(Error::shape(
            "eligible",
            format!(
                "the mask covers {} arms but the policy has {n_arms}",
                self.mask.len()
            ),
        ))
    }

    /// Sets the entries of ineligible arms to -inf (how `scores` report them).
    pub fn mask_scores(&self, scores: &mut [f64]) {
        for (s, &m) in scores.iter_mut().zip(&self.mask) {
            if !m {
                *s = f64::NEG_INFINITY;
            }
        }
    }

    /// Argmax of `values` (in arm order) over the eligible arms, ties at random: exactly
    /// `argmax_random_ties` run on the eligible arms alone (same draws from `rng`).
    #[inline]
    pub fn argmax(&self, values: impl Iterator<Item = f64>, rng: &mut Rng) -> usize {
        let mut argmax = RandomTieArgmax::new();
        for ((i, v), &m) in values.enumerate().zip(&self.mask) {
            if m {
                argmax.push(i, v, rng);
            }
        }
        argmax.finish()
    }

    /// The distribution of [`Eligible::argmax`]: uniform over the eligible maximizers.
    pub fn argmax_distribution(&self, values: &[f64]) -> Vec<f64> {
        let restricted: Vec<f64> = self.indices().map(|i| values[i]).collect();
        self.scatter(&argmax_distribution(&restricted))
    }

    /// A distribution over the eligible arms (in increasing arm order) spread to all arms,
    /// 0 for ineligible ones.
    pub fn scatter(&self, restricted: &[f64]) -> Vec<f64> {
        let mut p = vec![0.0; self.mask.len()];
        for (i, &q) in self.indices().zip(restricted) {
            p[i] = q;
        }
        p
    }

    /// A distribution over all arms restricted to the eligible ones and renormalized: the
    /// restriction of any rule whose odds between two arms do not depend on the others
    /// (softmax, Gibbs). Falls back to uniform over the eligible arms when their total mass
    /// underflows to 0 (callers with a log-scale form should restrict that instead).
    pub fn renormalize(&self, p: &[f64]) -> Vec<f64> {
        let total: f64 = self.indices().map(|i| p[i]).sum();
        let uniform = 1.0 / self.count as f64;
        (0..p.len())
            .map(|i| match (self.mask[i], total > 0.0 && total.is_finite()) {
                (false, _) => 0.0,
                (true, true) => p[i] / total,
                (true, false) => uniform,
            })
            .collect()
    }
}

/// Eligible arms for a batch of decisions: one set for every row, or one per row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EligibleRows {
    Shared(Eligible),
    PerRow(Vec<Eligible>),
}

impl EligibleRows {
    /// From an (n_rows x n_arms) row-major boolean matrix; every row needs an eligible arm.
    pub fn from_matrix(mask: &[bool], n_rows: usize, n_arms: usize) -> Result<Self> {
        if n_arms == 0 || mask.len() != n_rows.saturating_mul(n_arms) {
            return Err(Error::shape(
                "eligible",
                format!(
                    "a per-row mask must have shape ({n_rows}, {n_arms}), got {} values",
                    mask.len()
                ),
            ));
        }
        mask.chunks_exact(n_arms)
            .enumerate()
            .map(|(r, row)| Eligible::mask_row(row, n_arms, Some(r)))
            .collect::<Result<Vec<_>>>()
            .map(EligibleRows::PerRow)
    }

    /// The eligible arms of row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &Eligible {
        match self {
            EligibleRows::Shared(e) => e,
            EligibleRows::PerRow(rows) => &rows[i],
        }
    }

    /// `Ok` when the rows fit a batch of `n_rows` decisions over `n_arms` arms.
    pub fn check(&self, n_rows: usize, n_arms: usize) -> Result<()> {
        match self {
            EligibleRows::Shared(e) => e.check_arms(n_arms),
            EligibleRows::PerRow(rows) => {
                if rows.len() != n_rows {
                    return Err(Error::shape(
                        "eligible",
                        format!(
                            "a per-row mask needs one row per decision ({n_rows}), got {}",
                            rows.len()
                        ),
                    ));
                }
                rows.first().map_or(Ok(()), |e| e.check_arms(n_arms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::argmax_random_ties;

    #[test]
    fn masks_and_indices_agree_and_bad_ones_are_refused() {
        let a = Eligible::from_mask(&[false, true, true, false], 4).unwrap();
        let b = Eligible::from_indices(&[2, 1], 4).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.indices().collect::<Vec<_>>(), vec![1, 2]);
        let err = Eligible::from_mask(&[true, false], 3).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let err = Eligible::from_mask(&[false; 3], 3).unwrap_err();
        assert!(
            err.to_string().starts_with("eligible: no arm is eligible"),
            "{err}"
        );
        let err = Eligible::from_indices(&[0, 3], 3).unwrap_err();
        assert!(matches!(err, Error::ArmOutOfRange { arm: 3, .. }), "{err}");
        let err = Eligible::from_indices(&[-1], 3).unwrap_err();
        assert!(matches!(err, Error::ArmOutOfRange { arm: -1, .. }), "{err}");
        let err = Eligible::from_indices(&[1, 0, 1], 3).unwrap_err();
        assert!(
            err.to_string().contains("arm 1 is listed more than once"),
            "{err}"
        );
        assert!(Eligible::from_indices(&[], 3).is_err());
        let err = EligibleRows::from_matrix(&[true, false, false, false], 2, 2).unwrap_err();
        assert!(err.to_string().contains("in row 1"), "{err}");
        assert!(EligibleRows::from_matrix(&[true; 5], 2, 2).is_err());
    }

    #[test]
    fn restricted_argmax_is_the_argmax_of_the_eligible_arms_with_the_same_draws() {
        let values = [3.0, 1.0, 3.0, 2.0, 2.0];
        let e = Eligible::from_indices(&[1, 3, 4], 5).unwrap();
        let (mut r1, mut r2) = (Rng::seed_from_u64(5), Rng::seed_from_u64(5));
        for _ in 0..100 {
            let i = e.argmax(values.iter().copied(), &mut r1);
            let j = [1, 3, 4][argmax_random_ties([1.0, 2.0, 2.0].into_iter(), &mut r2)];
            assert_eq!(i, j);
        }
        assert_eq!(r1, r2);
        assert_eq!(
            e.argmax_distribution(&values),
            vec![0.0, 0.0, 0.0, 0.5, 0.5]
        );
        // A NaN index never wins over an eligible number.
        let e = Eligible::from_indices(&[0, 1], 3).unwrap();
        let mut rng = Rng::seed_from_u64(0);
        assert_eq!(e.argmax([f64::NAN, -1.0, 9.0].into_iter(), &mut rng), 1);
    }

    #[test]
    fn renormalize_restricts_and_falls_back_to_uniform_on_underflow() {
        let e = Eligible::from_indices(&[0, 2], 3).unwrap();
        assert_eq!(e.renormalize(&[0.2, 0.5, 0.3]), vec![0.4, 0.0, 0.6]);
        assert_eq!(e.renormalize(&[0.0, 1.0, 0.0]), vec![0.5, 0.0, 0.5]);
        let mut s = vec![1.0, 2.0, 3.0];
        e.mask_scores(&mut s);
        assert_eq!(s, vec![1.0, f64::NEG_INFINITY, 3.0]);
    }
}
