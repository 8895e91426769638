//! Methods that many standalone classes (one core state in `inner: Mutex<State>`) spell the
//! same way, written once: read-only getters, `update(arm, reward)` and the `eligible=`
//! forms of `select` and `scores`. Each invocation is a separate `#[pymethods]` block
//! (pyo3's `multiple-pymethods`); docstrings are passed in as `///` lines before the class.

/// Getters that read one value of the state under the lock: `name: Type` calls the core's
/// `name()`; `name: Type => |p| expr` computes it. Doc comments before an entry become its
/// docstring.
///
/// ```ignore
/// lock_getters!(PyX {
///     n_arms: usize,
///     /// Rewards learned.
///     n_updates: u64,
///     rho_bar: f64 => |p| p.bounds().rho_bar,
/// });
/// ```
macro_rules! lock_getters {
    (@read $slf:ident, $py:ident, $name:ident) => {
        $crate::convert::with_lock($py, &$slf.inner, |p| p.$name())
    };
    (@read $slf:ident, $py:ident, $name:ident, $f:expr) => {
        $crate::convert::with_lock($py, &$slf.inner, $f)
    };
    ($py_ty:ty { $($(#[doc = $doc:literal])* $name:ident: $ret:ty $(=> $f:expr)?),* $(,)? }) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(
                $(#[doc = $doc])*
                #[getter]
                fn $name(&self, py: pyo3::Python<'_>) -> $ret {
                    $crate::methods::lock_getters!(@read self, py, $name $(, $f)?)
                }
            )*
        }
    };
}
pub(crate) use lock_getters;

/// `update($arm, reward)`: one (arm, real reward) pair, validated here (ArmError / DTypeError
/// naming `$arm`, RewardError / DTypeError naming `reward`) and recorded by the core's
/// `update(i64, f64) -> Result<()>`.
macro_rules! arm_reward_update {
    ($(#[doc = $doc:literal])* $py_ty:ty, $arm:ident) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $doc])*
            fn update(
                &self,
                py: pyo3::Python<'_>,
                $arm: &pyo3::Bound<'_, pyo3::PyAny>,
                reward: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<()> {
                use $crate::errors::IntoPyResult;
                let $arm = $crate::convert::arm_arg($arm, stringify!($arm))?;
                let reward = $crate::convert::real_arg(reward, "reward")?;
                $crate::convert::with_lock(py, &self.inner, |p| p.update($arm, reward)).py_err(py)
            }
        }
    };
}
pub(crate) use arm_reward_update;

/// `select(*, eligible=None) -> int` of a one-arm-per-round policy: the core's `select()`,
/// or `select_eligible(&Eligible) -> Result<usize>` when a set is given. `$n_arms` names
/// the core method giving the mask's length (`n_arms`, `n_actions`).
macro_rules! eligible_select {
    ($(#[doc = $doc:literal])* $py_ty:ty, $n_arms:ident) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $doc])*
            #[pyo3(signature = (*, eligible = None))]
            fn select(
                &self,
                py: pyo3::Python<'_>,
                eligible: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<usize> {
                use $crate::errors::IntoPyResult;
                let n = || $crate::convert::with_lock(py, &self.inner, |p| p.$n_arms());
                match $crate::eligible::eligible_arg(eligible, n)? {
                    None => Ok($crate::convert::with_lock(py, &self.inner, |p| p.select())),
                    Some(e) => $crate::convert::with_lock(py, &self.inner, |p| {
                        p.select_eligible(&e)
                    })
                    .py_err(py),
                }
            }
        }
    };
}
pub(crate) use eligible_select;

/// `scores(*, eligible=None)`: the core's `scores()` (float64, one per arm), -inf outside
/// `eligible` when given.
macro_rules! eligible_scores {
    ($(#[doc = $doc:literal])* $py_ty:ty, $n_arms:ident) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $doc])*
            #[pyo3(signature = (*, eligible = None))]
            fn scores<'py>(
                &self,
                py: pyo3::Python<'py>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<f64>>> {
                let n = || $crate::convert::with_lock(py, &self.inner, |p| p.$n_arms());
                let e = $crate::eligible::eligible_arg(eligible, n)?;
                let mut v = $crate::convert::with_lock(py, &self.inner, |p| p.scores());
                if let Some(e) = e {
                    e.mask_scores(&mut v);
                }
                Ok(numpy::PyArray1::from_vec(py, v))
            }
        }
    };
}
pub(crate) use eligible_scores;
