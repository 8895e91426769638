//! The `eligible=` argument every policy family takes: None (every arm), a boolean mask of
//! length n_arms, distinct integer arm indices (a sequence or a set), or (batches) an (n, n_arms) boolean mask.
//! Converted once here into the core's validated [`Eligible`] / [`EligibleRows`].

use crate::errors::{dtype_error, shape_error, IntoPyResult};
use numpy::{PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use regretless_core::eligible::{Eligible, EligibleRows};

/// The values of an `eligible` argument, with the array's shape.
enum Values {
    Mask(Vec<bool>),
    Indices(Vec<i64>),
}

fn values(obj: &Bound<'_, PyAny>, max_ndim: usize) -> PyResult<(Values, Vec<usize>)> {
    let py = obj.py();
    let np = py.import("numpy")?;
    // A set of arm indices is as natural as a list; numpy would make it a 0-d object array.
    let sorted;
    let obj = if obj.is_instance_of::<pyo3::types::PySet>()
        || obj.is_instance_of::<pyo3::types::PyFrozenSet>()
    {
        sorted = py.import("builtins")?.call_method1("sorted", (obj,))?;
        &sorted
    } else {
        obj
    };
    let arr = np.call_method1("asarray", (obj,)).map_err(|e| {
        dtype_error(
            py,
            format!("eligible: cannot be converted to an array ({e})"),
        )
    })?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    let size: usize = arr.getattr("size")?.extract()?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    let expected = if max_ndim == 2 {
        "a boolean mask (n_arms,) or (n, n_arms), or integer arm indices (k,)"
    } else {
        "a boolean mask (n_arms,) or integer arm indices (k,)"
    };
    if ndim == 0 || ndim > max_ndim || (ndim == 2 && kind != "b") {
        return Err(shape_error(
            py,
            format!("eligible: expected {expected}, got an array of shape {shape:?}"),
        ));
    }
    // An empty list comes out of numpy as float64: no index at all.
    if size == 0 && kind != "b" {
        return Ok((Values::Indices(Vec::new()), shape));
    }
    match kind.as_str() {
        "b" => {
            let a = np.call_method1("ascontiguousarray", (arr, "bool"))?;
            let a = a.downcast_into::<PyArrayDyn<bool>>()?;
            let ro = a.readonly();
            Ok((Values::Mask(ro.as_slice()?.to_vec()), shape))
        }
        "i" | "u" => {
            let a = np.call_method1("ascontiguousarray", (arr, "int64"))?;
            let a = a.downcast_into::<PyArrayDyn<i64>>()?;
            let ro = a.readonly();
            Ok((Values::Indices(ro.as_slice()?.to_vec()), shape))
        }
        _ => {
            let dtype = arr.getattr("dtype")?.str()?.to_string();
            Err(dtype_error(
                py,
                format!("eligible: expected {expected}, got dtype {dtype}"),
            ))
        }
    }
}

fn one(py: Python<'_>, v: Values, n_arms: usize) -> PyResult<Eligible> {
    match v {
        Values::Mask(m) => Eligible::from_mask(&m, n_arms),
        Values::Indices(i) => Eligible::from_indices(&i, n_arms),
    }
    .py_err(py)
}

/// `eligible=` of a single decision (or of calls whose rows share one set): None when absent.
/// `n_arms` is asked for only when a mask is given (it takes the policy's lock).
pub fn eligible_arg(
    obj: Option<&Bound<'_, PyAny>>,
    n_arms: impl FnOnce() -> usize,
) -> PyResult<Option<Eligible>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let (v, _) = values(obj, 1)?;
    one(obj.py(), v, n_arms()).map(Some)
}

/// `eligible=` of a batch of `n_rows` decisions: one set for all rows, or an
/// (n_rows, n_arms) boolean mask.
pub fn eligible_rows_arg(
    obj: Option<&Bound<'_, PyAny>>,
    n_rows: usize,
    n_arms: impl FnOnce() -> usize,
) -> PyResult<Option<EligibleRows>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let n_arms = n_arms();
    let py = obj.py();
    let (v, shape) = values(obj, 2)?;
    if shape.len() == 2 {
        if shape != [n_rows, n_arms] {
            return Err(shape_error(
                py,
                format!(
                    "eligible: a per-row mask must have shape ({n_rows}, {n_arms}), got {shape:?}"
                ),
            ));
        }
        // `values` accepts only boolean 2-D arrays.
        if let Values::Mask(m) = v {
            return EligibleRows::from_matrix(&m, n_rows, n_arms)
                .py_err(py)
                .map(Some);
        }
    }
    one(py, v, n_arms).map(|e| Some(EligibleRows::Shared(e)))
}
