//! Glue for action-dependent (reactive) rewards, `regretless_core::reactive`: recovering
//! rewards (PeriodicUCB, RecoveringEnv), last-switch-dependent bandits (LSDExploreCommit,
//! LSDEnv) and weighted tallying bandits (TallyingElimination, TallyingEnv), with
//! `simulate_reactive`.

use crate::bandit::Bandit;
use crate::convert::{arm_arg, owned_float64, owned_float64_nd, seed_arg, u64_arg, with_lock};
use crate::eligible::eligible_arg;
use crate::errors::{shape_error, IntoPyResult};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use regretless_core::policy::{PolicyVisitor, Registered};
use regretless_core::reactive::{
    self, Agent, Baseline, LSDEnv, LSDExploreCommit, PeriodicUCB, ReactiveModel, ReactiveRun,
    RecoveringEnv, TallyingElimination, TallyingEnv,
};
use std::sync::Mutex;

fn table<'py>(
    py: Python<'py>,
    v: Vec<f64>,
    cols: usize,
) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
    let rows = v.len() / cols.max(1);
    PyArray1::from_vec(py, v).reshape([rows, cols])
}

fn table_u64<'py>(
    py: Python<'py>,
    v: Vec<u64>,
    cols: usize,
) -> PyResult<Bound<'py, numpy::PyArray2<i64>>> {
    let rows = v.len() / cols.max(1);
    PyArray1::from_vec(py, crate::convert::u64_to_i64(v)).reshape([rows, cols])
}

/// A 2-D float table argument: (values, rows, cols).
fn table_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<f64>, usize, usize)> {
    let (v, shape) = owned_float64_nd(obj, name)?;
    if shape.len() != 2 {
        return Err(shape_error(
            obj.py(),
            format!("{name}: expected a 2-D array (n_arms, columns), got shape {shape:?}"),
        ));
    }
    Ok((v.as_slice()?.to_vec(), shape[0], shape[1]))
}

/// `per_period` (default 1), at least 1.
fn per_period_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    match obj.filter(|v| !v.is_none()) {
        Some(v) => Ok(u64_arg(v, "per_period", 1)?.min(usize::MAX as u64) as usize),
        None => Ok(1),
    }
}

fn optional_curve<'py>(py: Python<'py>, v: Option<Vec<f64>>) -> Option<Bound<'py, PyArray1<f64>>> {
    v.map(|v| PyArray1::from_vec(py, v))
}

// ---- recovering rewards ---------------------------------------------------------------------

/// PeriodicUCB (Simchi-Levi, Zheng and Zhu, ICML 2021), for recovering rewards: arm i pulled
/// after an idle time of d periods pays ``R_i(d)``, nondecreasing in d and constant from
/// ``d_max`` on; up to ``per_period`` arms (default 1) are pulled per period.
///
/// It plays purely periodic policies (arm i every ``p_i`` periods), chosen with optimism: in
/// epochs of doubling length it takes per (arm, idle time) cell ``U = min(1, mean +
/// sqrt(2 ln T / n))`` (1 for unseen cells), made nondecreasing in d, and solves the
/// relaxation ``max sum_i U_i(p_i) / p_i`` s.t. ``sum_i 1 / p_i <= per_period`` by Lagrangian
/// bisection (the capacity it leaves is filled greedily); within the epoch each period pulls
/// up to ``per_period`` arms whose elapsed time has reached ``p_i``, most overdue first.
/// ``select()`` returns the period's arms (int64; possibly none) and advances the clock;
/// ``update(arm, reward)`` records the reward of a pull it handed out. Rewards in [0, 1].
/// Not mergeable (its statistics are tied to one schedule).
///
/// >>> import regretless
/// >>> env = regretless.RecoveringEnv.exponential([0.9, 0.6], [3.0, 1.0], d_max=4, seed=0)
/// >>> policy = regretless.PeriodicUCB(2, d_max=4, horizon=2000, seed=0)
/// >>> run = regretless.simulate_reactive(policy, env, 2000, seed=1)
/// >>> bool(run["benchmark_regret"][-1] < 0.1 * run["benchmark"][-1])
/// True
/// >>> fresh = regretless.PeriodicUCB(2, d_max=4, horizon=100, seed=0)
/// >>> fresh.select(eligible=[1]).tolist(), fresh.periods().tolist()  # arm 1 is not due
/// ([], [1, 0])
/// >>> fresh.select().tolist()  # arm 0, left out, is still due
/// [0]
#[pyclass(name = "PeriodicUCB", module = "regretless", frozen)]
pub struct PyPeriodicUCB {
    inner: Mutex<PeriodicUCB>,
}

crate::persist::locked_state_class!(PyPeriodicUCB => PeriodicUCB);

#[pymethods]
impl PyPeriodicUCB {
    #[new]
    #[pyo3(signature = (n_arms, d_max, *, horizon, per_period = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        d_max: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        per_period: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let d_max = u64_arg(d_max, "d_max", 1)? as usize;
        let per_period = per_period_arg(per_period)?;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        Ok(Self::wrap(
            PeriodicUCB::new(n_arms, d_max, per_period, horizon, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// The arms to pull this period (int64, at most ``per_period``, possibly none). With
    /// ``eligible`` (a boolean mask of length n_arms or distinct arm indices), only the
    /// due arms among those, most overdue first: a due arm left out stays due, more
    /// overdue the next period (the epoch's plan is unchanged); raises
    /// InvalidParameterError when no arm is eligible.
    #[pyo3(signature = (*, eligible = None))]
    fn select<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let e = eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))?;
        let arms = match e {
            None => with_lock(py, &self.inner, |p| p.select()),
            Some(e) => with_lock(py, &self.inner, |p| p.select_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(
            py,
            arms.into_iter().map(|a| a as i64).collect(),
        ))
    }

    /// The monotonized upper confidence bounds, (n_arms, d_max): column d - 1 is idle time d.
    fn ucb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, d) = with_lock(py, &self.inner, |p| (p.ucb(), p.d_max()));
        table(py, v, d)
    }

    /// Rewards recorded per (arm, idle time) cell, (n_arms, d_max) int64.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<i64>>> {
        let (v, d) = with_lock(py, &self.inner, |p| (p.counts(), p.d_max()));
        table_u64(py, v, d)
    }

    /// Mean reward per (arm, idle time) cell, (n_arms, d_max) (0 where unseen).
    fn means<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, d) = with_lock(py, &self.inner, |p| (p.means(), p.d_max()));
        table(py, v, d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "PeriodicUCB(n_arms={}, d_max={}, horizon={}, per_period={})",
                p.n_arms(),
                p.d_max(),
                p.horizon(),
                p.per_period()
            )
        })
    }
}

crate::methods::lock_arrays!(PyPeriodicUCB {
    /// The current epoch's period of each arm (int64; 0: not played this epoch).
    periods: Vec<u32> => |p| p.periods().to_vec(),
});

crate::methods::lock_getters!(PyPeriodicUCB {
    n_arms: usize,
    d_max: usize,
    per_period: usize,
    horizon: u64,
    /// Rewards learned (``update`` calls that succeeded).
    n_updates: u64,
    /// Periods decided (``select`` calls).
    n_periods: u64,
});

crate::methods::arm_reward_update!(
    /// Record the reward (in [0, 1]) of a pull of ``arm`` handed out by ``select``.
    PyPeriodicUCB,
    arm
);

/// A recovering-rewards environment: ``curves[i, d - 1]`` is arm i's mean reward when
/// pulled after an idle time of d periods (nondecreasing in d; the last column holds for
/// every longer idle time), Bernoulli rewards, up to ``per_period`` distinct arms pulled per
/// period. Every arm starts fully recovered. ``RecoveringEnv.exponential(mu, tau, d_max)``
/// builds ``R_i(d) = mu_i (1 - exp(-d / tau_i))``.
///
/// >>> import regretless
/// >>> env = regretless.RecoveringEnv([[0.2, 0.8], [0.5, 0.5]], seed=0)
/// >>> env.means().tolist()
/// [0.8, 0.5]
/// >>> _ = env.pull([0])
/// >>> env.means().tolist(), env.idle().tolist()
/// ([0.2, 0.5], [1, 2])
#[pyclass(name = "RecoveringEnv", module = "regretless", frozen)]
pub struct PyRecoveringEnv {
    inner: Mutex<RecoveringEnv>,
}

crate::persist::locked_state_class!(PyRecoveringEnv => RecoveringEnv);

#[pymethods]
impl PyRecoveringEnv {
    #[new]
    #[pyo3(signature = (curves, *, per_period = None, seed = None))]
    fn new(
        py: Python<'_>,
        curves: &Bound<'_, PyAny>,
        per_period: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (v, n, d) = table_arg(curves, "curves")?;
        let k = per_period_arg(per_period)?;
        Ok(Self::wrap(
            RecoveringEnv::new(&v, n, d, k, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// ``R_i(d) = mu_i (1 - exp(-d / tau_i))`` for d = 1..d_max.
    #[staticmethod]
    #[pyo3(signature = (mu, tau, d_max, *, per_period = None, seed = None))]
    fn exponential(
        py: Python<'_>,
        mu: &Bound<'_, PyAny>,
        tau: &Bound<'_, PyAny>,
        d_max: &Bound<'_, PyAny>,
        per_period: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mu = owned_float64(mu, "mu")?;
        let tau = owned_float64(tau, "tau")?;
        let d = u64_arg(d_max, "d_max", 1)? as usize;
        let k = per_period_arg(per_period)?;
        Ok(Self::wrap(
            RecoveringEnv::exponential(mu.as_slice()?, tau.as_slice()?, d, k, seed_arg(seed)?)
                .py_err(py)?,
        ))
    }

    /// Pull ``arms`` (distinct, at most ``per_period``) this period: their rewards.
    fn pull<'py>(
        &self,
        py: Python<'py>,
        arms: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let arms = crate::convert::owned_int64(arms, "arms")?;
        let a = arms.as_slice()?;
        let r = with_lock(py, &self.inner, |e| e.pull(a)).py_err(py)?;
        Ok(PyArray1::from_vec(py, r))
    }

    /// The recovery curves, (n_arms, d_max).
    fn curves<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, d) = with_lock(py, &self.inner, |e| (e.curves().to_vec(), e.d_max()));
        table(py, v, d)
    }

    /// The optimal expected cumulative reward from now over 1..=horizon periods (exact
    /// dynamic programming over the capped idle times), or None when the state space is too
    /// large.
    fn optimal<'py>(
        &self,
        py: Python<'py>,
        horizon: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyArray1<f64>>>> {
        let h = crate::convert::batch_count_arg(horizon, "horizon")?;
        let env = with_lock(py, &self.inner, |e| e.clone());
        Ok(optional_curve(
            py,
            py.detach(|| reactive::optimal_curve(&env, h)),
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            format!(
                "RecoveringEnv(n_arms={}, d_max={}, per_period={})",
                e.n_arms(),
                e.d_max(),
                ReactiveModel::per_period(e)
            )
        })
    }
}

crate::methods::lock_arrays!(PyRecoveringEnv {
    /// Expected reward of each arm if pulled now.
    means: Vec<f64>,
    /// Idle time of each arm now, capped at ``d_max`` (int64).
    idle: Vec<usize>,
});

crate::methods::lock_getters!(PyRecoveringEnv {
    n_arms: usize,
    d_max: usize,
    per_period: usize => |e| ReactiveModel::per_period(e),
    /// Pulls made.
    n_pulls: u64,
    /// Periods played.
    n_periods: u64,
});

// ---- last-switch-dependent bandits ----------------------------------------------------------

/// Explore-then-commit for last-switch-dependent (LSD) bandits (Foussoul, Goyal,
/// Papadigenopoulos and Zeevi 2023): an arm's payoff depends on the signed time since its
/// last switch, nonincreasing while it is played on (satiation), nondecreasing while it
/// rests (deprivation), both truncated at ``tau_max``; one arm per round.
///
/// Explores in cycles (each arm in turn is played ``tau_max + 1`` rounds in a row, then rests
/// d = 1..tau_max rounds while the others fill in) until every (arm, state) cell has ``n0``
/// rewards, ``n0 = ceil((horizon / (n_arms tau_max))^(2/3))`` by default; then plans the best
/// cyclic schedule (every sequence up to a length L, L <= 2 tau_max + 2 and at most 2^17
/// candidates, valued by its steady-state mean on the estimates) and repeats it. Its regret
/// against the same planner with the true payoffs grows like ``T^(2/3)``. Rewards in
/// [0, 1]. ``counts()`` / ``means()`` are (n_arms, 2 tau_max): played on 1..tau_max rounds,
/// then idle 1..tau_max rounds. Not mergeable.
///
/// >>> import regretless
/// >>> env = regretless.LSDEnv([[0.9, 0.2], [0.6, 0.5]], [[0.3, 0.9], [0.4, 0.6]], seed=0)
/// >>> policy = regretless.LSDExploreCommit(2, tau_max=2, horizon=5000, seed=0)
/// >>> run = regretless.simulate_reactive(policy, env, 5000, seed=1)
/// >>> bool(run["benchmark_regret"][-1] < 0.15 * run["benchmark"][-1])  # T^(2/3) exploring
/// True
/// >>> fresh = regretless.LSDExploreCommit(2, tau_max=2, horizon=100, seed=0)
/// >>> fresh.copy().select(), fresh.select(eligible=[1])  # the schedule's arm 0 masked out
/// (0, 1)
#[pyclass(name = "LSDExploreCommit", module = "regretless", frozen)]
pub struct PyLSDExploreCommit {
    inner: Mutex<LSDExploreCommit>,
}

crate::persist::locked_state_class!(PyLSDExploreCommit => LSDExploreCommit);

#[pymethods]
impl PyLSDExploreCommit {
    #[new]
    #[pyo3(signature = (n_arms, tau_max, *, horizon, n0 = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        tau_max: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        n0: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let tau_max = u64_arg(tau_max, "tau_max", 1)? as usize;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        let n0 = match n0.filter(|v| !v.is_none()) {
            Some(v) => Some(u64_arg(v, "n0", 1)?),
            None => None,
        };
        Ok(Self::wrap(
            LSDExploreCommit::new(n_arms, tau_max, horizon, n0, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// Rewards recorded per (arm, state) cell, (n_arms, 2 tau_max) int64.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<i64>>> {
        let (v, t) = with_lock(py, &self.inner, |p| (p.counts(), p.tau_max()));
        table_u64(py, v, 2 * t)
    }

    /// Mean reward per (arm, state) cell, (n_arms, 2 tau_max) (0 where unseen).
    fn means<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, t) = with_lock(py, &self.inner, |p| (p.means(), p.tau_max()));
        table(py, v, 2 * t)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "LSDExploreCommit(n_arms={}, tau_max={}, horizon={}, n0={})",
                p.n_arms(),
                p.tau_max(),
                p.horizon(),
                p.n0()
            )
        })
    }
}

crate::methods::lock_getters!(PyLSDExploreCommit {
    /// The committed cycle of arms (None while exploring).
    cycle: Option<Vec<usize>> => |p| p.cycle().map(|c| c.to_vec()),
    n_arms: usize,
    tau_max: usize,
    horizon: u64,
    /// Rewards per cell that end exploration.
    n0: u64,
    /// Rewards learned (``update`` calls that succeeded).
    n_updates: u64,
});

crate::methods::arm_reward_update!(
    /// Record the reward (in [0, 1]) of a play of ``arm`` handed out by ``select``.
    PyLSDExploreCommit,
    arm
);

crate::methods::eligible_select!(
    /// The arm to play this round. With ``eligible`` (a boolean mask of length n_arms or
    /// distinct arm indices): the schedule's arm (exploration block or committed cycle) when
    /// it is eligible; otherwise the schedule waits and the eligible arm with the highest
    /// ``scores()`` is played, ties at random (its reward is still recorded in its cell).
    /// Raises InvalidParameterError when no arm is eligible.
    PyLSDExploreCommit,
    n_arms
);

crate::methods::eligible_scores!(
    /// The estimated payoff of playing each arm now: the mean reward of its (arm, current
    /// state) cell, inf for a cell with no reward yet; with ``eligible``, -inf outside it.
    PyLSDExploreCommit,
    n_arms
);

/// A last-switch-dependent environment: arm i played on for tau consecutive rounds before
/// this one pays ``satiation[i, tau - 1]`` (nonincreasing in tau), idle for tau rounds it pays
/// ``deprivation[i, tau - 1]`` (nondecreasing); tau is capped at ``tau_max`` (the columns);
/// Bernoulli rewards; one arm per round; every arm starts idle for ``tau_max`` rounds.
///
/// >>> import regretless
/// >>> env = regretless.LSDEnv([[0.9, 0.2], [0.6, 0.5]], [[0.3, 0.9], [0.4, 0.6]], seed=0)
/// >>> _ = env.pull(0)
/// >>> env.states().tolist(), env.means().tolist()
/// ([1, -2], [0.9, 0.6])
#[pyclass(name = "LSDEnv", module = "regretless", frozen)]
pub struct PyLSDEnv {
    inner: Mutex<LSDEnv>,
}

crate::persist::locked_state_class!(PyLSDEnv => LSDEnv);

#[pymethods]
impl PyLSDEnv {
    #[new]
    #[pyo3(signature = (satiation, deprivation, *, seed = None))]
    fn new(
        py: Python<'_>,
        satiation: &Bound<'_, PyAny>,
        deprivation: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (s, n, t) = table_arg(satiation, "satiation")?;
        let (d, n2, t2) = table_arg(deprivation, "deprivation")?;
        if (n2, t2) != (n, t) {
            return Err(shape_error(
                py,
                format!("deprivation: expected shape ({n}, {t}) like satiation, got ({n2}, {t2})"),
            ));
        }
        Ok(Self::wrap(
            LSDEnv::new(&s, &d, n, t, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// Play ``arm``: its reward.
    fn pull(&self, py: Python<'_>, arm: &Bound<'_, PyAny>) -> PyResult<f64> {
        let arm = arm_arg(arm, "arm")?;
        with_lock(py, &self.inner, |e| e.pull(arm)).py_err(py)
    }

    /// The optimal expected cumulative reward from now over 1..=horizon rounds (exact
    /// dynamic programming over the arms' signed states), or None when too large.
    fn optimal<'py>(
        &self,
        py: Python<'py>,
        horizon: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyArray1<f64>>>> {
        let h = crate::convert::batch_count_arg(horizon, "horizon")?;
        let env = with_lock(py, &self.inner, |e| e.clone());
        Ok(optional_curve(
            py,
            py.detach(|| reactive::optimal_curve(&env, h)),
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            format!("LSDEnv(n_arms={}, tau_max={})", e.n_arms(), e.tau_max())
        })
    }
}

crate::methods::lock_arrays!(PyLSDEnv {
    /// Expected payoff of each arm if played now.
    means: Vec<f64>,
    /// The signed state of each arm (int64): +tau played on for tau rounds, -tau idle.
    states: Vec<i32> => |e| e.states().to_vec(),
});

crate::methods::lock_getters!(PyLSDEnv {
    n_arms: usize,
    tau_max: usize,
    /// Pulls made.
    n_pulls: u64,
});

// ---- weighted tallying bandits --------------------------------------------------------------

/// Successive elimination with warm-up plays for weighted tallying bandits (Malik, Igoe, Li
/// and Singh 2023): arm a's mean depends on a weighted count of its plays in the last m
/// rounds, m unknown but at most ``max_window``.
///
/// Phase k = 1, 2, ... plays each active arm ``max_window + 2^k`` times in a row and discards
/// the first ``max_window`` rewards of each block (the tally is still filling), so the kept
/// rewards estimate the arm's value when played consistently; at the end of a phase arm a is
/// eliminated if ``mean_a + c_a < max_b (mean_b - c_b)``, ``c_a = sqrt(2 ln(2 K T^2) / N_a)``
/// (``N_a`` kept rewards); the last arm is played forever. This finds an arm that looks bad
/// when played sporadically and is best when played consistently, which UCB1 misses.
/// Rewards in [0, 1]; ``counts()`` / ``means()`` are of the kept rewards. Not mergeable.
///
/// >>> import regretless
/// >>> env = regretless.TallyingEnv([0.6, 0.0], [0.0, 0.9], [0.05] * 20, seed=0)
/// >>> policy = regretless.TallyingElimination(2, max_window=20, horizon=10_000, seed=0)
/// >>> run = regretless.simulate_reactive(policy, env, 10_000, seed=1)
/// >>> run["arms"][-1000:].tolist() == [1] * 1000
/// True
/// >>> fresh = regretless.TallyingElimination(2, max_window=20, horizon=100, seed=0)
/// >>> fresh.copy().select(), fresh.select(eligible=[0])  # the block of arm 1 waits
/// (1, 0)
#[pyclass(name = "TallyingElimination", module = "regretless", frozen)]
pub struct PyTallyingElimination {
    inner: Mutex<TallyingElimination>,
}

crate::persist::locked_state_class!(PyTallyingElimination => TallyingElimination);

#[pymethods]
impl PyTallyingElimination {
    #[new]
    #[pyo3(signature = (n_arms, max_window, *, horizon, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        max_window: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let m = u64_arg(max_window, "max_window", 0)?;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        Ok(Self::wrap(
            TallyingElimination::new(n_arms, m, horizon, seed_arg(seed)?).py_err(py)?,
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "TallyingElimination(n_arms={}, max_window={}, horizon={})",
                p.n_arms(),
                p.max_window(),
                p.horizon()
            )
        })
    }
}

crate::methods::lock_arrays!(PyTallyingElimination {
    /// Mean of the kept rewards per arm (0 where none).
    means: Vec<f64>,
    /// Kept (post-warm-up) rewards per arm (int64).
    counts: Vec<u64>,
    /// Arms not eliminated (int64).
    active: Vec<usize> => |p| p.active().to_vec(),
});

crate::methods::lock_getters!(PyTallyingElimination {
    /// The current phase (1, 2, ...).
    phase: u32,
    n_arms: usize,
    max_window: u64,
    horizon: u64,
    /// Rewards learned (``update`` calls that succeeded, warm-up rewards included).
    n_updates: u64,
});

crate::methods::arm_reward_update!(
    /// Record the reward (in [0, 1]) of a play of ``arm`` handed out by ``select``.
    PyTallyingElimination,
    arm
);

crate::methods::eligible_select!(
    /// The arm to play this round. With ``eligible`` (a boolean mask of length n_arms or
    /// distinct arm indices): the schedule's arm (the current block's, or the last
    /// survivor) when it is eligible; otherwise the schedule waits and the eligible arm with
    /// the highest ``scores()`` is played, among the eligible arms not eliminated when there
    /// are any, ties at random; the reward of such a substitute play is not kept. Raises
    /// InvalidParameterError when no arm is eligible.
    PyTallyingElimination,
    n_arms
);

crate::methods::eligible_scores!(
    /// The elimination test's upper bound ``mean_a + c_a`` of every arm over its kept
    /// rewards (inf with none); with ``eligible``, -inf outside it.
    PyTallyingElimination,
    n_arms
);

/// A weighted tallying environment: arm a's mean reward is ``base[a] + slope[a] * tally_a``,
/// ``tally_a = sum_j weights[j - 1] * 1{a was played j rounds ago}`` over the last
/// ``m = len(weights)`` rounds (which must keep every mean in [0, 1]); Bernoulli rewards.
///
/// >>> import regretless
/// >>> env = regretless.TallyingEnv([0.55, 0.1], [0.0, 0.8], [0.5, 0.5], seed=0)
/// >>> _ = env.pull(1)
/// >>> env.tallies().tolist(), env.means().tolist()
/// ([0.0, 0.5], [0.55, 0.5])
#[pyclass(name = "TallyingEnv", module = "regretless", frozen)]
pub struct PyTallyingEnv {
    inner: Mutex<TallyingEnv>,
}

crate::persist::locked_state_class!(PyTallyingEnv => TallyingEnv);

#[pymethods]
impl PyTallyingEnv {
    #[new]
    #[pyo3(signature = (base, slope, weights, *, seed = None))]
    fn new(
        py: Python<'_>,
        base: &Bound<'_, PyAny>,
        slope: &Bound<'_, PyAny>,
        weights: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let b = owned_float64(base, "base")?;
        let s = owned_float64(slope, "slope")?;
        let w = owned_float64(weights, "weights")?;
        Ok(Self::wrap(
            TallyingEnv::new(b.as_slice()?, s.as_slice()?, w.as_slice()?, seed_arg(seed)?)
                .py_err(py)?,
        ))
    }

    /// Play ``arm``: its reward.
    fn pull(&self, py: Python<'_>, arm: &Bound<'_, PyAny>) -> PyResult<f64> {
        let arm = arm_arg(arm, "arm")?;
        with_lock(py, &self.inner, |e| e.pull(arm)).py_err(py)
    }

    /// The optimal expected cumulative reward from now over 1..=horizon rounds (exact
    /// dynamic programming over the last m plays), or None when too large.
    fn optimal<'py>(
        &self,
        py: Python<'py>,
        horizon: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyArray1<f64>>>> {
        let h = crate::convert::batch_count_arg(horizon, "horizon")?;
        let env = with_lock(py, &self.inner, |e| e.clone());
        Ok(optional_curve(
            py,
            py.detach(|| reactive::optimal_curve(&env, h)),
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            format!("TallyingEnv(n_arms={}, window={})", e.n_arms(), e.window())
        })
    }
}

crate::methods::lock_arrays!(PyTallyingEnv {
    /// Expected reward of each arm if played now.
    means: Vec<f64>,
    /// The weighted tally of each arm now.
    tallies: Vec<f64>,
});

crate::methods::lock_getters!(PyTallyingEnv {
    n_arms: usize,
    /// The window m (the number of weights).
    window: usize,
    /// Pulls made.
    n_pulls: u64,
});

// ---- simulation -----------------------------------------------------------------------------

enum AnyEnv {
    Recovering(RecoveringEnv),
    Lsd(LSDEnv),
    Tallying(TallyingEnv),
}

impl AnyEnv {
    fn n_arms(&self) -> usize {
        match self {
            AnyEnv::Recovering(e) => e.n_arms(),
            AnyEnv::Lsd(e) => e.n_arms(),
            AnyEnv::Tallying(e) => e.n_arms(),
        }
    }
    fn per_period(&self) -> usize {
        match self {
            AnyEnv::Recovering(e) => ReactiveModel::per_period(e),
            _ => 1,
        }
    }
    fn run<A: Agent>(
        &self,
        agent: &mut A,
        horizon: usize,
        seed: u64,
    ) -> regretless_core::Result<ReactiveRun> {
        match self {
            AnyEnv::Recovering(e) => reactive::simulate(agent, e, horizon, seed),
            AnyEnv::Lsd(e) => reactive::simulate(agent, e, horizon, seed),
            AnyEnv::Tallying(e) => reactive::simulate(agent, e, horizon, seed),
        }
    }
}

fn env_arg(py: Python<'_>, env: &Bound<'_, PyAny>) -> PyResult<AnyEnv> {
    if let Ok(e) = env.cast::<PyRecoveringEnv>() {
        return Ok(AnyEnv::Recovering(crate::persist::snapshot(py, e.get())));
    }
    if let Ok(e) = env.cast::<PyLSDEnv>() {
        return Ok(AnyEnv::Lsd(crate::persist::snapshot(py, e.get())));
    }
    if let Ok(e) = env.cast::<PyTallyingEnv>() {
        return Ok(AnyEnv::Tallying(crate::persist::snapshot(py, e.get())));
    }
    Err(crate::errors::dtype_error(
        py,
        format!(
            "env: expected a RecoveringEnv, LSDEnv or TallyingEnv, got {}",
            crate::convert::type_name(env)
        ),
    ))
}

struct BaselineRun<'a> {
    env: &'a AnyEnv,
    horizon: usize,
    seed: u64,
}

impl PolicyVisitor for BaselineRun<'_> {
    type Output = regretless_core::Result<ReactiveRun>;
    fn visit<P: Registered>(self, policy: &mut P) -> Self::Output {
        let mut agent = Baseline(policy.clone());
        self.env.run(&mut agent, self.horizon, self.seed)
    }
}

/// ``simulate_reactive(policy, env, horizon, *, seed=0)``: plays a copy of ``policy`` (a
/// PeriodicUCB, LSDExploreCommit or TallyingElimination, or any multi-armed policy as a
/// baseline, one arm per period) against a copy of ``env`` (RecoveringEnv, LSDEnv or
/// TallyingEnv) for ``horizon`` periods, in Rust with the GIL released; the rewards are drawn
/// from a generator seeded by ``seed``. The policy's settings are its own, not copied from the
/// environment: a PeriodicUCB with a smaller ``per_period`` than the environment's pulls
/// fewer arms than allowed, and a different ``d_max`` is a misspecified model; both are
/// charged by the regret columns. Returns a dict of arrays, one entry per period:
///
/// - ``arms``: the arms pulled ((horizon,), or (horizon, per_period) padded with -1);
/// - ``rewards``: realized rewards; ``expected``: expected rewards given the state;
/// - ``optimal``: the optimal expected cumulative reward V*_t over the first t periods
///   (exact dynamic programming over the environment's states: the best of all schedules),
///   None when the state space is too large; ``regret = optimal - cumsum(expected)``;
/// - ``benchmark``: the cumulative expected reward of the setting's reference policy (the
///   periodic policy of the relaxation with the true curves; the LSD cycle planner with the
///   true payoffs; the best constant arm for tallying), and ``benchmark_regret``.
///
/// >>> import regretless
/// >>> env = regretless.TallyingEnv([0.6, 0.0], [0.0, 0.9], [0.05] * 20, seed=0)
/// >>> run = regretless.simulate_reactive(regretless.UCB1(2, seed=0), env, 2000)
/// >>> run["optimal"] is None  # 3**20 histories: too many for the exact oracle
/// True
/// >>> bool(run["benchmark_regret"][-1] > 0.2 * 2000)  # UCB1 never plays arm 1 on
/// True
#[pyfunction]
#[pyo3(signature = (policy, env, horizon, *, seed = 0))]
pub fn simulate_reactive<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyAny>,
    env: &Bound<'py, PyAny>,
    horizon: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = crate::convert::int::seed)] seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let horizon = crate::convert::batch_count_arg(horizon, "horizon")?;
    let env = env_arg(py, env)?;
    let k = env.per_period();
    let n_arms = env.n_arms();
    let check_arms = |p_arms: usize| -> PyResult<()> {
        if p_arms != n_arms {
            return Err(regretless_core::Error::incompatible(format!(
                "the policy has {p_arms} arms and the environment {n_arms}"
            )))
            .py_err(py);
        }
        Ok(())
    };
    let run = if let Ok(p) = policy.cast::<PyPeriodicUCB>() {
        let mut a = crate::persist::snapshot(py, p.get());
        check_arms(a.n_arms())?;
        if a.per_period() > k {
            return Err(regretless_core::Error::incompatible(format!(
                "the policy pulls up to {} arms per period and the environment {k}",
                a.per_period()
            )))
            .py_err(py);
        }
        py.detach(|| env.run(&mut a, horizon, seed))
    } else if let Ok(p) = policy.cast::<PyLSDExploreCommit>() {
        let mut a = crate::persist::snapshot(py, p.get());
        check_arms(a.n_arms())?;
        py.detach(|| env.run(&mut a, horizon, seed))
    } else if let Ok(p) = policy.cast::<PyTallyingElimination>() {
        let mut a = crate::persist::snapshot(py, p.get());
        check_arms(a.n_arms())?;
        py.detach(|| env.run(&mut a, horizon, seed))
    } else if let Ok(b) = policy.cast::<Bandit>() {
        let mut any = b.get().snapshot(py);
        check_arms(any.n_arms())?;
        py.detach(|| {
            any.visit(BaselineRun {
                env: &env,
                horizon,
                seed,
            })
        })
    } else {
        return Err(crate::errors::dtype_error(
            py,
            format!(
                "policy: expected a PeriodicUCB, LSDExploreCommit, TallyingElimination or a multi-armed policy, got {}",
                crate::convert::type_name(policy)
            ),
        ));
    }
    .py_err(py)?;
    let d = PyDict::new(py);
    let arms = PyArray1::from_vec(py, run.arms);
    if k == 1 {
        d.set_item("arms", arms)?;
    } else {
        d.set_item("arms", arms.reshape([horizon, k])?)?;
    }
    let mut cum = 0.0;
    let cumulative: Vec<f64> = run
        .expected
        .iter()
        .map(|&e| {
            cum += e;
            cum
        })
        .collect();
    let regret = run.optimal.as_ref().map(|o| {
        o.iter()
            .zip(&cumulative)
            .map(|(o, c)| o - c)
            .collect::<Vec<f64>>()
    });
    let bench_regret: Vec<f64> = run
        .benchmark
        .iter()
        .zip(&cumulative)
        .map(|(b, c)| b - c)
        .collect();
    d.set_item("rewards", PyArray1::from_vec(py, run.rewards))?;
    d.set_item("expected", PyArray1::from_vec(py, run.expected))?;
    d.set_item("optimal", optional_curve(py, run.optimal))?;
    d.set_item("regret", optional_curve(py, regret))?;
    d.set_item("benchmark", PyArray1::from_vec(py, run.benchmark))?;
    d.set_item("benchmark_regret", PyArray1::from_vec(py, bench_regret))?;
    Ok(d)
}

pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPeriodicUCB>()?;
    m.add_class::<PyRecoveringEnv>()?;
    m.add_class::<PyLSDExploreCommit>()?;
    m.add_class::<PyLSDEnv>()?;
    m.add_class::<PyTallyingElimination>()?;
    m.add_class::<PyTallyingEnv>()?;
    m.add_function(wrap_pyfunction!(simulate_reactive, m)?)?;
    Ok(())
}
