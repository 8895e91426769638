//! The state methods every stateful class shares, written once: versioned bytes, pickle,
//! copies and merging. A class with its state in a field `inner: Mutex<State>` and an
//! inherent `fn wrap(State) -> Self` invokes [`state_methods!`] (and [`merge_method!`] where
//! the statistics add up); each invocation is a separate `#[pymethods]` block
//! (pyo3's `multiple-pymethods`), because a macro cannot be expanded inside one.

use crate::convert::{bytes_arg, with_lock};
use crate::errors::{dtype_error, IntoPyResult};
use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::True;
use pyo3::types::PyBytes;
use pyo3::PyClass;
use regretless_core::state::{encode, Persist};
use std::sync::Mutex;

/// A Python class holding one core state behind a lock.
pub(crate) trait Stateful: PyClass<Frozen = True> + Sync + Sized {
    type State: Persist + Clone + Send;
    fn state(&self) -> &Mutex<Self::State>;
    fn wrap(state: Self::State) -> Self;
    /// Decodes `to_bytes()` output (a kernel bandit also rebuilds its derived state).
    fn decode_state(bytes: &[u8]) -> regretless_core::Result<Self::State>;
}

/// A copy of the state, taken under the lock (then released).
pub(crate) fn snapshot<T: Stateful>(py: Python<'_>, obj: &T) -> T::State {
    with_lock(py, obj.state(), |s| s.clone())
}

pub(crate) fn to_bytes<'py, T: Stateful>(
    py: Python<'py>,
    obj: &T,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = with_lock(py, obj.state(), |s| encode(s)).py_err(py)?;
    Ok(PyBytes::new(py, &bytes))
}

pub(crate) fn from_bytes<T: Stateful>(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<T> {
    let bytes = bytes_arg(data, "data")?;
    // Decoding can rebuild derived state (a kernel bandit's factorizations): without the GIL.
    let state = py.detach(|| T::decode_state(&bytes)).py_err(py)?;
    Ok(T::wrap(state))
}

/// `__reduce__`: pickle as `(cls.from_bytes, (bytes,))`.
#[allow(clippy::type_complexity)]
pub(crate) fn reduce<
    'py,
    T: Stateful + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
>(
    slf: &Bound<'py, T>,
    py: Python<'py>,
) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
    let restore = slf.as_any().get_type().getattr("from_bytes")?;
    Ok((restore, (to_bytes(py, slf.get())?,)))
}

/// The state of `other` if it is an object of class `T`; a TypeError naming `other` if not.
/// The copy is taken first, so that a merge never holds two locks at once (no lock-order
/// deadlock, and `p.merge(p)` works).
pub(crate) fn other_state<
    T: Stateful + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
>(
    py: Python<'_>,
    other: &Bound<'_, PyAny>,
) -> PyResult<T::State> {
    let other = other.downcast::<T>().map_err(|_| {
        dtype_error(
            py,
            format!(
                "other: expected a {}, got {}",
                <T as pyo3::PyTypeInfo>::NAME,
                other
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ),
        )
    })?;
    Ok(snapshot(py, other.get()))
}

/// The [`Stateful`] impl of `$py_ty` holding a `$state`, and its `to_bytes`, `from_bytes`,
/// `__reduce__` (pickle), `copy`, `__copy__`, `__deepcopy__`. `decode = path` replaces
/// `regretless_core::state::decode` for states that rebuild derived data on load;
/// `docs { to_bytes: [..], from_bytes: [..], reduce: [..], copy: [..] }` replaces the
/// docstrings (one literal a line, as `///` writes them).
macro_rules! state_methods {
    ($py_ty:ty => $state:ty) => {
        $crate::persist::state_methods!($py_ty => $state, decode = regretless_core::state::decode);
    };
    ($py_ty:ty => $state:ty, decode = $decode:path) => {
        $crate::persist::state_methods!(@impl $py_ty => $state, $decode, docs {
            to_bytes: [
                " Serialize the whole state (parameters, statistics, generator) to versioned,",
                " checksummed bytes."
            ],
            from_bytes: [
                " Restore an object from ``to_bytes()`` output; it continues the same random",
                " stream. Raises StateError on corrupt, truncated or foreign bytes."
            ],
            reduce: [],
            copy: [" An independent copy (same state, same position in the random stream)."]
        });
    };
    ($py_ty:ty => $state:ty, docs $docs:tt) => {
        $crate::persist::state_methods!(
            @impl $py_ty => $state, regretless_core::state::decode, docs $docs
        );
    };
    (@impl $py_ty:ty => $state:ty, $decode:path, docs {
        to_bytes: [$($to_doc:literal),*],
        from_bytes: [$($from_doc:literal),*],
        reduce: [$($reduce_doc:literal),*],
        copy: [$($copy_doc:literal),*]
    }) => {
        impl $crate::persist::Stateful for $py_ty {
            type State = $state;
            fn state(&self) -> &std::sync::Mutex<$state> {
                &self.inner
            }
            fn wrap(state: $state) -> Self {
                Self::wrap(state)
            }
            fn decode_state(bytes: &[u8]) -> regretless_core::Result<$state> {
                $decode(bytes)
            }
        }

        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $to_doc])*
            fn to_bytes<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyBytes>> {
                $crate::persist::to_bytes(py, self)
            }

            $(#[doc = $from_doc])*
            #[classmethod]
            fn from_bytes(
                _cls: &pyo3::Bound<'_, pyo3::types::PyType>,
                py: pyo3::Python<'_>,
                data: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<Self> {
                $crate::persist::from_bytes(py, data)
            }

            $(#[doc = $reduce_doc])*
            #[allow(clippy::type_complexity)]
            fn __reduce__<'py>(
                slf: &pyo3::Bound<'py, Self>,
                py: pyo3::Python<'py>,
            ) -> pyo3::PyResult<(
                pyo3::Bound<'py, pyo3::PyAny>,
                (pyo3::Bound<'py, pyo3::types::PyBytes>,),
            )> {
                $crate::persist::reduce(slf, py)
            }

            $(#[doc = $copy_doc])*
            fn copy(&self, py: pyo3::Python<'_>) -> Self {
                <Self as $crate::persist::Stateful>::wrap($crate::persist::snapshot(py, self))
            }

            fn __copy__(&self, py: pyo3::Python<'_>) -> Self {
                self.copy(py)
            }

            fn __deepcopy__(
                &self,
                py: pyo3::Python<'_>,
                _memo: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> Self {
                self.copy(py)
            }
        }
    };
}
pub(crate) use state_methods;

/// [`state_methods!`] (same arguments after `=>`) for a class whose one field is
/// `inner: Mutex<$state>`, with its `fn wrap($state) -> Self`.
macro_rules! locked_state_class {
    ($py_ty:ty => $state:ty $(, $($rest:tt)+)?) => {
        $crate::persist::state_methods!($py_ty => $state $(, $($rest)+)?);

        impl $py_ty {
            fn wrap(state: $state) -> Self {
                Self {
                    inner: std::sync::Mutex::new(state),
                }
            }
        }
    };
}
pub(crate) use locked_state_class;

/// `merge(other)` for classes whose statistics add up; `$merge` is the core's merge,
/// `fn(&mut State, &State) -> regretless_core::Result<()>`.
macro_rules! merge_method {
    ($py_ty:ty, $merge:path, $doc:literal) => {
        #[pyo3::pymethods]
        impl $py_ty {
            #[doc = $doc]
            fn merge(
                &self,
                py: pyo3::Python<'_>,
                other: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<()> {
                use $crate::errors::IntoPyResult;
                let o = $crate::persist::other_state::<Self>(py, other)?;
                $crate::convert::with_lock(py, &self.inner, |p| $merge(p, &o)).py_err(py)
            }
        }
    };
}
pub(crate) use merge_method;

/// `fit_logs(source, **kwargs)`: warm-start from logged feedback through
/// `regretless.logs.fit_logs`.
macro_rules! fit_logs_method {
    ($py_ty:ty) => {
        #[pyo3::pymethods]
        impl $py_ty {
            /// Warm-start from logged feedback (a pyarrow Table, Parquet path, data frame,
            /// dict of arrays, ...) in one pass; see ``regretless.logs.fit_logs`` for the
            /// options (``weighting="ips"`` or ``"none"``, ``columns``, ``context``,
            /// ``batch_size``, ``max_weight``). Returns the policy.
            #[pyo3(signature = (source, **kwargs))]
            fn fit_logs<'py>(
                slf: &pyo3::Bound<'py, Self>,
                py: pyo3::Python<'py>,
                source: &pyo3::Bound<'py, pyo3::PyAny>,
                kwargs: Option<&pyo3::Bound<'py, pyo3::types::PyDict>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                use pyo3::types::PyAnyMethods;
                py.import("regretless.logs")?
                    .getattr("fit_logs")?
                    .call((slf, source), kwargs)
            }
        }
    };
}
pub(crate) use fit_logs_method;
