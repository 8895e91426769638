//! Frequent Directions sketches of a design matrix (Liberty 2013; Ghashami, Liberty, Phillips
//! and Woodruff 2016) and sketched LinUCB on them (SOFUL: Kuzborskij, Cella and Cesa-Bianchi
//! 2019), O(m d) per decision and update instead of O(d^2).

use super::linear::{Precision, PROBABILITY_SAMPLES};
use super::{
    check_contexts, pick, rename_single, ContextualPolicy, LinearBase, Link, PrivateBatch,
    RidgeModel,
};
use crate::error::{Error, Result};
use crate::linalg;
use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;
use crate::state::Persist;
use crate::stats::argmax_distribution;
use serde::{Deserialize, Serialize};

/// The largest number of f64 values a sketched policy may hold (2^31, 16 GB), checked before
/// any allocation.
const MAX_VALUES: usize = 1 << 31;

/// Eigenvalues (descending) and eigenvectors (column i of the row-major n x n result) of a
/// symmetric n x n matrix, by cyclic Jacobi rotations (n is at most twice a sketch size).
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    // Cyclic sweeps converge quadratically; stop once the off-diagonal mass is at rounding
    // level (1e-14 relative in the entries), where further sweeps no longer reduce it.
    for _ in 0..50 {
        let mut off = 0.0;
        for i in 0..n {
            for j in 0..i {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-28 * total || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let vals = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (c, &i) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + c] = v[k * n + i];
        }
    }
    (vals, vecs)
}

/// Eigenvalues (descending) and eigenvectors (column i of the row-major n x n result) of a
/// symmetric n x n matrix, by faer's self-adjoint eigendecomposition (Householder
/// tridiagonalization, then implicit QR or divide and conquer; sequential: n is at most
/// twice a sketch size). Falls back to [`sym_eigen`] if the QR iteration does not converge.
pub fn sym_eigen_fast(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    use faer::diag::Diag;
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
    use faer::{Mat, MatRef, Par};
    assert!(a.len() >= n * n);
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let m = MatRef::from_row_major_slice(&a[..n * n], n, n);
    let mut u = Mat::<f64>::zeros(n, n);
    let mut s = Diag::<f64>::zeros(n);
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        Par::Seq,
        Default::default(),
    ));
    let ok = self_adjoint_evd(
        m,
        s.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let finite = (0..n).all(|i| s[i].is_finite());
    if ok.is_err() || !finite {
        return sym_eigen(a, n);
    }
    // faer sorts ascending: reverse.
    let vals = (0..n).map(|i| s[n - 1 - i]).collect();
    let mut vecs = vec![0.0; n * n];
    for k in 0..n {
        for (c, v) in vecs[k * n..(k + 1) * n].iter_mut().enumerate() {
            *v = u[(k, n - 1 - c)];
        }
    }
    (vals, vecs)
}

/// C = A B (beta = 0) or C += A B (beta = 1) for A (m x k), B (k x n) and C (m x n) given by
/// their element strides (rows, columns).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm(
    (m, k, n): (usize, usize, usize),
    a: &[f64],
    (rsa, csa): (usize, usize),
    b: &[f64],
    (rsb, csb): (usize, usize),
    c: &mut [f64],
    rsc: usize,
    beta: f64,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
    };
    if k > 0 {
        assert!(a.len() > last(m, k, rsa, csa) && b.len() > last(k, n, rsb, csb));
    }
    assert!(c.len() > last(m, n, rsc, 1));
    // SAFETY: dgemm reads A[i][p] at i rsa + p csa (i < m, p < k), B[p][j] at p rsb + j csb
    // and writes C[i][j] at i rsc + j: the largest offsets are in bounds by the asserts.
    // `c` is a `&mut` borrow, so it overlaps neither `a` nor `b`.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

/// G = B B^T (r x r, row-major) of the first r rows of a row-major r x d matrix.
fn gram_of_rows(b: &[f64], r: usize, d: usize) -> Vec<f64> {
    let mut g = vec![0.0; r * r];
    gemm((r, d, r), b, (d, 1), b, (1, d), &mut g, r, 0.0);
    // Exactly symmetric (the blocked product may round the two triangles differently).
    for i in 0..r {
        for j in 0..i {
            let v = 0.5 * (g[i * r + j] + g[j * r + i]);
            g[i * r + j] = v;
            g[j * r + i] = v;
        }
    }
    g
}

/// out[i] = (row i of the row-major `rows`, d values) . x for i < out.len(): four rows at a
/// time on AVX2/FMA, so each load of x serves four rows and eight sums are in flight.
pub fn dot_rows(rows: &[f64], d: usize, x: &[f64], out: &mut [f64]) {
    dot_rows_strided(rows, d, d, x, out);
}

/// out[i] = rows[i stride .. i stride + len] . x[..len] for i < out.len() (rows of `len`
/// values `stride` apart): [`dot_rows`] on a sub-matrix.
fn dot_rows_strided(rows: &[f64], stride: usize, len: usize, x: &[f64], out: &mut [f64]) {
    let r = out.len();
    if r == 0 {
        return;
    }
    assert!(len <= stride && rows.len() >= (r - 1) * stride + len && x.len() >= len);
    #[cfg(target_arch = "x86_64")]
    {
        if len >= 8 && crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the lengths are asserted.
            unsafe { dot_rows_avx2_fma(rows, stride, len, x, out) };
            return;
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = linalg::dot(&rows[i * stride..i * stride + len], &x[..len]);
    }
}

/// [`dot_rows`] with AVX2/FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `out` is not empty, `len <= stride`,
/// `rows.len() >= (out.len() - 1) * stride + len` and `x.len() >= len`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_avx2_fma(rows: &[f64], stride: usize, d: usize, x: &[f64], out: &mut [f64]) {
    use std::arch::x86_64::*;
    #[inline(always)]
    unsafe fn hsum(v: __m256d) -> f64 {
        let lo = _mm256_castpd256_pd128(v);
        let hi = _mm256_extractf128_pd(v, 1);
        let s = _mm_add_pd(lo, hi);
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }
    let r = out.len();
    let px = x.as_ptr();
    let mut i = 0;
    while i + 4 <= r {
        let p0 = rows.as_ptr().add(i * stride);
        let (p1, p2, p3) = (p0.add(stride), p0.add(2 * stride), p0.add(3 * stride));
        let mut a0 = _mm256_setzero_pd();
        let mut a1 = _mm256_setzero_pd();
        let mut a2 = _mm256_setzero_pd();
        let mut a3 = _mm256_setzero_pd();
        let mut b0 = _mm256_setzero_pd();
        let mut b1 = _mm256_setzero_pd();
        let mut b2 = _mm256_setzero_pd();
        let mut b3 = _mm256_setzero_pd();
        let mut j = 0;
        while j + 8 <= d {
            let x0 = _mm256_loadu_pd(px.add(j));
            let x1 = _mm256_loadu_pd(px.add(j + 4));
            a0 = _mm256_fmadd_pd(_mm256_loadu_pd(p0.add(j)), x0, a0);
            a1 = _mm256_fmadd_pd(_mm256_loadu_pd(p1.add(j)), x0, a1);
            a2 = _mm256_fmadd_pd(_mm256_loadu_pd(p2.add(j)), x0, a2);
            a3 = _mm256_fmadd_pd(_mm256_loadu_pd(p3.add(j)), x0, a3);
            b0 = _mm256_fmadd_pd(_mm256_loadu_pd(p0.add(j + 4)), x1, b0);
            b1 = _mm256_fmadd_pd(_mm256_loadu_pd(p1.add(j + 4)), x1, b1);
            b2 = _mm256_fmadd_pd(_mm256_loadu_pd(p2.add(j + 4)), x1, b2);
            b3 = _mm256_fmadd_pd(_mm256_loadu_pd(p3.add(j + 4)), x1, b3);
            j += 8;
        }
        if j + 4 <= d {
            let x0 = _mm256_loadu_pd(px.add(j));
            a0 = _mm256_fmadd_pd(_mm256_loadu_pd(p0.add(j)), x0, a0);
            a1 = _mm256_fmadd_pd(_mm256_loadu_pd(p1.add(j)), x0, a1);
            a2 = _mm256_fmadd_pd(_mm256_loadu_pd(p2.add(j)), x0, a2);
            a3 = _mm256_fmadd_pd(_mm256_loadu_pd(p3.add(j)), x0, a3);
            j += 4;
        }
        let mut s = [
            hsum(_mm256_add_pd(a0, b0)),
            hsum(_mm256_add_pd(a1, b1)),
            hsum(_mm256_add_pd(a2, b2)),
            hsum(_mm256_add_pd(a3, b3)),
        ];
        while j < d {
            let xv = *px.add(j);
            s[0] += *p0.add(j) * xv;
            s[1] += *p1.add(j) * xv;
            s[2] += *p2.add(j) * xv;
            s[3] += *p3.add(j) * xv;
            j += 1;
        }
        out[i..i + 4].copy_from_slice(&s);
        i += 4;
    }
    while i < r {
        out[i] = linalg::dot(&rows[i * stride..i * stride + d], &x[..d]);
        i += 1;
    }
}

/// ox[i] = row i . x and oy[i] = row i . y for i < ox.len() (row-major rows of d values):
/// each row read once for both products.
fn dot_rows2(rows: &[f64], d: usize, x: &[f64], y: &[f64], ox: &mut [f64], oy: &mut [f64]) {
    let r = ox.len();
    assert!(oy.len() == r && rows.len() >= r * d && x.len() >= d && y.len() >= d);
    #[cfg(target_arch = "x86_64")]
    {
        if d >= 4 && crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the lengths are asserted.
            unsafe { dot_rows2_avx2_fma(rows, d, x, y, ox, oy) };
            return;
        }
    }
    for i in 0..r {
        let row = &rows[i * d..(i + 1) * d];
        ox[i] = linalg::dot(row, &x[..d]);
        oy[i] = linalg::dot(row, &y[..d]);
    }
}

/// [`dot_rows2`] with AVX2/FMA, two rows at a time (eight sums in flight).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `rows.len() >= ox.len() * d`, `x.len() >= d`,
/// `y.len() >= d` and `oy.len() == ox.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows2_avx2_fma(
    rows: &[f64],
    d: usize,
    x: &[f64],
    y: &[f64],
    ox: &mut [f64],
    oy: &mut [f64],
) {
    use std::arch::x86_64::*;
    #[inline(always)]
    unsafe fn hsum(v: __m256d) -> f64 {
        let lo = _mm256_castpd256_pd128(v);
        let hi = _mm256_extractf128_pd(v, 1);
        let s = _mm_add_pd(lo, hi);
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }
    let r = ox.len();
    let (px, py) = (x.as_ptr(), y.as_ptr());
    let mut i = 0;
    while i < r {
        let two = i + 1 < r;
        let p0 = rows.as_ptr().add(i * d);
        // A lone last row reads itself twice (in bounds) and keeps the first result.
        let p1 = if two { p0.add(d) } else { p0 };
        let mut ax0 = _mm256_setzero_pd();
        let mut ay0 = _mm256_setzero_pd();
        let mut ax1 = _mm256_setzero_pd();
        let mut ay1 = _mm256_setzero_pd();
        let mut bx0 = _mm256_setzero_pd();
        let mut by0 = _mm256_setzero_pd();
        let mut bx1 = _mm256_setzero_pd();
        let mut by1 = _mm256_setzero_pd();
        let mut j = 0;
        while j + 8 <= d {
            let (x0, y0) = (_mm256_loadu_pd(px.add(j)), _mm256_loadu_pd(py.add(j)));
            let (x1, y1) = (
                _mm256_loadu_pd(px.add(j + 4)),
                _mm256_loadu_pd(py.add(j + 4)),
            );
            let (r0, r1) = (_mm256_loadu_pd(p0.add(j)), _mm256_loadu_pd(p1.add(j)));
            let (s0, s1) = (
                _mm256_loadu_pd(p0.add(j + 4)),
                _mm256_loadu_pd(p1.add(j + 4)),
            );
            ax0 = _mm256_fmadd_pd(r0, x0, ax0);
            ay0 = _mm256_fmadd_pd(r0, y0, ay0);
            ax1 = _mm256_fmadd_pd(r1, x0, ax1);
            ay1 = _mm256_fmadd_pd(r1, y0, ay1);
            bx0 = _mm256_fmadd_pd(s0, x1, bx0);
            by0 = _mm256_fmadd_pd(s0, y1, by0);
            bx1 = _mm256_fmadd_pd(s1, x1, bx1);
            by1 = _mm256_fmadd_pd(s1, y1, by1);
            j += 8;
        }
        if j + 4 <= d {
            let (x0, y0) = (_mm256_loadu_pd(px.add(j)), _mm256_loadu_pd(py.add(j)));
            let (r0, r1) = (_mm256_loadu_pd(p0.add(j)), _mm256_loadu_pd(p1.add(j)));
            ax0 = _mm256_fmadd_pd(r0, x0, ax0);
            ay0 = _mm256_fmadd_pd(r0, y0, ay0);
            ax1 = _mm256_fmadd_pd(r1, x0, ax1);
            ay1 = _mm256_fmadd_pd(r1, y0, ay1);
            j += 4;
        }
        let mut s = [
            hsum(_mm256_add_pd(ax0, bx0)),
            hsum(_mm256_add_pd(ay0, by0)),
            hsum(_mm256_add_pd(ax1, bx1)),
            hsum(_mm256_add_pd(ay1, by1)),
        ];
        while j < d {
            let (xv, yv) = (*px.add(j), *py.add(j));
            s[0] += *p0.add(j) * xv;
            s[1] += *p0.add(j) * yv;
            s[2] += *p1.add(j) * xv;
            s[3] += *p1.add(j) * yv;
            j += 1;
        }
        ox[i] = s[0];
        oy[i] = s[1];
        if two {
            ox[i + 1] = s[2];
            oy[i + 1] = s[3];
        }
        i += 2;
    }
}

/// out[i] = (row i of the row-major float32 `rows`, d values) . x for i < out.len(), every
/// product and sum in float64 (each float32 value widened exactly): [`dot_rows`] on the
/// float32 copy of a sketch (`precision="float32"`), half the bytes.
fn dot_rows_f32(rows: &[f32], d: usize, x: &[f64], out: &mut [f64]) {
    let r = out.len();
    if r == 0 {
        return;
    }
    assert!(rows.len() >= r * d && x.len() >= d);
    #[cfg(target_arch = "x86_64")]
    {
        if d >= 8 && crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the lengths are asserted.
            unsafe { dot_rows_f32_avx2_fma(rows, d, x, out) };
            return;
        }
    }
    dot_rows_f32_portable(rows, d, x, out);
}

fn dot_rows_f32_portable(rows: &[f32], d: usize, x: &[f64], out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = rows[i * d..(i + 1) * d]
            .iter()
            .zip(&x[..d])
            .map(|(&v, xj)| v as f64 * xj)
            .sum();
    }
}

/// [`dot_rows_f32`] with AVX2/FMA: four rows at a time, four float32 values widened to
/// float64 per load, eight sums in flight.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `out` is not empty, `rows.len() >= out.len() * d`
/// and `x.len() >= d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_f32_avx2_fma(rows: &[f32], d: usize, x: &[f64], out: &mut [f64]) {
    use std::arch::x86_64::*;
    #[inline(always)]
    unsafe fn hsum(v: __m256d) -> f64 {
        let lo = _mm256_castpd256_pd128(v);
        let hi = _mm256_extractf128_pd(v, 1);
        let s = _mm_add_pd(lo, hi);
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }
    #[inline(always)]
    unsafe fn ld(p: *const f32) -> __m256d {
        _mm256_cvtps_pd(_mm_loadu_ps(p))
    }
    let r = out.len();
    let px = x.as_ptr();
    let mut i = 0;
    while i < r {
        let n = (r - i).min(4);
        let p0 = rows.as_ptr().add(i * d);
        // Missing rows (n < 4) read row 0 again (in bounds); their sums are dropped.
        let p = |k: usize| if k < n { p0.add(k * d) } else { p0 };
        let (p1, p2, p3) = (p(1), p(2), p(3));
        let mut a0 = _mm256_setzero_pd();
        let mut a1 = _mm256_setzero_pd();
        let mut a2 = _mm256_setzero_pd();
        let mut a3 = _mm256_setzero_pd();
        let mut b0 = _mm256_setzero_pd();
        let mut b1 = _mm256_setzero_pd();
        let mut b2 = _mm256_setzero_pd();
        let mut b3 = _mm256_setzero_pd();
        let mut j = 0;
        while j + 8 <= d {
            let x0 = _mm256_loadu_pd(px.add(j));
            let x1 = _mm256_loadu_pd(px.add(j + 4));
            a0 = _mm256_fmadd_pd(ld(p0.add(j)), x0, a0);
            a1 = _mm256_fmadd_pd(ld(p1.add(j)), x0, a1);
            a2 = _mm256_fmadd_pd(ld(p2.add(j)), x0, a2);
            a3 = _mm256_fmadd_pd(ld(p3.add(j)), x0, a3);
            b0 = _mm256_fmadd_pd(ld(p0.add(j + 4)), x1, b0);
            b1 = _mm256_fmadd_pd(ld(p1.add(j + 4)), x1, b1);
            b2 = _mm256_fmadd_pd(ld(p2.add(j + 4)), x1, b2);
            b3 = _mm256_fmadd_pd(ld(p3.add(j + 4)), x1, b3);
            j += 8;
        }
        if j + 4 <= d {
            let x0 = _mm256_loadu_pd(px.add(j));
            a0 = _mm256_fmadd_pd(ld(p0.add(j)), x0, a0);
            a1 = _mm256_fmadd_pd(ld(p1.add(j)), x0, a1);
            a2 = _mm256_fmadd_pd(ld(p2.add(j)), x0, a2);
            a3 = _mm256_fmadd_pd(ld(p3.add(j)), x0, a3);
            j += 4;
        }
        let mut s = [
            hsum(_mm256_add_pd(a0, b0)),
            hsum(_mm256_add_pd(a1, b1)),
            hsum(_mm256_add_pd(a2, b2)),
            hsum(_mm256_add_pd(a3, b3)),
        ];
        while j < d {
            let xv = *px.add(j);
            s[0] += *p0.add(j) as f64 * xv;
            s[1] += *p1.add(j) as f64 * xv;
            s[2] += *p2.add(j) as f64 * xv;
            s[3] += *p3.add(j) as f64 * xv;
            j += 1;
        }
        out[i..i + n].copy_from_slice(&s[..n]);
        i += 4;
    }
}

/// t -= sum_i c[i] row_i over the first c.len() rows (row-major, d values each).
fn sub_rows(rows: &[f64], d: usize, c: &[f64], t: &mut [f64]) {
    let r = c.len();
    assert!(rows.len() >= r * d && t.len() >= d);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the lengths are asserted.
            unsafe { sub_rows_avx2_fma(rows, d, c, t) };
            return;
        }
    }
    for (i, ci) in c.iter().enumerate() {
        for (o, v) in t.iter_mut().zip(&rows[i * d..(i + 1) * d]) {
            *o -= ci * v;
        }
    }
}

/// [`sub_rows`] with AVX2/FMA, four rows per pass over t.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `rows.len() >= c.len() * d` and `t.len() >= d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sub_rows_avx2_fma(rows: &[f64], d: usize, c: &[f64], t: &mut [f64]) {
    use std::arch::x86_64::*;
    let r = c.len();
    let pt = t.as_mut_ptr();
    let mut i = 0;
    while i < r {
        let n = (r - i).min(4);
        let p0 = rows.as_ptr().add(i * d);
        // Missing rows (n < 4) repeat row 0 with a zero coefficient.
        let p = |k: usize| if k < n { p0.add(k * d) } else { p0 };
        let cf = |k: usize| if k < n { -c[i + k] } else { 0.0 };
        let (p1, p2, p3) = (p(1), p(2), p(3));
        let (c0, c1, c2, c3) = (
            _mm256_set1_pd(cf(0)),
            _mm256_set1_pd(cf(1)),
            _mm256_set1_pd(cf(2)),
            _mm256_set1_pd(cf(3)),
        );
        let mut j = 0;
        while j + 4 <= d {
            let mut v = _mm256_loadu_pd(pt.add(j));
            v = _mm256_fmadd_pd(_mm256_loadu_pd(p0.add(j)), c0, v);
            v = _mm256_fmadd_pd(_mm256_loadu_pd(p1.add(j)), c1, v);
            v = _mm256_fmadd_pd(_mm256_loadu_pd(p2.add(j)), c2, v);
            v = _mm256_fmadd_pd(_mm256_loadu_pd(p3.add(j)), c3, v);
            _mm256_storeu_pd(pt.add(j), v);
            j += 4;
        }
        while j < d {
            let mut v = *pt.add(j);
            v += *p0.add(j) * cf(0) + *p1.add(j) * cf(1) + *p2.add(j) * cf(2) + *p3.add(j) * cf(3);
            *pt.add(j) = v;
            j += 1;
        }
        i += 4;
    }
}

/// A scratch vector of n values: on the stack up to 256, else on the heap.
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    if n <= 256 {
        let mut b = [0.0; 256];
        f(&mut b[..n])
    } else {
        f(&mut vec![0.0; n])
    }
}

/// A Frequent Directions sketch S of the rows fed to it, in the buffered form of Ghashami et
/// al. (2016, Algorithm 3.1) with l = m + 1: rows are appended to a 2m x d buffer; when it is
/// full, S = U Sigma V^T, delta = sigma_{m+1}^2 and S <- sqrt(max(Sigma^2 - delta, 0)) V^T, so m
/// rows survive and the amortized cost is O(m d) per row. Guarantee (their Theorem 3.1 with
/// l = m + 1): 0 <= A^T A - S^T S <= (sum of the deltas) I <= ||A - A_k||_F^2 / (m + 1 - k) I for
/// every k <= m. Data of rank at most m is kept exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrequentDirections {
    pub dim: usize,
    pub size: usize,
    /// The 2m x d buffer, row-major; rows `filled..` are zero.
    pub rows: Vec<f64>,
    pub filled: usize,
    /// Sum of the deltas subtracted so far (the spectral error bound).
    pub shrinkage: f64,
}

impl FrequentDirections {
    /// A sketch of `size` rows (m >= 1) of `dim` features.
    pub fn new(dim: usize, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::param("sketch_size", "must be at least 1, got 0"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if size
            .checked_mul(2)
            .and_then(|r| r.checked_mul(dim))
            .is_none_or(|v| v > MAX_VALUES)
        {
            return Err(Error::param(
                "sketch_size",
                format!("2 * sketch_size * dim must be at most {MAX_VALUES}, got sketch_size {size} with dim {dim}"),
            ));
        }
        Ok(FrequentDirections {
            dim,
            size,
            rows: vec![0.0; 2 * size * dim],
            filled: 0,
            shrinkage: 0.0,
        })
    }

    /// Row i of the buffer.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Appends a row; returns the squared norms of the surviving rows when the buffer filled
    /// and was shrunk (its rows are then orthogonal).
    pub fn insert(&mut self, x: &[f64]) -> Option<Vec<f64>> {
        let d = self.dim;
        self.rows[self.filled * d..(self.filled + 1) * d].copy_from_slice(x);
        self.filled += 1;
        if self.filled == 2 * self.size {
            Some(self.shrink())
        } else {
            None
        }
    }

    /// Appends rows (row-major, `dim` values each), shrinking whenever the buffer fills.
    pub fn extend(&mut self, rows: &[f64]) {
        let d = self.dim;
        assert_eq!(rows.len() % d, 0, "whole rows");
        let mut rest = rows;
        while !rest.is_empty() {
            let room = 2 * self.size - self.filled;
            let take = room.min(rest.len() / d);
            self.rows[self.filled * d..(self.filled + take) * d].copy_from_slice(&rest[..take * d]);
            self.filled += take;
            rest = &rest[take * d..];
            if self.filled == 2 * self.size {
                self.shrink();
            }
        }
    }

    /// The shrink step, on the Gram matrix S S^T (2m x 2m, one matrix product): with its
    /// eigenpairs (lambda_i, u_i) (faer's self-adjoint eigendecomposition), S = U Sigma V^T
    /// gives the new rows sqrt((lambda_i - delta) / lambda_i) u_i^T S, one m x 2m by 2m x d
    /// product.
    fn shrink(&mut self) -> Vec<f64> {
        let (d, r, m) = (self.dim, self.filled, self.size);
        let g = gram_of_rows(&self.rows[..r * d], r, d);
        let (vals, vecs) = sym_eigen_fast(&g, r);
        let delta = vals[m].max(0.0);
        let mut coef = vec![0.0; m * r];
        let mut norms = vec![0.0; m];
        for i in 0..m {
            let lam = vals[i];
            if lam <= delta || lam <= 0.0 {
                continue;
            }
            let c = ((lam - delta) / lam).sqrt();
            for j in 0..r {
                coef[i * r + j] = c * vecs[j * r + i];
            }
            norms[i] = lam - delta;
        }
        let mut rows = vec![0.0; self.rows.len()];
        gemm(
            (m, r, d),
            &coef,
            (r, 1),
            &self.rows[..r * d],
            (d, 1),
            &mut rows[..m * d],
            d,
            0.0,
        );
        self.rows = rows;
        self.filled = m;
        self.shrinkage += delta;
        norms
    }

    /// S^T S (d x d), for checks.
    pub fn gram(&self) -> Vec<f64> {
        let d = self.dim;
        let mut g = vec![0.0; d * d];
        for i in 0..self.filled {
            linalg::add_sym_outer(&mut g, self.row(i), 1.0);
        }
        g
    }
}

/// One arm's sketched ridge model: A = S^T S + c I with S a Frequent Directions sketch of
/// the rows sqrt(w) x and c the regularizer ([`SketchedRidge::regularizer`]), and
/// H = (S S^T + c I)^{-1} on the filled rows (2m x 2m storage), so that by Woodbury
/// A^{-1} = (I - S^T H S) / c costs O(m d) per product. H grows by a bordered (Schur
/// complement) step per row and is diagonal after each shrink (the only time c changes).
///
/// Under `precision="float32"`, `rows32` holds the filled rows of S rounded to float32
/// (2m x d storage), which single decisions and batch scoring read instead of the float64
/// rows: half the bytes a decision streams. It is re-derived from the float64 rows after
/// every change of them (the appended row, or all rows after a shrink or a block of rows),
/// never updated in float32, so it carries one rounding and no drift; H, theta and b stay
/// float64, and the float64 state is exactly a float64 model's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedRidge {
    pub fd: FrequentDirections,
    pub h: Vec<f64>,
    #[serde(skip)]
    rows32: Option<Vec<f32>>,
}

impl SketchedRidge {
    fn new(dim: usize, size: usize) -> Result<Self> {
        let fd = FrequentDirections::new(dim, size)?;
        Ok(SketchedRidge {
            h: vec![0.0; 4 * size * size],
            fd,
            rows32: None,
        })
    }

    /// Keeps (derived from the float64 rows) or drops the float32 copy of the rows.
    fn set_f32_copy(&mut self, on: bool) {
        if on {
            let mut c = self.rows32.take().unwrap_or_default();
            c.clear();
            c.resize(self.fd.rows.len(), 0.0);
            self.rows32 = Some(c);
            self.sync_f32_rows(0);
        } else {
            self.rows32 = None;
        }
    }

    /// Re-derives the float32 copy (if kept) of the filled rows from `from` on.
    fn sync_f32_rows(&mut self, from: usize) {
        if let Some(c) = &mut self.rows32 {
            let (d, r) = (self.fd.dim, self.fd.filled);
            // Rounded to nearest; values beyond float32's range (only from weights far
            // above any sensible one) saturate instead of becoming infinite.
            for (o, v) in c[from * d..r * d]
                .iter_mut()
                .zip(&self.fd.rows[from * d..r * d])
            {
                *o = (*v as f32).clamp(-f32::MAX, f32::MAX);
            }
        }
    }

    /// c = lam, or lam + (sum of the deltas) / 2 for the robust variant (Robust Frequent
    /// Directions, Luo et al. 2019: S^T S + (Delta / 2) I is within Delta / 2 of X^T X).
    pub fn regularizer(&self, lam: f64, robust: bool) -> f64 {
        if robust {
            lam + 0.5 * self.fd.shrinkage
        } else {
            lam
        }
    }

    fn stride(&self) -> usize {
        2 * self.fd.size
    }

    /// u = S x over the filled rows.
    fn project(&self, x: &[f64], u: &mut [f64]) {
        let r = self.fd.filled;
        dot_rows(&self.fd.rows, self.fd.dim, x, &mut u[..r]);
    }

    /// x^T A^{-1} x = (|x|^2 - u^T H u) / c with u = S x, given xx = |x|^2 and scratch
    /// `u` and `hu` of at least the filled rows each.
    fn quad_into(&self, x: &[f64], xx: f64, lam: f64, u: &mut [f64], hu: &mut [f64]) -> f64 {
        let (r, s) = (self.fd.filled, self.stride());
        let (u, hu) = (&mut u[..r], &mut hu[..r]);
        match &self.rows32 {
            Some(c) => dot_rows_f32(c, self.fd.dim, x, u),
            None => dot_rows(&self.fd.rows, self.fd.dim, x, u),
        }
        dot_rows_strided(&self.h, s, r, u, hu);
        ((xx - linalg::dot(u, hu)) / lam).max(0.0)
    }

    /// x^T A^{-1} x.
    fn quad(&self, x: &[f64], lam: f64) -> f64 {
        let r = self.fd.filled;
        with_scratch(2 * r, |buf| {
            let (u, hu) = buf.split_at_mut(r);
            self.quad_into(x, linalg::dot(x, x), lam, u, hu)
        })
    }

    /// Adds the row sqrt(w) x to the sketch and keeps H current (theta is the caller's:
    /// [`Self::solve`]). The policies use the fused [`Self::add_row_and_solve`]; this form
    /// stays for sketches kept without a b.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn add_row(&mut self, x: &[f64], weight: f64, lam0: f64, robust: bool) {
        let s = self.stride();
        let lam = self.regularizer(lam0, robust);
        let row: Vec<f64> = x.iter().map(|v| weight.sqrt() * v).collect();
        let r = self.fd.filled;
        let mut c = vec![0.0; r];
        self.project(&row, &mut c);
        // k = H c, schur = (row.row + lam) - c^T k; H' = [[H + k k^T / schur, -k / schur],
        // [-k^T / schur, 1 / schur]].
        let mut k = vec![0.0; r];
        for i in 0..r {
            k[i] = linalg::dot(&self.h[i * s..i * s + r], &c);
        }
        let schur = (linalg::dot(&row, &row) + lam - linalg::dot(&c, &k)).max(lam);
        for i in 0..r {
            for j in 0..r {
                self.h[i * s + j] += k[i] * k[j] / schur;
            }
            self.h[i * s + r] = -k[i] / schur;
            self.h[r * s + i] = -k[i] / schur;
        }
        self.h[r * s + r] = 1.0 / schur;
        if let Some(norms) = self.fd.insert(&row) {
            let lam = self.regularizer(lam0, robust);
            self.h.fill(0.0);
            for (i, n) in norms.iter().enumerate() {
                self.h[i * s + i] = 1.0 / (n + lam);
            }
        }
        self.sync_f32_rows(0);
    }

    /// Adds the row sqrt(w) x to the sketch, keeps H current by a bordered (Schur
    /// complement) step, then solves theta = A^{-1} b for the updated b (`b` already includes the
    /// row), fused: one pass over the sketch gives both S row and S b (the new row's share
    /// of S b is one more dot product), one more gives theta. Equal to adding the row then
    /// [`Self::solve`] up to rounding.
    fn add_row_and_solve(
        &mut self,
        x: &[f64],
        weight: f64,
        lam0: f64,
        robust: bool,
        b: &[f64],
        theta: &mut [f64],
    ) {
        let (s, d) = (self.stride(), self.fd.dim);
        let lam = self.regularizer(lam0, robust);
        let r = self.fd.filled;
        let sw = weight.sqrt();
        let mut stack = [0.0; 512];
        let mut heap = Vec::new();
        let buf: &mut [f64] = if 4 * (r + 1) <= stack.len() {
            &mut stack[..]
        } else {
            heap.resize(4 * (r + 1), 0.0);
            &mut heap[..]
        };
        let (c, rest) = buf.split_at_mut(r);
        let (ub, rest) = rest.split_at_mut(r + 1);
        let (k, rest) = rest.split_at_mut(r);
        let hu = &mut rest[..r + 1];
        let schur = {
            let (old, rest) = self.fd.rows.split_at_mut(r * d);
            let row = &mut rest[..d];
            for (o, v) in row.iter_mut().zip(x) {
                *o = sw * v;
            }
            let row: &[f64] = row;
            dot_rows2(old, d, row, b, c, &mut ub[..r]);
            ub[r] = linalg::dot(row, b);
            // k = H c, schur = (row.row + lam) - c^T k; H' = [[H + k k^T / schur,
            // -k / schur], [-k^T / schur, 1 / schur]].
            for i in 0..r {
                k[i] = linalg::dot(&self.h[i * s..i * s + r], c);
            }
            (linalg::dot(row, row) + lam - linalg::dot(c, k)).max(lam)
        };
        for i in 0..r {
            let ki = k[i] / schur;
            for (h, kj) in self.h[i * s..i * s + r].iter_mut().zip(&*k) {
                *h += ki * kj;
            }
            self.h[i * s + r] = -ki;
            self.h[r * s + i] = -ki;
        }
        self.h[r * s + r] = 1.0 / schur;
        self.fd.filled += 1;
        if self.fd.filled == 2 * self.fd.size {
            let norms = self.fd.shrink();
            self.sync_f32_rows(0);
            let lam = self.regularizer(lam0, robust);
            self.h.fill(0.0);
            for (i, n) in norms.iter().enumerate() {
                self.h[i * s + i] = 1.0 / (n + lam);
            }
            self.solve(b, lam, theta);
            return;
        }
        // Only the appended row changed.
        self.sync_f32_rows(r);
        let n = r + 1;
        for i in 0..n {
            hu[i] = linalg::dot(&self.h[i * s..i * s + n], ub);
        }
        theta.copy_from_slice(b);
        sub_rows(&self.fd.rows, d, hu, theta);
        theta.iter_mut().for_each(|t| *t /= lam);
    }

    /// Adds rows already scaled by sqrt(w) (row-major) to the sketch in blocks (shrinking
    /// whenever the buffer fills), then recomputes H once: the batch form of
    /// [`Self::add_row_and_solve`], equal to it up to rounding.
    fn add_rows(&mut self, rows: &[f64], lam0: f64, robust: bool) {
        self.fd.extend(rows);
        self.refresh_h(lam0, robust);
    }

    /// H = (S S^T + c I)^{-1} on the filled rows, from scratch: one r x d by d x r product
    /// and an r x r Cholesky inverse (after rows were added in a block: the float32 copy,
    /// if kept, is re-derived here too).
    fn refresh_h(&mut self, lam0: f64, robust: bool) {
        self.sync_f32_rows(0);
        let (r, s, d) = (self.fd.filled, self.stride(), self.fd.dim);
        let c = self.regularizer(lam0, robust);
        self.h.fill(0.0);
        if r == 0 {
            return;
        }
        let mut g = gram_of_rows(&self.fd.rows[..r * d], r, d);
        for i in 0..r {
            g[i * r + i] += c;
        }
        let inv = linalg::spd_inverse(&g, r).unwrap_or_else(|| {
            // S S^T + c I has every eigenvalue >= c > 0; only rounding could fail the
            // factorization: invert through the eigendecomposition instead.
            let (vals, vecs) = sym_eigen_fast(&g, r);
            let mut inv = vec![0.0; r * r];
            for i in 0..r {
                for j in 0..r {
                    inv[i * r + j] = (0..r)
                        .map(|k| vecs[i * r + k] * vecs[j * r + k] / vals[k].max(c))
                        .sum();
                }
            }
            inv
        });
        for i in 0..r {
            self.h[i * s..i * s + r].copy_from_slice(&inv[i * r..(i + 1) * r]);
        }
    }

    /// Stacks another sketch's rows onto this one (Frequent Directions mergeability,
    /// Ghashami et al. 2016, section 3.2): the shrinkages add, and further shrinks add theirs.
    fn merge(&mut self, other: &SketchedRidge, lam0: f64, robust: bool) {
        let o = &other.fd;
        self.fd.shrinkage += o.shrinkage;
        self.add_rows(&o.rows[..o.filled * o.dim], lam0, robust);
    }

    /// The (mean, width) of `n` rows of x (row-major) for this arm into `means` and (if
    /// given) `widths`: U = X S^T and V = U H as two matrix products, then
    /// width_i = sqrt((|x_i|^2 - U_i . V_i) / c), the per-row [`Self::quad`] in blocks.
    fn block_moments(
        &self,
        x: &[f64],
        theta: &[f64],
        sq: &[f64],
        lam: f64,
        means: &mut [f64],
        widths: Option<&mut [f64]>,
    ) {
        let (r, s, d) = (self.fd.filled, self.stride(), self.fd.dim);
        let n = means.len();
        dot_rows(x, d, theta, means);
        let Some(widths) = widths else { return };
        if r == 0 {
            for (w, q) in widths.iter_mut().zip(sq) {
                *w = (q / lam).max(0.0).sqrt();
            }
            return;
        }
        let mut u = vec![0.0; n * r];
        let mut v = vec![0.0; n * r];
        // Under float32 storage, the rows single decisions read, widened once per block.
        let wide: Vec<f64>;
        let rows = match &self.rows32 {
            Some(c) => {
                wide = c[..r * d].iter().map(|&v| v as f64).collect();
                &wide[..]
            }
            None => &self.fd.rows[..],
        };
        gemm((n, d, r), x, (d, 1), rows, (1, d), &mut u, r, 0.0);
        gemm((n, r, r), &u, (r, 1), &self.h, (s, 1), &mut v, r, 0.0);
        for i in 0..n {
            let hq = linalg::dot(&u[i * r..(i + 1) * r], &v[i * r..(i + 1) * r]);
            widths[i] = ((sq[i] - hq) / lam).max(0.0).sqrt();
        }
    }

    /// theta = A^{-1} b.
    fn solve(&self, b: &[f64], lam: f64, theta: &mut [f64]) {
        let (r, s, d) = (self.fd.filled, self.stride(), self.fd.dim);
        let mut u = vec![0.0; r];
        self.project(b, &mut u);
        let mut hu = vec![0.0; r];
        for i in 0..r {
            hu[i] = linalg::dot(&self.h[i * s..i * s + r], &u);
        }
        theta.copy_from_slice(b);
        sub_rows(&self.fd.rows, d, &hu, theta);
        theta.iter_mut().for_each(|t| *t /= lam);
    }

    fn check(&self, dim: usize, size: usize) -> bool {
        let fd = &self.fd;
        fd.dim == dim
            && fd.size == size
            && fd.rows.len() == 2 * size * dim
            && fd.filled < 2 * size
            && self.h.len() == 4 * size * size
            && fd.shrinkage.is_finite()
            && fd.shrinkage >= 0.0
            && fd.rows.iter().chain(&self.h).all(|v| v.is_finite())
    }
}

/// ", precision=float32" under float32 storage, nothing otherwise (for the repr).
fn precision_suffix(p: Precision) -> &'static str {
    match p {
        Precision::Float64 => "",
        Precision::Float32 => ", precision=float32",
    }
}

/// A bool as Python spells it (for the repr).
fn python_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn bookkeeping_model(dim: usize) -> RidgeModel {
    RidgeModel {
        gram: Vec::new(),
        b: vec![0.0; dim],
        a_inv: Vec::new(),
        theta: vec![0.0; dim],
        n: 0,
        weight_sum: 0.0,
        since_refactor: 0,
        derived: Default::default(),
    }
}

/// The state every sketched policy holds: the base (whose ridge models carry only b, theta
/// and the counts; their Gram and inverse are empty, the sketches replace them) and one
/// sketched model per arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedModels {
    base: LinearBase,
    sketches: Vec<SketchedRidge>,
    sketch_size: usize,
    robust: bool,
    /// The storage of the sketch rows decisions read (saved by payload version 2 only).
    #[serde(skip)]
    precision: Precision,
}

impl SketchedModels {
    fn new(
        n_arms: usize,
        dim: usize,
        sketch_size: usize,
        robust: bool,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if sketch_size == 0 {
            return Err(Error::param("sketch_size", "must be at least 1, got 0"));
        }
        if !(lam.is_finite() && lam > 0.0) {
            return Err(Error::param_got("lam", "must be a finite number > 0", lam));
        }
        // Each factor at most 2^31, so the product fits in u128 without overflow.
        let (k, d, m) = (n_arms as u128, dim as u128, sketch_size as u128);
        let cap = MAX_VALUES as u128;
        if k > cap || d > cap || m > cap || k * (2 * m * (d + 2 * m) + 2 * d) > cap {
            return Err(Error::param(
                "sketch_size",
                format!(
                    "n_arms * (2 sketch_size (dim + 2 sketch_size) + 2 dim) must be at most {MAX_VALUES}, got n_arms {n_arms}, dim {dim}, sketch_size {sketch_size}"
                ),
            ));
        }
        let sketch = SketchedRidge::new(dim, sketch_size)?;
        Ok(SketchedModels {
            base: LinearBase {
                rng: Rng::from_optional_seed(seed),
                dim,
                lam,
                arms: vec![bookkeeping_model(dim); n_arms],
                t: 0,
                link: Link::Identity,
            },
            sketches: vec![sketch; n_arms],
            sketch_size,
            robust,
            precision: Precision::Float64,
        })
    }

    /// Keeps every arm's float32 copy of its sketch rows (`Float32`) or none.
    fn stored_as(&mut self, p: Precision) {
        self.precision = p;
        for sk in &mut self.sketches {
            sk.set_f32_copy(p == Precision::Float32);
        }
    }

    /// (x^T theta_a, sqrt(x^T A_a^{-1} x)).
    fn mean_width(&self, a: usize, x: &[f64]) -> (f64, f64) {
        let mean = linalg::dot(x, &self.base.arms[a].theta);
        let c = self.sketches[a].regularizer(self.base.lam, self.robust);
        (mean, self.sketches[a].quad(x, c).sqrt())
    }

    /// Adds one row to arm `a` and refreshes its theta ([`SketchedRidge::add_row_and_solve`]).
    fn add_one(&mut self, a: usize, x: &[f64], reward: f64, weight: f64) {
        let m = &mut self.base.arms[a];
        m.n += 1;
        if weight == 0.0 {
            return;
        }
        m.weight_sum += weight;
        for (b, v) in m.b.iter_mut().zip(x) {
            *b += weight * reward * v;
        }
        self.sketches[a].add_row_and_solve(
            x,
            weight,
            self.base.lam,
            self.robust,
            &m.b,
            &mut m.theta,
        );
    }

    fn refresh_theta(&mut self, a: usize) {
        let m = &mut self.base.arms[a];
        let c = self.sketches[a].regularizer(self.base.lam, self.robust);
        self.sketches[a].solve(&m.b, c, &mut m.theta);
    }

    /// Every arm's (mean, width) of one validated row.
    fn moments_row(&self, x: &[f64], means: &mut [f64], widths: &mut [f64]) {
        let xx = linalg::dot(x, x);
        let rmax = 2 * self.sketch_size;
        with_scratch(2 * rmax, |buf| {
            let (u, hu) = buf.split_at_mut(rmax);
            for (a, (m, w)) in means.iter_mut().zip(widths.iter_mut()).enumerate() {
                let sk = &self.sketches[a];
                *m = linalg::dot(x, &self.base.arms[a].theta);
                let c = sk.regularizer(self.base.lam, self.robust);
                *w = sk.quad_into(x, xx, c, u, hu).sqrt();
            }
        })
    }

    /// Means and (if `with_width`) widths of every (row, arm) of validated rows, (n x K)
    /// row-major each: per block of rows and arm, two matrix products
    /// ([`SketchedRidge::block_moments`]) instead of n K matrix-vector products; blocks in
    /// parallel. Equal to [`Self::mean_width`] row by row up to rounding.
    fn moments_rows(&self, x: &[f64], with_width: bool) -> (Vec<f64>, Vec<f64>) {
        use rayon::prelude::*;
        let (d, k) = (self.base.dim, self.base.arms.len());
        let n = x.len() / d;
        // Blocks of 64 rows: each arm's sketch is read once per block, and a block is
        // enough work per task to pay for the hand-off.
        const ROWS: usize = 64;
        let blocks: Vec<(Vec<f64>, Vec<f64>)> = crate::parallel::install(|| {
            (0..n.div_ceil(ROWS))
                .into_par_iter()
                .map(|b| {
                    let (lo, hi) = (b * ROWS, ((b + 1) * ROWS).min(n));
                    let xb = &x[lo * d..hi * d];
                    let nb = hi - lo;
                    let sq: Vec<f64> = xb.chunks_exact(d).map(|r| linalg::dot(r, r)).collect();
                    let mut means = vec![0.0; nb * k];
                    let mut widths = vec![0.0; if with_width { nb * k } else { 0 }];
                    let (mut mt, mut wt) = (vec![0.0; nb], vec![0.0; nb]);
                    for a in 0..k {
                        let sk = &self.sketches[a];
                        let c = sk.regularizer(self.base.lam, self.robust);
                        let w = if with_width { Some(&mut wt[..]) } else { None };
                        sk.block_moments(xb, &self.base.arms[a].theta, &sq, c, &mut mt, w);
                        for i in 0..nb {
                            means[i * k + a] = mt[i];
                            if with_width {
                                widths[i * k + a] = wt[i];
                            }
                        }
                    }
                    (means, widths)
                })
                .collect()
        });
        let mut means = Vec::with_capacity(n * k);
        let mut widths = Vec::with_capacity(if with_width { n * k } else { 0 });
        for (m, w) in blocks {
            means.extend_from_slice(&m);
            widths.extend_from_slice(&w);
        }
        (means, widths)
    }

    /// Adds validated rows: grouped by arm (each arm's rows in their order), each arm's
    /// sketch filled in blocks ([`SketchedRidge::add_rows`]) with theta refreshed once;
    /// arms in parallel. The same sketches as adding the rows one by one (the shrinks see
    /// the same rows), H and theta equal up to rounding.
    fn add_batch(&mut self, x: &[f64], arms: &[i64], rewards: &[f64], weights: Option<&[f64]>) {
        use rayon::prelude::*;
        let (d, k) = (self.base.dim, self.base.arms.len());
        let mut order: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &a) in arms.iter().enumerate() {
            order[a as usize].push(i);
        }
        let (lam, robust) = (self.base.lam, self.robust);
        let sketches = &mut self.sketches;
        let models = &mut self.base.arms;
        crate::parallel::install(|| {
            models
                .par_iter_mut()
                .zip(sketches.par_iter_mut())
                .zip(order.par_iter())
                .filter(|(_, idx)| !idx.is_empty())
                .for_each(|((m, sk), idx)| {
                    // Blocks of rows scaled by sqrt(w): bounded scratch for any batch.
                    const BLOCK: usize = 256;
                    let mut rows = Vec::with_capacity(BLOCK.min(idx.len()) * d);
                    for chunk in idx.chunks(BLOCK) {
                        rows.clear();
                        for &i in chunk {
                            m.n += 1;
                            let w = weights.map_or(1.0, |w| w[i]);
                            if w == 0.0 {
                                continue;
                            }
                            m.weight_sum += w;
                            let xi = &x[i * d..(i + 1) * d];
                            for (b, v) in m.b.iter_mut().zip(xi) {
                                *b += w * rewards[i] * v;
                            }
                            let sw = w.sqrt();
                            rows.extend(xi.iter().map(|v| sw * v));
                        }
                        sk.fd.extend(&rows);
                    }
                    sk.refresh_h(lam, robust);
                    let c = sk.regularizer(lam, robust);
                    sk.solve(&m.b, c, &mut m.theta);
                });
        });
        self.base.t += arms.len() as u64;
    }

    /// Adds another replica's statistics arm by arm: b, counts and weight sums add, the
    /// sketches stack and shrink ([`SketchedRidge::merge`]).
    fn merge_from(&mut self, other: &SketchedModels) {
        let (lam, robust) = (self.base.lam, self.robust);
        for a in 0..self.base.arms.len() {
            let (m, om) = (&mut self.base.arms[a], &other.base.arms[a]);
            m.n += om.n;
            m.weight_sum += om.weight_sum;
            for (b, o) in m.b.iter_mut().zip(&om.b) {
                *b += o;
            }
            self.sketches[a].merge(&other.sketches[a], lam, robust);
            self.refresh_theta(a);
        }
        self.base.t += other.base.t;
    }

    fn add_arm(&mut self) -> usize {
        let (d, m) = (self.base.dim, self.sketch_size);
        // The sizes were checked at construction for one arm; each arm is allocated alone.
        let mut sk = SketchedRidge::new(d, m).expect("sizes checked at construction");
        sk.set_f32_copy(self.precision == Precision::Float32);
        self.sketches.push(sk);
        self.base.arms.push(bookkeeping_model(d));
        self.base.arms.len() - 1
    }

    fn remove_arm(&mut self, i: i64) -> Result<()> {
        let k = self.base.arms.len();
        if i < 0 || i as u64 >= k as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm: i,
                n_arms: k,
                position: None,
            });
        }
        if k == 1 {
            return Err(Error::param("arm", "cannot remove the last remaining arm"));
        }
        let removed = self.base.arms.remove(i as usize);
        self.sketches.remove(i as usize);
        self.base.t -= removed.n;
        Ok(())
    }

    fn check(&self) -> Result<()> {
        let b = &self.base;
        let (d, m) = (b.dim, self.sketch_size);
        let ok = !b.arms.is_empty()
            && d > 0
            && m > 0
            && b.lam.is_finite()
            && b.lam > 0.0
            && b.rng.is_valid()
            && b.link == Link::Identity
            && self.sketches.len() == b.arms.len()
            && b.arms.iter().all(|a| {
                a.gram.is_empty()
                    && a.a_inv.is_empty()
                    && a.b.len() == d
                    && a.theta.len() == d
                    && a.weight_sum.is_finite()
                    && a.weight_sum >= 0.0
                    && a.b.iter().chain(&a.theta).all(|v| v.is_finite())
            })
            && self.sketches.iter().all(|s| s.check(d, m))
            && b.arms.iter().map(|a| a.n).sum::<u64>() == b.t;
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "a sketched linear policy is inconsistent (sizes, finiteness or counts)",
            ))
        }
    }
}

/// `Persist` and `precision` for a sketched policy: payload version 1 is the policy (the
/// layout before `precision`, still written for float64 policies, whose bytes are
/// unchanged); version 2, written only under `precision="float32"`, is the policy followed
/// by the precision (the float32 copies are not written: they are rebuilt from the float64
/// rows on loading).
macro_rules! sketched_precision {
    ($ty:ident, $kind:literal) => {
        impl Persist for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u16 = 2;
            fn check_invariants(&self) -> Result<()> {
                self.check_policy()
            }
            fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
                if version >= 2 {
                    let ((mut p, precision), rest): (($ty, Precision), &[u8]) =
                        crate::state::read_payload(payload)?;
                    p.m.stored_as(precision);
                    return Ok((p, rest));
                }
                crate::state::read_payload(payload)
            }
            fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
                if self.m.precision == Precision::Float32 {
                    return Ok((2, crate::state::write_payload(&(self, self.m.precision))?));
                }
                Ok((1, crate::state::write_payload(self)?))
            }
        }

        impl $ty {
            /// This policy with the sketch rows decisions read stored as `precision`
            /// ("float64" or "float32"): under "float32" each arm keeps, beside its float64
            /// sketch (which updates, merges and saved states use unchanged), a float32 copy
            /// of the rows, read with float64 accumulation (see [`SketchedRidge`]).
            pub fn with_precision(mut self, precision: &str) -> Result<Self> {
                let p = Precision::parse(precision)?;
                if p == Precision::Float32 {
                    let b = &self.m.base;
                    crate::limits::check_alloc(
                        "sketch_size",
                        &[b.arms.len(), 2 * self.m.sketch_size, b.dim],
                        4,
                    )?;
                }
                self.m.stored_as(p);
                Ok(self)
            }

            /// The storage of the sketch rows decisions read.
            pub fn precision(&self) -> Precision {
                self.m.precision
            }
        }
    };
}

/// The [`ContextualPolicy`] methods a sketched policy (field `m`: [`SketchedModels`])
/// replaces: everything that reads or writes the per-arm models.
macro_rules! sketched_methods {
    () => {
        fn base(&self) -> &LinearBase {
            &self.m.base
        }
        fn base_mut(&mut self) -> &mut LinearBase {
            &mut self.m.base
        }

        fn select_batch_ref(&mut self, x: &[f64], pi_ref: Option<&[f64]>) -> Result<Vec<usize>> {
            let n = check_contexts("X", x, self.dim())?;
            if let Some(p) = pi_ref {
                self.log_reference(p, n)?;
            }
            crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
            // Every row's moments as matrix products, then each decision in row order with
            // the policy's generator: the decisions of `decide` row by row.
            let k = self.n_arms();
            let (means, widths) = self.m.moments_rows(x, true);
            Ok((0..n)
                .map(|i| {
                    self.decide_from(&means[i * k..(i + 1) * k], &widths[i * k..(i + 1) * k])
                })
                .collect())
        }

        fn decide(&mut self, x: &[f64]) -> usize {
            let k = self.n_arms();
            with_scratch(2 * k, |mw| {
                let (means, widths) = mw.split_at_mut(k);
                self.m.moments_row(x, means, widths);
                self.decide_from(means, widths)
            })
        }

        fn probabilities_batch_ref(
            &self,
            x: &[f64],
            pi_ref: Option<&[f64]>,
        ) -> Result<Vec<f64>> {
            use rayon::prelude::*;
            let n = check_contexts("X", x, self.dim())?;
            let (d, k) = (self.dim(), self.n_arms());
            crate::limits::check_alloc("X", &[n, k], 16)?;
            // These rules take no reference policy: validated, then unused.
            if let Some(p) = pi_ref {
                self.log_reference(p, n)?;
            }
            let (means, widths) = self.m.moments_rows(x, true);
            let mut out = vec![0.0; n * k];
            crate::parallel::install(|| {
                out.par_chunks_mut(k).enumerate().for_each(|(i, row)| {
                    let (lo, hi) = (i * k, (i + 1) * k);
                    self.probabilities_from(
                        &x[i * d..(i + 1) * d],
                        &means[lo..hi],
                        &widths[lo..hi],
                        row,
                    );
                })
            });
            Ok(out)
        }

        fn update(&mut self, x: &[f64], arm: i64, reward: f64, weight: f64) -> Result<()> {
            if x.len() != self.dim() {
                return Err(Error::shape(
                    "x",
                    format!("expected {} features, got {}", self.dim(), x.len()),
                ));
            }
            self.check_update(x, &[arm], &[reward], Some(&[weight]))
                .map_err(rename_single)?;
            self.m.add_one(arm as usize, x, reward, weight);
            self.m.base.t += 1;
            Ok(())
        }

        /// Validates every row of a private copy (the inputs may be written by another
        /// thread, see [`ContextualPolicy::update_batch`]), then adds them in order (the
        /// same sketches as single updates); theta is refreshed once per touched arm.
        fn update_batch(
            &mut self,
            x: &[f64],
            arms: &[i64],
            rewards: &[f64],
            weights: Option<&[f64]>,
        ) -> Result<()> {
            let batch = PrivateBatch::copy(x, arms, rewards, weights)?;
            let (x, arms, rewards, weights) = (
                &batch.x[..],
                &batch.arms[..],
                &batch.rewards[..],
                batch.weights(),
            );
            let n = self.check_update(x, arms, rewards, weights)?;
            self.m.add_batch(x, &arms[..n], rewards, weights);
            Ok(())
        }

        fn mean_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
            let n = check_contexts("X", x, self.dim())?;
            crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
            Ok(self.m.moments_rows(x, false).0)
        }

        fn width_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
            let n = check_contexts("X", x, self.dim())?;
            crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
            Ok(self.m.moments_rows(x, true).1)
        }

        fn scores_batch(&self, x: &[f64]) -> Result<Vec<f64>> {
            let n = check_contexts("X", x, self.dim())?;
            crate::limits::check_alloc("X", &[n, self.n_arms()], 16)?;
            let c = self.width_coefficient();
            if c == 0.0 {
                return Ok(self.m.moments_rows(x, false).0);
            }
            let (mut means, widths) = self.m.moments_rows(x, true);
            for (m, w) in means.iter_mut().zip(&widths) {
                *m += c * w;
            }
            Ok(means)
        }

        fn add_arm(&mut self) -> usize {
            self.m.add_arm()
        }

        fn remove_arm(&mut self, i: i64) -> Result<()> {
            self.m.remove_arm(i)
        }

        /// Adds another replica's data (Frequent Directions mergeability, Ghashami et al.
        /// 2016): each arm's b, counts and weight sums add, its sketch is the other's rows
        /// stacked onto this one's and shrunk (the shrinkages, and so the robust
        /// regularizer, add). Equal to one policy fitted on both data sets when the sketches
        /// hold every dimension (sketch_size >= dim, up to rounding); otherwise the merged
        /// sketch keeps the Frequent Directions bound of the combined data
        /// (0 <= A^T A - S^T S <= Delta I with Delta the summed shrinkage).
        fn merge(&mut self, other: &Self) -> Result<()> {
            let (a, o) = (&self.m.base, &other.m.base);
            if a.arms.len() != o.arms.len() || a.dim != o.dim {
                return Err(Error::incompatible(format!(
                    "other: cannot merge a {kind} with {} arms of dimension {} into one with {} arms of dimension {}",
                    o.arms.len(),
                    o.dim,
                    a.arms.len(),
                    a.dim,
                    kind = Self::KIND
                )));
            }
            if a.lam != o.lam || self.params() != other.params() || self.m.robust != other.m.robust
            {
                return Err(crate::error::hyperparameter_mismatch(
                    Self::KIND,
                    &self.describe_params(),
                    &other.describe_params(),
                ));
            }
            crate::error::checked_count(a.t, o.t, "update count")?;
            let saved = self.m.clone();
            self.m.merge_from(&other.m);
            // The merged sums of two loadable states stay within the decoder's bounds up to
            // rounding; a state at their very edge is refused rather than saved unloadable.
            if self.m.check().is_err() {
                self.m = saved;
                return Err(Error::param(
                    "other",
                    "merging would put the models beyond the bounds a saved state must satisfy",
                ));
            }
            Ok(())
        }

        fn check_policy(&self) -> Result<()> {
            self.m.check()?;
            self.check_params()
        }
    };
}

/// SOFUL (Kuzborskij, Cella and Cesa-Bianchi 2019): LinUCB with disjoint models whose Gram
/// matrices are Frequent Directions sketches, score_a(x) = x^T theta_a + alpha sqrt(x^T
/// A_a^{-1} x) with A_a = S_a^T S_a + lam I and theta_a = A_a^{-1} b_a (b_a exact). With
/// `robust`, the regularizer is lam plus half the sketch's accumulated shrinkage (Robust FD,
/// as in Chen et al. 2020's sketched bandits). With sketch_size >= dim nothing shrinks and it
/// equals [`super::LinUCB`] up to rounding, either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedLinUCB {
    m: SketchedModels,
    params: SketchedLinUCBParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedLinUCBParams {
    pub alpha: f64,
    pub sketch_size: usize,
}

impl SketchedLinUCB {
    pub fn new(
        n_arms: usize,
        dim: usize,
        sketch_size: usize,
        robust: bool,
        alpha: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = SketchedLinUCB {
            m: SketchedModels::new(n_arms, dim, sketch_size, robust, lam, seed)?,
            params: SketchedLinUCBParams { alpha, sketch_size },
        };
        p.check_params()?;
        Ok(p)
    }

    /// The sketch of arm `arm` (for inspection and tests).
    pub fn sketch(&self, arm: usize) -> &FrequentDirections {
        &self.m.sketches[arm].fd
    }

    /// The decision from every arm's (mean, width): argmax of mean + alpha width, ties at
    /// random.
    fn decide_from(&mut self, means: &[f64], widths: &[f64]) -> usize {
        let alpha = self.params.alpha;
        with_scratch(means.len(), |scores| {
            for ((s, m), w) in scores.iter_mut().zip(means).zip(widths) {
                *s = m + alpha * w;
            }
            pick(scores, &mut self.m.base.rng)
        })
    }

    /// The argmax distribution of mean + alpha width (ties share).
    fn probabilities_from(&self, _x: &[f64], means: &[f64], widths: &[f64], out: &mut [f64]) {
        let alpha = self.params.alpha;
        for ((o, m), w) in out.iter_mut().zip(means).zip(widths) {
            *o = m + alpha * w;
        }
        let p = argmax_distribution(out);
        out.copy_from_slice(&p);
    }
}

impl ContextualPolicy for SketchedLinUCB {
    type Params = SketchedLinUCBParams;
    sketched_methods!();
    fn params(&self) -> &SketchedLinUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "sketch_size={}, robust={}, alpha={}, lam={}{}",
            self.params.sketch_size,
            python_bool(self.m.robust),
            self.params.alpha,
            self.m.base.lam,
            precision_suffix(self.m.precision)
        )
    }
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate() {
            let (mean, width) = self.m.mean_width(a, x);
            *o = mean + self.params.alpha * width;
        }
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let k = out.len();
        with_scratch(2 * k, |mw| {
            let (means, widths) = mw.split_at_mut(k);
            self.m.moments_row(x, means, widths);
            self.probabilities_from(x, means, widths, out);
        })
    }
    fn check_params(&self) -> Result<()> {
        super::linear::finite_nonneg(self.params.alpha, "alpha")?;
        if self.params.sketch_size != self.m.sketch_size {
            return Err(Error::state("the sketch size disagrees with the sketches"));
        }
        Ok(())
    }
    fn width_coefficient(&self) -> f64 {
        self.params.alpha
    }
}
sketched_precision!(SketchedLinUCB, "SketchedLinUCB");

/// Linear Thompson sampling on the sketched models (the sampling of [`super::LinTS`], with
/// SOFUL's A_a = S_a^T S_a + lam I): each decision draws the score of arm a from
/// N(x^T theta_a, v^2 x^T A_a^{-1} x). With sketch_size >= dim it equals [`super::LinTS`]
/// (same draws, same decisions) up to rounding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedLinTS {
    m: SketchedModels,
    params: SketchedLinTSParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SketchedLinTSParams {
    pub v: f64,
    pub sketch_size: usize,
}

impl SketchedLinTS {
    pub fn new(
        n_arms: usize,
        dim: usize,
        sketch_size: usize,
        robust: bool,
        v: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = SketchedLinTS {
            m: SketchedModels::new(n_arms, dim, sketch_size, robust, lam, seed)?,
            params: SketchedLinTSParams { v, sketch_size },
        };
        p.check_params()?;
        Ok(p)
    }

    /// As [`super::LinTS`]: one normal per arm, in arm order, then argmax with random ties
    /// from the same generator.
    fn decide_from(&mut self, means: &[f64], widths: &[f64]) -> usize {
        let mut rng = self.m.base.rng.clone();
        let v = self.params.v;
        let i = with_scratch(means.len(), |scores| {
            for ((o, mean), width) in scores.iter_mut().zip(means).zip(widths) {
                let z = normal_rand_distr_05(&mut rng);
                *o = mean + v * width * z;
            }
            pick(scores, &mut rng)
        });
        self.m.base.rng = rng;
        i
    }

    /// Monte Carlo estimate of the probability that each arm's draw is the largest, seeded
    /// from the policy state and the context (as [`super::LinTS`]); one-hot when v = 0.
    fn probabilities_from(&self, x: &[f64], means: &[f64], widths: &[f64], out: &mut [f64]) {
        let k = out.len();
        let sds: Vec<f64> = widths.iter().map(|w| self.params.v * w).collect();
        if sds.iter().all(|&s| s == 0.0) {
            out.copy_from_slice(&argmax_distribution(means));
            return;
        }
        let mut h = self.m.base.rng.clone().next_raw();
        for v in x {
            h = h.rotate_left(5) ^ v.to_bits();
        }
        let mut rng = Rng::seed_from_u64(h);
        let mut wins = vec![0u32; k];
        for _ in 0..PROBABILITY_SAMPLES {
            let mut best = f64::NEG_INFINITY;
            let mut best_i = 0;
            for i in 0..k {
                let s = means[i] + sds[i] * normal_rand_distr_05(&mut rng);
                if s > best {
                    best = s;
                    best_i = i;
                }
            }
            wins[best_i] += 1;
        }
        for (o, w) in out.iter_mut().zip(wins) {
            *o = w as f64 / PROBABILITY_SAMPLES as f64;
        }
    }
}

impl ContextualPolicy for SketchedLinTS {
    type Params = SketchedLinTSParams;
    sketched_methods!();
    fn params(&self) -> &SketchedLinTSParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "sketch_size={}, robust={}, v={}, lam={}{}",
            self.params.sketch_size,
            python_bool(self.m.robust),
            self.params.v,
            self.m.base.lam,
            precision_suffix(self.m.precision)
        )
    }
    /// Posterior means x^T theta_a.
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate() {
            *o = linalg::dot(x, &self.m.base.arms[a].theta);
        }
    }
    /// Monte Carlo estimate as [`super::LinTS`]'s (the same seeding from the policy state
    /// and the context); exact one-hot when v = 0.
    fn probability_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        let k = out.len();
        with_scratch(2 * k, |mw| {
            let (means, widths) = mw.split_at_mut(k);
            self.m.moments_row(x, means, widths);
            self.probabilities_from(x, means, widths, out);
        })
    }
    fn check_params(&self) -> Result<()> {
        super::linear::finite_nonneg(self.params.v, "v")?;
        if self.params.sketch_size != self.m.sketch_size {
            return Err(Error::state("the sketch size disagrees with the sketches"));
        }
        Ok(())
    }
    fn width_coefficient(&self) -> f64 {
        0.0
    }
    fn sampling_moments(
        &self,
        x: &[f64],
        means: &mut [f64],
        sds: &mut [f64],
        _scratch: &mut [f64],
    ) -> bool {
        for a in 0..means.len() {
            let (mean, width) = self.m.mean_width(a, x);
            means[a] = mean;
            sds[a] = self.params.v * width;
        }
        true
    }
}
sketched_precision!(SketchedLinTS, "SketchedLinTS");

#[cfg(test)]
mod tests {
    use super::super::{LinTS, LinUCB};
    use super::*;

    /// Rows with a decaying spectrum: x = sum_j g_j s_j e_j rotated by a fixed random matrix.
    fn decaying_rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let rot: Vec<f64> = (0..d * d).map(|_| rng.uniform() - 0.5).collect();
        let mut x = vec![0.0; n * d];
        for i in 0..n {
            let z: Vec<f64> = (0..d)
                .map(|j| (rng.uniform() - 0.5) / (1.0 + j as f64))
                .collect();
            for c in 0..d {
                x[i * d + c] = (0..d).map(|j| z[j] * rot[j * d + c]).sum();
            }
        }
        x
    }

    fn eigenvalues(m: &[f64], d: usize) -> Vec<f64> {
        sym_eigen(m, d).0
    }

    #[test]
    fn jacobi_eigen_reconstructs_the_matrix() {
        let x = decaying_rows(30, 7, 3);
        let mut g = vec![0.0; 49];
        for r in x.chunks(7) {
            linalg::add_sym_outer(&mut g, r, 1.0);
        }
        let (vals, vecs) = sym_eigen(&g, 7);
        for i in 0..7 {
            for j in 0..7 {
                let v: f64 = (0..7)
                    .map(|k| vecs[i * 7 + k] * vals[k] * vecs[j * 7 + k])
                    .sum();
                assert!((v - g[i * 7 + j]).abs() < 1e-12, "{v} {}", g[i * 7 + j]);
            }
        }
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn spectral_error_is_within_the_frequent_directions_bound_and_above_the_best_rank_m() {
        let (n, d) = (400, 16);
        for m in [2, 4, 6] {
            let x = decaying_rows(n, d, m as u64);
            let mut fd = FrequentDirections::new(d, m).unwrap();
            let mut ata = vec![0.0; d * d];
            for r in x.chunks(d) {
                fd.insert(r);
                linalg::add_sym_outer(&mut ata, r, 1.0);
            }
            let sts = fd.gram();
            let diff: Vec<f64> = ata.iter().zip(&sts).map(|(a, b)| a - b).collect();
            let err = eigenvalues(&diff, d);
            let spectrum = eigenvalues(&ata, d);
            let scale = spectrum[0];
            // 0 <= A^T A - S^T S <= Delta I.
            assert!(err[d - 1] >= -1e-10 * scale, "{err:?}");
            assert!(
                err[0] <= fd.shrinkage * (1.0 + 1e-10),
                "{} {}",
                err[0],
                fd.shrinkage
            );
            // Delta <= ||A - A_k||_F^2 / (m + 1 - k) for every k <= m.
            for k in 0..=m {
                let tail: f64 = spectrum[k..].iter().sum();
                assert!(fd.shrinkage <= tail / (m + 1 - k) as f64 * (1.0 + 1e-10));
            }
            // A rank-m matrix cannot do better than the (m+1)-th eigenvalue (Weyl): the
            // error is real, and the bound is not met by a trivially exact sketch.
            assert!(
                err[0] >= spectrum[m] * (1.0 - 1e-9),
                "{} {}",
                err[0],
                spectrum[m]
            );
            // And it is far from the trivial sketch (S = 0).
            assert!(err[0] < 0.5 * scale);
            assert_eq!(fd.filled.max(m), fd.filled);
        }
    }

    #[test]
    fn data_of_rank_at_most_m_is_kept_exactly() {
        let (n, d, m) = (300, 5, 5);
        let x = decaying_rows(n, d, 9);
        let mut fd = FrequentDirections::new(d, m).unwrap();
        let mut ata = vec![0.0; d * d];
        for r in x.chunks(d) {
            fd.insert(r);
            linalg::add_sym_outer(&mut ata, r, 1.0);
        }
        for (a, b) in ata.iter().zip(fd.gram()) {
            assert!((a - b).abs() < 1e-10 * ata[0].abs().max(1.0), "{a} {b}");
        }
    }

    fn problem(
        n: usize,
        d: usize,
        k: usize,
        seed: u64,
    ) -> (Vec<f64>, Vec<i64>, Vec<f64>, Vec<f64>) {
        let mut rng = Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * d).map(|_| rng.uniform() - 0.5).collect();
        let arms: Vec<i64> = (0..n).map(|_| rng.below(k as u64) as i64).collect();
        let r: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let w: Vec<f64> = (0..n).map(|_| 2.0 * rng.uniform()).collect();
        (x, arms, r, w)
    }

    #[test]
    fn equals_exact_linucb_when_the_sketch_holds_every_dimension() {
        let (d, k) = (6, 3);
        let (x, arms, r, w) = problem(500, d, k, 4);
        for (m, robust) in [(6, false), (9, false), (6, true)] {
            let mut exact = LinUCB::new(k, d, 0.8, 0.5, Some(3)).unwrap();
            let mut sketched = SketchedLinUCB::new(k, d, m, robust, 0.8, 0.5, Some(3)).unwrap();
            exact
                .update_batch(&x[..200 * d], &arms[..200], &r[..200], Some(&w[..200]))
                .unwrap();
            sketched
                .update_batch(&x[..200 * d], &arms[..200], &r[..200], Some(&w[..200]))
                .unwrap();
            for i in 200..500 {
                let xi = &x[i * d..(i + 1) * d];
                let (a, b) = (exact.select(xi).unwrap(), sketched.select(xi).unwrap());
                assert_eq!(a, b);
                exact.update(xi, a as i64, r[i], w[i]).unwrap();
                sketched.update(xi, b as i64, r[i], w[i]).unwrap();
            }
            // Shrinks happened (2m < 500 / k rows per arm) and lost nothing.
            assert!(sketched.sketch(0).shrinkage < 1e-9);
            let (se, ss) = (
                exact.scores_batch(&x).unwrap(),
                sketched.scores_batch(&x).unwrap(),
            );
            for (a, b) in se.iter().zip(&ss) {
                assert!((a - b).abs() < 1e-8, "{a} {b}");
            }
            let (we, ws) = (
                exact.width_batch(&x).unwrap(),
                sketched.width_batch(&x).unwrap(),
            );
            for (a, b) in we.iter().zip(&ws) {
                assert!((a - b).abs() < 1e-8, "{a} {b}");
            }
            assert_eq!(exact.counts(), sketched.counts());
            assert_eq!(
                exact.select_batch(&x).unwrap(),
                sketched.select_batch(&x).unwrap()
            );
        }
    }

    #[test]
    fn sketched_lints_equals_exact_lints_when_the_sketch_holds_every_dimension() {
        let (d, k) = (5, 3);
        let (x, arms, r, w) = problem(400, d, k, 6);
        let mut exact = LinTS::new(k, d, 0.4, 0.7, Some(5)).unwrap();
        let mut sketched = SketchedLinTS::new(k, d, d, false, 0.4, 0.7, Some(5)).unwrap();
        exact.update_batch(&x, &arms, &r, Some(&w)).unwrap();
        sketched.update_batch(&x, &arms, &r, Some(&w)).unwrap();
        for i in 0..400 {
            let xi = &x[i * d..(i + 1) * d];
            let (a, b) = (exact.select(xi).unwrap(), sketched.select(xi).unwrap());
            assert_eq!(a, b);
            exact.update(xi, a as i64, r[i], 1.0).unwrap();
            sketched.update(xi, b as i64, r[i], 1.0).unwrap();
        }
        let (we, ws) = (
            exact.width_batch(&x).unwrap(),
            sketched.width_batch(&x).unwrap(),
        );
        for (a, b) in we.iter().zip(&ws) {
            assert!((a - b).abs() < 1e-8, "{a} {b}");
        }
        let (me, ms) = (
            exact.scores_batch(&x).unwrap(),
            sketched.scores_batch(&x).unwrap(),
        );
        for (a, b) in me.iter().zip(&ms) {
            assert!((a - b).abs() < 1e-8, "{a} {b}");
        }
        let (pe, ps) = (
            exact.probabilities_batch(&x[..20 * d]).unwrap(),
            sketched.probabilities_batch(&x[..20 * d]).unwrap(),
        );
        assert_eq!(pe, ps);
    }

    #[test]
    fn a_small_sketch_differs_from_exact_and_persists() {
        let (d, k) = (8, 2);
        let (x, arms, r, w) = problem(300, d, k, 5);
        let mut exact = LinUCB::new(k, d, 1.0, 1.0, Some(3)).unwrap();
        let mut sketched = SketchedLinUCB::new(k, d, 2, false, 1.0, 1.0, Some(3)).unwrap();
        exact.update_batch(&x, &arms, &r, Some(&w)).unwrap();
        sketched.update_batch(&x, &arms, &r, Some(&w)).unwrap();
        assert!(sketched.sketch(0).shrinkage > 0.0);
        // Widths only grow when directions are dropped (S^T S <= X^T X).
        let (we, ws) = (
            exact.width_batch(&x).unwrap(),
            sketched.width_batch(&x).unwrap(),
        );
        assert!(we.iter().zip(&ws).all(|(a, b)| b + 1e-12 >= *a));
        assert!(we.iter().zip(&ws).any(|(a, b)| b > &(a + 1e-3)));
        let bytes = crate::state::encode(&sketched).unwrap();
        let back: SketchedLinUCB = crate::state::decode(&bytes).unwrap();
        assert_eq!(back, sketched);
        // Merging with a copy doubles the counts and b.
        let mut other = sketched.clone();
        other.merge(&sketched).unwrap();
        assert_eq!(other.n_updates(), 2 * sketched.n_updates());
        for (a, b) in other.base().arms.iter().zip(&sketched.base().arms) {
            assert_eq!(a.n, 2 * b.n);
            assert!(a
                .b
                .iter()
                .zip(&b.b)
                .all(|(x, y)| (x - 2.0 * y).abs() < 1e-12));
        }
    }

    #[test]
    fn the_fused_update_equals_adding_the_row_then_solving() {
        let (d, m) = (10, 3);
        let x = decaying_rows(40, d, 17);
        for robust in [false, true] {
            let mut fused = SketchedRidge::new(d, m).unwrap();
            let mut plain = fused.clone();
            let mut b = vec![0.0; d];
            let (mut t1, mut t2) = (vec![0.0; d], vec![0.0; d]);
            for (i, row) in x.chunks(d).enumerate() {
                let w = 0.5 + (i % 3) as f64;
                for (bj, v) in b.iter_mut().zip(row) {
                    *bj += w * 0.3 * v;
                }
                fused.add_row_and_solve(row, w, 0.7, robust, &b, &mut t1);
                plain.add_row(row, w, 0.7, robust);
                plain.solve(&b, plain.regularizer(0.7, robust), &mut t2);
                for (p, q) in t1.iter().zip(&t2) {
                    assert!((p - q).abs() < 1e-10 * q.abs().max(1.0), "{i} {p} {q}");
                }
            }
            assert!(fused.fd.shrinkage > 0.0);
            for (p, q) in fused.h.iter().zip(&plain.h) {
                assert!((p - q).abs() < 1e-10 * q.abs().max(1.0));
            }
        }
    }

    #[test]
    fn faer_eigen_reconstructs_and_agrees_with_jacobi() {
        let x = decaying_rows(60, 24, 8);
        let mut g = vec![0.0; 24 * 24];
        for r in x.chunks(24) {
            linalg::add_sym_outer(&mut g, r, 1.0);
        }
        let (vals, vecs) = sym_eigen_fast(&g, 24);
        let (jv, _) = sym_eigen(&g, 24);
        for (a, b) in vals.iter().zip(&jv) {
            assert!((a - b).abs() < 1e-12 * vals[0], "{a} {b}");
        }
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..24 {
            for j in 0..24 {
                let v: f64 = (0..24)
                    .map(|k| vecs[i * 24 + k] * vals[k] * vecs[j * 24 + k])
                    .sum();
                assert!((v - g[i * 24 + j]).abs() < 1e-12 * vals[0]);
            }
        }
    }

    #[test]
    fn row_kernels_equal_their_definitions_for_every_shape() {
        let mut rng = Rng::seed_from_u64(2);
        for d in [1, 3, 4, 7, 8, 9, 13, 16, 37] {
            for r in [0, 1, 3, 4, 5, 9] {
                let rows: Vec<f64> = (0..r * d).map(|_| rng.uniform() - 0.5).collect();
                let x: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
                let mut out = vec![0.0; r];
                dot_rows(&rows, d, &x, &mut out);
                let y: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
                let (mut ox, mut oy) = (vec![0.0; r], vec![0.0; r]);
                dot_rows2(&rows, d, &x, &y, &mut ox, &mut oy);
                let c: Vec<f64> = (0..r).map(|_| rng.uniform() - 0.5).collect();
                let mut t = y.clone();
                sub_rows(&rows, d, &c, &mut t);
                for i in 0..r {
                    let e: f64 = (0..d).map(|j| rows[i * d + j] * x[j]).sum();
                    let f: f64 = (0..d).map(|j| rows[i * d + j] * y[j]).sum();
                    assert!((out[i] - e).abs() < 1e-13, "{d} {r} {i}");
                    assert!((ox[i] - e).abs() < 1e-13 && (oy[i] - f).abs() < 1e-13);
                }
                for j in 0..d {
                    let e = y[j] - (0..r).map(|i| c[i] * rows[i * d + j]).sum::<f64>();
                    assert!((t[j] - e).abs() < 1e-13, "{d} {r} {j}");
                }
                // A sub-matrix: the first len = d - 1 values of rows d apart.
                if d > 1 && r > 0 {
                    let mut sub = vec![0.0; r];
                    dot_rows_strided(&rows, d, d - 1, &x, &mut sub);
                    for i in 0..r {
                        let e: f64 = (0..d - 1).map(|j| rows[i * d + j] * x[j]).sum();
                        assert!((sub[i] - e).abs() < 1e-13, "{d} {r} {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn batch_fit_and_block_scoring_equal_the_row_by_row_paths() {
        let (d, k) = (11, 3);
        let (x, arms, r, w) = problem(400, d, k, 21);
        for robust in [false, true] {
            let mut batch = SketchedLinUCB::new(k, d, 3, robust, 0.9, 0.7, Some(2)).unwrap();
            let mut rows = batch.clone();
            batch.update_batch(&x, &arms, &r, Some(&w)).unwrap();
            for i in 0..400 {
                rows.update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
                    .unwrap();
            }
            assert_eq!(batch.counts(), rows.counts());
            for a in 0..k {
                let (fb, fr) = (batch.sketch(a), rows.sketch(a));
                assert!(fb.shrinkage > 0.0);
                assert_eq!(fb.filled, fr.filled);
                assert!((fb.shrinkage - fr.shrinkage).abs() < 1e-12 * fr.shrinkage);
                for (p, q) in fb.rows.iter().zip(&fr.rows) {
                    assert!((p - q).abs() < 1e-10, "{p} {q}");
                }
                let (tb, tr) = (&batch.base().arms[a].theta, &rows.base().arms[a].theta);
                for (p, q) in tb.iter().zip(tr) {
                    assert!((p - q).abs() < 1e-10, "{p} {q}");
                }
            }
            // Block scoring against the per-row path (score_row / mean_width).
            let scores = rows.scores_batch(&x).unwrap();
            let widths = rows.width_batch(&x).unwrap();
            let means = rows.mean_batch(&x).unwrap();
            let mut row = vec![0.0; k];
            for i in 0..400 {
                let xi = &x[i * d..(i + 1) * d];
                rows.score_row(xi, &mut row, &mut []);
                for a in 0..k {
                    let (m, wd) = rows.m.mean_width(a, xi);
                    assert!((scores[i * k + a] - row[a]).abs() < 1e-12);
                    assert!((widths[i * k + a] - wd).abs() < 1e-12);
                    assert!((means[i * k + a] - m).abs() < 1e-12);
                }
            }
            let mut one = rows.clone();
            let each: Vec<usize> = (0..400)
                .map(|i| one.select(&x[i * d..(i + 1) * d]).unwrap())
                .collect();
            assert_eq!(rows.clone().select_batch(&x).unwrap(), each);
            let probs = rows.probabilities_batch(&x[..30 * d]).unwrap();
            for i in 0..30 {
                let mut p = vec![0.0; k];
                rows.probability_row(&x[i * d..(i + 1) * d], &mut p, &mut []);
                assert_eq!(&probs[i * k..(i + 1) * k], &p[..]);
            }
        }
        // LinTS: the same draws row by row and in a batch.
        let mut ts = SketchedLinTS::new(k, d, 3, false, 0.5, 1.0, Some(4)).unwrap();
        ts.update_batch(&x, &arms, &r, None).unwrap();
        let mut one = ts.clone();
        let each: Vec<usize> = (0..400)
            .map(|i| one.select(&x[i * d..(i + 1) * d]).unwrap())
            .collect();
        assert_eq!(ts.clone().select_batch(&x).unwrap(), each);
        let probs = ts.probabilities_batch(&x[..20 * d]).unwrap();
        for i in 0..20 {
            let mut p = vec![0.0; k];
            ts.probability_row(&x[i * d..(i + 1) * d], &mut p, &mut []);
            assert_eq!(&probs[i * k..(i + 1) * k], &p[..]);
        }
    }

    #[test]
    fn merge_equals_fitting_both_data_sets_when_the_sketch_holds_every_dimension() {
        let (d, k) = (6, 3);
        let (x, arms, r, w) = problem(600, d, k, 31);
        let split = 250;
        for (m, robust) in [(6, false), (8, true)] {
            let fit = |lo: usize, hi: usize| {
                let mut p = SketchedLinUCB::new(k, d, m, robust, 0.8, 0.5, Some(3)).unwrap();
                p.update_batch(
                    &x[lo * d..hi * d],
                    &arms[lo..hi],
                    &r[lo..hi],
                    Some(&w[lo..hi]),
                )
                .unwrap();
                p
            };
            let (mut merged, second, both) = (fit(0, split), fit(split, 600), fit(0, 600));
            merged.merge(&second).unwrap();
            assert_eq!(merged.counts(), both.counts());
            assert_eq!(merged.n_updates(), 600);
            let exact = {
                let mut e = LinUCB::new(k, d, 0.8, 0.5, Some(3)).unwrap();
                e.update_batch(&x, &arms, &r, Some(&w)).unwrap();
                e
            };
            for other in [
                both.scores_batch(&x).unwrap(),
                exact.scores_batch(&x).unwrap(),
            ] {
                for (a, b) in merged.scores_batch(&x).unwrap().iter().zip(&other) {
                    assert!((a - b).abs() < 1e-8, "{a} {b}");
                }
            }
            for (a, b) in merged
                .width_batch(&x)
                .unwrap()
                .iter()
                .zip(&exact.width_batch(&x).unwrap())
            {
                assert!((a - b).abs() < 1e-8, "{a} {b}");
            }
        }
        // LinTS as well.
        let fit = |lo: usize, hi: usize| {
            let mut p = SketchedLinTS::new(k, d, d, false, 0.4, 0.7, Some(5)).unwrap();
            p.update_batch(&x[lo * d..hi * d], &arms[lo..hi], &r[lo..hi], None)
                .unwrap();
            p
        };
        let (mut merged, second, both) = (fit(0, split), fit(split, 600), fit(0, 600));
        merged.merge(&second).unwrap();
        for (a, b) in merged
            .width_batch(&x)
            .unwrap()
            .iter()
            .zip(&both.width_batch(&x).unwrap())
        {
            assert!((a - b).abs() < 1e-8, "{a} {b}");
        }
        for (a, b) in merged
            .mean_batch(&x)
            .unwrap()
            .iter()
            .zip(&both.mean_batch(&x).unwrap())
        {
            assert!((a - b).abs() < 1e-8, "{a} {b}");
        }
    }

    #[test]
    fn a_merged_sketch_keeps_the_frequent_directions_bound_of_the_combined_data() {
        let (n, d) = (500, 16);
        for m in [2, 4, 6] {
            let x = decaying_rows(n, d, 40 + m as u64);
            let arms = vec![0i64; n];
            let r = vec![0.0; n];
            let split = 180 + 13 * m;
            let mut p = SketchedLinUCB::new(1, d, m, false, 1.0, 1.0, Some(0)).unwrap();
            let mut q = p.clone();
            p.update_batch(&x[..split * d], &arms[..split], &r[..split], None)
                .unwrap();
            q.update_batch(&x[split * d..], &arms[split..], &r[split..], None)
                .unwrap();
            let parts = p.sketch(0).shrinkage + q.sketch(0).shrinkage;
            p.merge(&q).unwrap();
            let fd = p.sketch(0);
            // The shrinkages add, and the merge's own shrink adds to them.
            assert!(fd.shrinkage > parts);
            let mut ata = vec![0.0; d * d];
            for row in x.chunks(d) {
                linalg::add_sym_outer(&mut ata, row, 1.0);
            }
            let diff: Vec<f64> = ata.iter().zip(&fd.gram()).map(|(a, b)| a - b).collect();
            let err = eigenvalues(&diff, d);
            let spectrum = eigenvalues(&ata, d);
            assert!(err[d - 1] >= -1e-10 * spectrum[0], "{err:?}");
            assert!(err[0] <= fd.shrinkage * (1.0 + 1e-10));
            for k in 0..=m {
                let tail: f64 = spectrum[k..].iter().sum();
                assert!(fd.shrinkage <= tail / (m + 1 - k) as f64 * (1.0 + 1e-10));
            }
            // Two-sided: no rank-m sketch beats the best rank-m error.
            assert!(err[0] >= spectrum[m] * (1.0 - 1e-9));
            assert!(err[0] < 0.5 * spectrum[0]);
        }
    }

    #[test]
    fn merge_refuses_mismatched_policies_and_changes_nothing() {
        let (d, k) = (5, 2);
        let (x, arms, r, _) = problem(50, d, k, 1);
        let mut p = SketchedLinUCB::new(k, d, 2, false, 1.0, 1.0, Some(0)).unwrap();
        p.update_batch(&x, &arms, &r, None).unwrap();
        let before = p.clone();
        for (other, needle) in [
            (
                SketchedLinUCB::new(k, d, 3, false, 1.0, 1.0, None),
                "sketch_size=3",
            ),
            (
                SketchedLinUCB::new(k, d, 2, true, 1.0, 1.0, None),
                "robust=True",
            ),
            (
                SketchedLinUCB::new(k, d, 2, false, 0.5, 1.0, None),
                "alpha=0.5",
            ),
            (SketchedLinUCB::new(k, d, 2, false, 1.0, 2.0, None), "lam=2"),
            (
                SketchedLinUCB::new(k + 1, d, 2, false, 1.0, 1.0, None),
                "3 arms",
            ),
            (
                SketchedLinUCB::new(k, d + 1, 2, false, 1.0, 1.0, None),
                "dimension 6",
            ),
        ] {
            let err = p.merge(&other.unwrap()).unwrap_err();
            assert!(matches!(err, Error::Incompatible { .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
            assert_eq!(p, before);
        }
    }

    #[test]
    fn woodbury_solves_equal_a_dense_solve_on_the_shrunk_sketch_plain_and_robust() {
        let (d, k) = (9, 2);
        let (x, arms, r, w) = problem(400, d, k, 12);
        for robust in [false, true] {
            let mut p = SketchedLinUCB::new(k, d, 3, robust, 1.0, 0.6, Some(1)).unwrap();
            p.update_batch(&x[..300 * d], &arms[..300], &r[..300], Some(&w[..300]))
                .unwrap();
            for i in 300..400 {
                p.update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
                    .unwrap();
            }
            let widths = p.width_batch(&x[..50 * d]).unwrap();
            for a in 0..k {
                let fd = p.sketch(a);
                assert!(fd.shrinkage > 0.0);
                let c = 0.6 + if robust { 0.5 * fd.shrinkage } else { 0.0 };
                let mut g = fd.gram();
                for i in 0..d {
                    g[i * d + i] += c;
                }
                let inv = linalg::spd_inverse(&g, d).unwrap();
                let mut theta = vec![0.0; d];
                linalg::matvec(&inv, &p.base().arms[a].b, &mut theta);
                for (t, e) in p.base().arms[a].theta.iter().zip(&theta) {
                    assert!((t - e).abs() < 1e-9 * e.abs().max(1.0), "{t} {e}");
                }
                for i in 0..50 {
                    let mut s = vec![0.0; d];
                    let q = linalg::quad_form(&inv, &x[i * d..(i + 1) * d], &mut s);
                    let got = widths[i * k + a];
                    assert!((got - q.sqrt()).abs() < 1e-10, "{got} {}", q.sqrt());
                }
            }
        }
        // The robust regularizer is larger, so its widths are smaller.
        let fit = |robust| {
            let mut p = SketchedLinUCB::new(k, d, 3, robust, 1.0, 0.6, Some(1)).unwrap();
            p.update_batch(&x, &arms, &r, None).unwrap();
            p.width_batch(&x[..50 * d]).unwrap()
        };
        let (plain, robust) = (fit(false), fit(true));
        assert!(plain.iter().zip(&robust).all(|(a, b)| b < a));
    }

    #[test]
    fn sizes_are_refused_before_allocation_without_overflow() {
        for (k, d, m) in [
            (1, 1, usize::MAX),
            (usize::MAX, 1, 1),
            (2, usize::MAX / 2, 2),
            (4, 1 << 20, 1 << 10),
        ] {
            let err = SketchedLinUCB::new(k, d, m, false, 1.0, 1.0, None).unwrap_err();
            assert!(err.to_string().contains("sketch_size"), "{err}");
        }
        assert!(SketchedLinTS::new(2, 384, 64, false, 0.2, 1.0, None).is_ok());
    }

    #[test]
    fn float32_row_kernel_equals_its_definition_for_every_shape() {
        let mut rng = Rng::seed_from_u64(5);
        for d in [1, 3, 4, 7, 8, 9, 13, 16, 37, 384] {
            for r in [0, 1, 3, 4, 5, 9] {
                let rows: Vec<f32> = (0..r * d).map(|_| (rng.uniform() - 0.5) as f32).collect();
                let x: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
                let (mut out, mut port) = (vec![0.0; r], vec![0.0; r]);
                dot_rows_f32(&rows, d, &x, &mut out);
                dot_rows_f32_portable(&rows, d, &x, &mut port);
                for i in 0..r {
                    let e: f64 = (0..d).map(|j| rows[i * d + j] as f64 * x[j]).sum();
                    assert!((out[i] - e).abs() < 1e-13, "{d} {r} {i}");
                    assert!((port[i] - e).abs() < 1e-13, "{d} {r} {i}");
                }
            }
        }
    }

    /// The float32 copy of every arm is its float64 rows rounded, value for value.
    fn assert_copies_are_rounded_rows(m: &SketchedModels) {
        for sk in &m.sketches {
            let c = sk.rows32.as_ref().expect("a float32 copy");
            let n = sk.fd.filled * sk.fd.dim;
            assert!(c[..n]
                .iter()
                .zip(&sk.fd.rows[..n])
                .all(|(a, b)| *a == *b as f32));
        }
    }

    #[test]
    fn float32_storage_scores_within_rounding_and_keeps_the_float64_state() {
        let (d, k, m) = (40, 3, 6);
        let (x, arms, r, w) = problem(700, d, k, 17);
        let fit = |precision: &str| {
            let mut p = SketchedLinUCB::new(k, d, m, true, 0.9, 0.7, Some(2))
                .unwrap()
                .with_precision(precision)
                .unwrap();
            p.update_batch(&x[..300 * d], &arms[..300], &r[..300], Some(&w[..300]))
                .unwrap();
            // Single updates cross several shrinks.
            for i in 300..700 {
                p.update(&x[i * d..(i + 1) * d], arms[i], r[i], w[i])
                    .unwrap();
            }
            p
        };
        let (p64, p32) = (fit("float64"), fit("float32"));
        assert_eq!(p32.precision(), Precision::Float32);
        assert_copies_are_rounded_rows(&p32.m);
        // The float64 state is the float64 policy's, bit for bit.
        for a in 0..k {
            assert_eq!(p32.m.sketches[a].fd, p64.m.sketches[a].fd);
            assert_eq!(p32.m.sketches[a].h, p64.m.sketches[a].h);
            assert_eq!(p32.m.base.arms[a].theta, p64.m.base.arms[a].theta);
        }
        let q = &x[..100 * d];
        let (w64, w32) = (p64.width_batch(q).unwrap(), p32.width_batch(q).unwrap());
        let mut differ = 0;
        for (a, b) in w64.iter().zip(&w32) {
            assert!((a - b).abs() <= 1e-6 * a, "{a} {b}");
            differ += (a != b) as usize;
        }
        assert!(differ > w64.len() / 2, "{differ}");
        assert_eq!(p64.mean_batch(q).unwrap(), p32.mean_batch(q).unwrap());
        // Single rows read the same copy as the blocks.
        let s32 = p32.scores_batch(q).unwrap();
        let mut row = vec![0.0; k];
        for i in 0..100 {
            p32.probability_row(&q[i * d..(i + 1) * d], &mut row, &mut []);
            let mut widths = vec![0.0; k];
            let mut means = vec![0.0; k];
            p32.m
                .moments_row(&q[i * d..(i + 1) * d], &mut means, &mut widths);
            for a in 0..k {
                let s = means[a] + 0.9 * widths[a];
                assert!((s - s32[i * k + a]).abs() < 1e-12 * s.abs().max(1.0));
            }
        }
        let mut one = p32.clone();
        let each: Vec<usize> = (0..100)
            .map(|i| one.select(&q[i * d..(i + 1) * d]).unwrap())
            .collect();
        assert_eq!(p32.clone().select_batch(q).unwrap(), each);
        // LinTS: the same, with its draws.
        let mut ts = SketchedLinTS::new(k, d, m, false, 0.5, 1.0, Some(4))
            .unwrap()
            .with_precision("float32")
            .unwrap();
        ts.update_batch(&x, &arms, &r, None).unwrap();
        assert_copies_are_rounded_rows(&ts.m);
        let mut one = ts.clone();
        let each: Vec<usize> = (0..100)
            .map(|i| one.select(&q[i * d..(i + 1) * d]).unwrap())
            .collect();
        assert_eq!(ts.clone().select_batch(q).unwrap(), each);
    }

    #[test]
    fn float32_storage_round_trips_merges_and_leaves_float64_bytes_unchanged() {
        let (d, k, m) = (12, 2, 4);
        let (x, arms, r, _) = problem(300, d, k, 9);
        let make = |precision: &str| {
            SketchedLinUCB::new(k, d, m, false, 1.0, 1.0, Some(1))
                .unwrap()
                .with_precision(precision)
                .unwrap()
        };
        let (mut p32, mut p64) = (make("float32"), make("float64"));
        p32.update_batch(&x[..200 * d], &arms[..200], &r[..200], None)
            .unwrap();
        p64.update_batch(&x[..200 * d], &arms[..200], &r[..200], None)
            .unwrap();
        let (b32, b64) = (
            crate::state::encode(&p32).unwrap(),
            crate::state::encode(&p64).unwrap(),
        );
        // Float64 writes version 1, the layout from before `precision`; float32 version 2.
        assert_eq!(u16::from_le_bytes([b64[4], b64[5]]), 1);
        assert_eq!(u16::from_le_bytes([b32[4], b32[5]]), 2);
        let back: SketchedLinUCB = crate::state::decode(&b32).unwrap();
        assert_eq!(back, p32);
        assert_copies_are_rounded_rows(&back.m);
        let back64: SketchedLinUCB = crate::state::decode(&b64).unwrap();
        assert_eq!(back64.precision(), Precision::Float64);
        assert!(back64.m.sketches.iter().all(|s| s.rows32.is_none()));
        // A merge re-derives the copy from the merged float64 rows.
        let mut other = make("float64");
        other
            .update_batch(&x[200 * d..], &arms[200..], &r[200..], None)
            .unwrap();
        p32.merge(&other).unwrap();
        p64.merge(&other).unwrap();
        assert_copies_are_rounded_rows(&p32.m);
        assert_eq!(p32.m.sketches[0].fd, p64.m.sketches[0].fd);
        // add_arm keeps the storage.
        let a = p32.add_arm();
        assert!(p32.m.sketches[a].rows32.is_some());
        for bad in ["float16", "Float32", ""] {
            let err = make("float64").with_precision(bad).unwrap_err();
            assert!(err.to_string().contains("precision"), "{err}");
        }
    }
}
