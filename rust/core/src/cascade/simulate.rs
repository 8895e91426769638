//! The cascade click model as an environment, and a simulation loop that plays a cascade
//! policy against it and records the cascade regret f(A*) - f(A_t), where
//! f(A) = 1 - prod_{e in A} (1 - w(e)) and A* is the k most attractive items.

use super::{check_k, AnyCascade};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// L items with attraction probabilities w(e); a shown list gets at most one click, on
/// its first attractive item.
#[derive(Clone, Debug, PartialEq)]
pub struct CascadeEnv {
    attraction: Vec<f64>,
}

impl CascadeEnv {
    pub fn new(attraction: &[f64]) -> Result<Self> {
        if attraction.is_empty() {
            return Err(Error::shape("attraction", "expected at least one item"));
        }
        if let Some(i) = attraction.iter().position(|w| !(0.0..=1.0).contains(w)) {
            return Err(Error::param(
                "attraction",
                format!(
                    "must be probabilities in [0, 1]; item {i} has {}",
                    attraction[i]
                ),
            ));
        }
        Ok(CascadeEnv {
            attraction: attraction.to_vec(),
        })
    }

    pub fn n_items(&self) -> usize {
        self.attraction.len()
    }

    /// The click position for `list`, scanning from the top (None: no click).
    pub fn click(&self, list: &[usize], rng: &mut Rng) -> Option<usize> {
        list.iter()
            .position(|&e| rng.uniform() < self.attraction[e])
    }

    /// f(A) = 1 - prod (1 - w(e)): the probability of a click on `list`.
    pub fn click_probability(&self, list: &[usize]) -> f64 {
        1.0 - list
            .iter()
            .map(|&e| 1.0 - self.attraction[e])
            .product::<f64>()
    }

    /// f of the best list of length k (the k largest attraction probabilities).
    pub fn best_click_probability(&self, k: usize) -> f64 {
        let mut w = self.attraction.clone();
        w.sort_unstable_by(|a, b| b.total_cmp(a));
        1.0 - w[..k].iter().map(|x| 1.0 - x).product::<f64>()
    }
}

/// Plays `policy` for `horizon` rounds of lists of length `k`; returns the per-round
/// expected regret f(A*) - f(A_t) and the clicks (-1 for none). The policy learns as it
/// plays; the environment's draws come from `seed`.
pub fn simulate_cascade(
    policy: &mut AnyCascade,
    env: &CascadeEnv,
    k: usize,
    horizon: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<i64>)> {
    if policy.n_items() != env.n_items() {
        return Err(Error::shape(
            "attraction",
            format!(
                "the environment has {} items, the policy {}",
                env.n_items(),
                policy.n_items()
            ),
        ));
    }
    check_k(k, env.n_items())?;
    crate::limits::check_alloc("horizon", &[horizon], 16)?;
    let best = env.best_click_probability(k);
    let mut rng = Rng::seed_from_u64(seed);
    let mut regret = Vec::with_capacity(horizon);
    let mut clicks = Vec::with_capacity(horizon);
    let mut items = vec![0i64; k];
    for _ in 0..horizon {
        let list = policy.select_list(k)?.arms;
        let click = env.click(&list, &mut rng);
        regret.push(best - env.click_probability(&list));
        for (slot, &e) in items.iter_mut().zip(&list) {
            *slot = e as i64;
        }
        policy.update_list(&items, click.map(|c| c as i64))?;
        clicks.push(click.map_or(-1, |c| c as i64));
    }
    Ok((regret, clicks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cascade::{CascadeKLUCB, CascadeUCB1};

    /// Kveton et al.'s instance: K optimal items at p = 0.2, L - K at p - 0.15.
    fn env(l: usize, k: usize) -> CascadeEnv {
        let w: Vec<f64> = (0..l).map(|i| if i < k { 0.2 } else { 0.05 }).collect();
        CascadeEnv::new(&w).unwrap()
    }

    #[test]
    fn click_model_frequencies_match_the_cascade_probabilities() {
        let e = CascadeEnv::new(&[0.3, 0.5, 0.1]).unwrap();
        let mut rng = Rng::seed_from_u64(1);
        let n = 100_000;
        let mut hist = [0usize; 4];
        for _ in 0..n {
            hist[e.click(&[0, 1, 2], &mut rng).unwrap_or(3)] += 1;
        }
        let expect = [0.3, 0.7 * 0.5, 0.7 * 0.5 * 0.1, 0.7 * 0.5 * 0.9];
        for (h, p) in hist.iter().zip(expect) {
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((*h as f64 / n as f64 - p).abs() < 5.0 * sd, "{hist:?}");
        }
        assert!((e.click_probability(&[0, 1, 2]) - (1.0 - 0.7 * 0.5 * 0.9)).abs() < 1e-15);
    }

    #[test]
    fn klucb_regret_is_well_below_ucb1s() {
        let e = env(16, 4);
        let total = |mut p: AnyCascade| -> f64 {
            simulate_cascade(&mut p, &e, 4, 20_000, 9)
                .unwrap()
                .0
                .iter()
                .sum()
        };
        let ucb = total(CascadeUCB1::new(16, 1.5, Some(1)).unwrap().into());
        let kl = total(CascadeKLUCB::new(16, 3.0, Some(1)).unwrap().into());
        assert!(kl < 0.6 * ucb, "KL {kl} vs UCB1 {ucb}");
        assert!(kl > 0.0);
    }
}
