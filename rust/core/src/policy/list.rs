//! Ranked lists from a multi-armed policy (`select_list(k)`): k distinct arms in slot order,
//! with the probability the policy gave each slot and the whole list, for off-policy
//! estimators of rankings.
//!
//! Three rules, chosen per policy by [`Policy::list_rule`](super::Policy::list_rule):
//! - [`ListRule::Index`]: the k largest keys (what `select` maximizes) in descending order,
//!   ties broken uniformly at random as `select` breaks them.
//! - [`ListRule::Sequential`]: slot by slot, an arm drawn from the policy's own distribution
//!   restricted to the arms not yet listed (sampling without replacement; Plackett-Luce for
//!   exponential weights).
//! - [`ListRule::Sampled`]: one draw of every arm's randomized index (a posterior sample),
//!   then its top k: the list analogue of Thompson sampling.
//!
//! `propensities[j]` is always P(slot j shows arms[j] | slots 0..j show arms[..j]), so
//! their running product is the probability of the list's first j + 1 slots and their
//! product, `list_propensity`, that of the whole ordered list.

use crate::rng::Rng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Monte Carlo draws behind the propensities of [`ListRule::Sampled`] lists (as for
/// `probabilities()` of Thompson sampling).
pub const LIST_PROBABILITY_SAMPLES: usize = super::thompson::PROBABILITY_SAMPLES;

/// How a policy turns its state into a ranked list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRule {
    /// Top k of `list_keys()`, ties at random.
    Index,
    /// Sampling without replacement from `next_slot_probabilities`.
    Sequential,
    /// Top k of one `draw_keys` sample.
    Sampled,
}

/// A ranked list and its propensities (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct RankedList {
    pub arms: Vec<usize>,
    /// P(slot j shows arms[j] | the slots above it show arms[..j]).
    pub propensities: Vec<f64>,
    /// P(the whole ordered list): the product of `propensities`.
    pub list_propensity: f64,
}

impl RankedList {
    fn from_conditionals(arms: Vec<usize>, propensities: Vec<f64>) -> Self {
        let list_propensity = propensities.iter().product();
        RankedList {
            arms,
            propensities,
            list_propensity,
        }
    }
}

/// NaN ranks last, level with -inf (it never wins an argmax either).
#[inline]
fn rank_key(v: f64) -> f64 {
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// A key and its arm, ordered by key only.
#[derive(Clone, Copy, Debug)]
struct Keyed(f64, usize);

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap's top is the smallest key kept.
        o.0.total_cmp(&self.0)
    }
}

/// Uniform random permutation of `v` (Fisher-Yates).
fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// The k largest `keys` in descending order, ties uniformly at random, in O(L log k): one
/// pass with a k-element heap, one counting pass, and a third over the boundary's ties only
/// when they outnumber the slots left for them. Draws from `rng` only on ties (as `select`).
/// Requires 1 <= k <= keys.len().
pub fn top_k_random_ties(keys: &[f64], k: usize, rng: &mut Rng) -> RankedList {
    debug_assert!(k >= 1 && k <= keys.len());
    let mut heap: BinaryHeap<Keyed> = BinaryHeap::with_capacity(k + 1);
    for (i, &v) in keys.iter().enumerate() {
        let v = rank_key(v);
        if heap.len() < k {
            heap.push(Keyed(v, i));
        } else if let Some(top) = heap.peek() {
            if v > top.0 {
                heap.pop();
                heap.push(Keyed(v, i));
            }
        }
    }
    let threshold = heap.peek().map_or(f64::NEG_INFINITY, |t| t.0);
    let (mut above, mut at) = (0usize, 0usize);
    for &v in keys {
        let v = rank_key(v);
        if v > threshold {
            above += 1;
        } else if v == threshold {
            at += 1;
        }
    }
    let mut chosen: Vec<Keyed> = heap.into_vec();
    let at_slots = k - above;
    if at > at_slots {
        // More arms tie at the boundary than slots remain: a uniform subset of them.
        chosen.retain(|c| c.0 > threshold);
        let mut tied: Vec<usize> = (0..keys.len())
            .filter(|&i| rank_key(keys[i]) == threshold)
            .collect();
        for s in 0..at_slots {
            let j = s + rng.below((tied.len() - s) as u64) as usize;
            tied.swap(s, j);
        }
        chosen.extend(tied[..at_slots].iter().map(|&i| Keyed(threshold, i)));
    }
    // Descending key (the heap order reversed), arm index for a deterministic start.
    chosen.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut arms = Vec::with_capacity(k);
    let mut propensities = Vec::with_capacity(k);
    let mut start = 0;
    while start < chosen.len() {
        let key = chosen[start].0;
        let end = start + chosen[start..].iter().take_while(|c| c.0 == key).count();
        let run = &mut chosen[start..end];
        if run.len() > 1 {
            shuffle(run, rng);
        }
        // Every arm with a key above the threshold is listed, so its tie group is its run.
        let group = if key == threshold { at } else { run.len() };
        for (placed, c) in run.iter().enumerate() {
            arms.push(c.1);
            propensities.push(1.0 / (group - placed) as f64);
        }
        start = end;
    }
    RankedList::from_conditionals(arms, propensities)
}

/// Sampling without replacement: slot j draws from `next(remaining)`, a distribution over
/// all arms that is zero outside `remaining`. O(L k).
pub fn sample_sequential(
    n_arms: usize,
    k: usize,
    rng: &mut Rng,
    mut next: impl FnMut(&[bool]) -> Vec<f64>,
) -> RankedList {
    let mut remaining = vec![true; n_arms];
    let mut arms = Vec::with_capacity(k);
    let mut propensities = Vec::with_capacity(k);
    for _ in 0..k {
        let p = next(&remaining);
        let mut a = crate::stats::sample_discrete(&p, rng);
        if !remaining[a] {
            // Only when no remaining arm has mass (cannot happen for the registered rules,
            // whose distributions always cover the remaining arms): uniform over them.
            let left: Vec<usize> = (0..n_arms).filter(|&i| remaining[i]).collect();
            a = left[rng.below(left.len() as u64) as usize];
            propensities.push(1.0 / left.len() as f64);
        } else {
            propensities.push(p[a]);
        }
        remaining[a] = false;
        arms.push(a);
    }
    RankedList::from_conditionals(arms, propensities)
}

/// The top k of one draw (`draw` fills a key per arm), with propensities estimated from
/// [`LIST_PROBABILITY_SAMPLES`] more draws from a generator forked from `rng` (the
/// decision stream does not move for them) plus the decision itself: the probability of
/// the first j + 1 slots is (1 + matching draws) / (1 + samples), never zero.
pub fn top_k_of_draw(
    n_arms: usize,
    k: usize,
    rng: &mut Rng,
    mut draw: impl FnMut(&mut Rng, &mut Vec<f64>),
) -> RankedList {
    let mut keys = Vec::with_capacity(n_arms);
    draw(rng, &mut keys);
    let list = top_k_random_ties(&keys, k, rng);
    let arms = list.arms;
    let mut in_list = vec![false; n_arms];
    for &a in &arms {
        in_list[a] = true;
    }
    let mut fork = Rng::seed_from_u64(rng.clone().next_raw());
    // matches[j]: draws whose top j + 1 equal the list's first j + 1 slots.
    let mut matches = vec![0u64; k];
    let mut suffix_max = vec![0.0; k];
    for _ in 0..LIST_PROBABILITY_SAMPLES {
        draw(&mut fork, &mut keys);
        let mut outside = f64::NEG_INFINITY;
        for (i, &v) in keys.iter().enumerate() {
            if !in_list[i] {
                outside = outside.max(rank_key(v));
            }
        }
        // suffix_max[j]: the largest key among the arms the list puts below slot j.
        let mut m = outside;
        for j in (0..k).rev() {
            suffix_max[j] = m;
            m = m.max(rank_key(keys[arms[j]]));
        }
        for j in 0..k {
            if rank_key(keys[arms[j]]) > suffix_max[j] {
                matches[j] += 1;
            } else {
                break;
            }
        }
    }
    let total = (LIST_PROBABILITY_SAMPLES + 1) as f64;
    let mut before = 1.0;
    let propensities = matches
        .iter()
        .map(|&m| {
            let prefix = (1 + m) as f64 / total;
            let p = (prefix / before).min(1.0);
            before = prefix;
            p
        })
        .collect();
    RankedList::from_conditionals(arms, propensities)
}

/// [`top_k_random_ties`] over the `eligible` arms only (the same draws as on the eligible
/// keys alone); the listed arms are indices of `keys`. Requires 1 <= k <= eligible.count().
pub fn top_k_random_ties_among(
    keys: &[f64],
    k: usize,
    eligible: &crate::eligible::Eligible,
    rng: &mut Rng,
) -> RankedList {
    let index: Vec<usize> = eligible.indices().collect();
    let restricted: Vec<f64> = index.iter().map(|&i| keys[i]).collect();
    let mut list = top_k_random_ties(&restricted, k, rng);
    for a in &mut list.arms {
        *a = index[*a];
    }
    list
}

/// Position-wise marginals of a ranked list: `m[a * k + j]` = P(slot j shows arm a), for
/// `n_arms` arms and `k` slots (row-major n_arms x k). Each column sums to 1; each row's
/// sum is the probability that the arm is listed at all.
pub type Marginals = Vec<f64>;

/// Prefix sets the exact computation of [`sequential_marginals`] may visit: sum over
/// j < k of C(L, j) must not exceed it.
pub const EXACT_MARGINAL_STATES: u64 = 1 << 15;

/// The exact marginals of [`top_k_random_ties`]: the arms sorted by key in descending order
/// fill the slots tie group by tie group, and a group of g arms whose first slot is s puts
/// each of its arms in each slot of s..min(s + g, k) with probability 1 / g (the group's
/// order is uniform, and at the boundary its listed subset too). O(L log L).
pub fn index_marginals(keys: &[f64], k: usize) -> Marginals {
    let n = keys.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| rank_key(keys[b]).total_cmp(&rank_key(keys[a])));
    let mut m = vec![0.0; n * k];
    let mut start = 0;
    while start < n && start < k {
        let key = rank_key(keys[order[start]]);
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| rank_key(keys[i]) == key)
                .count();
        let g = (end - start) as f64;
        for &a in &order[start..end] {
            for slot in start..end.min(k) {
                m[a * k + slot] = 1.0 / g;
            }
        }
        start = end;
    }
    m
}

/// sum over j < k of C(n, j), saturating.
fn prefix_sets(n: usize, k: usize) -> u64 {
    let (mut total, mut c) = (0u64, 1u64);
    for j in 0..k.min(n + 1) {
        total = total.saturating_add(c);
        // C(n, j + 1) = C(n, j) (n - j) / (j + 1), in u128 so the product cannot wrap.
        c = u64::try_from(c as u128 * (n - j) as u128 / (j as u128 + 1)).unwrap_or(u64::MAX);
    }
    total
}

/// The exact marginals of [`sample_sequential`] with the same `next`, or None when they
/// are not cheap (more than 64 arms, or more than [`EXACT_MARGINAL_STATES`] prefix sets).
/// A dynamic program over the unordered sets of arms listed above each slot: the law of
/// slot j given the slots above depends only on which arms they hold, so P(set S above
/// slot |S|) accumulates over the sets one slot shorter, and slot j's marginal is the sum
/// over the sets S of size j of P(S) next(not S)[a]. Works for any such rule (EXP3's
/// mixture with uniform exploration is not Plackett-Luce, and epsilon-greedy neither).
pub fn sequential_marginals(
    n_arms: usize,
    k: usize,
    mut next: impl FnMut(&[bool]) -> Vec<f64>,
) -> Option<Marginals> {
    if n_arms > 64 || prefix_sets(n_arms, k) > EXACT_MARGINAL_STATES {
        return None;
    }
    let mut m = vec![0.0; n_arms * k];
    let mut level: std::collections::HashMap<u64, f64> = [(0u64, 1.0)].into_iter().collect();
    let mut remaining = vec![false; n_arms];
    for slot in 0..k {
        let mut below = std::collections::HashMap::with_capacity(level.len() * 4);
        // A fixed order of the sets, so the sums do not depend on the map's hashing.
        let mut sets: Vec<(u64, f64)> = level.into_iter().collect();
        sets.sort_unstable_by_key(|s| s.0);
        for (set, mass) in sets {
            for (a, r) in remaining.iter_mut().enumerate() {
                *r = set >> a & 1 == 0;
            }
            let p = next(&remaining);
            let total: f64 = (0..n_arms).filter(|&a| remaining[a]).map(|a| p[a]).sum();
            let left = remaining.iter().filter(|&&r| r).count() as f64;
            for a in (0..n_arms).filter(|&a| remaining[a]) {
                // As sample_sequential: no mass left on the remaining arms means uniform.
                let q = if total > 0.0 && total.is_finite() {
                    p[a] / total
                } else {
                    1.0 / left
                };
                if q <= 0.0 {
                    continue;
                }
                m[a * k + slot] += mass * q;
                if slot + 1 < k {
                    *below.entry(set | 1 << a).or_insert(0.0) += mass * q;
                }
            }
        }
        level = below;
    }
    Some(m)
}

/// Monte Carlo marginals: the slot frequencies of `samples` lists drawn by `draw` from a
/// generator forked from `rng` (which does not move).
pub fn monte_carlo_marginals(
    n_arms: usize,
    k: usize,
    samples: usize,
    rng: &Rng,
    mut draw: impl FnMut(&mut Rng) -> Vec<usize>,
) -> Marginals {
    let mut fork = Rng::seed_from_u64(rng.clone().next_raw() ^ 0x9e37_79b9_7f4a_7c15);
    let mut counts = vec![0u64; n_arms * k];
    for _ in 0..samples {
        for (slot, a) in draw(&mut fork).into_iter().enumerate() {
            counts[a * k + slot] += 1;
        }
    }
    counts
        .into_iter()
        .map(|c| c as f64 / samples as f64)
        .collect()
}

/// `p` restricted to `remaining` and renormalized (zero elsewhere); uniform over
/// `remaining` when it holds no mass.
pub(crate) fn restrict(mut p: Vec<f64>, remaining: &[bool]) -> Vec<f64> {
    let mut mass = 0.0;
    for (x, &r) in p.iter_mut().zip(remaining) {
        if r {
            mass += *x;
        } else {
            *x = 0.0;
        }
    }
    if mass > 0.0 {
        p.iter_mut().for_each(|x| *x /= mass);
    } else {
        let n = remaining.iter().filter(|&&r| r).count() as f64;
        for (x, &r) in p.iter_mut().zip(remaining) {
            *x = if r { 1.0 / n } else { 0.0 };
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_without_ties_is_the_sorted_prefix_with_propensity_one() {
        let keys = [0.3, 0.9, f64::NAN, 0.1, 0.5, f64::INFINITY];
        let mut rng = Rng::seed_from_u64(1);
        let before = rng.clone();
        let l = top_k_random_ties(&keys, 3, &mut rng);
        assert_eq!(l.arms, vec![5, 1, 4]);
        assert_eq!(l.propensities, vec![1.0; 3]);
        assert_eq!(l.list_propensity, 1.0);
        assert_eq!(rng, before, "no tie, no draw");
        // NaN ranks last.
        let l = top_k_random_ties(&keys, 6, &mut rng);
        assert_eq!(l.arms, vec![5, 1, 4, 0, 3, 2]);
    }

    #[test]
    fn ties_are_uniform_and_propensities_match_frequencies() {
        // Groups: {1, 3} at 2.0, {0, 2, 4} at 1.0, {5} at 0.
        let keys = [1.0, 2.0, 1.0, 2.0, 1.0, 0.0];
        let mut rng = Rng::seed_from_u64(7);
        let mut freq = std::collections::HashMap::new();
        let n = 60_000;
        for _ in 0..n {
            let l = top_k_random_ties(&keys, 3, &mut rng);
            // 2 of the top group (2 orders), 1 of 3 at the boundary: 1/2 * 1/3.
            assert!((l.list_propensity - 1.0 / 6.0).abs() < 1e-15);
            assert_eq!(l.propensities, vec![0.5, 1.0, 1.0 / 3.0]);
            *freq.entry(l.arms).or_insert(0u32) += 1;
        }
        assert_eq!(freq.len(), 6);
        for (arms, &c) in &freq {
            let f = c as f64 / n as f64;
            assert!((f - 1.0 / 6.0).abs() < 0.01, "{arms:?}: {f}");
        }
    }

    /// Every ordered list of k arms, slot by slot from `next`: the marginals by brute force.
    fn enumerate(n: usize, k: usize, next: &dyn Fn(&[bool]) -> Vec<f64>) -> Vec<f64> {
        fn go(
            prefix: &mut Vec<usize>,
            p: f64,
            n: usize,
            k: usize,
            next: &dyn Fn(&[bool]) -> Vec<f64>,
            m: &mut [f64],
        ) {
            if prefix.len() == k {
                for (j, &a) in prefix.iter().enumerate() {
                    m[a * k + j] += p;
                }
                return;
            }
            let remaining: Vec<bool> = (0..n).map(|a| !prefix.contains(&a)).collect();
            let q = next(&remaining);
            for a in (0..n).filter(|&a| remaining[a] && q[a] > 0.0) {
                prefix.push(a);
                go(prefix, p * q[a], n, k, next, m);
                prefix.pop();
            }
        }
        let mut m = vec![0.0; n * k];
        go(&mut Vec::new(), 1.0, n, k, next, &mut m);
        m
    }

    #[test]
    fn exact_marginals_equal_enumeration_and_large_cases_decline() {
        let w = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
        // A mixture with uniform exploration redone on each slot (EXP3's rule): not
        // Plackett-Luce, still a function of the remaining set.
        let next = |r: &[bool]| {
            let n = r.iter().filter(|&&x| x).count() as f64;
            let p = restrict(w.to_vec(), r);
            p.iter()
                .zip(r)
                .map(|(q, &x)| if x { 0.7 * q + 0.3 / n } else { 0.0 })
                .collect::<Vec<_>>()
        };
        for k in 1..=4 {
            let got = sequential_marginals(6, k, next).unwrap();
            let want = enumerate(6, k, &next);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-14, "k={k}: {got:?} vs {want:?}");
            }
        }
        assert!(sequential_marginals(65, 1, |r| restrict(vec![1.0; 65], r)).is_none());
        assert!(sequential_marginals(40, 6, |r| restrict(vec![1.0; 40], r)).is_none());
        assert_eq!(prefix_sets(40, 6), 1 + 40 + 780 + 9880 + 91390 + 658008);
        // Index marginals: {1, 3} tied on top, then {0, 2, 4} tied across the boundary.
        let keys = [1.0, 2.0, 1.0, 2.0, 1.0, f64::NAN];
        let m = index_marginals(&keys, 3);
        let third = 1.0 / 3.0;
        assert_eq!(
            m,
            vec![
                0., 0., third, 0.5, 0.5, 0., 0., 0., third, 0.5, 0.5, 0., 0., 0., third, 0., 0., 0.
            ]
        );
        let e = crate::eligible::Eligible::from_indices(&[0, 2, 5], 6).unwrap();
        let mut rng = Rng::seed_from_u64(2);
        let l = top_k_random_ties_among(&keys, 3, &e, &mut rng);
        assert_eq!(&l.arms[2..], &[5]);
        assert_eq!(l.propensities, vec![0.5, 1.0, 1.0]);
    }

    #[test]
    fn sequential_sampling_list_probability_matches_frequencies() {
        let w = [0.5, 0.3, 0.15, 0.05];
        let mut rng = Rng::seed_from_u64(3);
        let n = 100_000;
        let mut freq = std::collections::HashMap::new();
        let mut prop = std::collections::HashMap::new();
        for _ in 0..n {
            let l = sample_sequential(4, 2, &mut rng, |r| restrict(w.to_vec(), r));
            prop.insert(l.arms.clone(), l.list_propensity);
            *freq.entry(l.arms).or_insert(0u32) += 1;
        }
        for (arms, &c) in &freq {
            // Plackett-Luce: w_a / 1 * w_b / (1 - w_a).
            let exact = w[arms[0]] * w[arms[1]] / (1.0 - w[arms[0]]);
            assert!((prop[arms] - exact).abs() < 1e-12);
            let f = c as f64 / n as f64;
            let sd = (exact * (1.0 - exact) / n as f64).sqrt();
            assert!(
                (f - exact).abs() < 5.0 * sd + 1e-4,
                "{arms:?}: {f} vs {exact}"
            );
        }
    }
}
