//! Argument conversion and locking shared by every class: checked sizes, scalars, and
//! private copies of batch arrays (see [`Owned`]).

use crate::errors::{allocation_error, arm_error, dtype_error, invalid_parameter, shape_error};
use numpy::{PyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt};
use std::sync::{Mutex, TryLockError};

/// Runs `f` on the locked state. Uncontended, it locks with the GIL held (nanoseconds);
/// if another thread holds the lock (say, a batch call running with the GIL released), it
/// waits with the GIL released so that the other thread and the interpreter keep going.
#[inline]
pub fn with_lock<T: Send, R: Send>(
    py: Python<'_>,
    m: &Mutex<T>,
    f: impl FnOnce(&mut T) -> R + Send,
) -> R {
    match m.try_lock() {
        Ok(mut g) => f(&mut g),
        // No core method panics on user input; should one ever, its state is still whole
        // (updates are validated before they mutate), so keep serving it.
        Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
        Err(TryLockError::WouldBlock) => py.detach(|| {
            let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g)
        }),
    }
}

/// Runs `f` on the locked state with the GIL released: for batch work.
pub fn with_lock_detached<T: Send, R: Send>(
    py: Python<'_>,
    m: &Mutex<T>,
    f: impl FnOnce(&mut T) -> R + Send,
) -> R {
    py.detach(|| {
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    })
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A bool, or numpy's bool: refused where a number is expected (`True` is a Python int,
/// but an arm, reward or size given as one is a bug in the caller).
#[inline]
pub(crate) fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    // Exact ints and floats first, without building the type's name (a serving loop passes
    // them on every call).
    if obj.is_exact_instance_of::<PyInt>() || obj.is_exact_instance_of::<PyFloat>() {
        return false;
    }
    obj.is_instance_of::<PyBool>() || matches!(type_name(obj).as_str(), "bool" | "bool_")
}

/// An arm index: a Python or numpy integer (not a bool).
#[inline]
pub fn arm_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer arm index, got bool"),
        ));
    }
    match obj.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(_) if obj.is_instance_of::<PyInt>() => Err(arm_error(
            obj.py(),
            format!("{name}: integer {obj} is out of range"),
        )),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!(
                "{name}: expected an integer arm index, got {}",
                type_name(obj)
            ),
        )),
    }
}

/// The value of an exact int within float range, or a float (or float subclass such as
/// numpy.float64), read with the C API: rewards often arrive as Python ints (0/1 clicks),
/// and `float(obj)` would allocate and free a temporary float object. `None` for anything
/// else, bools included (the caller falls back to general extraction, which refuses them),
/// with no Python error left set.
///
/// # Safety
/// `obj` is a live object and the thread is attached.
#[inline]
pub(crate) unsafe fn plain_real(obj: *mut pyo3::ffi::PyObject) -> Option<f64> {
    use pyo3::ffi;
    // SAFETY: by this function's contract `obj` is a live object and the thread is attached,
    // which is all these C API calls need: they read `obj`'s type and value, and the error
    // indicator they may set (an int too large for a float) is cleared before returning.
    unsafe {
        // Exact types first: a subclass check walks the type's MRO.
        let v = if ffi::PyLong_CheckExact(obj) != 0 {
            ffi::PyLong_AsDouble(obj)
        } else if ffi::PyFloat_CheckExact(obj) != 0 || ffi::PyFloat_Check(obj) != 0 {
            ffi::PyFloat_AsDouble(obj)
        } else {
            return None;
        };
        if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
            // An int beyond the float range (OverflowError).
            ffi::PyErr_Clear();
            return None;
        }
        Some(v)
    }
}

/// A real number (Python int/float, numpy scalar).
#[inline]
pub fn real_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    // SAFETY: `obj` is a live object and this thread is attached (`obj` carries the token).
    if let Some(v) = unsafe { plain_real(obj.as_ptr()) } {
        return Ok(v);
    }
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            format!("{name}: expected a real number, got bool"),
        ));
    }
    obj.extract::<f64>().map_err(|_| {
        dtype_error(
            obj.py(),
            format!("{name}: expected a real number, got {}", type_name(obj)),
        )
    })
}

/// A count: a non-negative integer (not a bool).
pub fn count_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got bool"),
        ));
    }
    match obj.extract::<i64>() {
        Ok(v) if v >= 0 => Ok(v as usize),
        Ok(v) => Err(invalid_parameter(
            obj.py(),
            format!("{name}: must be >= 0, got {v}"),
        )),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got {}", type_name(obj)),
        )),
    }
}

/// The length of a batch the call will produce (`select_batch(n)`): a count whose output,
/// `bytes_per_item` bytes per item, the allocator can provide, checked before any work.
pub fn batch_count_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    let n = count_arg(obj, name)?;
    // A usize per decision, then the int64 array returned.
    regretless_core::limits::check_alloc(name, &[n], 16)
        .map_err(|e| crate::errors::to_py(obj.py(), e))?;
    Ok(n)
}

/// A size argument (`n_arms`, `dim`, ...): an integer >= 0 that is not a bool. Negative
/// values and bools get the project's exceptions naming the argument (PyO3's own `usize`
/// conversion raises a bare OverflowError, and takes `True` as 1); the core constructors
/// check the lower bound and whether the size can be allocated.
pub fn size_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got bool"),
        ));
    }
    match obj.extract::<i128>() {
        Ok(v) if v < 0 => Err(invalid_parameter(
            obj.py(),
            format!("{name}: must be a positive integer, got {v}"),
        )),
        Ok(v) => usize::try_from(v).map_err(|_| {
            allocation_error(obj.py(), format!("{name}: {v} exceeds the address space"))
        }),
        Err(_) if obj.is_instance_of::<PyInt>() => Err(allocation_error(
            obj.py(),
            format!("{name}: {obj} exceeds the address space"),
        )),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got {}", type_name(obj)),
        )),
    }
}

/// Size converters for `#[pyo3(from_py_with = ...)]` on constructor parameters.
pub mod size {
    use pyo3::prelude::*;

    macro_rules! size_converters {
        ($($name:ident),*) => {$(
            pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
                super::size_arg(obj, stringify!($name))
            }
        )*};
    }
    size_converters!(n_arms, dim, shared_dim, n_bootstrap, n_items);

    /// `n_arms` where the core counts in u64 (the streaming policies).
    pub fn n_arms_u64(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(super::size_arg(obj, "n_arms")? as u64)
    }
}

/// `k` of `top_k`: an integer in [1, n_arms], one message for every value outside.
pub fn top_k_arg(obj: &Bound<'_, PyAny>, n_arms: usize) -> PyResult<usize> {
    let range = || format!("k: must be an integer in [1, {n_arms}] (the number of arms)");
    if is_bool(obj) {
        return Err(dtype_error(obj.py(), format!("{}, got bool", range())));
    }
    match obj.extract::<i64>() {
        Ok(v) if v >= 1 && (v as u64) <= n_arms as u64 => Ok(v as usize),
        Ok(v) => Err(invalid_parameter(obj.py(), format!("{}, got {v}", range()))),
        Err(_) if obj.is_instance_of::<PyInt>() => Err(invalid_parameter(
            obj.py(),
            format!("{}, got {obj}", range()),
        )),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!("{}, got {}", range(), type_name(obj)),
        )),
    }
}

/// Scalar converters for `#[pyo3(from_py_with = ...)]` parameters, raising the project's
/// DTypeError naming the argument where PyO3 would raise a bare TypeError.
pub mod scalar {
    use pyo3::prelude::*;

    pub fn weight(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
        super::real_arg(obj, "weight")
    }
}

/// An integer in `[low, 2**64)` that is not a bool: InvalidParameterError naming `name`
/// for an integer outside (PyO3's own `u64` conversion raises a bare OverflowError),
/// DTypeError for anything else.
pub fn u64_arg(obj: &Bound<'_, PyAny>, name: &str, low: u64) -> PyResult<u64> {
    u64_in(obj, name, low, &format!("[{low}, 2**64)"))
}

/// [`u64_arg`] whose range error states `range` (the callee checks a narrower top).
fn u64_in(obj: &Bound<'_, PyAny>, name: &str, low: u64, range: &str) -> PyResult<u64> {
    if is_bool(obj) {
        return Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got bool"),
        ));
    }
    match obj.extract::<u64>() {
        Ok(v) if v >= low => Ok(v),
        Ok(_) => Err(u64_range_error(obj, name, range)),
        Err(_) if obj.is_instance_of::<PyInt>() => Err(u64_range_error(obj, name, range)),
        Err(_) => Err(dtype_error(
            obj.py(),
            format!("{name}: expected an integer, got {}", type_name(obj)),
        )),
    }
}

fn u64_range_error(obj: &Bound<'_, PyAny>, name: &str, range: &str) -> PyErr {
    invalid_parameter(
        obj.py(),
        format!("{name}: must be an integer in {range}, got {obj}"),
    )
}

/// `seed`: None or a non-negative integer below 2**64 (not a bool).
pub fn seed_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) if is_bool(o) => Err(dtype_error(
            o.py(),
            "seed: expected None or an integer in [0, 2**64), got bool".to_string(),
        )),
        Some(o) => o.extract::<u64>().map(Some).map_err(|_| {
            invalid_parameter(
                o.py(),
                format!("seed: expected None or an integer in [0, 2**64), got {o}"),
            )
        }),
    }
}

/// An optional positive integer such as `horizon`: None, or an integer in [1, 2**64).
pub fn positive_opt(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<u64>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => u64_arg(o, name, 1).map(Some),
    }
}

/// Converters for `#[pyo3(from_py_with = ...)]` on 64-bit integer parameters.
pub mod int {
    use pyo3::prelude::*;

    /// The core refuses 2**63 and above (room for the rows after it).
    pub fn first_row(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
        super::u64_in(obj, "first_row", 0, "[0, 2**63)")
    }

    pub fn seed(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
        super::u64_arg(obj, "seed", 0)
    }

    macro_rules! positive_usize_converters {
        ($($name:ident),*) => {$(
            /// An integer in [1, 2**64); the core checks what it allocates for it.
            pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
                let v = super::u64_arg(obj, stringify!($name), 1)?;
                usize::try_from(v).map_err(|_| {
                    crate::errors::allocation_error(
                        obj.py(),
                        format!("{}: {v} exceeds the address space", stringify!($name)),
                    )
                })
            }
        )*};
    }
    positive_usize_converters!(horizon, n_runs, record_every);
}

fn numpy_asarray<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let arr = np
        .call_method1("asarray", (obj,))
        .map_err(|e| dtype_error(py, format!("{name}: cannot be converted to an array ({e})")))?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(shape_error(
            py,
            format!("{name}: expected a 1-D array, got {ndim} dimensions"),
        ));
    }
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    Ok((arr, kind))
}

/// A 1-D int64 array: borrowed as is when it already is one (zero-copy), otherwise
/// converted once from any integer array or sequence. Floats are refused, not truncated.
pub fn int64_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    if let Ok(a) = obj.downcast::<PyArray1<i64>>() {
        if a.is_contiguous() {
            return Ok(a.clone());
        }
    }
    let py = obj.py();
    let (arr, kind) = numpy_asarray(obj, name)?;
    // An empty list comes out of numpy as float64: it is simply an empty batch.
    let empty = arr.getattr("size")?.extract::<usize>()? == 0;
    if !(kind == "i" || kind == "u" || empty) {
        let dtype = arr.getattr("dtype")?.str()?.to_string();
        return Err(dtype_error(
            py,
            format!("{name}: expected integer arm indices, got dtype {dtype}"),
        ));
    }
    let np = py.import("numpy")?;
    let converted = np.call_method1("ascontiguousarray", (arr, "int64"))?;
    Ok(converted.downcast_into::<PyArray1<i64>>()?)
}

/// A 1-D float64 array: borrowed as is when it already is one (zero-copy), otherwise
/// converted once from any real-valued array or sequence.
pub fn float64_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    if let Ok(a) = obj.downcast::<PyArray1<f64>>() {
        if a.is_contiguous() {
            return Ok(a.clone());
        }
    }
    let py = obj.py();
    let (arr, kind) = numpy_asarray(obj, name)?;
    if !matches!(kind.as_str(), "f" | "i" | "u" | "b") {
        let dtype = arr.getattr("dtype")?.str()?.to_string();
        return Err(dtype_error(
            py,
            format!("{name}: expected real numbers, got dtype {dtype}"),
        ));
    }
    let np = py.import("numpy")?;
    let converted = np.call_method1("ascontiguousarray", (arr, "float64"))?;
    Ok(converted.downcast_into::<PyArray1<f64>>()?)
}

/// Bytes-like input for `from_bytes`.
pub fn bytes_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(b) = obj.call_method0("tobytes") {
        if let Ok(b) = b.downcast::<PyBytes>() {
            return Ok(b.as_bytes().to_vec());
        }
    }
    Err(dtype_error(
        obj.py(),
        format!("{name}: expected bytes, got {}", type_name(obj)),
    ))
}

pub fn u64_to_i64(v: Vec<u64>) -> Vec<i64> {
    v.into_iter()
        .map(|x| x.min(i64::MAX as u64) as i64)
        .collect()
}

/// A 2-D C-contiguous float64 matrix with `cols` columns: borrowed as is when it already
/// is one (zero-copy), otherwise converted once from any real-valued array. A 1-D input is
/// read as a single row.
pub fn float64_matrix<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    cols: usize,
) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
    let py = obj.py();
    let arr = match obj.downcast::<numpy::PyArray2<f64>>() {
        Ok(a) if a.is_c_contiguous() => a.clone(),
        _ => {
            let np = py.import("numpy")?;
            let arr = np.call_method1("asarray", (obj,)).map_err(|e| {
                dtype_error(py, format!("{name}: cannot be converted to an array ({e})"))
            })?;
            let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
            if !matches!(kind.as_str(), "f" | "i" | "u" | "b") {
                let dtype = arr.getattr("dtype")?.str()?.to_string();
                return Err(dtype_error(
                    py,
                    format!("{name}: expected real numbers, got dtype {dtype}"),
                ));
            }
            let ndim: usize = arr.getattr("ndim")?.extract()?;
            let arr = match ndim {
                1 => {
                    let len: usize = arr.getattr("size")?.extract()?;
                    if len != cols {
                        return Err(shape_error(
                            py,
                            format!(
                                "{name}: expected a 2-D (n, {cols}) array or one row of {cols} features, got shape ({len},)"
                            ),
                        ));
                    }
                    arr.call_method1("reshape", ((1usize, -1i64),))?
                }
                2 => arr,
                _ => {
                    return Err(shape_error(
                        py,
                        format!("{name}: expected a 2-D (n, {cols}) array, got {ndim} dimensions"),
                    ))
                }
            };
            np.call_method1("ascontiguousarray", (arr, "float64"))?
                .downcast_into::<numpy::PyArray2<f64>>()?
        }
    };
    let shape = arr.shape();
    if shape[1] != cols {
        return Err(shape_error(
            py,
            format!(
                "{name}: expected {cols} features per row, got shape ({}, {})",
                shape[0], shape[1]
            ),
        ));
    }
    Ok(arr)
}

/// A 1-D float64 context of length `cols` (zero-copy when it already is one).
pub fn float64_vector<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    cols: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let arr = float64_array(obj, name)?;
    if arr.len() != cols {
        return Err(shape_error(
            obj.py(),
            format!("{name}: expected {cols} features, got {}", arr.len()),
        ));
    }
    Ok(arr)
}

/// Any-dimensional C-contiguous float64 array (zero-copy when it already is one) and its
/// shape. Used where the layout (per row, or per row and arm) is read from the shape.
pub fn float64_nd<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<(Bound<'py, numpy::PyArrayDyn<f64>>, Vec<usize>)> {
    let py = obj.py();
    let arr = match obj.downcast::<numpy::PyArrayDyn<f64>>() {
        Ok(a) if a.is_c_contiguous() => a.clone(),
        _ => {
            let np = py.import("numpy")?;
            let arr = np.call_method1("asarray", (obj,)).map_err(|e| {
                dtype_error(py, format!("{name}: cannot be converted to an array ({e})"))
            })?;
            let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
            if !matches!(kind.as_str(), "f" | "i" | "u" | "b") {
                let dtype = arr.getattr("dtype")?.str()?.to_string();
                return Err(dtype_error(
                    py,
                    format!("{name}: expected real numbers, got dtype {dtype}"),
                ));
            }
            np.call_method1("ascontiguousarray", (arr, "float64"))?
                .downcast_into::<numpy::PyArrayDyn<f64>>()?
        }
    };
    let shape = arr.shape().to_vec();
    Ok((arr, shape))
}

/// Fast path for a single context: when `obj` is a contiguous 1-D float64 numpy array of
/// `len` values, copies it (with the GIL held, so no Python code writes it meanwhile) into a
/// stack buffer and returns `f` of the copy; `None` for anything else (the caller then takes
/// the general, validating path). The copy skips numpy's borrow tracking, which costs more
/// than copying a few dozen values, and lets `f` release the GIL safely.
#[inline]
pub fn with_f64_vector_copy<R>(
    obj: &Bound<'_, PyAny>,
    len: usize,
    f: impl FnOnce(&[f64]) -> R,
) -> Option<R> {
    use numpy::PyArrayMethods;
    let a = obj.downcast::<PyArray1<f64>>().ok()?;
    if a.len() != len || !a.is_contiguous() {
        return None;
    }
    let src = a.data() as *const u8;
    if len <= 64 {
        let mut buf = [0.0f64; 64];
        // SAFETY: `src` points to the array's `len` contiguous f64 values (the length and
        // contiguity are checked above), so `len * 8` bytes are readable; `buf` has room for
        // 64 >= len values and is a fresh local, so the two do not overlap; byte copies need
        // no alignment. The GIL is held for the whole copy, so no Python code resizes or
        // frees the array meanwhile. (Native code that released the GIL, e.g. a numpy ufunc
        // with `out=` on another thread, could still write it concurrently; numpy's own
        // borrow tracking does not cover that case either.)
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr() as *mut u8, len * 8) };
        Some(f(&buf[..len]))
    } else {
        let mut v = vec![0.0f64; len];
        // SAFETY: as above, with `v` a fresh allocation of `len` values.
        unsafe { std::ptr::copy_nonoverlapping(src, v.as_mut_ptr() as *mut u8, len * 8) };
        Some(f(&v))
    }
}

/// A private copy of a batch input, taken with the GIL held: batch calls release the GIL,
/// and another thread writing into a borrowed numpy buffer meanwhile could slip a value
/// past validation (an out-of-range arm, a NaN reward) or change rows between validation
/// and recording. Validation and recording both read this copy, which nothing else can
/// write, so a batch is either refused whole or recorded as validated.
///
/// The copy is sound: with the GIL held no Python code runs, and the source is kept alive
/// and unresizable by our reference; the bytes are plain values (every bit pattern is a
/// valid f64 or i64), copied in chunks with the GIL briefly released between them so a
/// huge array does not stall other threads (they may write the part not yet copied: the
/// copy then holds some mix of old and new values, each one whole, all validated).
///
/// The linear contextual `update_batch` (W2's fit) borrows instead: its core reads each
/// value once, into memory of its own, and checks and records it from there
/// (`ContextualPolicy::update_batch`), which costs less than a copy of the whole input.
///
/// `readonly()` and `as_slice()` mirror numpy's borrowed arrays, so a call site swaps
/// `float64_array(..)` for `owned_float64(..)` and reads the same.
pub struct Owned<T> {
    data: Vec<T>,
}

impl<T> Owned<T> {
    pub fn readonly(&self) -> &Self {
        self
    }
    pub fn as_slice(&self) -> PyResult<&[T]> {
        Ok(&self.data)
    }
}

/// Elements copied per hold of the GIL (64 MB of f64, a few milliseconds).
const COPY_CHUNK: usize = 1 << 23;

/// A private copy of a C-contiguous array (see [`Owned`]).
pub fn copy_out<T: numpy::Element + Copy, D: numpy::ndarray::Dimension>(
    arr: &Bound<'_, numpy::PyArray<T, D>>,
    name: &str,
) -> PyResult<Owned<T>> {
    use numpy::PyArrayMethods;
    let py = arr.py();
    let len = arr.len();
    let mut data: Vec<T> = Vec::new();
    data.try_reserve_exact(len).map_err(|_| {
        allocation_error(
            py,
            format!(
                "{name}: {len} values of {} bytes for a private copy",
                std::mem::size_of::<T>()
            ),
        )
    })?;
    let mut start = 0;
    while start < len {
        if start > 0 {
            py.detach(|| ());
            // Another thread may have run `resize(refcheck=False)` meanwhile.
            if arr.len() != len {
                return Err(shape_error(
                    py,
                    format!("{name}: the array was resized during the call"),
                ));
            }
        }
        let end = (start + COPY_CHUNK).min(len);
        // SAFETY: callers pass C-contiguous arrays (the converters below make them so) of
        // `len` elements, kept alive by `arr`; the pointer is fetched after the last
        // release of the GIL, and the GIL is held for the read (see `Owned`).
        let chunk =
            unsafe { std::slice::from_raw_parts((arr.data() as *const T).add(start), end - start) };
        // The pool's threads copy while this thread holds the GIL (no Python code runs).
        regretless_core::parallel::copy_into(chunk, &mut data.spare_capacity_mut()[..end - start]);
        // SAFETY: `copy_into` initialized the `end - start` elements after the first `start`.
        unsafe { data.set_len(end) };
        start = end;
    }
    Ok(Owned { data })
}

/// [`int64_array`] as a private copy.
pub fn owned_int64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Owned<i64>> {
    copy_out(&int64_array(obj, name)?, name)
}

/// [`float64_array`] as a private copy.
pub fn owned_float64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Owned<f64>> {
    copy_out(&float64_array(obj, name)?, name)
}

/// [`float64_matrix`] as a private copy.
pub fn owned_float64_matrix(
    obj: &Bound<'_, PyAny>,
    name: &str,
    cols: usize,
) -> PyResult<Owned<f64>> {
    copy_out(&float64_matrix(obj, name, cols)?, name)
}

/// [`float64_vector`] as a private copy.
pub fn owned_float64_vector(
    obj: &Bound<'_, PyAny>,
    name: &str,
    cols: usize,
) -> PyResult<Owned<f64>> {
    copy_out(&float64_vector(obj, name, cols)?, name)
}

/// [`float64_nd`] as a private copy, with its shape.
pub fn owned_float64_nd(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Owned<f64>, Vec<usize>)> {
    let (arr, shape) = float64_nd(obj, name)?;
    Ok((copy_out(&arr, name)?, shape))
}
