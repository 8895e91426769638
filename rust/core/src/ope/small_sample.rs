//! Intervals that keep their coverage when the importance weights leave few effective
//! samples: an empirical-Bernstein bound and a studentized (bootstrap-t) Poisson bootstrap.
//!
//! Both need the per-row terms, so they are computed on data in memory (one more pass over
//! the rows), not by the streaming accumulator.
//!
//! * **Empirical Bernstein** (Maurer and Pontil 2009, Theorem 4; the bound behind Thomas et
//!   al. 2015's high-confidence off-policy evaluation): for i.i.d. terms in a range of width
//!   `b`, with probability at least `1 - delta` the mean is within
//!   `sqrt(2 V ln(2/delta) / n) + 7 b ln(2/delta) / (3 (n - 1))` of the sample mean (`V`
//!   the sample variance); each side at `delta = alpha / 2`. The terms are the estimator's
//!   influence terms `u_i + (v_i - theta w_i) / mean(w)` (`u_i` for the plain estimators),
//!   and `b` is their observed range: a finite-sample bound for a plain mean whose terms
//!   cannot leave that range, a conservative approximation otherwise.
//! * **Studentized bootstrap** (Efron and Tibshirani 1993, ch. 12): replicate `b` gives
//!   `t_b = (theta_b - theta) / se_b`, each with its own delta-method standard error, and
//!   the interval is `[theta - t_(1 - alpha/2) se, theta - t_(alpha/2) se]`. A sample that
//!   misses the rare large weights has both a low estimate and a low standard error, which
//!   the percentile and normal intervals cannot see and `t` corrects. The replicates use
//!   the same Poisson(1) row weights as [`super::OffPolicyAccumulator`]'s bootstrap (keyed
//!   by seed and row), so `theta_b` are the percentile interval's replicates.

use super::accumulate::{poisson_weights, PoissonTable, Summary, CHUNK_ROWS};
use super::interval::percentile_sorted;
use super::terms::RowTerms;
use super::{Batch, Estimator};
use crate::error::Result;
use crate::parallel::map_with_caller;

/// The small-sample intervals of one estimate, at the level of its [`Summary`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmallSampleIntervals {
    /// Empirical-Bernstein interval (NaN bounds for fewer than two rows).
    pub bernstein_ci: (f64, f64),
    /// Studentized-bootstrap interval, if any replicate had a positive standard error.
    pub studentized_ci: Option<(f64, f64)>,
    /// Replicates the studentized interval used.
    pub n_studentized: usize,
}

/// Sums kept per replicate: `m` and, of the deviations `d` of `(u, v, w)` from their
/// sample means, `m d` (3) and `m d_i d_j` (6, in [`PAIRS`] order).
const SUMS: usize = 10;
const PAIRS: [(usize, usize); 6] = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)];
/// Chunks evaluated in parallel before they are folded in: bounds the memory in flight to
/// `8 * SUMS * n_bootstrap` floats (64 MB at the largest `n_bootstrap`, 100,000).
const CHUNKS_PER_ROUND: usize = 8;

/// The empirical-Bernstein interval around `center` from the influence terms `phi`.
fn bernstein(center: f64, phi: &[f64], alpha: f64) -> (f64, f64) {
    let n = phi.len();
    if n < 2 {
        return (f64::NAN, f64::NAN);
    }
    let nf = n as f64;
    let mean = phi.iter().sum::<f64>() / nf;
    let var = phi.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0);
    let (lo, hi) = phi
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let log_term = (4.0 / alpha).ln();
    let half = (2.0 * var * log_term / nf).sqrt() + 7.0 * (hi - lo) * log_term / (3.0 * (nf - 1.0));
    (center - half, center + half)
}

/// Estimate and delta-method standard error of one replicate from its [`SUMS`], given the
/// full-sample means `mean` of `(u, v, w)`; None when the replicate is undefined.
fn replicate(s: &[f64], mean: [f64; 3], self_normalized: bool) -> Option<(f64, f64)> {
    let m = s[0];
    if m < 2.0 {
        return None;
    }
    let md = [s[1] / m, s[2] / m, s[3] / m];
    let cov = |p: usize| {
        let (i, j) = PAIRS[p];
        (s[4 + p] - m * md[i] * md[j]) / (m - 1.0)
    };
    let (estimate, var) = if self_normalized {
        let wbar = mean[2] + md[2];
        if wbar <= 0.0 {
            return None;
        }
        let theta = (mean[1] + md[1]) / wbar;
        let c = [1.0, 1.0 / wbar, -theta / wbar];
        let mut var = 0.0;
        for (p, &(i, j)) in PAIRS.iter().enumerate() {
            let k = if i == j { 1.0 } else { 2.0 };
            var += k * c[i] * c[j] * cov(p);
        }
        (mean[0] + md[0] + theta, var)
    } else {
        (mean[0] + md[0], cov(0))
    };
    let se = (var.max(0.0) / m).sqrt();
    (estimate.is_finite() && se > 0.0 && se.is_finite()).then_some((estimate, se))
}

/// Every replicate's [`SUMS`] over the rows' terms `x` (deviations from `mean`), with the
/// Poisson(1) row weights of the accumulator's bootstrap.
fn replicate_sums(x: &[[f64; 3]], mean: [f64; 3], n_bootstrap: usize, seed: u64) -> Vec<f64> {
    let mut totals = vec![0.0; SUMS * n_bootstrap];
    if n_bootstrap == 0 {
        return totals;
    }
    let n = x.len();
    let n_chunks = n.div_ceil(CHUNK_ROWS);
    let table = PoissonTable::new();
    let run = |c: usize| -> Vec<f64> {
        let mut s = vec![0.0; SUMS * n_bootstrap];
        for (i, row) in x
            .iter()
            .enumerate()
            .take(((c + 1) * CHUNK_ROWS).min(n))
            .skip(c * CHUNK_ROWS)
        {
            let d = [row[0] - mean[0], row[1] - mean[1], row[2] - mean[2]];
            let dd = PAIRS.map(|(a, b)| d[a] * d[b]);
            poisson_weights(i as u64, seed, &table, n_bootstrap, |b, m| {
                let r = &mut s[SUMS * b..SUMS * (b + 1)];
                r[0] += m;
                for k in 0..3 {
                    r[1 + k] += m * d[k];
                }
                for k in 0..6 {
                    r[4 + k] += m * dd[k];
                }
            });
        }
        s
    };
    let mut c = 0;
    while c < n_chunks {
        let end = (c + CHUNKS_PER_ROUND).min(n_chunks);
        // Folded in chunk order: the result does not depend on the number of threads.
        for part in map_with_caller(end - c, |j| run(c + j)) {
            for (t, p) in totals.iter_mut().zip(&part) {
                *t += p;
            }
        }
        c = end;
    }
    totals
}

/// The small-sample intervals of `summary` (the result of `evaluate_with` on the same
/// arguments), at its level; `n_bootstrap = 0` gives no studentized interval.
pub fn small_sample_intervals(
    estimator: Estimator,
    batch: &Batch<'_>,
    check_distributions: bool,
    summary: &Summary,
    n_bootstrap: usize,
    seed: u64,
) -> Result<SmallSampleIntervals> {
    let mut terms = RowTerms::new(estimator, batch)?;
    if !check_distributions {
        terms.trust_distributions();
    }
    let n = terms.n();
    let n_chunks = n.div_ceil(CHUNK_ROWS);
    let chunk = |c: usize| -> Result<Vec<[f64; 3]>> {
        let rows = c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(n);
        rows.map(|i| terms.row(i, i as u64)).collect()
    };
    let mut x: Vec<[f64; 3]> = Vec::with_capacity(n);
    for part in map_with_caller(n_chunks, chunk) {
        x.extend(part?);
    }
    let nf = n as f64;
    let mut mean = [0.0; 3];
    for row in &x {
        for k in 0..3 {
            mean[k] += row[k];
        }
    }
    mean.iter_mut().for_each(|m| *m /= nf);
    let sn = estimator.self_normalized();
    let phi: Vec<f64> = if sn {
        let theta = mean[1] / mean[2];
        x.iter()
            .map(|r| r[0] + (r[1] - theta * r[2]) / mean[2])
            .collect()
    } else {
        x.iter().map(|r| r[0]).collect()
    };
    let bernstein_ci = bernstein(summary.estimate, &phi, summary.alpha);
    drop(phi);

    let totals = replicate_sums(&x, mean, n_bootstrap, seed);
    let mut t: Vec<f64> = totals
        .chunks_exact(SUMS)
        .filter_map(|s| replicate(s, mean, sn))
        .map(|(estimate, se)| (estimate - summary.estimate) / se)
        .filter(|t| t.is_finite())
        .collect();
    t.sort_by(f64::total_cmp);
    let studentized_ci = (!t.is_empty() && summary.std_err.is_finite()).then(|| {
        let alpha = summary.alpha;
        (
            summary.estimate - percentile_sorted(&t, 1.0 - alpha / 2.0) * summary.std_err,
            summary.estimate - percentile_sorted(&t, alpha / 2.0) * summary.std_err,
        )
    });
    Ok(SmallSampleIntervals {
        bernstein_ci,
        studentized_ci,
        n_studentized: t.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ope::{evaluate_with, ActionDist, Table};

    /// `(reward, action, pscore, action_dist, reward model)` of `n` rows.
    type Logs = (Vec<f64>, Vec<i64>, Vec<f64>, Vec<f64>, Vec<f64>);

    /// Logs of a uniform logger over 4 actions and a peaked evaluation policy.
    fn logs(n: usize, seed: u64) -> Logs {
        let mut s = seed;
        let mut u = || (crate::rng::splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64;
        let k = 4;
        let pi_row = [0.7, 0.1, 0.1, 0.1];
        let mut reward = Vec::new();
        let mut action = Vec::new();
        for _ in 0..n {
            let a = ((u() * k as f64) as i64).min(3);
            action.push(a);
            reward.push(if u() < 0.2 + 0.2 * a as f64 { 1.0 } else { 0.0 });
        }
        let pi: Vec<f64> = (0..n).flat_map(|_| pi_row).collect();
        let q: Vec<f64> = (0..n).flat_map(|_| [0.3, 0.3, 0.5, 0.6]).collect();
        (reward, action, vec![0.25; n], pi, q)
    }

    #[test]
    fn bernstein_is_maurer_pontil_on_the_influence_terms() {
        // Terms 0, 1, 1, 2: mean 1, variance 2/3, range 2; alpha = 0.1.
        let (lo, hi) = bernstein(1.0, &[0.0, 1.0, 1.0, 2.0], 0.1);
        let l = 40f64.ln();
        let half = (2.0 * (2.0 / 3.0) * l / 4.0).sqrt() + 7.0 * 2.0 * l / 9.0;
        assert!((hi - 1.0 - half).abs() < 1e-14 && (1.0 - lo - half).abs() < 1e-14);
        assert!(bernstein(1.0, &[3.0], 0.1).0.is_nan());
    }

    #[test]
    fn studentized_replicates_are_the_percentile_bootstraps() {
        let n = 3000;
        let (reward, action, pscore, pi, q) = logs(n, 3);
        for est in [
            Estimator::Ipw {
                lambda: f64::INFINITY,
            },
            Estimator::SnIpw,
            Estimator::Dr {
                lambda: f64::INFINITY,
            },
            Estimator::SnDr,
        ] {
            let batch = Batch {
                reward: Some((&reward[..]).into()),
                action: Some((&action[..]).into()),
                pscore: Some(&pscore),
                position: None,
                action_dist: ActionDist::Full(Table::new(&pi, n, 4, 1, "a").unwrap()),
                estimated_rewards: Some(Table::new(&q, n, 4, 1, "q").unwrap()),
            };
            let s = evaluate_with(est, &batch, 0.1, 300, 17, true).unwrap();
            let out = small_sample_intervals(est, &batch, true, &s, 300, 17).unwrap();
            assert_eq!(out.n_studentized, 300);
            // The replicate estimates recomputed from the studentized sums: their mean
            // is the percentile bootstrap's (same Poisson weights, same rows).
            let terms = RowTerms::new(est, &batch).unwrap();
            let x: Vec<[f64; 3]> = (0..n).map(|i| terms.row(i, i as u64).unwrap()).collect();
            let mut mean = [0.0; 3];
            for r in &x {
                (0..3).for_each(|k| mean[k] += r[k] / n as f64);
            }
            let sums = replicate_sums(&x, mean, 300, 17);
            let reps: Vec<f64> = sums
                .chunks_exact(SUMS)
                .map(|r| replicate(r, mean, est.self_normalized()).unwrap().0)
                .collect();
            let boot_mean = reps.iter().sum::<f64>() / reps.len() as f64;
            assert!(
                (boot_mean - s.bootstrap_mean.unwrap()).abs() < 1e-12,
                "{est:?}"
            );
            let (lo, hi) = out.studentized_ci.unwrap();
            assert!(lo < s.estimate && s.estimate < hi, "{est:?}");
            // Large n, moderate weights: close to the normal interval (within 15 %).
            let (nlo, nhi) = s.ci;
            assert!(((hi - lo) / (nhi - nlo) - 1.0).abs() < 0.15, "{est:?}");
            let (blo, bhi) = out.bernstein_ci;
            assert!(
                blo < nlo && bhi > nhi,
                "{est:?}: Bernstein is wider than normal"
            );
        }
    }
}
