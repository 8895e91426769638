//! The linear contextual policies: each a short subclass of ``ContextualBandit``
//! (`contextual_class.rs`) with its docstring and constructor.

use crate::contextual_class::PyContextualBandit;
use crate::convert::seed_arg;
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use pyo3::PyClass;
use regretless_core::contextual::DiagonalLinUCB;
use regretless_core::contextual::{
    AnyContextual, GibbsGreedy, GibbsWidth, KLRegularizedUCB, LinGreedy, LinTS, LinUCB, LogisticTS,
    LogisticUCB,
};
use regretless_core::contextual::{SketchedLinTS, SketchedLinUCB};

/// A new object of the class registered for the state's kind.
pub(crate) fn into_object(py: Python<'_>, state: AnyContextual) -> PyResult<Bound<'_, PyAny>> {
    fn make<'py, S: PyClass<BaseType = PyContextualBandit>>(
        py: Python<'py>,
        init: PyClassInitializer<PyContextualBandit>,
        sub: S,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, init.add_subclass(sub))?.into_any())
    }
    type Make = for<'py> fn(
        Python<'py>,
        PyClassInitializer<PyContextualBandit>,
    ) -> PyResult<Bound<'py, PyAny>>;
    let subclass: Make = match &state {
        AnyContextual::LinUCB(_) => |py, init| make(py, init, PyLinUCB),
        AnyContextual::LinTS(_) => |py, init| make(py, init, PyLinTS),
        AnyContextual::LinGreedy(_) => |py, init| make(py, init, PyLinGreedy),
        AnyContextual::KLRegularizedUCB(_) => |py, init| make(py, init, PyKLRegularizedUCB),
        AnyContextual::GibbsGreedy(_) => |py, init| make(py, init, PyGibbsGreedy),
        AnyContextual::LogisticUCB(_) => |py, init| make(py, init, PyLogisticUCB),
        AnyContextual::LogisticTS(_) => |py, init| make(py, init, PyLogisticTS),
        AnyContextual::SketchedLinUCB(_) => |py, init| make(py, init, PySketchedLinUCB),
        AnyContextual::SketchedLinTS(_) => |py, init| make(py, init, PySketchedLinTS),
        AnyContextual::DiagonalLinUCB(_) => |py, init| make(py, init, PyDiagonalLinUCB),
    };
    subclass(
        py,
        PyClassInitializer::from(PyContextualBandit::wrap(state)),
    )
}

/// LinUCB with disjoint per-arm models (Li, Chu, Langford and Schapire 2010).
///
/// Each arm keeps a ridge regression ``A_a = lam I + sum x x^T``, ``b_a = sum r x``;
/// the score of arm a for context x is ``x^T theta_a + alpha sqrt(x^T A_a^{-1} x)``
/// with ``theta_a = A_a^{-1} b_a``. Li et al. set ``alpha = 1 + sqrt(ln(2/delta)/2)``.
/// Inverses are kept by Sherman-Morrison updates and refactorized exactly from the
/// Gram matrix every 1024 updates (when it is numerically positive definite: sums of
/// near-parallel contexts can make it singular in floating point, and the inverse is
/// then carried on by the updates).
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LinUCB(n_arms=2, dim=2, alpha=0.5, seed=0)
/// >>> X = np.array([[1.0, 0.0], [0.0, 1.0]] * 50)
/// >>> arms = np.array([0, 1] * 50)
/// >>> rewards = np.where(arms == 0, X[:, 0], X[:, 1] * 0.2)
/// >>> policy.update_batch(X, arms, rewards)
/// >>> policy.select(np.array([1.0, 0.0]))
/// 0
///
/// ``decay`` (a discount factor gamma in (0, 1]; None, the default, keeps every row) turns
/// it into D-LinUCB (Russac, Vernade and Cappe, NeurIPS 2019), for rewards that drift:
/// each recorded row is one round, and every round multiplies the weight of all past rows
/// of every arm by gamma (played or not, as in the paper, so an abandoned arm's estimate
/// fades back to the prior and it is tried again). The model is the paper's Algorithm 1,
/// kept in its rescaled form, which cannot overflow: ``V = gamma V + w x x^T +
/// (1 - gamma) lam I``, ``W = gamma^2 W + w^2 x x^T + (1 - gamma^2) lam I``, ``b = gamma b
/// + w r x``, ``theta = V^{-1} b``, and the score ``x^T theta_a + alpha sqrt(x^T V_a^{-1}
/// W_a V_a^{-1} x)``. ``alpha`` plays the paper's ``beta_{t-1} = sqrt(lam) S + sigma
/// sqrt(2 ln(1/delta) + d ln(1 + L^2 (1 - gamma^{2(t-1)}) / (lam d (1 - gamma^2))))``
/// (noise sigma-sub-Gaussian, ``|theta| <= S``, ``|x| <= L``; ``d`` = n_arms * dim for these
/// disjoint models), which is conservative in practice, as OFUL's is for LinUCB. The
/// memory is about ``1 / (1 - gamma)`` rounds; the paper's tuning for a total variation
/// ``B_T = sum_t |theta_{t+1} - theta_t|`` over ``T`` rounds is ``gamma = 1 - (B_T / (d
/// T))^{2/3}``. An update costs O(dim^2) (the played arm's sums; idle arms are discounted
/// implicitly), and the played arm's next decision one O(dim^3) tridiagonalization, after
/// which each arm's score is O(dim^2) whatever its idle span.
/// ``counts`` and ``n_updates`` stay lifetime counts. Not mergeable: a discounted sum
/// weights rows by their age, and two replicas' rows have no common order. ``LinTS`` and
/// ``LinGreedy`` take the same ``decay``.
///
/// >>> policy = regretless.LinUCB(n_arms=2, dim=1, alpha=0.1, decay=0.9, seed=0)
/// >>> policy.update_batch([[1.0]] * 100 + [[1.0]] * 100, [0] * 100 + [1] * 100,
/// ...                     [1.0] * 100 + [0.5] * 100)
/// >>> policy.coefficients().round(3).ravel().tolist()  # arm 0's rows have faded
/// [0.0, 0.455]
///
/// ``precision`` ("float64", the default, or "float32") is how the inverse a decision
/// reads is stored. With "float32" each arm keeps, beside its float64 state, the upper
/// triangle of its inverse rounded to float32 and packed; single decisions (``select``,
/// ``probabilities`` of one row) read it with float64 accumulation: half the bytes, which
/// is what a decision costs at embedding sizes (d of a few hundred). Scores then differ
/// from float64's by float32 rounding (relative 1e-7 for well-conditioned models), so a
/// decision can differ only between arms that close. Updates, batch scoring, merges and
/// saved states use the float64 state, which is exactly a float64 policy's: the copy is
/// re-derived from it after every update and rebuilt on loading, never updated in float32,
/// so nothing drifts. Not combinable with ``decay``. ``LinTS`` and ``LinGreedy`` take the
/// same ``precision``.
///
/// >>> policy = regretless.LinUCB(n_arms=2, dim=2, alpha=0.5, precision="float32", seed=0)
/// >>> policy.precision
/// 'float32'
#[pyclass(extends = PyContextualBandit, frozen, name = "LinUCB", module = "regretless")]
pub struct PyLinUCB;

#[pymethods]
impl PyLinUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, alpha = 1.0, lam = 1.0, decay = None, precision = "float64", seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        alpha: f64,
        lam: f64,
        decay: Option<f64>,
        precision: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                LinUCB::new(n_arms, dim, alpha, lam, seed_arg(seed)?)
                    .and_then(|p| p.with_decay(decay))
                    .and_then(|p| p.with_precision(precision))
                    .py_err(py)?,
            ),
        ))
    }

    /// The discount factor of the forgetting (``decay``), None without it.
    #[getter]
    fn decay(slf: &Bound<'_, Self>) -> Option<f64> {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.decay())
    }

    /// The storage of the inverses decisions read (``precision``): "float64" or "float32".
    #[getter]
    fn precision(slf: &Bound<'_, Self>) -> &'static str {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.precision())
    }
}

/// Linear Thompson sampling (Agrawal and Goyal 2013) with disjoint per-arm models.
///
/// Each decision samples ``theta_a ~ N(theta_hat_a, v^2 A_a^{-1})`` and plays
/// ``argmax_a x^T theta_a``. For one context the sampled score of each arm is
/// ``N(x^T theta_hat_a, v^2 x^T A_a^{-1} x)``, which is what is drawn: the same
/// distribution with one normal per arm. ``v`` in [0.05, 1] works in practice (the
/// theory's value is much larger). ``scores`` returns posterior means;
/// ``probabilities`` is a Monte Carlo estimate (4096 draws) for logging propensities.
///
/// ``decay`` (gamma in (0, 1], None by default) discounts the models as in
/// :class:`LinUCB`'s D-LinUCB and samples ``theta_a ~ N(theta_hat_a, v^2 V_a^{-1} W_a
/// V_a^{-1})``, the covariance of the discounted estimate (in the spirit of Kim and
/// Tewari's D-LinTS, UAI 2020, whose exact covariance was not checked); not mergeable then.
/// ``precision`` ("float64" or "float32") stores the inverses decisions read as in
/// :class:`LinUCB`.
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and the ridge ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LinTS(n_arms=3, dim=4, v=0.2, seed=1)
/// >>> x = np.ones(4)
/// >>> arm = policy.select(x)
/// >>> policy.update(x, arm, 1.0)
/// >>> policy.counts().sum()
/// np.int64(1)
#[pyclass(extends = PyContextualBandit, frozen, name = "LinTS", module = "regretless")]
pub struct PyLinTS;

#[pymethods]
impl PyLinTS {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, v = 0.2, lam = 1.0, decay = None, precision = "float64", seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        v: f64,
        lam: f64,
        decay: Option<f64>,
        precision: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                LinTS::new(n_arms, dim, v, lam, seed_arg(seed)?)
                    .and_then(|p| p.with_decay(decay))
                    .and_then(|p| p.with_precision(precision))
                    .py_err(py)?,
            ),
        ))
    }

    /// The discount factor of the forgetting (``decay``), None without it.
    #[getter]
    fn decay(slf: &Bound<'_, Self>) -> Option<f64> {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.decay())
    }

    /// The storage of the inverses decisions read (``precision``): "float64" or "float32".
    #[getter]
    fn precision(slf: &Bound<'_, Self>) -> &'static str {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.precision())
    }
}

/// Epsilon-greedy on per-arm ridge estimates: with probability ``epsilon`` a uniformly
/// random arm, otherwise ``argmax_a x^T theta_a`` (ties at random). ``decay`` (gamma in
/// (0, 1], None by default) discounts the models as in :class:`LinUCB`'s D-LinUCB (not
/// mergeable then). ``precision`` ("float64" or "float32") is accepted as on
/// :class:`LinUCB`; the greedy decisions read only the coefficients, so with "float32" only
/// ``width`` reads the float32 copies.
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and the ridge ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LinGreedy(n_arms=2, dim=1, epsilon=0.1, seed=0)
/// >>> policy.update_batch([[1.0], [1.0]], [0, 1], [0.2, 0.9])
/// >>> policy.probabilities([[1.0]]).round(3).tolist()
/// [[0.05, 0.95]]
#[pyclass(extends = PyContextualBandit, frozen, name = "LinGreedy", module = "regretless")]
pub struct PyLinGreedy;

#[pymethods]
impl PyLinGreedy {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, epsilon = 0.1, lam = 1.0, decay = None, precision = "float64", seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        epsilon: f64,
        lam: f64,
        decay: Option<f64>,
        precision: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                LinGreedy::new(n_arms, dim, epsilon, lam, seed_arg(seed)?)
                    .and_then(|p| p.with_decay(decay))
                    .and_then(|p| p.with_precision(precision))
                    .py_err(py)?,
            ),
        ))
    }

    /// The discount factor of the forgetting (``decay``), None without it.
    #[getter]
    fn decay(slf: &Bound<'_, Self>) -> Option<f64> {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.decay())
    }

    /// The storage of the inverses decisions read (``precision``): "float64" or "float32".
    #[getter]
    fn precision(slf: &Bound<'_, Self>) -> &'static str {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.precision())
    }
}

/// KL-regularized UCB (Zhao, Ye, Xiong, Gu and Zhang, ICML 2025) on ridge models.
///
/// Maximizes reward minus ``KL(pi || pi_ref) / eta``: each decision samples from the
/// Gibbs policy ``pi(a|x) ~ pi_ref(a|x) exp(eta * f(x, a))`` with the optimistic estimate
/// ``f = min(1, max(0, x^T theta_a + beta_t sqrt(x^T A_a^{-1} x)))`` (computed in log
/// space). ``pi_ref`` is uniform unless given per decision (e.g. a language model's or
/// the production policy's probabilities). ``beta`` fixes the multiplier; ``beta=None``
/// uses ``width``'s ``beta_t``: ``"oful"`` (default) is OFUL's confidence radius
/// (Abbasi-Yadkori et al. 2011), the linear bonus of the paper's analysis,
/// ``beta_t = sqrt(2 ln(2t) + d ln(1 + t / (d lam))) / 2 + sqrt(lam)`` (rewards in [0, 1],
/// so 1/2-sub-Gaussian noise; ``|theta| <= 1``; ``delta = 1 / (2t)``), which grows with
/// the dimension ``d``; ``"tabular"`` is ``sqrt(2 ln(2t))`` for every ``d``, the
/// tabular bonus ``sqrt(2 ln(2t) / n_a)`` when the context is one constant feature (the
/// default of earlier releases; states saved by them keep it). Rewards are expected in [0, 1].
/// ``regretless.kl_regret`` scores the decisions exactly.
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.KLRegularizedUCB(n_arms=3, dim=1, eta=5.0, seed=0)
/// >>> x = np.ones(1)
/// >>> policy.update_batch(np.ones((900, 1)), [0, 1, 2] * 300, [0.6, 0.3, 0.1] * 300)
/// >>> p = policy.probabilities(x[None, :], pi_ref=[[0.2, 0.2, 0.6]])[0]
/// >>> bool(p[0] > p[1] > 0)
/// True
#[pyclass(extends = PyContextualBandit, frozen, name = "KLRegularizedUCB", module = "regretless")]
pub struct PyKLRegularizedUCB;

#[pymethods]
impl PyKLRegularizedUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, eta = 1.0, beta = None, lam = 1.0, width = "oful", seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        eta: f64,
        beta: Option<f64>,
        lam: f64,
        width: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        let width = GibbsWidth::parse(width).py_err(py)?;
        let seed = seed_arg(seed)?;
        Ok((
            Self,
            PyContextualBandit::wrap(
                KLRegularizedUCB::with_width(n_arms, dim, eta, beta, lam, width, seed)
                    .py_err(py)?,
            ),
        ))
    }
}

/// Greedy Gibbs policy: ``pi(a|x) ~ pi_ref(a|x) exp(eta * f(x, a))`` on the plain ridge
/// estimate ``f = min(1, max(0, x^T theta_a))``, with no exploration bonus: the KL term
/// alone keeps every arm of the reference's support in play. Same interface as
/// :class:`KLRegularizedUCB`.
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and the ridge ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.GibbsGreedy(n_arms=2, dim=1, eta=2.0, seed=0)
/// >>> policy.probabilities([[1.0]]).tolist()
/// [[0.5, 0.5]]
#[pyclass(extends = PyContextualBandit, frozen, name = "GibbsGreedy", module = "regretless")]
pub struct PyGibbsGreedy;

#[pymethods]
impl PyGibbsGreedy {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, eta = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        eta: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                GibbsGreedy::new(n_arms, dim, eta, None, lam, seed_arg(seed)?).py_err(py)?,
            ),
        ))
    }
}

/// Logistic UCB for binary rewards (clicks): per-arm logistic regressions with an online
/// Laplace posterior ``N(theta_a, A_a^{-1})`` (Chapelle and Li 2011, full covariance).
///
/// Each update finds the exact MAP of the Gaussian prior times the new observation's
/// likelihood (a one-dimensional Newton solve), then adds the likelihood's curvature
/// to the precision. The score is the upper confidence bound of the logit,
/// ``x^T theta_a + alpha sqrt(x^T A_a^{-1} x)``; ``mean(X)`` returns click
/// probabilities. Rewards are labels or probabilities in [0, 1]; ``lam`` is the prior
/// precision. Not mergeable (the online posterior depends on the update order).
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and ``lam`` in [1e-30, 1e30]; then every sum
/// stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LogisticUCB(n_arms=2, dim=2, seed=0)
/// >>> X = np.tile([[1.0, 0.0], [1.0, 1.0]], (200, 1))
/// >>> clicks = (np.arange(400) % 4 == 0).astype(float)  # half of the [1, 0] rows click
/// >>> policy.update_batch(X, np.zeros(400, dtype=np.int64), clicks)
/// >>> policy.mean(np.array([[1.0, 0.0], [1.0, 1.0]]))[:, 0].round(1).tolist()
/// [0.5, 0.0]
#[pyclass(extends = PyContextualBandit, frozen, name = "LogisticUCB", module = "regretless")]
pub struct PyLogisticUCB;

#[pymethods]
impl PyLogisticUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, alpha = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        alpha: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                LogisticUCB::new(n_arms, dim, alpha, lam, seed_arg(seed)?).py_err(py)?,
            ),
        ))
    }
}

/// Logistic Thompson sampling for binary rewards (Chapelle and Li 2011): the same
/// online Laplace posterior as :class:`LogisticUCB`, each decision sampling the logit
/// of every arm from ``N(x^T theta_a, v^2 x^T A_a^{-1} x)`` (``v = 1``: the posterior).
/// ``probabilities`` is a Monte Carlo estimate (4096 draws).
///
/// Limits: contexts ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``
/// (in [0, 1] for the logistic models) and the prior precision ``lam`` in [1e-30, 1e30];
/// then every sum stays finite, so a checkpoint always loads. Beyond them the call raises
/// (``InvalidParameterError`` / ``RewardError``) and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.LogisticTS(n_arms=3, dim=2, seed=0)
/// >>> arm = policy.select(np.array([1.0, 0.5]))
/// >>> policy.update(np.array([1.0, 0.5]), arm, 1.0)
/// >>> int(policy.counts().sum())
/// 1
#[pyclass(extends = PyContextualBandit, frozen, name = "LogisticTS", module = "regretless")]
pub struct PyLogisticTS;

#[pymethods]
impl PyLogisticTS {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, v = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        v: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        Ok((
            Self,
            PyContextualBandit::wrap(
                LogisticTS::new(n_arms, dim, v, lam, seed_arg(seed)?).py_err(py)?,
            ),
        ))
    }
}

/// Sketched LinUCB (SOFUL; Kuzborskij, Cella and Cesa-Bianchi 2019) for high-dimensional
/// contexts: O(m d) per decision and update instead of LinUCB's O(d^2).
///
/// Each arm keeps a Frequent Directions sketch ``S_a`` of ``m = sketch_size`` rows of its
/// (weighted) contexts, in a ``2m x d`` buffer shrunk once per ``m`` rows (Ghashami et al.
/// 2016, Algorithm 3.1 with ``l = m + 1``), and scores
/// ``x^T theta_a + alpha sqrt(x^T A_a^{-1} x)`` with ``A_a = S_a^T S_a + lam I`` and
/// ``theta_a = A_a^{-1} b_a`` (``b_a = sum w r x`` kept exactly), both through the Woodbury
/// identity on an ``m x m`` factor. By default the plain variant (SOFUL's regularizer
/// ``lam``): dropped directions only widen the confidence widths. ``robust=True`` adds half
/// the sketch's accumulated shrinkage to the regularizer (Robust Frequent Directions, Luo et
/// al. 2019, as in Chen et al. 2020), which halves the sketch's spectral error. With
/// ``sketch_size >= dim`` nothing is dropped and the policy equals :class:`LinUCB` up to
/// rounding. ``update_batch`` groups the rows by arm and fills each sketch in blocks (arms
/// in parallel); ``scores``/``select_batch``/``probabilities`` on many rows run each arm's
/// projection as one matrix product per block of rows.
///
/// ``merge`` stacks the two replicas' sketches and shrinks (Frequent Directions sketches
/// are mergeable, Ghashami et al. 2016); ``b``, counts and the shrinkage (so the robust
/// regularizer) add. It equals one policy fitted on both data sets when
/// ``sketch_size >= dim`` (up to rounding); with a smaller sketch, the merged sketch keeps
/// the Frequent Directions error bound of the combined data
/// (``0 <= X^T X - S^T S <= Delta I``, ``Delta`` the summed shrinkage), not the sketch the
/// combined stream would have produced. Sketch sizes, ``robust`` and the other
/// hyperparameters must match.
///
/// ``precision`` ("float64", the default, or "float32") is how the sketch rows a decision
/// reads are stored. With "float32" each arm keeps, beside its float64 sketch, a copy of
/// the rows rounded to float32, which ``select``/``scores``/``probabilities`` read with
/// float64 accumulation (the small ``m x m`` factor and ``theta`` stay float64): half the
/// bytes, which is what a decision costs at embedding sizes. Widths then differ from
/// float64's by float32 rounding (relative 1e-7 for well-conditioned sketches), so a
/// decision can differ only between arms that close. Updates, merges and saved states use
/// the float64 sketch, exactly a float64 policy's: the copy is re-derived from it after
/// every change and rebuilt on loading, never updated in float32, so nothing drifts.
/// :class:`SketchedLinTS` takes the same ``precision``.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.SketchedLinUCB(n_arms=2, dim=64, sketch_size=8, seed=0)
/// >>> rng = np.random.default_rng(0)
/// >>> X = rng.normal(size=(400, 64))
/// >>> arms = np.arange(400) % 2
/// >>> policy.update_batch(X, arms, np.where(arms == 0, X[:, 0], -X[:, 0]))
/// >>> policy.select_batch(np.array([[3.0] + [0.0] * 63, [-3.0] + [0.0] * 63])).tolist()
/// [0, 1]
#[pyclass(extends = PyContextualBandit, frozen, name = "SketchedLinUCB", module = "regretless")]
pub struct PySketchedLinUCB;

#[pymethods]
impl PySketchedLinUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, sketch_size = 32, alpha = 1.0, lam = 1.0, robust = false, precision = "float64", seed = None))]
    // The keyword arguments of the Python constructor.
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        dim: usize,
        sketch_size: usize,
        alpha: f64,
        lam: f64,
        robust: bool,
        precision: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        let seed = seed_arg(seed)?;
        Ok((
            Self,
            PyContextualBandit::wrap(
                SketchedLinUCB::new(n_arms, dim, sketch_size, robust, alpha, lam, seed)
                    .and_then(|p| p.with_precision(precision))
                    .py_err(py)?,
            ),
        ))
    }

    /// The storage of the sketch rows decisions read (``precision``): "float64" or
    /// "float32".
    #[getter]
    fn precision(slf: &Bound<'_, Self>) -> &'static str {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.precision())
    }
}

/// Linear Thompson sampling on Frequent Directions sketches: :class:`LinTS`'s sampling
/// (the score of arm a drawn from ``N(x^T theta_a, v^2 x^T A_a^{-1} x)``) on the sketched
/// models of :class:`SketchedLinUCB` (``A_a = S_a^T S_a + lam I``; ``robust`` as there), O(m d)
/// per decision and update. With ``sketch_size >= dim`` it makes the same draws and
/// decisions as :class:`LinTS` up to rounding. ``scores`` returns posterior means;
/// ``probabilities`` is a Monte Carlo estimate (4096 draws). ``merge`` as
/// :class:`SketchedLinUCB`'s (exact when ``sketch_size >= dim``, otherwise within the
/// Frequent Directions bound of the combined data).
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.SketchedLinTS(n_arms=3, dim=32, sketch_size=4, seed=1)
/// >>> x = np.ones(32) / np.sqrt(32)
/// >>> arm = policy.select(x)
/// >>> policy.update(x, arm, 1.0)
/// >>> int(policy.counts().sum())
/// 1
#[pyclass(extends = PyContextualBandit, frozen, name = "SketchedLinTS", module = "regretless")]
pub struct PySketchedLinTS;

#[pymethods]
impl PySketchedLinTS {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, sketch_size = 32, v = 0.2, lam = 1.0, robust = false, precision = "float64", seed = None))]
    // The keyword arguments of the Python constructor.
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        dim: usize,
        sketch_size: usize,
        v: f64,
        lam: f64,
        robust: bool,
        precision: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        let seed = seed_arg(seed)?;
        Ok((
            Self,
            PyContextualBandit::wrap(
                SketchedLinTS::new(n_arms, dim, sketch_size, robust, v, lam, seed)
                    .and_then(|p| p.with_precision(precision))
                    .py_err(py)?,
            ),
        ))
    }

    /// The storage of the sketch rows decisions read (``precision``): "float64" or
    /// "float32".
    #[getter]
    fn precision(slf: &Bound<'_, Self>) -> &'static str {
        let base = slf.as_super().get();
        crate::convert::with_lock(slf.py(), &base.inner, |p| p.precision())
    }
}

/// Diagonal LinUCB: the cheapest linear baseline for high-dimensional contexts, O(d) per
/// decision and update (the exact :class:`LinUCB` is O(d^2) per arm).
///
/// Each arm keeps only the diagonal of LinUCB's ``A_a``: ``D_a = lam + sum w x^2``
/// (coordinate-wise), ``b_a = sum w r x``, ``theta_a = b_a / D_a``, and scores
/// ``x^T theta_a + alpha sqrt(sum_i x_i^2 / D_a,i)``. Every coordinate is its own
/// one-dimensional ridge regression, so it equals :class:`LinUCB` when each arm's contexts
/// have disjoint supports (one-hot rows) and otherwise ignores the correlations between
/// features: a baseline, not an approximation with a guarantee (its widths are not
/// confidence widths of the ridge estimate). Mergeable (its sums add up).
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.DiagonalLinUCB(n_arms=2, dim=3, alpha=0.5, seed=0)
/// >>> X = np.eye(3)[np.arange(60) % 3]
/// >>> arms = np.arange(60) % 2
/// >>> policy.update_batch(X, arms, np.where(arms == 0, X[:, 0], X[:, 1]))
/// >>> policy.select_batch(np.eye(3)[:2]).tolist()
/// [0, 1]
#[pyclass(extends = PyContextualBandit, frozen, name = "DiagonalLinUCB", module = "regretless")]
pub struct PyDiagonalLinUCB;

#[pymethods]
impl PyDiagonalLinUCB {
    #[new]
    #[pyo3(signature = (n_arms, dim, *, alpha = 1.0, lam = 1.0, seed = None))]
    fn new(
        py: Python<'_>,
        n_arms: usize,
        dim: usize,
        alpha: f64,
        lam: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Self, PyContextualBandit)> {
        let seed = seed_arg(seed)?;
        Ok((
            Self,
            PyContextualBandit::wrap(
                DiagonalLinUCB::new(n_arms, dim, alpha, lam, seed).py_err(py)?,
            ),
        ))
    }
}
