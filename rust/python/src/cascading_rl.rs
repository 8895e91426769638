//! Glue for cascading RL: the BestPerm oracle, CascadingVI and the array-given CascadingMDP.

use crate::convert::{
    count_arg, owned_float64, owned_float64_nd, owned_int64, real_arg, seed_arg, with_lock,
    with_lock_detached,
};
use crate::errors::{shape_error, IntoPyResult};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use regretless_core::cascading_rl::{best_perm as core_best_perm, CascadingMDP, CascadingVI};
use std::sync::Mutex;

/// BestPerm (Du, Srikant and Chen, ICLR 2024): the best ordered list of at most
/// ``max_len`` distinct items in the cascade, given each item's attraction probability
/// ``attraction[a]``, its value when clicked ``values[a]`` (reward plus continuation value)
/// and the value ``default_value`` when nothing is clicked. Maximizes
/// ``sum_i prod_{j<i}(1 - q_j) q_i W_i + prod_j (1 - q_j) W_default`` exactly in
/// O(N log N + N max_len): a chosen set is best in descending value (swapping neighbours
/// changes the value by ``q_i q_{i+1} (W_i - W_{i+1})``), so the set is a dynamic program over
/// the items in that order. Returns ``(value, items)``; ties go to the longer list.
///
/// >>> import regretless
/// >>> value, items = regretless.best_perm([0.5, 0.9, 0.2], [1.0, 0.3, 2.0], 0.0, 2)
/// >>> items, round(value, 4)
/// ([2, 0], 0.8)
#[pyfunction]
#[pyo3(signature = (attraction, values, default_value, max_len))]
pub fn best_perm(
    py: Python<'_>,
    attraction: &Bound<'_, PyAny>,
    values: &Bound<'_, PyAny>,
    default_value: &Bound<'_, PyAny>,
    max_len: &Bound<'_, PyAny>,
) -> PyResult<(f64, Vec<usize>)> {
    let q = owned_float64(attraction, "attraction")?;
    let w = owned_float64(values, "values")?;
    let w0 = real_arg(default_value, "default_value")?;
    let m = count_arg(max_len, "max_len")?;
    core_best_perm(q.as_slice()?, w.as_slice()?, w0, m).py_err(py)
}

fn items_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    Ok(owned_int64(obj, "items")?.as_slice()?.to_vec())
}

fn index_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    crate::convert::arm_arg(obj, name)
}

/// CascadingVI (Du, Srikant and Chen, ICLR 2024): optimistic value iteration for cascading
/// RL, an episodic MDP in which each step shows a ranked list of at most ``list_len``
/// items; the user clicks the first attractive one (item ``a`` with probability ``q(s, a)``),
/// which pays ``r(s, a)`` and moves the state, or nothing, and the default item fires.
/// ``rewards`` (n_states, n_items + 1) are known (the last column is the default item's, in
/// [0, 1]); attraction probabilities and transitions are learned from counts. Each episode's
/// plan is made at its first step: ``q_bar = min(1, q_hat + b)``,
/// ``W_bar = min(H - h, r + p_hat' V_bar + (H - h - 1) b)``,
/// ``b = bonus * sqrt(ln(S (N+1) H (k+1) / delta) / n)``, ``V_bar = BestPerm(q_bar, W_bar)``
/// (unobserved pairs fully optimistic). Deterministic (no seed). The counts add up, so
/// ``merge`` equals learning both data sets. Regret ``O~(H sqrt(H S N K))``, independent of the
/// number of lists.
///
/// >>> import numpy as np, regretless
/// >>> rewards = np.array([[1.0, 0.5, 0.0]])  # one state, two items, then the default
/// >>> agent = regretless.CascadingVI(rewards, horizon=1, list_len=1)
/// >>> agent.select_list(0, 0)
/// [0]
/// >>> agent.update(0, 0, [0], None, 0)  # item 0 examined, not clicked
/// >>> agent.n_episodes
/// 1
#[pyclass(name = "CascadingVI", module = "regretless", frozen)]
pub struct PyCascadingVI {
    inner: Mutex<CascadingVI>,
}

crate::persist::locked_state_class!(PyCascadingVI => CascadingVI);
crate::persist::merge_method!(
    PyCascadingVI,
    CascadingVI::merge,
    "Add another learner's counts (same rewards, sizes and hyperparameters): equal to\nlearning both data sets. The next episode replans. Raises IncompatibleError, changing\nnothing, when they differ."
);

fn reshape_u64<'py>(py: Python<'py>, v: Vec<u64>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let a = PyArray1::from_vec(py, crate::convert::u64_to_i64(v));
    Ok(a.reshape(shape.to_vec())?.into_any())
}

#[pymethods]
impl PyCascadingVI {
    #[new]
    #[pyo3(signature = (rewards, *, horizon, list_len, bonus = 1.0, delta = 0.05))]
    fn new(
        py: Python<'_>,
        rewards: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::convert::int::horizon)] horizon: usize,
        list_len: &Bound<'_, PyAny>,
        bonus: f64,
        delta: f64,
    ) -> PyResult<Self> {
        let (r, shape) = owned_float64_nd(rewards, "rewards")?;
        if shape.len() != 2 || shape[1] < 2 {
            return Err(shape_error(
                py,
                format!("rewards: expected shape (n_states, n_items + 1) with at least one item, got {shape:?}"),
            ));
        }
        let m = count_arg(list_len, "list_len")?;
        Ok(Self::wrap(
            CascadingVI::new(
                r.as_slice()?,
                shape[0],
                shape[1] - 1,
                horizon,
                m,
                bonus,
                delta,
            )
            .py_err(py)?,
        ))
    }

    /// The list to show in ``state`` at ``step`` (0-based): the episode's plan, made afresh at
    /// step 0 when data arrived since the last plan.
    fn select_list(
        &self,
        py: Python<'_>,
        state: &Bound<'_, PyAny>,
        step: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<usize>> {
        let (s, h) = (index_arg(state, "state")?, index_arg(step, "step")?);
        with_lock(py, &self.inner, |p| p.select_list(s, h)).py_err(py)
    }

    /// Record one step: ``items`` shown in ``state`` at ``step``, the list position clicked
    /// (None: no click, the default item fired) and the next state. Items up to the click
    /// were examined; the clicked item (or the default) made the transition.
    #[pyo3(signature = (state, step, items, click, next_state))]
    fn update(
        &self,
        py: Python<'_>,
        state: &Bound<'_, PyAny>,
        step: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
        click: Option<&Bound<'_, PyAny>>,
        next_state: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (s, h) = (index_arg(state, "state")?, index_arg(step, "step")?);
        let items = items_arg(items)?;
        let click = match click.filter(|c| !c.is_none()) {
            Some(c) => Some(index_arg(c, "click")?),
            None => None,
        };
        let next = index_arg(next_state, "next_state")?;
        with_lock(py, &self.inner, |p| p.update(s, h, &items, click, next)).py_err(py)
    }

    /// The current plan: ``plan()[step][state]`` is the list shown there.
    fn plan(&self, py: Python<'_>) -> Vec<Vec<Vec<usize>>> {
        with_lock(py, &self.inner, |p| {
            let s = p.shape().n_states;
            p.plan().chunks(s).map(|c| c.to_vec()).collect()
        })
    }

    /// Optimistic values of the current plan: (horizon, n_states).
    fn plan_values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, h, s) = with_lock(py, &self.inner, |p| {
            let sh = p.shape();
            (p.plan_values().to_vec(), sh.horizon, sh.n_states)
        });
        PyArray1::from_vec(py, v).reshape([h, s])
    }

    /// Times each item was examined in each state: (n_states, n_items).
    fn examined_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (v, sh) = with_lock(py, &self.inner, |p| (p.examined().to_vec(), p.shape()));
        reshape_u64(py, v, &[sh.n_states, sh.n_items])
    }

    /// Times each item was clicked in each state: (n_states, n_items).
    fn click_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (v, sh) = with_lock(py, &self.inner, |p| (p.clicks().to_vec(), p.shape()));
        reshape_u64(py, v, &[sh.n_states, sh.n_items])
    }

    /// Transitions observed: (n_states, n_items + 1, n_states).
    fn transition_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (v, sh) = with_lock(py, &self.inner, |p| (p.transitions().to_vec(), p.shape()));
        reshape_u64(py, v, &[sh.n_states, sh.n_items + 1, sh.n_states])
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!("CascadingVI({})", p.describe_params())
        })
    }
}

crate::methods::lock_getters!(PyCascadingVI {
    /// Steps learned (``update`` calls that succeeded, one per step of an episode).
    n_updates: u64,
    /// Episodes completed (updates at the last step).
    n_episodes: u64,
    /// Number of states.
    n_states: usize => |p| p.shape().n_states,
    /// Number of items (the default item not counted).
    n_items: usize => |p| p.shape().n_items,
    /// The horizon (pulls, or steps per episode).
    horizon: usize => |p| p.shape().horizon,
    /// Most items shown per list.
    list_len: usize => |p| p.shape().list_len,
});

/// A cascading MDP given as arrays, with its own seeded generator: ``transitions``
/// (n_states, n_items + 1, n_states) (each row a distribution; index ``n_items`` is the
/// default item's), ``attraction`` (n_states, n_items), ``rewards`` (n_states, n_items + 1)
/// in [0, 1], ``initial`` the first state's distribution (default: state 0). ``run(agent,
/// episodes)`` plays a CascadingVI and returns each episode's expected regret
/// ``V* - V^plan`` (the agent's plan at the episode's start, evaluated exactly).
///
/// >>> import numpy as np, regretless
/// >>> P = np.ones((1, 3, 1)); q = np.array([[0.5, 0.9]]); r = np.array([[1.0, 0.3, 0.0]])
/// >>> env = regretless.CascadingMDP(P, q, r, horizon=1, list_len=2, seed=0)
/// >>> round(env.optimal_value(), 4)  # item 0 first (more valuable), then item 1
/// 0.635
#[pyclass(name = "CascadingMDP", module = "regretless", frozen)]
pub struct PyCascadingMDP {
    inner: Mutex<CascadingMDP>,
}

crate::persist::locked_state_class!(PyCascadingMDP => CascadingMDP);

#[pymethods]
impl PyCascadingMDP {
    #[new]
    #[pyo3(signature = (transitions, attraction, rewards, *, horizon, list_len, initial = None, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        transitions: &Bound<'_, PyAny>,
        attraction: &Bound<'_, PyAny>,
        rewards: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::convert::int::horizon)] horizon: usize,
        list_len: &Bound<'_, PyAny>,
        initial: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (q, qs) = owned_float64_nd(attraction, "attraction")?;
        if qs.len() != 2 {
            return Err(shape_error(
                py,
                format!("attraction: expected shape (n_states, n_items), got {qs:?}"),
            ));
        }
        let (s, n) = (qs[0], qs[1]);
        let (p, ps) = owned_float64_nd(transitions, "transitions")?;
        if ps != [s, n + 1, s] {
            return Err(shape_error(
                py,
                format!("transitions: expected shape (n_states, n_items + 1, n_states) = ({s}, {}, {s}), got {ps:?}", n + 1),
            ));
        }
        let (r, rs) = owned_float64_nd(rewards, "rewards")?;
        if rs != [s, n + 1] {
            return Err(shape_error(
                py,
                format!(
                    "rewards: expected shape (n_states, n_items + 1) = ({s}, {}), got {rs:?}",
                    n + 1
                ),
            ));
        }
        let init = match initial.filter(|i| !i.is_none()) {
            Some(i) => owned_float64(i, "initial")?.as_slice()?.to_vec(),
            None => {
                let mut v = vec![0.0; s];
                if let Some(first) = v.first_mut() {
                    *first = 1.0;
                }
                v
            }
        };
        let m = count_arg(list_len, "list_len")?;
        Ok(Self::wrap(
            CascadingMDP::new(
                p.as_slice()?,
                q.as_slice()?,
                r.as_slice()?,
                &init,
                s,
                n,
                horizon,
                m,
                seed_arg(seed)?,
            )
            .py_err(py)?,
        ))
    }

    /// A first state drawn from ``initial``.
    fn reset(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |e| e.reset())
    }

    /// Show ``items`` in ``state``: (click position or None, reward, next state).
    fn step(
        &self,
        py: Python<'_>,
        state: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
    ) -> PyResult<(Option<usize>, f64, usize)> {
        let s = index_arg(state, "state")?;
        let items = items_arg(items)?;
        with_lock(py, &self.inner, |e| e.step(s, &items)).py_err(py)
    }

    /// The optimal expected return from the initial distribution.
    fn optimal_value(&self, py: Python<'_>) -> f64 {
        with_lock_detached(py, &self.inner, |e| e.optimal_value())
    }

    /// Run ``agent`` (a CascadingVI of the same sizes and rewards) for ``episodes``
    /// episodes; returns each episode's expected regret (float64).
    fn run<'py>(
        &self,
        py: Python<'py>,
        agent: &Bound<'py, PyCascadingVI>,
        episodes: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let episodes = count_arg(episodes, "episodes")?;
        let agent = agent.get();
        // Two locks, always in this order (environment, then agent).
        let regrets = with_lock_detached(py, &self.inner, |e| {
            let mut a = agent.inner.lock().unwrap_or_else(|p| p.into_inner());
            e.run(&mut a, episodes)
        })
        .py_err(py)?;
        Ok(PyArray1::from_vec(py, regrets))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            let s = e.shape();
            format!(
                "CascadingMDP(n_states={}, n_items={}, horizon={}, list_len={})",
                s.n_states, s.n_items, s.horizon, s.list_len
            )
        })
    }
}

crate::methods::lock_getters!(PyCascadingMDP {
    /// Number of states.
    n_states: usize => |e| e.shape().n_states,
    /// Number of items (the default item not counted).
    n_items: usize => |e| e.shape().n_items,
    /// The horizon (pulls, or steps per episode).
    horizon: usize => |e| e.shape().horizon,
    /// Most items shown per list.
    list_len: usize => |e| e.shape().list_len,
});
