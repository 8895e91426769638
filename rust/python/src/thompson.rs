//! Thompson sampling: Beta-Bernoulli and Gaussian (Normal-Gamma).

use crate::bandit::{with_policy, Bandit};
use crate::convert::seed_arg;
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{GaussianThompsonSampling, Policy, ThompsonSampling};

/// Beta-Bernoulli Thompson sampling (Thompson 1933; Agrawal and Goyal 2012).
///
/// Each arm has a ``Beta(prior_alpha + S_i, prior_beta + n_i - S_i)`` posterior; a
/// decision plays the argmax of one draw from each. Rewards in [0, 1] (a fractional
/// reward r counts as r successes and 1 - r failures). ``scores()`` returns posterior
/// means; ``probabilities()`` is a Monte Carlo estimate from 10,000 joint draws.
///
/// >>> import regretless
/// >>> policy = regretless.ThompsonSampling(2, seed=0)
/// >>> policy.update_batch([0] * 10 + [1] * 10, [1.0] * 9 + [0.0] + [0.0] * 10)
/// >>> bool(policy.probabilities()[0] > 0.99)
/// True
#[pyclass(extends = Bandit, frozen, name = "ThompsonSampling", module = "regretless")]
pub struct PyThompsonSampling;

#[pymethods]
impl PyThompsonSampling {
    #[new]
    #[pyo3(signature = (n_arms, *, prior_alpha = 1.0, prior_beta = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        prior_alpha: f64,
        prior_beta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(
                ThompsonSampling::new(n_arms, prior_alpha, prior_beta, seed_arg(seed)?)
                    .py_err(py)?,
            ),
        ))
    }

    /// Posterior Beta parameters as two arrays ``(alpha, beta)``.
    #[allow(clippy::type_complexity)]
    fn posterior<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
        let (a, b): (Vec<f64>, Vec<f64>) = with_policy(slf, |p: &mut ThompsonSampling| {
            (0..p.n_arms()).map(|i| p.posterior(i)).unzip()
        })?;
        Ok((PyArray1::from_vec(py, a), PyArray1::from_vec(py, b)))
    }
}

/// Gaussian Thompson sampling with unknown mean and variance (Normal-Gamma posterior).
///
/// Each arm's (mean, precision) has a ``NormalGamma(mu0, kappa0, alpha0, beta0)``
/// prior, updated in closed form. A decision draws the precision from its Gamma
/// posterior and the mean from the Normal given it, and plays the argmax. Rewards in
/// [-1e100, 1e100] (the limit that keeps every sum finite, so a checkpoint always
/// loads). ``scores()`` returns posterior means.
///
/// >>> import regretless
/// >>> policy = regretless.GaussianThompsonSampling(2, seed=0)
/// >>> policy.update_batch([0, 0, 1, 1], [5.0, 5.2, -1.0, -1.1])
/// >>> int(policy.select())
/// 0
#[pyclass(extends = Bandit, frozen, name = "GaussianThompsonSampling", module = "regretless")]
pub struct PyGaussianThompsonSampling;

#[pymethods]
impl PyGaussianThompsonSampling {
    #[new]
    #[pyo3(signature = (n_arms, *, mu0 = 0.0, kappa0 = 1.0, alpha0 = 1.0, beta0 = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(
                GaussianThompsonSampling::new(n_arms, mu0, kappa0, alpha0, beta0, seed_arg(seed)?)
                    .py_err(py)?,
            ),
        ))
    }
}
