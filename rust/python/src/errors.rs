//! The one mapping from core errors to the Python exception tree of
//! `regretless.exceptions` (declared there, in Python, because its classes inherit from
//! two bases: `RegretlessError` and the built-in `ValueError`, `TypeError` or
//! `MemoryError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use regretless_core::Error;

macro_rules! exception_getters {
    ($($fn_name:ident => $class:literal),* $(,)?) => {
        $(
            pub fn $fn_name(py: Python<'_>, message: String) -> PyErr {
                static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                match CELL.import(py, "regretless.exceptions", $class) {
                    Ok(ty) => PyErr::from_type(ty.clone(), message),
                    Err(e) => PyRuntimeError::new_err(format!("{message} (and regretless.exceptions failed to import: {e})")),
                }
            }
        )*
    };
}

exception_getters! {
    invalid_parameter => "InvalidParameterError",
    arm_error => "ArmError",
    reward_error => "RewardError",
    shape_error => "ShapeError",
    dtype_error => "DTypeError",
    state_error => "StateError",
    incompatible_error => "IncompatibleError",
    allocation_error => "AllocationError",
}

pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::InvalidParameter { .. } => invalid_parameter(py, message),
        Error::ArmOutOfRange { .. } | Error::Protocol { .. } => arm_error(py, message),
        Error::InvalidReward { .. } => reward_error(py, message),
        Error::Shape { .. } => shape_error(py, message),
        Error::State { .. } => state_error(py, message),
        Error::Incompatible { .. } => incompatible_error(py, message),
        Error::Memory { .. } => allocation_error(py, message),
    }
}

/// `?`-friendly conversion of a core result.
pub trait IntoPyResult<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for regretless_core::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
