//! The contextual family's decision helpers: top-k lists, sampling probabilities, the
//! arm drawn from them, and the renaming of a one-row error to single-call names.

use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::stats::argmax_random_ties;

pub(super) fn rename_single(e: Error) -> Error {
    match e {
        Error::ArmOutOfRange { arm, n_arms, .. } => Error::ArmOutOfRange {
            argument: "arm".into(),
            arm,
            n_arms,
            position: None,
        },
        Error::InvalidReward {
            value, expected, ..
        } => Error::InvalidReward {
            argument: "reward".into(),
            value,
            position: None,
            expected,
        },
        Error::InvalidParameter { name, message } if name == "weights" => Error::InvalidParameter {
            name: "weight".into(),
            message: message.replace("entry 0 is", "got"),
        },
        Error::InvalidParameter { name, message } if name == "X" => Error::InvalidParameter {
            name: "x".into(),
            message,
        },
        other => other,
    }
}

/// The `k` best arms of every row of an (n x n_arms) score matrix, best first (ties by
/// arm index), flattened (n x k). `k` must be in [1, n_arms].
pub(crate) fn top_k_rows(scores: &[f64], n_arms: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(scores.len() / n_arms * k);
    let mut idx: Vec<usize> = (0..n_arms).collect();
    for row in scores.chunks_exact(n_arms) {
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        out.extend_from_slice(&idx[..k]);
        idx.sort_unstable();
    }
    out
}

/// `Ok` when `k` is in [1, n_arms] and at most the eligible count of every row.
pub(crate) fn check_top_k(
    k: usize,
    n: usize,
    n_arms: usize,
    eligible: &EligibleRows,
) -> Result<()> {
    if k == 0 || k > n_arms {
        return Err(Error::param(
            "k",
            format!("must be in [1, {n_arms}], got {k}"),
        ));
    }
    if let Some((r, c)) = (0..n)
        .map(|r| (r, eligible.row(r).count()))
        .find(|&(_, c)| c < k)
    {
        return Err(Error::param(
            "k",
            format!("must be at most the number of eligible arms, {c} in row {r}; got {k}"),
        ));
    }
    Ok(())
}

/// [`top_k_rows`] over each row's eligible arms only.
pub(crate) fn top_k_rows_eligible(
    scores: &[f64],
    n_arms: usize,
    k: usize,
    eligible: &EligibleRows,
) -> Vec<usize> {
    let mut out = Vec::with_capacity(scores.len() / n_arms * k);
    for (r, row) in scores.chunks_exact(n_arms).enumerate() {
        let mut idx: Vec<usize> = eligible.row(r).indices().collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        out.extend_from_slice(&idx[..k]);
    }
    out
}

/// Monte Carlo selection probabilities of a sampling rule (score mean_a + sd_a z_a) over
/// the eligible arms, seeded from the policy's generator and the context as the rules'
/// own `probability_row` (exact argmax distribution when every eligible sd is 0).
pub(crate) fn sampling_probabilities(
    policy_rng: &Rng,
    x: &[f64],
    means: &[f64],
    sds: &[f64],
    eligible: &Eligible,
) -> Vec<f64> {
    if eligible.indices().all(|i| sds[i] == 0.0) {
        return eligible.argmax_distribution(means);
    }
    let mut h = policy_rng.clone().next_raw();
    for v in x {
        h = h.rotate_left(5) ^ v.to_bits();
    }
    let mut rng = Rng::seed_from_u64(h);
    let arms: Vec<usize> = eligible.indices().collect();
    let mut wins = vec![0u32; means.len()];
    for _ in 0..super::linear::PROBABILITY_SAMPLES {
        let mut best = f64::NEG_INFINITY;
        let mut best_i = arms[0];
        for &i in &arms {
            let s = means[i] + sds[i] * crate::sample::normal_rand_distr_05(&mut rng);
            if s > best {
                best = s;
                best_i = i;
            }
        }
        wins[best_i] += 1;
    }
    wins.iter()
        .map(|&w| w as f64 / super::linear::PROBABILITY_SAMPLES as f64)
        .collect()
}

/// argmax with random ties over one row of scores.
pub(crate) fn pick(scores: &[f64], rng: &mut Rng) -> usize {
    argmax_random_ties(scores.iter().copied(), rng)
}
