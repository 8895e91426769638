//! Glue for dynamical linear bandits (`regretless_core::dynlin`): DynLinUCB, the myopic
//! LinUCB baseline, the environment and `simulate_dynlin`.

use crate::convert::{owned_float64, seed_arg, u64_arg, with_lock};
use crate::errors::{dtype_error, shape_error, IntoPyResult};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use regretless_core::dynlin::{
    budget_splits as core_budget_splits, simulate_dynlin as core_simulate, ActionPolicy,
    DynLinBounds, DynLinRun, DynLinUCB, DynamicalLinearEnv, MyopicLinUCB,
};
use std::sync::Mutex;

/// A 2-D float64 argument: its values (row-major) and (rows, cols).
fn matrix_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<f64>, usize, usize)> {
    let (values, shape) = crate::convert::owned_float64_nd(obj, name)?;
    if shape.len() != 2 {
        return Err(shape_error(
            obj.py(),
            format!(
                "{name}: expected a 2-D array, got {} dimensions",
                shape.len()
            ),
        ));
    }
    Ok((values.as_slice()?.to_vec(), shape[0], shape[1]))
}

fn as_matrix<'py>(
    py: Python<'py>,
    values: Vec<f64>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    PyArray1::from_vec(py, values).reshape([rows, cols])
}

fn actions_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Vec<f64>, usize)> {
    let (values, _, cols) = matrix_arg(obj, "actions")?;
    Ok((values, cols))
}

/// DynLinUCB (Mussi, Metelli and Restelli, ICML 2023) for dynamical linear bandits: the
/// reward acts through a hidden state, ``x' = A x + B u + noise``,
/// ``y = w . (C x + D u + noise)``, so a constant action ``u`` earns ``h . u`` in steady
/// state (``h = w^T (D + C (I - A)^-1 B)``). The policy plays in epochs of growing length
/// ``H_j = 1 + floor(ln j / ln(1 / rho_bar))``, holds one action (a row of ``actions``) for a
/// whole epoch -- chosen at the epoch's start as ``argmax_u h_hat . u + beta_t
/// ||u||_{V^-1}``, the first at random -- and regresses only the epoch's last reward on it,
/// when the state has nearly forgotten the previous action: ``h_hat`` estimates ``h``.
/// ``beta_t`` is the paper's radius built from the norm bounds ``rho_bar >= rho(A)``,
/// ``omega >= ||w^T C||``, ``theta >= ||w^T D||``, ``b_norm >= ||B||``,
/// ``phi >= sup_k ||A^k|| / rho^k`` and the noise ``sigma``
/// (``DynamicalLinearEnv.bounds()`` gives the true ones), times ``scale``.
/// ``select()`` returns the action of this round (the epoch's, so repeated calls agree);
/// ``update(action, reward)`` records the round, ``action`` being the held one.
///
/// >>> import regretless
/// >>> env = regretless.DynamicalLinearEnv.synthetic(sigma=0.01, seed=0)
/// >>> actions = regretless.DynamicalLinearEnv.budget_splits(3)
/// >>> policy = regretless.DynLinUCB(actions, 20_000, **env.bounds(), seed=0)
/// >>> run = regretless.simulate_dynlin(policy, env, 20_000)
/// >>> [round(float(v), 2) for v in policy.estimate()]
/// [0.56, 0.5, 0.11]
/// >>> fresh = regretless.DynLinUCB(actions, 100, rho_bar=0.5, seed=0)
/// >>> fresh.select(eligible=[4, 5]) in (4, 5), fresh.held in (4, 5)  # held for the epoch
/// (True, True)
#[pyclass(name = "DynLinUCB", module = "regretless", frozen)]
pub struct PyDynLinUCB {
    inner: Mutex<DynLinUCB>,
}

crate::persist::locked_state_class!(PyDynLinUCB => DynLinUCB);

#[pymethods]
impl PyDynLinUCB {
    #[new]
    #[pyo3(signature = (actions, horizon, *, rho_bar, omega = 1.0, theta = 1.0, b_norm = 1.0, phi = 1.0, sigma = 1.0, lam = 1.0, scale = 1.0, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        actions: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        rho_bar: f64,
        omega: f64,
        theta: f64,
        b_norm: f64,
        phi: f64,
        sigma: f64,
        lam: f64,
        scale: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (a, d) = actions_arg(actions)?;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        let bounds = DynLinBounds {
            rho_bar,
            omega,
            theta,
            b_norm,
            phi,
            sigma,
        };
        Ok(Self::wrap(
            DynLinUCB::new(&a, d, horizon, bounds, lam, scale, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// ``V = lam I + sum u u^T`` over the epochs' last rounds (dim, dim).
    fn gram<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (v, d) = with_lock(py, &self.inner, |p| (p.gram().to_vec(), p.dim()));
        as_matrix(py, v, d, d)
    }

    /// The action vectors (n_actions, dim).
    fn actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (v, k, d) = with_lock(py, &self.inner, |p| {
            (ActionPolicy::actions(p).to_vec(), p.n_actions(), p.dim())
        });
        as_matrix(py, v, k, d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!("DynLinUCB({})", p.describe_params())
        })
    }
}

crate::methods::lock_arrays!(PyDynLinUCB {
    /// The estimate ``h_hat = V^-1 b`` of the steady-state gain (dim,).
    estimate: Vec<f64> => |p| p.estimate().to_vec(),
});

crate::methods::lock_getters!(PyDynLinUCB {
    /// The exploration radius ``beta_t`` at the current round.
    beta: f64,
    /// Rounds recorded (``update`` calls that succeeded).
    n_updates: u64,
    /// Epochs completed (rows of the regression).
    n_epochs: u64,
    /// The current epoch, from 1.
    epoch: u64,
    /// The action held for the current epoch (None before its ``select()``).
    held: Option<usize>,
    n_actions: usize,
    dim: usize,
    horizon: u64,
    rho_bar: f64 => |p| p.bounds().rho_bar,
    lam: f64,
    scale: f64,
});

crate::methods::arm_reward_update!(
    /// Record this round's reward; ``action`` must be the one ``select()`` returned for this
    /// epoch (ArmError otherwise, and before any ``select()`` at an epoch's start).
    PyDynLinUCB,
    action
);

crate::methods::eligible_select!(
    /// The action (row of ``actions``) of this round: the current epoch's. With
    /// ``eligible`` (a boolean mask of length n_actions or distinct action indices), an
    /// epoch's action is chosen among those at its start (the first epoch's uniformly, then
    /// the argmax of ``scores()`` over them, ties at random) and held; within an epoch the
    /// held action must be eligible (InvalidParameterError otherwise, as when no action is).
    PyDynLinUCB,
    n_actions
);

crate::methods::eligible_scores!(
    /// The optimistic index ``h_hat . u + beta_t ||u||_{V^-1}`` of every action; with
    /// ``eligible``, -inf outside it.
    PyDynLinUCB,
    n_actions
);

/// LinUCB with one shared parameter over a finite set of action vectors that regresses
/// every round's reward on that round's action, as if rewards were immediate: the myopic
/// baseline of dynamical linear bandits (the authors' LinUCB), blind to the hidden state.
/// The first action is drawn at random, then ``argmax_u h_hat . u + beta ||u||_{V^-1}``
/// with the constant ``beta = scale * (theta sqrt(lam) + sigma sqrt(2 ln T + d ln(1 + T
/// U^2 / (d lam))))``, ``U = max ||u||``. ``update`` takes any action of the set.
///
/// >>> import regretless
/// >>> actions = regretless.DynamicalLinearEnv.budget_splits(3)
/// >>> policy = regretless.MyopicLinUCB(actions, 1000, theta=0.5, sigma=0.01, seed=0)
/// >>> policy.update(2, 0.4)
/// >>> policy.n_updates, policy.n_actions
/// (1, 6)
/// >>> policy.select(eligible=[0, 1]) in (0, 1)
/// True
/// >>> policy.scores(eligible=[0, 1])[2:].tolist()
/// [-inf, -inf, -inf, -inf]
#[pyclass(name = "MyopicLinUCB", module = "regretless", frozen)]
pub struct PyMyopicLinUCB {
    inner: Mutex<MyopicLinUCB>,
}

crate::persist::locked_state_class!(PyMyopicLinUCB => MyopicLinUCB);

#[pymethods]
impl PyMyopicLinUCB {
    #[new]
    #[pyo3(signature = (actions, horizon, *, theta = 1.0, sigma = 1.0, lam = 1.0, scale = 1.0, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        actions: &Bound<'_, PyAny>,
        horizon: &Bound<'_, PyAny>,
        theta: f64,
        sigma: f64,
        lam: f64,
        scale: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (a, d) = actions_arg(actions)?;
        let horizon = u64_arg(horizon, "horizon", 1)?;
        Ok(Self::wrap(
            MyopicLinUCB::new(&a, d, horizon, theta, sigma, lam, scale, seed_arg(seed)?)
                .py_err(py)?,
        ))
    }

    /// ``V = lam I + sum u u^T`` over every round (dim, dim).
    fn gram<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (v, d) = with_lock(py, &self.inner, |p| (p.gram().to_vec(), p.dim()));
        as_matrix(py, v, d, d)
    }

    /// The action vectors (n_actions, dim).
    fn actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (v, k, d) = with_lock(py, &self.inner, |p| {
            (ActionPolicy::actions(p).to_vec(), p.n_actions(), p.dim())
        });
        as_matrix(py, v, k, d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |p| {
            format!("MyopicLinUCB({})", p.describe_params())
        })
    }
}

crate::methods::lock_arrays!(PyMyopicLinUCB {
    /// The ridge estimate ``V^-1 b`` of the per-round reward's weights (dim,).
    estimate: Vec<f64> => |p| p.estimate().to_vec(),
});

crate::methods::lock_getters!(PyMyopicLinUCB {
    /// The exploration radius (constant).
    beta: f64,
    /// Rounds recorded (``update`` calls that succeeded).
    n_updates: u64,
    n_actions: usize,
    dim: usize,
    horizon: u64,
    lam: f64,
    scale: f64,
});

crate::methods::arm_reward_update!(
    /// Record the reward of a round in which ``action`` was played.
    PyMyopicLinUCB,
    action
);

crate::methods::eligible_select!(
    /// The action (row of ``actions``) to play this round. With ``eligible`` (a boolean
    /// mask of length n_actions or distinct action indices), chosen among those only: the
    /// first uniformly, then the argmax of ``scores()`` over them, ties at random. Raises
    /// InvalidParameterError when no action is eligible.
    PyMyopicLinUCB,
    n_actions
);

crate::methods::eligible_scores!(
    /// The optimistic index ``h_hat . u + beta ||u||_{V^-1}`` of every action; with
    /// ``eligible``, -inf outside it.
    PyMyopicLinUCB,
    n_actions
);

/// A linear dynamical system with a scalar reward, the environment of dynamical linear
/// bandits: ``y_t = w . (C x_t + D u_t + sigma e_t)``, ``x_{t+1} = A x_t + B u_t + sigma
/// e'_t`` with standard normal noise, the state starting at 0; ``a`` (n, n), ``b`` (n, p),
/// ``c`` (m, n), ``d`` (m, p), ``output`` = ``w`` (m,), ones by default (outputs summed). ``a``
/// must be stable (spectral radius below 1). ``synthetic()`` is the authors' configuration.
///
/// >>> import regretless
/// >>> env = regretless.DynamicalLinearEnv.synthetic(sigma=0.01, seed=0)
/// >>> [round(float(v), 4) for v in env.steady_state_gain()]
/// [0.5625, 0.5, 0.1111]
/// >>> round(env.bounds()["rho_bar"], 6)
/// 0.2
#[pyclass(name = "DynamicalLinearEnv", module = "regretless", frozen)]
pub struct PyDynamicalLinearEnv {
    inner: Mutex<DynamicalLinearEnv>,
}

crate::persist::locked_state_class!(PyDynamicalLinearEnv => DynamicalLinearEnv);

fn expect_shape(
    py: Python<'_>,
    name: &str,
    got: (usize, usize),
    want: (usize, usize),
    what: &str,
) -> PyResult<()> {
    if got != want {
        return Err(shape_error(
            py,
            format!(
                "{name}: expected shape {what} = ({}, {}), got ({}, {})",
                want.0, want.1, got.0, got.1
            ),
        ));
    }
    Ok(())
}

#[pymethods]
impl PyDynamicalLinearEnv {
    #[new]
    #[pyo3(signature = (a, b, c, d, *, output = None, sigma = 0.01, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        a: &Bound<'_, PyAny>,
        b: &Bound<'_, PyAny>,
        c: &Bound<'_, PyAny>,
        d: &Bound<'_, PyAny>,
        output: Option<&Bound<'_, PyAny>>,
        sigma: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (a, n, n2) = matrix_arg(a, "a")?;
        expect_shape(py, "a", (n, n2), (n, n), "(n, n)")?;
        let (b, nb, p) = matrix_arg(b, "b")?;
        expect_shape(py, "b", (nb, p), (n, p), "(n, p)")?;
        let (c, m, nc) = matrix_arg(c, "c")?;
        expect_shape(py, "c", (m, nc), (m, n), "(m, n)")?;
        let (d, md, pd) = matrix_arg(d, "d")?;
        expect_shape(py, "d", (md, pd), (m, p), "(m, p)")?;
        let w = match output.filter(|o| !o.is_none()) {
            Some(o) => Some(owned_float64(o, "output")?.as_slice()?.to_vec()),
            None => None,
        };
        Ok(Self::wrap(
            DynamicalLinearEnv::new(
                &a,
                &b,
                &c,
                &d,
                n,
                p,
                m,
                w.as_deref(),
                sigma,
                seed_arg(seed)?,
            )
            .py_err(py)?,
        ))
    }

    /// The authors' synthetic system (n = p = m = 3): ``A = diag(0.2, 0, 0.1)``,
    /// ``B = diag(0.45, 0, 0.1)``, ``C = diag(1, 0, 0.1)``, ``D = diag(0, 0.5, 0.1)``,
    /// outputs summed; they ran ``sigma`` in {0.001, 0.01, 0.1}.
    #[classmethod]
    #[pyo3(signature = (sigma = 0.01, *, seed = None))]
    fn synthetic(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        sigma: f64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self::wrap(
            DynamicalLinearEnv::synthetic(sigma, seed_arg(seed)?).py_err(py)?,
        ))
    }

    /// The authors' discrete budget allocations over ``n`` campaigns (k, n): every order of
    /// the campaigns fills them greedily (each gets ``floor``, then in order up to ``cap``)
    /// from ``total``; the distinct splits, sorted. ``budget_splits(3)`` is the six orders
    /// of (1, 0.5, 0).
    #[staticmethod]
    #[pyo3(signature = (n = 3, total = 1.5, cap = 1.0, floor = 0.0))]
    fn budget_splits(
        py: Python<'_>,
        n: usize,
        total: f64,
        cap: f64,
        floor: f64,
    ) -> PyResult<Bound<'_, PyArray2<f64>>> {
        let v = core_budget_splits(n, total, cap, floor).py_err(py)?;
        let rows = v.len() / n;
        as_matrix(py, v, rows, n)
    }

    /// Play ``u`` (p,) for one round: returns the reward; the state moves on.
    fn step(&self, py: Python<'_>, u: &Bound<'_, PyAny>) -> PyResult<f64> {
        let u = owned_float64(u, "u")?.as_slice()?.to_vec();
        with_lock(py, &self.inner, |e| e.step(&u)).py_err(py)
    }

    /// Back to the zero state (the noise generator continues).
    fn reset(&self, py: Python<'_>) {
        with_lock(py, &self.inner, |e| e.reset())
    }

    /// The spectral radius of ``a``.
    fn spectral_radius(&self, py: Python<'_>) -> f64 {
        with_lock(py, &self.inner, |e| e.spectral_radius())
    }

    /// DynLinUCB's bounds from the true system, as keyword arguments of ``DynLinUCB``:
    /// ``rho_bar`` (the spectral radius of A), ``omega = ||w^T C||``, ``theta = ||w^T D||``,
    /// ``b_norm = ||B||_2``, ``phi = max_k ||A^k||_2 / rho^k`` (k < 1000) and ``sigma``.
    fn bounds<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = with_lock(py, &self.inner, |e| e.bounds());
        let out = PyDict::new(py);
        out.set_item("rho_bar", b.rho_bar)?;
        out.set_item("omega", b.omega)?;
        out.set_item("theta", b.theta)?;
        out.set_item("b_norm", b.b_norm)?;
        out.set_item("phi", b.phi)?;
        out.set_item("sigma", b.sigma)?;
        Ok(out)
    }

    /// The matrices ``(a, b, c, d)`` and the output weights ``w``.
    #[allow(clippy::type_complexity)]
    fn system<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray1<f64>>,
    )> {
        let e = with_lock(py, &self.inner, |e| e.clone());
        let (n, p, m) = (e.n_state(), e.n_inputs(), e.n_outputs());
        Ok((
            as_matrix(py, e.a().to_vec(), n, n)?,
            as_matrix(py, e.b().to_vec(), n, p)?,
            as_matrix(py, e.c().to_vec(), m, n)?,
            as_matrix(py, e.d().to_vec(), m, p)?,
            PyArray1::from_vec(py, e.output().to_vec()),
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        with_lock(py, &self.inner, |e| {
            format!(
                "DynamicalLinearEnv(n_state={}, n_inputs={}, n_outputs={}, sigma={})",
                e.n_state(),
                e.n_inputs(),
                e.n_outputs(),
                e.sigma()
            )
        })
    }
}

crate::methods::lock_arrays!(PyDynamicalLinearEnv {
    /// The steady-state gain ``h = w^T (D + C (I - A)^-1 B)`` (p,): a constant action ``u``
    /// earns ``h . u`` per round in the long run.
    steady_state_gain: Vec<f64>,
    /// The hidden state x_t (n,).
    state: Vec<f64> => |e| e.state().to_vec(),
});

crate::methods::lock_getters!(PyDynamicalLinearEnv {
    /// Dimension n of the hidden state.
    n_state: usize,
    /// Dimension p of an action.
    n_inputs: usize,
    /// Number m of outputs (summed with weights ``output`` into the reward).
    n_outputs: usize,
    /// Standard deviation of each noise component.
    sigma: f64,
    /// Steps taken since construction or ``reset()``.
    n_steps: u64,
});

fn run_in<P: ActionPolicy + Send>(
    py: Python<'_>,
    policy: &Mutex<P>,
    env: &Mutex<DynamicalLinearEnv>,
    horizon: usize,
) -> PyResult<DynLinRun> {
    // Two locks, always in this order (environment, then policy), without the GIL.
    py.detach(|| {
        let mut e = env.lock().unwrap_or_else(|p| p.into_inner());
        let mut p = policy.lock().unwrap_or_else(|p| p.into_inner());
        core_simulate(&mut *p, &mut e, horizon)
    })
    .py_err(py)
}

/// Play ``policy`` (a DynLinUCB or a MyopicLinUCB; it learns as it plays) for ``horizon``
/// rounds in ``env``, continuing from the environment's current state. Returns a dict of
/// arrays: ``actions`` (int64, the row played each round), ``rewards`` (the rewards
/// observed) and ``regret``, the cumulative steady-state regret ``sum_s h . u* - h . u_s``
/// with ``h`` the environment's steady-state gain and ``u*`` the best of the policy's
/// actions (the authors' measure).
///
/// >>> import regretless
/// >>> env = regretless.DynamicalLinearEnv.synthetic(seed=1)
/// >>> policy = regretless.MyopicLinUCB(env.budget_splits(3), 500, seed=1)
/// >>> run = regretless.simulate_dynlin(policy, env, 500)
/// >>> sorted(run), run["regret"].shape, policy.n_updates
/// (['actions', 'regret', 'rewards'], (500,), 500)
#[pyfunction]
#[pyo3(signature = (policy, env, horizon))]
pub fn simulate_dynlin<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyAny>,
    env: &Bound<'py, PyDynamicalLinearEnv>,
    horizon: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let horizon = crate::convert::batch_count_arg(horizon, "horizon")?;
    let env = &env.get().inner;
    let run = if let Ok(p) = policy.downcast::<PyDynLinUCB>() {
        run_in(py, &p.get().inner, env, horizon)?
    } else if let Ok(p) = policy.downcast::<PyMyopicLinUCB>() {
        run_in(py, &p.get().inner, env, horizon)?
    } else {
        return Err(dtype_error(
            py,
            format!(
                "policy: expected a DynLinUCB or a MyopicLinUCB, got {}",
                policy.get_type().name()?
            ),
        ));
    };
    let out = PyDict::new(py);
    let actions: Vec<i64> = run.actions.into_iter().map(|a| a as i64).collect();
    out.set_item("actions", PyArray1::from_vec(py, actions))?;
    out.set_item("rewards", PyArray1::from_vec(py, run.rewards))?;
    out.set_item("regret", PyArray1::from_vec(py, run.regret))?;
    Ok(out)
}
