//! Divergence-based upper confidence bounds: KL-UCB and Bayes-UCB.

use crate::bandit::Bandit;
use crate::convert::{positive_opt, seed_arg};
use crate::errors::{invalid_parameter, IntoPyResult};
use pyo3::prelude::*;
use regretless_core::policy::{BayesUCB, Divergence, KLUCB};

/// KL-UCB (Garivier and Cappe 2011; Cappe et al. 2013).
///
/// The index of arm i is the largest ``q >= mean_i`` with
/// ``n_i * kl(mean_i, q) <= ln t + c ln ln t``, solved by Newton's method. The
/// divergence matches the reward model: ``"bernoulli"`` (rewards in [0, 1],
/// asymptotically optimal for Bernoulli arms), ``"gaussian"`` (rewards in
/// [-1e100, 1e100], with known ``variance``) or ``"poisson"`` (rewards in [0, 1e100]);
/// the 1e100 limit keeps every sum finite, so a checkpoint always loads. The solve
/// is bracketed and bounded (at most 200 evaluations) at any mean. ``plus=True`` gives
/// KL-UCB+ (Garivier and Cappe, COLT 2011; asymptotic optimality by Kaufmann, Annals of
/// Statistics 2018), which uses ``ln(t / n_i)``. ``c = 0`` is the practical default (3 in the
/// proofs).
///
/// >>> import regretless
/// >>> policy = regretless.KLUCB(2, seed=0)
/// >>> policy.update_batch([0, 0, 1], [1.0, 0.0, 1.0])
/// >>> bool(policy.scores()[1] == 1.0)   # a perfect arm's index is 1
/// True
#[pyclass(extends = Bandit, frozen, name = "KLUCB", module = "regretless")]
pub struct PyKLUCB;

#[pymethods]
impl PyKLUCB {
    #[new]
    #[pyo3(signature = (n_arms, *, divergence = "bernoulli", c = 0.0, plus = false, variance = 0.25, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        divergence: &str,
        c: f64,
        plus: bool,
        variance: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let d = match divergence {
            "bernoulli" => Divergence::Bernoulli,
            "gaussian" => Divergence::Gaussian { variance },
            "poisson" => Divergence::Poisson,
            other => {
                return Err(invalid_parameter(
                    py,
                    format!(
                        "divergence: expected 'bernoulli', 'gaussian' or 'poisson', got {other:?}"
                    ),
                ))
            }
        };
        Ok((
            Self,
            Bandit::new(KLUCB::new(n_arms, d, c, plus, seed_arg(seed)?).py_err(py)?),
        ))
    }
}

/// Bayes-UCB for Bernoulli rewards (Kaufmann, Cappe and Garivier 2012).
///
/// The index of arm i is the ``1 - 1/(t (ln H)^c)`` quantile of its
/// ``Beta(prior_alpha + S_i, prior_beta + n_i - S_i)`` posterior (``H`` the horizon,
/// ``t`` when None). ``c = 0`` is the recommended practical value. Rewards in [0, 1]; a
/// fractional reward r counts as r successes and 1 - r failures. ``prior_alpha`` and
/// ``prior_beta`` lie in (0, 1e100] (beyond, the posterior's sums overflow). The
/// quantile solve is bracketed and bounded (at most 200 evaluations).
///
/// >>> import regretless
/// >>> policy = regretless.BayesUCB(2, seed=0)
/// >>> policy.update_batch([0, 1, 0, 1], [1, 0, 1, 0])
/// >>> bool(policy.scores()[0] > policy.scores()[1])
/// True
#[pyclass(extends = Bandit, frozen, name = "BayesUCB", module = "regretless")]
pub struct PyBayesUCB;

#[pymethods]
impl PyBayesUCB {
    #[new]
    #[pyo3(signature = (n_arms, *, prior_alpha = 1.0, prior_beta = 1.0, c = 0.0, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        prior_alpha: f64,
        prior_beta: f64,
        c: f64,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(
                BayesUCB::new(n_arms, prior_alpha, prior_beta, c, horizon, seed_arg(seed)?)
                    .py_err(py)?,
            ),
        ))
    }
}
