//! `regretless.HybridLinUCB`: LinUCB with coefficients shared by all arms beside the per-arm
//! ones (its own class, outside the `ContextualBandit` registry, since it takes shared
//! features too).

use crate::convert::{
    arm_arg, owned_float64, owned_float64_nd, owned_int64, real_arg, seed_arg, top_k_arg,
    u64_to_i64, with_lock, with_lock_detached, Owned,
};
use crate::errors::{dtype_error, shape_error, IntoPyResult};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use regretless_core::contextual::HybridLinUCB;
use regretless_core::eligible::EligibleRows;
use std::sync::Mutex;

/// Hybrid LinUCB (Li, Chu, Langford and Schapire 2010, Algorithm 2): shared coefficients
/// ``beta`` on features ``z`` plus per-arm coefficients ``theta_a`` on features ``x``,
/// ``r = z^T beta + x^T theta_a + noise``; the score adds ``alpha`` times the paper's joint
/// confidence width. ``x`` and ``z`` may be one vector for all arms or one per arm (shapes
/// ``(d,)`` / ``(n_arms, d)`` for one decision, ``(n, d)`` / ``(n, n_arms, d)`` for
/// batches): per-arm ``z`` is how user-article interaction features enter. With
/// ``shared_dim=0`` it is exactly disjoint :class:`LinUCB`. The state keeps raw sums, so
/// ``merge`` equals fitting both data sets.
///
/// Limits: contexts ``|x|, |z| <= 1e30``, weights in [0, 1e30], rewards
/// ``|r| <= 1e100`` and ``lam`` in [1e-30, 1e30]; then every sum stays finite, so a
/// checkpoint always loads. Beyond them the call raises and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> rng = np.random.default_rng(0)
/// >>> policy = regretless.HybridLinUCB(n_arms=3, dim=2, shared_dim=2, alpha=0.5, seed=0)
/// >>> X, Z = rng.standard_normal((600, 2)), rng.standard_normal((600, 2))
/// >>> arms = rng.integers(0, 3, 600)
/// >>> rewards = Z @ [1.0, -1.0] + np.where(arms == 2, X[:, 0], 0.0)
/// >>> policy.update_batch(X, arms, rewards, Z=Z)
/// >>> policy.shared_coefficients().round(2).tolist()
/// [1.0, -1.0]
#[pyclass(name = "HybridLinUCB", module = "regretless", frozen)]
pub struct PyHybridLinUCB {
    inner: Mutex<HybridLinUCB>,
    dim: usize,
    shared_dim: usize,
}

crate::persist::state_methods!(PyHybridLinUCB => HybridLinUCB);
crate::persist::merge_method!(
    PyHybridLinUCB,
    HybridLinUCB::merge,
    "Add another replica's data: equal to fitting both data sets. ``p.merge(p)``\ndoubles every sum, as if each row had been seen twice. Raises IncompatibleError,\nchanging nothing, when a dimension or hyperparameter differs or the update count\nwould exceed 2**64 - 1."
);

impl PyHybridLinUCB {
    fn wrap(core: HybridLinUCB) -> Self {
        let (dim, shared_dim) = (core.dim(), core.shared_dim());
        Self {
            inner: Mutex::new(core),
            dim,
            shared_dim,
        }
    }

    /// Reads X (or x) and Z (or z) and returns them with the number of rows they describe.
    #[allow(clippy::type_complexity)]
    fn features<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        z: Option<&Bound<'py, PyAny>>,
        single: bool,
    ) -> PyResult<(Owned<f64>, Option<Owned<f64>>, usize)> {
        let (xa, xshape) = owned_float64_nd(x, if single { "x" } else { "X" })?;
        let row_dims = if single { 0 } else { 1 };
        let n = if single {
            1
        } else {
            *xshape
                .first()
                .ok_or_else(|| shape_error(py, "X: expected a 2-D or 3-D array".into()))?
        };
        let ok = xshape.last() == Some(&self.dim)
            && (xshape.len() == 1 + row_dims || xshape.len() == 2 + row_dims);
        if !ok {
            return Err(shape_error(
                py,
                format!(
                    "{}: expected shape {} with {} features, got {xshape:?}",
                    if single { "x" } else { "X" },
                    if single {
                        "(dim,) or (n_arms, dim)"
                    } else {
                        "(n, dim) or (n, n_arms, dim)"
                    },
                    self.dim
                ),
            ));
        }
        let za = match z.filter(|z| !z.is_none()) {
            None if self.shared_dim == 0 => None,
            None => {
                return Err(dtype_error(
                    py,
                    format!(
                        "{}: this policy has {} shared features; pass them",
                        if single { "z" } else { "Z" },
                        self.shared_dim
                    ),
                ))
            }
            Some(z) => {
                let (za, zshape) = owned_float64_nd(z, if single { "z" } else { "Z" })?;
                let ok = zshape.last() == Some(&self.shared_dim)
                    && (zshape.len() == 1 + row_dims || zshape.len() == 2 + row_dims)
                    && (single || zshape[0] == n);
                if !ok {
                    return Err(shape_error(
                        py,
                        format!(
                            "{}: expected {} shared features per row{}, got shape {zshape:?}",
                            if single { "z" } else { "Z" },
                            self.shared_dim,
                            if single {
                                String::new()
                            } else {
                                format!(" and {n} rows")
                            }
                        ),
                    ));
                }
                Some(za)
            }
        };
        Ok((xa, za, n))
    }

    fn matrix<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        z: Option<&Bound<'py, PyAny>>,
        f: impl FnOnce(&HybridLinUCB, &[f64], &[f64], usize) -> regretless_core::Result<Vec<f64>> + Send,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (xa, za, n) = self.features(py, x, z, false)?;
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        let k = self.n_arms(py);
        let out = with_lock_detached(py, &self.inner, |p| f(p, xs, zs, n)).py_err(py)?;
        PyArray1::from_vec(py, out).reshape([n, k])
    }
    /// [`Self::matrix`] with the rows' `eligible=` argument (None when absent).
    #[allow(clippy::type_complexity)]
    fn matrix_eligible<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        z: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
        f: impl FnOnce(
                &HybridLinUCB,
                &[f64],
                &[f64],
                usize,
                Option<&EligibleRows>,
            ) -> regretless_core::Result<Vec<f64>>
            + Send,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (xa, za, n) = self.features(py, x, z, false)?;
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        let k = self.n_arms(py);
        let rows = crate::eligible::eligible_rows_arg(eligible, n, || k)?;
        let out =
            with_lock_detached(py, &self.inner, |p| f(p, xs, zs, n, rows.as_ref())).py_err(py)?;
        PyArray1::from_vec(py, out).reshape([n, k])
    }
}

#[pymethods]
impl PyHybridLinUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, shared_dim, *, alpha = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        #[pyo3(from_py_with = crate::convert::size::shared_dim)] shared_dim: usize,
        alpha: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self::wrap(
            HybridLinUCB::new(n_arms, dim, shared_dim, alpha, lam, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// Choose an arm: ``x`` of shape (dim,) or (n_arms, dim), ``z`` of shape
    /// (shared_dim,) or (n_arms, shared_dim). ``eligible`` (a boolean mask of length
    /// n_arms or distinct arm indices) restricts the choice to the argmax over those arms.
    #[pyo3(signature = (x, z = None, *, eligible = None))]
    fn select(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        z: Option<&Bound<'_, PyAny>>,
        eligible: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let eligible = crate::eligible::eligible_arg(eligible, || self.n_arms(py))?;
        let (xa, za, _) = self.features(py, x, z, true)?;
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        with_lock(py, &self.inner, |p| match &eligible {
            None => p.select(xs, zs),
            Some(e) => p.select_eligible(xs, zs, e),
        })
        .py_err(py)
    }

    /// Record the reward of ``arm`` for its features ``x`` (dim,) and ``z`` (shared_dim,).
    #[pyo3(signature = (x, arm, reward, weight = 1.0, *, z = None))]
    fn update(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        arm: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::convert::scalar::weight)] weight: f64,
        z: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        let reward = real_arg(reward, "reward")?;
        let xa = owned_float64(x, "x")?;
        let za = match z.filter(|z| !z.is_none()) {
            Some(z) => Some(owned_float64(z, "z")?),
            None => None,
        };
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        with_lock(py, &self.inner, |p| p.update(xs, zs, arm, reward, weight)).py_err(py)
    }

    /// One decision per row: ``X`` (n, dim) or (n, n_arms, dim), ``Z`` likewise.
    /// ``eligible``: one set of arms for every row, or a boolean mask (n, n_arms).
    #[pyo3(signature = (X, Z = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn select_batch<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let (xa, za, n) = self.features(py, X, Z, false)?;
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        let rows = crate::eligible::eligible_rows_arg(eligible, n, || self.n_arms(py))?;
        let arms = with_lock_detached(py, &self.inner, |p| match &rows {
            None => p.select_batch(xs, zs, n),
            Some(e) => p.select_batch_eligible(xs, zs, n, e),
        })
        .py_err(py)?;
        Ok(PyArray1::from_vec(
            py,
            arms.into_iter().map(|a| a as i64).collect(),
        ))
    }

    /// Record many rows: ``X`` (n, dim) or (n, n_arms, dim) (the played arm's row is
    /// used), ``arms``, ``rewards``, optional ``weights`` (n,), and ``Z`` like ``X``.
    #[pyo3(signature = (X, arms, rewards, weights = None, *, Z = None))]
    #[allow(non_snake_case)]
    fn update_batch(
        &self,
        py: Python<'_>,
        X: &Bound<'_, PyAny>,
        arms: &Bound<'_, PyAny>,
        rewards: &Bound<'_, PyAny>,
        weights: Option<&Bound<'_, PyAny>>,
        Z: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (xa, za, _) = self.features(py, X, Z, false)?;
        let arms = owned_int64(arms, "arms")?;
        let rewards = owned_float64(rewards, "rewards")?;
        let weights = weights
            .filter(|w| !w.is_none())
            .map(|w| owned_float64(w, "weights"))
            .transpose()?;
        let (xr, ar, rr) = (xa.readonly(), arms.readonly(), rewards.readonly());
        let zr = za.as_ref().map(|z| z.readonly());
        let wr = weights.as_ref().map(|w| w.readonly());
        let (xs, a, r) = (xr.as_slice()?, ar.as_slice()?, rr.as_slice()?);
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        let w = match &wr {
            Some(w) => Some(w.as_slice()?),
            None => None,
        };
        with_lock_detached(py, &self.inner, |p| p.update_batch(xs, zs, a, r, w)).py_err(py)
    }

    /// Scores ``mean + alpha * width`` of every arm for every row: (n, n_arms); with
    /// ``eligible`` (as in ``select_batch``), -inf for each row's ineligible arms.
    #[pyo3(signature = (X, Z = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.matrix_eligible(py, X, Z, eligible, |p, x, z, n, e| match e {
            None => p.scores_batch(x, z, n),
            Some(e) => p.scores_batch_eligible(x, z, n, e),
        })
    }

    /// Estimated mean reward ``z^T beta + x^T theta_a`` for every row: (n, n_arms).
    #[pyo3(signature = (X, Z = None))]
    #[allow(non_snake_case)]
    fn mean<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.matrix(py, X, Z, |p, x, z, n| p.mean_batch(x, z, n))
    }

    /// The joint confidence width of every arm for every row: (n, n_arms).
    #[pyo3(signature = (X, Z = None))]
    #[allow(non_snake_case)]
    fn width<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.matrix(py, X, Z, |p, x, z, n| p.width_batch(x, z, n))
    }

    /// Selection probabilities (the argmax with random ties): (n, n_arms); with
    /// ``eligible``, uniform over each row's best eligible arms, 0 elsewhere.
    #[pyo3(signature = (X, Z = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.matrix_eligible(py, X, Z, eligible, |p, x, z, n, e| match e {
            None => p.probabilities_batch(x, z, n),
            Some(e) => p.probabilities_batch_eligible(x, z, n, e),
        })
    }

    /// The ``k`` best arms of each row by score, best first: int64 (n, k); with
    /// ``eligible``, the ``k`` best eligible arms (``k`` at most each row's count).
    #[pyo3(signature = (X, k, Z = None, *, eligible = None))]
    #[allow(non_snake_case)]
    fn top_k<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
        k: &Bound<'py, PyAny>,
        Z: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let k = top_k_arg(k, self.n_arms(py))?;
        let (xa, za, n) = self.features(py, X, Z, false)?;
        let xr = xa.readonly();
        let zr = za.as_ref().map(|z| z.readonly());
        let xs = xr.as_slice()?;
        let zs: &[f64] = match &zr {
            Some(z) => z.as_slice()?,
            None => &[],
        };
        let rows = crate::eligible::eligible_rows_arg(eligible, n, || self.n_arms(py))?;
        let out = with_lock_detached(py, &self.inner, |p| match &rows {
            None => p.top_k(xs, zs, n, k),
            Some(e) => p.top_k_eligible(xs, zs, n, k, e),
        })
        .py_err(py)?;
        PyArray1::from_vec(py, out.into_iter().map(|a| a as i64).collect()).reshape([n, k])
    }

    /// Shared coefficients ``beta`` (shared_dim,).
    fn shared_coefficients<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let v = with_lock(py, &self.inner, |p| p.shared_coefficients().to_vec());
        PyArray1::from_vec(py, v)
    }

    /// Per-arm coefficients ``theta_a``: (n_arms, dim).
    fn coefficients<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (k, v) = with_lock(py, &self.inner, |p| (p.n_arms(), p.coefficients()));
        PyArray1::from_vec(py, v).reshape([k, self.dim])
    }

    /// Number of rows recorded per arm (int64).
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v = with_lock(py, &self.inner, |p| p.counts());
        PyArray1::from_vec(py, u64_to_i64(v))
    }

    /// Number of arms.
    #[getter]
    fn n_arms(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.n_arms())
    }

    /// Number of arm-specific features.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// Number of shared features.
    #[getter]
    fn shared_dim(&self) -> usize {
        self.shared_dim
    }

    /// Total number of rows recorded.
    #[getter]
    fn n_updates(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.n_updates())
    }

    /// Append an arm with the prior model; returns its index.
    fn add_arm(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.add_arm())
    }

    /// Remove arm ``arm`` and all its rows (from the shared statistics too).
    fn remove_arm(&self, py: Python<'_>, arm: &Bound<'_, PyAny>) -> PyResult<()> {
        let arm = arm_arg(arm, "arm")?;
        with_lock(py, &self.inner, |p| p.remove_arm(arm)).py_err(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "HybridLinUCB(n_arms={}, dim={}, shared_dim={}, {})",
                p.n_arms(),
                p.dim(),
                p.shared_dim(),
                p.describe_params()
            )
        })
    }
}
