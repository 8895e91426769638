//! Best-arm identification: the base class `BestArmIdentifier` (shared vocabulary) and one
//! short subclass per rule (`SuccessiveHalving`, `LUCB`, `TrackAndStop`).

use crate::convert::{bytes_arg, seed_arg, with_lock};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple, PyType};
use pyo3::{PyClass, PyClassInitializer};
use regretless_core::identify::{self, BestArmIdentifier, Recommendation, Rule};
use std::sync::Mutex;

/// The base class of the best-arm identification rules: ``select()`` / ``update(arm,
/// reward)`` (and their batch forms) until ``should_stop()``, then ``recommend()``.
/// Rewards in [0, 1]. ``BestArmIdentifier.from_bytes`` restores whichever rule the bytes
/// hold.
///
/// >>> import regretless
/// >>> finder = regretless.LUCB(3, delta=0.05, seed=0)
/// >>> isinstance(finder, regretless.BestArmIdentifier)
/// True
/// >>> regretless.BestArmIdentifier.from_bytes(finder.to_bytes())
/// LUCB(n_arms=3, delta=0.05)
#[pyclass(subclass, frozen, name = "BestArmIdentifier", module = "regretless")]
pub struct PyBestArmIdentifier {
    inner: Mutex<BestArmIdentifier>,
}

/// The verdict of a best-arm identification: the arm, the confidence that it is the best
/// (one minus the smallest ``delta`` at which the rule's stopping test passes on the data
/// so far) and per-arm means and confidence intervals at the rule's level.
///
/// >>> import regretless
/// >>> finder = regretless.LUCB(2, seed=0)
/// >>> finder.update_batch([0, 1] * 200, [1.0, 0.0] * 200)
/// >>> r = finder.recommend()
/// >>> r.arm, r.confidence > 0.99, bool(r.lower[0] > r.upper[1])
/// (0, True, True)
#[pyclass(frozen, name = "Recommendation", module = "regretless")]
pub struct PyRecommendation {
    value: Recommendation,
}

#[pymethods]
impl PyRecommendation {
    /// The recommended arm.
    #[getter]
    fn arm(&self) -> usize {
        self.value.arm
    }
    /// Confidence in [0, 1] that ``arm`` is the best.
    #[getter]
    fn confidence(&self) -> f64 {
        self.value.confidence
    }
    /// Empirical mean reward per arm.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.value.means.clone())
    }
    /// Lower confidence bound per arm.
    #[getter]
    fn lower<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.value.lower.clone())
    }
    /// Upper confidence bound per arm.
    #[getter]
    fn upper<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.value.upper.clone())
    }
    fn __repr__(&self) -> String {
        format!(
            "Recommendation(arm={}, confidence={:.4})",
            self.value.arm, self.value.confidence
        )
    }
}

fn subclass_object<S: PyClass<BaseType = PyBestArmIdentifier>>(
    py: Python<'_>,
    subclass: S,
    id: BestArmIdentifier,
) -> PyResult<Bound<'_, PyAny>> {
    let base = PyBestArmIdentifier {
        inner: Mutex::new(id),
    };
    let init = PyClassInitializer::from(base).add_subclass(subclass);
    Ok(Bound::new(py, init)?.into_any())
}

/// A Python object of the rule's own class.
fn new_object(py: Python<'_>, id: BestArmIdentifier) -> PyResult<Bound<'_, PyAny>> {
    match id.rule() {
        Rule::SuccessiveHalving { .. } => subclass_object(py, PySuccessiveHalving, id),
        Rule::LUCB { .. } => subclass_object(py, PyLUCB, id),
        Rule::TrackAndStop { .. } => subclass_object(py, PyTrackAndStop, id),
    }
}

fn base(id: BestArmIdentifier) -> PyBestArmIdentifier {
    PyBestArmIdentifier {
        inner: Mutex::new(id),
    }
}

#[pymethods]
impl PyBestArmIdentifier {
    /// The next arm to pull.
    fn select(&self, py: Python<'_>) -> usize {
        with_lock(py, &self.inner, |p| p.select())
    }

    /// Whether the rule has reached its verdict (successive halving: one survivor left;
    /// LUCB and track-and-stop: their stopping test at confidence ``1 - delta``).
    fn should_stop(&self, py: Python<'_>) -> bool {
        with_lock(py, &self.inner, |p| p.should_stop())
    }

    /// The current verdict (see :class:`Recommendation`); valid at any time, final once
    /// ``should_stop()``.
    fn recommend(&self, py: Python<'_>) -> PyRecommendation {
        PyRecommendation {
            value: with_lock(py, &self.inner, |p| p.recommend()),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.get_type().name()?.to_string();
        Ok(with_lock(slf.py(), &slf.get().inner, |p| {
            let params = match p.rule() {
                Rule::SuccessiveHalving { budget, delta } => {
                    format!("budget={budget}, delta={delta}")
                }
                Rule::LUCB { delta } | Rule::TrackAndStop { delta } => format!("delta={delta}"),
            };
            format!("{}(n_arms={}, {})", name, p.n_arms(), params)
        }))
    }

    /// Serialize the whole state to versioned, checksummed bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = with_lock(py, &self.inner, |p| regretless_core::state::encode(p)).py_err(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Restore an object from ``to_bytes()`` output (of the rule's own class). Raises
    /// StateError on corrupt, truncated or foreign bytes.
    #[classmethod]
    fn from_bytes<'py>(
        cls: &Bound<'py, PyType>,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = bytes_arg(data, "data")?;
        let id = py.detach(|| identify::decode(&bytes)).py_err(py)?;
        let obj = new_object(py, id)?;
        if !obj.is_instance(cls)? {
            let message = format!(
                "the bytes hold a {}, not a {}",
                obj.get_type().name()?,
                cls.name()?
            );
            return Err(regretless_core::Error::state(message)).py_err(py);
        }
        Ok(obj)
    }

    /// Pickle as ``(cls.from_bytes, (bytes,))``.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let restore = slf.as_any().get_type().getattr("from_bytes")?;
        Ok((restore, (slf.get().to_bytes(py)?,)))
    }

    /// An independent copy (same state, same position in the random stream).
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let id = with_lock(py, &self.inner, |p| p.clone());
        new_object(py, id)
    }

    fn __copy__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.copy(py)
    }

    fn __deepcopy__<'py>(
        &self,
        py: Python<'py>,
        _memo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.copy(py)
    }
}

crate::methods::lock_arrays!(PyBestArmIdentifier {
    /// Empirical mean reward per arm (0.0 for arms never pulled).
    means: Vec<f64>,
    /// Rewards recorded per arm (int64).
    counts: Vec<u64>,
});

crate::methods::lock_getters!(PyBestArmIdentifier {
    /// Number of arms.
    n_arms: usize,
    /// Total number of rewards recorded.
    n_samples: u64,
});

crate::methods::arm_reward_update!(
    /// Record the reward (in [0, 1]) observed after pulling `arm`.
    PyBestArmIdentifier,
    arm
);

crate::methods::select_batch_method!(
    /// `n` pulls handed out with no feedback between them, as int64 array (the schedule
    /// counts them as made, so answering them with ``update_batch`` follows the rule).
    PyBestArmIdentifier
);

crate::methods::arm_reward_update_batch!(
    /// Record many (arm, reward) pairs; every row is validated before any is recorded.
    PyBestArmIdentifier
);

/// Successive halving (Karnin, Koren and Somekh 2013) for a fixed budget of pulls.
///
/// ``ceil(log2 K)`` rounds; each pulls every surviving arm ``floor(budget / (|S|
/// ceil(log2 K)))`` times and keeps the better half by empirical mean, so the last
/// survivor is found within the budget. The error probability decays like
/// ``exp(-budget / (8 H2 log2 K))`` with ``H2 = max_i i / Delta_i^2``. ``delta`` only
/// sets the level of the intervals that ``recommend`` reports.
///
/// >>> import regretless
/// >>> finder = regretless.SuccessiveHalving(4, budget=400, seed=0)
/// >>> means = [0.9, 0.1, 0.2, 0.3]
/// >>> while not finder.should_stop():
/// ...     arm = finder.select()
/// ...     finder.update(arm, means[arm])
/// >>> finder.recommend().arm, finder.counts().tolist()
/// (0, [150, 50, 50, 150])
#[pyclass(extends = PyBestArmIdentifier, frozen, name = "SuccessiveHalving", module = "regretless")]
pub struct PySuccessiveHalving;

#[pymethods]
impl PySuccessiveHalving {
    #[new]
    #[pyo3(signature = (n_arms, *, budget, delta = 0.05, seed = None))]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        budget: u64,
        delta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyBestArmIdentifier)> {
        let rule = Rule::SuccessiveHalving { budget, delta };
        let id = BestArmIdentifier::new(n_arms, rule, seed_arg(seed)?).py_err(py)?;
        Ok((Self, base(id)))
    }

    /// Arms still in the race (int64).
    fn survivors<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyArray1<i64>> {
        let base: &PyBestArmIdentifier = slf.as_super().get();
        let v = with_lock(slf.py(), &base.inner, |p| p.survivors());
        PyArray1::from_vec(slf.py(), v.into_iter().map(|i| i as i64).collect())
    }
}

/// LUCB (Kalyanakrishnan, Tewari, Auer and Stone 2012) at fixed confidence ``1 - delta``.
///
/// Each round pulls the empirical best arm ``h`` and the challenger ``l`` with the highest
/// upper confidence bound among the others; stops when ``LCB_h > UCB_l``, with Hoeffding
/// bounds at ``beta(t, delta) = ln(5 K t^4 / (4 delta))``. The answer is wrong with
/// probability at most ``delta``, after ``O(H ln(H / delta))`` samples, ``H = sum_i
/// 1 / Delta_i^2``.
///
/// >>> import regretless
/// >>> finder = regretless.LUCB(3, delta=0.05, seed=0)
/// >>> report = regretless.identify.identification_report(finder, [0.7, 0.4, 0.3], n_runs=50, seed=1)
/// >>> float(report.prob_best[0])
/// 1.0
#[pyclass(extends = PyBestArmIdentifier, frozen, name = "LUCB", module = "regretless")]
pub struct PyLUCB;

#[pymethods]
impl PyLUCB {
    #[new]
    #[pyo3(signature = (n_arms, *, delta = 0.05, seed = None))]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        delta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyBestArmIdentifier)> {
        let id =
            BestArmIdentifier::new(n_arms, Rule::LUCB { delta }, seed_arg(seed)?).py_err(py)?;
        Ok((Self, base(id)))
    }
}

/// Track-and-stop (Garivier and Kaufmann 2016) at fixed confidence ``1 - delta``.
///
/// Tracks the optimal sampling proportions ``w*(mu_hat)`` of the Gaussian model with
/// variance 1/4 (valid for rewards in [0, 1]), with forced exploration of arms pulled
/// fewer than ``sqrt(t) - K/2`` times, and stops when the generalized likelihood ratio of
/// the empirical best against every other arm exceeds ``ln((ln t + 1) / delta)``;
/// asymptotically optimal sample complexity ``T*(mu) ln(1 / delta)``.
///
/// >>> import regretless
/// >>> finder = regretless.TrackAndStop(3, delta=0.05, seed=0)
/// >>> report = regretless.identify.identification_report(finder, [0.7, 0.4, 0.3], n_runs=50, seed=1)
/// >>> float(report.prob_best[0])
/// 1.0
#[pyclass(extends = PyBestArmIdentifier, frozen, name = "TrackAndStop", module = "regretless")]
pub struct PyTrackAndStop;

#[pymethods]
impl PyTrackAndStop {
    #[new]
    #[pyo3(signature = (n_arms, *, delta = 0.05, seed = None))]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        delta: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyBestArmIdentifier)> {
        let rule = Rule::TrackAndStop { delta };
        let id = BestArmIdentifier::new(n_arms, rule, seed_arg(seed)?).py_err(py)?;
        Ok((Self, base(id)))
    }
}

/// ``run_identifications(identifier, means, n_runs, seed, max_samples)``: ``n_runs``
/// seeded identifications on Bernoulli arms, in Rust with the GIL released. Returns
/// ``(recommended arms, samples, stopped)`` arrays.
#[pyfunction]
#[pyo3(signature = (identifier, means, n_runs, seed, max_samples))]
#[allow(clippy::type_complexity)]
pub fn run_identifications<'py>(
    py: Python<'py>,
    identifier: &Bound<'py, PyBestArmIdentifier>,
    means: &Bound<'py, PyAny>,
    n_runs: usize,
    seed: u64,
    max_samples: u64,
) -> PyResult<Bound<'py, PyTuple>> {
    let means = crate::convert::owned_float64(means, "means")?;
    let m = means.as_slice()?;
    let template = with_lock(py, &identifier.get().inner, |p| p.clone());
    let runs = py
        .detach(|| identify::run_identifications(&template, m, n_runs, seed, max_samples))
        .py_err(py)?;
    let arms: Vec<i64> = runs.iter().map(|r| r.0 as i64).collect();
    let samples: Vec<i64> = runs
        .iter()
        .map(|r| r.1.min(i64::MAX as u64) as i64)
        .collect();
    let stopped: Vec<bool> = runs.iter().map(|r| r.2).collect();
    PyTuple::new(
        py,
        [
            PyArray1::from_vec(py, arms).into_any(),
            PyArray1::from_vec(py, samples).into_any(),
            PyArray1::from_vec(py, stopped).into_any(),
        ],
    )
}

pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBestArmIdentifier>()?;
    m.add_class::<PySuccessiveHalving>()?;
    m.add_class::<PyLUCB>()?;
    m.add_class::<PyTrackAndStop>()?;
    m.add_class::<PyRecommendation>()?;
    m.add_function(wrap_pyfunction!(run_identifications, m)?)?;
    Ok(())
}
