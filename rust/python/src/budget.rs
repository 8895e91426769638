//! Glue for the budgeted decisions of `regretless_core::budget`: Knapsack RL's rollout
//! allocation, PrimalDualBwK with its environment, and HATCH.

use crate::convert::{
    arm_arg, owned_float64, owned_int64, real_arg, seed_arg, u64_arg, with_lock, with_lock_detached,
};
use crate::eligible::eligible_arg;
use crate::errors::{invalid_parameter, IntoPyResult};
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::budget::{
    allocate_rollouts as core_allocate, KnapsackEnv, PrimalDualBwK, HATCH,
};
use std::sync::Mutex;

/// Knapsack RL's rollout allocation (Li et al. 2025): the number of rollouts per task that
/// maximizes the expected number of informative tasks -- those whose rollouts hold at least
/// one success and one failure, so that a group-relative policy gradient is not zero --
/// ``sum_i 1 - p_i**n_i - (1 - p_i)**n_i``, under ``sum_i costs_i * n_i <= budget`` and
/// ``n_i <= max_rollouts``. Exact (a dynamic program over the integer budget; the value is
/// not concave at the first rollout, so a marginal greedy is not); ``costs`` are positive
/// integers (default 1 per rollout). Budget that would add nothing stays unallocated.
///
/// >>> import regretless
/// >>> # A sure task gets nothing; a near-hopeless one is not worth 12 rollouts here.
/// >>> regretless.allocate_rollouts([0.5, 0.02, 1.0, 0.9], budget=16).tolist()
/// [5, 0, 0, 11]
#[pyfunction]
#[pyo3(signature = (success, costs = None, *, budget, max_rollouts = None))]
pub fn allocate_rollouts<'py>(
    py: Python<'py>,
    success: &Bound<'py, PyAny>,
    costs: Option<&Bound<'py, PyAny>>,
    budget: &Bound<'py, PyAny>,
    max_rollouts: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let success = owned_float64(success, "success")?;
    let p = success.as_slice()?;
    let budget = u64_arg(budget, "budget", 0)?;
    let most = match max_rollouts.filter(|m| !m.is_none()) {
        Some(m) => u64_arg(m, "max_rollouts", 0)?,
        None => budget.min(u32::MAX as u64),
    };
    let costs: Vec<u64> = match costs.filter(|c| !c.is_none()) {
        None => vec![1; p.len()],
        Some(c) => {
            let c = owned_int64(c, "costs")?;
            let c = c.as_slice()?;
            if let Some(i) = c.iter().position(|&v| v < 0) {
                return Err(invalid_parameter(
                    py,
                    format!("costs: expected positive integer costs per rollout, got {} at position {i}", c[i]),
                ));
            }
            c.iter().map(|&v| v as u64).collect()
        }
    };
    let a = py
        .detach(|| core_allocate(p, &costs, budget, most))
        .py_err(py)?;
    Ok(PyArray1::from_vec(
        py,
        a.rollouts.into_iter().map(|k| k as i64).collect(),
    ))
}

fn consumption_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    Ok(owned_float64(obj, "consumption")?.as_slice()?.to_vec())
}

/// PrimalDualBwK (Badanidiyuru, Kleinberg and Slivkins 2013), bandits with knapsacks: each
/// pull earns a reward in [0, 1] and consumes a vector of ``d`` resources in [0, 1]; play
/// stops when a resource runs out. Every budget is rescaled to ``B = min(budgets)`` and time
/// counts as one more resource (``B / horizon`` per pull); resource prices grow by
/// multiplicative weights ``y_j *= (1 + eps) ** c_j``, ``eps = sqrt(ln(d + 1) / B)``, and the
/// arm with the best optimistic bang-per-buck ``UCB(r) / (LCB(c) . y)`` is pulled.
/// ``select()`` returns None once a resource has less than one unit left (the most one pull
/// can take: budgets are never exceeded) or the horizon is reached. Regret
/// ``O(OPT sqrt(K / B) + sqrt(K OPT))`` up to logarithms.
///
/// >>> import regretless
/// >>> env = regretless.KnapsackEnv([0.9, 0.5], [[1.0], [0.1]], budgets=[50], horizon=500, seed=0)
/// >>> policy = regretless.PrimalDualBwK(2, budgets=[50], horizon=500, seed=0)
/// >>> reward = env.run(policy)
/// >>> bool(env.spent()[0] <= 50) and policy.stopped
/// True
#[pyclass(name = "PrimalDualBwK", module = "regretless", frozen)]
pub struct PyPrimalDualBwK {
    inner: Mutex<PrimalDualBwK>,
}

crate::persist::locked_state_class!(PyPrimalDualBwK => PrimalDualBwK);

#[pymethods]
impl PyPrimalDualBwK {
    #[new]
    #[pyo3(signature = (n_arms, budgets, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        budgets: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let budgets = owned_float64(budgets, "budgets")?;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        Ok(Self::wrap(
            PrimalDualBwK::new(n_arms, budgets.as_slice()?, horizon, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// The arm to pull, or None once play must stop. With ``eligible`` (a boolean mask of
    /// length n_arms or distinct arm indices) the argmax of the index over those arms only,
    /// ties at random; raises InvalidParameterError when no arm is eligible. Learned state
    /// is not affected by the mask.
    #[pyo3(signature = (*, eligible = None))]
    fn select(
        &self,
        py: Python<'_>,
        eligible: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<usize>> {
        match eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))? {
            None => Ok(with_lock(py, &self.inner, |p| p.select())),
            Some(e) => with_lock(py, &self.inner, |p| p.select_eligible(&e)).py_err(py),
        }
    }

    /// The law of the arm ``select(eligible=...)`` returns while play goes on: uniform over
    /// the maximizers of the index (its only randomness is the tie-break), 0 elsewhere.
    #[pyo3(signature = (*, eligible = None))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let e = eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))?;
        let v = with_lock(py, &self.inner, |p| p.probabilities(e.as_ref())).py_err(py)?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Record a pull: ``reward`` in [0, 1] and ``consumption`` (n_resources,) in [0, 1].
    fn update(
        &self,
        py: Python<'_>,
        arm: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
        consumption: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        let reward = real_arg(reward, "reward")?;
        let c = consumption_arg(consumption)?;
        with_lock(py, &self.inner, |p| p.update(arm, reward, &c)).py_err(py)
    }

    /// The index ``UCB(r) / (LCB(c) . y)`` of every arm (inf for arms never pulled); with
    /// ``eligible``, -inf for the arms outside it.
    #[pyo3(signature = (*, eligible = None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = match eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))? {
            None => with_lock(py, &self.inner, |p| p.scores()),
            Some(e) => with_lock(py, &self.inner, |p| p.scores_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(py, v))
    }

    /// The budgets (n_resources,).
    #[getter]
    fn budgets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, with_lock(py, &self.inner, |p| p.budgets().to_vec()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!("PrimalDualBwK({})", p.describe_params())
        })
    }
}

crate::methods::lock_arrays!(PyPrimalDualBwK {
    /// Resource prices, normalized to sum to 1 (the last is time's).
    prices: Vec<f64>,
    /// Empirical mean reward per arm (NaN for arms never pulled).
    reward_means: Vec<f64>,
    /// Resources consumed so far (n_resources,).
    spent: Vec<f64> => |p| p.spent().to_vec(),
    /// Budget left per resource (n_resources,).
    remaining: Vec<f64>,
    /// Pulls per arm (int64).
    counts: Vec<u64> => |p| p.counts().to_vec(),
});

crate::methods::lock_getters!(PyPrimalDualBwK {
    /// True once a resource has less than one unit left or the horizon is reached.
    stopped: bool,
    /// Number of arms.
    n_arms: usize,
    /// Number of resources.
    n_resources: usize,
    /// The horizon (pulls, or steps per episode).
    horizon: u64,
    /// Pulls learned (``update`` calls that succeeded).
    n_updates: u64 => |p| p.n_pulls(),
    /// Alias of ``n_updates``, kept for compatibility.
    n_pulls: u64,
});

/// A bandits-with-knapsacks environment: Bernoulli rewards with means ``reward_means``
/// (n_arms,) and Bernoulli consumptions with means ``consumption_means`` (n_arms,
/// n_resources), budgets (n_resources,) and a horizon, with its own seeded generator.
/// ``pull`` raises ArmError once the episode is over (a resource below one unit left, or the
/// horizon reached), so nothing run in it exceeds a budget.
///
/// >>> import regretless
/// >>> env = regretless.KnapsackEnv([0.5], [[1.0]], budgets=[3], horizon=10, seed=1)
/// >>> [env.pull(0)[1].tolist() for _ in range(3)], env.done
/// ([[1.0], [1.0], [1.0]], True)
#[pyclass(name = "KnapsackEnv", module = "regretless", frozen)]
pub struct PyKnapsackEnv {
    inner: Mutex<KnapsackEnv>,
}

crate::persist::locked_state_class!(PyKnapsackEnv => KnapsackEnv);

#[pymethods]
impl PyKnapsackEnv {
    #[new]
    #[pyo3(signature = (reward_means, consumption_means, budgets, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        reward_means: &Bound<'_, PyAny>,
        consumption_means: &Bound<'_, PyAny>,
        budgets: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let r = owned_float64(reward_means, "reward_means")?;
        let b = owned_float64(budgets, "budgets")?;
        let (k, d) = (r.as_slice()?.len(), b.as_slice()?.len());
        let (c, shape) = crate::convert::owned_float64_nd(consumption_means, "consumption_means")?;
        if shape != [k, d] {
            return Err(crate::errors::shape_error(
                py,
                format!("consumption_means: expected shape (n_arms, n_resources) = ({k}, {d}), got {shape:?}"),
            ));
        }
        let horizon = u64_arg(horizon, "horizon", 1)?;
        Ok(Self::wrap(
            KnapsackEnv::new(
                r.as_slice()?,
                c.as_slice()?,
                b.as_slice()?,
                horizon,
                seed_arg(seed)?,
            )
            .py_err(py)?,
        ))
    }

    /// Pull ``arm``: (reward, consumption vector).
    fn pull<'py>(
        &self,
        py: Python<'py>,
        arm: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
        let arm = arm_arg(arm, "arm")?;
        let (r, c) = with_lock(py, &self.inner, |e| e.pull(arm)).py_err(py)?;
        Ok((r, PyArray1::from_vec(py, c)))
    }

    /// Run ``policy`` (a PrimalDualBwK) until it stops or the episode is over; returns the
    /// reward it earned.
    fn run(&self, py: Python<'_>, policy: &Bound<'_, PyPrimalDualBwK>) -> PyResult<f64> {
        let policy = policy.get();
        // Two locks, always in this order (environment, then policy).
        with_lock_detached(py, &self.inner, |e| {
            let mut p = policy.inner.lock().unwrap_or_else(|p| p.into_inner());
            e.run(&mut p)
        })
        .py_err(py)
    }

    /// Mean reward per arm.
    fn reward_means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(
            py,
            with_lock(py, &self.inner, |e| e.reward_means().to_vec()),
        )
    }

    /// Mean consumption per arm and resource: (n_arms, n_resources).
    fn consumption_means<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        use numpy::PyArrayMethods;
        let (v, k, d) = with_lock(py, &self.inner, |e| {
            (e.consumption_means().to_vec(), e.n_arms(), e.n_resources())
        });
        PyArray1::from_vec(py, v).reshape([k, d])
    }

    /// The budget of each resource (n_resources,).
    #[getter]
    fn budgets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, with_lock(py, &self.inner, |e| e.budgets().to_vec()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            format!(
                "KnapsackEnv(n_arms={}, n_resources={}, horizon={})",
                e.n_arms(),
                e.n_resources(),
                e.horizon()
            )
        })
    }
}

crate::methods::lock_arrays!(PyKnapsackEnv {
    /// Resources consumed so far.
    spent: Vec<f64> => |e| e.spent().to_vec(),
});

crate::methods::lock_getters!(PyKnapsackEnv {
    /// True once a resource has less than one unit left or the horizon is reached.
    done: bool,
    /// The horizon (pulls, or steps per episode).
    horizon: u64,
    /// Number of arms.
    n_arms: usize,
    /// Number of resources.
    n_resources: usize,
    /// Pulls made.
    n_pulls: u64,
    /// Reward earned so far.
    total_reward: f64,
});

/// HATCH (Yang, Li, Qin and Ye, WWW 2020) on an infinite horizon: a contextual bandit that
/// pays one unit per served user and skips users for free. The budget accrues ``rate`` per
/// arriving user (capped at ``budget`` when given); users are grouped into classes by their
/// nearest row of ``centers`` (e.g. k-means centers of past contexts), and each class is
/// served with the probability that solves the LP ``max sum_j phi_j p_j u_j`` s.t.
/// ``sum_j phi_j p_j <= rate`` (filled greedily in descending optimistic class value ``u_j``,
/// from a ridge model of served rewards on the centers; frequencies ``phi_j`` counted
/// online). The LP's rate is paced, ``rate + (rate * users - spent) / 100``, so spending
/// follows the line ``rate * users``; a user is served only when a whole unit is available,
/// so it never exceeds ``min(rate * users, budget)``. A served user's arm is chosen by
/// disjoint LinUCB (``alpha``, ``lam``) on the full context.
///
/// >>> import numpy as np, regretless
/// >>> centers = np.array([[1.0, 0.0], [0.0, 1.0]])
/// >>> policy = regretless.HATCH(2, 2, centers, rate=0.5, seed=0)
/// >>> served = [policy.select(centers[t % 2]) for t in range(10)]
/// >>> policy.spent <= 0.5 * 10
/// True
#[pyclass(name = "HATCH", module = "regretless", frozen)]
pub struct PyHATCH {
    inner: Mutex<HATCH>,
    dim: usize,
}

crate::persist::state_methods!(PyHATCH => HATCH);

impl PyHATCH {
    fn wrap(core: HATCH) -> Self {
        let dim = core.dim();
        Self {
            inner: Mutex::new(core),
            dim,
        }
    }

    fn context(&self, x: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
        Ok(crate::convert::owned_float64_vector(x, "x", self.dim)?
            .as_slice()?
            .to_vec())
    }
}

#[pymethods]
impl PyHATCH {
    #[new]
    #[pyo3(signature = (n_arms, dim, centers, *, rate, budget = None, alpha = 1.0, lam = 1.0, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        centers: &Bound<'_, PyAny>,
        rate: f64,
        budget: Option<f64>,
        alpha: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let c = crate::convert::owned_float64_matrix(centers, "centers", dim.max(1))?;
        Ok(Self::wrap(
            HATCH::new(
                n_arms,
                dim,
                c.as_slice()?,
                rate,
                budget,
                alpha,
                lam,
                seed_arg(seed)?,
            )
            .py_err(py)?,
        ))
    }

    /// One arriving user with context ``x`` (dim,): the arm to serve, or None to skip. A
    /// serve spends one unit at once. With ``eligible`` (a boolean mask of length n_arms or
    /// distinct arm indices) a served user gets the best of those arms only (LinUCB's
    /// argmax over them, ties at random); whether the user is served does not depend on
    /// the mask. Raises InvalidParameterError when no arm is eligible, before anything
    /// changes; learned state is not affected by the mask.
    #[pyo3(signature = (x, *, eligible = None))]
    fn select(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        eligible: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<usize>> {
        let x = self.context(x)?;
        let e = eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))?;
        with_lock(py, &self.inner, |p| p.select_eligible(&x, e.as_ref())).py_err(py)
    }

    /// The index of each arm for a served user with context ``x`` (LinUCB's upper
    /// confidence bound); with ``eligible``, -inf for the arms outside it.
    #[pyo3(signature = (x, *, eligible = None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = self.context(x)?;
        let e = eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))?;
        let v = with_lock(py, &self.inner, |p| p.scores(&x, e.as_ref())).py_err(py)?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// The law of the arm served to a user with context ``x``, given that the user is
    /// served (restricted to ``eligible`` when given): uniform over the maximizers of
    /// ``scores(x)``, 0 elsewhere. A logged serve's propensity is this times the serve
    /// probability of the user's class (``serve_probabilities()[class_of(x)]``, read
    /// before ``select``).
    #[pyo3(signature = (x, *, eligible = None))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = self.context(x)?;
        let e = eligible_arg(eligible, || with_lock(py, &self.inner, |p| p.n_arms()))?;
        let v = with_lock(py, &self.inner, |p| p.probabilities(&x, e.as_ref())).py_err(py)?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Record the reward of a served user (context ``x``, the ``arm`` served).
    fn update(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        arm: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let x = self.context(x)?;
        let arm = arm_arg(arm, "arm")?;
        let reward = real_arg(reward, "reward")?;
        with_lock(py, &self.inner, |p| p.update(&x, arm, reward)).py_err(py)
    }

    /// The class of context ``x``: the index of its nearest center.
    fn class_of(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<usize> {
        let x = self.context(x)?;
        with_lock(py, &self.inner, |p| p.class_of(&x)).py_err(py)
    }

    /// Number of context features.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "HATCH(n_arms={}, dim={}, n_classes={}, {})",
                p.n_arms(),
                p.dim(),
                p.n_classes(),
                p.describe_params()
            )
        })
    }
}

crate::methods::lock_arrays!(PyHATCH {
    /// Optimistic value of each class (n_classes,).
    class_values: Vec<f64>,
    /// The probability of serving a user of each class now (n_classes,).
    serve_probabilities: Vec<f64>,
    /// Arrivals per class (int64).
    arrivals: Vec<u64> => |p| p.arrivals().to_vec(),
    /// Served users recorded per arm (int64).
    counts: Vec<u64>,
});

crate::methods::lock_getters!(PyHATCH {
    /// Units spent (users served).
    spent: u64,
    /// Rewards learned (``update`` calls that succeeded; users served and rewarded).
    n_updates: u64,
    /// Users seen.
    n_users: u64,
    /// Budget available to the next user: ``min(rate * (users + 1), budget) - spent``.
    allowance: f64,
    /// Budget accrued per arriving user.
    rate: f64,
    /// Cap on the total spending (None: no cap).
    budget: Option<f64>,
    /// Number of arms.
    n_arms: usize,
    /// Number of user classes (rows of ``centers``).
    n_classes: usize,
});
