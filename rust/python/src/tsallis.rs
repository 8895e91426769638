//! Tsallis-INF (1/2-Tsallis, Zimmert & Seldin), best of both worlds.

use crate::bandit::{with_policy, Bandit};
use crate::convert::seed_arg;
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::TsallisINF;

/// Tsallis-INF with the 1/2-Tsallis entropy (Zimmert and Seldin 2021): one policy for
/// adversarial and stochastic rewards.
///
/// Plays from ``p_i = 4 (eta_t (L_i - x))^-2`` where ``L_i`` sums the importance-weighted
/// losses ``(1 - r) / p_i`` of arm i, ``eta_t = 2 eta_scale / sqrt(t)`` and the normalizer
/// ``x < min L`` is found by Newton's method. With ``eta_scale=1`` the regret is
/// ``O(sqrt(K T))`` against an adversary and ``O(sum_i ln T / Delta_i)`` on stochastic
/// rewards, with no horizon or gap to tune. Rewards in [0, 1]. Not mergeable.
///
/// Every decision of ``select``/``select_batch`` records the probability its arm was
/// drawn with; an update of an arm answers that arm's oldest unanswered decision and
/// divides by its recorded probability (first in, first out per arm), so batches and
/// delayed feedback are weighted by the probabilities they were drawn with. Pass
/// ``propensity=`` (``propensities=`` to ``update_batch``) to give it yourself, e.g. for
/// logged decisions; an update with neither uses the current probability.
///
/// >>> import regretless
/// >>> policy = regretless.TsallisINF(4, seed=0)
/// >>> [round(p, 12) for p in policy.probabilities().tolist()]
/// [0.25, 0.25, 0.25, 0.25]
/// >>> arm = policy.select()
/// >>> policy.update(arm, 0.0)
/// >>> round(float(policy.loss_estimates()[arm]), 6)  # 1 / 0.25
/// 4.0
#[pyclass(extends = Bandit, frozen, name = "TsallisINF", module = "regretless")]
pub struct PyTsallisINF;

#[pymethods]
impl PyTsallisINF {
    #[new]
    #[pyo3(signature = (n_arms, *, eta_scale = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta_scale: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(TsallisINF::new(n_arms, eta_scale, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The learning rate of the next decision, ``2 eta_scale / sqrt(t)``.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut TsallisINF| p.eta())
    }

    /// The multiplier of the learning rate ``2 / sqrt(t)``.
    #[getter]
    fn eta_scale(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut TsallisINF| p.eta_scale())
    }

    /// Cumulative importance-weighted loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut TsallisINF| {
            p.cumulative_loss_estimates().to_vec()
        })?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}

crate::exp3::propensity_methods!(PyTsallisINF => TsallisINF, pending_counts);
