//! Knapsack RL's rollout-budget allocation (Li et al. 2025, "Knapsack RL"): a task whose
//! rollouts all succeed or all fail gives a GRPO-style update no gradient, so give each task
//! the number of rollouts that maximizes the expected number of informative tasks (at least
//! one success and one failure) under a total budget.
//!
//! With success probability p, n rollouts are informative with probability
//! v(n) = 1 - p^n - (1-p)^n. v(0) = v(1) = 0 and its increments p^n(1-p) + (1-p)^n p fall
//! for n >= 1, so v is concave only from n = 1 on: the greedy on marginal gains can stop at
//! a task's first rollout (gain 0). The allocation is therefore solved exactly as a
//! multiple-choice knapsack by dynamic programming over the integer budget.

use crate::error::{Error, Result};

/// Probability that `n` rollouts of a task with success probability `p` contain at least one
/// success and one failure: `1 - p^n - (1-p)^n` (0 for n < 2).
pub fn informative_probability(p: f64, n: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let e = n.min(i32::MAX as u64) as i32;
    (1.0 - p.powi(e) - (1.0 - p).powi(e)).max(0.0)
}

/// The result of [`allocate_rollouts`].
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutAllocation {
    /// Rollouts per task.
    pub rollouts: Vec<u64>,
    /// Expected number of informative tasks, `sum v_i(rollouts_i)`.
    pub expected_informative: f64,
    /// Budget used, `sum costs_i * rollouts_i` (at most the budget).
    pub cost: u64,
}

/// Largest dynamic program solved (tasks x budget x choices per task).
pub const MAX_ALLOCATION_WORK: u128 = 4_000_000_000;

/// The allocation of rollouts maximizing the expected number of informative tasks,
/// `sum_i 1 - p_i^n_i - (1-p_i)^n_i`, subject to `sum_i costs_i n_i <= budget` and
/// `n_i <= max_rollouts`. Exact: a dynamic program over the budget, O(tasks x budget x
/// choices). Among optimal allocations it returns one that prefers fewer rollouts for the
/// earlier tasks. Budget left over (when every task is already near-certainly informative)
/// stays unallocated.
pub fn allocate_rollouts(
    success: &[f64],
    costs: &[u64],
    budget: u64,
    max_rollouts: u64,
) -> Result<RolloutAllocation> {
    if costs.len() != success.len() {
        return Err(Error::shape(
            "costs",
            format!(
                "expected one cost per task ({} tasks), got {}",
                success.len(),
                costs.len()
            ),
        ));
    }
    if let Some(i) = success
        .iter()
        .position(|p| !(p.is_finite() && (0.0..=1.0).contains(p)))
    {
        return Err(Error::param(
            "success",
            format!(
                "expected probabilities in [0, 1], got {} at position {i}",
                crate::error::show(success[i])
            ),
        ));
    }
    if let Some(i) = costs.iter().position(|&c| c == 0) {
        return Err(Error::param(
            "costs",
            format!("expected positive integer costs per rollout, got 0 at position {i}"),
        ));
    }
    if max_rollouts > u32::MAX as u64 {
        return Err(Error::param(
            "max_rollouts",
            format!("must be at most 2**32 - 1, got {max_rollouts}"),
        ));
    }
    let n = success.len();
    let width = usize::try_from(budget)
        .ok()
        .and_then(|b| b.checked_add(1))
        .ok_or_else(|| Error::param("budget", "is too large for this machine"))?;
    let work: u128 = costs
        .iter()
        .map(|&c| (width as u128) * ((budget / c).min(max_rollouts) as u128 + 1))
        .sum();
    if work > MAX_ALLOCATION_WORK {
        return Err(Error::param(
            "budget",
            format!(
                "the exact allocation would take {work} steps (more than {MAX_ALLOCATION_WORK}); use fewer tasks, a smaller budget (in coarser cost units) or a smaller max_rollouts"
            ),
        ));
    }
    crate::limits::check_alloc("budget", &[n.max(1), width], 4)?;
    // best[b]: the best value of the tasks so far within budget b; choice[i][b]: the
    // rollouts of task i in that optimum.
    let mut best = vec![0.0f64; width];
    let mut next = vec![0.0f64; width];
    let mut choice = vec![0u32; n * width];
    for i in 0..n {
        let (p, c) = (success[i], costs[i]);
        let most = (budget / c).min(max_rollouts);
        let row = &mut choice[i * width..(i + 1) * width];
        for b in 0..width {
            let mut value = best[b];
            let mut pick = 0u32;
            // One rollout is never informative: choices are 0 or 2..=most.
            let mut k = 2u64;
            while k <= most && k * c <= b as u64 {
                let v = best[b - (k * c) as usize] + informative_probability(p, k);
                if v > value {
                    value = v;
                    pick = k as u32;
                }
                k += 1;
            }
            next[b] = value;
            row[b] = pick;
        }
        std::mem::swap(&mut best, &mut next);
    }
    let mut rollouts = vec![0u64; n];
    let mut b = width - 1;
    for i in (0..n).rev() {
        let k = choice[i * width + b] as u64;
        rollouts[i] = k;
        b -= (k * costs[i]) as usize;
    }
    let expected_informative = success
        .iter()
        .zip(&rollouts)
        .map(|(&p, &k)| informative_probability(p, k))
        .sum();
    let cost = costs.iter().zip(&rollouts).map(|(c, k)| c * k).sum();
    Ok(RolloutAllocation {
        rollouts,
        expected_informative,
        cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn brute(success: &[f64], costs: &[u64], budget: u64, most: u64) -> f64 {
        let n = success.len();
        let mut best = 0.0f64;
        let mut ks = vec![0u64; n];
        loop {
            let cost: u64 = ks.iter().zip(costs).map(|(k, c)| k * c).sum();
            if cost <= budget {
                let v: f64 = ks
                    .iter()
                    .zip(success)
                    .map(|(&k, &p)| informative_probability(p, k))
                    .sum();
                best = best.max(v);
            }
            let mut i = 0;
            while i < n && ks[i] == most {
                ks[i] = 0;
                i += 1;
            }
            if i == n {
                return best;
            }
            ks[i] += 1;
        }
    }

    #[test]
    fn matches_brute_force() {
        for seed in 0..200 {
            let mut rng = Rng::seed_from_u64(seed);
            let n = 1 + rng.below(4) as usize;
            let success: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
            let costs: Vec<u64> = (0..n).map(|_| 1 + rng.below(3)).collect();
            let budget = rng.below(16);
            let most = 1 + rng.below(6);
            let a = allocate_rollouts(&success, &costs, budget, most).unwrap();
            let want = brute(&success, &costs, budget, most);
            assert!((a.expected_informative - want).abs() < 1e-12, "seed {seed}");
            assert!(a.cost <= budget && a.rollouts.iter().all(|&k| k <= most));
        }
    }

    #[test]
    fn half_chance_tasks_get_two_each() {
        // v(2) = 2pq and v(3) = 3pq: the budget of 8 earns 8 pq whichever way it is cut.
        let a = allocate_rollouts(&[0.5; 4], &[1; 4], 8, 100).unwrap();
        assert!((a.expected_informative - 2.0).abs() < 1e-15);
        assert_eq!(a.cost, 8);
        // Costlier tasks: task 1 costs 3 per rollout, so it gets 2 (6) and task 0 the rest.
        let a = allocate_rollouts(&[0.5, 0.5], &[1, 3], 9, 100).unwrap();
        assert_eq!(a.rollouts, vec![3, 2]);
    }

    #[test]
    fn certain_tasks_get_nothing_and_errors_name_arguments() {
        let a = allocate_rollouts(&[0.0, 1.0, 0.3], &[1, 1, 1], 10, 100).unwrap();
        assert_eq!(&a.rollouts[..2], &[0, 0]);
        assert_eq!(a.rollouts[2], 10);
        let e = allocate_rollouts(&[0.5, 1.5], &[1, 1], 4, 4).unwrap_err();
        assert!(e.to_string().starts_with("success:"));
        let e = allocate_rollouts(&[0.5], &[0], 4, 4).unwrap_err();
        assert!(e.to_string().starts_with("costs:"));
        let e = allocate_rollouts(&[0.5], &[1, 1], 4, 4).unwrap_err();
        assert!(e.to_string().starts_with("costs:"));
        let e = allocate_rollouts(&[0.5; 1000], &[1; 1000], 1 << 40, 1 << 30).unwrap_err();
        assert!(e.to_string().starts_with("budget:"));
    }
}
