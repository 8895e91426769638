//! The UCB family: UCB1, UCB-V and MOSS.

use crate::bandit::Bandit;
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use regretless_core::policy::{MOSS, UCB1, UCBV};

/// UCB1 (Auer, Cesa-Bianchi and Fischer 2002).
///
/// Plays every arm once, then the arm maximizing
/// ``mean_i + alpha * sqrt(2 ln t / n_i)`` where ``t`` is the number of rewards seen.
/// Rewards must lie in [0, 1]. ``alpha = 1`` is the paper's index; smaller values
/// explore less. Ties are broken uniformly at random.
///
/// >>> import regretless
/// >>> policy = regretless.UCB1(3, seed=0)
/// >>> for _ in range(300):
/// ...     arm = policy.select()
/// ...     policy.update(arm, 1.0 if arm == 2 else 0.0)
/// >>> int(policy.counts().argmax())
/// 2
#[pyclass(extends = Bandit, frozen, name = "UCB1", module = "regretless")]
pub struct PyUCB1;

#[pymethods]
impl PyUCB1 {
    #[new]
    #[pyo3(signature = (n_arms, *, alpha = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        alpha: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(UCB1::new(n_arms, alpha, seed_arg(seed)?).py_err(py)?),
        ))
    }
}

/// UCB-V (Audibert, Munos and Szepesvari 2009): an empirical-Bernstein index.
///
/// ``mean_i + sqrt(2 V_i zeta ln t / n_i) + 3 c zeta ln t / n_i`` with ``V_i`` the
/// empirical variance of arm i. Low-variance arms get tighter bounds than UCB1 gives.
/// Rewards in [0, 1]; defaults ``zeta = 1.2``, ``c = 1`` are the paper's.
///
/// >>> import regretless
/// >>> policy = regretless.UCBV(2, seed=1)
/// >>> policy.update_batch([0, 0, 1, 1], [0.2, 0.4, 0.6, 0.8])
/// >>> policy.means().round(2).tolist()
/// [0.3, 0.7]
#[pyclass(extends = Bandit, frozen, name = "UCBV", module = "regretless")]
pub struct PyUCBV;

#[pymethods]
impl PyUCBV {
    #[new]
    #[pyo3(signature = (n_arms, *, zeta = 1.2, c = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        zeta: f64,
        c: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(UCBV::new(n_arms, zeta, c, seed_arg(seed)?).py_err(py)?),
        ))
    }
}

/// MOSS (Audibert and Bubeck 2009): minimax-optimal in the stochastic case.
///
/// Index ``mean_i + sqrt(max(ln(H / (K n_i)), 0) / n_i)`` with ``H`` the horizon.
/// With ``horizon=None`` it is the anytime variant, using the current step ``t``.
/// Rewards in [0, 1].
///
/// >>> import regretless
/// >>> regretless.MOSS(4, horizon=10_000)
/// MOSS(n_arms=4, horizon=10000)
#[pyclass(extends = Bandit, frozen, name = "MOSS", module = "regretless")]
pub struct PyMOSS;

#[pymethods]
impl PyMOSS {
    #[new]
    #[pyo3(signature = (n_arms, *, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        horizon: Option<i64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(py, horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(MOSS::new(n_arms, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }
}
