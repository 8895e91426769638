//! Dense kernels for BKB's per-step rebuild (row-major `f64`) on faer: triangular
//! inverses, products with a triangular factor and symmetric Gram products. The Cholesky
//! factorization they go with is the library's one, [`linalg::cholesky_with`].
//!
//! faer replaced the blocked routines written here before (matrixmultiply's GEMM over raw
//! shared pointers): it was 1.2-3.7x faster from n = 64 up (benches/README.md, "faer
//! against the hand-written kernels"), and it leaves no `unsafe` here. faer parallelizes
//! its products over output blocks on rayon's pool, never over the summation, so results
//! do not depend on the number of threads (tested below).

use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Parallelism of every kernel: rayon's current pool.
fn par() -> Par {
    Par::rayon(0)
}

/// Inverse of the lower-triangular `l` (n x n, nonzero diagonal), lower triangular.
pub(crate) fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    assert!(l.len() >= n * n);
    let mut li = vec![0.0; n * n];
    faer::linalg::triangular_inverse::invert_lower_triangular(
        MatMut::from_row_major_slice_mut(&mut li, n, n),
        MatRef::from_row_major_slice(&l[..n * n], n, n),
        par(),
    );
    // faer leaves the strict upper triangle alone: it is already zero.
    li
}

/// `out = x li^T` (`rows x r`, row-major) for a `rows x r` matrix `x` and a
/// lower-triangular `li` (r x r): row i of `out` is `li x_i`. Sequential: BKB calls it on
/// blocks of candidates that already run in parallel.
pub(crate) fn mul_lower_t(x: MatRef<'_, f64>, li: &[f64], out: &mut [f64]) {
    let (rows, r) = (x.nrows(), x.ncols());
    assert!(li.len() >= r * r && out.len() >= rows * r);
    matmul(
        MatMut::from_row_major_slice_mut(&mut out[..rows * r], rows, r),
        BlockStructure::Rectangular,
        Accum::Replace,
        x,
        BlockStructure::Rectangular,
        MatRef::from_row_major_slice(&li[..r * r], r, r).transpose(),
        BlockStructure::TriangularUpper,
        1.0,
        Par::Seq,
    );
}

/// `a b` for lower-triangular `a` and `b` (n x n): lower triangular.
pub(crate) fn mul_lower_lower(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    assert!(a.len() >= n * n && b.len() >= n * n);
    let mut out = vec![0.0; n * n];
    matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, n),
        BlockStructure::TriangularLower,
        Accum::Replace,
        MatRef::from_row_major_slice(&a[..n * n], n, n),
        BlockStructure::TriangularLower,
        MatRef::from_row_major_slice(&b[..n * n], n, n),
        BlockStructure::TriangularLower,
        1.0,
        par(),
    );
    out
}

/// `x^T x` (r x r, symmetric) for the `rows x r` row-major `x`.
pub(crate) fn gram(x: &[f64], rows: usize, r: usize) -> Vec<f64> {
    assert!(x.len() >= rows * r);
    let x = MatRef::from_row_major_slice(&x[..rows * r], rows, r);
    symmetric_product(
        x.transpose(),
        BlockStructure::Rectangular,
        x,
        BlockStructure::Rectangular,
    )
}

/// `x^T x` for a lower-triangular `x` (r x r).
pub(crate) fn gram_lower(x: &[f64], r: usize) -> Vec<f64> {
    assert!(x.len() >= r * r);
    let x = MatRef::from_row_major_slice(&x[..r * r], r, r);
    symmetric_product(
        x.transpose(),
        BlockStructure::TriangularUpper,
        x,
        BlockStructure::TriangularLower,
    )
}

/// `lhs rhs`, known to be symmetric: its lower triangle by faer, mirrored.
fn symmetric_product(
    lhs: MatRef<'_, f64>,
    lhs_structure: BlockStructure,
    rhs: MatRef<'_, f64>,
    rhs_structure: BlockStructure,
) -> Vec<f64> {
    let r = lhs.nrows();
    let mut lower = Mat::<f64>::zeros(r, r);
    matmul(
        lower.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        lhs_structure,
        rhs,
        rhs_structure,
        1.0,
        par(),
    );
    let mut out = vec![0.0; r * r];
    for i in 0..r {
        for j in 0..=i {
            let v = lower[(i, j)];
            out[i * r + j] = v;
            out[j * r + i] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{self, cholesky_with, SmallPivot};
    use crate::rng::Rng;

    pub(crate) fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * (n + 3)).map(|_| rng.uniform() - 0.5).collect();
        let mut a = gram(&x, n + 3, n);
        for i in 0..n {
            a[i * n + i] += 0.1;
        }
        a
    }

    fn transpose(a: &[f64], n: usize) -> Vec<f64> {
        let mut t = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                t[j * n + i] = a[i * n + j];
            }
        }
        t
    }

    #[test]
    fn kernels_match_plain_products() {
        for &n in &[1usize, 5, 64, 65, 150] {
            let a = spd(n, n as u64);
            let l = cholesky_with(&a, n, 0.0, SmallPivot::Refuse).unwrap();
            // L L^T reproduces A.
            let mut llt = vec![0.0; n * n];
            linalg::matmul(&l, &transpose(&l, n), &mut llt, n, n, n);
            for (u, v) in llt.iter().zip(&a) {
                assert!((u - v).abs() < 1e-12 * (1.0 + v.abs()), "{n}");
            }
            let li = lower_inverse(&l, n);
            let mut prod = vec![0.0; n * n];
            linalg::matmul(&l, &li, &mut prod, n, n, n);
            for i in 0..n {
                for j in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((prod[i * n + j] - e).abs() < 1e-9, "{n} {i} {j}");
                    if j > i {
                        assert_eq!(li[i * n + j], 0.0);
                    }
                }
            }
            // x li^T against the plain product, x row-major and column-major.
            let rows = 7;
            let x: Vec<f64> = (0..rows * n).map(|q| (q as f64 * 0.37).sin()).collect();
            let mut want = vec![0.0; rows * n];
            linalg::matmul(&x, &transpose(&li, n), &mut want, rows, n, n);
            let mut out = vec![0.0; rows * n];
            mul_lower_t(MatRef::from_row_major_slice(&x, rows, n), &li, &mut out);
            for (u, v) in out.iter().zip(&want) {
                assert!((u - v).abs() < 1e-9 * (1.0 + v.abs()));
            }
            let mut xc = vec![0.0; rows * n];
            for i in 0..rows {
                for j in 0..n {
                    xc[j * rows + i] = x[i * n + j];
                }
            }
            mul_lower_t(MatRef::from_column_major_slice(&xc, rows, n), &li, &mut out);
            for (u, v) in out.iter().zip(&want) {
                assert!((u - v).abs() < 1e-9 * (1.0 + v.abs()));
            }
        }
        for &n in &[3usize, 70, 130] {
            let a = spd(n, 7 + n as u64);
            let l = cholesky_with(&a, n, 0.0, SmallPivot::Refuse).unwrap();
            let li = lower_inverse(&l, n);
            let p = mul_lower_lower(&l, &li, n);
            let g = gram_lower(&li, n);
            let mut want = vec![0.0; n * n];
            linalg::matmul(&transpose(&li, n), &li, &mut want, n, n, n);
            for i in 0..n {
                for j in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((p[i * n + j] - e).abs() < 1e-9);
                    let w = want[i * n + j];
                    assert!((g[i * n + j] - w).abs() < 1e-9 * (1.0 + w.abs()));
                }
            }
            // The SPD inverse (faer's path from BLOCKED_FROM on) inverts A.
            let inv = linalg::spd_inverse(&a, n).unwrap();
            linalg::matmul(&a, &inv, &mut want, n, n, n);
            for i in 0..n {
                for j in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((want[i * n + j] - e).abs() < 1e-8, "{n} {i} {j}");
                    assert_eq!(inv[i * n + j], inv[j * n + i]);
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let n = 200;
        let a = spd(n, 99);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let l = cholesky_with(&a, n, 0.0, SmallPivot::Refuse).unwrap();
                let li = lower_inverse(&l, n);
                let p = mul_lower_lower(&l, &li, n);
                let g = gram(&a, n, n);
                let gl = gram_lower(&li, n);
                let mut out = vec![0.0; n * n];
                mul_lower_t(MatRef::from_row_major_slice(&a, n, n), &li, &mut out);
                (l, li, p, g, gl, out)
            })
        };
        let one = run(1);
        assert!(one == run(2));
        assert!(one == run(4));
    }
}
