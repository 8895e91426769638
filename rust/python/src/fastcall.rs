//! Direct CPython entry points for the two calls a serving loop makes per decision on a
//! multi-armed policy: `select()` (without `eligible=`) and `update(arm, reward)`. They are
//! installed once on the base class `Bandit` and inherited by every policy class; each call
//! dispatches on the registry enum with one `match`.
//!
//! Why: the calls themselves cost tens of nanoseconds, while PyO3's generic method
//! trampoline (thread-attachment bookkeeping in thread-local storage, argument-description
//! parsing, a type check of `self`, panic guard) adds about as much again. These entry
//! points handle the common case directly (two positional arguments: a Python int arm, a
//! float, int or bool reward; an uncontended lock). Other argument types, contention and
//! refused updates take the general path, which runs under `Python::attach` with the same
//! checked converters and error mapping as every other method (core updates validate
//! before they mutate, so re-running a refused update there raises the named exception from
//! the same untouched state). Keyword arguments and wrong argument counts go to the PyO3
//! methods themselves, kept on the class as `_select_checked` and `_update_checked`.
//!
//! Measured (callgrind, CPython 3.11, `UCB1(10)`, a Python loop of `a = select();
//! update(a, r)`): 2,698 instructions per step through these entry points against 3,061
//! through the plain PyO3 methods (`_select_checked` / `_update_checked`), 12% fewer.
//!
//! Safety rests on three facts, relied on where marked:
//! - CPython calls a method descriptor's function with the thread attached and only after
//!   checking that `self` is an instance of the descriptor's class, `Bandit`, or of a
//!   subclass (`descr_check` is an isinstance check). A subclass object's layout begins with
//!   its base's, so the unchecked cast of `self` to `Bandit` is sound.
//! - The fast path creates no owned PyO3 handles (whose release would consult PyO3's
//!   attachment count), only borrowed ones, and builds its result with the C API.
//! - No panic crosses the C boundary: the core call runs under `catch_unwind`, and a panic is
//!   reported as a `RuntimeError` from inside `Python::attach`.

use crate::bandit::Bandit;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::ffi::{c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SLOW_SELECT: &std::ffi::CStr = c"_select_checked";
const SLOW_UPDATE: &std::ffi::CStr = c"_update_checked";

/// Replaces `select` and `update` on `ty`, the class `Bandit`, by the direct entry points,
/// keeping the PyO3 methods as `_select_checked` / `_update_checked` for the general case.
pub fn install(ty: &Bound<'_, PyType>) -> PyResult<()> {
    let select = ty.getattr("select")?;
    let update = ty.getattr("update")?;
    ty.setattr("_select_checked", &select)?;
    ty.setattr("_update_checked", &update)?;
    let select_fast = descriptor(
        ty,
        c"select",
        &select,
        ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: fast_select,
        },
        ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
    )?;
    let update_fast = descriptor(
        ty,
        c"update",
        &update,
        ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: fast_update,
        },
        ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
    )?;
    ty.setattr("select", select_fast)?;
    ty.setattr("update", update_fast)?;
    Ok(())
}

/// A method descriptor of `ty` for `meth`, with the docstring and text signature of the
/// PyO3 method it replaces (so `help()` and `inspect.signature` are unchanged).
fn descriptor<'py>(
    ty: &Bound<'py, PyType>,
    name: &'static std::ffi::CStr,
    original: &Bound<'py, PyAny>,
    meth: ffi::PyMethodDefPointer,
    flags: c_int,
) -> PyResult<Bound<'py, PyAny>> {
    let doc: Option<String> = original.getattr("__doc__")?.extract()?;
    let sig: Option<String> = original.getattr("__text_signature__")?.extract()?;
    let name_str = name.to_str().expect("ASCII method name");
    let full_doc = match sig {
        Some(sig) => format!("{name_str}{sig}\n--\n\n{}", doc.unwrap_or_default()),
        None => doc.unwrap_or_default(),
    };
    let doc = CString::new(full_doc)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("docstring with NUL: {e}")))?;
    // The definition must outlive the class: leaked once at module import.
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: meth,
        ml_flags: flags,
        ml_doc: doc.into_raw(),
    }));
    // SAFETY: `ty` is a live type object, `def` is 'static; a NULL result sets an error.
    unsafe { Bound::from_owned_ptr_or_err(ty.py(), ffi::PyDescr_NewMethod(ty.as_type_ptr(), def)) }
}

/// Calls the checked PyO3 method `name` of `slf` with the original arguments: the path for
/// keywords, unusual argument types, contention and errors.
///
/// # Safety
/// `slf` is a live object; `args` holds `nargs` positional then `kwnames.len()` keyword
/// values (the vectorcall convention); the thread is attached.
unsafe fn call_checked(
    slf: *mut ffi::PyObject,
    name: &std::ffi::CStr,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    Python::attach(|py| {
        let result = (|| -> PyResult<Py<PyAny>> {
            // SAFETY: `slf` is a live object (this function's contract) and the thread is
            // attached; the borrowed pointer gets its own reference.
            let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
            let method = slf.getattr(name.to_str().expect("ASCII method name"))?;
            // SAFETY: called for i < nargs + len(kwnames) only, the entries `args` holds by
            // the vectorcall convention (this function's contract), each a live object.
            let arg = |i: ffi::Py_ssize_t| unsafe { Bound::from_borrowed_ptr(py, *args.offset(i)) };
            let positional = PyTuple::new(py, (0..nargs).map(arg))?;
            let kwargs = if kwnames.is_null() {
                None
            } else {
                // SAFETY: a non-null `kwnames` is the live tuple of keyword names.
                let names =
                    unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<PyTuple>()?;
                let d = PyDict::new(py);
                for (j, key) in names.iter().enumerate() {
                    d.set_item(key, arg(nargs + j as ffi::Py_ssize_t))?;
                }
                Some(d)
            };
            Ok(method.call(positional, kwargs.as_ref())?.unbind())
        })();
        match result {
            Ok(v) => v.into_ptr(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        }
    })
}

/// A new reference to `None`, the result of `update`.
fn new_none() -> *mut ffi::PyObject {
    // SAFETY: only called from entry points, with the thread attached.
    unsafe {
        ffi::Py_IncRef(ffi::Py_None());
        ffi::Py_None()
    }
}

/// Reports a panic of the core as a Python exception (never unwinds into C).
fn panic_to_error() -> *mut ffi::PyObject {
    Python::attach(|py| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "internal error in regretless (a Rust panic); please report it",
        )
        .restore(py);
    });
    std::ptr::null_mut()
}

unsafe extern "C" fn fast_select(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let nargs = nargsf & ffi::Py_ssize_t::MAX;
    if nargs != 0 || !kwnames.is_null() {
        // `eligible=` (or a wrong call): the PyO3 method parses it and words any error.
        // SAFETY: CPython passes `slf`, `args` and `kwnames` by the vectorcall convention,
        // with the thread attached (this function's contract as a METH_FASTCALL method).
        return unsafe { call_checked(slf, SLOW_SELECT, args, nargs, kwnames) };
    }
    // SAFETY: CPython calls a method descriptor's function with the thread attached.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `slf` is live for the call; the borrowed handle creates and releases no
    // reference.
    let obj = unsafe { Borrowed::from_ptr(py, slf) };
    // SAFETY: CPython checked that `slf` is a `Bandit` or a subclass before calling (the
    // descriptor's isinstance check), and a subclass's layout begins with its base's.
    let this: &Bandit = unsafe { obj.cast_unchecked::<Bandit>() }.get();
    let Ok(mut guard) = this.inner.try_lock() else {
        // Contended (or poisoned): the checked method waits with the thread detached.
        // SAFETY: `slf` is live, no arguments (null `args`, `nargs` 0, no keywords), the
        // thread attached.
        return unsafe {
            call_checked(slf, SLOW_SELECT, std::ptr::null(), 0, std::ptr::null_mut())
        };
    };
    match catch_unwind(AssertUnwindSafe(|| guard.select())) {
        Ok(arm) => {
            drop(guard);
            // SAFETY: the thread is attached; the call returns a new reference (or NULL
            // with an error set), which is what the entry point returns.
            unsafe { ffi::PyLong_FromSize_t(arm) }
        }
        Err(_) => {
            drop(guard);
            panic_to_error()
        }
    }
}

/// The arm argument if it is an exact Python int that fits an i64.
#[inline]
///
/// # Safety
/// `obj` is a live object and the thread is attached.
unsafe fn fast_arm(obj: *mut ffi::PyObject) -> Option<i64> {
    // SAFETY: by the contract, what these C API calls need: they read `obj`'s type and
    // value, and the error they may set (an int beyond i64) is cleared before returning.
    unsafe {
        if ffi::PyLong_CheckExact(obj) == 0 {
            return None;
        }
        let v = ffi::PyLong_AsLongLong(obj);
        if v == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(v)
    }
}

/// `update(arm, reward)` for arguments of any type, with PyO3's attachment bookkeeping:
/// converts them with the checked converters, waits for the lock with the thread
/// detached if needed, and raises the named error of a refused update.
///
/// # Safety
/// `slf` is a `Bandit`, `arm` and `reward` live objects; the thread is attached.
unsafe fn update_general(
    slf: *mut ffi::PyObject,
    arm: *mut ffi::PyObject,
    reward: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    use crate::errors::IntoPyResult;
    Python::attach(|py| {
        // SAFETY: `slf` is a live `Bandit` (or subclass) object (this function's contract);
        // a subclass's layout begins with its base's. Borrowed handles take no reference.
        let this = unsafe { Borrowed::from_ptr(py, slf) };
        // SAFETY: as above.
        let this: &Bandit = unsafe { this.cast_unchecked::<Bandit>() }.get();
        // SAFETY: `arm` and `reward` are live objects (this function's contract).
        let arm = unsafe { Borrowed::from_ptr(py, arm) };
        // SAFETY: as above.
        let reward = unsafe { Borrowed::from_ptr(py, reward) };
        let result = (|| -> PyResult<()> {
            let arm = crate::convert::arm_arg(&arm, "arm")?;
            let reward = crate::convert::real_arg(&reward, "reward")?;
            crate::convert::with_lock(py, &this.inner, |p| p.update(arm, reward)).py_err(py)
        })();
        match result {
            Ok(()) => new_none(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        }
    })
}

unsafe extern "C" fn fast_update(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // PY_VECTORCALL_ARGUMENTS_OFFSET, the sign bit, may be set in the count.
    let nargs = nargsf & ffi::Py_ssize_t::MAX;
    if nargs != 2 || !kwnames.is_null() {
        // Keywords or a wrong count: the PyO3 method parses them and words the error.
        // SAFETY: CPython passes a live `slf` and `args` by the vectorcall convention
        // (`nargs` positional values then one per keyword name), the thread attached.
        return unsafe { call_checked(slf, SLOW_UPDATE, args, nargs, kwnames) };
    }
    // SAFETY: `nargs` is 2, so `args` holds two live objects.
    let (arm_obj, reward_obj) = unsafe { (*args, *args.offset(1)) };
    // SAFETY: `slf` is a `Bandit` or a subclass (the descriptor's check, as in
    // `fast_select`), the arguments live, the thread attached.
    let general = || unsafe { update_general(slf, arm_obj, reward_obj) };
    // SAFETY: live objects, the thread attached (the two functions' contract).
    let (Some(arm), Some(reward)) = (unsafe { fast_arm(arm_obj) }, unsafe {
        crate::convert::plain_real(reward_obj)
    }) else {
        return general();
    };
    // SAFETY: as in `fast_select`: the thread is attached.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: as in `fast_select`: `slf` is live.
    let obj = unsafe { Borrowed::from_ptr(py, slf) };
    // SAFETY: as in `fast_select`: the descriptor checked that `slf` is a `Bandit`.
    let this: &Bandit = unsafe { obj.cast_unchecked::<Bandit>() }.get();
    let Ok(mut guard) = this.inner.try_lock() else {
        return general();
    };
    match catch_unwind(AssertUnwindSafe(|| guard.update(arm, reward))) {
        Ok(Ok(())) => {
            drop(guard);
            new_none()
        }
        // Refused before any change: the general path raises the named error.
        Ok(Err(_)) => {
            drop(guard);
            general()
        }
        Err(_) => {
            drop(guard);
            panic_to_error()
        }
    }
}
