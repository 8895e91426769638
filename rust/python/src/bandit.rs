//! `regretless.Bandit`, the base class of every multi-armed policy. It holds the core
//! registry's [`AnyPolicy`] and carries the shared vocabulary (select/update, batch forms,
//! arrays, arm management, bytes, pickle, copy, merge, fit_logs), written once here. Each
//! algorithm is a short subclass in its family file (ucb.rs, klucb.rs, ...) with only its
//! docstring, constructor and extra accessors; [`new_object`] and [`add_classes`] list them.

use crate::convert::{bytes_arg, with_lock, with_lock_detached};
use crate::detect::{PyCUSUMUCB, PyGLRUCB};
use crate::drift::{PyDiscountedThompsonSampling, PyDiscountedUCB, PySlidingWindowUCB};
use crate::elimination::PySuccessiveElimination;
use crate::errors::{dtype_error, IntoPyResult};
use crate::exp3::{PyExp3, PyExp3IX};
use crate::greedy::{PyEpsilonGreedy, PySoftmax};
use crate::klucb::{PyBayesUCB, PyKLUCB};
use crate::thompson::{PyGaussianThompsonSampling, PyThompsonSampling};
use crate::tsallis::PyTsallisINF;
use crate::ucb::{PyMOSS, PyUCB1, PyUCBV};
use numpy::PyArray1;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};
use pyo3::{PyClass, PyClassInitializer, PyTypeInfo};
use regretless_core::policy::{AnyPolicy, RankedList, Registered};
use std::sync::Mutex;

/// The base class of the multi-armed bandit policies (``UCB1``, ``ThompsonSampling``, ...):
/// every method shared by the family is defined here. It is not constructed directly;
/// ``Bandit.from_bytes`` restores a policy of whichever class the bytes hold.
///
/// >>> import regretless
/// >>> policy = regretless.UCB1(3, seed=0)
/// >>> isinstance(policy, regretless.Bandit)
/// True
/// >>> regretless.Bandit.from_bytes(policy.to_bytes())
/// UCB1(n_arms=3, alpha=1)
///
/// ``eligible=`` restricts one decision to some arms (a boolean mask or arm indices); the
/// probabilities are then those of the restricted draw:
///
/// >>> exp3 = regretless.EXP3(4, gamma=0.2, seed=0)
/// >>> exp3.select(eligible=[0, 2]) in (0, 2)
/// True
/// >>> exp3.probabilities(eligible=[True, False, True, False])
/// array([0.5, 0. , 0.5, 0. ])
#[pyclass(subclass, frozen, name = "Bandit", module = "regretless")]
pub struct Bandit {
    pub(crate) inner: Mutex<AnyPolicy>,
}

impl Bandit {
    /// The base part of a new policy object (a subclass constructor returns `(Sub, base)`).
    pub(crate) fn new(policy: impl Into<AnyPolicy>) -> Self {
        Bandit {
            inner: Mutex::new(policy.into()),
        }
    }

    /// A copy of the policy, taken under the lock (then released).
    pub(crate) fn snapshot(&self, py: Python<'_>) -> AnyPolicy {
        with_lock(py, &self.inner, |p| p.clone())
    }
}

/// Runs `f` on the `P` held by `slf`, an object of the subclass whose policy type is `P`
/// (for the subclass's own accessors).
pub(crate) fn with_policy<S, P, R>(
    slf: &Bound<'_, S>,
    f: impl FnOnce(&mut P) -> R + Send,
) -> PyResult<R>
where
    S: PyClass<BaseType = Bandit>,
    P: Registered,
    R: Send,
{
    let base: &Bandit = slf.as_super().get();
    with_lock(slf.py(), &base.inner, |any| P::from_any_mut(any).map(f)).ok_or_else(|| {
        // Unreachable: objects are only made by their constructor or `new_object`.
        PyRuntimeError::new_err(format!(
            "internal error in regretless: a {} object does not hold a {}",
            <S as PyTypeInfo>::NAME,
            P::KIND
        ))
    })
}

/// `obj` as a multi-armed policy; a DTypeError naming `argument` if it is not one.
pub(crate) fn bandit_arg<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    argument: &str,
) -> PyResult<&'a Bound<'py, Bandit>> {
    obj.cast::<Bandit>().map_err(|_| {
        dtype_error(
            obj.py(),
            format!(
                "{argument}: expected a regretless multi-armed bandit policy, got {}",
                type_name(obj)
            ),
        )
    })
}

fn subclass_object<S: PyClass<BaseType = Bandit>>(
    py: Python<'_>,
    subclass: S,
    policy: AnyPolicy,
) -> PyResult<Bound<'_, PyAny>> {
    let init = PyClassInitializer::from(Bandit::new(policy)).add_subclass(subclass);
    Ok(Bound::new(py, init)?.into_any())
}

/// A Python object of the policy's own class, holding `policy`. The match is exhaustive,
/// so a new registry variant does not compile until it has its class here.
pub(crate) fn new_object(py: Python<'_>, policy: AnyPolicy) -> PyResult<Bound<'_, PyAny>> {
    match policy {
        AnyPolicy::EpsilonGreedy(_) => subclass_object(py, PyEpsilonGreedy, policy),
        AnyPolicy::Softmax(_) => subclass_object(py, PySoftmax, policy),
        AnyPolicy::UCB1(_) => subclass_object(py, PyUCB1, policy),
        AnyPolicy::UCBV(_) => subclass_object(py, PyUCBV, policy),
        AnyPolicy::MOSS(_) => subclass_object(py, PyMOSS, policy),
        AnyPolicy::KLUCB(_) => subclass_object(py, PyKLUCB, policy),
        AnyPolicy::BayesUCB(_) => subclass_object(py, PyBayesUCB, policy),
        AnyPolicy::ThompsonSampling(_) => subclass_object(py, PyThompsonSampling, policy),
        AnyPolicy::GaussianThompsonSampling(_) => {
            subclass_object(py, PyGaussianThompsonSampling, policy)
        }
        AnyPolicy::Exp3(_) => subclass_object(py, PyExp3, policy),
        AnyPolicy::Exp3IX(_) => subclass_object(py, PyExp3IX, policy),
        AnyPolicy::SuccessiveElimination(_) => subclass_object(py, PySuccessiveElimination, policy),
        AnyPolicy::SlidingWindowUCB(_) => subclass_object(py, PySlidingWindowUCB, policy),
        AnyPolicy::DiscountedUCB(_) => subclass_object(py, PyDiscountedUCB, policy),
        AnyPolicy::DiscountedThompsonSampling(_) => {
            subclass_object(py, PyDiscountedThompsonSampling, policy)
        }
        AnyPolicy::TsallisINF(_) => subclass_object(py, PyTsallisINF, policy),
        AnyPolicy::CUSUMUCB(_) => subclass_object(py, PyCUSUMUCB, policy),
        AnyPolicy::GLRUCB(_) => subclass_object(py, PyGLRUCB, policy),
    }
}

/// Adds `Bandit` (with the direct `select`/`update` entry points that every subclass
/// inherits), each policy class in registry order, and `POLICY_NAMES`, their class names.
pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Bandit>()?;
    crate::fastcall::install(&py.get_type::<Bandit>())?;
    // One class per registry variant: a missing one is a compile error (array length).
    let classes: [_; AnyPolicy::NAMES.len()] = [
        py.get_type::<PyEpsilonGreedy>(),
        py.get_type::<PySoftmax>(),
        py.get_type::<PyUCB1>(),
        py.get_type::<PyUCBV>(),
        py.get_type::<PyMOSS>(),
        py.get_type::<PyKLUCB>(),
        py.get_type::<PyBayesUCB>(),
        py.get_type::<PyThompsonSampling>(),
        py.get_type::<PyGaussianThompsonSampling>(),
        py.get_type::<PyExp3>(),
        py.get_type::<PyExp3IX>(),
        py.get_type::<PySuccessiveElimination>(),
        py.get_type::<PySlidingWindowUCB>(),
        py.get_type::<PyDiscountedUCB>(),
        py.get_type::<PyDiscountedThompsonSampling>(),
        py.get_type::<PyTsallisINF>(),
        py.get_type::<PyCUSUMUCB>(),
        py.get_type::<PyGLRUCB>(),
    ];
    let mut names = Vec::with_capacity(classes.len());
    for class in classes {
        let name = class.name()?;
        m.add(&name, &class)?;
        names.push(name);
    }
    m.add("POLICY_NAMES", PyTuple::new(py, names)?)?;
    Ok(())
}

/// `select_list`'s result in Python: `(arms, propensities, list_propensity)`.
pub(crate) type RankedListTuple<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>, f64);

pub(crate) fn ranked_list_tuple(py: Python<'_>, list: RankedList) -> RankedListTuple<'_> {
    let arms = list.arms.iter().map(|&a| a as i64).collect::<Vec<i64>>();
    (
        PyArray1::from_vec(py, arms),
        PyArray1::from_vec(py, list.propensities),
        list.list_propensity,
    )
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

#[pymethods]
impl Bandit {
    /// Choose an arm for the next decision; with ``eligible`` (a boolean mask of length
    /// n_arms or distinct arm indices) only among those arms: index rules take the argmax
    /// of their index over them, randomized rules draw from their distribution restricted
    /// to them and renormalized (what ``probabilities(eligible=...)`` reports). Raises
    /// InvalidParameterError when no arm is eligible; learned state is not affected.
    #[pyo3(signature = (*, eligible = None))]
    fn select(&self, py: Python<'_>, eligible: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        match crate::eligible::eligible_arg(eligible, || self.n_arms(py))? {
            None => Ok(with_lock(py, &self.inner, |p| p.select())),
            Some(e) => with_lock(py, &self.inner, |p| p.select_eligible(&e)).py_err(py),
        }
    }

    /// Record the reward observed after playing `arm`.
    fn update(
        &self,
        py: Python<'_>,
        arm: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let arm = crate::convert::arm_arg(arm, "arm")?;
        let reward = crate::convert::real_arg(reward, "reward")?;
        with_lock(py, &self.inner, |p| p.update(arm, reward)).py_err(py)
    }

    /// `n` decisions made with no feedback between them, as int64 array.
    /// ``eligible``: one set of arms for every decision (mask or indices), or a boolean
    /// mask of shape (n, n_arms), one row per decision.
    #[pyo3(signature = (n, *, eligible = None))]
    fn select_batch<'py>(
        &self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let n = crate::convert::batch_count_arg(n, "n")?;
        let eligible = crate::eligible::eligible_rows_arg(eligible, n, || self.n_arms(py))?;
        let arms = with_lock_detached(py, &self.inner, |p| match &eligible {
            None => Ok(p.select_batch(n)),
            Some(e) => p.select_batch_eligible(n, e),
        })
        .py_err(py)?;
        Ok(PyArray1::from_vec(
            py,
            arms.into_iter().map(|a| a as i64).collect(),
        ))
    }

    /// Record many (arm, reward) pairs at once. The arrays are copied once (other
    /// integer and real dtypes converted) before the lock is taken; every row is
    /// validated before any is recorded.
    fn update_batch(
        &self,
        py: Python<'_>,
        arms: &Bound<'_, PyAny>,
        rewards: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let arms = crate::convert::owned_int64(arms, "arms")?;
        let rewards = crate::convert::owned_float64(rewards, "rewards")?;
        let arms_ro = arms.readonly();
        let rewards_ro = rewards.readonly();
        let a = arms_ro.as_slice()?;
        let r = rewards_ro.as_slice()?;
        with_lock_detached(py, &self.inner, |p| p.update_batch(a, r)).py_err(py)
    }

    /// A ranked list of ``k`` distinct arms, best slot first, with its propensities:
    /// ``(arms, propensities, list_propensity)``.
    ///
    /// ``arms`` (int64, length ``k``) ranks by the policy's own rule: index policies list
    /// the ``k`` largest values of what ``select`` maximizes (``scores()``, or for
    /// ``SuccessiveElimination`` the least-pulled active arms), ties in random order as
    /// ``select`` breaks them; ``EpsilonGreedy``, ``Softmax``, ``EXP3`` and ``EXP3IX`` draw
    /// slot after slot from their ``select`` distribution restricted to the arms not yet
    /// listed (sampling without replacement; Plackett-Luce for the exponential weights);
    /// the Thompson samplers draw one posterior sample and list its top ``k``.
    ///
    /// ``propensities[j]`` (float64) is the probability that slot ``j`` shows ``arms[j]``
    /// given the slots above it, so ``np.cumprod(propensities)[j]`` is the probability of
    /// the list's first ``j + 1`` slots (the cascade propensity) and ``list_propensity``,
    /// their product, that of the whole ordered list. Exact for every policy except the
    /// Thompson samplers, whose prefix probabilities are estimated from 10,000 extra
    /// posterior draws plus the decision itself (never zero). Position-wise marginals
    /// P(slot j shows arm a) whatever the slots above show are given by
    /// ``list_marginals(k)``.
    ///
    /// With ``k = 1`` the list is distributed as ``select()``. Draws from the generator
    /// like ``select``; changes no statistic. Raises InvalidParameterError unless
    /// ``1 <= k <= n_arms``.
    ///
    /// >>> import regretless
    /// >>> policy = regretless.UCB1(4, seed=0)
    /// >>> policy.update_batch([0, 1, 2, 3], [0.2, 0.9, 0.5, 0.1])
    /// >>> arms, propensities, p = policy.select_list(2)
    /// >>> arms.tolist(), propensities.tolist(), p
    /// ([1, 2], [1.0, 1.0], 1.0)
    fn select_list<'py>(
        &self,
        py: Python<'py>,
        k: &Bound<'py, PyAny>,
    ) -> PyResult<RankedListTuple<'py>> {
        let k = crate::convert::top_k_arg(k, self.n_arms(py))?;
        let list = with_lock_detached(py, &self.inner, |p| p.select_list(k)).py_err(py)?;
        Ok(ranked_list_tuple(py, list))
    }

    /// Position-wise marginals of ``select_list(k)`` in the current state: an
    /// (n_arms, k) float64 array ``m`` with ``m[a, j]`` the probability that slot ``j``
    /// shows arm ``a`` (whatever the other slots show). Each column sums to 1 and
    /// ``m.sum(axis=1)`` is each arm's probability of being listed at all; the layout is
    /// the ``action_dist`` (n_actions, n_slots) of one row of ranked logs, so
    /// position-based / independent IPS can weight a click at slot ``j`` by
    /// ``m[a, j]`` of the logging and target policies.
    ///
    /// Exact for the index policies (ties at random: ``1 / g`` in each slot a tie group of
    /// ``g`` arms covers) and for the policies that draw slot after slot (EpsilonGreedy,
    /// Softmax, EXP3, EXP3IX, TsallisINF) by a dynamic program over the sets of arms
    /// listed above each slot, when there are at most 64 arms and at most 2**15 such sets
    /// (``sum_{j<k} C(n_arms, j)``). Otherwise, and always for the Thompson samplers, the
    /// slot frequencies of ``samples`` lists (default 10,000) drawn from a generator forked from the
    /// policy's (standard error ``sqrt(m (1 - m) / samples)``; the same state gives the
    /// same estimate). Cost: O(sets * n_arms) exact, O(samples * k * n_arms) by sampling.
    /// Draws nothing from the policy's generator and changes no statistic. Raises
    /// InvalidParameterError unless ``1 <= k <= n_arms`` and ``samples >= 1``.
    ///
    /// >>> import regretless
    /// >>> policy = regretless.UCB1(3, seed=0)
    /// >>> policy.update_batch([0, 1, 2], [0.5, 0.5, 0.1])
    /// >>> policy.list_marginals(2).tolist()
    /// [[0.5, 0.5], [0.5, 0.5], [0.0, 0.0]]
    #[pyo3(signature = (k, *, samples = None))]
    fn list_marginals<'py>(
        &self,
        py: Python<'py>,
        k: &Bound<'py, PyAny>,
        samples: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        use numpy::PyArrayMethods;
        let n = self.n_arms(py);
        let k = crate::convert::top_k_arg(k, n)?;
        let samples = match samples.filter(|s| !s.is_none()) {
            Some(s) => crate::convert::u64_arg(s, "samples", 1)?,
            None => 10_000,
        };
        let samples = usize::try_from(samples).unwrap_or(usize::MAX);
        let (m, _exact) =
            with_lock_detached(py, &self.inner, |p| p.list_marginals(k, samples)).py_err(py)?;
        // Rows from the result: arms may have been added since `n` was read.
        let rows = m.len() / k;
        PyArray1::from_vec(py, m).reshape([rows, k])
    }

    /// Per-arm index of the decision rule (+inf for arms it must try first); with
    /// ``eligible``, -inf for the arms outside it.
    #[pyo3(signature = (*, eligible = None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = match crate::eligible::eligible_arg(eligible, || self.n_arms(py))? {
            None => with_lock(py, &self.inner, |p| p.scores()),
            Some(e) => with_lock(py, &self.inner, |p| p.scores_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(py, v))
    }

    /// Probability of each arm at the next `select()` (exact, except Monte Carlo
    /// with 10,000 draws for Thompson sampling). Does not consume randomness. With
    /// ``eligible``, the law of ``select(eligible=...)``: 0 outside it, renormalized
    /// over it.
    #[pyo3(signature = (*, eligible = None))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = match crate::eligible::eligible_arg(eligible, || self.n_arms(py))? {
            None => with_lock(py, &self.inner, |p| p.probabilities()),
            Some(e) => with_lock(py, &self.inner, |p| p.probabilities_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(py, v))
    }

    /// Number of rewards recorded per arm (int64).
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v = with_lock(py, &self.inner, |p| p.counts());
        PyArray1::from_vec(py, crate::convert::u64_to_i64(v))
    }

    /// Empirical mean reward per arm (0.0 for arms never pulled).
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let v = with_lock(py, &self.inner, |p| p.means());
        PyArray1::from_vec(py, v)
    }

    /// Number of arms.
    #[getter]
    fn n_arms(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.n_arms())
    }

    /// Total number of rewards recorded.
    #[getter]
    fn n_updates(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_updates())
    }

    /// Append an arm with no observations; returns its index.
    fn add_arm(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.add_arm())
    }

    /// Remove arm `arm` and its statistics; the arms after it shift down by one.
    fn remove_arm(&self, py: Python<'_>, arm: &Bound<'_, PyAny>) -> PyResult<()> {
        let arm = crate::convert::arm_arg(arm, "arm")?;
        with_lock(py, &self.inner, |p| p.remove_arm(arm)).py_err(py)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.get_type().name()?.to_string();
        Ok(with_lock(slf.py(), &slf.get().inner, |p| {
            format!("{}(n_arms={}, {})", name, p.n_arms(), p.describe_params())
        }))
    }

    /// Serialize the whole state (parameters, statistics, generator) to versioned,
    /// checksummed bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = with_lock(py, &self.inner, |p| p.encode()).py_err(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Restore an object from ``to_bytes()`` output; it continues the same random
    /// stream. Raises StateError on corrupt, truncated or foreign bytes (on a subclass,
    /// also on the bytes of another policy class; on ``Bandit``, any policy class is
    /// returned).
    #[classmethod]
    fn from_bytes<'py>(
        cls: &Bound<'py, PyType>,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = bytes_arg(data, "data")?;
        let policy = py.detach(|| AnyPolicy::decode(&bytes)).py_err(py)?;
        let obj = new_object(py, policy)?;
        if !obj.is_instance(cls)? {
            let message = format!(
                "the bytes hold a {}, not a {}",
                type_name(&obj),
                cls.name()?
            );
            return Err(regretless_core::Error::state(message)).py_err(py);
        }
        Ok(obj)
    }

    /// Pickle as ``(cls.from_bytes, (bytes,))``.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let restore = slf.as_any().get_type().getattr("from_bytes")?;
        Ok((restore, (slf.get().to_bytes(py)?,)))
    }

    /// An independent copy (same state, same position in the random stream).
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_object(py, self.snapshot(py))
    }

    fn __copy__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.copy(py)
    }

    fn __deepcopy__<'py>(
        &self,
        py: Python<'py>,
        _memo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.copy(py)
    }

    /// Add the observations of another policy of the same class, arm count and
    /// hyperparameters: the result equals one policy that saw both streams.
    /// ``p.merge(p)`` (or a copy of ``p``) doubles every statistic, as if each reward had
    /// been seen twice. Raises DTypeError when ``other`` is of another class, and
    /// IncompatibleError, changing nothing, when the class does not merge, the arm count
    /// or a hyperparameter differs (the message names it) or the update count would
    /// exceed 2**64 - 1.
    fn merge(slf: &Bound<'_, Self>, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let wrong_class = || {
            dtype_error(
                py,
                format!(
                    "other: expected a {}, got {}",
                    type_name(slf.as_any()),
                    type_name(other)
                ),
            )
        };
        if !other.get_type().is(slf.get_type()) {
            return Err(wrong_class());
        }
        let other = other.cast::<Bandit>().map_err(|_| wrong_class())?;
        // The copy is taken first, so that a merge never holds two locks at once (no
        // lock-order deadlock, and `p.merge(p)` works).
        let o = other.get().snapshot(py);
        let this = slf.get();
        with_lock(py, &this.inner, |p| p.merge(&o)).py_err(py)
    }

    /// Warm-start from logged feedback (a pyarrow Table, Parquet path, data frame,
    /// dict of arrays, ...) in one pass; see ``regretless.logs.fit_logs`` for the
    /// options (``weighting="ips"`` or ``"none"``, ``columns``, ``context``,
    /// ``batch_size``, ``max_weight``). Returns the policy.
    #[pyo3(signature = (source, **kwargs))]
    fn fit_logs<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        py.import("regretless.logs")?
            .getattr("fit_logs")?
            .call((slf, source), kwargs)
    }
}
