//! Cascading reinforcement learning (Du, Srikant and Chen, ICLR 2024): an episodic MDP in
//! which each step shows a ranked list of items; the user clicks the first attractive one,
//! which pays its reward and moves the state, or nothing, and a default item fires.
//! [`best_perm`] is the paper's oracle for the best list given attraction probabilities and
//! continuation values; [`CascadingVI`] is optimistic value iteration over it;
//! [`CascadingMDP`] simulates a problem given as arrays.
//!
//! Value of a list A: Q(s, A) = sum_i prod_{j<i}(1-q_j) q_i W_i + prod_j (1-q_j) W_bottom,
//! with W(s,a) = r(s,a) + p(.|s,a)^T V_{h+1}. Swapping neighbours i, i+1 changes Q by
//! (prefix) q_i q_{i+1} (W_i - W_{i+1}), so a chosen set is best in descending W; the set
//! is then a dynamic program over the items in that order.

use crate::error::{show, Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use serde::{Deserialize, Serialize};

fn check_probabilities(name: &str, values: &[f64]) -> Result<()> {
    match values
        .iter()
        .position(|v| !(v.is_finite() && (0.0..=1.0).contains(v)))
    {
        Some(i) => Err(Error::param(
            name,
            format!(
                "expected probabilities in [0, 1], got {} at position {i}",
                show(values[i])
            ),
        )),
        None => Ok(()),
    }
}

/// The best ordered list of at most `max_len` distinct items and its value, given each
/// item's attraction probability `attraction[a]`, its value when clicked `values[a]` and
/// the value `default_value` when nothing is clicked: the list maximizing
/// `sum_i prod_{j<i}(1-q_j) q_i W_i + prod_j (1-q_j) W_bottom`. Exact, O(N log N + N m).
/// Ties go to the longer list (an item as good as nothing is shown), then to the higher
/// attraction and the lower item index.
pub fn best_perm(
    attraction: &[f64],
    values: &[f64],
    default_value: f64,
    max_len: usize,
) -> Result<(f64, Vec<usize>)> {
    if values.len() != attraction.len() {
        return Err(Error::shape(
            "values",
            format!(
                "expected one value per item ({} items), got {}",
                attraction.len(),
                values.len()
            ),
        ));
    }
    check_probabilities("attraction", attraction)?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::param(
            "values",
            format!(
                "expected finite numbers, got {} at position {i}",
                show(values[i])
            ),
        ));
    }
    if !default_value.is_finite() {
        return Err(Error::param(
            "default_value",
            format!("expected a finite number, got {}", show(default_value)),
        ));
    }
    let m = max_len.min(attraction.len());
    crate::limits::check_alloc("attraction", &[attraction.len() + 1, m + 1], 8)?;
    let mut scratch = Scratch::default();
    let value = best_perm_into(attraction, values, default_value, m, &mut scratch);
    Ok((value, scratch.list))
}

#[derive(Default)]
struct Scratch {
    order: Vec<usize>,
    table: Vec<f64>,
    list: Vec<usize>,
}

/// [`best_perm`] on checked inputs with `m <= N`; the list is left in `scratch.list`.
fn best_perm_into(q: &[f64], w: &[f64], w0: f64, m: usize, scratch: &mut Scratch) -> f64 {
    let n = q.len();
    let order = &mut scratch.order;
    order.clear();
    order.extend(0..n);
    // Descending value; equal values (any order among them is as good) by descending
    // attraction, then index: a stable sort keeps the order reproducible.
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(q[b].total_cmp(&q[a])));
    // table[i * (m + 1) + k] = F(i, k): the best value of the items order[i..] with k slots.
    let cols = m + 1;
    let table = &mut scratch.table;
    table.clear();
    table.resize((n + 1) * cols, w0);
    for i in (0..n).rev() {
        let a = order[i];
        for k in 1..cols {
            let skip = table[(i + 1) * cols + k];
            let take = q[a] * w[a] + (1.0 - q[a]) * table[(i + 1) * cols + k - 1];
            table[i * cols + k] = if take >= skip { take } else { skip };
        }
    }
    let list = &mut scratch.list;
    list.clear();
    let mut k = m;
    for (i, &a) in order.iter().enumerate() {
        if k == 0 {
            break;
        }
        let skip = table[(i + 1) * cols + k];
        let take = q[a] * w[a] + (1.0 - q[a]) * table[(i + 1) * cols + k - 1];
        if take >= skip {
            list.push(a);
            k -= 1;
        }
    }
    table[m]
}

/// The value of the list `items` in the cascade: `sum_i prod_{j<i}(1-q_j) q_i W_i +
/// prod_j (1-q_j) W_bottom`.
pub fn list_value(attraction: &[f64], values: &[f64], default_value: f64, items: &[usize]) -> f64 {
    let mut reach = 1.0;
    let mut total = 0.0;
    for &a in items {
        total += reach * attraction[a] * values[a];
        reach *= 1.0 - attraction[a];
    }
    total + reach * default_value
}

/// Sizes of a cascading MDP: states, items (the default item is index `n_items`), horizon.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub n_states: usize,
    pub n_items: usize,
    pub horizon: usize,
    pub list_len: usize,
}

impl Shape {
    fn check(&self) -> Result<()> {
        for (name, v) in [
            ("n_states", self.n_states),
            ("n_items", self.n_items),
            ("horizon", self.horizon),
            ("list_len", self.list_len),
        ] {
            if v == 0 {
                return Err(Error::param(name, "must be at least 1, got 0"));
            }
        }
        if self.list_len > self.n_items {
            return Err(Error::param(
                "list_len",
                format!(
                    "must be at most the number of items ({}), got {}",
                    self.n_items, self.list_len
                ),
            ));
        }
        let (s, n1) = (self.n_states, self.n_items + 1);
        crate::limits::check_alloc("n_states", &[s, n1, s], 8)?;
        crate::limits::check_alloc("horizon", &[self.horizon, s, self.list_len], 8)?;
        Ok(())
    }

    fn check_state(&self, name: &str, state: i64) -> Result<usize> {
        if state < 0 || state as u64 >= self.n_states as u64 {
            return Err(Error::param(
                name,
                format!("expected a state in [0, {}), got {state}", self.n_states),
            ));
        }
        Ok(state as usize)
    }

    fn check_step(&self, step: i64) -> Result<usize> {
        if step < 0 || step as u64 >= self.horizon as u64 {
            return Err(Error::param(
                "step",
                format!("expected a step in [0, {}), got {step}", self.horizon),
            ));
        }
        Ok(step as usize)
    }

    /// A shown list: distinct items in range, at most `list_len` of them.
    fn check_list(&self, items: &[i64]) -> Result<Vec<usize>> {
        if items.len() > self.list_len {
            return Err(Error::shape(
                "items",
                format!(
                    "expected at most list_len = {} items, got {}",
                    self.list_len,
                    items.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, &a) in items.iter().enumerate() {
            if a < 0 || a as u64 >= self.n_items as u64 {
                return Err(Error::ArmOutOfRange {
                    argument: "items".into(),
                    arm: a,
                    n_arms: self.n_items,
                    position: Some(i),
                });
            }
            if items[..i].contains(&a) {
                return Err(Error::param(
                    "items",
                    format!("item {a} appears twice; a list shows distinct items"),
                ));
            }
            out.push(a as usize);
        }
        Ok(out)
    }
}

/// CascadingVI: optimistic value iteration for cascading RL. Rewards are known; attraction
/// probabilities and transitions are learned from counts. Each episode's plan is computed at
/// its first step from the data so far: q_bar = min(1, q_hat + b_q) and
/// W_bar = min(H - h, r + p_hat^T V_bar_{h+1} + (H - h - 1) b_p), with Hoeffding bonuses
/// b = bonus * sqrt(ln(S (N+1) H (k+1) / delta) / n) (k the episode count; unobserved pairs
/// are fully optimistic), and V_bar_h(s) = best_perm(q_bar, W_bar). The transition bonus is
/// scaled by the range H - h - 1 of the continuation value: rewards are known, so the last
/// step is exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadingVI {
    shape: Shape,
    bonus: f64,
    delta: f64,
    /// Known rewards, S x (N+1) (the last column is the default item's).
    rewards: Vec<f64>,
    /// Per (state, item): times examined and times clicked.
    examined: Vec<u64>,
    clicks: Vec<u64>,
    /// Per (state, item or default, next state): transitions observed.
    transitions: Vec<u64>,
    episodes: u64,
    /// The plan of the current episode: one list per (step, state), and V_bar per (step, state).
    plan: Vec<Vec<usize>>,
    plan_values: Vec<f64>,
    /// Data arrived since the plan was made: replan at the next step 0.
    stale: bool,
}

impl CascadingVI {
    pub fn new(
        rewards: &[f64],
        n_states: usize,
        n_items: usize,
        horizon: usize,
        list_len: usize,
        bonus: f64,
        delta: f64,
    ) -> Result<Self> {
        let shape = Shape {
            n_states,
            n_items,
            horizon,
            list_len,
        };
        shape.check()?;
        if rewards.len() != n_states * (n_items + 1) {
            return Err(Error::shape(
                "rewards",
                format!(
                    "expected shape (n_states, n_items + 1) = ({n_states}, {}), got {} values",
                    n_items + 1,
                    rewards.len()
                ),
            ));
        }
        check_probabilities("rewards", rewards).map_err(|_| {
            let i = rewards
                .iter()
                .position(|v| !(v.is_finite() && (0.0..=1.0).contains(v)))
                .unwrap_or(0);
            Error::param(
                "rewards",
                format!(
                    "expected rewards in [0, 1] (finite), got {} at position {i}",
                    show(rewards[i])
                ),
            )
        })?;
        let p = CascadingVI {
            shape,
            bonus,
            delta,
            rewards: rewards.to_vec(),
            examined: vec![0; n_states * n_items],
            clicks: vec![0; n_states * n_items],
            transitions: vec![0; n_states * (n_items + 1) * n_states],
            episodes: 0,
            plan: Vec::new(),
            plan_values: Vec::new(),
            stale: true,
        };
        p.check_params()?;
        Ok(p)
    }

    fn check_params(&self) -> Result<()> {
        if !(self.bonus.is_finite() && self.bonus >= 0.0) {
            return Err(Error::param_got(
                "bonus",
                "must be a finite number >= 0",
                self.bonus,
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(Error::param_got(
                "delta",
                "must be a number in (0, 1)",
                self.delta,
            ));
        }
        Ok(())
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }
    pub fn bonus(&self) -> f64 {
        self.bonus
    }
    pub fn delta(&self) -> f64 {
        self.delta
    }
    pub fn n_episodes(&self) -> u64 {
        self.episodes
    }

    /// Steps learned: each successful `update` adds one transition count.
    pub fn n_updates(&self) -> u64 {
        self.transitions
            .iter()
            .fold(0u64, |sum, &c| sum.saturating_add(c))
    }
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    pub fn examined(&self) -> &[u64] {
        &self.examined
    }
    pub fn clicks(&self) -> &[u64] {
        &self.clicks
    }
    pub fn transitions(&self) -> &[u64] {
        &self.transitions
    }

    pub fn describe_params(&self) -> String {
        format!(
            "n_states={}, n_items={}, horizon={}, list_len={}, bonus={}, delta={}",
            self.shape.n_states,
            self.shape.n_items,
            self.shape.horizon,
            self.shape.list_len,
            self.bonus,
            self.delta
        )
    }

    /// Optimistic value iteration from the counts: the plan of the next episode.
    fn replan(&mut self) {
        let Shape {
            n_states: s_n,
            n_items: n,
            horizon: h_n,
            list_len: m,
        } = self.shape;
        let log = ((s_n * (n + 1) * h_n) as f64 * (self.episodes as f64 + 1.0) / self.delta)
            .ln()
            .max(1.0);
        let width = |count: u64| self.bonus * (log / count as f64).sqrt();
        let mut next_v = vec![0.0; s_n];
        let mut plan = vec![Vec::new(); h_n * s_n];
        let mut plan_values = vec![0.0; h_n * s_n];
        let mut q_bar = vec![0.0; n];
        let mut w_bar = vec![0.0; n + 1];
        let mut scratch = Scratch::default();
        for h in (0..h_n).rev() {
            let cap = (h_n - h) as f64;
            let mut v = vec![0.0; s_n];
            for s in 0..s_n {
                for (a, qa) in q_bar.iter_mut().enumerate() {
                    let seen = self.examined[s * n + a];
                    *qa = if seen == 0 {
                        1.0
                    } else {
                        (self.clicks[s * n + a] as f64 / seen as f64 + width(seen)).min(1.0)
                    };
                }
                for (a, w) in w_bar.iter_mut().enumerate() {
                    let row =
                        &self.transitions[(s * (n + 1) + a) * s_n..(s * (n + 1) + a + 1) * s_n];
                    let total: u64 = row.iter().sum();
                    let reward = self.rewards[s * (n + 1) + a];
                    *w = if total == 0 {
                        (reward + cap - 1.0).min(cap)
                    } else {
                        let expected: f64 = row
                            .iter()
                            .zip(&next_v)
                            .map(|(&c, &v)| c as f64 * v)
                            .sum::<f64>()
                            / total as f64;
                        (reward + expected + (cap - 1.0) * width(total)).min(cap)
                    };
                }
                let value = best_perm_into(&q_bar, &w_bar[..n], w_bar[n], m, &mut scratch);
                v[s] = value.min(cap);
                plan[h * s_n + s] = scratch.list.clone();
                plan_values[h * s_n + s] = v[s];
            }
            next_v = v;
        }
        self.plan = plan;
        self.plan_values = plan_values;
        self.stale = false;
    }

    fn ensure_plan(&mut self, step: usize) {
        if self.plan.is_empty() || (step == 0 && self.stale) {
            self.replan();
        }
    }

    /// The list to show in `state` at `step` (0-based): the current episode's plan, made
    /// afresh at step 0 when data arrived since the last plan.
    pub fn select_list(&mut self, state: i64, step: i64) -> Result<Vec<usize>> {
        let s = self.shape.check_state("state", state)?;
        let h = self.shape.check_step(step)?;
        self.ensure_plan(h);
        Ok(self.plan[h * self.shape.n_states + s].clone())
    }

    /// The current plan: one list per (step, state), row-major by step.
    pub fn plan(&mut self) -> &[Vec<usize>] {
        self.ensure_plan(usize::MAX);
        &self.plan
    }

    /// Optimistic values V_bar(step, state) of the current plan.
    pub fn plan_values(&mut self) -> &[f64] {
        self.ensure_plan(usize::MAX);
        &self.plan_values
    }

    /// Record one step: `items` shown in `state` at `step`, the position of the click in the
    /// list (None: no click, the default item fired) and the state it led to. Items up to
    /// the click were examined; the clicked item (or the default) made the transition.
    pub fn update(
        &mut self,
        state: i64,
        step: i64,
        items: &[i64],
        click: Option<i64>,
        next_state: i64,
    ) -> Result<()> {
        let s = self.shape.check_state("state", state)?;
        let h = self.shape.check_step(step)?;
        let list = self.shape.check_list(items)?;
        let next = self.shape.check_state("next_state", next_state)?;
        let click = match click {
            None => None,
            Some(c) if c >= 0 && (c as u64) < list.len() as u64 => Some(c as usize),
            Some(c) => {
                return Err(Error::param(
                    "click",
                    format!(
                        "expected None or a position in [0, {}) of the list, got {c}",
                        list.len()
                    ),
                ))
            }
        };
        let n = self.shape.n_items;
        let examined = click.map_or(list.len(), |c| c + 1);
        let counts_fit = list[..examined]
            .iter()
            .all(|&a| self.examined[s * n + a] < u64::MAX)
            && self.episodes < u64::MAX;
        if !counts_fit {
            return Err(Error::param("items", "a count would exceed 2**64 - 1"));
        }
        for &a in &list[..examined] {
            self.examined[s * n + a] += 1;
        }
        let fired = match click {
            Some(c) => {
                self.clicks[s * n + list[c]] += 1;
                list[c]
            }
            None => n,
        };
        let cell = &mut self.transitions[(s * (n + 1) + fired) * self.shape.n_states + next];
        *cell = cell.saturating_add(1);
        if h + 1 == self.shape.horizon {
            self.episodes += 1;
        }
        self.stale = true;
        Ok(())
    }

    /// Add another learner's counts (same problem and hyperparameters): equal to learning
    /// both data sets.
    pub fn merge(&mut self, other: &CascadingVI) -> Result<()> {
        if self.shape != other.shape
            || self.bonus != other.bonus
            || self.delta != other.delta
            || self.rewards != other.rewards
        {
            return Err(crate::error::hyperparameter_mismatch(
                "CascadingVI",
                &self.describe_params(),
                &other.describe_params(),
            ));
        }
        let add = |a: &[u64], b: &[u64]| -> Option<Vec<u64>> {
            a.iter().zip(b).map(|(x, y)| x.checked_add(*y)).collect()
        };
        let (Some(examined), Some(clicks), Some(transitions), Some(episodes)) = (
            add(&self.examined, &other.examined),
            add(&self.clicks, &other.clicks),
            add(&self.transitions, &other.transitions),
            self.episodes.checked_add(other.episodes),
        ) else {
            return Err(Error::incompatible(
                "other: cannot merge, a count would exceed 2**64 - 1",
            ));
        };
        self.examined = examined;
        self.clicks = clicks;
        self.transitions = transitions;
        self.episodes = episodes;
        self.stale = true;
        Ok(())
    }
}

impl Persist for CascadingVI {
    const KIND: &'static str = "CascadingVI";
    fn check_invariants(&self) -> Result<()> {
        self.shape.check()?;
        self.check_params()?;
        let (s, n, h) = (self.shape.n_states, self.shape.n_items, self.shape.horizon);
        let sizes_ok = self.rewards.len() == s * (n + 1)
            && self.examined.len() == s * n
            && self.clicks.len() == s * n
            && self.transitions.len() == s * (n + 1) * s
            && (self.plan.is_empty()
                || (self.plan.len() == h * s && self.plan_values.len() == h * s))
            && (!self.plan.is_empty() || self.stale);
        if !sizes_ok {
            return Err(Error::state(
                "CascadingVI: array sizes disagree with the shape",
            ));
        }
        check_probabilities("rewards", &self.rewards)?;
        if self.clicks.iter().zip(&self.examined).any(|(c, e)| c > e) {
            return Err(Error::state("CascadingVI: more clicks than examinations"));
        }
        for list in &self.plan {
            let ints: Vec<i64> = list.iter().map(|&a| a as i64).collect();
            self.shape.check_list(&ints)?;
        }
        if self.plan_values.iter().any(|v| !v.is_finite()) {
            return Err(Error::state("CascadingVI: a planned value is not finite"));
        }
        Ok(())
    }
}

/// A cascading MDP given as arrays, with its own generator: `transitions` S x (N+1) x S
/// (rows sum to 1; row N of each state is the default item's), `attraction` S x N,
/// `rewards` S x (N+1) in [0, 1], `initial` the distribution of the first state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadingMDP {
    shape: Shape,
    transitions: Vec<f64>,
    attraction: Vec<f64>,
    rewards: Vec<f64>,
    initial: Vec<f64>,
    rng: Rng,
}

fn check_distribution(name: &str, row: &[f64], index: usize) -> Result<()> {
    check_probabilities(name, row)?;
    let total: f64 = row.iter().sum();
    if (total - 1.0).abs() > 1e-9 {
        return Err(Error::param(
            name,
            format!("row {index} sums to {}, expected 1", show(total)),
        ));
    }
    Ok(())
}

fn sample(row: &[f64], rng: &mut Rng) -> usize {
    let u = rng.uniform();
    let mut acc = 0.0;
    for (i, &p) in row.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding left u above the total: the last state with positive probability.
    row.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

impl CascadingMDP {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        transitions: &[f64],
        attraction: &[f64],
        rewards: &[f64],
        initial: &[f64],
        n_states: usize,
        n_items: usize,
        horizon: usize,
        list_len: usize,
        seed: Option<u64>,
    ) -> Result<Self> {
        let shape = Shape {
            n_states,
            n_items,
            horizon,
            list_len,
        };
        shape.check()?;
        let mdp = CascadingMDP {
            shape,
            transitions: transitions.to_vec(),
            attraction: attraction.to_vec(),
            rewards: rewards.to_vec(),
            initial: initial.to_vec(),
            rng: Rng::from_optional_seed(seed),
        };
        mdp.check_arrays()?;
        Ok(mdp)
    }

    fn check_arrays(&self) -> Result<()> {
        let (s, n) = (self.shape.n_states, self.shape.n_items);
        for (name, arr, want, shape) in [
            (
                "transitions",
                &self.transitions,
                s * (n + 1) * s,
                "(n_states, n_items + 1, n_states)",
            ),
            ("attraction", &self.attraction, s * n, "(n_states, n_items)"),
            (
                "rewards",
                &self.rewards,
                s * (n + 1),
                "(n_states, n_items + 1)",
            ),
            ("initial", &self.initial, s, "(n_states,)"),
        ] {
            if arr.len() != want {
                return Err(Error::shape(
                    name,
                    format!("expected shape {shape}: {want} values, got {}", arr.len()),
                ));
            }
        }
        check_probabilities("attraction", &self.attraction)?;
        check_probabilities("rewards", &self.rewards)?;
        for (i, row) in self.transitions.chunks(s).enumerate() {
            check_distribution("transitions", row, i)?;
        }
        check_distribution("initial", &self.initial, 0)?;
        Ok(())
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }
    pub fn transitions(&self) -> &[f64] {
        &self.transitions
    }
    pub fn attraction(&self) -> &[f64] {
        &self.attraction
    }
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }

    /// A first state drawn from `initial`.
    pub fn reset(&mut self) -> usize {
        sample(&self.initial, &mut self.rng)
    }

    /// Show `items` in `state`: (click position or None, reward, next state).
    pub fn step(&mut self, state: i64, items: &[i64]) -> Result<(Option<usize>, f64, usize)> {
        let s = self.shape.check_state("state", state)?;
        let list = self.shape.check_list(items)?;
        Ok(self.step_checked(s, &list))
    }

    fn step_checked(&mut self, s: usize, list: &[usize]) -> (Option<usize>, f64, usize) {
        let (n, s_n) = (self.shape.n_items, self.shape.n_states);
        let mut click = None;
        for (i, &a) in list.iter().enumerate() {
            if self.rng.uniform() < self.attraction[s * n + a] {
                click = Some(i);
                break;
            }
        }
        let fired = click.map_or(n, |c| list[c]);
        let row = &self.transitions[(s * (n + 1) + fired) * s_n..(s * (n + 1) + fired + 1) * s_n];
        let next = sample(row, &mut self.rng);
        (click, self.rewards[s * (n + 1) + fired], next)
    }

    /// Values of each step and state under `choose(step, state, W, scratch) -> list value`.
    fn backward(
        &self,
        mut choose: impl FnMut(usize, usize, &[f64], &[f64], f64) -> f64,
    ) -> Vec<f64> {
        let Shape {
            n_states: s_n,
            n_items: n,
            horizon: h_n,
            ..
        } = self.shape;
        let mut next_v = vec![0.0; s_n];
        let mut w = vec![0.0; n + 1];
        for h in (0..h_n).rev() {
            let mut v = vec![0.0; s_n];
            for s in 0..s_n {
                for (a, wa) in w.iter_mut().enumerate() {
                    let row =
                        &self.transitions[(s * (n + 1) + a) * s_n..(s * (n + 1) + a + 1) * s_n];
                    *wa = self.rewards[s * (n + 1) + a]
                        + row.iter().zip(&next_v).map(|(p, v)| p * v).sum::<f64>();
                }
                v[s] = choose(h, s, &self.attraction[s * n..(s + 1) * n], &w[..n], w[n]);
            }
            next_v = v;
        }
        next_v
    }

    /// The optimal expected return from the initial distribution (BestPerm at every step).
    pub fn optimal_value(&self) -> f64 {
        let m = self.shape.list_len;
        let mut scratch = Scratch::default();
        let v0 = self.backward(|_, _, q, w, w0| best_perm_into(q, w, w0, m, &mut scratch));
        v0.iter().zip(&self.initial).map(|(v, p)| v * p).sum()
    }

    /// The expected return of a plan (one list per (step, state), row-major by step).
    pub fn plan_value(&self, plan: &[Vec<usize>]) -> f64 {
        let s_n = self.shape.n_states;
        let v0 = self.backward(|h, s, q, w, w0| list_value(q, w, w0, &plan[h * s_n + s]));
        v0.iter().zip(&self.initial).map(|(v, p)| v * p).sum()
    }

    /// Runs `agent` for `episodes` episodes; returns each episode's expected regret
    /// V* - V^{plan}, the plan being the agent's at the start of the episode.
    pub fn run(&mut self, agent: &mut CascadingVI, episodes: usize) -> Result<Vec<f64>> {
        if agent.shape != self.shape {
            return Err(Error::incompatible(format!(
                "agent: its sizes ({}) differ from the environment's (n_states={}, n_items={}, horizon={}, list_len={})",
                agent.describe_params(),
                self.shape.n_states,
                self.shape.n_items,
                self.shape.horizon,
                self.shape.list_len
            )));
        }
        if agent.rewards != self.rewards {
            return Err(Error::incompatible(
                "agent: its rewards differ from the environment's",
            ));
        }
        let best = self.optimal_value();
        let mut regrets = Vec::new();
        regrets
            .try_reserve_exact(episodes)
            .map_err(|_| Error::memory("episodes", format!("{episodes} regrets")))?;
        for _ in 0..episodes {
            let mut s = self.reset();
            agent.ensure_plan(0);
            regrets.push((best - self.plan_value(&agent.plan)).max(0.0));
            for h in 0..self.shape.horizon {
                let list = agent.plan[h * self.shape.n_states + s].clone();
                let (click, _, next) = self.step_checked(s, &list);
                let items: Vec<i64> = list.iter().map(|&a| a as i64).collect();
                agent.update(
                    s as i64,
                    h as i64,
                    &items,
                    click.map(|c| c as i64),
                    next as i64,
                )?;
                s = next;
            }
        }
        Ok(regrets)
    }
}

impl Persist for CascadingMDP {
    const KIND: &'static str = "CascadingMDP";
    fn check_invariants(&self) -> Result<()> {
        self.shape.check()?;
        self.check_arrays()?;
        if !self.rng.is_valid() {
            return Err(Error::state("generator state is all zeros"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(q: &[f64], w: &[f64], w0: f64, m: usize) -> f64 {
        fn go(q: &[f64], w: &[f64], w0: f64, m: usize, list: &mut Vec<usize>, best: &mut f64) {
            *best = best.max(list_value(q, w, w0, list));
            if list.len() == m {
                return;
            }
            for a in 0..q.len() {
                if !list.contains(&a) {
                    list.push(a);
                    go(q, w, w0, m, list, best);
                    list.pop();
                }
            }
        }
        let mut best = f64::NEG_INFINITY;
        go(q, w, w0, m, &mut Vec::new(), &mut best);
        best
    }

    #[test]
    fn best_perm_equals_brute_force() {
        for seed in 0..500 {
            let mut rng = Rng::seed_from_u64(seed);
            let n = 1 + rng.below(6) as usize;
            let m = rng.below(4) as usize;
            let q: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
            let w: Vec<f64> = (0..n).map(|_| 3.0 * rng.uniform() - 1.0).collect();
            let w0 = rng.uniform();
            let (value, list) = best_perm(&q, &w, w0, m).unwrap();
            let want = brute(&q, &w, w0, m.min(n));
            assert!(
                (value - want).abs() < 1e-12,
                "seed {seed}: {value} vs {want}"
            );
            assert!((list_value(&q, &w, w0, &list) - value).abs() < 1e-12);
            assert!(list.len() <= m);
        }
    }

    #[test]
    fn one_state_one_step_gives_top_items_by_attraction() {
        let q = [0.1, 0.5, 0.3, 0.7, 0.2];
        let (_, list) = best_perm(&q, &[1.0; 5], 0.0, 3).unwrap();
        assert_eq!(list, vec![3, 1, 2]);
    }

    #[test]
    fn errors_name_arguments() {
        assert!(best_perm(&[0.5, 1.5], &[1.0, 1.0], 0.0, 1)
            .unwrap_err()
            .to_string()
            .starts_with("attraction:"));
        assert!(best_perm(&[0.5], &[1.0, 1.0], 0.0, 1)
            .unwrap_err()
            .to_string()
            .starts_with("values:"));
        assert!(best_perm(&[0.5], &[1.0], f64::NAN, 1)
            .unwrap_err()
            .to_string()
            .starts_with("default_value:"));
    }

    pub(crate) fn random_mdp(seed: u64, s_n: usize, n: usize, h: usize, m: usize) -> CascadingMDP {
        let mut rng = Rng::seed_from_u64(seed);
        let mut transitions = Vec::new();
        for _ in 0..s_n * (n + 1) {
            let row: Vec<f64> = (0..s_n).map(|_| rng.uniform() + 0.05).collect();
            let total: f64 = row.iter().sum();
            transitions.extend(row.iter().map(|v| v / total));
        }
        let attraction: Vec<f64> = (0..s_n * n).map(|_| 0.1 + 0.5 * rng.uniform()).collect();
        let mut rewards: Vec<f64> = (0..s_n * (n + 1)).map(|_| rng.uniform()).collect();
        for s in 0..s_n {
            rewards[s * (n + 1) + n] = 0.0;
        }
        let mut initial = vec![0.0; s_n];
        initial[0] = 1.0;
        CascadingMDP::new(
            &transitions,
            &attraction,
            &rewards,
            &initial,
            s_n,
            n,
            h,
            m,
            Some(seed),
        )
        .unwrap()
    }

    #[test]
    fn cascading_vi_regret_is_sublinear() {
        let mut first = 0.0;
        let mut last = 0.0;
        for seed in 0..3 {
            let mut env = random_mdp(seed, 3, 6, 3, 2);
            let mut agent = CascadingVI::new(env.rewards(), 3, 6, 3, 2, 0.5, 0.05).unwrap();
            let r = env.run(&mut agent, 3000).unwrap();
            let a: f64 = r[..300].iter().sum();
            let b: f64 = r[2700..].iter().sum();
            eprintln!(
                "seed {seed}: first {a:.2} last {b:.2} total {:.2} best {:.3}",
                r.iter().sum::<f64>(),
                env.optimal_value()
            );
            first += a;
            last += b;
        }
        assert!(last < 0.25 * first, "{first} {last}");
    }
}
