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

/// A LinUCB of dimension d fitted on 3 arms (a batch, then single updates), and 150 query
/// rows (two full blocks of the wide engine and a partial one).
fn fitted_linucb(d: usize, precision: &str) -> (LinUCB, Vec<f64>) {
    let k = 3;
    let (x, arms, r, w) = data(2 * d + 40, d, k, d as u64);
    let n = arms.len();
    let mut p = LinUCB::new(k, d, 1.3, 0.7, Some(5))
        .unwrap()
        .with_precision(precision)
        .unwrap();
    let h = n / 2;
    p.update_batch(&x[..h * d], &arms[..h], &r[..h], Some(&w[..h]))
        .unwrap();
    for i in h..n {
        p.update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
            .unwrap();
    }
    let q = data(150, d, k, 99).0;
    (p, q)
}

#[test]
fn wide_batch_scores_equal_the_single_row_scores_and_do_not_depend_on_the_block() {
    for d in [63, 64, 97, 200, 520] {
        for precision in ["float64", "float32"] {
            let (p, q) = fitted_linucb(d, precision);
            let k = p.n_arms();
            let s = p.scores_batch(&q).unwrap();
            let (means, widths) = p.mean_width_batch(&q, true).unwrap();
            let mut row = vec![0.0; k];
            for i in 0..150 {
                let xi = &q[i * d..(i + 1) * d];
                p.score_row(xi, &mut row, &mut []);
                for a in 0..k {
                    let (u, v) = (row[a], s[i * k + a]);
                    assert!((u - v).abs() <= 1e-9 * u.abs(), "{d} {precision}: {u} {v}");
                    let (mean, width) = p.base().arms[a].mean_width(xi);
                    // On the product path (from GEMM_SCORING_FROM, or in float32) the
                    // means are the same dot products bit for bit; below, the grouped
                    // kernel's, equal up to rounding.
                    if d >= wide::GEMM_SCORING_FROM || precision == "float32" {
                        assert_eq!(means[i * k + a], mean);
                    }
                    assert!((means[i * k + a] - mean).abs() <= 1e-12 * mean.abs().max(1.0));
                    assert!((widths[i * k + a] - width).abs() <= 1e-9 * width);
                }
                // One row alone: its own block, the same values.
                let alone = p.scores_batch(xi).unwrap();
                for a in 0..k {
                    let v = s[i * k + a];
                    assert!((alone[a] - v).abs() <= 1e-12 * v.abs(), "{d}");
                }
            }
        }
    }
}

#[test]
fn wide_select_batch_equals_repeated_selects_with_ties_and_without() {
    for d in [64, 97] {
        let (fitted, q) = fitted_linucb(d, "float64");
        let fresh = LinUCB::new(3, d, 1.3, 0.7, Some(5)).unwrap();
        let f32_fitted = fitted_linucb(d, "float32").0;
        for p in [fitted, fresh, f32_fitted] {
            let (mut a, mut b) = (p.clone(), p.clone());
            let batch = a.select_batch(&q).unwrap();
            let single: Vec<usize> = (0..150)
                .map(|i| b.select(&q[i * d..(i + 1) * d]).unwrap())
                .collect();
            assert_eq!(batch, single);
            // The same draws on ties (a fresh policy ties every row): the same generator.
            assert_eq!(a.base().rng, b.base().rng);
        }
    }
}

#[test]
fn float32_storage_keeps_the_float64_state_and_scores_within_float32_rounding() {
    let d = 97;
    let (p64, q) = fitted_linucb(d, "float64");
    let (p32, _) = fitted_linucb(d, "float32");
    // The float64 state is exactly the float64 policy's (the copies are derived from it).
    assert_eq!(p64.base(), p32.base());
    let (s64, s32) = (p64.scores_batch(&q).unwrap(), p32.scores_batch(&q).unwrap());
    let mut differ = 0;
    for (u, v) in s64.iter().zip(&s32) {
        assert!((u - v).abs() <= 1e-6 * u.abs(), "{u} {v}");
        differ += (u != v) as usize;
    }
    assert!(differ > s64.len() / 2, "{differ}");
    // The copy is one rounding of the float64 inverse.
    for m in &p32.base().arms {
        let c = m.f32_copy().unwrap();
        assert_eq!(c[1], m.a_inv[1] as f32);
        assert_eq!(c[d], m.a_inv[d + 1] as f32);
    }
}

#[test]
fn wide_lints_batches_equal_its_row_by_row_decisions_and_probabilities() {
    for (d, precision) in [(64, "float64"), (97, "float64"), (20, "float32")] {
        let k = 3;
        let (x, arms, r, _) = data(300, d, k, 8);
        let mut p = LinTS::new(k, d, 0.3, 0.7, Some(9))
            .unwrap()
            .with_precision(precision)
            .unwrap();
        p.update_batch(&x, &arms, &r, None).unwrap();
        assert!(p.moments_batches());
        let q = &x[..90 * d];
        let (mut a, mut b) = (p.clone(), p.clone());
        let batch = a.select_batch(q).unwrap();
        let single: Vec<usize> = (0..90)
            .map(|i| b.select(&q[i * d..(i + 1) * d]).unwrap())
            .collect();
        assert_eq!(batch, single);
        assert_eq!(a.base().rng, b.base().rng);
        let probs = p.probabilities_batch(q).unwrap();
        let mut row = vec![0.0; k];
        for i in 0..90 {
            p.probability_row(&q[i * d..(i + 1) * d], &mut row, &mut []);
            assert_eq!(&probs[i * k..(i + 1) * k], &row[..], "{d} {i}");
        }
    }
    // Below d = 64 in float64, the row-by-row paths as before.
    assert!(!LinTS::new(2, 63, 0.3, 1.0, Some(1))
        .unwrap()
        .moments_batches());
}
