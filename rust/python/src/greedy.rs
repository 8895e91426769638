//! Value-based exploration: epsilon-greedy and softmax.

use crate::bandit::{with_policy, Bandit};
use crate::convert::seed_arg;
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use regretless_core::policy::{EpsilonGreedy, Softmax};

/// Epsilon-greedy: explore uniformly with probability epsilon, else exploit.
///
/// Tries every arm once, then plays an arm uniformly at random with probability
/// ``epsilon_t`` and the best empirical mean otherwise (ties at random). With
/// ``decay=None`` epsilon is constant; with a number it decays as
/// ``epsilon_t = min(epsilon, decay * K / t)``: Auer et al.'s epsilon_n-greedy with
/// ``decay = c / d**2`` and ``epsilon = 1``. Accepts any reward with
/// ``|reward| <= 1e100`` (the limit that keeps every sum and merge finite, so a
/// checkpoint always loads); beyond it ``RewardError``, with nothing changed.
///
/// >>> import regretless
/// >>> policy = regretless.EpsilonGreedy(4, epsilon=0.2, seed=0)
/// >>> policy.update_batch([0, 1, 2, 3], [0.1, 0.9, 0.3, 0.2])
/// >>> policy.probabilities().round(2).tolist()
/// [0.05, 0.85, 0.05, 0.05]
#[pyclass(extends = Bandit, frozen, name = "EpsilonGreedy", module = "regretless")]
pub struct PyEpsilonGreedy;

#[pymethods]
impl PyEpsilonGreedy {
    #[new]
    #[pyo3(signature = (n_arms, *, epsilon = 0.1, decay = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        epsilon: f64,
        decay: Option<f64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(EpsilonGreedy::new(n_arms, epsilon, decay, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The exploration probability of the next decision.
    #[getter]
    fn current_epsilon(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut EpsilonGreedy| p.current_epsilon())
    }
}

/// Boltzmann (softmax) exploration.
///
/// Tries every arm once, then plays arm i with probability proportional to
/// ``exp(mean_i / temperature)``, computed from the gaps ``mean_i - max mean`` so that
/// any temperature gives finite probabilities (at 1e-308 the best arms, ties included,
/// share all the mass; at 1e308 play is uniform). Small temperatures exploit, large
/// ones explore. Accepts any reward with ``|reward| <= 1e100`` (the limit that keeps
/// every sum finite, so a checkpoint always loads); beyond it ``RewardError``.
///
/// >>> import regretless
/// >>> policy = regretless.Softmax(2, temperature=0.5, seed=0)
/// >>> policy.update_batch([0, 1], [0.0, 1.0])
/// >>> policy.probabilities().round(4).tolist()
/// [0.1192, 0.8808]
#[pyclass(extends = Bandit, frozen, name = "Softmax", module = "regretless")]
pub struct PySoftmax;

#[pymethods]
impl PySoftmax {
    #[new]
    #[pyo3(signature = (n_arms, *, temperature = 0.1, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        temperature: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(Softmax::new(n_arms, temperature, seed_arg(seed)?).py_err(py)?),
        ))
    }
}
