//! `regretless.SharedSketchLinUCB` and `regretless.SharedSketchLinTS`: one parameter vector
//! over arm features (a decision is an (n_actions, dim) matrix, n_actions free per call) on
//! one Frequent Directions sketch. Their own classes, outside `ContextualBandit`, whose
//! decisions take one context for all arms.

use crate::convert::{owned_float64, owned_float64_nd, real_arg, seed_arg, top_k_arg, Owned};
use crate::errors::shape_error;
use pyo3::prelude::*;
use regretless_core::contextual::{SharedSketchLinTS, SharedSketchLinUCB};
use std::sync::Mutex;

/// Decisions read from `x`: (n_actions, dim) for one, (n, n_actions, dim) for a batch.
pub(crate) struct Decisions {
    pub data: Owned<f64>,
    pub n: usize,
    pub n_actions: usize,
    /// True for the 3-D (batch) layout.
    pub batch: bool,
}

/// Reads `x` as one decision (2-D) when `single`, as a batch (3-D) when `batch`, or either.
pub(crate) fn decisions(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    name: &str,
    dim: usize,
    single: bool,
    batch: bool,
) -> PyResult<Decisions> {
    let (data, shape) = owned_float64_nd(x, name)?;
    let expected = match (single, batch) {
        (true, false) => format!("(n_actions, {dim})"),
        (false, true) => format!("(n, n_actions, {dim})"),
        _ => format!("(n_actions, {dim}) or (n, n_actions, {dim})"),
    };
    let ok =
        shape.last() == Some(&dim) && ((single && shape.len() == 2) || (batch && shape.len() == 3));
    if !ok {
        return Err(shape_error(
            py,
            format!("{name}: expected the action features as an array of shape {expected}, got {shape:?}"),
        ));
    }
    let (n, n_actions, batch) = if shape.len() == 3 {
        (shape[0], shape[1], true)
    } else {
        (1, shape[0], false)
    };
    if n_actions == 0 {
        return Err(shape_error(
            py,
            format!("{name}: a decision needs at least one action, got shape {shape:?}"),
        ));
    }
    Ok(Decisions {
        data,
        n,
        n_actions,
        batch,
    })
}

/// A 1-D feature vector of `dim` values, or an (n, dim) matrix.
pub(crate) fn rows(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    name: &str,
    dim: usize,
    ndim: usize,
) -> PyResult<Owned<f64>> {
    let (data, shape) = owned_float64_nd(x, name)?;
    if shape.len() != ndim || shape.last() != Some(&dim) {
        let expected = if ndim == 1 {
            format!("({dim},), the played action's features")
        } else {
            format!("(n, {dim}), the played actions' features")
        };
        return Err(shape_error(
            py,
            format!("{name}: expected shape {expected}, got {shape:?}"),
        ));
    }
    Ok(data)
}

/// The methods both classes share (each is a few lines over the core's generic policy).
macro_rules! shared_sketch_methods {
    ($py_ty:ident, $core:ident) => {
        impl $py_ty {
            fn wrap(core: $core) -> Self {
                let dim = core.dim();
                Self {
                    inner: std::sync::Mutex::new(core),
                    dim,
                }
            }

            /// A per-action matrix of the decisions read into `dec`: 1-D for one
            /// decision, 2-D (n, cols) for a batch.
            #[allow(clippy::type_complexity)]
            fn per_action<'py, T: numpy::Element + Send>(
                &self,
                py: pyo3::Python<'py>,
                dec: $crate::shared_sketch::Decisions,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
                cols: usize,
                f: impl FnOnce(
                        &$core,
                        &[f64],
                        usize,
                        usize,
                        Option<&regretless_core::eligible::EligibleRows>,
                    ) -> regretless_core::Result<Vec<T>>
                    + Send,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                use crate::errors::IntoPyResult;
                use numpy::PyArrayMethods;
                let xs = dec.data.as_slice()?;
                let (n, na) = (dec.n, dec.n_actions);
                let rows = crate::eligible::eligible_rows_arg(eligible, n, || na)?;
                let out = crate::convert::with_lock_detached(py, &self.inner, |p| {
                    f(p, xs, n, na, rows.as_ref())
                })
                .py_err(py)?;
                let arr = numpy::PyArray1::from_vec(py, out);
                if dec.batch {
                    Ok(arr.reshape([n, cols])?.into_any())
                } else {
                    Ok(arr.into_any())
                }
            }

            /// [`Self::per_action`] of `x` read as one decision or a batch, n_actions
            /// columns.
            #[allow(clippy::type_complexity)]
            fn per_action_f64<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
                f: impl FnOnce(
                        &$core,
                        &[f64],
                        usize,
                        usize,
                        Option<&regretless_core::eligible::EligibleRows>,
                    ) -> regretless_core::Result<Vec<f64>>
                    + Send,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                let dec = $crate::shared_sketch::decisions(py, x, "x", self.dim, true, true)?;
                let cols = dec.n_actions;
                self.per_action(py, dec, eligible, cols, f)
            }
        }

        crate::persist::state_methods!($py_ty => $core);
        crate::persist::merge_method!(
            $py_ty,
            $core::merge,
            "Add another replica's data (same dim and hyperparameters). The Frequent\nDirections sketches merge by stacking and shrinking: with ``sketch_size >= dim``\nthe result equals one policy fitted on both data sets; with a smaller sketch it\nstays within the Frequent Directions bound of the combined rows\n(``0 <= X^T X - S^T S <= shrinkage * I``) but differs from the sketch of the\nconcatenated data. ``b`` adds exactly. Raises IncompatibleError, changing nothing,\nwhen dim or a hyperparameter differs or the update count would exceed 2**64 - 1."
        );

        #[pyo3::pymethods]
        impl $py_ty {
            /// Choose an action for one decision: ``x`` holds the features of its
            /// actions, shape (n_actions, dim) (n_actions may change from call to call).
            /// ``eligible`` (a boolean mask of length n_actions or distinct action
            /// indices) restricts the choice to those actions. Returns the row index.
            #[pyo3(signature = (x, *, eligible = None))]
            fn select(
                &self,
                py: pyo3::Python<'_>,
                x: &pyo3::Bound<'_, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<usize> {
                use crate::errors::IntoPyResult;
                let dec = $crate::shared_sketch::decisions(py, x, "x", self.dim, true, false)?;
                let xs = dec.data.as_slice()?;
                let na = dec.n_actions;
                let e = crate::eligible::eligible_arg(eligible, || na)?;
                crate::convert::with_lock(py, &self.inner, |p| p.select(xs, na, e.as_ref()))
                    .py_err(py)
            }

            /// One decision per entry of ``X`` (n, n_actions, dim), no feedback between
            /// them (the loop of ``select``, the GIL released); int64 (n,). ``eligible``:
            /// one set of actions for every decision, or a boolean mask (n, n_actions).
            #[pyo3(signature = (X, *, eligible = None))]
            #[allow(non_snake_case)]
            fn select_batch<'py>(
                &self,
                py: pyo3::Python<'py>,
                X: &pyo3::Bound<'py, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<i64>>> {
                use crate::errors::IntoPyResult;
                let dec = $crate::shared_sketch::decisions(py, X, "X", self.dim, false, true)?;
                let xs = dec.data.as_slice()?;
                let (n, na) = (dec.n, dec.n_actions);
                let rows = crate::eligible::eligible_rows_arg(eligible, n, || na)?;
                let arms = crate::convert::with_lock_detached(py, &self.inner, |p| {
                    p.select_batch(xs, n, na, rows.as_ref())
                })
                .py_err(py)?;
                Ok(numpy::PyArray1::from_vec(
                    py,
                    arms.into_iter().map(|a| a as i64).collect(),
                ))
            }

            /// Record the reward observed after playing an action whose features are
            /// ``x`` (dim,), with an optional importance weight (>= 0).
            #[pyo3(signature = (x, reward, weight = 1.0))]
            fn update(
                &self,
                py: pyo3::Python<'_>,
                x: &pyo3::Bound<'_, pyo3::PyAny>,
                reward: &pyo3::Bound<'_, pyo3::PyAny>,
                #[pyo3(from_py_with = crate::convert::scalar::weight)] weight: f64,
            ) -> pyo3::PyResult<()> {
                use crate::errors::IntoPyResult;
                let xs = $crate::shared_sketch::rows(py, x, "x", self.dim, 1)?;
                let reward = real_arg(reward, "reward")?;
                let xs = xs.as_slice()?;
                crate::convert::with_lock(py, &self.inner, |p| p.update(xs, reward, weight))
                    .py_err(py)
            }

            /// Record many played actions at once: their features ``X`` (n, dim),
            /// ``rewards`` (n,) and optional importance ``weights`` (n,) >= 0, in order
            /// (the same sketch as the loop of ``update``; the GIL released). Every row is
            /// validated before any is recorded.
            #[pyo3(signature = (X, rewards, weights = None))]
            #[allow(non_snake_case)]
            fn update_batch(
                &self,
                py: pyo3::Python<'_>,
                X: &pyo3::Bound<'_, pyo3::PyAny>,
                rewards: &pyo3::Bound<'_, pyo3::PyAny>,
                weights: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<()> {
                use crate::errors::IntoPyResult;
                let xs = $crate::shared_sketch::rows(py, X, "X", self.dim, 2)?;
                let rewards = owned_float64(rewards, "rewards")?;
                let weights = weights
                    .filter(|w| !w.is_none())
                    .map(|w| owned_float64(w, "weights"))
                    .transpose()?;
                let (xs, r) = (xs.as_slice()?, rewards.as_slice()?);
                let w = match &weights {
                    Some(w) => Some(w.as_slice()?),
                    None => None,
                };
                crate::convert::with_lock_detached(py, &self.inner, |p| p.update_batch(xs, r, w))
                    .py_err(py)
            }

            /// The decision rule's score of every action: (n_actions,) for one decision
            /// ``x`` (n_actions, dim), (n, n_actions) for a batch (n, n_actions, dim). The
            /// UCB index, or the posterior mean for Thompson sampling. With ``eligible``
            /// (as in ``select`` / ``select_batch``), -inf for ineligible actions.
            #[pyo3(signature = (x, *, eligible = None))]
            fn scores<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                self.per_action_f64(py, x, eligible, |p, xs, n, na, e| {
                    p.scores(xs, n, na, e)
                })
            }

            /// The law of the next decision (shapes as ``scores``): uniform over the
            /// best actions for the UCB rule; a Monte Carlo estimate (4096 draws) for
            /// Thompson sampling. With ``eligible``, 0 outside, renormalized inside.
            #[pyo3(signature = (x, *, eligible = None))]
            fn probabilities<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                self.per_action_f64(py, x, eligible, |p, xs, n, na, e| {
                    p.probabilities(xs, n, na, e)
                })
            }

            /// Estimated mean reward ``x_a^T theta`` of every action (shapes as
            /// ``scores``).
            fn mean<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                self.per_action_f64(py, x, None, |p, xs, n, na, _| p.mean(xs, n, na))
            }

            /// Confidence width ``sqrt(x_a^T A^{-1} x_a)`` of every action (shapes as
            /// ``scores``).
            fn width<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                self.per_action_f64(py, x, None, |p, xs, n, na, _| p.width(xs, n, na))
            }

            /// The ``k`` best actions by score, best first: int64 (k,) for one decision,
            /// (n, k) for a batch. With ``eligible``, the ``k`` best eligible actions.
            #[pyo3(signature = (x, k, *, eligible = None))]
            fn top_k<'py>(
                &self,
                py: pyo3::Python<'py>,
                x: &pyo3::Bound<'py, pyo3::PyAny>,
                k: &pyo3::Bound<'py, pyo3::PyAny>,
                eligible: Option<&pyo3::Bound<'py, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                let dec = $crate::shared_sketch::decisions(py, x, "x", self.dim, true, true)?;
                let k = top_k_arg(k, dec.n_actions)?;
                self.per_action(py, dec, eligible, k, move |p, xs, n, na, e| {
                    p.top_k(xs, n, na, k, e)
                        .map(|v| v.into_iter().map(|a| a as i64).collect())
                })
            }

            /// The shared coefficients ``theta = A^{-1} b``: (dim,).
            fn coefficients<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::Bound<'py, numpy::PyArray1<f64>> {
                let v = crate::convert::with_lock(py, &self.inner, |p| p.coefficients().to_vec());
                numpy::PyArray1::from_vec(py, v)
            }

            /// The sketch ``S`` (its filled rows, at most 2 sketch_size, each dim
            /// values): ``S^T S`` approximates ``sum w x x^T`` from below, within
            /// ``shrinkage``.
            fn sketch<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray2<f64>>> {
                use numpy::PyArrayMethods;
                let (r, v) = crate::convert::with_lock(py, &self.inner, |p| {
                    let fd = p.sketch();
                    (fd.filled, fd.rows[..fd.filled * fd.dim].to_vec())
                });
                numpy::PyArray1::from_vec(py, v).reshape([r, self.dim])
            }

            /// The sketch's accumulated shrinkage Delta (the sum of the deltas removed):
            /// ``0 <= X^T X - S^T S <= Delta I``; 0 while nothing was dropped.
            #[getter]
            fn shrinkage(&self, py: pyo3::Python<'_>) -> f64 {
                crate::convert::with_lock(py, &self.inner, |p| p.sketch().shrinkage)
            }

            /// Number of features of an action.
            #[getter]
            fn dim(&self) -> usize {
                self.dim
            }

            /// Rows kept by the Frequent Directions sketch (m).
            #[getter]
            fn sketch_size(&self, py: pyo3::Python<'_>) -> usize {
                crate::convert::with_lock(py, &self.inner, |p| p.sketch_size())
            }

            /// Whether the regularizer adds half the sketch's shrinkage (Robust FD).
            #[getter]
            fn robust(&self, py: pyo3::Python<'_>) -> bool {
                crate::convert::with_lock(py, &self.inner, |p| p.robust())
            }

            /// The ridge regularization of ``A = S^T S + lam I``.
            #[getter]
            fn lam(&self, py: pyo3::Python<'_>) -> f64 {
                crate::convert::with_lock(py, &self.inner, |p| p.lam())
            }

            /// Total number of rows recorded.
            #[getter]
            fn n_updates(&self, py: pyo3::Python<'_>) -> u64 {
                crate::convert::with_lock(py, &self.inner, |p| p.n_updates())
            }

            fn __repr__(&self, py: pyo3::Python<'_>) -> String {
                crate::convert::with_lock(py, &self.inner, |p| {
                    format!(
                        "{}(dim={}, {})",
                        <$core as regretless_core::state::Persist>::KIND,
                        p.dim(),
                        p.describe_params()
                    )
                })
            }
        }
    };
}

/// Sketched LinUCB with one parameter vector over arm features (SOFUL: Kuzborskij, Cella
/// and Cesa-Bianchi, AISTATS 2019), the setting of Vowpal Wabbit's ``--cb_explore_adf``:
/// each decision offers the features of its actions, an (n_actions, dim) array
/// (n_actions may change from call to call), and one model ``r = x_a^T theta + noise``
/// scores them all.
///
/// One Frequent Directions sketch ``S`` of ``m = sketch_size`` rows holds the played
/// actions' (weighted) features; the score of action a is
/// ``x_a^T theta + alpha sqrt(x_a^T A^{-1} x_a)`` with ``A = S^T S + lam I`` and
/// ``theta = A^{-1} b``, ``b = sum w r x`` kept exactly, through the Woodbury identity on
/// an ``m x m`` factor: O(m dim) per action scored and per row learned. ``robust=True``
/// adds half the sketch's accumulated shrinkage to ``lam`` (Robust Frequent Directions, as
/// in Chen et al. 2020). With ``sketch_size >= dim`` nothing is dropped and it equals
/// exact shared-parameter LinUCB (OFUL, ``A = lam I + sum x x^T``) up to rounding.
/// ``seed`` breaks ties. Mergeable: exactly so when ``sketch_size >= dim``, otherwise
/// within the Frequent Directions bound (see ``merge``).
///
/// Limits: features ``|x| <= 1e30``, weights in [0, 1e30], rewards ``|r| <= 1e100``,
/// ``lam`` in [1e-30, 1e30]. Beyond them a call raises and changes nothing.
///
/// >>> import numpy as np, regretless
/// >>> rng = np.random.default_rng(0)
/// >>> policy = regretless.SharedSketchLinUCB(dim=16, sketch_size=4, alpha=0.1, seed=0)
/// >>> theta = np.zeros(16); theta[0] = 1.0
/// >>> for _ in range(200):
/// ...     actions = rng.normal(size=(5, 16))   # 5 candidate actions this round
/// ...     a = policy.select(actions)
/// ...     policy.update(actions[a], actions[a] @ theta)
/// >>> policy.select(np.eye(16)[:3])   # the action along theta wins
/// 0
/// >>> policy.n_updates
/// 200
#[pyclass(name = "SharedSketchLinUCB", module = "regretless", frozen)]
pub struct PySharedSketchLinUCB {
    inner: Mutex<SharedSketchLinUCB>,
    dim: usize,
}

shared_sketch_methods!(PySharedSketchLinUCB, SharedSketchLinUCB);

#[pymethods]
impl PySharedSketchLinUCB {
    #[new]
    #[pyo3(signature = (dim, *, sketch_size = 32, alpha = 1.0, lam = 1.0, robust = false, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        #[pyo3(from_py_with = crate::shared_sketch::sketch_size_arg)] sketch_size: usize,
        alpha: f64,
        lam: f64,
        robust: bool,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        use crate::errors::IntoPyResult;
        let seed = seed_arg(seed)?;
        Ok(Self::wrap(
            SharedSketchLinUCB::new(dim, sketch_size, robust, alpha, lam, seed).py_err(py)?,
        ))
    }

    /// The exploration coefficient of the UCB index.
    #[getter]
    fn alpha(&self, py: Python<'_>) -> f64 {
        crate::convert::with_lock(py, &self.inner, |p| p.rule().alpha)
    }
}

/// Linear Thompson sampling with one parameter vector over arm features, on the shared
/// Frequent Directions sketch of :class:`SharedSketchLinUCB` (same model, same
/// ``sketch_size``, ``robust``, ``lam``). Each decision draws the score of every action
/// from ``N(x_a^T theta, v^2 x_a^T A^{-1} x_a)``, independently per action in index
/// order, then takes the argmax: the sampling of :class:`LinTS` and
/// :class:`SketchedLinTS` (per-action marginals of the posterior, not one joint draw of
/// theta, so a decision costs O(m dim) per action without a d x d factor). With
/// ``sketch_size >= dim`` it makes the same draws and decisions as the exact
/// shared-parameter formula (``A = lam I + sum x x^T``) up to rounding. ``scores`` returns
/// posterior means; ``probabilities`` a Monte Carlo estimate (4096 draws, seeded from the
/// policy's state and the decision's features). ``seed`` drives the draws.
///
/// >>> import numpy as np, regretless
/// >>> policy = regretless.SharedSketchLinTS(dim=8, sketch_size=4, v=0.2, seed=1)
/// >>> actions = np.eye(8)[:3]
/// >>> a = policy.select(actions)
/// >>> policy.update(actions[a], 1.0)
/// >>> policy.n_updates, policy.probabilities(actions).shape
/// (1, (3,))
#[pyclass(name = "SharedSketchLinTS", module = "regretless", frozen)]
pub struct PySharedSketchLinTS {
    inner: Mutex<SharedSketchLinTS>,
    dim: usize,
}

shared_sketch_methods!(PySharedSketchLinTS, SharedSketchLinTS);

#[pymethods]
impl PySharedSketchLinTS {
    #[new]
    #[pyo3(signature = (dim, *, sketch_size = 32, v = 0.2, lam = 1.0, robust = false, seed = None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::convert::size::dim)] dim: usize,
        #[pyo3(from_py_with = crate::shared_sketch::sketch_size_arg)] sketch_size: usize,
        v: f64,
        lam: f64,
        robust: bool,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        use crate::errors::IntoPyResult;
        let seed = seed_arg(seed)?;
        Ok(Self::wrap(
            SharedSketchLinTS::new(dim, sketch_size, robust, v, lam, seed).py_err(py)?,
        ))
    }

    /// The scale of the posterior draws.
    #[getter]
    fn v(&self, py: Python<'_>) -> f64 {
        crate::convert::with_lock(py, &self.inner, |p| p.rule().v)
    }
}

/// `sketch_size` as a size argument (a regretless error naming it for a bad value).
pub(crate) fn sketch_size_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    crate::convert::size_arg(obj, "sketch_size")
}
