//! Off-policy evaluation glue: the in-memory estimate, the streaming accumulator behind
//! `regretless.ope.estimate_stream`, and replay. The estimators' numpy arrays are borrowed
//! without a copy when they are C-contiguous float64 / int64 (int32 actions), else converted
//! once: a private copy of a 1M-row `action_dist` costs ten times the IPW pass itself, which
//! reads only the logged entry of each row. A thread writing the arrays during the call can
//! change the estimate, never break it: the core checks every term and weight it adds (finite,
//! propensity in (0, 1]) on the values it adds, and names a row only after re-reading it, so
//! neither a result nor an accumulator's state can become non-finite. Replay, which trains
//! a policy, copies its arrays (`convert::Owned`). Every pass runs with the GIL released.

use crate::bandit::{bandit_arg, new_object};
use crate::convert::{float64_array, int64_array, owned_float64, owned_int64};
use crate::errors::{dtype_error, shape_error, IntoPyResult};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use regretless_core::ope::{
    evaluate_with, replay, round_rewards, small_sample_intervals as compute_small_sample,
    ActionDist, Actions, Batch, Estimator, OffPolicyAccumulator, ReplayOutput, Rewards,
    SmallSampleIntervals, Summary, Table,
};
use regretless_core::policy::{PolicyVisitor, Registered};
use std::sync::Mutex;

/// A float64 C-contiguous array of any dimension, borrowed when it already is one.
fn float64_nd<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    if let Ok(a) = obj.downcast::<PyArrayDyn<f64>>() {
        if a.is_c_contiguous() {
            return Ok(a.clone());
        }
    }
    let py = obj.py();
    let np = py.import("numpy")?;
    let arr = np
        .call_method1("asarray", (obj,))
        .map_err(|e| dtype_error(py, format!("{name}: cannot be converted to an array ({e})")))?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if !matches!(kind.as_str(), "f" | "i" | "u" | "b") {
        let dtype = arr.getattr("dtype")?.str()?.to_string();
        return Err(dtype_error(
            py,
            format!("{name}: expected real numbers, got dtype {dtype}"),
        ));
    }
    let converted = np.call_method1("ascontiguousarray", (arr, "float64"))?;
    Ok(converted.downcast_into::<PyArrayDyn<f64>>()?)
}

/// Shape of a policy table: (rows, n_actions, len_list), or None for a 1-D array.
fn table_shape(py: Python<'_>, shape: &[usize], name: &str) -> PyResult<Option<Shape3>> {
    match *shape {
        [_] => Ok(None),
        [r, k] => Ok(Some((r, k, 1))),
        [r, k, l] => Ok(Some((r, k, l))),
        _ => Err(shape_error(
            py,
            format!(
                "{name}: expected shape (n_rounds,), (n_rounds, n_actions) or (n_rounds, n_actions, len_list), got {} dimensions",
                shape.len()
            ),
        )),
    }
}

/// (rows, n_actions, len_list) of a policy table.
type Shape3 = (usize, usize, usize);

/// Rewards borrowed as float64 or int64 (obp's binary rewards are int64: no float copy).
enum RewardArray<'py> {
    F64(Bound<'py, PyArray1<f64>>),
    I64(Bound<'py, PyArray1<i64>>),
}

fn reward_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<RewardArray<'py>> {
    if let Ok(a) = obj.downcast::<PyArray1<i64>>() {
        if a.is_contiguous() {
            return Ok(RewardArray::I64(a.clone()));
        }
    }
    Ok(RewardArray::F64(float64_array(obj, "reward")?))
}

/// Actions borrowed as int64 or int32.
enum ActionArray<'py> {
    I64(Bound<'py, PyArray1<i64>>),
    I32(Bound<'py, PyArray1<i32>>),
}

fn action_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<ActionArray<'py>> {
    if let Ok(a) = obj.downcast::<PyArray1<i32>>() {
        if a.is_contiguous() {
            return Ok(ActionArray::I32(a.clone()));
        }
    }
    Ok(ActionArray::I64(int64_array(obj, "action")?))
}

/// Borrowed inputs of one batch; `with_batch` views them as a core [`Batch`].
struct Inputs<'py> {
    reward: Option<RewardArray<'py>>,
    action: Option<ActionArray<'py>>,
    pscore: Option<Bound<'py, PyArray1<f64>>>,
    position: Option<Bound<'py, PyArray1<i64>>>,
    dist: Bound<'py, PyArrayDyn<f64>>,
    dist_shape: Option<Shape3>,
    q: Option<(Bound<'py, PyArrayDyn<f64>>, Shape3)>,
}

impl<'py> Inputs<'py> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'py>,
        reward: Option<&Bound<'py, PyAny>>,
        action: Option<&Bound<'py, PyAny>>,
        pscore: Option<&Bound<'py, PyAny>>,
        action_dist: &Bound<'py, PyAny>,
        position: Option<&Bound<'py, PyAny>>,
        estimated_rewards: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let some = |o: Option<&Bound<'py, PyAny>>| o.filter(|o| !o.is_none()).cloned();
        let dist = float64_nd(action_dist, "action_dist")?;
        let dist_shape = table_shape(py, dist.shape(), "action_dist")?;
        let q = match some(estimated_rewards) {
            None => None,
            Some(o) => {
                let a = float64_nd(&o, "estimated_rewards_by_reg_model")?;
                match table_shape(py, a.shape(), "estimated_rewards_by_reg_model")? {
                    Some(s) => Some((a, s)),
                    None => {
                        return Err(shape_error(
                            py,
                            "estimated_rewards_by_reg_model: expected shape (n_rounds, n_actions[, len_list]) like action_dist, got a 1-D array".into(),
                        ))
                    }
                }
            }
        };
        Ok(Inputs {
            reward: some(reward).map(|o| reward_array(&o)).transpose()?,
            action: some(action).map(|o| action_array(&o)).transpose()?,
            pscore: some(pscore)
                .map(|o| float64_array(&o, "pscore"))
                .transpose()?,
            position: some(position)
                .map(|o| int64_array(&o, "position"))
                .transpose()?,
            dist,
            dist_shape,
            q,
        })
    }
}

/// Calls `f` with the core view of the borrowed arrays, with the GIL released.
fn with_batch<R: Send>(
    py: Python<'_>,
    inputs: &Inputs<'_>,
    f: impl FnOnce(&Batch<'_>) -> regretless_core::Result<R> + Send,
) -> PyResult<R> {
    enum RewardView<'a> {
        F64(numpy::PyReadonlyArray1<'a, f64>),
        I64(numpy::PyReadonlyArray1<'a, i64>),
    }
    enum ActionView<'a> {
        I64(numpy::PyReadonlyArray1<'a, i64>),
        I32(numpy::PyReadonlyArray1<'a, i32>),
    }
    let reward = inputs.reward.as_ref().map(|a| match a {
        RewardArray::F64(a) => RewardView::F64(a.readonly()),
        RewardArray::I64(a) => RewardView::I64(a.readonly()),
    });
    let action = inputs.action.as_ref().map(|a| match a {
        ActionArray::I64(a) => ActionView::I64(a.readonly()),
        ActionArray::I32(a) => ActionView::I32(a.readonly()),
    });
    let pscore = inputs.pscore.as_ref().map(|a| a.readonly());
    let position = inputs.position.as_ref().map(|a| a.readonly());
    let dist = inputs.dist.readonly();
    let q = inputs.q.as_ref().map(|(a, s)| (a.readonly(), *s));
    let action_dist = match inputs.dist_shape {
        None => ActionDist::Logged(dist.as_slice()?),
        Some((r, k, l)) => {
            ActionDist::Full(Table::new(dist.as_slice()?, r, k, l, "action_dist").py_err(py)?)
        }
    };
    let estimated_rewards = match &q {
        None => None,
        Some((a, (r, k, l))) => Some(
            Table::new(a.as_slice()?, *r, *k, *l, "estimated_rewards_by_reg_model").py_err(py)?,
        ),
    };
    let batch = Batch {
        reward: reward
            .as_ref()
            .map(|a| -> PyResult<Rewards<'_>> {
                Ok(match a {
                    RewardView::F64(a) => Rewards::F64(a.as_slice()?),
                    RewardView::I64(a) => Rewards::I64(a.as_slice()?),
                })
            })
            .transpose()?,
        action: action
            .as_ref()
            .map(|a| -> PyResult<Actions<'_>> {
                Ok(match a {
                    ActionView::I64(a) => Actions::I64(a.as_slice()?),
                    ActionView::I32(a) => Actions::I32(a.as_slice()?),
                })
            })
            .transpose()?,
        pscore: pscore.as_ref().map(|a| a.as_slice()).transpose()?,
        position: position.as_ref().map(|a| a.as_slice()).transpose()?,
        action_dist,
        estimated_rewards,
    };
    py.detach(|| f(&batch)).py_err(py)
}

fn summary_dict<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("estimator", s.estimator.name())?;
    d.set_item("estimate", s.estimate)?;
    d.set_item("std_err", s.std_err)?;
    d.set_item("alpha", s.alpha)?;
    d.set_item("ci", s.ci)?;
    d.set_item("bootstrap_ci", s.bootstrap_ci)?;
    d.set_item("bootstrap_mean", s.bootstrap_mean)?;
    d.set_item("n_bootstrap", s.n_bootstrap)?;
    d.set_item("n_rounds", s.n_rounds)?;
    d.set_item("mean_weight", s.mean_weight)?;
    d.set_item("ess", s.ess)?;
    Ok(d)
}

/// In-memory estimate; `regretless.ope` wraps it.
#[pyfunction]
#[pyo3(signature = (estimator, lambda_, reward, action, pscore, action_dist, position, estimated_rewards, alpha, n_bootstrap, seed, return_round_rewards, validate = true, small_sample_intervals = false))]
#[allow(clippy::too_many_arguments)]
pub fn _ope_estimate<'py>(
    py: Python<'py>,
    estimator: &str,
    lambda_: f64,
    reward: Option<&Bound<'py, PyAny>>,
    action: Option<&Bound<'py, PyAny>>,
    pscore: Option<&Bound<'py, PyAny>>,
    action_dist: &Bound<'py, PyAny>,
    position: Option<&Bound<'py, PyAny>>,
    estimated_rewards: Option<&Bound<'py, PyAny>>,
    alpha: f64,
    #[pyo3(from_py_with = crate::convert::size::n_bootstrap)] n_bootstrap: usize,
    seed: u64,
    return_round_rewards: bool,
    validate: bool,
    small_sample_intervals: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let est = Estimator::from_name(estimator, lambda_).py_err(py)?;
    let inputs = Inputs::new(
        py,
        reward,
        action,
        pscore,
        action_dist,
        position,
        estimated_rewards,
    )?;
    let wanted = small_sample_intervals;
    let (summary, rounds, small) = with_batch(py, &inputs, |b| {
        let s = evaluate_with(est, b, alpha, n_bootstrap, seed, validate)?;
        let r = if return_round_rewards {
            Some(round_rewards(est, b, s.mean_weight)?)
        } else {
            None
        };
        let small = if wanted && est.uses_logged_feedback() {
            Some(compute_small_sample(
                est,
                b,
                validate,
                &s,
                n_bootstrap,
                seed,
            )?)
        } else {
            None
        };
        Ok((s, r, small))
    })?;
    let d = summary_dict(py, &summary)?;
    let small: Option<SmallSampleIntervals> = small;
    d.set_item("bernstein_ci", small.as_ref().map(|x| x.bernstein_ci))?;
    d.set_item(
        "studentized_ci",
        small.as_ref().and_then(|x| x.studentized_ci),
    )?;
    d.set_item("round_rewards", rounds.map(|r| PyArray1::from_vec(py, r)))?;
    Ok(d)
}

/// Streaming state of one off-policy estimator: rows are pushed batch by batch and the
/// memory does not grow with their number (running moments, and four sums per bootstrap
/// replicate). `regretless.ope.estimate_stream` runs one per estimator; shards of a data
/// set accumulated apart (other processes or machines) combine with `merge`, and the
/// state travels as `to_bytes()` / pickle.
#[pyclass(name = "OffPolicyAccumulator", module = "regretless._core", frozen)]
pub struct PyOffPolicyAccumulator {
    inner: Mutex<OffPolicyAccumulator>,
}

crate::persist::state_methods!(PyOffPolicyAccumulator => OffPolicyAccumulator);

impl PyOffPolicyAccumulator {
    fn wrap(acc: OffPolicyAccumulator) -> Self {
        Self {
            inner: Mutex::new(acc),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffPolicyAccumulator> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyOffPolicyAccumulator {
    #[new]
    #[pyo3(signature = (estimator, lambda_, n_bootstrap = 0, seed = 0, first_row = 0))]
    fn new(
        py: Python<'_>,
        estimator: &str,
        lambda_: f64,
        #[pyo3(from_py_with = crate::convert::size::n_bootstrap)] n_bootstrap: usize,
        #[pyo3(from_py_with = crate::convert::int::seed)] seed: u64,
        #[pyo3(from_py_with = crate::convert::int::first_row)] first_row: u64,
    ) -> PyResult<Self> {
        let est = Estimator::from_name(estimator, lambda_).py_err(py)?;
        Ok(Self::wrap(
            OffPolicyAccumulator::starting_at(est, n_bootstrap, seed, first_row).py_err(py)?,
        ))
    }

    /// Add a batch (validated whole before anything is added).
    #[pyo3(signature = (reward, action, pscore, action_dist, position = None, estimated_rewards = None))]
    #[allow(clippy::too_many_arguments)]
    fn push<'py>(
        &self,
        py: Python<'py>,
        reward: Option<&Bound<'py, PyAny>>,
        action: Option<&Bound<'py, PyAny>>,
        pscore: Option<&Bound<'py, PyAny>>,
        action_dist: &Bound<'py, PyAny>,
        position: Option<&Bound<'py, PyAny>>,
        estimated_rewards: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let inputs = Inputs::new(
            py,
            reward,
            action,
            pscore,
            action_dist,
            position,
            estimated_rewards,
        )?;
        let inner = &self.inner;
        with_batch(py, &inputs, |b| {
            let mut acc = inner.lock().unwrap_or_else(|p| p.into_inner());
            acc.push(b)
        })
    }

    /// Rows accumulated so far (obp's and ``EstimateResult``'s name).
    #[getter]
    fn n_rounds(&self) -> u64 {
        self.lock().rows()
    }

    /// Alias of ``n_rounds``, kept for compatibility.
    #[getter]
    fn rows(&self) -> u64 {
        self.lock().rows()
    }

    /// obp's name of the estimator (``"ipw"``, ``"dr"``, ...).
    #[getter]
    fn estimator(&self) -> &'static str {
        self.lock().estimator().name()
    }

    /// Stream index of the first row (the bootstrap draws of a row depend on its index).
    #[getter]
    fn first_row(&self) -> u64 {
        self.lock().first_row()
    }

    #[getter]
    fn n_bootstrap(&self) -> usize {
        self.lock().n_bootstrap()
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.lock().seed()
    }

    /// Estimate, standard error and intervals of the rows so far.
    fn summary<'py>(&self, py: Python<'py>, alpha: f64) -> PyResult<Bound<'py, PyDict>> {
        let s = self.lock().summary(alpha).py_err(py)?;
        summary_dict(py, &s)
    }

    /// The :class:`regretless.ope.EstimateResult` of the rows so far.
    #[pyo3(signature = (alpha = 0.05))]
    fn result<'py>(&self, py: Python<'py>, alpha: f64) -> PyResult<Bound<'py, PyAny>> {
        let d = self.summary(py, alpha)?;
        py.import("regretless.ope")?
            .getattr("EstimateResult")?
            .call_method1("_from_core", (d,))
    }

    /// A new accumulator holding the rows of both (this one and ``other`` are unchanged):
    /// one pass over all their rows would give the same result up to rounding. Both need
    /// the same estimator, ``n_bootstrap`` and seed; with a bootstrap their row ranges
    /// (``first_row`` on) must not overlap.
    fn merge(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Self> {
        let theirs = crate::persist::other_state::<Self>(py, other)?;
        let merged = self.lock().merge(&theirs).py_err(py)?;
        Ok(Self::wrap(merged))
    }

    fn __repr__(&self) -> String {
        let acc = self.lock();
        format!(
            "OffPolicyAccumulator(estimator={:?}, rows={}, n_bootstrap={}, first_row={})",
            acc.estimator().name(),
            acc.rows(),
            acc.n_bootstrap(),
            acc.first_row()
        )
    }
}

/// Replay on the logged (action, reward) rows, as a [`PolicyVisitor`]: the loop runs
/// monomorphized for the concrete policy.
struct Replay<'a> {
    actions: &'a [i64],
    rewards: &'a [f64],
}

impl PolicyVisitor for Replay<'_> {
    type Output = regretless_core::Result<ReplayOutput>;
    fn visit<P: Registered>(self, policy: &mut P) -> Self::Output {
        replay(policy, self.actions, self.rewards)
    }
}

/// Replay evaluation; `regretless.ope.replay` wraps it.
#[pyfunction]
#[pyo3(signature = (policy, actions, rewards, seed = None))]
pub fn _replay<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyAny>,
    actions: &Bound<'py, PyAny>,
    rewards: &Bound<'py, PyAny>,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let actions = owned_int64(actions, "actions")?;
    let rewards = owned_float64(rewards, "rewards")?;
    let a_ro = actions.readonly();
    let r_ro = rewards.readonly();
    let a = a_ro.as_slice()?;
    let r = r_ro.as_slice()?;
    let bandit = bandit_arg(policy, "policy")?;
    // Replays a snapshot; the learned policy is returned as an object of the same class.
    let mut p = bandit.get().snapshot(py);
    if let Some(s) = seed {
        p.reseed(s);
    }
    let out = py
        .detach(|| {
            p.visit(Replay {
                actions: a,
                rewards: r,
            })
        })
        .py_err(py)?;
    let learned = new_object(py, p)?;
    let d = PyDict::new(py);
    d.set_item("estimate", out.estimate)?;
    d.set_item("std_err", out.std_err)?;
    d.set_item("n_rounds", out.n_rounds)?;
    d.set_item("n_matched", out.n_matched)?;
    d.set_item("matched", PyArray1::from_vec(py, out.matched))?;
    d.set_item("policy", learned)?;
    Ok(d)
}
