//! The simulated environments of `regretless_core::env` as Python classes: BernoulliEnv,
//! GaussianEnv, TableEnv and PiecewiseBernoulliEnv.

use crate::convert::float64_array;
use crate::errors::{shape_error, IntoPyResult};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use regretless_core::env::Environment;

fn means_of(env: &Environment) -> Vec<f64> {
    match env {
        Environment::Bernoulli { means } | Environment::Gaussian { means, .. } => means.clone(),
        Environment::Table { .. } | Environment::PiecewiseBernoulli { .. } => Vec::new(),
    }
}

/// Stochastic environment with Bernoulli arms: arm i pays 1 with probability ``means[i]``.
///
/// >>> import regretless
/// >>> env = regretless.BernoulliEnv([0.1, 0.5, 0.9])
/// >>> env.n_arms, env.best_arm
/// (3, 2)
#[pyclass(name = "BernoulliEnv", module = "regretless", frozen)]
pub struct PyBernoulliEnv {
    pub(crate) inner: Environment,
}

#[pymethods]
impl PyBernoulliEnv {
    #[new]
    fn new(py: Python<'_>, means: &Bound<'_, PyAny>) -> PyResult<Self> {
        let m = float64_array(means, "means")?;
        let v = m.readonly().as_slice()?.to_vec();
        Ok(Self {
            inner: Environment::bernoulli(v).py_err(py)?,
        })
    }
    /// Number of arms.
    #[getter]
    fn n_arms(&self) -> usize {
        self.inner.n_arms()
    }
    /// Index of the arm with the highest mean.
    #[getter]
    fn best_arm(&self) -> usize {
        self.inner.best_arm(0)
    }
    /// Mean reward of each arm.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, means_of(&self.inner))
    }
    fn __repr__(&self) -> String {
        format!("BernoulliEnv({:?})", means_of(&self.inner))
    }
}

/// Stochastic environment with Gaussian arms: arm i pays ``means[i] + sd * N(0, 1)``.
///
/// >>> import regretless
/// >>> regretless.GaussianEnv([0.0, 1.0], sd=0.5).best_arm
/// 1
#[pyclass(name = "GaussianEnv", module = "regretless", frozen)]
pub struct PyGaussianEnv {
    pub(crate) inner: Environment,
}

#[pymethods]
impl PyGaussianEnv {
    #[new]
    #[pyo3(signature = (means, *, sd = 1.0))]
    fn new(py: Python<'_>, means: &Bound<'_, PyAny>, sd: f64) -> PyResult<Self> {
        let m = float64_array(means, "means")?;
        let v = m.readonly().as_slice()?.to_vec();
        Ok(Self {
            inner: Environment::gaussian(v, sd).py_err(py)?,
        })
    }
    /// Number of arms.
    #[getter]
    fn n_arms(&self) -> usize {
        self.inner.n_arms()
    }
    /// Index of the arm with the highest mean.
    #[getter]
    fn best_arm(&self) -> usize {
        self.inner.best_arm(0)
    }
    /// Mean reward of each arm.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, means_of(&self.inner))
    }
    /// Standard deviation of the Gaussian noise.
    #[getter]
    fn sd(&self) -> f64 {
        match self.inner {
            Environment::Gaussian { sd, .. } => sd,
            _ => 0.0,
        }
    }
    fn __repr__(&self) -> String {
        format!("GaussianEnv({:?}, sd={})", means_of(&self.inner), self.sd())
    }
}

/// Oblivious adversary: a fixed ``(n_steps, n_arms)`` table of rewards; step t pays
/// ``rewards[t, i]`` for arm i. Regret is measured against the best fixed arm in
/// hindsight over the simulated horizon.
///
/// >>> import numpy as np, regretless
/// >>> env = regretless.TableEnv(np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
/// >>> env.n_steps, env.n_arms
/// (3, 2)
#[pyclass(name = "TableEnv", module = "regretless", frozen)]
pub struct PyTableEnv {
    pub(crate) inner: Environment,
}

#[pymethods]
impl PyTableEnv {
    #[new]
    fn new(py: Python<'_>, rewards: &Bound<'_, PyAny>) -> PyResult<Self> {
        let np = py.import("numpy")?;
        let arr = np
            .call_method1("ascontiguousarray", (rewards, "float64"))
            .map_err(|e| {
                crate::errors::dtype_error(
                    py,
                    format!("rewards: expected a 2-D array of real numbers ({e})"),
                )
            })?;
        let ndim = arr.downcast::<numpy::PyUntypedArray>()?.ndim();
        if ndim != 2 {
            return Err(shape_error(
                py,
                format!("rewards: expected a 2-D (n_steps, n_arms) array, got {ndim} dimensions"),
            ));
        }
        let arr = arr.downcast_into::<PyArray2<f64>>()?;
        let shape = arr.shape().to_vec();
        let v = arr.readonly().as_slice()?.to_vec();
        Ok(Self {
            inner: Environment::table(v, shape[0], shape[1]).py_err(py)?,
        })
    }
    /// Number of arms.
    #[getter]
    fn n_arms(&self) -> usize {
        self.inner.n_arms()
    }
    /// Number of steps (rows) of the reward table.
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.max_horizon().unwrap_or(0)
    }
    fn __repr__(&self) -> String {
        format!(
            "TableEnv(n_steps={}, n_arms={})",
            self.n_steps(),
            self.n_arms()
        )
    }
}

/// Piecewise-stationary Bernoulli arms: the means change at given steps.
///
/// ``means_by_segment`` is a ``(n_segments, n_arms)`` array of probabilities and
/// ``change_points`` the ``n_segments - 1`` strictly increasing (0-based) steps at which a
/// new segment begins: from step ``change_points[s - 1]`` arm i pays 1 with probability
/// ``means_by_segment[s, i]``. ``simulate`` measures dynamic regret, against the best arm
/// of the segment in force at each step.
///
/// >>> import regretless
/// >>> env = regretless.PiecewiseBernoulliEnv([[0.9, 0.1], [0.1, 0.9]], [500])
/// >>> env.n_arms, env.n_segments, env.change_points
/// (2, 2, [500])
#[pyclass(name = "PiecewiseBernoulliEnv", module = "regretless", frozen)]
pub struct PyPiecewiseBernoulliEnv {
    pub(crate) inner: Environment,
}

#[pymethods]
impl PyPiecewiseBernoulliEnv {
    #[new]
    fn new(
        py: Python<'_>,
        means_by_segment: &Bound<'_, PyAny>,
        change_points: Vec<i64>,
    ) -> PyResult<Self> {
        let np = py.import("numpy")?;
        let arr = np
            .call_method1("ascontiguousarray", (means_by_segment, "float64"))
            .map_err(|e| {
                crate::errors::dtype_error(
                    py,
                    format!("means_by_segment: expected a 2-D array of probabilities ({e})"),
                )
            })?;
        let ndim = arr.downcast::<numpy::PyUntypedArray>()?.ndim();
        if ndim != 2 {
            return Err(shape_error(
                py,
                format!(
                    "means_by_segment: expected a 2-D (n_segments, n_arms) array, got {ndim} dimensions"
                ),
            ));
        }
        let arr = arr.downcast_into::<PyArray2<f64>>()?;
        let shape = arr.shape().to_vec();
        let means = arr.readonly().as_slice()?.to_vec();
        let changes = change_points
            .iter()
            .map(|&c| usize::try_from(c))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| {
                crate::errors::invalid_parameter(
                    py,
                    format!("change_points: must be steps >= 1, got {change_points:?}"),
                )
            })?;
        Ok(Self {
            inner: Environment::piecewise_bernoulli(means, shape[1], changes).py_err(py)?,
        })
    }
    /// Number of arms.
    #[getter]
    fn n_arms(&self) -> usize {
        self.inner.n_arms()
    }
    /// Number of stationary segments.
    #[getter]
    fn n_segments(&self) -> usize {
        self.change_points().len() + 1
    }
    /// The steps at which a new segment begins.
    #[getter]
    fn change_points(&self) -> Vec<usize> {
        match &self.inner {
            Environment::PiecewiseBernoulli { change_points, .. } => change_points.clone(),
            _ => Vec::new(),
        }
    }
    /// Mean reward of each arm in each segment, shape ``(n_segments, n_arms)``.
    #[getter]
    fn means_by_segment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let means = match &self.inner {
            Environment::PiecewiseBernoulli { means, .. } => means.clone(),
            _ => Vec::new(),
        };
        PyArray1::from_vec(py, means).reshape([self.n_segments(), self.n_arms()])
    }
    fn __repr__(&self) -> String {
        format!(
            "PiecewiseBernoulliEnv(n_segments={}, n_arms={}, change_points={:?})",
            self.n_segments(),
            self.n_arms(),
            self.change_points()
        )
    }
}

/// The core environment behind any of the environment classes.
pub fn extract_env(obj: &Bound<'_, PyAny>) -> PyResult<Environment> {
    if let Ok(e) = obj.downcast::<PyBernoulliEnv>() {
        return Ok(e.get().inner.clone());
    }
    if let Ok(e) = obj.downcast::<PyGaussianEnv>() {
        return Ok(e.get().inner.clone());
    }
    if let Ok(e) = obj.downcast::<PyTableEnv>() {
        return Ok(e.get().inner.clone());
    }
    if let Ok(e) = obj.downcast::<PyPiecewiseBernoulliEnv>() {
        return Ok(e.get().inner.clone());
    }
    Err(crate::errors::dtype_error(
        obj.py(),
        format!(
            "env: expected a BernoulliEnv, GaussianEnv, TableEnv or PiecewiseBernoulliEnv, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ),
    ))
}
