//! The log writer thread: appends framed records to the segment files of a log directory,
//! with the behaviour of `regretless._eventlog.LogWriter`.
//!
//! Callers hand over encoded records with [`LogWriter::submit`] into one shared buffer
//! (bounded: a caller waits while `max_queue` records are buffered), so they do no disk
//! I/O; the thread takes the whole buffer at once, writes it, and fsyncs per the
//! durability: `None` never, `Batch` at most every `fsync_interval`, `Commit` after every
//! batch (group commit: one fsync for every record that arrived meanwhile), which
//! [`LogWriter::wait_durable`] waits for. After a failed write or fsync (a full disk) the
//! writer keeps taking records, counts them as dropped, and `wait_durable` / `flush`
//! return the error.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::record::SEGMENT_MAGIC;

/// When the log reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written without fsync.
    None,
    /// fsync at most every `fsync_interval`.
    Batch,
    /// fsync every batch; `wait_durable` returns once a record is fsynced.
    Commit,
}

/// How a [`LogWriter`] writes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub durability: Durability,
    /// Size past which a new segment starts.
    pub segment_bytes: u64,
    pub fsync_interval: Duration,
    /// Records buffered before `submit` waits.
    pub max_queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Batch,
            segment_bytes: 64 << 20,
            fsync_interval: Duration::from_millis(50),
            max_queue: 1 << 16,
        }
    }
}

/// The name of the segment whose first record has sequence number `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.log")
}

/// fsync a directory (after creating or renaming a file in it).
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

struct Queue {
    buf: Vec<u8>,
    n_records: usize,
    submitted: u64,
    flush_wanted: bool,
    closing: bool,
    idle: bool,
    blocked: usize,
}

struct Progress {
    durable: u64,
    handled: u64,
    error: Option<StoredError>,
}

/// A write error kept to be returned to every waiter (io::Error is not Clone).
struct StoredError {
    os_code: Option<i32>,
    kind: io::ErrorKind,
    message: String,
}

impl StoredError {
    fn new(e: &io::Error) -> Self {
        Self {
            os_code: e.raw_os_error(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
    fn rebuild(&self) -> io::Error {
        match self.os_code {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    space: Condvar,
    progress: Mutex<Progress>,
    durable_changed: Condvar,
    dropped: AtomicU64,
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
    /// An OS error code every write fails with from now on (0: none), for fault tests.
    injected: AtomicI32,
    config: WriterConfig,
    wake_at: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain counters: still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer thread of one log directory.
pub struct LogWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LogWriter {
    /// Starts a new segment `seg-<first_seq>.log` in `log_dir` (fsynced with its
    /// directory) and the thread that writes to it.
    pub fn start(log_dir: &Path, first_seq: u64, config: WriterConfig) -> io::Result<Self> {
        let file = open_segment(log_dir, first_seq)?;
        let last = first_seq.saturating_sub(1);
        let wake_at = (config.max_queue / 4).max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                buf: Vec::new(),
                n_records: 0,
                submitted: last,
                flush_wanted: false,
                closing: false,
                idle: false,
                blocked: 0,
            }),
            work: Condvar::new(),
            space: Condvar::new(),
            progress: Mutex::new(Progress {
                durable: last,
                handled: last,
                error: None,
            }),
            durable_changed: Condvar::new(),
            dropped: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            injected: AtomicI32::new(0),
            config,
            wake_at,
        });
        let thread_shared = Arc::clone(&shared);
        let dir = log_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("regretless-log".into())
            .spawn(move || run(&thread_shared, dir, file, last))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands over the framed bytes of the record with sequence number `seq` (records must
    /// come in sequence order: submit under the lock that hands out the numbers). Waits
    /// while `max_queue` records are buffered.
    pub fn submit(&self, seq: u64, framed: &[u8]) {
        let appended: Result<(), std::convert::Infallible> = self.submit_with(seq, |buf| {
            buf.extend_from_slice(framed);
            Ok(())
        });
        let Ok(()) = appended;
    }

    /// Hands over `n_records` framed records at once, the last with sequence number
    /// `last_seq` (one lock for a batch; in sequence order as for [`submit`](Self::submit)).
    pub fn submit_many(&self, last_seq: u64, n_records: usize, framed: &[u8]) {
        if n_records == 0 {
            return;
        }
        let s = &*self.shared;
        let mut q = lock(&s.queue);
        while q.n_records >= s.config.max_queue && !q.closing {
            q.blocked += 1;
            q = s.space.wait(q).unwrap_or_else(|e| e.into_inner());
            q.blocked -= 1;
        }
        q.buf.extend_from_slice(framed);
        q.n_records += n_records;
        q.submitted = last_seq;
        if q.idle && (s.config.durability == Durability::Commit || q.n_records >= s.wake_at) {
            s.work.notify_one();
        }
    }

    /// As [`submit`](Self::submit), encoding straight into the shared buffer (no copy).
    /// `encode` must append exactly one framed record, or nothing and return the error.
    pub fn submit_with<E>(
        &self,
        seq: u64,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: Sized,
    {
        let s = &*self.shared;
        let mut q = lock(&s.queue);
        while q.n_records >= s.config.max_queue && !q.closing {
            q.blocked += 1;
            q = s.space.wait(q).unwrap_or_else(|e| e.into_inner());
            q.blocked -= 1;
        }
        encode(&mut q.buf)?;
        q.n_records += 1;
        q.submitted = seq;
        // Waking the writer costs the caller a syscall: only a commit (which waits for it)
        // or a long queue does; otherwise the writer polls.
        if q.idle && (s.config.durability == Durability::Commit || q.n_records >= s.wake_at) {
            s.work.notify_one();
        }
        Ok(())
    }

    /// The last record fsynced (or written, with durability `None`).
    pub fn durable_seq(&self) -> u64 {
        lock(&self.shared.progress).durable
    }

    /// Returns once record `seq` is durable; the write error if the writer failed it.
    pub fn wait_durable(&self, seq: u64) -> io::Result<()> {
        let s = &*self.shared;
        let mut p = lock(&s.progress);
        while p.durable < seq {
            if let Some(e) = &p.error {
                if p.handled >= seq {
                    return Err(e.rebuild());
                }
            }
            p = s.durable_changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }

    /// Writes and fsyncs everything submitted so far.
    pub fn flush(&self) -> io::Result<()> {
        let target = {
            let mut q = lock(&self.shared.queue);
            q.flush_wanted = true;
            self.shared.work.notify_all();
            q.submitted
        };
        self.wait_durable(target)
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<io::Error> {
        lock(&self.shared.progress)
            .error
            .as_ref()
            .map(StoredError::rebuild)
    }

    /// Records dropped after a write error.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }

    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// Makes every later write fail with OS error `code` (e.g. 28, no space left), as a
    /// full disk would: for tests of the service's behaviour on write errors.
    pub fn fail_writes_with(&self, code: i32) {
        self.shared.injected.store(code, Ordering::Relaxed);
    }

    /// Whether the writer thread has stopped (after `close`).
    pub fn is_stopped(&self) -> bool {
        lock(&self.thread).as_ref().is_none_or(|t| t.is_finished())
    }

    /// Writes what is queued, fsyncs, closes the file and stops the thread. Idempotent.
    pub fn close(&self) {
        {
            let mut q = lock(&self.shared.queue);
            q.closing = true;
            self.shared.work.notify_all();
            self.shared.space.notify_all();
        }
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join(); // the thread records its errors in `progress`
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_segment(dir: &Path, first_seq: u64) -> io::Result<File> {
    let path: PathBuf = dir.join(segment_name(first_seq));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(SEGMENT_MAGIC)?;
    f.sync_all()?;
    fsync_dir(dir)?;
    Ok(f)
}

struct Segment {
    dir: PathBuf,
    file: Option<File>,
    len: u64,
}

impl Segment {
    fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the log segment could not be opened"))
    }

    fn write(&mut self, s: &Shared, data: &[u8], last_seq: u64) -> io::Result<()> {
        let injected = s.injected.load(Ordering::Relaxed);
        if injected != 0 {
            return Err(io::Error::from_raw_os_error(injected));
        }
        self.file()?.write_all(data)?;
        s.bytes_written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.len += data.len() as u64;
        if self.len >= s.config.segment_bytes {
            self.file()?.sync_all()?;
            s.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.file = None;
            self.file = Some(open_segment(&self.dir, last_seq + 1)?);
            self.len = SEGMENT_MAGIC.len() as u64;
        }
        Ok(())
    }
}

fn run(s: &Shared, dir: PathBuf, file: File, first_handled: u64) {
    let cfg = &s.config;
    let commit = cfg.durability == Durability::Commit;
    let poll = cfg.fsync_interval.min(Duration::from_millis(5));
    let mut segment = Segment {
        dir,
        file: Some(file),
        len: SEGMENT_MAGIC.len() as u64,
    };
    let mut last_sync = Instant::now();
    let mut dirty = false;
    let mut written = first_handled;
    let mut handled = first_handled;
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let (batch, n, last, flush, closing) = {
            let mut q = lock(&s.queue);
            if !(q.n_records > 0 || q.closing || q.flush_wanted) {
                q.idle = true;
                q = if commit && !dirty {
                    s.work.wait(q).unwrap_or_else(|e| e.into_inner())
                } else {
                    s.work
                        .wait_timeout(q, poll)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                };
                q.idle = false;
            }
            spare.clear();
            let batch = std::mem::replace(&mut q.buf, std::mem::take(&mut spare));
            let n = std::mem::take(&mut q.n_records);
            let flush = std::mem::take(&mut q.flush_wanted);
            if q.blocked > 0 {
                s.space.notify_all();
            }
            (batch, n, q.submitted, flush, q.closing)
        };
        let batch_handled = if n > 0 { last } else { handled };
        let failed = lock(&s.progress).error.is_some();
        let result: io::Result<()> = (|| {
            if n > 0 && failed {
                s.dropped.fetch_add(n as u64, Ordering::Relaxed);
                return Err(io::Error::other("dropped after an earlier write error"));
            }
            if n > 0 {
                segment.write(s, &batch, last)?;
                written = last;
                dirty = true;
            }
            let now = Instant::now();
            let sync = dirty
                && (flush
                    || closing
                    || commit
                    || (cfg.durability == Durability::Batch
                        && now.duration_since(last_sync) >= cfg.fsync_interval));
            if sync {
                segment.file()?.sync_all()?;
                s.fsyncs.fetch_add(1, Ordering::Relaxed);
                last_sync = now;
                dirty = false;
            }
            // With durability None the bytes are with the OS (File is unbuffered) but count
            // as durable only after a flush's fsync, as in Python.
            Ok(())
        })();
        spare = batch;
        {
            let mut p = lock(&s.progress);
            match result {
                Ok(()) => {
                    if !dirty {
                        p.durable = written;
                    }
                }
                Err(e) => {
                    if !(n > 0 && failed) {
                        s.dropped.fetch_add(n as u64, Ordering::Relaxed);
                        if p.error.is_none() {
                            p.error = Some(StoredError::new(&e));
                        }
                    }
                    dirty = false; // nothing more will reach the disk
                }
            }
            p.handled = batch_handled;
            handled = batch_handled;
            s.durable_changed.notify_all();
        }
        if closing {
            if lock(&s.queue).n_records > 0 {
                continue;
            }
            if let Some(f) = segment.file.take() {
                drop(f);
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{scan_segment, Body, Record};
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "regretless-writer-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn publish(seq: u64) -> Record {
        Record {
            seq,
            clock: seq as f64,
            wall: 0.0,
            body: Body::Publish { model_version: seq },
        }
    }

    fn read_all(dir: &Path) -> Vec<(String, Vec<Record>)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("seg-"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let data = std::fs::read(dir.join(&n)).unwrap();
                let (recs, end) = scan_segment(&data).unwrap();
                assert_eq!(end, data.len(), "{n} ends in a whole record");
                (n, recs)
            })
            .collect()
    }

    #[test]
    fn commit_records_are_durable_on_return_and_read_back_in_order() {
        let dir = temp_dir("commit");
        let cfg = WriterConfig {
            durability: Durability::Commit,
            ..WriterConfig::default()
        };
        let w = LogWriter::start(&dir, 5, cfg).unwrap();
        for seq in 5..25 {
            w.submit(seq, &publish(seq).encode().unwrap());
            w.wait_durable(seq).unwrap();
            assert!(w.durable_seq() >= seq);
        }
        assert!(w.fsyncs() >= 1 && w.fsyncs() <= 20);
        w.close();
        let segs = read_all(&dir);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].0, segment_name(5));
        assert_eq!(segs[0].1, (5..25).map(publish).collect::<Vec<_>>());
        assert_eq!(w.dropped(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_submitters_share_fsyncs_and_lose_nothing() {
        let dir = temp_dir("group");
        let cfg = WriterConfig {
            durability: Durability::Commit,
            max_queue: 8,
            ..WriterConfig::default()
        };
        let w = LogWriter::start(&dir, 1, cfg).unwrap();
        let order = Mutex::new(0u64); // hands out sequence numbers, as the service's lock
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..200 {
                        let seq = {
                            let mut s = order.lock().unwrap();
                            *s += 1;
                            w.submit(*s, &publish(*s).encode().unwrap());
                            *s
                        };
                        w.wait_durable(seq).unwrap();
                    }
                });
            }
        });
        w.flush().unwrap();
        assert_eq!(w.durable_seq(), 800);
        assert!(w.fsyncs() <= 800);
        w.close();
        let recs: Vec<Record> = read_all(&dir).into_iter().flat_map(|s| s.1).collect();
        assert_eq!(recs, (1..=800).map(publish).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_roll_over_past_segment_bytes_named_by_their_first_record() {
        let dir = temp_dir("roll");
        let rec_len = publish(1).encode().unwrap().len() as u64;
        let cfg = WriterConfig {
            durability: Durability::None,
            segment_bytes: SEGMENT_MAGIC.len() as u64 + 3 * rec_len,
            ..WriterConfig::default()
        };
        let w = LogWriter::start(&dir, 1, cfg).unwrap();
        for seq in 1..=7 {
            w.submit(seq, &publish(seq).encode().unwrap());
            w.flush().unwrap(); // one record per batch: rolls after every third
        }
        assert_eq!(w.durable_seq(), 7);
        w.close();
        let segs = read_all(&dir);
        let names: Vec<&str> = segs.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, [segment_name(1), segment_name(4), segment_name(7)]);
        let sizes: Vec<usize> = segs.iter().map(|s| s.1.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn batch_durability_syncs_on_flush_and_close_writes_the_rest() {
        let dir = temp_dir("batch");
        let cfg = WriterConfig {
            durability: Durability::Batch,
            fsync_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        };
        let w = LogWriter::start(&dir, 1, cfg).unwrap();
        w.submit(1, &publish(1).encode().unwrap());
        w.flush().unwrap();
        assert_eq!(w.durable_seq(), 1);
        let fsyncs = w.fsyncs();
        assert!(fsyncs >= 1);
        w.submit(2, &publish(2).encode().unwrap());
        w.close();
        assert_eq!(w.durable_seq(), 2, "close fsyncs what was queued");
        let recs: Vec<Record> = read_all(&dir).into_iter().flat_map(|s| s.1).collect();
        assert_eq!(recs, vec![publish(1), publish(2)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_encoder_submits_nothing() {
        let dir = temp_dir("enc");
        let w = LogWriter::start(&dir, 1, WriterConfig::default()).unwrap();
        let r: Result<(), &str> = w.submit_with(1, |_| Err("no"));
        assert_eq!(r, Err("no"));
        w.submit(1, &publish(1).encode().unwrap());
        w.flush().unwrap();
        w.close();
        let recs: Vec<Record> = read_all(&dir).into_iter().flat_map(|s| s.1).collect();
        assert_eq!(recs, vec![publish(1)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
