//! Parallel maps in which the calling thread does a share of the work.
//!
//! A rayon parallel iterator started from a thread outside the pool (every call from
//! Python) injects its jobs, wakes the sleeping workers and blocks the caller. On a small
//! machine the scheduler tends to wake both workers on the caller's own, busy core and
//! spreads them only at its next balancing tick: measured on two cores, a 4 ms pass over
//! an 80 MB table took 6.6-7 ms after 35 ms of single-threaded Python work, against 4 ms
//! back to back. Here the caller keeps running and works through items from a shared
//! counter while `threads - 1` pool jobs do the same, so the caller's core is never
//! handed to a freshly woken thread, and a helper that starts late just takes fewer items.
//!
//! Every parallel call runs in the pool of [`install`], never in rayon's global pool: a
//! process forked after using a pool (multiprocessing's default on Linux) inherits the pool
//! but not its threads, so work sent to it would wait forever. [`install`] builds a fresh
//! pool in each process, recognized by its pid.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The process's pool, tagged with the pid it was built in.
struct ProcessPool {
    pid: u32,
    pool: rayon::ThreadPool,
}

static POOL: AtomicPtr<ProcessPool> = AtomicPtr::new(std::ptr::null_mut());

/// Number of calls currently running work in the pool from outside it.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts a call into the pool for as long as it lives (also when the work panics).
struct Active;

impl Active {
    fn enter() -> Self {
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The thread pool of this process, built on first use and again in a forked child (whose
/// copy of the parent's pool has no threads). Lock-free, so a fork taken while another
/// thread fetches the pool cannot leave a lock held in the child. A superseded pool is
/// leaked, never dropped: in a child its threads do not exist to be joined.
pub fn pool() -> &'static rayon::ThreadPool {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: POOL only ever holds null or a pointer from `Box::into_raw` below, and
    // such a box is never freed once published.
    if let Some(entry) = unsafe { current.as_ref() } {
        if entry.pid == pid {
            return &entry.pool;
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("regretless-{i}"))
        .build()
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .expect("a one-thread pool can always be built");
    let fresh = Box::into_raw(Box::new(ProcessPool { pid, pool }));
    match POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just published; never freed (see above).
        Ok(_) => unsafe { &(*fresh).pool },
        Err(winner) => {
            // Another thread of this process published first: use its pool, drop ours
            // (never shared, its threads are live).
            // SAFETY: `fresh` came from `Box::into_raw` above and was not published.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: `winner` was published, so never freed; it was published by a thread
            // of this process (a fork copies only the forking thread), so its pid is ours.
            unsafe { &(*winner).pool }
        }
    }
}

/// Runs `f` on a thread of this process's pool, so that every parallel section inside
/// splits among its workers (and a BKB step's dozen short sections find them awake).
/// Already on a pool thread (nested calls, or a test's own pool), runs `f` in place.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let _active = Active::enter();
    pool().install(f)
}

/// `(0..n).map(f)` in parallel, in index order, with the calling thread working too.
/// Items are claimed one at a time from a shared counter (dynamic balance), so `f`
/// should be coarse (tens of microseconds or more). The result does not depend on which
/// thread ran which item.
pub fn map_with_caller<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if n <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let value = f(i);
        // Each index is claimed once: the lock is never contended.
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    };
    let on_a_pool = rayon::current_thread_index().is_some();
    let threads = if on_a_pool {
        rayon::current_num_threads()
    } else {
        pool().current_num_threads()
    };
    let helpers = threads.saturating_sub(1).min(n - 1);
    // The same body twice: a closure taking the scope cannot be named once for both.
    if on_a_pool {
        rayon::in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| work());
            }
            work();
        });
    } else {
        let _active = Active::enter();
        pool().in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| work());
            }
            work();
        });
    }
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every index below n is claimed and run once")
        })
        .collect()
}

/// Copies `src` into `dst` (equal lengths), in parallel pieces when large and the pool is
/// idle: a private copy of a batch input then costs a fraction of a single-threaded pass
/// (its first-touch page faults are split among the threads too). A busy pool is not
/// waited for: the caller may hold Python's GIL, and must not hold it behind another
/// thread's long parallel job.
pub fn copy_into<T: Copy + Send + Sync>(src: &[T], dst: &mut [std::mem::MaybeUninit<T>]) {
    use rayon::prelude::*;
    assert_eq!(src.len(), dst.len(), "copy_into: lengths differ");
    // Pieces of 256 KB: large enough to amortize scheduling, enough of them to balance.
    let piece = ((1usize << 18) / std::mem::size_of::<T>().max(1)).max(1);
    let copy = |(d, s): (&mut [std::mem::MaybeUninit<T>], &[T])| {
        for (d, s) in d.iter_mut().zip(s) {
            d.write(*s);
        }
    };
    if src.len() <= 2 * piece || ACTIVE.load(Ordering::Acquire) > 0 {
        copy((dst, src));
        return;
    }
    install(|| {
        dst.par_chunks_mut(piece)
            .zip(src.par_chunks(piece))
            .for_each(copy)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_index_order_on_any_pool_size() {
        for threads in [1, 2, 3, 5] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for n in [0, 1, 2, 7, 100] {
                let got = pool.install(|| map_with_caller(n, |i| i * i + 1));
                let want: Vec<usize> = (0..n).map(|i| i * i + 1).collect();
                assert_eq!(got, want, "threads {threads}, n {n}");
            }
        }
    }

    #[test]
    fn install_runs_on_the_process_pool_and_stays_in_a_callers_pool() {
        assert!(install(|| rayon::current_thread_index().is_some()));
        assert!(std::ptr::eq(pool(), pool()));
        let own = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(own.install(|| install(rayon::current_num_threads)), 3);
    }

    #[test]
    fn copies_are_exact_at_every_size_idle_or_busy() {
        for n in [0, 1, 5, 70_000, 200_003] {
            let src: Vec<u64> = (0..n as u64).map(|i| i * 7 + 1).collect();
            let mut dst = vec![std::mem::MaybeUninit::<u64>::uninit(); n];
            copy_into(&src, &mut dst);
            // SAFETY: copy_into wrote every element.
            let got: Vec<u64> = dst.iter().map(|d| unsafe { d.assume_init() }).collect();
            assert_eq!(got, src, "n {n}");
            // From inside a running parallel call (the pool counted as busy).
            let again = map_with_caller(2, |_| {
                let mut dst = vec![std::mem::MaybeUninit::<u64>::uninit(); n];
                copy_into(&src, &mut dst);
                dst.iter()
                    // SAFETY: copy_into wrote every element.
                    .map(|d| unsafe { d.assume_init() })
                    .collect::<Vec<u64>>()
            });
            assert!(again.iter().all(|v| *v == src));
        }
    }

    #[test]
    fn works_from_a_thread_outside_the_pool() {
        let got = std::thread::spawn(|| map_with_caller(50, |i| i as u64 * 3))
            .join()
            .unwrap();
        assert_eq!(got, (0..50).map(|i| i as u64 * 3).collect::<Vec<_>>());
    }
}
