//! Successive elimination.

use crate::bandit::{with_policy, Bandit};
use crate::convert::seed_arg;
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::SuccessiveElimination;

/// Successive elimination (Even-Dar, Mannor and Mansour 2006).
///
/// Samples the active arms round-robin and eliminates arm i for good once its upper
/// confidence bound falls below the best lower bound, with the anytime Hoeffding radius
/// ``sqrt(ln(4 K n^2 / delta) / (2 n))``: with probability at least ``1 - delta`` the
/// best arm survives. Rewards in [0, 1]. Not mergeable (eliminations depend on order).
///
/// >>> import regretless
/// >>> policy = regretless.SuccessiveElimination(2, delta=0.05, seed=0)
/// >>> policy.update_batch([0, 1] * 200, [1.0, 0.0] * 200)
/// >>> policy.active().tolist()
/// [True, False]
#[pyclass(extends = Bandit, frozen, name = "SuccessiveElimination", module = "regretless")]
pub struct PySuccessiveElimination;

#[pymethods]
impl PySuccessiveElimination {
    #[new]
    #[pyo3(signature = (n_arms, *, delta = 0.05, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        delta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(SuccessiveElimination::new(n_arms, delta, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// Boolean mask of the arms not yet eliminated.
    fn active<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let v = with_policy(slf, |p: &mut SuccessiveElimination| p.active().to_vec())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}
