//! The single-pass streaming policies and their simulation: the base class
//! ``regretless.StreamBandit`` over the core registry [`AnyStream`] writes the shared protocol
//! (offer / next_pull / update / update_many / finish, memory, bytes, pickle, copy) once; each
//! policy is a short subclass with its docstring and constructor.

use crate::convert::{
    arm_arg, is_bool, owned_float64, real_arg, seed_arg, type_name, u64_to_i64, with_lock,
    with_lock_detached,
};
use crate::errors::{dtype_error, invalid_parameter, IntoPyResult};
use crate::family::{base_state_methods, FamilyBase};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};
use pyo3::PyClass;
use regretless_core::stream::registry::simulate_named;
use regretless_core::stream::{
    AggressiveSelectivePromotion, AnyStream, GameOfArms, NaiveEpsilonBest, Order,
    UniformExploration,
};
use std::sync::Mutex;

/// Batches of at least this many rewards are checked and summed with the GIL released.
const DETACH_ABOVE: usize = 1 << 14;

/// `horizon`: an integer in [1, 2**53], not a bool (the core checks the upper end).
fn horizon_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            "horizon: expected an integer, got bool".to_string(),
        ));
    }
    match obj.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(_) if obj.is_instance_of::<PyInt>() => Err(invalid_parameter(
            obj.py(),
            format!("horizon: must be in [1, 2**53], got {obj}"),
        )),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!("horizon: expected an integer, got {}", type_name(obj)),
        )),
    }
}

/// The base class of the single-pass streaming policies (UniformExploration,
/// NaiveEpsilonBest, GameOfArms, AggressiveSelectivePromotion): ``isinstance(p,
/// StreamBandit)`` holds for each of them. It has no constructor; ``StreamBandit.from_bytes``
/// restores any of them.
#[pyclass(name = "StreamBandit", module = "regretless", subclass, frozen)]
pub struct PyStreamBandit {
    inner: Mutex<AnyStream>,
}

impl PyStreamBandit {
    fn wrap(core: impl Into<AnyStream>) -> Self {
        Self {
            inner: Mutex::new(core.into()),
        }
    }
}

impl FamilyBase for PyStreamBandit {
    type Any = AnyStream;
    fn state(&self) -> &Mutex<AnyStream> {
        &self.inner
    }
    fn into_object(py: Python<'_>, state: AnyStream) -> PyResult<Bound<'_, PyAny>> {
        fn make<'py, S: PyClass<BaseType = PyStreamBandit>>(
            py: Python<'py>,
            init: PyClassInitializer<PyStreamBandit>,
            sub: S,
        ) -> PyResult<Bound<'py, PyAny>> {
            Ok(Bound::new(py, init.add_subclass(sub))?.into_any())
        }
        type Make = for<'py> fn(
            Python<'py>,
            PyClassInitializer<PyStreamBandit>,
        ) -> PyResult<Bound<'py, PyAny>>;
        let subclass: Make = match &state {
            AnyStream::UniformExploration(_) => |py, init| make(py, init, PyUniformExploration),
            AnyStream::NaiveEpsilonBest(_) => |py, init| make(py, init, PyNaiveEpsilonBest),
            AnyStream::GameOfArms(_) => |py, init| make(py, init, PyGameOfArms),
            AnyStream::AggressiveSelectivePromotion(_) => {
                |py, init| make(py, init, PyAggressiveSelectivePromotion)
            }
        };
        subclass(py, PyClassInitializer::from(Self::wrap(state)))
    }
}

base_state_methods!(PyStreamBandit);

#[pymethods]
impl PyStreamBandit {
    /// An arm arrives: ``arm`` is the caller's integer id for it. Raises ArmError
    /// while pulls are pending, after ``finish()``, beyond ``n_arms`` arms, or if
    /// the id is already in memory. Once the horizon is used up, arriving arms are
    /// let go unpulled.
    fn offer(&self, py: Python<'_>, arm: &Bound<'_, PyAny>) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        with_lock(py, &self.inner, |p| p.offer(arm)).py_err(py)
    }

    /// The arm to pull next, or None when the policy wants no pull now (it waits
    /// for the next ``offer()``, or the horizon is used up).
    fn next_pull(&self, py: Python<'_>) -> Option<i64> {
        with_lock(py, &self.inner, |p| p.next_pull())
    }

    /// Pulls of ``next_pull()`` the policy wants before it decides anything: the
    /// size of a batch to evaluate in parallel and give to ``update_many``.
    #[getter]
    fn pending_pulls(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.pending())
    }

    /// Record the reward (in [0, 1]) of one pull of ``arm``, which must be
    /// ``next_pull()``. Raises ArmError for any other arm and RewardError for a
    /// reward that is NaN, infinite or outside [0, 1]; a refused call changes
    /// nothing.
    fn update(
        &self,
        py: Python<'_>,
        arm: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        let reward = real_arg(reward, "reward")?;
        with_lock(py, &self.inner, |p| p.update(arm, reward)).py_err(py)
    }

    /// Record the rewards of several pulls of ``arm`` (``next_pull()``), at most
    /// ``pending_pulls`` of them. The rewards are copied once (other real dtypes and
    /// sequences converted) and, when many, summed with the GIL released. Every reward
    /// is checked before any is recorded.
    fn update_many(
        &self,
        py: Python<'_>,
        arm: &Bound<'_, PyAny>,
        rewards: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        let rewards = owned_float64(rewards, "rewards")?;
        let ro = rewards.readonly();
        let r = ro.as_slice()?;
        // Releasing the GIL costs more than checking and summing a small batch.
        if r.len() < DETACH_ABOVE {
            with_lock(py, &self.inner, |p| p.update_many(arm, r)).py_err(py)
        } else {
            with_lock_detached(py, &self.inner, |p| p.update_many(arm, r)).py_err(py)
        }
    }

    /// The stream has ended. Raises ArmError while pulls are pending; a second
    /// call does nothing. The policy may ask for a few more pulls of the arms it
    /// holds, then commits: ``next_pull()`` then returns ``committed_arm`` until
    /// the horizon is used up.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        with_lock(py, &self.inner, |p| p.finish()).py_err(py)
    }

    /// Ids of the arms held now (after the commit, only the committed arm).
    fn arms_in_memory(&self, py: Python<'_>) -> Vec<i64> {
        with_lock(py, &self.inner, |p| p.arms_in_memory())
    }

    /// The most arms this policy ever holds at once, the arriving one included,
    /// whatever the stream.
    #[getter]
    fn max_arms_in_memory(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.max_arms_in_memory())
    }

    /// The arm committed to (None before the commit, or if the policy held none).
    #[getter]
    fn committed_arm(&self, py: Python<'_>) -> Option<i64> {
        with_lock(py, &self.inner, |p| p.committed())
    }

    /// Number of arms in the stream (K).
    #[getter]
    fn n_arms(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_arms())
    }

    /// Pulls allowed in all (T).
    #[getter]
    fn horizon(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.horizon())
    }

    /// Arms offered so far.
    #[getter]
    fn n_offered(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_offered())
    }

    /// Rewards learned so far (one per pull recorded, exploration and commit).
    #[getter]
    fn n_updates(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_pulls())
    }

    /// Alias of ``n_updates``, kept for compatibility.
    #[getter]
    fn n_pulls(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_pulls())
    }

    /// True once ``finish()`` has been called.
    #[getter]
    fn is_finished(&self, py: Python<'_>) -> bool {
        with_lock(py, &self.inner, |p| p.is_finished())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!("{}({})", p.kind(), p.describe_params())
        })
    }
}

/// Uniform exploration for a single-pass stream of arms: the baseline.
///
/// Holds a king and the arriving arm. Every arriving arm is pulled
/// ``n = (T/K)^(2/3) (ln T)^(1/3)`` times (rounded up) and replaces the king if its mean
/// is strictly higher; after ``finish()`` the king gets the remaining pulls. Regret
/// O(K^(1/3) T^(2/3) log^(1/3) T) with two arms of memory. Rewards in [0, 1].
///
/// The stream protocol, shared by every streaming policy: ``offer(arm)`` when an arm
/// arrives; then ``next_pull()`` names the arm to pull (or None) and ``update(arm,
/// reward)`` records one reward, or ``update_many(arm, rewards)`` up to
/// ``pending_pulls`` rewards at once; ``finish()`` when the stream ends.
///
/// >>> import random
/// >>> import regretless
/// >>> rates = {101: 0.2, 102: 0.9, 103: 0.5}  # unknown to the policy
/// >>> policy = regretless.UniformExploration(n_arms=3, horizon=30_000, seed=0)
/// >>> rng = random.Random(0)
/// >>> for arm_id in rates:
/// ...     policy.offer(arm_id)
/// ...     while (arm := policy.next_pull()) is not None:
/// ...         policy.update(arm, float(rng.random() < rates[arm]))
/// >>> policy.arms_in_memory()
/// [102]
/// >>> policy.finish()
/// >>> policy.committed_arm, policy.next_pull(), policy.pending_pulls
/// (102, 102, 26967)
#[pyclass(extends = PyStreamBandit, frozen, name = "UniformExploration", module = "regretless")]
pub struct PyUniformExploration;

#[pymethods]
impl PyUniformExploration {
    #[new]
    #[pyo3(signature = (n_arms, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms_u64)] n_arms: u64,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyStreamBandit)> {
        let horizon = horizon_arg(horizon)?;
        let core = UniformExploration::new(n_arms, horizon, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyStreamBandit::wrap(core)))
    }
}

/// Naive single-memory epsilon-best arm for a single-pass stream.
///
/// Like :class:`UniformExploration` (a king and the arriving arm, strict improvement
/// replaces the king) but every arm is pulled ``ln K / eps^2`` times with
/// ``eps = (K/T)^(1/3)``: O(K^(1/3) T^(2/3) log K) expected regret. It loses to uniform
/// exploration by a factor of about ``ln K / (ln T)^(1/3)`` whenever exploration
/// dominates; it is here as the reference point, not as a recommendation.
///
/// >>> import numpy as np
/// >>> import regretless
/// >>> policy = regretless.NaiveEpsilonBest(n_arms=100, horizon=10**8, seed=0)
/// >>> policy.offer(7)
/// >>> policy.next_pull(), policy.pending_pulls  # ln(100) / 0.01**2 pulls
/// (7, 46052)
/// >>> policy.update_many(7, np.ones(46052))  # e.g. evaluated in parallel
/// >>> policy.arms_in_memory(), policy.max_arms_in_memory
/// ([7], 2)
#[pyclass(extends = PyStreamBandit, frozen, name = "NaiveEpsilonBest", module = "regretless")]
pub struct PyNaiveEpsilonBest;

#[pymethods]
impl PyNaiveEpsilonBest {
    #[new]
    #[pyo3(signature = (n_arms, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms_u64)] n_arms: u64,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyStreamBandit)> {
        let horizon = horizon_arg(horizon)?;
        let core = NaiveEpsilonBest::new(n_arms, horizon, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyStreamBandit::wrap(core)))
    }
}

/// King/challenger "game of arms" (Jin et al. 2021, as used by Wang 2023) for a
/// single-pass stream, with its fractional-stream fallback.
///
/// With ``eps = (K/T)^(1/3)``: the king holds a budget (``1.2/eps^2`` when crowned,
/// ``+1/eps^2`` per arriving arm) and a reference value ``v``. A challenger is tested at
/// levels ``l = 0, 1, ...`` with ``2^l/eps^2`` pulls each, paid from the budget, and
/// discarded as soon as its mean is at most ``v - eps/5``; when the budget cannot pay
/// the next level the challenger is crowned (pulled ``1.2/eps^2`` times,
/// ``v = min(1, max(mean, v + eps/2))``). Alongside, the first arm and then each arm with
/// probability ``1.5 / ln K`` is pulled ``ln K / eps^2`` times and the best is kept: the
/// policy commits to it instead of the king if the king's stream spent more than
/// ``10 K / eps^2`` pulls. Three arms of memory. Uses its generator (seed) for the
/// fallback's coin flips.
///
/// Where it wins and where it loses (mean regret over 12 seeds as a multiple of uniform
/// exploration's, :func:`regretless.stream.simulate_stream` on
/// :func:`regretless.stream.paper_instance`): in the paper's regime ``T = 1000 K^3`` it
/// beats uniform exploration, 0.78-0.85x (clear-cut and mix-in, K = 1000 and 5000); with
/// a short horizon relative to K, ``T = K^2`` or ``10 K^2``, it loses, 1.03-1.20x (K =
/// 1000 and 5000), because its ``1/eps^2``-sized tests and ``1.2/eps^2`` crowning pulls
/// are a fixed overhead per arm that uniform exploration's ``(T/K)^(2/3) (ln T)^(1/3)``
/// pulls undercut when ``ln T`` is small; from ``T = 100 K^2`` it is back below 1.
/// :class:`AggressiveSelectivePromotion` beats uniform exploration in every one of these
/// settings (0.41-0.69x).
///
/// >>> import regretless
/// >>> policy = regretless.GameOfArms(n_arms=10, horizon=10**7, seed=1)
/// >>> for arm_id, rate in enumerate([0.5, 0.1, 0.9]):
/// ...     policy.offer(arm_id)
/// ...     while policy.next_pull() == arm_id:
/// ...         policy.update_many(arm_id, [rate] * policy.pending_pulls)
/// >>> policy.finish()
/// >>> policy.committed_arm
/// 2
#[pyclass(extends = PyStreamBandit, frozen, name = "GameOfArms", module = "regretless")]
pub struct PyGameOfArms;

#[pymethods]
impl PyGameOfArms {
    #[new]
    #[pyo3(signature = (n_arms, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms_u64)] n_arms: u64,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyStreamBandit)> {
        let horizon = horizon_arg(horizon)?;
        let core = GameOfArms::new(n_arms, horizon, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyStreamBandit::wrap(core)))
    }
}

/// Aggressive selective promotion (Assadi and Wang 2020, as used by Wang 2023): the
/// single-pass streaming policy with O(log* K) memory and the lowest regret here.
///
/// Levels ``l = 0 .. log*(K)`` each hold one arm. Level 0 pulls every arriving arm
/// ``1/eps^2`` times (``eps = (K/T)^(1/3)``) and keeps the better of it and its arm;
/// after 5 arrivals it promotes its arm to level 1, which pulls it afresh
/// ``4/eps^2`` times, and so on up (level 1 promotes after 5 arrivals, level 2 after
/// 4097, sizes ``r_l/eps^2`` with ``r = 2, 4, 16, 65536``). When the stream ends, the
/// arms still held are pulled ``1/eps^2`` more times each if the horizon allows, and the
/// best is committed to. Memory ``log*(K) + 2`` arms: 5 for K up to about 3.8 million.
///
/// >>> import numpy as np
/// >>> import regretless
/// >>> rng = np.random.default_rng(0)
/// >>> rates = 0.8 * rng.random(1000)  # 1000 candidates arriving in turn, unknown to it
/// >>> rates[617] = 0.9
/// >>> policy = regretless.AggressiveSelectivePromotion(1000, horizon=10**9, seed=0)
/// >>> for arm_id in range(1000):
/// ...     policy.offer(arm_id)
/// ...     while (arm := policy.next_pull()) is not None:
/// ...         policy.update_many(arm, rng.random(policy.pending_pulls) < rates[arm])
/// ...     assert len(policy.arms_in_memory()) <= policy.max_arms_in_memory
/// >>> policy.max_arms_in_memory
/// 5
/// >>> policy.finish()
/// >>> policy.committed_arm
/// 617
#[pyclass(extends = PyStreamBandit, frozen, name = "AggressiveSelectivePromotion", module = "regretless")]
pub struct PyAggressiveSelectivePromotion;

#[pymethods]
impl PyAggressiveSelectivePromotion {
    #[new]
    #[pyo3(signature = (n_arms, horizon, *, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms_u64)] n_arms: u64,
        horizon: &Bound<'_, PyAny>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyStreamBandit)> {
        let horizon = horizon_arg(horizon)?;
        let core =
            AggressiveSelectivePromotion::new(n_arms, horizon, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyStreamBandit::wrap(core)))
    }
}

/// Low-level entry point of `regretless.stream.simulate_stream`: runs `algorithm` (a class
/// name) over Bernoulli arms `means`, `n_runs` times in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (algorithm, means, horizon, n_runs, seed, order))]
pub fn _simulate_stream<'py>(
    py: Python<'py>,
    algorithm: &str,
    means: &Bound<'py, PyAny>,
    horizon: &Bound<'py, PyAny>,
    n_runs: usize,
    seed: u64,
    order: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let horizon = horizon_arg(horizon)?;
    let order = match order {
        "given" => Order::Given,
        "shuffled" => Order::Shuffled,
        other => {
            return Err(invalid_parameter(
                py,
                format!("order: expected 'shuffled' or 'given', got {other:?}"),
            ))
        }
    };
    let means = owned_float64(means, "means")?;
    let ro = means.readonly();
    let m = ro.as_slice()?;
    let out = py
        .detach(|| simulate_named(algorithm, m, horizon, n_runs, seed, order))
        .py_err(py)?;
    let d = PyDict::new(py);
    d.set_item("regret", PyArray1::from_vec(py, out.regret))?;
    d.set_item("committed", PyArray1::from_vec(py, out.committed))?;
    d.set_item(
        "exploration_pulls",
        PyArray1::from_vec(py, u64_to_i64(out.exploration_pulls)),
    )?;
    d.set_item(
        "peak_memory",
        PyArray1::from_vec(py, u64_to_i64(out.peak_memory)),
    )?;
    d.set_item("run_seeds", PyArray1::from_vec(py, out.run_seeds))?;
    Ok(d)
}
