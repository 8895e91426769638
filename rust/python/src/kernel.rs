//! Glue for the kernel bandits: the base class ``regretless.KernelBandit`` over the core
//! registry [`AnyKernelBandit`] with the shared methods written once, and the short
//! subclasses `GPUCB` and `BKB` with their constructors and own statistics.

use crate::convert::{
    arm_arg, count_arg, owned_float64_matrix, owned_float64_nd, real_arg, seed_arg, Owned,
};
use crate::convert::{with_lock, with_lock_detached};
use crate::errors::{dtype_error, shape_error, IntoPyResult};
use crate::family::{base_state_methods, FamilyBase};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyString;
use regretless_core::kernel::{AnyKernelBandit, Kernel, BKB, GPUCB};
use regretless_core::parallel::install;
use std::sync::Mutex;

/// A kernel from a name (`"rbf"`, `"matern12"`, `"matern32"`, `"matern52"`, `"linear"`,
/// `"polynomial"`, unit lengthscale and variance) or a spec object of
/// `regretless.kernel` (anything with `_spec() -> (name, lengthscale, variance, degree,
/// offset)`).
fn kernel_arg(obj: &Bound<'_, PyAny>) -> PyResult<Kernel> {
    let py = obj.py();
    if let Ok(s) = obj.downcast::<PyString>() {
        return Kernel::from_spec(&s.to_cow()?, 1.0, 1.0, 2.0, 1.0).py_err(py);
    }
    if !obj.hasattr("_spec")? {
        return Err(dtype_error(
            py,
            format!(
                "kernel: expected a kernel name or a regretless.kernel spec such as RBF(0.2), got {}",
                obj.repr().map(|r| r.to_string()).unwrap_or_default()
            ),
        ));
    }
    let spec = obj.call_method0("_spec")?;
    let (name, l, s2, deg, off): (String, f64, f64, f64, f64) = spec.extract()?;
    Kernel::from_spec(&name, l, s2, deg, off).py_err(py)
}

/// The `(A, d)` candidate matrix, as a private copy (converted once if not float64).
fn candidates_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Owned<f64>, usize)> {
    let (arr, shape) = owned_float64_nd(obj, "candidates")?;
    if shape.len() != 2 || shape[0] == 0 || shape[1] == 0 {
        return Err(shape_error(
            obj.py(),
            format!("candidates: expected a non-empty 2-D (A, d) array, got shape {shape:?}"),
        ));
    }
    Ok((arr, shape[1]))
}

type Posterior<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// The base class of the kernel bandits (GPUCB, BKB), which choose among the rows of a
/// candidate matrix: ``isinstance(p, KernelBandit)`` holds for each of them. It has no
/// constructor; ``KernelBandit.from_bytes`` restores any of them.
///
/// ``eligible=`` (a boolean mask over the candidates or candidate indices) restricts a
/// decision, or a batch of distinct candidates, to those candidates:
///
/// >>> import numpy as np, regretless
/// >>> gp = regretless.GPUCB(np.linspace(0, 1, 5)[:, None], "rbf", seed=0)
/// >>> int(gp.select(eligible=[3]))
/// 3
/// >>> sorted(gp.select_batch(2, eligible=[0, 4]).tolist())
/// [0, 4]
#[pyclass(name = "KernelBandit", module = "regretless", subclass, frozen)]
pub struct PyKernelBandit {
    inner: Mutex<AnyKernelBandit>,
    dim: usize,
}

impl PyKernelBandit {
    fn wrap(core: impl Into<AnyKernelBandit>) -> Self {
        let core = core.into();
        let dim = core.dim();
        Self {
            inner: Mutex::new(core),
            dim,
        }
    }
}

impl FamilyBase for PyKernelBandit {
    type Any = AnyKernelBandit;
    fn state(&self) -> &Mutex<AnyKernelBandit> {
        &self.inner
    }
    fn into_object(py: Python<'_>, state: AnyKernelBandit) -> PyResult<Bound<'_, PyAny>> {
        type Make = for<'py> fn(
            Python<'py>,
            PyClassInitializer<PyKernelBandit>,
        ) -> PyResult<Bound<'py, PyAny>>;
        let make: Make = match &state {
            AnyKernelBandit::GPUCB(_) => {
                |py, init| Ok(Bound::new(py, init.add_subclass(PyGPUCB))?.into_any())
            }
            AnyKernelBandit::BKB(_) => {
                |py, init| Ok(Bound::new(py, init.add_subclass(PyBKB))?.into_any())
            }
        };
        make(py, PyClassInitializer::from(Self::wrap(state)))
    }
}

base_state_methods!(PyKernelBandit);

#[pymethods]
impl PyKernelBandit {
    /// The candidate to evaluate next (the UCB argmax, ties broken at random); with
    /// ``eligible`` (a boolean mask over the candidates or distinct candidate indices),
    /// the argmax over those candidates only.
    #[pyo3(signature = (*, eligible = None))]
    fn select(&self, py: Python<'_>, eligible: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        match crate::eligible::eligible_arg(eligible, || self.n_candidates(py))? {
            None => Ok(with_lock_detached(py, &self.inner, |p| {
                install(|| p.select())
            })),
            Some(e) => with_lock_detached(py, &self.inner, |p| p.select_eligible(&e)).py_err(py),
        }
    }

    /// Record ``reward`` observed at candidate ``index``.
    fn update(
        &self,
        py: Python<'_>,
        index: &Bound<'_, PyAny>,
        reward: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let index = arm_arg(index, "index")?;
        let reward = real_arg(reward, "reward")?;
        with_lock_detached(py, &self.inner, |p| install(|| p.update(index, reward))).py_err(py)
    }

    /// ``b`` distinct candidates for parallel evaluation (int64), chosen one by one
    /// with the posterior variance updated as if each had been observed; with
    /// ``eligible``, among those candidates only (``b`` at most their number).
    #[pyo3(signature = (b, *, eligible = None))]
    fn select_batch<'py>(
        &self,
        py: Python<'py>,
        b: &Bound<'py, PyAny>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let b = count_arg(b, "b")?;
        let e = crate::eligible::eligible_arg(eligible, || self.n_candidates(py))?;
        let v = with_lock_detached(py, &self.inner, |p| {
            install(|| match &e {
                None => p.select_batch(b),
                Some(e) => p.select_batch_eligible(b, e),
            })
        })
        .py_err(py)?;
        Ok(PyArray1::from_vec(
            py,
            v.into_iter().map(|i| i as i64).collect(),
        ))
    }

    /// Posterior ``(mean, variance)`` at the rows of ``X`` (n, d), or at every
    /// candidate when ``X`` is None.
    #[pyo3(signature = (X = None))]
    #[allow(non_snake_case)]
    fn posterior<'py>(
        &self,
        py: Python<'py>,
        X: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Posterior<'py>> {
        let (m, v) = match X.filter(|x| !x.is_none()) {
            None => with_lock(py, &self.inner, |p| {
                (p.mean().to_vec(), p.variance().to_vec())
            }),
            Some(x) => {
                let arr = owned_float64_matrix(x, "X", self.dim)?;
                let r = arr.readonly();
                let xs = r.as_slice()?;
                with_lock_detached(py, &self.inner, |p| install(|| p.posterior(xs))).py_err(py)?
            }
        };
        Ok((PyArray1::from_vec(py, m), PyArray1::from_vec(py, v)))
    }

    /// The UCB score of every candidate; with ``eligible``, -inf for the others.
    #[pyo3(signature = (*, eligible = None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        eligible: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = match crate::eligible::eligible_arg(eligible, || self.n_candidates(py))? {
            None => with_lock(py, &self.inner, |p| p.scores()),
            Some(e) => with_lock(py, &self.inner, |p| p.scores_eligible(&e)).py_err(py)?,
        };
        Ok(PyArray1::from_vec(py, v))
    }

    /// The candidate matrix (A, d) (a copy).
    fn candidates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let (v, a) = with_lock(py, &self.inner, |p| {
            (p.candidates().to_vec(), p.n_candidates())
        });
        PyArray1::from_vec(py, v).reshape([a, self.dim])
    }

    /// Number of candidates A.
    #[getter]
    fn n_candidates(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.n_candidates())
    }

    /// Number of features d.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// Number of observations learned (``update`` calls that succeeded).
    #[getter]
    fn n_updates(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.t())
    }

    /// Alias of ``n_updates``, kept for compatibility.
    #[getter]
    fn t(&self, py: Python<'_>) -> u64 {
        with_lock(py, &self.inner, |p| p.t())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!(
                "{}(n_candidates={}, dim={}, {})",
                p.kind(),
                p.n_candidates(),
                p.dim(),
                p.describe_params()
            )
        })
    }
}

/// `f` on the GPUCB inside a `GPUCB` object (a GPUCB object only ever holds one).
fn with_gpucb<R: Send>(slf: &Bound<'_, PyGPUCB>, f: impl FnOnce(&GPUCB) -> R + Send) -> R {
    with_lock(slf.py(), &slf.as_super().get().inner, |p| match p {
        AnyKernelBandit::GPUCB(g) => f(g),
        other => unreachable!("a GPUCB object holds a {}", other.kind()),
    })
}

/// `f` on the BKB inside a `BKB` object (a BKB object only ever holds one).
fn with_bkb<R: Send>(slf: &Bound<'_, PyBKB>, f: impl FnOnce(&BKB) -> R + Send) -> R {
    with_lock(slf.py(), &slf.as_super().get().inner, |p| match p {
        AnyKernelBandit::BKB(b) => f(b),
        other => unreachable!("a BKB object holds a {}", other.kind()),
    })
}

/// Exact GP-UCB (Srinivas et al. 2010) over a finite candidate set: the Gaussian-process
/// posterior of every candidate is updated incrementally, O(A t) per observation with no
/// refactorization (memory O(A T)); the next point maximizes
/// ``mean + sqrt(beta_t) * sd`` with ``beta_t = beta_scale * 2 log(A t^2 pi^2 / (6 delta))``.
/// ``noise`` is the noise *variance*. ``candidates`` is an (A, d) array, copied once (converted if not
/// float64) and stored with the state.
/// ``kernel`` is a name (``"rbf"``, ...) or a spec of :mod:`regretless.kernel`. Repeated
/// evaluations of one candidate are separate observations.
///
/// Limits that keep the posterior finite (so a checkpoint always loads): kernel
/// ``lengthscale`` and ``variance`` in [1e-100, 1e100], ``k(x, x) <= 1e100`` on every
/// candidate, ``noise`` in [1e-30, 1e100] and rewards ``|r| <= 1e100``; beyond them
/// ``InvalidParameterError`` / ``RewardError``, with nothing changed.
/// An observation's variance is floored at ``1e-10 * max k(x, x)`` (a jitter, inactive for
/// any larger ``noise``); an update that would still overflow raises ``RewardError``, with
/// nothing changed. ``from_bytes`` rebuilds the posterior from the recorded history (at the
/// cost of the updates that made it), so bytes cannot hold a posterior foreign to it.
///
/// >>> import numpy as np, regretless
/// >>> X = np.linspace(0, 1, 101)[:, None]
/// >>> f = lambda x: -(x - 0.3) ** 2
/// >>> gp = regretless.GPUCB(X, regretless.RBF(0.2), noise=1e-4, beta_scale=0.2, seed=0)
/// >>> for _ in range(15):
/// ...     i = gp.select()
/// ...     gp.update(i, f(X[i, 0]))
/// >>> mean, var = gp.posterior()
/// >>> round(float(X[np.argmax(mean), 0]), 2)
/// 0.3
#[pyclass(extends = PyKernelBandit, frozen, name = "GPUCB", module = "regretless")]
pub struct PyGPUCB;

#[pymethods]
impl PyGPUCB {
    #[new]
    #[pyo3(signature = (candidates, kernel, *, noise = 0.01, beta_scale = 1.0, delta = 0.1, seed = None))]
    fn new(
        py: Python<'_>,
        candidates: &Bound<'_, PyAny>,
        kernel: &Bound<'_, PyAny>,
        noise: f64,
        beta_scale: f64,
        delta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyKernelBandit)> {
        let kernel = kernel_arg(kernel)?;
        let seed = seed_arg(seed)?;
        let (arr, d) = candidates_arg(candidates)?;
        let r = arr.readonly();
        let x = r.as_slice()?;
        let core = py
            .detach(|| install(|| GPUCB::new(x, d, kernel, noise, beta_scale, delta, seed)))
            .py_err(py)?;
        Ok((Self, PyKernelBandit::wrap(core)))
    }

    /// The confidence multiplier ``beta_t`` of the next step (``beta_scale`` included).
    #[getter]
    fn beta(slf: &Bound<'_, Self>) -> f64 {
        with_gpucb(slf, |p| p.beta())
    }

    /// The observed candidate indices in order (int64).
    fn history<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> Posterior2<'py> {
        let (i, y) = with_gpucb(slf, |p| {
            (
                p.pulls().iter().map(|&v| v as i64).collect::<Vec<_>>(),
                p.rewards().to_vec(),
            )
        });
        (PyArray1::from_vec(py, i), PyArray1::from_vec(py, y))
    }

    /// Number of pulls per candidate (int64), as for ``BKB``.
    fn counts<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v = with_gpucb(slf, |p| {
            let mut c = vec![0i64; p.n_candidates()];
            for &i in p.pulls() {
                if let Some(ci) = c.get_mut(i as usize) {
                    *ci += 1;
                }
            }
            c
        });
        PyArray1::from_vec(py, v)
    }
}

type Posterior2<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

/// BKB, the budgeted kernelized bandit (Calandriello, Carratino, Lazaric, Valko and Rosasco,
/// COLT 2019): GP-UCB on a Nystrom embedding whose dictionary is resampled from the pulled
/// candidates at every step, each kept with probability ``min(1, qbar n_i sigma_i^2)``, so
/// the cost per step follows the dictionary size (about the effective dimension), not t:
/// O(A m^2) time and O(A m) memory. ``lam`` regularizes the posterior (it plays the noise
/// variance there); the posterior ``variance`` has the reference's 1/lam scaling
/// (``lam * variance`` is the GP variance). The width is GP-UCB's
/// ``sqrt(beta_scale * 2 log(A t^2 pi^2 / (6 delta)))`` times the GP standard deviation,
/// the width of :class:`GPUCB` (same default ``beta_scale = 1``); with ``beta_scale=None``
/// it is the reference code's
/// ``beta = sqrt(lam) fnorm + sqrt(noise_variance (sum_i n_i sigma_i^2 log t + log 1/delta))``,
/// where ``noise_variance`` (default: ``lam``) is kept apart from ``lam`` as in the
/// authors' code, so raising ``lam`` to shrink the dictionary does not also widen the
/// bound. Why the default is not the reference width: on the kernel bench
/// (benches/kernel_scaling.py, A = 1000, RBF lengthscales 0.2 and 0.5, noise sd 0.1) the
/// reference width's ``sum_i n_i sigma_i^2 log t`` term made BKB's regret 80-110x exact
/// GP-UCB's at T = 5000 (benches/results/kernel-scaling-2026-11-23*.txt), while with the
/// shared width it stays within 1.5x of GPUCB's at T = 2000, both with their defaults
/// (tests/test_kernel.py, slow). Pulls of one candidate
/// aggregate. ``seed`` drives the dictionary sampling and ties. The default ``qbar = 4``
/// follows the reference docstring's "2-10 seems to work" (the paper's accuracy guarantee
/// needs ``qbar`` of order ``log(T) / eps^2``, far above 1). With ``qbar = 1`` a pulled arm
/// whose variance is accurate has ``n_i sigma_i^2 < 1`` (an exact GP variance after n_i
/// observations is below ``lam / n_i``), so a random share of the pulled arms leaves the
/// dictionary at every step; such an arm's variance then
/// includes its Nystrom residual divided by ``lam`` (a residual of 0.01 next to a kept
/// neighbour already gives ``sigma^2 = 1`` at ``lam = 0.01``), up to 200 times its exact
/// GP variance, and it is pulled again: on benches/kernel_scaling.py 38% of the pulls went
/// to such arms and the regret was 7-10x exact GP-UCB's with the shared width. With
/// ``qbar = 4`` no pulled arm left the dictionary there and the regret matched GP-UCB's.
/// Limits as for :class:`GPUCB`: kernel scales in [1e-100, 1e100], ``k(x, x) <= 1e100``,
/// ``lam`` in [1e-30, 1e100], rewards ``|r| <= 1e100``.
///
/// >>> import numpy as np, regretless
/// >>> X = np.linspace(0, 1, 101)[:, None]
/// >>> f = lambda x: -(x - 0.3) ** 2
/// >>> bkb = regretless.BKB(X, regretless.RBF(0.2), lam=1e-3, qbar=2.0, beta_scale=0.2, seed=0)
/// >>> for _ in range(30):
/// ...     i = bkb.select()
/// ...     bkb.update(i, f(X[i, 0]))
/// >>> mean, var = bkb.posterior()
/// >>> round(float(X[np.argmax(mean), 0]), 1)
/// 0.3
/// >>> bkb.dictionary_size <= 30
/// True
#[pyclass(extends = PyKernelBandit, frozen, name = "BKB", module = "regretless")]
pub struct PyBKB;

#[pymethods]
impl PyBKB {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (candidates, kernel, *, lam = 0.01, qbar = 4.0, fnorm = 1.0, delta = 0.5, beta_scale = Some(1.0), noise_variance = None, seed = None))]
    fn new(
        py: Python<'_>,
        candidates: &Bound<'_, PyAny>,
        kernel: &Bound<'_, PyAny>,
        lam: f64,
        qbar: f64,
        fnorm: f64,
        delta: f64,
        beta_scale: Option<f64>,
        noise_variance: Option<f64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyKernelBandit)> {
        let kernel = kernel_arg(kernel)?;
        let seed = seed_arg(seed)?;
        let (arr, d) = candidates_arg(candidates)?;
        let r = arr.readonly();
        let x = r.as_slice()?;
        let core = py
            .detach(|| {
                install(|| {
                    BKB::new(x, d, kernel, lam, qbar, fnorm, delta, beta_scale, seed)?
                        .with_noise_variance(noise_variance)
                })
            })
            .py_err(py)?;
        Ok((Self, PyKernelBandit::wrap(core)))
    }

    /// Number of dictionary points the embedding uses (its dimension m).
    #[getter]
    fn dictionary_size(slf: &Bound<'_, Self>) -> usize {
        with_bkb(slf, |p| p.dictionary_size())
    }

    /// Candidate indices of the dictionary, sorted (int64).
    #[getter]
    fn dictionary_indices<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> Bound<'py, PyArray1<i64>> {
        let v = with_bkb(slf, |p| p.dictionary_indices());
        PyArray1::from_vec(py, v.into_iter().map(|i| i as i64).collect())
    }

    /// The reference's estimate of the effective dimension, ``sum_i n_i sigma_i^2``.
    #[getter]
    fn effective_dimension(slf: &Bound<'_, Self>) -> f64 {
        with_bkb(slf, |p| p.effective_dimension())
    }

    /// The reference's width multiplier ``beta`` (used when ``beta_scale`` is None).
    #[getter]
    fn beta(slf: &Bound<'_, Self>) -> f64 {
        with_bkb(slf, |p| p.beta())
    }

    /// The noise variance of the reference width (``lam`` unless given).
    #[getter]
    fn noise_variance(slf: &Bound<'_, Self>) -> f64 {
        with_bkb(slf, |p| p.noise_variance())
    }

    /// Number of pulls per candidate (int64).
    fn counts<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v = with_bkb(slf, |p| p.counts().to_vec());
        PyArray1::from_vec(py, crate::convert::u64_to_i64(v))
    }
}
