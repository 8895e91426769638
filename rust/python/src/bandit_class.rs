//! One macro defines the Python class of every multi-armed policy: the shared vocabulary
//! (select/update, batch forms, arrays, arm management, bytes, pickle, copy, merge) is
//! written once here; each family file adds only its constructor and extra accessors.

/// `bandit_class!(PyUCB1 => UCB1, "UCB1"; <constructor and extra #[pymethods] items>)`
macro_rules! bandit_class {
    (
        $(#[$meta:meta])*
        $py_ty:ident => $core_ty:ty, $name:literal;
        $($extra:tt)*
    ) => {
        $(#[$meta])*
        #[pyo3::pyclass(name = $name, module = "regretless", frozen)]
        pub struct $py_ty {
            pub(crate) inner: std::sync::Mutex<$core_ty>,
        }

        impl $py_ty {
            pub(crate) fn wrap(core: $core_ty) -> Self {
                Self { inner: std::sync::Mutex::new(core) }
            }
        }

        $crate::persist::state_methods!($py_ty => $core_ty);
        $crate::persist::merge_method!(
            $py_ty,
            regretless_core::policy::Policy::merge,
            "Add the observations of another policy of the same class, arm count and\nhyperparameters: the result equals one policy that saw both streams.\n``p.merge(p)`` (or a copy of ``p``) doubles every statistic, as if each reward had\nbeen seen twice. Raises IncompatibleError, changing nothing, when the class,\narm count or a hyperparameter differs (the message names it) or when the update\ncount would exceed 2**64 - 1."
        );
        $crate::persist::fit_logs_method!($py_ty);

        impl $crate::fastcall::FastPolicy for $py_ty {
            type Core = $core_ty;
            fn state(&self) -> &std::sync::Mutex<$core_ty> {
                &self.inner
            }
        }

        #[pyo3::pymethods]
        impl $py_ty {
            $($extra)*

            /// Choose an arm for the next decision.
            fn select(&self, py: pyo3::Python<'_>) -> usize {
                use regretless_core::policy::Policy;
                $crate::convert::with_lock(py, &self.inner, |p| p.select())
            }

            /// Record the reward observed after playing `arm`.
            fn update(
                &self,
                py: pyo3::Python<'_>,
                arm: &pyo3::Bound<'_, pyo3::PyAny>,
                reward: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<()> {
                use regretless_core::policy::Policy;
                use $crate::errors::IntoPyResult;
                let arm = $crate::convert::arm_arg(arm, "arm")?;
                let reward = $crate::convert::real_arg(reward, "reward")?;
                $crate::convert::with_lock(py, &self.inner, |p| p.update(arm, reward)).py_err(py)
            }

            /// `n` decisions made with no feedback between them, as int64 array.
            fn select_batch<'py>(
                &self,
                py: pyo3::Python<'py>,
                n: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<i64>>> {
                use regretless_core::policy::Policy;
                let n = $crate::convert::count_arg(n, "n")?;
                let arms = $crate::convert::with_lock_detached(py, &self.inner, |p| {
                    p.select_batch(n).into_iter().map(|a| a as i64).collect::<Vec<i64>>()
                });
                Ok(numpy::PyArray1::from_vec(py, arms))
            }

            /// Record many (arm, reward) pairs at once. The arrays are borrowed without a
            /// copy when they are contiguous int64 and float64; other integer and real dtypes
            /// are converted once. Every row is validated before any is recorded.
            fn update_batch(
                &self,
                py: pyo3::Python<'_>,
                arms: &pyo3::Bound<'_, pyo3::PyAny>,
                rewards: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<()> {
                use numpy::PyArrayMethods;
                use regretless_core::policy::Policy;
                use $crate::errors::IntoPyResult;
                let arms = $crate::convert::int64_array(arms, "arms")?;
                let rewards = $crate::convert::float64_array(rewards, "rewards")?;
                let arms_ro = arms.readonly();
                let rewards_ro = rewards.readonly();
                let a = arms_ro.as_slice()?;
                let r = rewards_ro.as_slice()?;
                $crate::convert::with_lock_detached(py, &self.inner, |p| p.update_batch(a, r)).py_err(py)
            }

            /// Per-arm index of the decision rule (+inf for arms it must try first).
            fn scores<'py>(&self, py: pyo3::Python<'py>) -> pyo3::Bound<'py, numpy::PyArray1<f64>> {
                use regretless_core::policy::Policy;
                let v = $crate::convert::with_lock(py, &self.inner, |p| p.scores());
                numpy::PyArray1::from_vec(py, v)
            }

            /// Probability of each arm at the next `select()` (exact, except Monte Carlo
            /// with 10,000 draws for Thompson sampling). Does not consume randomness.
            fn probabilities<'py>(&self, py: pyo3::Python<'py>) -> pyo3::Bound<'py, numpy::PyArray1<f64>> {
                use regretless_core::policy::Policy;
                let v = $crate::convert::with_lock(py, &self.inner, |p| p.probabilities());
                numpy::PyArray1::from_vec(py, v)
            }

            /// Number of rewards recorded per arm (int64).
            fn counts<'py>(&self, py: pyo3::Python<'py>) -> pyo3::Bound<'py, numpy::PyArray1<i64>> {
                use regretless_core::policy::Policy;
                let v = $crate::convert::with_lock(py, &self.inner, |p| p.counts());
                numpy::PyArray1::from_vec(py, $crate::convert::u64_to_i64(v))
            }

            /// Empirical mean reward per arm (0.0 for arms never pulled).
            fn means<'py>(&self, py: pyo3::Python<'py>) -> pyo3::Bound<'py, numpy::PyArray1<f64>> {
                use regretless_core::policy::Policy;
                let v = $crate::convert::with_lock(py, &self.inner, |p| p.means());
                numpy::PyArray1::from_vec(py, v)
            }

            /// Number of arms.
            #[getter]
            fn n_arms(&self, py: pyo3::Python<'_>) -> usize {
                use regretless_core::policy::Policy;
                $crate::convert::with_lock(py, &self.inner, |p| p.n_arms())
            }

            /// Total number of rewards recorded.
            #[getter]
            fn n_updates(&self, py: pyo3::Python<'_>) -> u64 {
                use regretless_core::policy::Policy;
                $crate::convert::with_lock(py, &self.inner, |p| p.n_updates())
            }

            /// Append an arm with no observations; returns its index.
            fn add_arm(&self, py: pyo3::Python<'_>) -> usize {
                use regretless_core::policy::Policy;
                $crate::convert::with_lock(py, &self.inner, |p| p.add_arm())
            }

            /// Remove arm `arm` and its statistics; the arms after it shift down by one.
            fn remove_arm(&self, py: pyo3::Python<'_>, arm: &pyo3::Bound<'_, pyo3::PyAny>) -> pyo3::PyResult<()> {
                use regretless_core::policy::Policy;
                use $crate::errors::IntoPyResult;
                let arm = $crate::convert::arm_arg(arm, "arm")?;
                $crate::convert::with_lock(py, &self.inner, |p| p.remove_arm(arm)).py_err(py)
            }

            fn __repr__(&self, py: pyo3::Python<'_>) -> String {
                use regretless_core::policy::Policy;
                $crate::convert::with_lock(py, &self.inner, |p| {
                    format!("{}(n_arms={}, {})", $name, p.n_arms(), p.describe_params())
                })
            }
        }
    };
}
pub(crate) use bandit_class;
