//! PyO3 glue for `regretless`: the extension module `regretless._core`.
//! Only argument conversion, locking and error mapping live here; every algorithm is in
//! `regretless-core`.

use pyo3::prelude::*;

mod bandit;
mod budget;
mod cascade;
mod cascading_rl;
mod contextual_class;
mod convert;
mod curriculum;
mod detect;
mod drift;
mod dynlin;
mod eligible;
mod elimination;
mod env;
mod errors;
mod exp3;
mod family;
mod fastcall;
mod greedy;
mod hybrid;
mod identify;
mod kernel;
mod klucb;
mod linear;
mod methods;
mod ope;
mod persist;
mod reactive;
mod service;
mod shared_sketch;
mod simulate;
mod sparse_linear;
mod stream;
mod switching;
mod thompson;
mod tsallis;
mod ucb;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bandit::add_classes(m)?;
    identify::add_classes(m)?;
    m.add_class::<curriculum::PyBinSampler>()?;
    m.add_class::<sparse_linear::PySparseLinearBaseline>()?;
    m.add_class::<contextual_class::PyContextualBandit>()?;
    m.add_class::<linear::PyLinUCB>()?;
    m.add_class::<linear::PyLinTS>()?;
    m.add_class::<linear::PyLinGreedy>()?;
    m.add_class::<linear::PyKLRegularizedUCB>()?;
    m.add_class::<linear::PyGibbsGreedy>()?;
    m.add_class::<linear::PyLogisticUCB>()?;
    m.add_class::<linear::PyLogisticTS>()?;
    m.add_class::<linear::PySketchedLinUCB>()?;
    m.add_class::<linear::PySketchedLinTS>()?;
    m.add_class::<linear::PyDiagonalLinUCB>()?;
    m.add_class::<hybrid::PyHybridLinUCB>()?;
    m.add_class::<shared_sketch::PySharedSketchLinUCB>()?;
    m.add_class::<shared_sketch::PySharedSketchLinTS>()?;
    m.add_class::<kernel::PyKernelBandit>()?;
    m.add_class::<kernel::PyGPUCB>()?;
    m.add_class::<kernel::PyBKB>()?;
    m.add_class::<env::PyBernoulliEnv>()?;
    m.add_class::<env::PyGaussianEnv>()?;
    m.add_class::<env::PyTableEnv>()?;
    m.add_class::<env::PyPiecewiseBernoulliEnv>()?;
    m.add_class::<stream::PyStreamBandit>()?;
    m.add_class::<stream::PyUniformExploration>()?;
    m.add_class::<stream::PyNaiveEpsilonBest>()?;
    m.add_class::<stream::PyGameOfArms>()?;
    m.add_class::<stream::PyAggressiveSelectivePromotion>()?;
    m.add_function(wrap_pyfunction!(simulate::_simulate, m)?)?;
    m.add_function(wrap_pyfunction!(stream::_simulate_stream, m)?)?;
    m.add_class::<ope::PyOffPolicyAccumulator>()?;
    m.add_function(wrap_pyfunction!(ope::_ope_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(ope::_replay, m)?)?;
    m.add_class::<cascade::PyCascadeBandit>()?;
    m.add_class::<cascade::PyCascadeUCB1>()?;
    m.add_class::<cascade::PyCascadeKLUCB>()?;
    m.add_class::<cascade::PyCascadeLinUCB>()?;
    m.add_function(wrap_pyfunction!(cascade::simulate_cascade_py, m)?)?;
    m.add_function(wrap_pyfunction!(budget::allocate_rollouts, m)?)?;
    m.add_class::<budget::PyPrimalDualBwK>()?;
    m.add_class::<budget::PyKnapsackEnv>()?;
    m.add_class::<budget::PyHATCH>()?;
    m.add_class::<dynlin::PyDynLinUCB>()?;
    m.add_class::<dynlin::PyMyopicLinUCB>()?;
    m.add_class::<dynlin::PyDynamicalLinearEnv>()?;
    m.add_function(wrap_pyfunction!(dynlin::simulate_dynlin, m)?)?;
    m.add_function(wrap_pyfunction!(cascading_rl::best_perm, m)?)?;
    m.add_class::<cascading_rl::PyCascadingVI>()?;
    m.add_class::<cascading_rl::PyCascadingMDP>()?;
    m.add_class::<service::PyServiceCore>()?;
    reactive::add_classes(m)?;
    m.add_class::<service::PyDecision>()?;
    // The class names of each family's core registry, which Python's lists derive from.
    let names = |list: &[&str]| pyo3::types::PyTuple::new(m.py(), list);
    m.add(
        "CONTEXTUAL_NAMES",
        names(&regretless_core::contextual::registry::NAMES)?,
    )?;
    m.add(
        "KERNEL_NAMES",
        names(&regretless_core::kernel::registry::NAMES)?,
    )?;
    m.add(
        "STREAM_NAMES",
        names(&regretless_core::stream::registry::NAMES)?,
    )?;
    m.add(
        "CASCADE_NAMES",
        names(&regretless_core::cascade::registry::NAMES)?,
    )?;
    m.add("FORMAT_VERSION", regretless_core::state::FORMAT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
