//! Change detection with restarts: CUSUMUCB and GLRUCB.

use crate::bandit::{with_policy, Bandit};
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::detect::Restart;
use regretless_core::policy::{Policy, CUSUMUCB, GLRUCB};

/// An integer argument >= 1 whose Python default is `default` (None means the default).
fn count_arg(obj: Option<&Bound<'_, PyAny>>, name: &str, default: u64) -> PyResult<u64> {
    Ok(positive_opt(obj, name)?.unwrap_or(default))
}

fn restart_arg(py: Python<'_>, restart: &str) -> PyResult<Restart> {
    Restart::parse(restart).py_err(py)
}

/// CUSUM-UCB (Liu, Lee and Shroff, AAAI 2018): UCB with change detection and restarts, for
/// piecewise-stationary rewards in [0, 1].
///
/// With probability ``alpha`` the policy plays an arm uniformly at random, otherwise the
/// argmax of ``mean_i + sqrt(xi ln n / n_i)``, where ``n_i`` and ``mean_i`` are arm i's
/// count and mean since its last restart and ``n`` is the sum of the ``n_i``. Each arm runs
/// a two-sided CUSUM test on its rewards: the mean ``u0`` of its first ``warmup`` rewards
/// (the paper's M) after a restart is the reference, then
/// ``g+ = max(0, g+ + r - u0 - epsilon)`` and ``g- = max(0, g- + u0 - r - epsilon)``; when
/// either reaches ``h`` the test fires and that arm's statistics restart
/// (``restart="local"``, the paper's rule) or every arm's (``restart="global"``).
///
/// Defaults for ``horizon=T`` and ``n_changes`` change points U (the paper's tuning):
/// ``h = ln(T / U)`` and ``alpha = sqrt(U ln(T / U) / T)``; without a horizon, ``h`` and
/// ``alpha`` are required. ``epsilon`` and ``warmup`` need prior knowledge of the problem
/// (``epsilon`` about half the smallest change to detect); the defaults 0.1 and 200 are
/// those of Besson et al.'s CUSUM runs (JMLR 2022) and suit changes of 0.2 or more in
/// Bernoulli means. On a stationary Bernoulli(0.5) arm they raise about 2 false alarms per
/// 10,000 rewards with ``h = ln(5000)``. ``counts()`` and ``means()`` are lifetime statistics;
/// ``scores()`` are the UCB indices since the restarts. O(K) per step. Not mergeable: the
/// tests run over the order of one stream.
///
/// >>> import regretless
/// >>> policy = regretless.CUSUMUCB(2, h=5.0, alpha=0.0, warmup=20, seed=0)
/// >>> policy.update_batch([0] * 20, [1.0] * 20)  # the warm-up: u0 = 1
/// >>> policy.update_batch([0] * 6, [0.0] * 6)  # g- grows by 0.9 per reward
/// >>> policy.change_points, policy.n_restarts
/// ([26], 1)
/// >>> int(policy.counts_since_restart()[0]), int(policy.counts()[0])
/// (0, 26)
#[pyclass(extends = Bandit, frozen, name = "CUSUMUCB", module = "regretless")]
pub struct PyCUSUMUCB;

#[pymethods]
impl PyCUSUMUCB {
    #[new]
    #[pyo3(signature = (
        n_arms, *, horizon = None, n_changes = None, h = None, epsilon = 0.1, warmup = None,
        alpha = None, xi = 1.0, restart = "local", seed = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        horizon: Option<&Bound<'_, PyAny>>,
        n_changes: Option<&Bound<'_, PyAny>>,
        h: Option<f64>,
        epsilon: f64,
        warmup: Option<&Bound<'_, PyAny>>,
        alpha: Option<f64>,
        xi: f64,
        restart: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        let n_changes = count_arg(n_changes, "n_changes", 1)?;
        let warmup = count_arg(warmup, "warmup", 200)?;
        let restart = restart_arg(py, restart)?;
        let policy = CUSUMUCB::new(
            n_arms,
            h,
            epsilon,
            warmup,
            alpha,
            xi,
            restart,
            horizon,
            n_changes,
            seed_arg(seed)?,
        )
        .py_err(py)?;
        Ok((Self, Bandit::new(policy)))
    }

    /// Threshold of the CUSUM statistics.
    #[getter]
    fn h(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut CUSUMUCB| p.params().h)
    }

    /// Probability of a uniformly random arm at each step.
    #[getter]
    fn alpha(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut CUSUMUCB| p.params().alpha)
    }

    /// Steps at which an alarm fired: ``s`` means the ``s``-th update (1-based) fired it.
    #[getter]
    fn change_points(slf: &Bound<'_, Self>) -> PyResult<Vec<u64>> {
        with_policy(slf, |p: &mut CUSUMUCB| p.change_points().to_vec())
    }

    /// Number of alarms (each restarted one arm, or all of them with ``restart="global"``).
    #[getter]
    fn n_restarts(slf: &Bound<'_, Self>) -> PyResult<usize> {
        with_policy(slf, |p: &mut CUSUMUCB| p.n_restarts())
    }

    /// Per arm: the number of its rewards since its last restart.
    fn counts_since_restart<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let v = with_policy(slf, |p: &mut CUSUMUCB| {
            p.detectors().iter().map(|a| a.n as i64).collect::<Vec<_>>()
        })?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// The CUSUM statistics ``(g_plus, g_minus)`` per arm (0 during an arm's warm-up).
    #[allow(clippy::type_complexity)]
    fn cusum_statistics<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
        let (g_plus, g_minus): (Vec<f64>, Vec<f64>) = with_policy(slf, |p: &mut CUSUMUCB| {
            p.detectors().iter().map(|a| (a.g_plus, a.g_minus)).unzip()
        })?;
        Ok((
            PyArray1::from_vec(py, g_plus),
            PyArray1::from_vec(py, g_minus),
        ))
    }
}

/// GLR-klUCB (Besson, Kaufmann, Maillard and Seznec, JMLR 2022): kl-UCB with a Bernoulli
/// generalized likelihood ratio change-point test and restarts, for piecewise-stationary
/// rewards in [0, 1].
///
/// Forced exploration: with ``a = min(1, alpha sqrt(1 + n_restarts))`` and period
/// ``R = floor(K / a)``, every step ``t`` (0-based) with ``t mod R = i < K`` plays arm i
/// (the authors' schedule). Otherwise the argmax of arm i's Bernoulli kl-UCB index
/// ``max{q : n_i kl(mean_i, q) <= ln(t - tau_i)}`` on its rewards since its last restart
/// ``tau_i``. After each reward, arm i's test compares
/// ``max_s [s kl(mean_{1:s}, mean_{1:n}) + (n - s) kl(mean_{s+1:n}, mean_{1:n})]`` over
/// split points ``s`` of its ``n`` rewards since the restart with the threshold
/// ``ln(n^{3/2} / delta)`` of the paper's experiments; an alarm restarts that arm
/// (``restart="local"``, the paper's recommendation for GLR-klUCB) or every arm.
///
/// Defaults for ``horizon=T``: ``delta = 1 / sqrt(T)`` and ``alpha = sqrt(K ln T / T)``
/// (the authors' tuning); without a horizon both are required. Down-sampling bounds the
/// cost: an arm is tested every ``test_every`` of its rewards, at the split points
/// ``split_every``, ``2 split_every``, ..., whose prefix sums are the only history kept
/// (a test costs O(n / split_every); 1 and 1 give the full test). Not mergeable.
///
/// >>> import regretless
/// >>> policy = regretless.GLRUCB(2, delta=0.01, alpha=0.0, test_every=1, split_every=1, seed=0)
/// >>> policy.update_batch([0] * 100, [1.0] * 100)
/// >>> policy.update_batch([0] * 10, [0.0] * 10)
/// >>> policy.change_points  # the 3rd zero after 100 ones crosses ln(n^1.5 / delta)
/// [103]
#[pyclass(extends = Bandit, frozen, name = "GLRUCB", module = "regretless")]
pub struct PyGLRUCB;

#[pymethods]
impl PyGLRUCB {
    #[new]
    #[pyo3(signature = (
        n_arms, *, horizon = None, delta = None, alpha = None, restart = "local",
        test_every = None, split_every = None, seed = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        horizon: Option<&Bound<'_, PyAny>>,
        delta: Option<f64>,
        alpha: Option<f64>,
        restart: &str,
        test_every: Option<&Bound<'_, PyAny>>,
        split_every: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        let test_every = count_arg(test_every, "test_every", 10)?;
        let split_every = count_arg(split_every, "split_every", 10)?;
        let restart = restart_arg(py, restart)?;
        let policy = GLRUCB::new(
            n_arms,
            delta,
            alpha,
            restart,
            test_every,
            split_every,
            horizon,
            seed_arg(seed)?,
        )
        .py_err(py)?;
        Ok((Self, Bandit::new(policy)))
    }

    /// Confidence level of the test (threshold ``ln(n^{3/2} / delta)``).
    #[getter]
    fn delta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut GLRUCB| p.params().delta)
    }

    /// Forced-exploration parameter before any restart.
    #[getter]
    fn alpha(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut GLRUCB| p.params().alpha)
    }

    /// Steps at which an alarm fired: ``s`` means the ``s``-th update (1-based) fired it.
    #[getter]
    fn change_points(slf: &Bound<'_, Self>) -> PyResult<Vec<u64>> {
        with_policy(slf, |p: &mut GLRUCB| p.change_points().to_vec())
    }

    /// Number of alarms.
    #[getter]
    fn n_restarts(slf: &Bound<'_, Self>) -> PyResult<usize> {
        with_policy(slf, |p: &mut GLRUCB| p.n_restarts())
    }

    /// Per arm: the number of its rewards since its last restart.
    fn counts_since_restart<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let v = with_policy(slf, |p: &mut GLRUCB| {
            p.detectors().iter().map(|a| a.n as i64).collect::<Vec<_>>()
        })?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Per arm: the GLR statistic over its split points, as its next test computes it.
    fn glr_statistics<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut GLRUCB| p.glr_statistics())?;
        Ok(PyArray1::from_vec(py, v))
    }
}
