//! Adversarial bandits: EXP3 and EXP3-IX.

use crate::bandit::{with_policy, Bandit};
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{Exp3, Exp3IX, Registered};

/// `update(arm, reward, propensity=None)` of a policy with recorded selection
/// probabilities: without `propensity`, the shared update; with it, `with_propensity`.
pub(crate) fn update_with<S, P>(
    slf: &Bound<'_, S>,
    arm: &Bound<'_, PyAny>,
    reward: &Bound<'_, PyAny>,
    propensity: Option<&Bound<'_, PyAny>>,
    with_propensity: fn(&mut P, i64, f64, f64) -> regretless_core::Result<()>,
) -> PyResult<()>
where
    S: pyo3::PyClass<BaseType = Bandit>,
    P: Registered,
{
    let arm = crate::convert::arm_arg(arm, "arm")?;
    let reward = crate::convert::real_arg(reward, "reward")?;
    let propensity = propensity
        .map(|q| crate::convert::real_arg(q, "propensity"))
        .transpose()?;
    with_policy(slf, |p: &mut P| match propensity {
        Some(q) => with_propensity(p, arm, reward, q),
        None => p.update(arm, reward),
    })?
    .py_err(slf.py())
}

/// A policy's `update_batch_with_propensities(arms, rewards, propensities)`.
pub(crate) type BatchWithPropensities<P> =
    fn(&mut P, &[i64], &[f64], &[f64]) -> regretless_core::Result<()>;

/// `update_batch(arms, rewards, propensities=None)`, validated row by row before any
/// row is recorded.
pub(crate) fn update_batch_with<S, P>(
    slf: &Bound<'_, S>,
    arms: &Bound<'_, PyAny>,
    rewards: &Bound<'_, PyAny>,
    propensities: Option<&Bound<'_, PyAny>>,
    with_propensities: BatchWithPropensities<P>,
) -> PyResult<()>
where
    S: pyo3::PyClass<BaseType = Bandit>,
    P: Registered,
{
    let arms = crate::convert::owned_int64(arms, "arms")?;
    let rewards = crate::convert::owned_float64(rewards, "rewards")?;
    let propensities = propensities
        .map(|q| crate::convert::owned_float64(q, "propensities"))
        .transpose()?;
    let (a, r) = (arms.as_slice()?, rewards.as_slice()?);
    let q = propensities.as_ref().map(|q| q.as_slice()).transpose()?;
    with_policy(slf, |p: &mut P| match q {
        Some(q) => with_propensities(p, a, r, q),
        None => p.update_batch(a, r),
    })?
    .py_err(slf.py())
}

/// `update(arm, reward, *, propensity=None)` and `update_batch(arms, rewards, *,
/// propensities=None)` of a multi-armed class whose core `$core` records the probability of
/// each decision ([`RecordsPropensities`]); with `pending_counts`, also `pending_counts()`.
macro_rules! propensity_methods {
    ($py_ty:ty => $core:ty, pending_counts) => {
        $crate::exp3::propensity_methods!($py_ty => $core);

        #[pyo3::pymethods]
        impl $py_ty {
            /// Number of decisions per arm still waiting for their update (int64).
            fn pending_counts<'py>(
                slf: &pyo3::Bound<'py, Self>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<i64>>> {
                let v = $crate::bandit::with_policy(slf, |p: &mut $core| p.pending_counts())?;
                Ok(numpy::PyArray1::from_vec(
                    slf.py(),
                    v.into_iter().map(|n| n as i64).collect(),
                ))
            }
        }
    };
    ($py_ty:ty => $core:ty) => {
        #[pyo3::pymethods]
        impl $py_ty {
            /// Record the reward observed after playing `arm`, drawn with probability
            /// `propensity` (default: the probability recorded when it was selected).
            #[pyo3(signature = (arm, reward, *, propensity = None))]
            fn update(
                slf: &pyo3::Bound<'_, Self>,
                arm: &pyo3::Bound<'_, pyo3::PyAny>,
                reward: &pyo3::Bound<'_, pyo3::PyAny>,
                propensity: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<()> {
                $crate::exp3::update_with(
                    slf,
                    arm,
                    reward,
                    propensity,
                    <$core as regretless_core::policy::RecordsPropensities>::update_with_propensity,
                )
            }

            /// Record many (arm, reward) pairs at once, with the probability each arm was drawn
            /// with (default: the probabilities recorded at selection). Every row is validated
            /// before any is recorded.
            #[pyo3(signature = (arms, rewards, *, propensities = None))]
            fn update_batch(
                slf: &pyo3::Bound<'_, Self>,
                arms: &pyo3::Bound<'_, pyo3::PyAny>,
                rewards: &pyo3::Bound<'_, pyo3::PyAny>,
                propensities: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<()> {
                $crate::exp3::update_batch_with(
                    slf,
                    arms,
                    rewards,
                    propensities,
                    <$core as regretless_core::policy::RecordsPropensities>::update_batch_with_propensities,
                )
            }
        }
    };
}
pub(crate) use propensity_methods;

/// EXP3 (Auer, Cesa-Bianchi, Freund and Schapire 2002) for adversarial rewards.
///
/// Plays from ``p = (1 - gamma) softmax(-eta L) + gamma / K`` where ``L_i`` sums the
/// importance-weighted losses ``(1 - r) / p_i`` of arm i. The learning rate is ``eta``
/// if given, else ``sqrt(2 ln K / (K horizon))`` for a known horizon (expected regret
/// at most ``sqrt(2 K T ln K)``), else the anytime ``sqrt(ln K / (K t))``.
/// Rewards in [0, 1]. Not mergeable: its estimates depend on its own play.
///
/// Every decision of ``select``/``select_batch`` records the probability its arm was
/// drawn with; an update of an arm answers that arm's oldest unanswered decision and
/// divides by its recorded probability (first in, first out per arm), so batches and
/// delayed feedback are weighted by the probabilities they were drawn with. Pass
/// ``propensity=`` (``propensities=`` to ``update_batch``) to give it yourself, e.g. for
/// logged decisions; an update with neither uses the current probability.
///
/// >>> import regretless
/// >>> policy = regretless.EXP3(3, horizon=1000, seed=0)
/// >>> policy.probabilities().tolist()
/// [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
#[pyclass(extends = Bandit, frozen, name = "EXP3", module = "regretless")]
pub struct PyExp3;

#[pymethods]
impl PyExp3 {
    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = 0.0, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: f64,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(Exp3::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut Exp3| p.eta())
    }

    /// Cumulative importance-weighted loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut Exp3| p.cumulative_loss_estimates().to_vec())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}

crate::exp3::propensity_methods!(PyExp3 => Exp3, pending_counts);

/// EXP3-IX (Neu 2015): EXP3 with implicit exploration, regret bounded with high
/// probability.
///
/// Exponential weights on loss estimates ``(1 - r) / (p_i + gamma)``; ``gamma``
/// defaults to ``eta / 2``. Learning rate as for :class:`EXP3`. Rewards in [0, 1].
/// The probability ``p_i`` is the one the arm was drawn with, recorded at selection as
/// for :class:`EXP3` (or given as ``propensity=``).
///
/// >>> import regretless
/// >>> policy = regretless.EXP3IX(2, eta=0.5, seed=0)
/// >>> policy.update(0, 0.0)
/// >>> bool(policy.probabilities()[1] > 0.5)
/// True
#[pyclass(extends = Bandit, frozen, name = "EXP3IX", module = "regretless")]
pub struct PyExp3IX;

#[pymethods]
impl PyExp3IX {
    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = None, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: Option<f64>,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(Exp3IX::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut Exp3IX| p.eta())
    }

    /// Cumulative implicit-exploration loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut Exp3IX| p.cumulative_loss_estimates().to_vec())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}

crate::exp3::propensity_methods!(PyExp3IX => Exp3IX, pending_counts);
