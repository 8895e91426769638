//! `regretless._core._ServiceCore`: the hot path of `regretless.DecisionService` (decide,
//! reward, the window sweep) over the core's service pieces (`regretless_core::service`),
//! and `regretless.Decision`, what a decision returns.
//!
//! It owns the learned policy, the published model (an `Arc` swapped every
//! `publish_every` learned rewards, so deciding threads never wait for learning or copy
//! the policy), the join table, the sequence counter, the service clock and the log
//! writer. The Python class does recovery, snapshots and exports, and the checks of
//! unusual inputs (this type calls `regretless.service`'s helpers for those, so the errors
//! are the same); what this type logs is byte for byte what the Python service logs.
//!
//! The cost of a decision: one lock of the log order, one keyed hash of the event id (the
//! key block precompressed), one allocation for the id in the join table, the record
//! encoded straight into the writer's batch, and for a multi-armed policy no probability
//! computation at all: the published model is immutable, so its distribution (and that of
//! each recent arm mask) is computed once per model version and shared, with the numpy
//! array every `Decision` of that version returns (read-only over immutable bytes).

use crate::errors::{invalid_parameter, reward_error, shape_error, IntoPyResult};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use regretless_core::contextual::AnyContextual;
use regretless_core::eligible::{Eligible, EligibleRows};
use regretless_core::policy::AnyPolicy;
use regretless_core::service::record::{
    encode_decision, encode_expire, encode_publish, encode_reward, MAX_EVENT_ID_BYTES,
};
use regretless_core::service::{
    draw, Durability, JoinTable, Keyed, LogWriter, Lookup, RewardStatus, WriterConfig,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A policy of either family the service takes.
#[derive(Clone)]
enum Model {
    Bandit(AnyPolicy),
    Contextual(AnyContextual),
}

impl Model {
    fn decode(contextual: bool, bytes: &[u8]) -> regretless_core::Result<Self> {
        Ok(if contextual {
            Model::Contextual(AnyContextual::decode(bytes)?)
        } else {
            Model::Bandit(AnyPolicy::decode(bytes)?)
        })
    }

    fn encode(&self) -> regretless_core::Result<Vec<u8>> {
        match self {
            Model::Bandit(p) => p.encode(),
            Model::Contextual(p) => p.encode(),
        }
    }

    /// The decision's distribution: what `policy.probabilities(...)` returns in Python for
    /// the same model, context and (sorted, distinct) eligible arms, so replay agrees.
    fn probabilities(
        &self,
        x: Option<&[f64]>,
        eligible: Option<&[u32]>,
    ) -> regretless_core::Result<Vec<f64>> {
        let mask = |n_arms: usize| {
            eligible
                .map(|e| {
                    let idx: Vec<i64> = e.iter().map(|&a| i64::from(a)).collect();
                    Eligible::from_indices(&idx, n_arms)
                })
                .transpose()
        };
        match self {
            Model::Bandit(p) => match mask(p.n_arms())? {
                None => Ok(p.probabilities()),
                Some(e) => p.probabilities_eligible(&e),
            },
            Model::Contextual(p) => {
                let x = x.unwrap_or(&[]);
                match mask(p.n_arms())? {
                    None => p.probabilities_batch_ref(x, None),
                    Some(e) => p.probabilities_batch_eligible(x, None, &EligibleRows::Shared(e)),
                }
            }
        }
    }

    fn learn(&mut self, action: u32, x: Option<&[f64]>, value: f64) -> regretless_core::Result<()> {
        match self {
            Model::Bandit(p) => p.update(i64::from(action), value),
            Model::Contextual(p) => p.update(x.unwrap_or(&[]), i64::from(action), value, 1.0),
        }
    }
}

const COUNT_NAMES: [&str; 7] = [
    "decisions",
    "joined",
    "late",
    "duplicate",
    "unknown",
    "defaulted",
    "unlearned",
];
const DECISIONS: usize = 0;
const DEFAULTED: usize = 5;
const UNLEARNED: usize = 6;

fn count_index(status: RewardStatus) -> usize {
    match status {
        RewardStatus::Joined => 1,
        RewardStatus::Late => 2,
        RewardStatus::Duplicate => 3,
        RewardStatus::Unknown | RewardStatus::Pending => 4,
    }
}

/// The status's name as an interned Python string (no new object per reward).
fn status_str(py: Python<'_>, status: RewardStatus) -> Bound<'_, PyString> {
    match status {
        RewardStatus::Joined => pyo3::intern!(py, "joined").clone(),
        RewardStatus::Pending => pyo3::intern!(py, "pending").clone(),
        RewardStatus::Late => pyo3::intern!(py, "late").clone(),
        RewardStatus::Unknown => pyo3::intern!(py, "unknown").clone(),
        RewardStatus::Duplicate => pyo3::intern!(py, "duplicate").clone(),
    }
}

/// A distribution of the published model computed once: for the deciding threads' draw
/// and log record (`probs`) and for the callers (`array`, read-only over immutable bytes,
/// shared by every `Decision` that drew from it).
struct Dist {
    probs: Vec<f64>,
    /// Made by the first decision that drew from it, after it released the order lock
    /// (no Python code runs under that lock).
    array: Option<Py<PyAny>>,
}

/// The distributions of one model version of a multi-armed policy (its probabilities do
/// not depend on the request): without a mask, and for the most recent masks.
struct DistCache {
    version: u64,
    all: Option<Dist>,
    masked: Vec<(Box<[u32]>, Dist)>,
}

/// Masks whose distribution is kept per model version.
const MASKS_CACHED: usize = 16;

/// Everything that changes in log order (the order lock).
struct Order {
    seq: u64,
    table: JoinTable,
    counts: [u64; 7],
    version: u64,
    model: Arc<Model>,
    cache: DistCache,
    /// Records encoded and not yet handed to the writer, and how many.
    batch: Vec<u8>,
    n_batch: usize,
}

/// Records buffered in the order lock before they go to the writer (long `reward_many`).
const BATCH_BYTES: usize = 1 << 16;

impl Order {
    /// Takes the next sequence number and encodes a record with it into the batch.
    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>, u64)) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        encode(&mut self.batch, seq);
        self.n_batch += 1;
        seq
    }

    /// Hands the batch to the writer (order lock held: records go in sequence order).
    fn submit(&mut self, writer: &LogWriter) {
        if self.n_batch > 0 {
            writer.submit_many(self.seq, self.n_batch, &self.batch);
            self.batch.clear();
            self.n_batch = 0;
        }
    }
}

/// The learner and its count towards the next publication (the learn lock, taken first).
struct Learn {
    learner: Model,
    since_publish: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A helper of `regretless.service` (the checks of unusual inputs, in one place).
fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || py.import("regretless.service").map(Bound::unbind))?;
    m.bind(py).getattr(name)
}

/// A read-only numpy vector over immutable bytes (it cannot be made writeable again).
fn frozen_array(py: Python<'_>, values: &[f64]) -> PyResult<Py<PyAny>> {
    static FROMBUFFER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f = FROMBUFFER.import(py, "numpy", "frombuffer")?;
    Ok(f.call1((PyBytes::new(py, &bytes), "<f8"))?.unbind())
}

/// A read-only numpy vector of `values` (the logged distribution of one decision).
fn readonly_array<'py>(py: Python<'py>, values: &[f64]) -> Bound<'py, PyAny> {
    let arr = PyArray1::from_slice(py, values);
    // SAFETY: `arr` was just created here and no other reference to it exists; clearing
    // its WRITEABLE flag is what `ndarray.setflags(write=False)` does.
    unsafe {
        (*arr.as_array_ptr()).flags &= !numpy::npyffi::flags::NPY_ARRAY_WRITEABLE;
    }
    arr.into_any()
}

fn check_event_id(py: Python<'_>, event_id: &str) -> PyResult<()> {
    if event_id.is_empty() {
        return Err(invalid_parameter(
            py,
            "event_id: expected a non-empty string".into(),
        ));
    }
    if event_id.len() > MAX_EVENT_ID_BYTES {
        return Err(invalid_parameter(
            py,
            format!("event_id: at most {MAX_EVENT_ID_BYTES} bytes of UTF-8"),
        ));
    }
    Ok(())
}

/// An event id argument: a non-empty str of at most `MAX_EVENT_ID_BYTES` bytes of UTF-8.
fn event_id_arg<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyString>, &'a str)> {
    let py = obj.py();
    let Ok(s) = obj.cast::<PyString>() else {
        return Err(invalid_parameter(
            py,
            "event_id: expected a non-empty string".into(),
        ));
    };
    let text = s.to_str()?;
    check_event_id(py, text)?;
    Ok((s, text))
}

/// A reward value: a finite float (anything else goes through `_check_value`).
fn value_arg(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        let v = f.value();
        if v.is_finite() {
            return Ok(v);
        }
    }
    helper(obj.py(), "_check_value")?.call1((obj,))?.extract()
}

/// A fresh event id, `<prefix>-<count>`, written into `buf` (no allocation).
fn write_fresh_id<'b>(buf: &'b mut [u8; 96], prefix: &str, n: u64) -> Option<&'b str> {
    let p = prefix.len();
    if p + 21 > buf.len() {
        return None;
    }
    buf[..p].copy_from_slice(prefix.as_bytes());
    buf[p] = b'-';
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut m = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    let d = digits.len() - i;
    buf[p + 1..p + 1 + d].copy_from_slice(&digits[i..]);
    std::str::from_utf8(&buf[..p + 1 + d]).ok()
}

/// What a decision returns: the event id to send the reward with, the arm chosen (its
/// name when the service has ``arms=``, else its index), the distribution it was drawn
/// from over every arm in order (0 for ineligible arms; read-only, exactly as logged) and
/// the version of the model that decided.
///
/// >>> import numpy as np
/// >>> from regretless import Decision
/// >>> d = Decision("e1", 0, np.array([1.0]), 0)
/// >>> d.action, d.event_id, d.model_version
/// (0, 'e1', 0)
#[pyclass(frozen, module = "regretless._core", name = "Decision")]
pub struct PyDecision {
    /// The id to send the reward with.
    #[pyo3(get)]
    event_id: Py<PyAny>,
    /// The arm chosen (its name when the service has ``arms=``, else its index).
    #[pyo3(get)]
    action: Py<PyAny>,
    /// The distribution the arm was drawn from, over every arm in order, as logged.
    #[pyo3(get)]
    probabilities: Py<PyAny>,
    /// The version of the model that decided.
    #[pyo3(get)]
    model_version: u64,
}

#[pymethods]
impl PyDecision {
    #[new]
    fn new(
        event_id: Py<PyAny>,
        action: Py<PyAny>,
        probabilities: Py<PyAny>,
        model_version: u64,
    ) -> Self {
        Self {
            event_id,
            action,
            probabilities,
            model_version,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Decision(event_id={}, action={}, probabilities={}, model_version={})",
            self.event_id.bind(py).repr()?,
            self.action.bind(py).repr()?,
            self.probabilities.bind(py).repr()?,
            self.model_version
        ))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let d = slf.get();
        let args = (
            d.event_id.clone_ref(py),
            d.action.clone_ref(py),
            d.probabilities.clone_ref(py),
            d.model_version,
        );
        PyTuple::new(
            py,
            [
                slf.get_type().into_any(),
                args.into_pyobject(py)?.into_any(),
            ],
        )
    }
}

/// The decision service's state and hot path (internal: used by `DecisionService`).
#[pyclass(frozen, module = "regretless._core", name = "_ServiceCore")]
pub struct PyServiceCore {
    keyed: Keyed,
    n_arms: usize,
    dim: Option<usize>,
    default_reward: Option<f64>,
    publish_every: u64,
    commit: bool,
    id_prefix: String,
    id_count: AtomicU64,
    /// Arm names (`arms=`): what decisions return, and name -> index for `eligible`.
    arm_names: Option<Vec<Py<PyString>>>,
    arm_index: Option<Py<PyDict>>,
    open: AtomicBool,
    base: Instant,
    /// Service clock at `base`, as f64 bits (moved by tests and on recovery).
    clock_offset: AtomicU64,
    learn: Mutex<Learn>,
    order: Mutex<Order>,
    writer: LogWriter,
}

/// One decision's distribution, turned into a Python object after the order lock.
enum Drawn {
    /// The shared array of a distribution of the published model.
    Shared(Py<PyAny>),
    /// A cached distribution with no array yet (the first decision of a model version
    /// and mask): its array is made and stored in the cache under `mask`.
    Uncached {
        probs: Vec<f64>,
        mask: Option<Box<[u32]>>,
    },
    /// A distribution computed for this decision (contextual policies).
    Own(Vec<f64>),
}

impl PyServiceCore {
    fn clock(&self) -> f64 {
        self.base.elapsed().as_secs_f64()
            + f64::from_bits(self.clock_offset.load(Ordering::Relaxed))
    }

    fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        if self.open.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(invalid_parameter(py, "the service is closed".into()))
        }
    }

    fn wait_durable(&self, py: Python<'_>, seq: u64) -> PyResult<()> {
        if !self.commit {
            return Ok(());
        }
        let writer = &self.writer;
        py.detach(|| writer.wait_durable(seq)).map_err(PyErr::from)
    }

    /// The eligible arms as sorted distinct indices (None: every arm). A list of ints is
    /// read here; every other form goes through `regretless.service._eligible_arg`.
    fn eligible_arg(&self, obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u32>>> {
        let py = obj.py();
        if obj.is_none() {
            return Ok(None);
        }
        if let Ok(list) = obj.cast_exact::<PyList>() {
            let mut idx = Vec::with_capacity(list.len());
            let mut plain = true;
            for item in list.iter() {
                match item.cast_exact::<PyInt>().ok().map(|i| i.extract::<i64>()) {
                    Some(Ok(a)) => idx.push(a),
                    _ => {
                        plain = false; // bools, names, big ints...: the Python rules
                        break;
                    }
                }
            }
            if plain && !idx.is_empty() {
                let n = self.n_arms as i64;
                if idx.iter().any(|&a| a < 0 || a >= n) {
                    return Err(crate::errors::arm_error(
                        py,
                        format!("eligible: arm indices must be in [0, {n})"),
                    ));
                }
                let mut out: Vec<u32> = idx.into_iter().map(|a| a as u32).collect();
                out.sort_unstable();
                out.dedup();
                return Ok(Some(out));
            }
        }
        let index = match &self.arm_index {
            Some(d) => d.clone_ref(py).into_any(),
            None => py.None(),
        };
        let arr = helper(py, "_eligible_arg")?.call1((obj, self.n_arms, index))?;
        let v: Vec<i64> = arr.extract()?;
        Ok(Some(v.into_iter().map(|a| a as u32).collect()))
    }

    /// A multi-armed model's distribution for this version and mask, from the cache
    /// (computed on a miss).
    fn cached<'o>(
        py: Python<'_>,
        o: &'o mut Order,
        eligible: Option<&[u32]>,
    ) -> PyResult<&'o mut Dist> {
        if o.cache.version != o.version {
            o.cache = DistCache {
                version: o.version,
                all: None,
                masked: Vec::new(),
            };
        }
        let model = Arc::clone(&o.model);
        let compute = |e: Option<&[u32]>| -> PyResult<Dist> {
            let probs = model.probabilities(None, e).py_err(py)?;
            Ok(Dist { probs, array: None })
        };
        match eligible {
            None => {
                if o.cache.all.is_none() {
                    o.cache.all = Some(compute(None)?);
                }
                Ok(o.cache.all.as_mut().expect("just filled"))
            }
            Some(e) => {
                let pos = match o.cache.masked.iter().position(|(m, _)| **m == *e) {
                    Some(i) => i,
                    None => {
                        let d = compute(Some(e))?;
                        if o.cache.masked.len() >= MASKS_CACHED {
                            o.cache.masked.remove(0);
                        }
                        o.cache.masked.push((e.into(), d));
                        o.cache.masked.len() - 1
                    }
                };
                Ok(&mut o.cache.masked[pos].1)
            }
        }
    }

    /// Stores the array made for a cached distribution (if the cache still holds it).
    fn store_array(&self, py: Python<'_>, version: u64, mask: Option<&[u32]>, array: &Py<PyAny>) {
        let mut o = lock(&self.order);
        if o.cache.version != version {
            return;
        }
        let slot = match mask {
            None => o.cache.all.as_mut(),
            Some(e) => o
                .cache
                .masked
                .iter_mut()
                .find(|(m, _)| **m == *e)
                .map(|(_, d)| d),
        };
        if let Some(d) = slot {
            if d.array.is_none() {
                d.array = Some(array.clone_ref(py));
            }
        }
    }

    /// Counts a learned reward and publishes a new model when due (both locks held).
    fn learned(&self, learn: &mut Learn, o: &mut Order, now: f64) {
        learn.since_publish += 1;
        if learn.since_publish >= self.publish_every {
            let version = o.version + 1;
            o.emit(|out, seq| encode_publish(out, seq, now, wall(), version));
            o.version = version;
            o.model = Arc::new(learn.learner.clone());
            learn.since_publish = 0;
        }
    }

    /// Closes the windows that have run out by `now` (both locks held).
    fn sweep_in(&self, py: Python<'_>, learn: &mut Learn, o: &mut Order, now: f64) -> PyResult<()> {
        let applied = self.default_reward.is_some();
        let value = self.default_reward.unwrap_or(0.0);
        while let Some(p) = o.table.oldest_due(now) {
            if applied {
                learn
                    .learner
                    .learn(p.action, p.context.as_deref(), value)
                    .py_err(py)?;
            }
            let Some((event_id, _)) = o.table.expire_next(now) else {
                break; // unreachable: oldest_due saw it
            };
            let w = wall();
            o.emit(|out, seq| {
                // The id was checked when it was decided.
                let _ = encode_expire(out, seq, now, w, &event_id, applied, value);
            });
            o.counts[if applied { DEFAULTED } else { UNLEARNED }] += 1;
            if applied {
                self.learned(learn, o, now);
            }
        }
        o.table.forget_closed(now);
        Ok(())
    }

    /// One checked reward (both locks held); its record goes to the batch.
    fn reward_in(
        &self,
        py: Python<'_>,
        learn: &mut Learn,
        o: &mut Order,
        event_id: &str,
        value: f64,
        now: f64,
    ) -> PyResult<RewardStatus> {
        let status = match o.table.lookup(event_id) {
            Lookup::Pending(p) => {
                learn
                    .learner
                    .learn(p.action, p.context.as_deref(), value)
                    .py_err(py)?; // refused: nothing changed
                o.table.join(event_id, now);
                RewardStatus::Joined
            }
            Lookup::Closed { by_reward: true } => RewardStatus::Duplicate,
            Lookup::Closed { by_reward: false } => RewardStatus::Late,
            Lookup::Unknown => {
                o.counts[count_index(RewardStatus::Unknown)] += 1;
                return Ok(RewardStatus::Unknown);
            }
        };
        let w = wall();
        o.emit(|out, seq| {
            let _ = encode_reward(out, seq, now, w, event_id, value, status); // id checked
        });
        o.counts[count_index(status)] += 1;
        if status == RewardStatus::Joined {
            self.learned(learn, o, now);
        }
        Ok(status)
    }
}

fn durability_arg(py: Python<'_>, s: &str) -> PyResult<Durability> {
    Ok(match s {
        "none" => Durability::None,
        "batch" => Durability::Batch,
        "commit" => Durability::Commit,
        _ => return Err(invalid_parameter(py, format!("durability: unknown {s:?}"))),
    })
}

#[pymethods]
impl PyServiceCore {
    /// Starts the service's state at a log position: the learner and published model
    /// (bytes), the join table and counters (from a snapshot and its replay), and a writer
    /// appending from `seq + 1`.
    #[new]
    #[pyo3(signature = (*, log_dir, contextual, learner, published, version, seq, since_publish,
        counts, pending, closed, clock, key, n_arms, dim, reward_wait, default_reward,
        publish_every, durability, segment_bytes, fsync_interval, id_prefix, arms=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        log_dir: &str,
        contextual: bool,
        learner: &[u8],
        published: &[u8],
        version: u64,
        seq: u64,
        since_publish: u64,
        counts: &Bound<'_, PyDict>,
        pending: Vec<(String, u32, Option<Vec<f64>>, f64)>,
        closed: Vec<(String, f64, bool)>,
        clock: f64,
        key: u64,
        n_arms: usize,
        dim: Option<usize>,
        reward_wait: f64,
        default_reward: Option<f64>,
        publish_every: u64,
        durability: &str,
        segment_bytes: u64,
        fsync_interval: f64,
        id_prefix: String,
        arms: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let durability = durability_arg(py, durability)?;
        let learner = Model::decode(contextual, learner).py_err(py)?;
        let model = Arc::new(Model::decode(contextual, published).py_err(py)?);
        let mut table = JoinTable::new(reward_wait);
        for (eid, action, ctx, deadline) in &pending {
            table.insert_pending(eid, *action, ctx.as_deref(), *deadline);
        }
        for (eid, t, by_reward) in &closed {
            table.insert_closed(eid, *t, *by_reward);
        }
        let mut c = [0u64; 7];
        for (i, name) in COUNT_NAMES.iter().enumerate() {
            if let Some(v) = counts.get_item(name)? {
                c[i] = v.extract()?;
            }
        }
        let (arm_names, arm_index) = match arms {
            None => (None, None),
            Some(names) => {
                if names.len() != n_arms {
                    return Err(shape_error(
                        py,
                        format!("arms: expected {n_arms} names, got {}", names.len()),
                    ));
                }
                let index = PyDict::new(py);
                let mut out = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let s = PyString::new(py, name);
                    index.set_item(&s, i)?;
                    out.push(s.unbind());
                }
                (Some(out), Some(index.unbind()))
            }
        };
        let config = WriterConfig {
            durability,
            segment_bytes,
            fsync_interval: Duration::from_secs_f64(fsync_interval.max(0.0)),
            ..WriterConfig::default()
        };
        let writer = LogWriter::start(Path::new(log_dir), seq + 1, config)?;
        Ok(Self {
            keyed: Keyed::new(key),
            n_arms,
            dim,
            default_reward,
            publish_every: publish_every.max(1),
            commit: durability == Durability::Commit,
            id_prefix,
            id_count: AtomicU64::new(0),
            arm_names,
            arm_index,
            open: AtomicBool::new(true),
            base: Instant::now(),
            clock_offset: AtomicU64::new(clock.to_bits()),
            learn: Mutex::new(Learn {
                learner,
                since_publish,
            }),
            order: Mutex::new(Order {
                seq,
                table,
                counts: c,
                version,
                model,
                cache: DistCache {
                    version: u64::MAX,
                    all: None,
                    masked: Vec::new(),
                },
                batch: Vec::with_capacity(1024),
                n_batch: 0,
            }),
            writer,
        })
    }

    /// `DecisionService.decide`: one decision, logged, as a `Decision`.
    #[pyo3(signature = (context=None, *, eligible=None, event_id=None))]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'py, PyAny>>,
        eligible: Option<&Bound<'py, PyAny>>,
        event_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDecision>> {
        self.check_open(py)?;
        let context = context.filter(|c| !c.is_none());
        // The context: a finite float64 vector of `dim` entries (other forms and the
        // errors through `regretless.service._context_arg`).
        let checked: Option<Bound<'py, PyArray1<f64>>> = match (self.dim, context) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(shape_error(
                    py,
                    "context: this service's policy takes no context (give None)".into(),
                ));
            }
            (Some(d), c) => {
                let fast = c
                    .and_then(|c| c.cast::<PyArray1<f64>>().ok())
                    .filter(|a| a.len() == d && a.is_contiguous())
                    .cloned();
                let arr = match fast {
                    Some(a) => a,
                    None => helper(py, "_context_arg")?
                        .call1((c.map_or_else(|| py.None(), |c| c.clone().unbind()), d))?
                        .cast_into::<PyArray1<f64>>()?,
                };
                Some(arr)
            }
        };
        let ctx_ro: Option<PyReadonlyArray1<'py, f64>> = checked.as_ref().map(|a| a.readonly());
        let x: Option<&[f64]> = match &ctx_ro {
            Some(a) => {
                let x = a.as_slice()?;
                if !x.iter().all(|v| v.is_finite()) {
                    return Err(invalid_parameter(
                        py,
                        "context: every feature must be finite".into(),
                    ));
                }
                Some(x)
            }
            None => None,
        };
        let elig = match eligible {
            Some(e) => self.eligible_arg(e)?,
            None => None,
        };
        if elig.as_ref().is_some_and(|e| e.is_empty()) {
            return Err(crate::errors::arm_error(
                py,
                "eligible: no eligible arm".into(),
            ));
        }
        let mut id_buf = [0u8; 96];
        let fresh: String;
        let (given, eid): (Option<&Bound<'py, PyString>>, &str) =
            match event_id.filter(|e| !e.is_none()) {
                Some(obj) => {
                    let (s, text) = event_id_arg(obj)?;
                    (Some(s), text)
                }
                None => {
                    let n = self.id_count.fetch_add(1, Ordering::Relaxed);
                    match write_fresh_id(&mut id_buf, &self.id_prefix, n) {
                        Some(text) => (None, text),
                        None => {
                            fresh = format!("{}-{n}", self.id_prefix);
                            (None, fresh.as_str())
                        }
                    }
                }
            };
        let u = self.keyed.uniform(eid);
        let elig_ref = elig.as_deref();
        let (seq, action, version, drawn) = loop {
            let mut o = lock(&self.order);
            let version = o.version;
            let (action, drawn) = if self.dim.is_none() {
                let dist = Self::cached(py, &mut o, elig_ref)?;
                let action = draw(&dist.probs, u, elig_ref).py_err(py)?;
                let drawn = match &dist.array {
                    Some(a) => Drawn::Shared(a.clone_ref(py)),
                    None => Drawn::Uncached {
                        probs: dist.probs.clone(),
                        mask: elig_ref.map(Box::from),
                    },
                };
                (action, drawn)
            } else {
                // A contextual distribution depends on the request: computed outside the
                // lock from the model of this version, which must still be current.
                let model = Arc::clone(&o.model);
                drop(o);
                let probs = model.probabilities(x, elig_ref).py_err(py)?;
                if probs.len() != self.n_arms {
                    return Err(crate::errors::incompatible_error(
                        py,
                        format!("the policy returned ({},) probabilities", probs.len()),
                    ));
                }
                let action = draw(&probs, u, elig_ref).py_err(py)?;
                o = lock(&self.order);
                if o.version != version {
                    continue; // a new model came out meanwhile: decide again
                }
                (action, Drawn::Own(probs))
            };
            let now = self.clock();
            let o: &mut Order = &mut o; // one borrow of the guard: disjoint fields below
            if !o.table.open(eid, action as u32, x, now) {
                return Err(invalid_parameter(
                    py,
                    format!("event_id: {eid:?} is already in use"),
                ));
            }
            let probs: &[f64] = match &drawn {
                Drawn::Own(p) | Drawn::Uncached { probs: p, .. } => p,
                Drawn::Shared(_) => match elig_ref {
                    None => &o.cache.all.as_ref().expect("cached above").probs,
                    Some(e) => {
                        let (_, d) = o
                            .cache
                            .masked
                            .iter()
                            .find(|(m, _)| **m == *e)
                            .expect("cached above");
                        &d.probs
                    }
                },
            };
            let seq = o.seq + 1;
            let encoded = encode_decision(
                &mut o.batch,
                seq,
                now,
                wall(),
                eid,
                action as u32,
                version,
                probs,
                x,
                elig_ref,
            );
            if let Err(e) = encoded {
                o.table.cancel(eid);
                return Err(crate::errors::to_py(py, e));
            }
            o.seq = seq;
            o.n_batch += 1;
            o.counts[DECISIONS] += 1;
            o.submit(&self.writer);
            break (seq, action, version, drawn);
        };
        drop(ctx_ro);
        self.wait_durable(py, seq)?;
        let event_id = match given {
            Some(s) => s.clone().into_any().unbind(),
            None => PyString::new(py, eid).into_any().unbind(),
        };
        let action = match &self.arm_names {
            Some(names) => names[action].clone_ref(py).into_any(),
            None => action.into_pyobject(py)?.into_any().unbind(),
        };
        let probabilities = match drawn {
            Drawn::Shared(a) => a,
            Drawn::Uncached { probs, mask } => {
                let array = frozen_array(py, &probs)?;
                self.store_array(py, version, mask.as_deref(), &array);
                array
            }
            Drawn::Own(p) => readonly_array(py, &p).unbind(),
        };
        Bound::new(
            py,
            PyDecision {
                event_id,
                action,
                probabilities,
                model_version: version,
            },
        )
    }

    /// `DecisionService.reward`: "joined", "duplicate", "late" or "unknown".
    fn reward<'py>(
        &self,
        py: Python<'py>,
        event_id: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyString>> {
        self.check_open(py)?;
        let (_, eid) = event_id_arg(event_id)?;
        let value = value_arg(value)?;
        let (status, seq) = {
            let mut learn = lock(&self.learn);
            let mut o = lock(&self.order);
            let now = self.clock();
            let swept = self.sweep_in(py, &mut learn, &mut o, now);
            let status =
                swept.and_then(|()| self.reward_in(py, &mut learn, &mut o, eid, value, now));
            o.submit(&self.writer);
            (status?, o.seq)
        };
        if status != RewardStatus::Unknown {
            self.wait_durable(py, seq)?;
        }
        Ok(status_str(py, status))
    }

    /// Many rewards in one call, in order, each as `reward` would answer it (one lock of
    /// the log order and one hand-over to the writer per batch); with durability "commit",
    /// returns once all of them are on disk. Stops at the first value the policy refuses
    /// (raised; the earlier ones stand). `event_ids` a list of str, `values` finite floats.
    fn reward_many<'py>(
        &self,
        py: Python<'py>,
        event_ids: &Bound<'py, PyList>,
        values: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check_open(py)?;
        let vals = values.as_slice()?;
        if event_ids.len() != vals.len() {
            return Err(shape_error(
                py,
                format!(
                    "values: expected {} values (one per event id), got {}",
                    event_ids.len(),
                    vals.len()
                ),
            ));
        }
        let items: Vec<Bound<'py, PyAny>> = event_ids.iter().collect();
        let mut ids: Vec<&str> = Vec::with_capacity(items.len());
        for item in &items {
            ids.push(event_id_arg(item)?.1);
        }
        if let Some(v) = vals.iter().find(|v| !v.is_finite()) {
            return Err(reward_error(
                py,
                format!("values: expected finite numbers, got {v}"),
            ));
        }
        let mut out = Vec::with_capacity(vals.len());
        let (result, last) = {
            let mut learn = lock(&self.learn);
            let mut o = lock(&self.order);
            let now = self.clock();
            let mut result = self.sweep_in(py, &mut learn, &mut o, now);
            if result.is_ok() {
                for (eid, &v) in ids.iter().zip(vals) {
                    match self.reward_in(py, &mut learn, &mut o, eid, v, now) {
                        Ok(status) => out.push(status),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                    if o.batch.len() >= BATCH_BYTES {
                        o.submit(&self.writer);
                    }
                }
            }
            o.submit(&self.writer);
            (result, o.seq)
        };
        result?;
        if out.iter().any(|&s| s != RewardStatus::Unknown) {
            self.wait_durable(py, last)?;
        }
        PyList::new(py, out.into_iter().map(|s| status_str(py, s)))
    }

    /// Closes the reward windows that have run out.
    fn sweep(&self, py: Python<'_>) -> PyResult<()> {
        let mut learn = lock(&self.learn);
        let mut o = lock(&self.order);
        let now = self.clock();
        let result = self.sweep_in(py, &mut learn, &mut o, now);
        o.submit(&self.writer);
        result
    }

    /// The state a snapshot holds: (header dict, learner bytes, published bytes).
    fn capture<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let learn = lock(&self.learn);
        let o = lock(&self.order);
        let header = PyDict::new(py);
        header.set_item("seq", o.seq)?;
        header.set_item("clock", self.clock())?;
        header.set_item("model_version", o.version)?;
        header.set_item("since_publish", learn.since_publish)?;
        let counts = PyDict::new(py);
        for (name, v) in COUNT_NAMES.iter().zip(o.counts) {
            counts.set_item(name, v)?;
        }
        header.set_item("counts", counts)?;
        let pending = PyList::empty(py);
        for (eid, p) in o.table.pending() {
            let ctx = p.context.as_ref().map(|c| c.to_vec());
            pending.append((eid, p.action, ctx, p.deadline))?;
        }
        header.set_item("pending", pending)?;
        let closed = PyList::empty(py);
        for (eid, t, by_reward) in o.table.closed() {
            closed.append((eid, t, by_reward))?;
        }
        header.set_item("closed", closed)?;
        let learner = learn.learner.encode().py_err(py)?;
        let model = o.model.encode().py_err(py)?;
        Ok((header, PyBytes::new(py, &learner), PyBytes::new(py, &model)))
    }

    /// The learned policy's bytes.
    fn learner_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = lock(&self.learn).learner.encode().py_err(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[getter]
    fn model_version(&self) -> u64 {
        lock(&self.order).version
    }

    #[getter]
    fn last_seq(&self) -> u64 {
        lock(&self.order).seq
    }

    /// The service clock (seconds).
    fn clock_now(&self) -> f64 {
        self.clock()
    }

    /// Sets the service clock to `clock` seconds now.
    fn set_clock(&self, clock: f64) {
        let offset = clock - self.base.elapsed().as_secs_f64();
        self.clock_offset.store(offset.to_bits(), Ordering::Relaxed);
    }

    /// Counters and log figures (see DecisionService.stats).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        {
            let o = lock(&self.order);
            for (name, v) in COUNT_NAMES.iter().zip(o.counts) {
                out.set_item(name, v)?;
            }
            out.set_item("pending", o.table.n_pending())?;
            out.set_item("model_version", o.version)?;
            out.set_item("last_seq", o.seq)?;
        }
        let w = &self.writer;
        out.set_item("durable_seq", w.durable_seq())?;
        out.set_item("log_bytes", w.bytes_written())?;
        out.set_item("fsyncs", w.fsyncs())?;
        out.set_item("dropped", w.dropped())?;
        out.set_item("log_error", w.error().map(|e| e.to_string()))?;
        Ok(out)
    }

    /// Writes and fsyncs every record so far.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let writer = &self.writer;
        py.detach(|| writer.flush()).map_err(PyErr::from)
    }

    /// Refuses further calls and stops the writer (after writing what is queued).
    fn close(&self, py: Python<'_>) {
        self.open.store(false, Ordering::Relaxed);
        let writer = &self.writer;
        py.detach(|| writer.close());
    }

    /// Whether the writer thread has stopped.
    fn writer_stopped(&self) -> bool {
        self.writer.is_stopped()
    }

    /// Makes every later log write fail with OS error `code` (tests of a full disk).
    fn fail_writes_with(&self, code: i32) {
        self.writer.fail_writes_with(code);
    }
}
