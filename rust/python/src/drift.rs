//! Policies for drifting rewards: SlidingWindowUCB, DiscountedUCB and
//! DiscountedThompsonSampling.

use crate::bandit::{with_policy, Bandit};
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{
    DiscountedThompsonSampling, DiscountedUCB, Policy, SlidingWindowUCB,
};

/// Sliding-window UCB (Garivier and Moulines 2011), for rewards that change over time.
///
/// Keeps only the last ``window`` rewards and plays the arm maximizing
/// ``mean_i + sqrt(xi ln min(t, window) / n_i)``, where ``mean_i`` and ``n_i`` are arm i's
/// mean and count within the window (an arm absent from it has an infinite index). After a
/// change of the best arm it recovers within about a window. Rewards in [0, 1].
/// ``window`` defaults to ``floor(4 sqrt(T ln T))`` for ``horizon=T``; without a horizon,
/// ``window`` is required. ``counts()`` and ``means()`` are lifetime statistics;
/// ``scores()`` are the windowed indices. Not mergeable: a window is defined on one stream.
///
/// >>> import regretless
/// >>> policy = regretless.SlidingWindowUCB(2, window=50, seed=0)
/// >>> policy.update_batch([0] * 100 + [1] * 50, [1.0] * 100 + [0.9] * 50)
/// >>> int(policy.select())  # arm 0's rewards have left the window
/// 0
/// >>> regretless.SlidingWindowUCB(3, horizon=10_000).window
/// 1213
#[pyclass(extends = Bandit, frozen, name = "SlidingWindowUCB", module = "regretless")]
pub struct PySlidingWindowUCB;

#[pymethods]
impl PySlidingWindowUCB {
    #[new]
    #[pyo3(signature = (n_arms, *, window = None, xi = 0.6, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        window: Option<&Bound<'_, PyAny>>,
        xi: f64,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let window = positive_opt(window, "window")?;
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(
                SlidingWindowUCB::new(n_arms, window, xi, horizon, seed_arg(seed)?).py_err(py)?,
            ),
        ))
    }

    /// Number of most recent rewards the statistics cover.
    #[getter]
    fn window(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut SlidingWindowUCB| p.window())
    }
}

/// Discounted UCB (Kocsis and Szepesvari 2006; Garivier and Moulines 2011), for rewards
/// that change over time.
///
/// Every step multiplies all past observations' weights by ``gamma``; arm i's index is
/// ``mean_i + 2 sqrt(xi ln n / N_i)`` with ``N_i`` its discounted count, ``mean_i`` its
/// discounted mean and ``n`` the total discounted count. It forgets on a time scale of
/// ``1 / (1 - gamma)`` steps. Rewards in [0, 1]. ``gamma`` defaults to
/// ``1 - 1 / (4 sqrt(T))`` for ``horizon=T``; without a horizon, ``gamma`` is required.
/// An update costs O(1) (the discount is applied lazily). Not mergeable.
///
/// >>> import regretless
/// >>> policy = regretless.DiscountedUCB(2, gamma=0.9, seed=0)
/// >>> policy.update_batch([0] * 100 + [1] * 20, [1.0] * 100 + [0.9] * 20)
/// >>> int(policy.select())  # arm 0's old successes have faded: explore it again
/// 0
/// >>> round(regretless.DiscountedUCB(3, horizon=10_000).gamma, 6)
/// 0.9975
#[pyclass(extends = Bandit, frozen, name = "DiscountedUCB", module = "regretless")]
pub struct PyDiscountedUCB;

#[pymethods]
impl PyDiscountedUCB {
    #[new]
    #[pyo3(signature = (n_arms, *, gamma = None, xi = 0.6, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        gamma: Option<f64>,
        xi: f64,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(
                DiscountedUCB::new(n_arms, gamma, xi, horizon, seed_arg(seed)?).py_err(py)?,
            ),
        ))
    }

    /// Discount factor applied to every past observation at each step.
    #[getter]
    fn gamma(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut DiscountedUCB| p.gamma())
    }
}

/// Discounted Thompson sampling (Raj and Kalyani 2017), for rewards that change over time.
///
/// Arm i has a ``Beta(prior_alpha + S_i, prior_beta + F_i)`` posterior, where ``S_i`` and
/// ``F_i`` are its discounted successes and failures: every step multiplies all of them by
/// ``gamma``, then the played arm gains ``r`` and ``1 - r``. A decision plays the argmax of
/// one draw from each posterior. Rewards in [0, 1]. ``scores()`` returns posterior means;
/// ``probabilities()`` is a Monte Carlo estimate from 10,000 joint draws. Not mergeable.
///
/// >>> import regretless
/// >>> policy = regretless.DiscountedThompsonSampling(2, gamma=0.9, seed=0)
/// >>> policy.update_batch([0] * 50 + [1] * 50, [1.0] * 50 + [0.0] * 50)
/// >>> alpha, beta = policy.posterior()
/// >>> [round(float(a), 3) for a in alpha]  # arm 0's successes have decayed by 0.9**50
/// [1.051, 1.0]
#[pyclass(extends = Bandit, frozen, name = "DiscountedThompsonSampling", module = "regretless")]
pub struct PyDiscountedThompsonSampling;

#[pymethods]
impl PyDiscountedThompsonSampling {
    #[new]
    #[pyo3(signature = (n_arms, *, gamma = 0.95, prior_alpha = 1.0, prior_beta = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        gamma: f64,
        prior_alpha: f64,
        prior_beta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(
                DiscountedThompsonSampling::new(
                    n_arms,
                    gamma,
                    prior_alpha,
                    prior_beta,
                    seed_arg(seed)?,
                )
                .py_err(py)?,
            ),
        ))
    }

    /// Discount factor applied to every past observation at each step.
    #[getter]
    fn gamma(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut DiscountedThompsonSampling| p.params().gamma)
    }

    /// Posterior Beta parameters as two arrays ``(alpha, beta)``.
    #[allow(clippy::type_complexity)]
    fn posterior<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
        let (a, b): (Vec<f64>, Vec<f64>) =
            with_policy(slf, |p: &mut DiscountedThompsonSampling| {
                (0..p.n_arms()).map(|i| p.posterior(i)).unzip()
            })?;
        Ok((PyArray1::from_vec(py, a), PyArray1::from_vec(py, b)))
    }
}
