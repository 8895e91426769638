use crate::bandit_class::bandit_class;
use crate::convert::{positive_opt, seed_arg, with_lock};
use crate::errors::IntoPyResult;
use numpy::PyArray1;
use pyo3::prelude::*;
use regretless_core::policy::{Exp3, Exp3IX};

bandit_class! {
    /// EXP3 (Auer, Cesa-Bianchi, Freund and Schapire 2002) for adversarial rewards.
    ///
    /// Plays from ``p = (1 - gamma) softmax(-eta L) + gamma / K`` where ``L_i`` sums the
    /// importance-weighted losses ``(1 - r) / p_i`` of arm i. The learning rate is ``eta``
    /// if given, else ``sqrt(2 ln K / (K horizon))`` for a known horizon (expected regret
    /// at most ``sqrt(2 K T ln K)``), else the anytime ``sqrt(ln K / (K t))``.
    /// Rewards in [0, 1]. Not mergeable: its estimates depend on its own play.
    ///
    /// >>> import regretless
    /// >>> policy = regretless.EXP3(3, horizon=1000, seed=0)
    /// >>> policy.probabilities().tolist()
    /// [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    PyExp3 => Exp3, "EXP3";

    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = 0.0, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: f64,
        horizon: Option<i64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let horizon = positive_opt(py, horizon, "horizon")?;
        Ok(Self::wrap(Exp3::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(&self, py: Python<'_>) -> f64 {
        with_lock(py, &self.inner, |p| p.eta())
    }

    /// Cumulative importance-weighted loss estimates per arm.
    fn loss_estimates<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let v = with_lock(py, &self.inner, |p| p.cumulative_loss_estimates().to_vec());
        PyArray1::from_vec(py, v)
    }
}

bandit_class! {
    /// EXP3-IX (Neu 2015): EXP3 with implicit exploration, regret bounded with high
    /// probability.
    ///
    /// Exponential weights on loss estimates ``(1 - r) / (p_i + gamma)``; ``gamma``
    /// defaults to ``eta / 2``. Learning rate as for :class:`EXP3`. Rewards in [0, 1].
    ///
    /// >>> import regretless
    /// >>> policy = regretless.EXP3IX(2, eta=0.5, seed=0)
    /// >>> policy.update(0, 0.0)
    /// >>> bool(policy.probabilities()[1] > 0.5)
    /// True
    PyExp3IX => Exp3IX, "EXP3IX";

    #[new]
    #[pyo3(signature = (n_arms, *, eta = None, gamma = None, horizon = None, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::n_arms)] n_arms: usize,
        eta: Option<f64>,
        gamma: Option<f64>,
        horizon: Option<i64>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let horizon = positive_opt(py, horizon, "horizon")?;
        Ok(Self::wrap(Exp3IX::new(n_arms, eta, gamma, horizon, seed_arg(seed)?).py_err(py)?))
    }

    /// The learning rate of the next decision.
    #[getter]
    fn eta(&self, py: Python<'_>) -> f64 {
        with_lock(py, &self.inner, |p| p.eta())
    }

    /// Cumulative implicit-exploration loss estimates per arm.
    fn loss_estimates<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let v = with_lock(py, &self.inner, |p| p.cumulative_loss_estimates().to_vec());
        PyArray1::from_vec(py, v)
    }
}
