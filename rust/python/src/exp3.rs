//! Adversarial bandits: EXP3 and EXP3-IX.

use crate::bandit::{with_policy, Bandit};
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{Exp3, Exp3IX};

/// EXP3 (Auer, Cesa-Bianchi, Freund and Schapire 2002) for adversarial rewards.
///
/// Plays from ``p = (1 - gamma) softmax(-eta L) + gamma / K`` where ``L_i`` sums the
/// importance-weighted losses ``(1 - r) / p_i`` of arm i. The learning rate is ``eta``
/// if given, else ``sqrt(2 ln K / (K horizon))`` for a known horizon (expected regret
/// at most ``sqrt(2 K T ln K)``), else the anytime ``sqrt(ln K / (K t))``.
/// Rewards in [0, 1]. Not mergeable: its estimates depend on its own play.
///
/// >>> import regretless
/// >>> policy = regretless.EXP3(3, horizon=1000, seed=0)
/// >>> policy.probabilities().tolist()
/// [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
#[pyclass(extends = Bandit, frozen, name = "EXP3", module = "regretless")]
pub struct PyExp3;

#[pymethods]
impl PyExp3 {
    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = 0.0, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: f64,
        horizon: Option<i64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(py, horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(Exp3::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut Exp3| p.eta())
    }

    /// Cumulative importance-weighted loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut Exp3| p.cumulative_loss_estimates().to_vec())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}

/// EXP3-IX (Neu 2015): EXP3 with implicit exploration, regret bounded with high
/// probability.
///
/// Exponential weights on loss estimates ``(1 - r) / (p_i + gamma)``; ``gamma``
/// defaults to ``eta / 2``. Learning rate as for :class:`EXP3`. Rewards in [0, 1].
///
/// >>> import regretless
/// >>> policy = regretless.EXP3IX(2, eta=0.5, seed=0)
/// >>> policy.update(0, 0.0)
/// >>> bool(policy.probabilities()[1] > 0.5)
/// True
#[pyclass(extends = Bandit, frozen, name = "EXP3IX", module = "regretless")]
pub struct PyExp3IX;

#[pymethods]
impl PyExp3IX {
    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = None, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: Option<f64>,
        horizon: Option<i64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(py, horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(Exp3IX::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut Exp3IX| p.eta())
    }

    /// Cumulative implicit-exploration loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut Exp3IX| p.cumulative_loss_estimates().to_vec())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}
