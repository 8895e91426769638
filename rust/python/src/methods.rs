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

/// A vector a method returns as a 1-D numpy array: float64 as is; counts and indices as
/// int64 (`u64` saturating at `i64::MAX` as [`crate::convert::u64_to_i64`], `usize`, `u32`
/// and `i32` converted exactly).
pub(crate) trait ToArray1 {
    type Elem: numpy::Element;
    fn into_elems(self) -> Vec<Self::Elem>;
}

impl ToArray1 for Vec<f64> {
    type Elem = f64;
    fn into_elems(self) -> Vec<f64> {
        self
    }
}

impl ToArray1 for Vec<u64> {
    type Elem = i64;
    fn into_elems(self) -> Vec<i64> {
        crate::convert::u64_to_i64(self)
    }
}

impl ToArray1 for Vec<usize> {
    type Elem = i64;
    fn into_elems(self) -> Vec<i64> {
        self.into_iter().map(|a| a as i64).collect()
    }
}

impl ToArray1 for Vec<u32> {
    type Elem = i64;
    fn into_elems(self) -> Vec<i64> {
        self.into_iter().map(i64::from).collect()
    }
}

impl ToArray1 for Vec<i32> {
    type Elem = i64;
    fn into_elems(self) -> Vec<i64> {
        self.into_iter().map(i64::from).collect()
    }
}

/// Methods without arguments that return one vector of the state as a 1-D array, read under
/// the lock: `name: Vec<T>` calls the core's `name()`; `name: Vec<T> => |p| expr` computes
/// it (see [`ToArray1`] for the array's dtype). Doc comments before an entry become its
/// docstring.
macro_rules! lock_arrays {
    ($py_ty:ty { $($(#[doc = $doc:literal])* $name:ident: $ret:ty $(=> $f:expr)?),* $(,)? }) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(
                $(#[doc = $doc])*
                fn $name<'py>(
                    &self,
                    py: pyo3::Python<'py>,
                ) -> pyo3::Bound<'py, numpy::PyArray1<<$ret as $crate::methods::ToArray1>::Elem>>
                {
                    let v: $ret = $crate::methods::lock_getters!(@read self, py, $name $(, $f)?);
                    numpy::PyArray1::from_vec(py, $crate::methods::ToArray1::into_elems(v))
                }
            )*
        }
    };
}
pub(crate) use lock_arrays;

/// `select_batch(n)`: the core's `select_batch(usize) -> Vec<usize>` under the lock with the
/// GIL released, as int64.
macro_rules! select_batch_method {
    ($(#[doc = $doc:literal])* $py_ty:ty) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $doc])*
            fn select_batch<'py>(
                &self,
                py: pyo3::Python<'py>,
                n: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<i64>>> {
                let n = $crate::convert::batch_count_arg(n, "n")?;
                let arms = $crate::convert::with_lock_detached(py, &self.inner, |p| {
                    p.select_batch(n)
                        .into_iter()
                        .map(|a| a as i64)
                        .collect::<Vec<i64>>()
                });
                Ok(numpy::PyArray1::from_vec(py, arms))
            }
        }
    };
}
pub(crate) use select_batch_method;

/// `update_batch(arms, rewards)`: the core's `update_batch(&[i64], &[f64]) -> Result<()>`
/// under the lock with the GIL released (the core validates every row first).
macro_rules! arm_reward_update_batch {
    ($(#[doc = $doc:literal])* $py_ty:ty) => {
        #[pyo3::pymethods]
        impl $py_ty {
            $(#[doc = $doc])*
            fn update_batch(
                &self,
                py: pyo3::Python<'_>,
                arms: &pyo3::Bound<'_, pyo3::PyAny>,
                rewards: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<()> {
                use $crate::errors::IntoPyResult;
                let arms = $crate::convert::owned_int64(arms, "arms")?;
                let rewards = $crate::convert::owned_float64(rewards, "rewards")?;
                let (a, r) = (arms.as_slice()?, rewards.as_slice()?);
                $crate::convert::with_lock_detached(py, &self.inner, |p| p.update_batch(a, r))
                    .py_err(py)
            }
        }
    };
}
pub(crate) use arm_reward_update_batch;
