//! `SparseLinearBaseline`: the support-enumeration baseline for sparse misspecified linear
//! bandits.

use crate::convert::with_lock;
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use regretless_core::sparse_linear::SparseLinearBaseline;
use std::sync::Mutex;

/// A baseline for sparse misspecified linear bandits (the setting of Dong and Yang, ICML
/// 2023): ``|mu(a) - <theta, phi(a)>| <= epsilon`` with ``theta`` ``sparsity``-sparse.
///
/// **A baseline, not the paper's algorithm**: it does not reach the paper's
/// ``O(epsilon)``-optimality. For each support of size ``sparsity`` it runs phased
/// elimination with a G-optimal design (Frank-Wolfe) on those coordinates, widths
/// inflated by ``epsilon sqrt(sparsity)``; then it pulls each support's winner
/// ``O(ln(1/delta) / epsilon^2)`` times and recommends the best, which is
/// ``O(epsilon sqrt(sparsity))``-optimal with probability ``1 - delta``. Cost:
/// ``C(dim, sparsity) poly(sparsity / epsilon)`` pulls. Rewards are real, with noise of
/// variance proxy ``noise``. ``select()`` / ``update(arm, reward)`` (and batch forms)
/// until ``should_stop()``, then ``recommend()`` gives ``(arm, estimated mean)``. The
/// schedule is deterministic (no seed).
///
/// >>> import numpy as np, regretless
/// >>> features = np.eye(4)[:, :3] + 0.0   # 4 arms in dimension 3; arm 3 is all zeros
/// >>> b = regretless.SparseLinearBaseline(features, sparsity=1, epsilon=0.2)
/// >>> rng = np.random.default_rng(0)
/// >>> mu = np.array([0.1, 0.9, 0.3, 0.0])
/// >>> while not b.should_stop():
/// ...     arm = b.select()
/// ...     b.update(arm, mu[arm] + 0.1 * rng.standard_normal())
/// >>> b.recommend()[0]
/// 1
#[pyclass(frozen, name = "SparseLinearBaseline", module = "regretless")]
pub struct PySparseLinearBaseline {
    inner: Mutex<SparseLinearBaseline>,
}

crate::persist::locked_state_class!(PySparseLinearBaseline => SparseLinearBaseline, docs {
    to_bytes: [" Serialize the whole state to versioned, checksummed bytes."],
    from_bytes: [" Restore from ``to_bytes()`` output. Raises StateError on corrupt or foreign bytes."],
    reduce: [" Pickle as ``(SparseLinearBaseline.from_bytes, (bytes,))``."],
    copy: [" An independent copy."]
});

#[pymethods]
impl PySparseLinearBaseline {
    #[new]
    #[pyo3(signature = (features, *, sparsity, epsilon, delta = 0.05, noise = 1.0))]
    fn new(
        py: Python<'_>,
        features: &Bound<'_, PyAny>,
        sparsity: usize,
        epsilon: f64,
        delta: f64,
        noise: f64,
    ) -> PyResult<Self> {
        let (data, shape) = crate::convert::owned_float64_nd(features, "features")?;
        if shape.len() != 2 {
            return Err(regretless_core::Error::shape(
                "features",
                format!(
                    "expected a 2-D (n_arms, dim) array, got {} dimensions",
                    shape.len()
                ),
            ))
            .py_err(py);
        }
        let flat = data.as_slice()?;
        let b =
            SparseLinearBaseline::new(flat, shape[0], shape[1], sparsity, epsilon, delta, noise)
                .py_err(py)?;
        Ok(Self::wrap(b))
    }

    /// The next arm to pull.
    fn select(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |b| b.select())
    }

    /// Whether every support has been searched and the winners evaluated.
    fn should_stop(&self, py: Python<'_>) -> bool {
        with_lock(py, &self.inner, |b| b.should_stop())
    }

    /// ``(arm, estimated mean)`` once stopped, else None.
    fn recommend(&self, py: Python<'_>) -> Option<(usize, f64)> {
        with_lock(py, &self.inner, |b| b.recommend())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |b| {
            format!(
                "SparseLinearBaseline(n_arms={}, n_samples={})",
                b.n_arms(),
                b.n_samples()
            )
        })
    }
}

crate::methods::lock_arrays!(PySparseLinearBaseline {
    /// The winner of each support searched so far (int64).
    support_winners: Vec<usize> => |b| b.support_winners().to_vec(),
});

crate::methods::lock_getters!(PySparseLinearBaseline {
    n_arms: usize,
    /// Rewards recorded.
    n_samples: u64,
});

crate::methods::arm_reward_update!(
    /// Record the reward observed after pulling `arm`.
    PySparseLinearBaseline,
    arm
);

crate::methods::select_batch_method!(
    /// `n` pulls handed out at once (int64).
    PySparseLinearBaseline
);

crate::methods::arm_reward_update_batch!(
    /// Record many (arm, reward) pairs; every row is validated before any is recorded.
    PySparseLinearBaseline
);
