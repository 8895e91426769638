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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
    let helpers = rayon::current_num_threads().saturating_sub(1).min(n - 1);
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| work());
        }
        work();
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every index below n is claimed and run once")
        })
        .collect()
}

/// Runs `f` on a pool thread, for work made of many short parallel sections (a BKB
/// step has a dozen): started from outside the pool, each section would be injected and
/// wait for the workers to wake; inside, sections are split among awake workers.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
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
    fn works_from_a_thread_outside_the_pool() {
        let got = std::thread::spawn(|| map_with_caller(50, |i| i as u64 * 3))
            .join()
            .unwrap();
        assert_eq!(got, (0..50).map(|i| i as u64 * 3).collect::<Vec<_>>());
    }
}
