//! Glue for the cascading bandits: the base class ``regretless.CascadeBandit`` over the core
//! registry [`AnyCascade`] with the shared methods written once, the short subclasses
//! `CascadeUCB1`, `CascadeKLUCB` and `CascadeLinUCB`, and `simulate_cascade`.

use crate::bandit::{ranked_list_tuple, RankedListTuple};
use crate::convert::{
    arm_arg, count_arg, owned_float64, owned_float64_nd, owned_int64, seed_arg, top_k_arg,
    with_lock, with_lock_detached,
};
use crate::eligible::{eligible_arg, eligible_rows_arg};
use crate::errors::{shape_error, IntoPyResult};
use crate::family::{base_state_methods, FamilyBase};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use regretless_core::cascade::{
    simulate_cascade, AnyCascade, CascadeEnv, CascadeKLUCB, CascadeLinUCB, CascadeUCB1,
};
use std::sync::Mutex;

/// The base class of the cascading bandits (``CascadeUCB1``, ``CascadeKLUCB``,
/// ``CascadeLinUCB``), which rank ``n_items`` items and learn from the first click in the
/// cascade model. Not constructed directly; ``CascadeBandit.from_bytes`` restores any of
/// them.
///
/// >>> import regretless
/// >>> policy = regretless.CascadeUCB1(5, seed=0)
/// >>> isinstance(policy, regretless.CascadeBandit)
/// True
#[pyclass(name = "CascadeBandit", module = "regretless", subclass, frozen)]
pub struct PyCascadeBandit {
    inner: Mutex<AnyCascade>,
}

impl PyCascadeBandit {
    fn wrap(core: impl Into<AnyCascade>) -> Self {
        Self {
            inner: Mutex::new(core.into()),
        }
    }
    fn item_count(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.n_items())
    }
}

impl FamilyBase for PyCascadeBandit {
    type Any = AnyCascade;
    fn state(&self) -> &Mutex<AnyCascade> {
        &self.inner
    }
    fn into_object(py: Python<'_>, state: AnyCascade) -> PyResult<Bound<'_, PyAny>> {
        type Make = for<'py> fn(
            Python<'py>,
            PyClassInitializer<PyCascadeBandit>,
        ) -> PyResult<Bound<'py, PyAny>>;
        let make: Make = match &state {
            AnyCascade::CascadeUCB1(_) => {
                |py, init| Ok(Bound::new(py, init.add_subclass(PyCascadeUCB1))?.into_any())
            }
            AnyCascade::CascadeKLUCB(_) => {
                |py, init| Ok(Bound::new(py, init.add_subclass(PyCascadeKLUCB))?.into_any())
            }
            AnyCascade::CascadeLinUCB(_) => {
                |py, init| Ok(Bound::new(py, init.add_subclass(PyCascadeLinUCB))?.into_any())
            }
        };
        make(py, PyClassInitializer::from(Self::wrap(state)))
    }
}

base_state_methods!(PyCascadeBandit);

/// `click_position`: None or an integer (a slot of the list).
fn click_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => Ok(Some(arm_arg(o, "click_position")?)),
    }
}

#[pymethods]
impl PyCascadeBandit {
    /// The ``k`` items with the largest index, best first, as
    /// ``(items, propensities, list_propensity)`` (the propensities as for
    /// ``Bandit.select_list``: 1.0 except where ties are broken at random). Raises
    /// InvalidParameterError unless ``1 <= k <= n_items``.
    ///
    /// ``eligible`` (a boolean mask of length n_items or distinct item indices) lists only
    /// those items: the top ``k`` of their indices, ties at random among them (the
    /// propensities count ties among eligible items only). A list is never shortened: with
    /// fewer than ``k`` eligible items it raises InvalidParameterError naming ``k``, and
    /// with none eligible one naming ``eligible``. Learned state is not affected.
    #[pyo3(signature = (k, *, eligible = None))]
    fn select_list<'py>(
        &self,
        py: Python<'py>,
        k: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<RankedListTuple<'py>> {
        let k = top_k_arg(k, self.item_count(py))?;
        let eligible = eligible_arg(eligible, || self.item_count(py))?;
        let list = with_lock_detached(py, &self.inner, |p| match &eligible {
            None => p.select_list(k),
            Some(e) => p.select_list_eligible(k, e),
        })
        .py_err(py)?;
        Ok(ranked_list_tuple(py, list))
    }

    /// ``n`` lists of ``k`` items with no feedback between them, an (n, k) int64 array.
    /// ``eligible``: one set of items for every list (mask or indices), or a boolean mask
    /// of shape (n, n_items), one row per list; every row needs ``k`` eligible items.
    #[pyo3(signature = (n, k, *, eligible = None))]
    fn select_list_batch<'py>(
        &self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
        k: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let n = count_arg(n, "n")?;
        let k = top_k_arg(k, self.item_count(py))?;
        let eligible = eligible_rows_arg(eligible, n, || self.item_count(py))?;
        let v = with_lock_detached(py, &self.inner, |p| match &eligible {
            None => p.select_list_batch(n, k),
            Some(e) => p.select_list_batch_eligible(n, k, e),
        })
        .py_err(py)?;
        let v: Vec<i64> = v.into_iter().map(|e| e as i64).collect();
        PyArray1::from_vec(py, v).reshape([n, k])
    }

    /// Record the feedback of one shown list: ``items`` in slot order, and the slot of
    /// the click (``None`` when nothing was clicked). The items above the click are
    /// recorded as examined and not attractive, the clicked one as attractive, those
    /// below it are not recorded. Raises (changing nothing) on repeated or unknown items
    /// or a click outside the list.
    #[pyo3(signature = (items, click_position = None))]
    fn update_list(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        click_position: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let click = click_arg(click_position)?;
        let items = owned_int64(items, "items")?;
        let items = items.as_slice()?;
        with_lock(py, &self.inner, |p| p.update_list(items, click)).py_err(py)
    }

    /// Record many lists at once: ``lists`` an (n, k) integer array, ``clicks`` (n,)
    /// integers with -1 for no click. Every row is validated before any is recorded.
    fn update_list_batch(
        &self,
        py: Python<'_>,
        lists: &Bound<'_, PyAny>,
        clicks: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let np = py.import("numpy")?;
        let arr = np.call_method1("asarray", (lists,))?;
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        if shape.len() != 2 {
            return Err(shape_error(
                py,
                format!("lists: expected a 2-D (n, k) array, got shape {shape:?}"),
            ));
        }
        let flat = owned_int64(&arr.call_method0("ravel")?, "lists")?;
        let clicks = owned_int64(clicks, "clicks")?;
        let (flat, clicks) = (flat.as_slice()?, clicks.as_slice()?);
        with_lock_detached(py, &self.inner, |p| {
            p.update_list_batch(flat, shape[1], clicks)
        })
        .py_err(py)
    }

    /// The index of every item (+inf for items never examined); with ``eligible``, -inf
    /// for the items outside it.
    #[pyo3(signature = (*, eligible = None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = match eligible_arg(eligible, || self.item_count(py))? {
            None => with_lock_detached(py, &self.inner, |p| p.scores()),
            Some(e) => with_lock_detached(py, &self.inner, |p| p.scores_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(py, v))
    }

    /// Times each item was examined (int64).
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v = with_lock(py, &self.inner, |p| p.examined());
        PyArray1::from_vec(py, crate::convert::u64_to_i64(v))
    }

    /// Observed click rate of each item (0.0 for items never examined).
    fn click_rates<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, with_lock(py, &self.inner, |p| p.click_rates()))
    }

    /// Number of items L.
    #[getter]
    fn n_items(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.n_items())
    }

    /// Number of lists learned (one per list with its click feedback).
    #[getter]
    fn n_updates(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_rounds())
    }

    /// Alias of ``n_updates``, kept for compatibility.
    #[getter]
    fn n_rounds(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_rounds())
    }

    /// Add the counts of another policy of the same class and hyperparameters: the
    /// result equals one policy that saw both streams of lists.
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let o = crate::family::other_state(slf, other)?;
        with_lock(py, &slf.get().inner, |p| p.merge(&o)).py_err(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "{}(n_items={}, {})",
                p.kind(),
                p.n_items(),
                p.describe_params()
            )
        })
    }
}

/// CascadeUCB1 (Kveton, Szepesvari, Wen, Ashkan 2015): in the cascade model, items above
/// the first click are known unattractive and the clicked one attractive; each item's
/// click rate gets the index ``w_hat + sqrt(c ln t / T)`` (``T`` examinations, ``t``
/// rounds, ``c = 1.5`` in the paper) and the list is the top ``k`` by index.
///
/// >>> import regretless
/// >>> policy = regretless.CascadeUCB1(6, seed=0)
/// >>> policy.update_list([0, 1, 2], click_position=1)
/// >>> policy.update_list([3, 4, 5], None)
/// >>> policy.counts().tolist(), policy.click_rates().tolist()
/// ([1, 1, 0, 1, 1, 1], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
/// >>> int(policy.select_list(2)[0][0])
/// 2
#[pyclass(extends = PyCascadeBandit, frozen, name = "CascadeUCB1", module = "regretless")]
pub struct PyCascadeUCB1;

#[pymethods]
impl PyCascadeUCB1 {
    #[new]
    #[pyo3(signature = (n_items, *, c = 1.5, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_items)] n_items: usize,
        c: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyCascadeBandit)> {
        let p = CascadeUCB1::new(n_items, c, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyCascadeBandit::wrap(p)))
    }
}

/// CascadeKL-UCB (Kveton et al. 2015): as ``CascadeUCB1`` with the Bernoulli KL-UCB
/// index ``max{q >= w_hat : T kl(w_hat, q) <= ln t + c ln ln t}`` (``c = 3`` in the
/// paper's analysis), whose regret is far lower when attraction probabilities are small.
///
/// >>> import regretless
/// >>> policy = regretless.CascadeKLUCB(4, seed=0)
/// >>> policy.update_list_batch([[0, 1], [2, 3], [1, 0]], [0, -1, -1])
/// >>> policy.counts().tolist(), policy.n_rounds
/// ([2, 1, 1, 1], 3)
#[pyclass(extends = PyCascadeBandit, frozen, name = "CascadeKLUCB", module = "regretless")]
pub struct PyCascadeKLUCB;

#[pymethods]
impl PyCascadeKLUCB {
    #[new]
    #[pyo3(signature = (n_items, *, c = 3.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_items)] n_items: usize,
        c: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyCascadeBandit)> {
        let p = CascadeKLUCB::new(n_items, c, seed_arg(seed)?).py_err(py)?;
        Ok((Self, PyCascadeBandit::wrap(p)))
    }
}

/// CascadeLinUCB (Zong et al. 2016): attraction probabilities linear in known item
/// features, ``w(e) ~ x_e' theta``; one ridge regression (``lam``) over every examined
/// item's label, index ``x_e' theta_hat + alpha sqrt(x_e' M^-1 x_e)``. ``features`` is
/// an (n_items, dim) array, copied once (converted if not float64).
///
/// >>> import numpy as np, regretless
/// >>> features = np.eye(3)
/// >>> policy = regretless.CascadeLinUCB(features, alpha=0.0, seed=0)
/// >>> policy.update_list([2, 0], click_position=1)
/// >>> policy.estimates().round(3).tolist()
/// [0.5, 0.0, 0.0]
#[pyclass(extends = PyCascadeBandit, frozen, name = "CascadeLinUCB", module = "regretless")]
pub struct PyCascadeLinUCB;

#[pymethods]
impl PyCascadeLinUCB {
    #[new]
    #[pyo3(signature = (features, *, alpha = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        features: &Bound<'_, PyAny>,
        alpha: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyCascadeBandit)> {
        let seed = seed_arg(seed)?;
        let (arr, shape) = owned_float64_nd(features, "features")?;
        if shape.len() != 2 || shape[0] == 0 || shape[1] == 0 {
            return Err(shape_error(
                py,
                format!(
                    "features: expected a non-empty 2-D (n_items, dim) array, got shape {shape:?}"
                ),
            ));
        }
        let f = arr.as_slice()?;
        let p = CascadeLinUCB::new(f, shape[0], shape[1], alpha, lam, seed).py_err(py)?;
        Ok((Self, PyCascadeBandit::wrap(p)))
    }

    /// Estimated attraction ``x_e' theta_hat`` of every item.
    fn estimates<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyArray1<f64>> {
        let py = slf.py();
        let v = with_lock(py, &slf.as_super().get().inner, |p| match p {
            AnyCascade::CascadeLinUCB(l) => l.estimates(),
            other => unreachable!("a CascadeLinUCB object holds a {}", other.kind()),
        });
        PyArray1::from_vec(py, v)
    }

    /// Number of features d.
    #[getter]
    fn dim(slf: &Bound<'_, Self>) -> usize {
        with_lock(slf.py(), &slf.as_super().get().inner, |p| match p {
            AnyCascade::CascadeLinUCB(l) => l.dim(),
            other => unreachable!("a CascadeLinUCB object holds a {}", other.kind()),
        })
    }
}

/// `simulate_cascade`'s result: per-round regret and click positions.
type RegretAndClicks<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<i64>>);

/// Play a cascade policy (it learns as it plays) for ``horizon`` rounds of lists of
/// ``k`` items against the cascade click model with attraction probabilities
/// ``attraction`` (one per item): the user clicks the first attractive item of the list.
/// Returns ``(regret, clicks)``: the expected cascade regret of each round,
/// ``f(A*) - f(A_t)`` with ``f(A) = 1 - prod_{e in A}(1 - w(e))`` and ``A*`` the ``k``
/// most attractive items (float64), and the click position of each round (-1: none).
/// The clicks are drawn from ``seed``.
///
/// >>> import numpy as np, regretless
/// >>> w = np.array([0.2] * 2 + [0.05] * 6)
/// >>> policy = regretless.CascadeKLUCB(8, seed=0)
/// >>> regret, clicks = regretless.simulate_cascade(policy, w, 2, 2000, seed=1)
/// >>> regret.shape, policy.n_rounds, bool(regret[-500:].mean() < regret[:500].mean())
/// ((2000,), 2000, True)
#[pyfunction]
#[pyo3(name = "simulate_cascade", signature = (policy, attraction, k, horizon, *, seed = 0))]
pub fn simulate_cascade_py<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyCascadeBandit>,
    attraction: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    horizon: &Bound<'py, PyAny>,
    seed: u64,
) -> PyResult<RegretAndClicks<'py>> {
    let w = owned_float64(attraction, "attraction")?;
    let env = CascadeEnv::new(w.as_slice()?).py_err(py)?;
    let k = top_k_arg(k, env.n_items())?;
    let horizon = crate::convert::batch_count_arg(horizon, "horizon")?;
    let (regret, clicks) = with_lock_detached(py, &policy.get().inner, |p| {
        simulate_cascade(p, &env, k, horizon, seed)
    })
    .py_err(py)?;
    Ok((
        PyArray1::from_vec(py, regret),
        PyArray1::from_vec(py, clicks),
    ))
}
