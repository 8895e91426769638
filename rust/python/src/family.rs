//! The state methods of the family base classes (`ContextualBandit`, `KernelBandit`,
//! `StreamBandit`), written once: each base holds its family's core registry enum behind a
//! lock, and `to_bytes` / `from_bytes` / pickle / `copy` / `merge` return an object of the
//! subclass registered for the state's kind (so `LinUCB.from_bytes(b)` is a `LinUCB`, and
//! `ContextualBandit.from_bytes(b)` is whatever class `b` holds).

use crate::convert::{bytes_arg, with_lock};
use crate::errors::{dtype_error, IntoPyResult};
use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::True;
use pyo3::types::{PyBytes, PyType};
use pyo3::PyClass;
use regretless_core::parallel::install;
use std::sync::Mutex;

/// A core registry: an enum over a family's concrete types, persisted as the concrete type.
pub(crate) trait Registry: Clone + Send + 'static {
    fn encode(&self) -> regretless_core::Result<Vec<u8>>;
    /// Decodes a state of any kind of the family.
    fn decode(bytes: &[u8]) -> regretless_core::Result<Self>;
    /// Decodes a state that must be of kind `kind`.
    fn decode_as(kind: &str, bytes: &[u8]) -> regretless_core::Result<Self>;
}

macro_rules! registry_impl {
    ($($any:ty),*) => {
        $(impl Registry for $any {
            fn encode(&self) -> regretless_core::Result<Vec<u8>> {
                <$any>::encode(self)
            }
            fn decode(bytes: &[u8]) -> regretless_core::Result<Self> {
                <$any>::decode(bytes)
            }
            fn decode_as(kind: &str, bytes: &[u8]) -> regretless_core::Result<Self> {
                <$any>::decode_as(kind, bytes)
            }
        })*
    };
}
registry_impl!(
    regretless_core::contextual::AnyContextual,
    regretless_core::kernel::AnyKernelBandit,
    regretless_core::stream::AnyStream,
    regretless_core::cascade::AnyCascade
);

/// A family's base class: the registry state behind a lock.
pub(crate) trait FamilyBase: PyClass<Frozen = True> + Sync {
    type Any: Registry;
    fn state(&self) -> &Mutex<Self::Any>;
    /// A new object of the subclass registered for the state's kind.
    fn into_object(py: Python<'_>, state: Self::Any) -> PyResult<Bound<'_, PyAny>>;
}

/// A copy of the state, taken under the lock (then released).
pub(crate) fn snapshot<B: FamilyBase>(py: Python<'_>, obj: &B) -> B::Any {
    with_lock(py, obj.state(), |s| s.clone())
}

pub(crate) fn to_bytes<'py, B: FamilyBase>(
    py: Python<'py>,
    obj: &B,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = with_lock(py, obj.state(), |s| s.encode()).py_err(py)?;
    Ok(PyBytes::new(py, &bytes))
}

/// `cls.from_bytes(data)`: on the base class, any kind of the family; on a subclass, only
/// its own kind (StateError naming the kind the bytes hold otherwise).
pub(crate) fn from_bytes<'py, B: FamilyBase>(
    cls: &Bound<'py, PyType>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let bytes = bytes_arg(data, "data")?;
    // Decoding can rebuild derived state (a kernel bandit's factorizations, parallel
    // sections): without the GIL, in the process's pool.
    let state = if cls.is(py.get_type::<B>()) {
        py.detach(|| install(|| B::Any::decode(&bytes)))
    } else {
        let kind = cls.name()?.to_string();
        py.detach(|| install(|| B::Any::decode_as(&kind, &bytes)))
    }
    .py_err(py)?;
    B::into_object(py, state)
}

/// `__reduce__`: pickle as `(type(self).from_bytes, (bytes,))`.
#[allow(clippy::type_complexity)]
pub(crate) fn reduce<'py, B: FamilyBase>(
    slf: &Bound<'py, B>,
) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
    let restore = slf.as_any().get_type().getattr("from_bytes")?;
    Ok((restore, (to_bytes(slf.py(), slf.get())?,)))
}

/// An independent copy of the same class (same state, same position in the random stream).
pub(crate) fn copy<'py, B: FamilyBase>(slf: &Bound<'py, B>) -> PyResult<Bound<'py, PyAny>> {
    B::into_object(slf.py(), snapshot(slf.py(), slf.get()))
}

/// The state of `other` if it is an object of the same class as `slf`; a TypeError naming
/// `other` if not. The copy is taken first, so that a merge never holds two locks at once
/// (no lock-order deadlock, and `p.merge(p)` works).
pub(crate) fn other_state<B: FamilyBase>(
    slf: &Bound<'_, B>,
    other: &Bound<'_, PyAny>,
) -> PyResult<B::Any> {
    let py = slf.py();
    let name = |o: &Bound<'_, PyAny>| {
        o.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    match other.downcast::<B>() {
        Ok(o) if other.get_type().is(slf.as_any().get_type()) => Ok(snapshot(py, o.get())),
        _ => Err(dtype_error(
            py,
            format!(
                "other: expected a {}, got {}",
                name(slf.as_any()),
                name(other)
            ),
        )),
    }
}

/// `to_bytes`, `from_bytes`, `__reduce__` (pickle), `copy`, `__copy__`, `__deepcopy__` of
/// the family base class `$base`.
macro_rules! base_state_methods {
    ($base:ty) => {
        #[pyo3::pymethods]
        impl $base {
            /// Serialize the whole state (parameters, statistics, generator) to versioned,
            /// checksummed bytes.
            fn to_bytes<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyBytes>> {
                $crate::family::to_bytes(py, self)
            }

            /// Restore an object from ``to_bytes()`` output; it continues the same random
            /// stream. On the base class, any class of the family; on a class, that class
            /// only. Raises StateError on corrupt, truncated or foreign bytes.
            #[classmethod]
            fn from_bytes<'py>(
                cls: &pyo3::Bound<'py, pyo3::types::PyType>,
                data: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                $crate::family::from_bytes::<Self>(cls, data)
            }

            #[allow(clippy::type_complexity)]
            fn __reduce__<'py>(
                slf: &pyo3::Bound<'py, Self>,
            ) -> pyo3::PyResult<(
                pyo3::Bound<'py, pyo3::PyAny>,
                (pyo3::Bound<'py, pyo3::types::PyBytes>,),
            )> {
                $crate::family::reduce(slf)
            }

            /// An independent copy (same state, same position in the random stream).
            fn copy<'py>(
                slf: &pyo3::Bound<'py, Self>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                $crate::family::copy(slf)
            }

            fn __copy__<'py>(
                slf: &pyo3::Bound<'py, Self>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                $crate::family::copy(slf)
            }

            fn __deepcopy__<'py>(
                slf: &pyo3::Bound<'py, Self>,
                _memo: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                $crate::family::copy(slf)
            }
        }
    };
}
pub(crate) use base_state_methods;
