//! Policies for switching costs: BatchedExp3, ShrinkingDartboard and UCB2.

use crate::bandit::{with_policy, Bandit};
use crate::convert::{positive_opt, seed_arg};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{BatchedExp3, ShrinkingDartboard, UCB2};

/// Batched EXP3 (Arora, Dekel and Tewari 2012): EXP3 played in blocks, for adversarial
/// rewards with a cost per switch of arm.
///
/// Block j draws an arm from ``p = softmax(-eta L)`` and holds it for ``tau`` rewards of
/// that arm; the block's mean loss divided by the probability the arm was drawn with is one
/// EXP3 loss (each reward ``r`` adds ``(1 - r) / (tau p)`` to the arm's ``L``). For
/// ``horizon=T``: ``tau = ceil((T / (K ln K))^(1/3))``, ``N = ceil(T / tau)`` blocks and
/// ``eta = sqrt(2 ln K / (N K))``, so the regret with a unit cost per switch is at most
/// ``tau sqrt(2 N K ln K) + N = O((K ln K)^(1/3) T^(2/3))``, with at most ``N`` switches.
/// Without a horizon, a block started after ``t`` rewards lasts
/// ``ceil(((t + 1) / (K ln K))^(1/3))`` and block j uses ``eta = sqrt(ln K / (K j))``.
/// Rewards in [0, 1]. Not mergeable.
///
/// The first update draws the first block; a block ends after ``tau`` rewards of its arm
/// and the next one is drawn at once, so between updates every decision is the held arm
/// (``probabilities()`` is the point mass on it). With ``eligible=`` excluding the held
/// arm, the decision is drawn from ``p`` restricted to the eligible arms and the block
/// waits (it neither ends nor advances) until its arm is eligible again. Each decision
/// records the probability its arm was drawn with (``block_propensity`` for the held arm:
/// the probability its block was drawn with, the propensity to log for off-policy
/// evaluation), and its update divides by it, as for :class:`EXP3`; pass ``propensity=``
/// to give it yourself. ``n_switches`` counts decisions whose arm differs from the one
/// before.
///
/// >>> import regretless
/// >>> policy = regretless.BatchedExp3(4, horizon=100_000, seed=0)
/// >>> policy.block_length
/// 27
/// >>> for _ in range(60):
/// ...     arm = policy.select()
/// ...     policy.update(arm, 0.5)
/// >>> policy.n_switches <= 3
/// True
#[pyclass(extends = Bandit, frozen, name = "BatchedExp3", module = "regretless")]
pub struct PyBatchedExp3;

#[pymethods]
impl PyBatchedExp3 {
    #[new]
    #[pyo3(signature = (n_arms, *, tau = None, eta = None, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        tau: Option<&Bound<'_, PyAny>>,
        eta: Option<f64>,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let tau = positive_opt(tau, "tau")?;
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(BatchedExp3::new(n_arms, tau, eta, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// Length (in rewards of its arm) of a block started now.
    #[getter]
    fn block_length(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut BatchedExp3| p.block_length())
    }

    /// The learning rate of the next block.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut BatchedExp3| p.eta())
    }

    /// The arm of the block in force, or None before the first update.
    #[getter]
    fn block_arm(slf: &Bound<'_, Self>) -> PyResult<Option<usize>> {
        with_policy(slf, |p: &mut BatchedExp3| p.block().map(|h| h.arm))
    }

    /// The probability the block in force was drawn with (None before the first update).
    #[getter]
    fn block_propensity(slf: &Bound<'_, Self>) -> PyResult<Option<f64>> {
        with_policy(slf, |p: &mut BatchedExp3| p.block().map(|h| h.prob))
    }

    /// Blocks started so far.
    #[getter]
    fn n_blocks(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut BatchedExp3| p.n_blocks())
    }

    /// Decisions whose arm differs from the decision before.
    #[getter]
    fn n_switches(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut BatchedExp3| p.n_switches())
    }

    /// The EXP3 distribution the next block is drawn from.
    fn block_probabilities<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut BatchedExp3| p.block_distribution())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }

    /// Cumulative importance-weighted block-loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut BatchedExp3| {
            p.cumulative_loss_estimates().to_vec()
        })?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }
}

crate::exp3::propensity_methods!(PyBatchedExp3 => BatchedExp3);

/// Shrinking dartboard (Geulen, Voecking and Winkler 2010): Hedge sampled lazily, so that
/// it rarely switches.
///
/// Weights ``w_i = (1 - eta)^L_i``. After each round the held arm ``h`` is kept with
/// probability ``c p_t(h) / p_{t-1}(h)``, ``c = min_j p_{t-1}(j) / p_t(j)``, else redrawn
/// from ``p_t``. For a fixed ``eta`` that is ``(1 - eta)^(l_t(h) - min_j l_t(j))``, the
/// paper's ``w_t(h) / w_{t-1}(h)`` on losses shifted by the round's smallest (Hedge is
/// unchanged by the shift, and it keeps at least as often); it stays exact when ``eta``
/// changes with t. Every
/// decision is distributed as Hedge's ``p_t``, and with full information (``update_full``)
/// the expected number of switches is at most ``eta L* + 1``, so the regret including a
/// unit cost per switch is ``O(sqrt(T ln K))`` with ``eta = min(1/2, sqrt(ln K / T))`` for
/// ``horizon=T`` (``sqrt(ln K / t)`` at round t without). This is a full-information
/// algorithm. With bandit feedback (``update``, and ``simulate``) the played arm's loss is
/// EXP3's importance-weighted estimate ``(1 - r) / p`` (lazy EXP3): it switches far less
/// than EXP3, but the held arm is the arm being charged, so the estimates are biased and
/// its regret can grow linearly (``benches/README.md``: 0.16 per step on Bernoulli
/// 0.8 / 0.5 / 0.2). No bandit algorithm has both ``O(sqrt(T))`` regret and
/// ``O(sqrt(T))`` switches; for bandit feedback with switching costs use
/// :class:`BatchedExp3` (adversarial) or :class:`UCB2` (stochastic). Rewards in [0, 1].
/// Not mergeable.
///
/// Between updates every decision is the held arm (the first update draws it); with
/// ``eligible=`` excluding it, the decision is drawn from Hedge's distribution restricted to
/// the eligible arms and the held arm is kept. ``hedge_probabilities()`` is the law of each
/// decision given the losses (the propensity to log).
///
/// >>> import regretless
/// >>> policy = regretless.ShrinkingDartboard(3, horizon=10_000, seed=0)
/// >>> round(policy.eta, 4)
/// 0.0105
/// >>> for _ in range(100):
/// ...     arm = policy.select()
/// ...     policy.update_full([0.2, 0.5, 0.9])
/// >>> policy.n_switches <= 5
/// True
#[pyclass(extends = Bandit, frozen, name = "ShrinkingDartboard", module = "regretless")]
pub struct PyShrinkingDartboard;

#[pymethods]
impl PyShrinkingDartboard {
    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        horizon: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        let horizon = positive_opt(horizon, "horizon")?;
        Ok((
            Self,
            Bandit::new(ShrinkingDartboard::new(n_arms, eta, horizon, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The weights' eta of the next round.
    #[getter]
    fn eta(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut ShrinkingDartboard| p.eta())
    }

    /// The held arm, or None before the first update.
    #[getter]
    fn held_arm(slf: &Bound<'_, Self>) -> PyResult<Option<usize>> {
        with_policy(slf, |p: &mut ShrinkingDartboard| p.held_arm())
    }

    /// Decisions whose arm differs from the decision before.
    #[getter]
    fn n_switches(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut ShrinkingDartboard| p.n_switches())
    }

    /// Feedback rounds so far (bandit updates plus full-information updates).
    #[getter]
    fn n_rounds(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut ShrinkingDartboard| p.n_rounds())
    }

    /// Hedge's distribution ``p(i)`` proportional to ``(1 - eta)^L_i``: the law of each
    /// decision given the losses.
    fn hedge_probabilities<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut ShrinkingDartboard| p.hedge_probabilities())?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }

    /// Cumulative loss estimates per arm.
    fn loss_estimates<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = with_policy(slf, |p: &mut ShrinkingDartboard| {
            p.cumulative_loss_estimates().to_vec()
        })?;
        Ok(PyArray1::from_vec(slf.py(), v))
    }

    /// One round of full information: the reward in [0, 1] of every arm (float64, length
    /// ``n_arms``). Validated before anything is recorded.
    fn update_full(slf: &Bound<'_, Self>, rewards: &Bound<'_, PyAny>) -> PyResult<()> {
        let rewards = crate::convert::owned_float64(rewards, "rewards")?;
        let r = rewards.as_slice()?;
        with_policy(slf, |p: &mut ShrinkingDartboard| p.update_full(r))?.py_err(slf.py())
    }
}

crate::exp3::propensity_methods!(PyShrinkingDartboard => ShrinkingDartboard);

/// UCB2 (Auer, Cesa-Bianchi and Fischer 2002): UCB played in epochs of geometrically
/// growing length, so that it switches arms only O(log T) times.
///
/// After one pull of each arm, the arm j maximizing
/// ``mean_j + sqrt((1 + alpha) ln(e n / tau(r_j)) / (2 tau(r_j)))`` is played for an epoch
/// of ``tau(r_j + 1) - tau(r_j)`` pulls (at least one), then ``r_j += 1``, with
/// ``tau(r) = ceil((1 + alpha)^r)`` and ``n`` the rewards so far. The regret is at most
/// ``sum_j (1 + alpha)(1 + 4 alpha) ln(2 e Delta_j^2 n) / (2 Delta_j) + c_alpha / Delta_j``;
/// a larger ``alpha`` (in (0, 1), default 0.5) means longer epochs and fewer switches for
/// a larger constant. Rewards in [0, 1]. Not mergeable (the epochs follow one sequence of
/// plays).
///
/// The first update chooses the first epoch; an epoch ends after its pulls and the next
/// is chosen at once, so between updates every decision is the epoch's arm. With
/// ``eligible=`` excluding it, the decision is the best index among the eligible arms and
/// the epoch waits. ``scores()`` are the indices.
///
/// >>> import regretless
/// >>> env = regretless.BernoulliEnv([0.3, 0.5, 0.7])
/// >>> res = regretless.simulate(regretless.UCB2(3), env, horizon=20_000, seed=0)
/// >>> int(res.n_switches[0]) < 200
/// True
#[pyclass(extends = Bandit, frozen, name = "UCB2", module = "regretless")]
pub struct PyUCB2;

#[pymethods]
impl PyUCB2 {
    #[new]
    #[pyo3(signature = (n_arms, *, alpha = 0.5, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        alpha: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, Bandit)> {
        Ok((
            Self,
            Bandit::new(UCB2::new(n_arms, alpha, seed_arg(seed)?).py_err(py)?),
        ))
    }

    /// The epoch growth rate: ``tau(r) = ceil((1 + alpha)^r)``.
    #[getter]
    fn alpha(slf: &Bound<'_, Self>) -> PyResult<f64> {
        with_policy(slf, |p: &mut UCB2| p.alpha())
    }

    /// Epochs started per arm (``r_j``, int64).
    fn epochs<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let v = with_policy(slf, |p: &mut UCB2| p.epochs().to_vec())?;
        Ok(PyArray1::from_vec(
            slf.py(),
            v.into_iter()
                .map(|n| n.min(i64::MAX as u64) as i64)
                .collect(),
        ))
    }

    /// The arm of the epoch in force, or None before the first update.
    #[getter]
    fn epoch_arm(slf: &Bound<'_, Self>) -> PyResult<Option<usize>> {
        with_policy(slf, |p: &mut UCB2| p.epoch().map(|h| h.arm))
    }

    /// Decisions whose arm differs from the decision before.
    #[getter]
    fn n_switches(slf: &Bound<'_, Self>) -> PyResult<u64> {
        with_policy(slf, |p: &mut UCB2| p.n_switches())
    }
}
