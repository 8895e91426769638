//! `regretless._core._ServiceCore`: the hot path of `regretless.DecisionService` (decide,
//! reward, the window sweep) over the core's service pieces (`regretless_core::service`).
//!
//! It owns the learned policy, the published model (an `Arc` swapped every
//! `publish_every` learned rewards, so deciding threads never wait for learning or copy
//! the policy), the join table, the sequence counter, the service clock and the log
//! writer. The Python class validates unusual inputs and does recovery, snapshots and
//! exports; what this type logs is byte for byte what the Python service logs.

use crate::errors::{invalid_parameter, reward_error, shape_error, IntoPyResult};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use regretless_core::contextual::AnyContextual;
use regretless_core::policy::AnyPolicy;
use regretless_core::service::record::{encode_decision, MAX_EVENT_ID_BYTES};
use regretless_core::service::{
    draw, uniform, Body, Durability, JoinTable, LogWriter, Lookup, Record, RewardStatus,
    WriterConfig,
};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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

    fn probabilities(&self, x: Option<&[f64]>) -> regretless_core::Result<Vec<f64>> {
        match self {
            Model::Bandit(p) => Ok(p.probabilities()),
            Model::Contextual(p) => p.probabilities_batch_ref(x.unwrap_or(&[]), None),
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

/// Everything that changes in log order (the order lock).
struct Order {
    seq: u64,
    table: JoinTable,
    counts: [u64; 7],
    version: u64,
    model: Arc<Model>,
    /// Records the writer was handed, for the log-order submit.
    scratch: Vec<u8>,
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

/// The decision service's state and hot path (internal: used by `DecisionService`).
#[pyclass(frozen, module = "regretless._core", name = "_ServiceCore")]
pub struct PyServiceCore {
    key: u64,
    n_arms: usize,
    dim: Option<usize>,
    default_reward: Option<f64>,
    publish_every: u64,
    commit: bool,
    id_prefix: String,
    id_count: AtomicU64,
    base: Instant,
    /// Service clock at `base`, as f64 bits (moved by tests and on recovery).
    clock_offset: AtomicU64,
    learn: Mutex<Learn>,
    order: Mutex<Order>,
    writer: LogWriter,
}

impl PyServiceCore {
    fn clock(&self) -> f64 {
        self.base.elapsed().as_secs_f64()
            + f64::from_bits(self.clock_offset.load(Ordering::Relaxed))
    }

    /// A fresh event id: the service's random prefix and a count.
    fn fresh_event_id(&self) -> String {
        let n = self.id_count.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }

    /// Hands a record to the writer (order lock held: records go in sequence order).
    fn submit(&self, py: Python<'_>, order: &mut Order, record: &Record) -> PyResult<()> {
        order.scratch.clear();
        record.encode_into(&mut order.scratch).py_err(py)?;
        self.writer.submit(record.seq, &order.scratch);
        Ok(())
    }

    fn wait_durable(&self, py: Python<'_>, seq: u64) -> PyResult<()> {
        if !self.commit {
            return Ok(());
        }
        let writer = &self.writer;
        py.detach(|| writer.wait_durable(seq)).map_err(PyErr::from)
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

    /// Counts a learned reward and publishes a new model when due (learn lock held).
    fn learned(&self, py: Python<'_>, learn: &mut Learn) -> PyResult<()> {
        learn.since_publish += 1;
        if learn.since_publish >= self.publish_every {
            let model = Arc::new(learn.learner.clone());
            let mut o = lock(&self.order);
            let version = o.version + 1;
            o.seq += 1;
            let record = Record {
                seq: o.seq,
                clock: self.clock(),
                wall: wall(),
                body: Body::Publish {
                    model_version: version,
                },
            };
            self.submit(py, &mut o, &record)?;
            o.version = version;
            o.model = model;
            learn.since_publish = 0;
        }
        Ok(())
    }

    /// Closes the windows that have run out (learn lock held).
    fn sweep_locked(&self, py: Python<'_>, learn: &mut Learn) -> PyResult<()> {
        let now = self.clock();
        loop {
            let expired = {
                let mut o = lock(&self.order);
                match o.table.oldest_due(now) {
                    Some(p) => (p.action, p.context.clone()),
                    None => break,
                }
            };
            let (action, context) = expired;
            let applied = self.default_reward.is_some();
            if let Some(v) = self.default_reward {
                learn
                    .learner
                    .learn(action, context.as_deref(), v)
                    .py_err(py)?;
            }
            let mut o = lock(&self.order);
            let Some((event_id, _)) = o.table.expire_next(now) else {
                break; // unreachable: the learn lock keeps others from closing windows
            };
            o.seq += 1;
            let record = Record {
                seq: o.seq,
                clock: now,
                wall: wall(),
                body: Body::Expire {
                    event_id: event_id.into(),
                    applied,
                    value: self.default_reward.unwrap_or(0.0),
                },
            };
            self.submit(py, &mut o, &record)?;
            o.counts[if applied { DEFAULTED } else { UNLEARNED }] += 1;
            drop(o);
            if applied {
                self.learned(py, learn)?;
            }
        }
        lock(&self.order).table.forget_closed(now);
        Ok(())
    }

    fn reward_one(
        &self,
        py: Python<'_>,
        learn: &mut Learn,
        event_id: &str,
        value: f64,
    ) -> PyResult<(RewardStatus, u64)> {
        let status = match pending_of(&self.order, event_id) {
            Some((action, context)) => {
                learn
                    .learner
                    .learn(action, context.as_deref(), value)
                    .py_err(py)?; // refused: nothing changed
                RewardStatus::Joined
            }
            None => {
                let mut o = lock(&self.order);
                match o.table.lookup(event_id) {
                    Lookup::Closed { by_reward: true } => RewardStatus::Duplicate,
                    Lookup::Closed { by_reward: false } => RewardStatus::Late,
                    _ => {
                        o.counts[count_index(RewardStatus::Unknown)] += 1;
                        return Ok((RewardStatus::Unknown, 0));
                    }
                }
            }
        };
        let seq = {
            let mut o = lock(&self.order);
            if status == RewardStatus::Joined {
                o.table.join(event_id, self.clock());
            }
            o.seq += 1;
            let record = Record {
                seq: o.seq,
                clock: self.clock(),
                wall: wall(),
                body: Body::Reward {
                    event_id: event_id.into(),
                    value,
                    status,
                },
            };
            self.submit(py, &mut o, &record)?;
            o.counts[count_index(status)] += 1;
            o.seq
        };
        if status == RewardStatus::Joined {
            self.learned(py, learn)?;
        }
        Ok((status, seq))
    }
}

/// The (action, context) of a pending decision, None when the id is not pending.
fn pending_of(order: &Mutex<Order>, event_id: &str) -> Option<(u32, Option<Box<[f64]>>)> {
    match lock(order).table.lookup(event_id) {
        Lookup::Pending(p) => Some((p.action, p.context.clone())),
        _ => None,
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
        publish_every, durability, segment_bytes, fsync_interval, id_prefix))]
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
        let config = WriterConfig {
            durability,
            segment_bytes,
            fsync_interval: Duration::from_secs_f64(fsync_interval.max(0.0)),
            ..WriterConfig::default()
        };
        let writer = LogWriter::start(Path::new(log_dir), seq + 1, config)?;
        Ok(Self {
            key,
            n_arms,
            dim,
            default_reward,
            publish_every: publish_every.max(1),
            commit: durability == Durability::Commit,
            id_prefix,
            id_count: AtomicU64::new(0),
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
                scratch: Vec::with_capacity(256),
            }),
            writer,
        })
    }

    /// One decision: `(event_id, arm index, probabilities, model version)`. `context` must
    /// already be a checked float64 vector (contextual services) or None; `event_id` None
    /// takes a fresh id.
    #[pyo3(signature = (context=None, event_id=None))]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        context: Option<PyReadonlyArray1<'py, f64>>,
        event_id: Option<String>,
    ) -> PyResult<(String, usize, Bound<'py, PyArray1<f64>>, u64)> {
        let ctx_ro = context;
        let x: Option<&[f64]> = match &ctx_ro {
            Some(a) => Some(a.as_slice()?),
            None => None,
        };
        match (self.dim, x) {
            (Some(d), Some(x)) if x.len() == d => {}
            (None, None) => {}
            (Some(d), _) => {
                return Err(shape_error(py, format!("context: expected {d} features")));
            }
            (None, Some(_)) => {
                return Err(shape_error(
                    py,
                    "context: this service's policy takes no context (give None)".into(),
                ));
            }
        }
        let eid = match event_id {
            Some(e) => {
                Self::check_event_id(py, &e)?;
                e
            }
            None => self.fresh_event_id(),
        };
        let u = uniform(self.key, &eid);
        let (version, probs, action, seq) = loop {
            let (version, model) = {
                let o = lock(&self.order);
                (o.version, Arc::clone(&o.model))
            };
            let probs = model.probabilities(x).py_err(py)?;
            if probs.len() != self.n_arms {
                return Err(crate::errors::incompatible_error(
                    py,
                    format!("the policy returned ({},) probabilities", probs.len()),
                ));
            }
            let action = draw(&probs, u, None).py_err(py)?;
            let mut o = lock(&self.order);
            if o.version != version {
                continue; // a new model came out meanwhile: decide again
            }
            if o.table.in_use(&eid) {
                return Err(invalid_parameter(
                    py,
                    format!("event_id: {eid:?} is already in use"),
                ));
            }
            o.seq += 1;
            let seq = o.seq;
            let clock = self.clock();
            o.scratch.clear();
            let mut scratch = std::mem::take(&mut o.scratch);
            let encoded = encode_decision(
                &mut scratch,
                seq,
                clock,
                wall(),
                &eid,
                action as u32,
                version,
                &probs,
                x,
                None,
            );
            if let Err(e) = encoded {
                o.seq -= 1;
                o.scratch = scratch;
                return Err(crate::errors::to_py(py, e));
            }
            self.writer.submit(seq, &scratch);
            o.scratch = scratch;
            o.table.open(&eid, action as u32, x, clock);
            o.counts[DECISIONS] += 1;
            break (version, probs, action, seq);
        };
        self.wait_durable(py, seq)?;
        let arr = PyArray1::from_vec(py, probs);
        // The logged vector: the caller gets it read-only.
        arr.readwrite().make_nonwriteable();
        Ok((eid, action, arr, version))
    }

    /// Logs a decision whose probabilities the caller computed (masks): returns its
    /// sequence number, or None when the model changed since `version` (decide again).
    #[pyo3(signature = (version, event_id, action, probabilities, context, eligible))]
    #[allow(clippy::too_many_arguments)] // one record's fields
    fn log_decision(
        &self,
        py: Python<'_>,
        version: u64,
        event_id: &str,
        action: u32,
        probabilities: PyReadonlyArray1<'_, f64>,
        context: Option<PyReadonlyArray1<'_, f64>>,
        eligible: Option<Vec<u32>>,
    ) -> PyResult<Option<u64>> {
        Self::check_event_id(py, event_id)?;
        let probs = probabilities.as_slice()?;
        let x = match &context {
            Some(a) => Some(a.as_slice()?),
            None => None,
        };
        let seq = {
            let mut o = lock(&self.order);
            if o.version != version {
                return Ok(None);
            }
            if o.table.in_use(event_id) {
                return Err(invalid_parameter(
                    py,
                    format!("event_id: {event_id:?} is already in use"),
                ));
            }
            let seq = o.seq + 1;
            let clock = self.clock();
            let record = Record {
                seq,
                clock,
                wall: wall(),
                body: Body::Decision {
                    event_id: event_id.into(),
                    action,
                    model_version: version,
                    probabilities: probs.to_vec(),
                    context: x.map(<[f64]>::to_vec),
                    eligible,
                },
            };
            self.submit(py, &mut o, &record)?;
            o.seq = seq;
            o.table.open(event_id, action, x, clock);
            o.counts[DECISIONS] += 1;
            seq
        };
        self.wait_durable(py, seq)?;
        Ok(Some(seq))
    }

    /// A fresh event id (what `decide` takes when given none).
    fn new_event_id(&self) -> String {
        self.fresh_event_id()
    }

    /// The published model: (version, its bytes).
    fn published<'py>(&self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyBytes>)> {
        let (version, model) = {
            let o = lock(&self.order);
            (o.version, Arc::clone(&o.model))
        };
        let bytes = model.encode().py_err(py)?;
        Ok((version, PyBytes::new(py, &bytes)))
    }

    /// One reward: "joined", "duplicate", "late" or "unknown" (see DecisionService.reward).
    fn reward(&self, py: Python<'_>, event_id: &str, value: f64) -> PyResult<&'static str> {
        Self::check_event_id(py, event_id)?;
        if !value.is_finite() {
            return Err(reward_error(
                py,
                format!("value: expected a finite number, got {value}"),
            ));
        }
        let (status, seq) = {
            let mut learn = lock(&self.learn);
            self.sweep_locked(py, &mut learn)?;
            self.reward_one(py, &mut learn, event_id, value)?
        };
        if status != RewardStatus::Unknown {
            self.wait_durable(py, seq)?;
        }
        Ok(status.name())
    }

    /// Many rewards in one call, in order, each as `reward` would answer it; with
    /// durability "commit", returns once all of them are on disk. Stops at the first value
    /// the policy refuses (raised; the earlier ones stand).
    fn reward_many(
        &self,
        py: Python<'_>,
        event_ids: Vec<String>,
        values: Vec<f64>,
    ) -> PyResult<Vec<&'static str>> {
        if event_ids.len() != values.len() {
            return Err(shape_error(
                py,
                format!(
                    "values: expected {} values (one per event id), got {}",
                    event_ids.len(),
                    values.len()
                ),
            ));
        }
        for (eid, v) in event_ids.iter().zip(&values) {
            Self::check_event_id(py, eid)?;
            if !v.is_finite() {
                return Err(reward_error(
                    py,
                    format!("values: expected finite numbers, got {v}"),
                ));
            }
        }
        let mut out = Vec::with_capacity(values.len());
        let mut last = 0;
        {
            let mut learn = lock(&self.learn);
            self.sweep_locked(py, &mut learn)?;
            for (eid, &v) in event_ids.iter().zip(&values) {
                let (status, seq) = self.reward_one(py, &mut learn, eid, v)?;
                last = last.max(seq);
                out.push(status.name());
            }
        }
        if last > 0 {
            self.wait_durable(py, last)?;
        }
        Ok(out)
    }

    /// Closes the reward windows that have run out.
    fn sweep(&self, py: Python<'_>) -> PyResult<()> {
        let mut learn = lock(&self.learn);
        self.sweep_locked(py, &mut learn)
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

    /// Stops the writer (after writing what is queued).
    fn close(&self, py: Python<'_>) {
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
