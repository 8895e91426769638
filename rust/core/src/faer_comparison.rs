//! Measurement of faer against the hand-written dense kernels (issue 13): Cholesky and SPD
//! inverse at the sizes the library uses (d = 20 for W2's ridge
//! models, up to a few hundred for sketches and BKB dictionaries, 1000 for GP-UCB-sized
//! problems). Compiled only with `--features faer-comparison`; run with
//! `cargo test -p regretless-core --release --features faer-comparison -- --ignored
//! --nocapture faer_comparison`. Prints the minimum over repetitions (robust to a loaded
//! machine: load only ever adds time), one rayon thread and two, and checks that both
//! sides compute the same matrices.

use crate::linalg;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, MatRef, Par, Side};
use std::hint::black_box;
use std::time::Instant;

fn spd(n: usize, seed: u64) -> Vec<f64> {
    // X^T X / rows + I for a pseudo-random X (2n x n): well conditioned, like a ridge Gram.
    let rows = 2 * n;
    let mut s = seed;
    let mut x = vec![0.0; rows * n];
    for v in &mut x {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *v = ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
    }
    let mut a = vec![0.0; n * n];
    for r in 0..rows {
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += x[r * n + i] * x[r * n + j] / rows as f64;
            }
        }
    }
    for i in 0..n {
        a[i * n + i] += 1.0;
    }
    a
}

/// Minimum seconds per call over `reps` timed batches of `inner` calls.
fn time<F: FnMut()>(reps: usize, inner: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..inner {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / inner as f64);
    }
    best
}

fn faer_lower(a: &[f64], n: usize) -> Mat<f64> {
    let m = MatRef::from_row_major_slice(a, n, n);
    m.llt(Side::Lower)
        .expect("positive definite")
        .L()
        .to_owned()
}

fn max_diff(a: &[f64], b: MatRef<'_, f64>, n: usize) -> f64 {
    let mut m = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            m = m.max((a[i * n + j] - b[(i, j)]).abs());
        }
    }
    m
}

fn row(op: &str, n: usize, threads: usize, ours: f64, theirs: f64) {
    println!(
        "| {op} | {n} | {threads} | {:.2} | {:.2} | {:.2}x |",
        ours * 1e6,
        theirs * 1e6,
        theirs / ours
    );
}

#[test]
#[ignore = "a measurement, not a test: run it by name with --ignored --nocapture"]
fn faer_comparison() {
    println!("| operation | n | threads | hand-written us | faer us | faer / hand-written |");
    println!("|---|---|---|---|---|---|");
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let par = if threads == 1 {
            Par::Seq
        } else {
            Par::rayon(threads)
        };
        pool.install(|| {
            faer::set_global_parallelism(par);
            for &n in &[20usize, 64] {
                let a = spd(n, n as u64);
                let inner = 20_000 / n;
                // linalg::cholesky: the ridge models' factorization.
                let l = linalg::cholesky(&a, n).unwrap();
                assert!(max_diff(&l, faer_lower(&a, n).as_ref(), n) < 1e-12);
                let ours = time(15, inner, || {
                    black_box(linalg::cholesky(black_box(&a), n));
                });
                let theirs = time(15, inner, || {
                    black_box(faer_lower(black_box(&a), n));
                });
                row("cholesky (linalg.rs)", n, threads, ours, theirs);
                // spd_inverse: refactorization of A^{-1} every 1024 updates and after fits.
                let inv = linalg::spd_inverse(&a, n).unwrap();
                let m = MatRef::from_row_major_slice(&a, n, n);
                let finv = m.llt(Side::Lower).unwrap().inverse();
                assert!(max_diff(&inv, finv.as_ref(), n) < 1e-10);
                let ours = time(15, inner, || {
                    black_box(linalg::spd_inverse(black_box(&a), n));
                });
                let theirs = time(15, inner, || {
                    let m = MatRef::from_row_major_slice(black_box(&a), n, n);
                    black_box(m.llt(Side::Lower).unwrap().inverse());
                });
                row("spd inverse (linalg.rs)", n, threads, ours, theirs);
            }
            for &n in &[80usize, 256, 1000] {
                // The blocked factorization (unblocked diagonal blocks with the pivot rules
                // BKB needs, faer's triangular solve and product for the rest) against
                // faer's own LL^T.
                let a = spd(n, n as u64);
                let reps = if n >= 1000 { 5 } else { 15 };
                let inner = (2_000_000 / (n * n)).max(1);
                let l = linalg::cholesky(&a, n).unwrap();
                assert!(max_diff(&l, faer_lower(&a, n).as_ref(), n) < 1e-10);
                let ours = time(reps, inner, || {
                    black_box(linalg::cholesky(black_box(&a), n));
                });
                let theirs = time(reps, inner, || {
                    black_box(faer_lower(black_box(&a), n));
                });
                row(
                    "cholesky (linalg.rs, blocked on faer)",
                    n,
                    threads,
                    ours,
                    theirs,
                );
            }
        });
    }
}
