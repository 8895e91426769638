//! `_simulate`, behind `regretless.simulate`: a multi-armed policy against an environment,
//! many independent runs in parallel in Rust.

use crate::bandit::bandit_arg;
use crate::convert::u64_to_i64;
use crate::env::extract_env;
use crate::errors::IntoPyResult;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use regretless_core::env::Environment;
use regretless_core::policy::{Policy, PolicyVisitor, Registered};
use regretless_core::simulate::{simulate, SimulationConfig, SimulationOutput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Runs the simulation on a worker thread with the GIL released, calling `progress(done)`
/// from this thread every 100 ms so that a Python progress bar can follow.
fn run_with_progress<P: Policy>(
    py: Python<'_>,
    policy: &P,
    env: &Environment,
    config: &SimulationConfig,
    progress: Option<Py<PyAny>>,
) -> PyResult<SimulationOutput> {
    let Some(cb) = progress else {
        // Without a progress callback there is nothing to poll: simulate on this thread.
        return py.detach(|| simulate(policy, env, config, None)).py_err(py);
    };
    let counter = AtomicU64::new(0);
    let (outcome, callback_error) = py.detach(|| {
        std::thread::scope(|s| {
            let handle = s.spawn(|| simulate(policy, env, config, Some(&counter)));
            let mut callback_error = None;
            // Checks for the end every millisecond (a 100 ms sleep made every simulation
            // last at least 100 ms); reports progress every 100 ms.
            let mut last_report = std::time::Instant::now();
            while !handle.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
                if last_report.elapsed() < Duration::from_millis(100) {
                    continue;
                }
                last_report = std::time::Instant::now();
                if callback_error.is_none() {
                    let done = counter.load(Ordering::Relaxed);
                    Python::attach(|py| {
                        if let Err(e) = cb.call1(py, (done,)) {
                            callback_error = Some(e);
                        }
                    });
                }
            }
            (handle.join(), callback_error)
        })
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    match outcome {
        Ok(r) => r.py_err(py),
        Err(_) => Err(PyRuntimeError::new_err(
            "simulation thread panicked (a bug: please report it)",
        )),
    }
}

/// The simulation as a [`PolicyVisitor`]: run on a copy of the concrete policy.
struct Simulation<'a, 'py> {
    py: Python<'py>,
    env: &'a Environment,
    config: &'a SimulationConfig,
    progress: Option<Py<PyAny>>,
}

impl PolicyVisitor for Simulation<'_, '_> {
    type Output = PyResult<SimulationOutput>;
    fn visit<P: Registered>(self, policy: &mut P) -> Self::Output {
        run_with_progress(self.py, &*policy, self.env, self.config, self.progress)
    }
}

/// Low-level simulation entry point; `regretless.simulate` wraps it.
#[pyfunction]
#[pyo3(signature = (policy, env, horizon, n_runs, seed, record_every, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn _simulate<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyAny>,
    env: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = crate::convert::int::horizon)] horizon: usize,
    #[pyo3(from_py_with = crate::convert::int::n_runs)] n_runs: usize,
    #[pyo3(from_py_with = crate::convert::int::seed)] seed: u64,
    #[pyo3(from_py_with = crate::convert::int::record_every)] record_every: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = extract_env(env)?;
    let config = SimulationConfig {
        horizon,
        n_runs,
        seed,
        record_every,
    };
    let policy = bandit_arg(policy, "policy")?;
    // One match on the policy's type, then the monomorphized simulation loop.
    let out = policy.get().snapshot(py).visit(Simulation {
        py,
        env: &env,
        config: &config,
        progress,
    })?;
    let n_points = out.steps.len();
    let k = env.n_arms();
    let d = PyDict::new(py);
    d.set_item("steps", PyArray1::from_vec(py, u64_to_i64(out.steps)))?;
    d.set_item(
        "regret",
        PyArray1::from_vec(py, out.regret).reshape([n_runs, n_points])?,
    )?;
    d.set_item(
        "counts",
        PyArray1::from_vec(py, u64_to_i64(out.counts)).reshape([n_runs, k])?,
    )?;
    d.set_item("total_reward", PyArray1::from_vec(py, out.total_reward))?;
    d.set_item("best_arm", out.best_arm)?;
    d.set_item(
        "switches",
        PyArray1::from_vec(py, u64_to_i64(out.switches)).reshape([n_runs, n_points])?,
    )?;
    Ok(d)
}
