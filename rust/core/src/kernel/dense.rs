//! Blocked dense kernels for BKB's per-step rebuild (row-major `f64`): a Cholesky factor,
//! triangular inverses, products with a triangular right factor and a symmetric Gram
//! product, all written as panels of matrix products (`matrixmultiply`'s AVX2/FMA GEMM) so
//! that the `m^3` and `A m^2` work runs at GEMM speed instead of one dot product at a time.
//!
//! Independent panels run in parallel (rayon): the Cholesky's panel solve and trailing
//! update by block rows, the triangular inverse by block columns, the triangular product
//! and the Gram by block rows. Every output entry is computed by the same operations
//! whatever the thread count (the panel shapes are fixed), so results do not depend on the
//! number of threads.

use crate::linalg;
use rayon::prelude::*;

/// Panel width of the blocked routines.
const NB: usize = 64;

/// A raw pointer shared by parallel tasks that write disjoint regions of one buffer.
///
/// Every use follows one pattern: the pointer is taken from a `Vec` that is not touched
/// otherwise until the parallel loop (rayon's `for_each`, which returns only when every
/// task has finished) is over, so the buffer outlives every access and no reference to it
/// coexists with the tasks' writes; each task's `unsafe` block says which disjoint region
/// it writes.
#[derive(Clone, Copy)]
struct SharedMut(*mut f64);
// SAFETY: moving the pointer to another thread accesses nothing; every dereference is in an
// `unsafe` block that argues the buffer is live and the accessed regions are disjoint (see
// the type's doc).
unsafe impl Send for SharedMut {}
// SAFETY: sharing `&SharedMut` only allows copying the pointer (no interior mutability);
// the dereferences are argued where they happen, as for `Send`.
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    #[inline]
    fn get(self) -> *mut f64 {
        self.0
    }
}

/// `C = alpha A B + beta C` for an `m x k` A, a `k x n` B and an `m x n` C given by raw
/// pointers and (row, column) strides.
///
/// # Safety
/// Every element addressed through the strides must lie inside live allocations, the C
/// region must not overlap the A or B regions, and C must be valid for writes.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn gemm_raw(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: *const f64,
    rsa: usize,
    csa: usize,
    b: *const f64,
    rsb: usize,
    csb: usize,
    beta: f64,
    c: *mut f64,
    rsc: usize,
    csc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    matrixmultiply::dgemm(
        m,
        k,
        n,
        alpha,
        a,
        rsa as isize,
        csa as isize,
        b,
        rsb as isize,
        csb as isize,
        beta,
        c,
        rsc as isize,
        csc as isize,
    );
}

/// Whether index `(rows - 1) * rs + (cols - 1) * cs` lies in a slice of length `len`.
#[inline]
fn fits(len: usize, off: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || off + (rows - 1) * rs + (cols - 1) * cs < len
}

/// Lower Cholesky factor of the symmetric positive definite `a` (n x n), read from its
/// lower triangle; `None` as soon as a pivot is not finite or not above `tol`.
pub(crate) fn cholesky(a: &[f64], n: usize, tol: f64) -> Option<Vec<f64>> {
    factor(a, n, tol, Small::Fail)
}

/// Cholesky factor of the symmetric positive semidefinite `a`: a pivot at or below `tol`
/// (rounding on a numerically singular direction) gives a zero column instead of failing.
pub(crate) fn cholesky_psd(a: &[f64], n: usize, tol: f64) -> Vec<f64> {
    factor(a, n, tol, Small::Zero).unwrap_or_default()
}

/// Cholesky factor of `a = S + floor I` with `S` positive semidefinite, whose pivots are
/// all at least `floor` in exact arithmetic: a pivot that rounding put at or below `floor`
/// is raised to `floor`; `None` only for a non-finite pivot.
pub(crate) fn cholesky_floored(a: &[f64], n: usize, floor: f64) -> Option<Vec<f64>> {
    factor(a, n, floor, Small::Floor)
}

/// What [`factor`] does with a pivot at or below its tolerance.
#[derive(Clone, Copy, PartialEq)]
enum Small {
    Fail,
    Zero,
    Floor,
}

fn factor(a: &[f64], n: usize, tol: f64, small: Small) -> Option<Vec<f64>> {
    assert!(a.len() >= n * n);
    let mut l = a[..n * n].to_vec();
    let mut k = 0;
    while k < n {
        let e = (k + NB).min(n);
        // Diagonal block (already updated for the columns before k).
        for j in k..e {
            let row = &l[j * n + k..j * n + j];
            let mut djj = l[j * n + j] - linalg::dot(row, row);
            if !(djj.is_finite() && djj > tol) {
                match small {
                    Small::Fail => return None,
                    _ if djj.is_nan() => return None,
                    Small::Zero => {
                        for i in j..n {
                            l[i * n + j] = 0.0;
                        }
                        continue;
                    }
                    Small::Floor if djj.is_finite() => djj = tol,
                    Small::Floor => return None,
                }
            }
            let s = djj.sqrt();
            l[j * n + j] = s;
            for i in j + 1..e {
                let v =
                    l[i * n + j] - linalg::dot(&l[i * n + k..i * n + j], &l[j * n + k..j * n + j]);
                l[i * n + j] = v / s;
            }
        }
        // Panel below the diagonal block: X L11^T = A21, row by row (rows in parallel).
        {
            let (top, bottom) = l.split_at_mut(e * n);
            let top = &*top;
            bottom.par_chunks_mut(n).for_each(|row| {
                for j in k..e {
                    let ljj = top[j * n + j];
                    let v = row[j] - linalg::dot(&row[k..j], &top[j * n + k..j * n + j]);
                    row[j] = if ljj == 0.0 { 0.0 } else { v / ljj };
                }
            });
        }
        // Trailing update of the lower triangle, block rows in parallel:
        // A[i0..i1, e..i1] -= L[i0..i1, k..e] L[e..i1, k..e]^T.
        let p = SharedMut(l.as_mut_ptr());
        let starts: Vec<usize> = (e..n).step_by(NB).collect();
        starts.par_iter().for_each(|&i0| {
            let i1 = (i0 + NB).min(n);
            let p = p.get();
            // SAFETY: `l` (n x n, the pointer's buffer) is not used otherwise until the loop
            // ends. The task reads A = rows i0..i1 and B = rows e..i1, both in columns
            // k..e, which no task writes in this phase, and writes C = rows i0..i1 in
            // columns e..i1, its own block row: C overlaps neither A, B nor another task's
            // C. Bounds: rows < i1 <= n and columns < i1 <= n, so every offset is below n^2.
            unsafe {
                gemm_raw(
                    i1 - i0,
                    e - k,
                    i1 - e,
                    -1.0,
                    p.add(i0 * n + k),
                    n,
                    1,
                    p.add(e * n + k),
                    1,
                    n,
                    1.0,
                    p.add(i0 * n + e),
                    n,
                    1,
                );
            }
        });
        k = e;
    }
    for i in 0..n {
        for j in i + 1..n {
            l[i * n + j] = 0.0;
        }
    }
    Some(l)
}

/// Inverse of the lower-triangular `l` (n x n, nonzero diagonal), lower triangular.
pub(crate) fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    assert!(l.len() >= n * n);
    let mut li = vec![0.0; n * n];
    // Diagonal blocks by substitution: column j of the inverse of the block.
    let mut k = 0;
    while k < n {
        let e = (k + NB).min(n);
        for j in k..e {
            li[j * n + j] = 1.0 / l[j * n + j];
            for i in j + 1..e {
                let mut s = 0.0;
                for q in j..i {
                    s += l[i * n + q] * li[q * n + j];
                }
                li[i * n + j] = -s / l[i * n + i];
            }
        }
        k = e;
    }
    // Off-diagonal blocks: Li[I, J] = -Li[I, I] (L[I, J0..I0] Li[J0..I0, J]); the block
    // columns J are independent (run in parallel), the block rows of one in order.
    let p = SharedMut(li.as_mut_ptr());
    let starts: Vec<usize> = (0..n).step_by(NB).collect();
    starts.par_iter().for_each(|&j0| {
        let mut tmp = vec![0.0; NB * NB];
        let j1 = (j0 + NB).min(n);
        let mut i0 = j1;
        while i0 < n {
            let i1 = (i0 + NB).min(n);
            let (ib, jb) = (i1 - i0, j1 - j0);
            let p = p.get();
            // SAFETY: `li` (n x n, the pointer's buffer) is not used otherwise until the
            // loop ends. The first product reads `l` (a separate, shared buffer) and Li's rows
            // j0..i0 in columns j0..j1 (this task's block column, written only by this task,
            // in earlier iterations) into `tmp` (its own, NB x NB >= ib x jb). The second
            // reads the diagonal block Li[i0..i1, i0..i1] (written before the parallel
            // phase, read-only in it; i0 >= j1, so outside every task's block column) and
            // `tmp`, and writes Li rows i0..i1 in columns j0..j1: this task's own block
            // column, disjoint from what it reads. Bounds: rows and columns < n.
            unsafe {
                gemm_raw(
                    ib,
                    i0 - j0,
                    jb,
                    1.0,
                    l.as_ptr().add(i0 * n + j0),
                    n,
                    1,
                    p.add(j0 * n + j0),
                    n,
                    1,
                    0.0,
                    tmp.as_mut_ptr(),
                    jb,
                    1,
                );
                gemm_raw(
                    ib,
                    ib,
                    jb,
                    -1.0,
                    p.add(i0 * n + i0),
                    n,
                    1,
                    tmp.as_ptr(),
                    jb,
                    1,
                    0.0,
                    p.add(i0 * n + j0),
                    n,
                    1,
                );
            }
            i0 = i1;
        }
    });
    li
}

/// `out = x li^T` for the `rows x r` row-major `x` and a lower-triangular `li` (r x r):
/// row i of `out` is `li x_i`. Panels of output columns skip the zero upper triangle.
///
/// `x` is addressed with row stride `rsx` and column stride `csx` (`(r, 1)` for row-major,
/// `(1, rows)` for a column-major block).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mul_lower_t(
    x: &[f64],
    rsx: usize,
    csx: usize,
    rows: usize,
    r: usize,
    li: &[f64],
    out: &mut [f64],
) {
    assert!(fits(x.len(), 0, rows, r, rsx, csx));
    assert!(li.len() >= r * r && out.len() >= rows * r);
    let mut j0 = 0;
    while j0 < r {
        let j1 = (j0 + NB).min(r);
        // SAFETY: A = x with strides (rsx, csx), columns 0..j1 <= r: inside x by the `fits`
        // check. B[q][j] = li[(j0 + j) r + q] with q < j1 <= r and j0 + j < j1 <= r: below
        // r^2 <= li.len(). C = out[i r + j0 + j] for i < rows, j < j1 - j0: below rows r.
        // `out` is a `&mut` borrow, so it overlaps neither `x` nor `li`.
        unsafe {
            gemm_raw(
                rows,
                j1,
                j1 - j0,
                1.0,
                x.as_ptr(),
                rsx,
                csx,
                li.as_ptr().add(j0 * r),
                1,
                r,
                0.0,
                out.as_mut_ptr().add(j0),
                r,
                1,
            );
        }
        j0 = j1;
    }
}

/// `a b` for lower-triangular `a` and `b` (n x n): lower triangular; block (I, J) sums
/// over K = J..=I only.
pub(crate) fn mul_lower_lower(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    assert!(a.len() >= n * n && b.len() >= n * n);
    let mut out = vec![0.0; n * n];
    // Block rows of the output in parallel.
    out.par_chunks_mut((NB * n).max(1))
        .enumerate()
        .for_each(|(bi, ob)| {
            let i0 = bi * NB;
            let i1 = (i0 + NB).min(n);
            let mut j0 = 0;
            while j0 < i1 {
                let j1 = (j0 + NB).min(n);
                // SAFETY: A = a[i0..i1, j0..i1] and B = b[j0..i1, j0..j1] lie in their n x n
                // buffers (asserted above; i1, j1 <= n). C = ob[.., j0..j1], where `ob` is
                // out's block row i0..i1, (i1 - i0) x n: a `&mut` chunk, so it overlaps
                // neither `a`, `b` nor another task's chunk.
                unsafe {
                    gemm_raw(
                        i1 - i0,
                        i1 - j0,
                        j1 - j0,
                        1.0,
                        a.as_ptr().add(i0 * n + j0),
                        n,
                        1,
                        b.as_ptr().add(j0 * n + j0),
                        n,
                        1,
                        0.0,
                        ob.as_mut_ptr().add(j0),
                        n,
                        1,
                    );
                }
                j0 = j1;
            }
        });
    for i in 0..n {
        for j in i + 1..n {
            out[i * n + j] = 0.0;
        }
    }
    out
}

/// `x^T x` (r x r, symmetric) for the `rows x r` row-major `x`: the lower block rows are
/// independent products (run in parallel), then mirrored.
pub(crate) fn gram(x: &[f64], rows: usize, r: usize) -> Vec<f64> {
    gram_from(x, rows, r, false)
}

/// `x^T x` for a lower-triangular `x` (r x r): block row I only needs rows from I0 on.
pub(crate) fn gram_lower(x: &[f64], r: usize) -> Vec<f64> {
    gram_from(x, r, r, true)
}

fn gram_from(x: &[f64], rows: usize, r: usize, lower: bool) -> Vec<f64> {
    assert!(x.len() >= rows * r);

    let starts: Vec<usize> = (0..r).step_by(NB).collect();
    let blocks: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&i0| {
            let i1 = (i0 + NB).min(r);
            let mut g = vec![0.0; (i1 - i0) * i1];
            // Rows before k0 are zero in columns i0.. of a lower-triangular x.
            let k0 = if lower { i0 } else { 0 };
            assert!(fits(x.len(), k0 * r + i0, i1 - i0, rows - k0, 1, r));
            // SAFETY: A = x[k0.., i0..i1]^T (strides 1, r) and B = x[k0.., 0..i1] (strides
            // r, 1) are only read, inside x (the `fits` assert covers A; B's last entry,
            // (rows - 1) r + i1 - 1, is below rows r <= x.len()). C = g, this task's own
            // (i1 - i0) x i1 buffer.
            unsafe {
                gemm_raw(
                    i1 - i0,
                    rows - k0,
                    i1,
                    1.0,
                    x.as_ptr().add(k0 * r + i0),
                    1,
                    r,
                    x.as_ptr().add(k0 * r),
                    r,
                    1,
                    0.0,
                    g.as_mut_ptr(),
                    i1,
                    1,
                );
            }
            g
        })
        .collect();
    let mut out = vec![0.0; r * r];
    for (&i0, g) in starts.iter().zip(&blocks) {
        let i1 = (i0 + NB).min(r);
        for i in i0..i1 {
            for j in 0..=i {
                let v = g[(i - i0) * i1 + j];
                out[i * r + j] = v;
                out[j * r + i] = v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * (n + 3)).map(|_| rng.uniform() - 0.5).collect();
        let mut a = gram(&x, n + 3, n);
        for i in 0..n {
            a[i * n + i] += 0.1;
        }
        a
    }

    #[test]
    fn blocked_routines_match_the_unblocked_ones() {
        for &n in &[1usize, 5, 64, 65, 150] {
            let a = spd(n, n as u64);
            let l = cholesky(&a, n, 0.0).unwrap();
            let l0 = linalg::cholesky(&a, n).unwrap();
            for (u, v) in l.iter().zip(&l0) {
                assert!((u - v).abs() < 1e-10 * (1.0 + v.abs()));
            }
            let li = lower_inverse(&l, n);
            let mut prod = vec![0.0; n * n];
            linalg::matmul(&l, &li, &mut prod, n, n, n);
            for i in 0..n {
                for j in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((prod[i * n + j] - e).abs() < 1e-9, "{n} {i} {j}");
                }
            }
            // x li^T against the plain product.
            let rows = 7;
            let x: Vec<f64> = (0..rows * n).map(|q| (q as f64 * 0.37).sin()).collect();
            let mut out = vec![0.0; rows * n];
            mul_lower_t(&x, n, 1, rows, n, &li, &mut out);
            let mut lit = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    lit[j * n + i] = li[i * n + j];
                }
            }
            let mut want = vec![0.0; rows * n];
            linalg::matmul(&x, &lit, &mut want, rows, n, n);
            for (u, v) in out.iter().zip(&want) {
                assert!((u - v).abs() < 1e-9 * (1.0 + v.abs()));
            }
        }
        for &n in &[3usize, 70, 130] {
            let a = spd(n, 7 + n as u64);
            let l = cholesky(&a, n, 0.0).unwrap();
            let li = lower_inverse(&l, n);
            let p = mul_lower_lower(&l, &li, n);
            let g = gram_lower(&li, n);
            let mut lit = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    lit[j * n + i] = li[i * n + j];
                }
            }
            let mut want = vec![0.0; n * n];
            linalg::matmul(&lit, &li, &mut want, n, n, n);
            for i in 0..n {
                for j in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((p[i * n + j] - e).abs() < 1e-9);
                    let w = want[i * n + j];
                    assert!((g[i * n + j] - w).abs() < 1e-9 * (1.0 + w.abs()));
                }
            }
        }
        // The parallel panels give the same bits on any number of threads.
        let n = 200;
        let a = spd(n, 99);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let l = cholesky(&a, n, 0.0).unwrap();
                let li = lower_inverse(&l, n);
                let p = mul_lower_lower(&l, &li, n);
                (l, li, p)
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
        // A rank-one PSD matrix: the second column of its factor is zero.
        let l = cholesky_psd(&[4.0, 2.0, 2.0, 1.0], 2, 1e-12);
        assert_eq!(l, vec![2.0, 0.0, 1.0, 0.0]);
        // Not positive definite: refused.
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2, 0.0).is_none());
        // [[1e32, 1e16], [1e16, 1 + 1e-20]] = v v^T + 1e-20 I: the second pivot (1e-20 in
        // exact arithmetic) rounds to 0, is refused by the plain factor and floored.
        let a = [1e32 + 1e-20, 1e16, 1e16, 1.0 + 1e-20];
        assert!(cholesky(&a, 2, 0.0).is_none());
        let l = cholesky_floored(&a, 2, 1e-20).unwrap();
        assert_eq!(l, vec![1e16, 0.0, 1.0, 1e-20f64.sqrt()]);
        // Pivots above the floor are those of the plain factor, bit for bit.
        let a = spd(70, 5);
        assert_eq!(cholesky_floored(&a, 70, 1e-12), cholesky(&a, 70, 1e-12));
        assert!(cholesky_floored(&[f64::NAN], 1, 1.0).is_none());
        assert!(cholesky_floored(&[f64::INFINITY], 1, 1.0).is_none());
    }
}
