//! Per-arm sufficient statistics, the random-tie argmax every index policy uses, and the
//! samplers the simulators share.

use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;
use rand_distr::Distribution;
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
        self.m2 = self.m2.min(m2_cap(self.n));
    }

    /// Statistics whose every continuation stays finite, so that what decodes keeps
    /// encoding and decoding. With rewards |x| <= B (`REWARD_LIMIT`) the exact values obey
    /// |sum| <= n B and m2 <= 4 n B^2; the checks allow |sum| <= 4 n B (rounding: a running
    /// sum of rewards B drifts by at most a factor e before adding B stops moving it) and
    /// m2 <= `M2_CAP` n B^2. Pushes preserve both (a push adds at most 25 B^2 to m2), and
    /// so do merges (sums add; m2 is capped there, which no state built from rewards
    /// within B ever reaches): every later value stays finite and passes again.
    pub fn is_valid(&self) -> bool {
        use crate::policy::REWARD_LIMIT;
        let n = self.n as f64;
        self.sum.is_finite()
            && self.m2.is_finite()
            && self.m2 >= -1e-9
            && self.sum.abs() <= 4.0 * n * REWARD_LIMIT
            && self.m2 <= m2_cap(self.n)
            && (self.n > 0 || (self.sum == 0.0 && self.m2 == 0.0))
    }
}

/// The bound on m2 / (n B^2) that decoded statistics must meet (see
/// [`ArmStats::is_valid`]); 1000 times what rewards within B can produce.
const M2_CAP: f64 = 4096.0;

#[inline]
fn m2_cap(n: u64) -> f64 {
    let b = crate::policy::REWARD_LIMIT;
    M2_CAP * n as f64 * b * b
}

/// Index of the largest value, ties broken uniformly at random (reservoir sampling, so the
/// generator is consumed only when a tie occurs). NaN never wins; all-NaN returns 0.
#[inline]
pub fn argmax_random_ties(values: impl Iterator<Item = f64>, rng: &mut Rng) -> usize {
    let mut argmax = RandomTieArgmax::new();
    for (i, v) in values.enumerate() {
        argmax.push(i, v, rng);
    }
    argmax.finish()
}

/// The running form of [`argmax_random_ties`], for callers that draw the values from the
/// same generator as they go (one pass, no buffer): push values in index order.
#[derive(Clone, Copy, Debug)]
pub struct RandomTieArgmax {
    best: f64,
    best_i: usize,
    ties: u64,
}

impl RandomTieArgmax {
    #[inline]
    pub fn new() -> Self {
        RandomTieArgmax {
            best: f64::NEG_INFINITY,
            best_i: usize::MAX,
            ties: 0,
        }
    }

    #[inline(always)]
    pub fn push(&mut self, i: usize, v: f64, rng: &mut Rng) {
        // A plain branch on a new maximum: in a bandit's steady state it is well predicted,
        // and a conditional move would chain every value's latency into the next comparison.
        if v > self.best {
            self.best = v;
            self.best_i = i;
            self.ties = 1;
        } else if v == self.best {
            self.tie(i, rng);
        }
    }

    /// An exact tie with the running maximum, or the first value when it is -inf.
    #[inline(never)]
    fn tie(&mut self, i: usize, rng: &mut Rng) {
        if self.best_i == usize::MAX {
            self.best_i = i;
            self.ties = 1;
        } else {
            self.ties += 1;
            if rng.below(self.ties) == 0 {
                self.best_i = i;
            }
        }
    }

    /// The chosen index (0 if every value was NaN or none was pushed).
    #[inline]
    pub fn finish(self) -> usize {
        if self.best_i == usize::MAX {
            0
        } else {
            self.best_i
        }
    }
}

impl Default for RandomTieArgmax {
    fn default() -> Self {
        Self::new()
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

/// Largest `n` for which [`binomial`] is exact: every count below 2^53 is a float64.
pub const BINOMIAL_EXACT_MAX_N: u64 = 1 << 53;

/// The number of successes in `n` independent Bernoulli(`p`) trials, in O(1) expected
/// time whatever `n` is: the total reward of a batch of `n` pulls, drawn in one go.
///
/// Exact for `n <= 2^53`: inversion (BINV) when `n * min(p, 1 - p) < 10`, otherwise the
/// BTPE rejection sampler (Kachitvichyanukul and Schmeiser 1988), both as implemented by
/// `rand_distr::Binomial`, fed by our generator. There is no normal approximation in that
/// range. Beyond it, where float64 cannot even name every count, a normal draw with the
/// binomial's mean and variance, rounded and clipped to `[0, n]`. `p` outside `[0, 1]` is
/// clipped (callers validate means beforehand); NaN counts as 0.
pub fn binomial(n: u64, p: f64, rng: &mut Rng) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if n > BINOMIAL_EXACT_MAX_N {
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        let z = normal_rand_distr_05(rng);
        return (mean + sd * z).round().clamp(0.0, n as f64) as u64;
    }
    match rand_distr::Binomial::new(n, p) {
        Ok(d) => d.sample(rng),
        // Unreachable for p in (0, 1); keep a defined answer rather than a panic.
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pearson chi-square of `draws` against Binomial(n, p), over the values whose
    /// expected count is at least 5 (the tails pooled into one cell).
    fn binomial_chi_square(n: u64, p: f64, draws: usize, seed: u64) -> (f64, usize) {
        let mut rng = Rng::seed_from_u64(seed);
        let mut hist = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            hist[binomial(n, p, &mut rng) as usize] += 1;
        }
        // Exact pmf by the recurrence from pmf(0) in log space.
        let mut logpmf = vec![0.0; n as usize + 1];
        logpmf[0] = n as f64 * (1.0 - p).ln();
        for k in 1..=n as usize {
            logpmf[k] = logpmf[k - 1]
                + ((n as usize - k + 1) as f64 / k as f64).ln()
                + (p / (1.0 - p)).ln();
        }
        let (mut chi, mut cells, mut pooled_obs, mut pooled_exp) = (0.0, 0usize, 0.0, 0.0);
        for (k, &lp) in logpmf.iter().enumerate() {
            let e = lp.exp() * draws as f64;
            if e >= 5.0 {
                chi += (hist[k] as f64 - e).powi(2) / e;
                cells += 1;
            } else {
                pooled_obs += hist[k] as f64;
                pooled_exp += e;
            }
        }
        if pooled_exp > 0.0 {
            chi += (pooled_obs - pooled_exp).powi(2) / pooled_exp;
            cells += 1;
        }
        (chi, cells - 1)
    }

    #[test]
    fn binomial_matches_the_exact_pmf_in_both_regimes() {
        // BINV (n p < 10), BTPE (n p >= 10), the flipped side p > 1/2, and a tiny p.
        for (n, p) in [
            (20u64, 0.3),
            (40, 0.1),
            (200, 0.5),
            (1000, 0.07),
            (500, 0.93),
            (3000, 0.001),
        ] {
            let (chi, dof) = binomial_chi_square(n, p, 200_000, n ^ 7);
            // Reject only far in the tail: mean dof, sd sqrt(2 dof); 6 sd is ~1e-9.
            let bound = dof as f64 + 6.0 * (2.0 * dof as f64).sqrt();
            assert!(chi < bound, "n={n} p={p}: chi2={chi:.1} with {dof} dof");
        }
    }

    #[test]
    fn binomial_moments_for_huge_batches_and_edge_cases() {
        let mut rng = Rng::seed_from_u64(5);
        for &(n, p) in &[
            (1_000_000_000u64, 0.37),
            (1u64 << 52, 0.5),
            (1u64 << 60, 0.2),
        ] {
            let m = 2000;
            let xs: Vec<f64> = (0..m).map(|_| binomial(n, p, &mut rng) as f64).collect();
            let mean = xs.iter().sum::<f64>() / m as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
            let (mu, v) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!(
                (mean - mu).abs() < 5.0 * (v / m as f64).sqrt(),
                "n={n}: mean {mean}"
            );
            assert!(
                (var / v - 1.0).abs() < 0.15,
                "n={n}: variance ratio {}",
                var / v
            );
            assert!(xs.iter().all(|&x| x <= n as f64));
        }
        assert_eq!(binomial(0, 0.5, &mut rng), 0);
        assert_eq!(binomial(10, 0.0, &mut rng), 0);
        assert_eq!(binomial(10, 1.0, &mut rng), 10);
        assert_eq!(binomial(10, f64::NAN, &mut rng), 0);
        assert_eq!(binomial(u64::MAX, 1.0, &mut rng), u64::MAX);
        let half = binomial(u64::MAX, 0.5, &mut rng) as f64 / u64::MAX as f64;
        assert!((half - 0.5).abs() < 1e-6, "{half}");
    }

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
