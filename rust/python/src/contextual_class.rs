//! The base class of the linear contextual policies, ``regretless.ContextualBandit``: the
//! shared vocabulary (decisions and updates on context arrays, per-arm score matrices, arm
//! management, bytes, pickle, copy, merge) written once over the core registry
//! [`AnyContextual`]; each policy is a short subclass in `linear.rs`.

use crate::family::{base_state_methods, FamilyBase};
use pyo3::prelude::*;
use regretless_core::contextual::AnyContextual;
use std::sync::Mutex;

/// The base class of the linear contextual policies (LinUCB, LinTS, LinGreedy, LogisticUCB,
/// LogisticTS, KLRegularizedUCB, GibbsGreedy): ``isinstance(p, ContextualBandit)`` holds for
/// each of them. It has no constructor; ``ContextualBandit.from_bytes`` restores any of them.
///
/// ``eligible=`` restricts decisions to some arms (a mask or indices for every row, or an
/// (n, n_arms) mask, one row per decision):
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LinGreedy(3, 2, epsilon=0.3, seed=0)
/// >>> x = np.array([1.0, 0.5])
/// >>> policy.select(x, eligible=[1, 2]) in (1, 2)
/// True
/// >>> policy.probabilities(x[None], eligible=[False, True, True])
/// array([[0. , 0.5, 0.5]])
#[pyo3::pyclass(name = "ContextualBandit", module = "regretless", subclass, frozen)]
pub struct PyContextualBandit {
    pub(crate) inner: Mutex<AnyContextual>,
    dim: usize,
}

impl PyContextualBandit {
    pub(crate) fn wrap(core: impl Into<AnyContextual>) -> Self {
        let core = core.into();
        let dim = core.dim();
        Self {
            inner: Mutex::new(core),
            dim,
        }
    }
    fn matrix_op<'py, T: numpy::Element + Send>(
        &self,
        py: pyo3::Python<'py>,
        x: &pyo3::Bound<'py, pyo3::PyAny>,
        cols: usize,
        f: impl FnOnce(&AnyContextual, &[f64]) -> regretless_core::Result<Vec<T>> + Send,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<T>>> {
        use crate::errors::IntoPyResult;
        use numpy::PyArrayMethods;
        let x = crate::convert::owned_float64_matrix(x, "X", self.dim)?;
        let ro = x.readonly();
        let xs = ro.as_slice()?;
        let n = xs.len() / self.dim;
        let out = crate::convert::with_lock_detached(py, &self.inner, |p| f(p, xs)).py_err(py)?;
        numpy::PyArray1::from_vec(py, out).reshape([n, cols])
    }
    /// [`Self::matrix_op`] with the rows' `eligible=` argument converted for the n rows of
    /// `x` (None when absent).
    fn matrix_op_eligible<'py, T: numpy::Element + Send>(
        &self,
        py: pyo3::Python<'py>,
        x: &pyo3::Bound<'py, pyo3::PyAny>,
        eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
        cols: usize,
        f: impl FnOnce(
                &AnyContextual,
                &[f64],
                Option<&regretless_core::eligible::EligibleRows>,
            ) -> regretless_core::Result<Vec<T>>
            + Send,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<T>>> {
        use crate::errors::IntoPyResult;
        use numpy::PyArrayMethods;
        let x = crate::convert::owned_float64_matrix(x, "X", self.dim)?;
        let ro = x.readonly();
        let xs = ro.as_slice()?;
        let n = xs.len() / self.dim;
        let rows = crate::eligible::eligible_rows_arg(eligible, n, || self.n_arms(py))?;
        let out = crate::convert::with_lock_detached(py, &self.inner, |p| f(p, xs, rows.as_ref()))
            .py_err(py)?;
        numpy::PyArray1::from_vec(py, out).reshape([n, cols])
    }
}

impl FamilyBase for PyContextualBandit {
    type Any = AnyContextual;
    fn state(&self) -> &Mutex<AnyContextual> {
        &self.inner
    }
    fn into_object(
        py: pyo3::Python<'_>,
        state: AnyContextual,
    ) -> pyo3::PyResult<pyo3::Bound<'_, pyo3::PyAny>> {
        crate::linear::into_object(py, state)
    }
}

base_state_methods!(PyContextualBandit);
crate::persist::fit_logs_method!(PyContextualBandit);

#[pyo3::pymethods]
impl PyContextualBandit {
    /// Add another replica's data (same class, arms, dim and hyperparameters): equal
    /// to one policy fitted on both data sets, except for the sketched classes with
    /// ``sketch_size < dim``, whose merged sketch is within the Frequent Directions bound
    /// of the combined data (see their class docs). ``p.merge(p)`` doubles every sum, as if
    /// each row had been seen twice. Raises DTypeError when ``other`` is of another
    /// class, and IncompatibleError, changing nothing, when the class does not merge, a
    /// hyperparameter differs (the message names it) or the update count would exceed
    /// 2**64 - 1.
    fn merge(
        slf: &pyo3::Bound<'_, Self>,
        other: &pyo3::Bound<'_, pyo3::PyAny>,
    ) -> pyo3::PyResult<()> {
        use crate::errors::IntoPyResult;
        let py = slf.py();
        let o = crate::family::other_state(slf, other)?;
        crate::convert::with_lock(py, &slf.get().inner, |p| p.merge(&o)).py_err(py)
    }
}

#[pyo3::pymethods]
impl PyContextualBandit {
    /// Choose an arm for one context ``x`` (1-D, ``dim`` features). KL-regularized
    /// policies take the reference probabilities ``pi_ref`` (n_arms,) of this
    /// decision (uniform when None). ``eligible`` (a boolean mask of length n_arms or
    /// distinct arm indices) restricts the choice to those arms: index rules take their
    /// argmax over them, randomized rules draw from their distribution restricted and
    /// renormalized (as ``probabilities(..., eligible=...)`` reports).
    #[pyo3(signature = (x, pi_ref = None, *, eligible = None))]
    fn select(
        &self,
        py: pyo3::Python<'_>,
        x: &pyo3::Bound<'_, pyo3::PyAny>,
        pi_ref: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
        eligible: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
    ) -> pyo3::PyResult<usize> {
        use crate::errors::IntoPyResult;
        let pi_ref = pi_ref.filter(|p| !p.is_none());
        if let Some(e) = crate::eligible::eligible_arg(eligible, || self.n_arms(py))? {
            let x = crate::convert::owned_float64_vector(x, "x", self.dim)?;
            let ro = x.readonly();
            let xs = ro.as_slice()?;
            let r = pi_ref
                .map(|r| crate::convert::owned_float64(r, "pi_ref"))
                .transpose()?;
            let rr = r.as_ref().map(|r| r.readonly());
            let rs = match &rr {
                Some(r) => Some(r.as_slice()?),
                None => None,
            };
            return crate::convert::with_lock(py, &self.inner, |p| p.select_eligible(xs, rs, &e))
                .py_err(py);
        }
        if pi_ref.is_none() {
            if let Some(r) = crate::convert::with_f64_vector_copy(x, self.dim, |xs| {
                crate::convert::with_lock(py, &self.inner, |p| p.select(xs))
            }) {
                return r.py_err(py);
            }
        }
        let x = crate::convert::owned_float64_vector(x, "x", self.dim)?;
        let ro = x.readonly();
        let xs = ro.as_slice()?;
        match pi_ref {
            None => crate::convert::with_lock(py, &self.inner, |p| p.select(xs)).py_err(py),
            Some(r) => {
                let r = crate::convert::owned_float64(r, "pi_ref")?;
                let rr = r.readonly();
                let rs = rr.as_slice()?;
                crate::convert::with_lock(py, &self.inner, |p| p.select_ref(xs, Some(rs)))
                    .py_err(py)
            }
        }
    }

    /// Record the reward observed after playing ``arm`` in context ``x``, with an
    /// optional importance weight (>= 0, e.g. 1/propensity when learning from logs).
    #[pyo3(signature = (x, arm, reward, weight = 1.0))]
    fn update(
        &self,
        py: pyo3::Python<'_>,
        x: &pyo3::Bound<'_, pyo3::PyAny>,
        arm: &pyo3::Bound<'_, pyo3::PyAny>,
        reward: &pyo3::Bound<'_, pyo3::PyAny>,
        #[pyo3(from_py_with = crate::convert::scalar::weight)] weight: f64,
    ) -> pyo3::PyResult<()> {
        use crate::errors::IntoPyResult;
        if let Some(r) = crate::convert::with_f64_vector_copy(x, self.dim, |xs| {
            let arm = crate::convert::arm_arg(arm, "arm")?;
            let reward = crate::convert::real_arg(reward, "reward")?;
            crate::convert::with_lock(py, &self.inner, |p| p.update(xs, arm, reward, weight))
                .py_err(py)
        }) {
            return r;
        }
        let x = crate::convert::owned_float64_vector(x, "x", self.dim)?;
        let arm = crate::convert::arm_arg(arm, "arm")?;
        let reward = crate::convert::real_arg(reward, "reward")?;
        let ro = x.readonly();
        let xs = ro.as_slice()?;
        crate::convert::with_lock(py, &self.inner, |p| p.update(xs, arm, reward, weight)).py_err(py)
    }

    /// One decision per row of ``X`` (n, dim), no feedback between them; int64 (n,).
    /// KL-regularized policies take reference probabilities ``pi_ref`` (n, n_arms).
    /// ``eligible``: one set of arms for every row (mask or indices), or a boolean mask
    /// (n, n_arms), one row per decision.
    #[pyo3(signature = (X, pi_ref = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn select_batch<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
        pi_ref: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
        eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<i64>>> {
        use crate::errors::IntoPyResult;
        let x = crate::convert::owned_float64_matrix(X, "X", self.dim)?;
        let ro = x.readonly();
        let xs = ro.as_slice()?;
        let k = self.n_arms(py);
        let r = pi_ref
            .filter(|p| !p.is_none())
            .map(|r| crate::convert::owned_float64_matrix(r, "pi_ref", k))
            .transpose()?;
        let rr = r.as_ref().map(|r| r.readonly());
        let rs = match &rr {
            Some(r) => Some(r.as_slice()?),
            None => None,
        };
        let rows = crate::eligible::eligible_rows_arg(eligible, xs.len() / self.dim, || k)?;
        let arms = crate::convert::with_lock_detached(py, &self.inner, |p| match &rows {
            None => p.select_batch_ref(xs, rs),
            Some(e) => p.select_batch_eligible(xs, rs, e),
        })
        .py_err(py)?;
        Ok(numpy::PyArray1::from_vec(
            py,
            arms.into_iter().map(|a| a as i64).collect(),
        ))
    }

    /// Fit many rows at once: contexts ``X`` (n, dim), ``arms`` and ``rewards`` (n,),
    /// optional importance ``weights`` (n,) >= 0. Accumulates each arm's Gram matrix
    /// and refactorizes once (arms in parallel, the GIL released). Every row is
    /// validated before any is recorded.
    #[pyo3(signature = (X, arms, rewards, weights = None))]
    #[allow(non_snake_case)]
    fn update_batch(
        &self,
        py: pyo3::Python<'_>,
        X: &pyo3::Bound<'_, pyo3::PyAny>,
        arms: &pyo3::Bound<'_, pyo3::PyAny>,
        rewards: &pyo3::Bound<'_, pyo3::PyAny>,
        weights: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
    ) -> pyo3::PyResult<()> {
        use crate::errors::IntoPyResult;
        use numpy::PyArrayMethods;
        // Borrowed, not copied: the core reads each value once and checks and records it
        // from its own memory, so another thread writing these arrays meanwhile cannot get
        // a value past the checks (see `ContextualPolicy::update_batch`).
        let x = crate::convert::float64_matrix(X, "X", self.dim)?;
        let arms = crate::convert::int64_array(arms, "arms")?;
        let rewards = crate::convert::float64_array(rewards, "rewards")?;
        let weights = weights
            .filter(|w| !w.is_none())
            .map(|w| crate::convert::float64_array(w, "weights"))
            .transpose()?;
        let (xr, ar, rr) = (x.readonly(), arms.readonly(), rewards.readonly());
        let wr = weights.as_ref().map(|w| w.readonly());
        let (xs, a, r) = (xr.as_slice()?, ar.as_slice()?, rr.as_slice()?);
        let w = match &wr {
            Some(w) => Some(w.as_slice()?),
            None => None,
        };
        crate::convert::with_lock_detached(py, &self.inner, |p| p.update_batch(xs, a, r, w))
            .py_err(py)
    }

    /// The decision rule's score of every arm for every row of ``X``: (n, n_arms);
    /// with ``eligible`` (as in ``select_batch``), -inf for each row's ineligible arms.
    #[pyo3(signature = (X, *, eligible = None))]
    #[allow(non_snake_case)]
    fn scores<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
        eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
        let k = self.n_arms(py);
        self.matrix_op_eligible(py, X, eligible, k, |p, xs, e| match e {
            None => p.scores_batch(xs),
            Some(e) => p.scores_batch_eligible(xs, e),
        })
    }

    /// Estimated mean reward ``x^T theta_a`` of every arm for every row: (n, n_arms).
    #[allow(non_snake_case)]
    fn mean<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
        let k = self.n_arms(py);
        self.matrix_op(py, X, k, |p, xs| p.mean_batch(xs))
    }

    /// Confidence width ``sqrt(x^T A_a^{-1} x)`` of every arm for every row: (n, n_arms).
    #[allow(non_snake_case)]
    fn width<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
        let k = self.n_arms(py);
        self.matrix_op(py, X, k, |p, xs| p.width_batch(xs))
    }

    /// Probability of each arm at the next decision, for every row: (n, n_arms).
    /// The propensity to log with a decision for off-policy evaluation.
    /// KL-regularized policies take reference probabilities ``pi_ref`` (n, n_arms).
    /// With ``eligible`` (as in ``select_batch``), each row is the law of the restricted
    /// decision: 0 for ineligible arms, renormalized over the eligible ones.
    #[pyo3(signature = (X, pi_ref = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn probabilities<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
        pi_ref: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
        eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
        let k = self.n_arms(py);
        let r = pi_ref
            .filter(|p| !p.is_none())
            .map(|r| crate::convert::owned_float64_matrix(r, "pi_ref", k))
            .transpose()?;
        let rr = r.as_ref().map(|r| r.readonly());
        let rs = match &rr {
            Some(r) => Some(r.as_slice()?),
            None => None,
        };
        self.matrix_op_eligible(py, X, eligible, k, move |p, xs, e| match e {
            None => p.probabilities_batch_ref(xs, rs),
            Some(e) => p.probabilities_batch_eligible(xs, rs, e),
        })
    }

    /// The ``k`` best arms of each row by score, best first: int64 (n, k). With
    /// ``eligible`` (as in ``select_batch``), the ``k`` best eligible arms; ``k`` may not
    /// exceed any row's number of eligible arms.
    #[pyo3(signature = (X, k, *, eligible = None))]
    #[allow(non_snake_case)]
    fn top_k<'py>(
        &self,
        py: pyo3::Python<'py>,
        X: &pyo3::Bound<'py, pyo3::PyAny>,
        k: &pyo3::Bound<'py, pyo3::PyAny>,
        eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<i64>>> {
        let k = crate::convert::top_k_arg(k, self.n_arms(py))?;
        self.matrix_op_eligible(py, X, eligible, k.max(1), move |p, xs, e| {
            match e {
                None => p.top_k(xs, k),
                Some(e) => p.top_k_eligible(xs, k, e),
            }
            .map(|v| v.into_iter().map(|a| a as i64).collect())
        })
    }

    /// Ridge coefficients ``theta_a`` of every arm: (n_arms, dim).
    fn coefficients<'py>(
        &self,
        py: pyo3::Python<'py>,
    ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
        use numpy::PyArrayMethods;
        let (k, flat) =
            crate::convert::with_lock(py, &self.inner, |p| (p.n_arms(), p.coefficients()));
        numpy::PyArray1::from_vec(py, flat).reshape([k, self.dim])
    }

    /// Number of rows recorded per arm (int64).
    fn counts<'py>(&self, py: pyo3::Python<'py>) -> pyo3::Bound<'py, numpy::PyArray1<i64>> {
        let v = crate::convert::with_lock(py, &self.inner, |p| p.counts());
        numpy::PyArray1::from_vec(py, crate::convert::u64_to_i64(v))
    }

    /// Number of arms.
    #[getter]
    fn n_arms(&self, py: pyo3::Python<'_>) -> usize {
        crate::convert::with_lock(py, &self.inner, |p| p.n_arms())
    }

    /// Number of context features.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// Total number of rows recorded.
    #[getter]
    fn n_updates(&self, py: pyo3::Python<'_>) -> u64 {
        crate::convert::with_lock(py, &self.inner, |p| p.n_updates())
    }

    /// Append an arm with the prior model; returns its index.
    fn add_arm(&self, py: pyo3::Python<'_>) -> usize {
        crate::convert::with_lock(py, &self.inner, |p| p.add_arm())
    }

    /// Remove arm ``arm`` and its model; the arms after it shift down by one.
    fn remove_arm(
        &self,
        py: pyo3::Python<'_>,
        arm: &pyo3::Bound<'_, pyo3::PyAny>,
    ) -> pyo3::PyResult<()> {
        use crate::errors::IntoPyResult;
        let arm = crate::convert::arm_arg(arm, "arm")?;
        crate::convert::with_lock(py, &self.inner, |p| p.remove_arm(arm)).py_err(py)
    }

    fn __repr__(&self, py: pyo3::Python<'_>) -> String {
        crate::convert::with_lock(py, &self.inner, |p| {
            format!(
                "{}(n_arms={}, dim={}, {})",
                p.kind(),
                p.n_arms(),
                p.dim(),
                p.describe_params()
            )
        })
    }
}
