//! `BinSampler`: the EMA-debiased multiplicative-weights curriculum sampler.

use crate::convert::{seed_arg, with_lock, with_lock_detached};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::curriculum::{BinSampler, ScoreMode};
use std::sync::Mutex;

/// Curriculum sampler over difficulty bins (Prompt-GDRO, Panaganti et al. 2026; the
/// update is a reconstruction): upweights persistently hard bins, not bins that are
/// merely sampled often.
///
/// ``update(bins, losses)`` takes one training batch (each prompt's bin and loss in
/// [0, 1], e.g. ``1 - pass rate``). For each bin seen, its *mean* loss ``l_b`` enters
/// ``s_b <- beta s_b + (1 - beta) l_b``; the bias-corrected ``s_b / (1 - beta^n_b)``
/// gives ``q ~ exp(eta s)``, mixed with ``gamma`` uniform. ``sample(n)`` draws the bins of
/// the next batch from ``q`` (then take prompts uniformly within each bin).
/// ``mode="cumulative"`` is the EXP3-style baseline that sums the losses instead (no
/// averaging, no importance weighting): bins sampled more gather weight whatever their
/// difficulty.
///
/// >>> import regretless
/// >>> sampler = regretless.BinSampler(3, eta=5.0, seed=0)
/// >>> sampler.update([0, 0, 1, 2], [0.1, 0.1, 0.5, 0.9])
/// >>> [round(x, 3) for x in sampler.scores().tolist()]
/// [0.1, 0.5, 0.9]
/// >>> q = sampler.probabilities()
/// >>> bool(q[2] > q[1] > q[0])
/// True
#[pyclass(frozen, name = "BinSampler", module = "regretless")]
pub struct PyBinSampler {
    inner: Mutex<BinSampler>,
}

crate::persist::locked_state_class!(PyBinSampler => BinSampler, docs {
    to_bytes: [" Serialize the whole state to versioned, checksummed bytes."],
    from_bytes: [
        " Restore a sampler from ``to_bytes()`` output. Raises StateError on corrupt,",
        " truncated or foreign bytes."
    ],
    reduce: [" Pickle as ``(BinSampler.from_bytes, (bytes,))``."],
    copy: [" An independent copy (same state, same position in the random stream)."]
});

fn mode_name(mode: ScoreMode) -> &'static str {
    match mode {
        ScoreMode::Ema => "ema",
        ScoreMode::Cumulative => "cumulative",
    }
}

#[pymethods]
impl PyBinSampler {
    #[new]
    #[pyo3(signature = (n_bins, *, beta = 0.9, eta = 5.0, gamma = 0.05, mode = "ema", seed = None))]
    fn new(
        py: Python<'_>,
        n_bins: usize,
        beta: f64,
        eta: f64,
        gamma: f64,
        mode: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mode = match mode {
            "ema" => ScoreMode::Ema,
            "cumulative" => ScoreMode::Cumulative,
            other => {
                return Err(regretless_core::Error::param(
                    "mode",
                    format!("expected \"ema\" or \"cumulative\", got {other:?}"),
                ))
                .py_err(py)
            }
        };
        let s = BinSampler::new(n_bins, beta, eta, gamma, mode, seed_arg(seed)?).py_err(py)?;
        Ok(Self::wrap(s))
    }

    /// ``n`` bins drawn from ``q`` (int64).
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let n = crate::convert::batch_count_arg(n, "n")?;
        let v = with_lock_detached(py, &self.inner, |s| {
            s.sample(n)
                .into_iter()
                .map(|b| b as i64)
                .collect::<Vec<i64>>()
        });
        Ok(PyArray1::from_vec(py, v))
    }

    /// Learn from one batch: each prompt's bin and its loss in [0, 1]. Every row is
    /// validated before any is used.
    fn update(
        &self,
        py: Python<'_>,
        bins: &Bound<'_, PyAny>,
        losses: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bins = crate::convert::owned_int64(bins, "bins")?;
        let losses = crate::convert::owned_float64(losses, "losses")?;
        let (b, l) = (bins.as_slice()?, losses.as_slice()?);
        with_lock_detached(py, &self.inner, |s| s.update(b, l)).py_err(py)
    }

    #[getter]
    fn mode(&self, py: Python<'_>) -> &'static str {
        mode_name(with_lock(py, &self.inner, |s| s.mode()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |s| {
            format!(
                "BinSampler(n_bins={}, beta={}, eta={}, gamma={}, mode={:?})",
                s.n_bins(),
                s.beta(),
                s.eta(),
                s.gamma(),
                mode_name(s.mode())
            )
        })
    }
}

crate::methods::lock_arrays!(PyBinSampler {
    /// The bin mix ``q`` of the next batch.
    probabilities: Vec<f64>,
    /// The per-bin scores ``q`` is built from (bias-corrected EMA of the mean loss, or
    /// the cumulative sums).
    scores: Vec<f64>,
    /// Number of batches in which each bin was seen (int64).
    update_counts: Vec<u64> => |s| s.update_counts().to_vec(),
});

crate::methods::lock_getters!(PyBinSampler {
    n_bins: usize,
    beta: f64,
    eta: f64,
    gamma: f64,
});
