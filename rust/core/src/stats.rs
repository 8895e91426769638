//! Per-arm sufficient statistics and the random-tie argmax every index policy uses.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Count, sum and sum of squared deviations of one arm's rewards.
///
/// The mean is `sum / n`, computed the same way everywhere, so two arms that saw the same
/// rewards in any order have bit-identical means (and their ties are broken at random, not
/// by rounding). The squared deviations follow Welford's update and merge exactly by Chan
/// et al.'s pairwise formula, which `merge` relies on; a running sum of squares would cancel
/// catastrophically for rewards with a large mean and a small spread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    pub n: u64,
    pub sum: f64,
    pub m2: f64,
}

impl ArmStats {
    #[inline]
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) {
        let before = self.mean();
        self.n += 1;
        self.sum += x;
        self.m2 += (x - before) * (x - self.mean());
    }

    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Biased (maximum-likelihood) variance, 0 for fewer than two observations.
    #[inline]
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / self.n as f64).max(0.0)
        }
    }

    pub fn merge(&mut self, o: &ArmStats) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let d = o.mean() - self.mean();
        self.m2 += o.m2 + d * d * na * nb / (na + nb);
        self.n += o.n;
        self.sum += o.sum;
    }

    pub fn is_valid(&self) -> bool {
        self.sum.is_finite()
            && self.m2.is_finite()
            && self.m2 >= -1e-9
            && (self.n > 0 || (self.sum == 0.0 && self.m2 == 0.0))
    }
}

/// Index of the largest value, ties broken uniformly at random (reservoir sampling, so the
/// generator is consumed only when a tie occurs). NaN never wins; all-NaN returns 0.
#[inline]
pub fn argmax_random_ties(values: impl Iterator<Item = f64>, rng: &mut Rng) -> usize {
    let mut best = f64::NEG_INFINITY;
    let mut best_i = usize::MAX;
    let mut ties = 0u64;
    for (i, v) in values.enumerate() {
        if v > best || (best_i == usize::MAX && !v.is_nan()) {
            best = v;
            best_i = i;
            ties = 1;
        } else if v == best {
            ties += 1;
            if rng.below(ties) == 0 {
                best_i = i;
            }
        }
    }
    if best_i == usize::MAX {
        0
    } else {
        best_i
    }
}

/// The distribution of [`argmax_random_ties`]: mass split equally among the maximal values.
pub fn argmax_distribution(values: &[f64]) -> Vec<f64> {
    let best = values
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    let ties = values.iter().filter(|&&v| v == best).count();
    let mut p = vec![0.0; values.len()];
    if ties == 0 {
        if !p.is_empty() {
            p[0] = 1.0;
        }
        return p;
    }
    for (pi, &v) in p.iter_mut().zip(values) {
        if v == best {
            *pi = 1.0 / ties as f64;
        }
    }
    p
}

/// Sample an index from a probability vector by one uniform draw and a cumulative scan.
#[inline]
pub fn sample_discrete(p: &[f64], rng: &mut Rng) -> usize {
    let u = rng.uniform();
    let mut acc = 0.0;
    let mut last_positive = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            last_positive = i;
            acc += pi;
            if u < acc {
                return i;
            }
        }
    }
    // Rounding left u beyond the accumulated mass: the last arm with mass takes it.
    last_positive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass_and_merge_matches_concatenation() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 101) as f64 / 100.0 + 1e6)
            .collect();
        let mut all = ArmStats::default();
        let mut a = ArmStats::default();
        let mut b = ArmStats::default();
        for (i, &x) in xs.iter().enumerate() {
            all.push(x);
            if i < 300 {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!((all.mean() - mean).abs() < 1e-9);
        assert!((all.variance() - var).abs() < 1e-9);
        a.merge(&b);
        assert_eq!(a.n, all.n);
        assert!((a.mean() - all.mean()).abs() < 1e-9);
        assert!((a.variance() - all.variance()).abs() < 1e-9);
    }

    #[test]
    fn argmax_ties_are_uniform() {
        let mut rng = Rng::seed_from_u64(3);
        let v = [1.0, 3.0, 0.0, 3.0, 3.0];
        let mut hist = [0; 5];
        for _ in 0..30_000 {
            hist[argmax_random_ties(v.iter().copied(), &mut rng)] += 1;
        }
        assert_eq!(hist[0] + hist[2], 0);
        for &h in &[hist[1], hist[3], hist[4]] {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
        assert_eq!(
            argmax_distribution(&v),
            vec![0.0, 1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0]
        );
    }

    #[test]
    fn infinite_scores_win_and_nan_never_does() {
        let mut rng = Rng::seed_from_u64(0);
        assert_eq!(
            argmax_random_ties([f64::NAN, 1.0, f64::INFINITY].into_iter(), &mut rng),
            2
        );
        assert_eq!(argmax_random_ties([f64::NAN, 0.5].into_iter(), &mut rng), 1);
    }
}
