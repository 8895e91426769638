//! Tests of the shared engine of the contextual family (scoring, batches, threads).

use super::*;

fn data(n: usize, d: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<i64>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.uniform() - 0.5).collect();
    let arms: Vec<i64> = (0..n).map(|_| rng.below(k as u64) as i64).collect();
    let r: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    let w: Vec<f64> = (0..n).map(|_| 2.0 * rng.uniform()).collect();
    (x, arms, r, w)
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn batch_fit_and_scoring_do_not_depend_on_the_thread_count() {
    for (d, k) in [(3, 2), (20, 10), (9, 40)] {
        let (x, arms, r, w) = data(7_000, d, k, d as u64);
        let fit = |threads| {
            in_pool(threads, || {
                let mut p = LinUCB::new(k, d, 0.7, 1.0, Some(1)).unwrap();
                p.update_batch(&x, &arms, &r, Some(&w)).unwrap();
                p.update_batch(&x[..50 * d], &arms[..50], &r[..50], None)
                    .unwrap();
                let s = p.scores_batch(&x).unwrap();
                let picks = p.select_batch(&x).unwrap();
                (p, s, picks)
            })
        };
        let (p1, s1, c1) = fit(1);
        let (p3, s3, c3) = fit(3);
        assert_eq!(p1, p3);
        assert_eq!(s1, s3);
        assert_eq!(c1, c3);
        // Each arm's Gram matrix is exactly symmetric and equals the sum it stands for.
        for (a, m) in p1.base().arms.iter().enumerate() {
            for i in 0..d {
                for j in 0..d {
                    assert_eq!(m.gram[i * d + j], m.gram[j * d + i]);
                    let mut e = if i == j { 1.0 } else { 0.0 };
                    for row in 0..7_000 {
                        if arms[row] == a as i64 {
                            e += w[row] * x[row * d + i] * x[row * d + j];
                        }
                    }
                    for row in 0..50 {
                        if arms[row] == a as i64 {
                            e += x[row * d + i] * x[row * d + j];
                        }
                    }
                    assert!((m.gram[i * d + j] - e).abs() < 1e-9 * e.abs().max(1.0));
                }
            }
        }
    }
}

#[test]
fn a_refused_batch_changes_nothing_whichever_chunk_holds_the_bad_value() {
    // d = 16: chunks of 8192 rows, so 20k rows span three chunks.
    let (d, k, n) = (16, 5, 20_000);
    let (x, arms, r, w) = data(n, d, k, 4);
    let mut fitted = LinUCB::new(k, d, 0.7, 1.0, Some(1)).unwrap();
    fitted
        .update_batch(&x[..300 * d], &arms[..300], &r[..300], None)
        .unwrap();
    for row in [0, 8191, 8192, 19_999] {
        for what in 0..7 {
            let (mut x, mut arms, mut r, mut w) = (x.clone(), arms.clone(), r.clone(), w.clone());
            match what {
                0 => x[row * d + 3] = f64::NAN,
                1 => x[row * d + d - 1] = -1.0000001e30,
                2 => arms[row] = k as i64,
                3 => arms[row] = -1,
                4 => r[row] = f64::INFINITY,
                5 => w[row] = -1e-300,
                _ => w[row] = f64::NAN,
            }
            let mut p = fitted.clone();
            let err = p.update_batch(&x, &arms, &r, Some(&w)).unwrap_err();
            assert_eq!(p, fitted, "row {row} case {what}");
            // The message is the one validation alone gives.
            let want = fitted.check_update(&x, &arms, &r, Some(&w)).unwrap_err();
            assert_eq!(err.to_string(), want.to_string());
            assert!(err.to_string().contains(&row.to_string()), "{err}");
        }
    }
    // Bounds are inclusive: contexts of 1e30, rewards of 1e100, weights of 0 and 1e30.
    let mut x = x.clone();
    let (mut r, mut w) = (r.clone(), w.clone());
    x[5] = -1e30;
    r[9] = 1e100;
    w[10] = 0.0;
    w[11] = 1e30;
    w[12] = -0.0;
    let mut p = fitted.clone();
    p.update_batch(&x, &arms, &r, Some(&w)).unwrap();
    assert_eq!(p.n_updates(), 300 + n as u64);
}

#[test]
fn batch_fit_equals_the_loop_of_single_updates_and_batch_scores_equal_single_rows() {
    let (d, k) = (7, 4);
    let (x, arms, r, w) = data(3_000, d, k, 11);
    let mut batch = LinUCB::new(k, d, 0.5, 0.3, Some(2)).unwrap();
    batch.update_batch(&x, &arms, &r, Some(&w)).unwrap();
    let mut single = LinUCB::new(k, d, 0.5, 0.3, Some(2)).unwrap();
    for i in 0..3_000 {
        single
            .update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
            .unwrap();
    }
    let (sb, ss) = (
        batch.scores_batch(&x).unwrap(),
        single.scores_batch(&x).unwrap(),
    );
    for (a, b) in sb.iter().zip(&ss) {
        assert!((a - b).abs() < 1e-9, "{a} {b}");
    }
    let mut row = vec![0.0; k];
    for i in 0..100 {
        batch.score_row(&x[i * d..(i + 1) * d], &mut row, &mut []);
        for (a, b) in row.iter().zip(&sb[i * k..(i + 1) * k]) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
