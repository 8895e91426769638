//! Small dense linear algebra on row-major `Vec<f64>` matrices: what the ridge models need
//! (Cholesky, SPD inverse, Sherman-Morrison), written out because d is small (tens to a
//! few hundred) and the state must stay plain serializable vectors.
//!
//! [`cholesky_with`] is the library's one Cholesky factorization (the ridge models, BKB's
//! dictionary and design matrices, the cascade and sketch models all use it). Below
//! [`BLOCKED_FROM`] = 64 it is the unblocked loop written here, which against faer 0.22 at
//! W2's d = 20 is 1.24x faster for the factor and 1.27x for the SPD inverse (faer's fixed
//! costs); from 64 on, where faer is 1.5-3.7x faster, faer's triangular solve and product
//! run its panels (benches/README.md, "faer against the hand-written kernels"). The SPD
//! inverse inverts the factor by hand below [`FAER_INVERSE_FROM`] = 128 and with faer from
//! it on, where each is the faster.
//!
//! The inner kernels (dot products, quadratic forms, rank-one and Gram updates) have an
//! AVX2/FMA version chosen at run time and a portable one; [`crate::simd`] decides which
//! runs, and `REGRETLESS_NO_SIMD=1` forces the portable ones (CI runs the tests both ways).
//! The two agree to rounding (FMA rounds once where the portable code rounds twice), not
//! bit for bit.
//!
//! Unsafe code: only the AVX2/FMA kernels (raw-pointer loads and stores, called behind the
//! run-time feature check) and the calls into `matrixmultiply`'s pointer-based `dgemm`.
//! Each public entry point asserts the slice lengths its kernel relies on, so the kernels'
//! pointer arithmetic stays in bounds by construction.

// Index loops over register tiles read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

/// What [`cholesky_with`] does with a pivot at or below its tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallPivot {
    /// Refuse the matrix (`None`): it is not numerically positive definite.
    Refuse,
    /// A zero column (a positive semidefinite matrix's numerically singular direction).
    Zero,
    /// Raise the pivot to the tolerance (for `S + floor I`, whose pivots are all at least
    /// `floor` in exact arithmetic); a non-finite pivot is still refused.
    Floor,
}

/// Below this order the Cholesky factorization and the SPD inverse are the unblocked loops
/// written here; from it on, faer's kernels run the blocked parts.
pub const BLOCKED_FROM: usize = 64;

/// Lower-triangular Cholesky factor of the symmetric positive definite `a` (d x d),
/// or None if `a` is not numerically positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    cholesky_with(a, d, 0.0, SmallPivot::Refuse)
}

/// The library's one Cholesky factorization: the lower factor of the symmetric `a` (n x n),
/// read from its lower triangle, with `small` deciding what a pivot that is not finite or
/// not above `tol` does; `None` when it refuses.
///
/// Right-looking by panels of [`BLOCKED_FROM`] columns: each diagonal block is factored
/// by the unblocked loop (which alone runs below [`BLOCKED_FROM`], so the ridge models'
/// factors are those of that loop, bit for bit), the panel below it by faer's triangular
/// solve and the trailing lower triangle by faer's triangular matrix product. faer splits
/// those products over output blocks, never over the summation, so the factor does not
/// depend on the number of threads.
pub fn cholesky_with(a: &[f64], n: usize, tol: f64, small: SmallPivot) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    // Below BLOCKED_FROM the scalar loops of the ridge models' factor (their bits); above,
    // the diagonal blocks' sums as vectorized dot products.
    factor_into(a, n, tol, small, n >= BLOCKED_FROM, &mut l).then_some(l)
}

/// [`cholesky_with`] (refusing small pivots) into the caller's buffer `l` (n x n, every
/// entry written), its sums always as vectorized dot products: for callers that factor
/// many matrices in a row (the discounted models refactor every arm every round). False if
/// `a` is not numerically positive definite.
pub fn cholesky_into(a: &[f64], n: usize, l: &mut [f64]) -> bool {
    factor_into(a, n, 0.0, SmallPivot::Refuse, true, l)
}

fn factor_into(
    a: &[f64],
    n: usize,
    tol: f64,
    small: SmallPivot,
    vectorized: bool,
    l: &mut [f64],
) -> bool {
    use faer::linalg::matmul::triangular::{matmul, BlockStructure};
    use faer::{Accum, MatMut, Par};
    assert!(a.len() >= n * n && l.len() >= n * n);
    let l = &mut l[..n * n];
    for i in 0..n {
        l[i * n..i * n + i + 1].copy_from_slice(&a[i * n..i * n + i + 1]);
        l[i * n + i + 1..(i + 1) * n].fill(0.0);
    }
    let mut zero_pivots = Vec::new();
    let mut k = 0;
    while k < n {
        let e = (k + BLOCKED_FROM).min(n);
        // Diagonal block (already updated for the columns before k).
        for j in k..e {
            let mut diag = l[j * n + j];
            if vectorized {
                diag -= dot(&l[j * n + k..j * n + j], &l[j * n + k..j * n + j]);
            } else {
                for q in k..j {
                    diag -= l[j * n + q] * l[j * n + q];
                }
            }
            if !(diag.is_finite() && diag > tol) {
                match small {
                    SmallPivot::Refuse => return false,
                    _ if diag.is_nan() => return false,
                    SmallPivot::Zero => {
                        for i in j..e {
                            l[i * n + j] = 0.0;
                        }
                        zero_pivots.push(j);
                        continue;
                    }
                    SmallPivot::Floor if diag.is_finite() => diag = tol,
                    SmallPivot::Floor => return false,
                }
            }
            let ljj = diag.sqrt();
            l[j * n + j] = ljj;
            for i in j + 1..e {
                let mut s = l[i * n + j];
                if vectorized {
                    s -= dot(&l[i * n + k..i * n + j], &l[j * n + k..j * n + j]);
                } else {
                    for q in k..j {
                        s -= l[i * n + q] * l[j * n + q];
                    }
                }
                l[i * n + j] = s / ljj;
            }
        }
        if e < n {
            let whole = MatMut::from_row_major_slice_mut(&mut *l, n, n);
            let (top, bottom) = whole.split_at_row_mut(e);
            let mut l11 = top.submatrix_mut(k, k, e - k, e - k);
            let (_, rest) = bottom.split_at_col_mut(k);
            let (mut panel, trailing) = rest.split_at_col_mut(e - k);
            // A zero column of the block: solve with a unit pivot, then zero the panel's
            // column (later columns multiply it by the block's zero entries only).
            let block_zeros: Vec<usize> = zero_pivots
                .iter()
                .filter(|&&j| j >= k)
                .map(|&j| j - k)
                .collect();
            for &j in &block_zeros {
                l11[(j, j)] = 1.0;
            }
            // Panel: X L11^T = A21, i.e. L11 X^T = A21^T.
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                l11.as_ref(),
                panel.as_mut().transpose_mut(),
                Par::rayon(0),
            );
            for &j in &block_zeros {
                l11[(j, j)] = 0.0;
                panel.as_mut().col_mut(j).fill(0.0);
            }
            // Trailing lower triangle: A22 -= X X^T.
            let mut a22 = trailing.subcols_mut(0, n - e);
            matmul(
                a22.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Add,
                panel.as_ref(),
                BlockStructure::Rectangular,
                panel.as_ref().transpose(),
                BlockStructure::Rectangular,
                -1.0,
                Par::rayon(0),
            );
        }
        k = e;
    }
    true
}

/// Inverse of an SPD matrix through its Cholesky factor, exactly symmetric.
///
/// Below [`BLOCKED_FROM`] the scalar loops (bit for bit the results of earlier versions);
/// from it on the row-oriented version, about 10x faster at d = 384 (the scalar loops
/// stride down columns).
pub fn spd_inverse(a: &[f64], d: usize) -> Option<Vec<f64>> {
    if d >= BLOCKED_FROM {
        spd_inverse_rows(a, d)
    } else {
        spd_inverse_scalar(a, d)
    }
}

/// From this order on [`spd_inverse`] inverts the factor with faer's triangular inverse and
/// product: in one process, alternating, on a loaded machine, the row-oriented inverse
/// below took 0.40x faer's time at d = 64, 1.0x at 128, 1.3x at 256, 1.6x at 384 and
/// 2.0x at 768 (medians).
pub const FAER_INVERSE_FROM: usize = 128;

/// [`spd_inverse`] for large d: the (blocked) Cholesky factor L, then for d below
/// [`FAER_INVERSE_FROM`] its inverse L^{-1} row by row as sums of earlier rows (contiguous
/// multiply-adds) and A^{-1} = L^{-T} L^{-1} as one blocked matrix product, mirrored to
/// exact symmetry; from it on, faer's. The same arithmetic as [`spd_inverse_scalar`] in
/// another order: equal up to rounding.
fn spd_inverse_rows(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, d)?;
    if d >= FAER_INVERSE_FROM {
        let li = crate::kernel::dense::lower_inverse(&l, d);
        return Some(crate::kernel::dense::gram_lower(&li, d));
    }
    // Row i of L^{-1}: (e_i - sum_{k<i} L_ik (row k of L^{-1})) / L_ii; row k is zero
    // beyond column k.
    let mut li = vec![0.0; d * d];
    let mut row = vec![0.0; d];
    for i in 0..d {
        let r = &mut row[..=i];
        r.fill(0.0);
        r[i] = 1.0;
        for k in 0..i {
            let c = l[i * d + k];
            for (o, v) in r[..=k].iter_mut().zip(&li[k * d..k * d + k + 1]) {
                *o -= c * v;
            }
        }
        let inv_ii = 1.0 / l[i * d + i];
        for (o, v) in li[i * d..i * d + i + 1].iter_mut().zip(r.iter()) {
            *o = v * inv_ii;
        }
    }
    let mut inv = vec![0.0; d * d];
    add_at_b(&li, &li, &mut inv, d, d, d);
    for i in 0..d {
        for j in i + 1..d {
            inv[j * d + i] = inv[i * d + j];
        }
    }
    Some(inv)
}

/// [`spd_inverse`] for small d: scalar loops.
fn spd_inverse_scalar(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, d)?;
    // Invert L (lower), then A^{-1} = L^{-T} L^{-1}.
    let mut li = vec![0.0; d * d];
    for j in 0..d {
        li[j * d + j] = 1.0 / l[j * d + j];
        for i in j + 1..d {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * d + k] * li[k * d + j];
            }
            li[i * d + j] = s / l[i * d + i];
        }
    }
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..d {
                s += li[k * d + i] * li[k * d + j];
            }
            inv[i * d + j] = s;
            inv[j * d + i] = s;
        }
    }
    Some(inv)
}

/// y = A x for a d x d row-major A.
#[inline]
pub fn matvec(a: &[f64], x: &[f64], y: &mut [f64]) {
    let d = x.len();
    for (i, yi) in y.iter_mut().enumerate() {
        *yi = dot(&a[i * d..(i + 1) * d], x);
    }
}

/// Dot product. On x86-64 CPUs with AVX2 and FMA (detected once at run time) it runs a
/// 4-lane fused multiply-add kernel, so portable builds (baseline x86-64 wheels) still get
/// the vector unit on the machines that have it.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if a.len() >= 8 && crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above), the kernel's only
            // requirement: it reads only indices below min(a.len(), b.len()).
            return unsafe { dot_avx2_fma(a, b) };
        }
    }
    dot_portable(a, b)
}

#[inline]
fn dot_portable(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators: lets the compiler keep several multiply-adds in flight.
    let n = a.len().min(b.len());
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        for k in 0..4 {
            acc[k] += a[4 * c + k] * b[4 * c + k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in 4 * chunks..n {
        s += a[i] * b[i];
    }
    s
}

/// [`dot`] with AVX2/FMA: the first min(a.len(), b.len()) products.
///
/// # Safety
/// The CPU must support AVX2 and FMA. Any slices are fine: every load is at an index
/// `i + 3 < n` or (the remainder) `i < n`, for `n = min(a.len(), b.len())`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f64], b: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_pd();
    let mut acc1 = _mm256_setzero_pd();
    let mut i = 0;
    while i + 8 <= n {
        acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(pa.add(i)), _mm256_loadu_pd(pb.add(i)), acc0);
        acc1 = _mm256_fmadd_pd(
            _mm256_loadu_pd(pa.add(i + 4)),
            _mm256_loadu_pd(pb.add(i + 4)),
            acc1,
        );
        i += 8;
    }
    if i + 4 <= n {
        acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(pa.add(i)), _mm256_loadu_pd(pb.add(i)), acc0);
        i += 4;
    }
    let acc = _mm256_add_pd(acc0, acc1);
    let mut lanes = [0.0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), acc);
    let mut s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

/// C = A B for row-major A (m x k) and B (k x n), into row-major C (m x n); a cache-blocked
/// kernel that uses AVX2/FMA where the CPU has them (detected at run time).
pub fn matmul(a: &[f64], b: &[f64], c: &mut [f64], m: usize, k: usize, n: usize) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: with these row-major strides dgemm reads A[i][p] = a[i k + p] (i < m, p < k),
    // B[p][j] = b[p n + j] and writes C[i][j] = c[i n + j]: the largest offsets, m k - 1,
    // k n - 1 and m n - 1, are in bounds by the assert. `c` is a `&mut` borrow, so it
    // overlaps neither `a` nor `b`.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// C += A^T B for row-major A (k x m) and B (k x n), into row-major C (m x n): the Gram
/// update X^T (W X) of a block of rows in one blocked matrix product.
pub fn add_at_b(a: &[f64], b: &[f64], c: &mut [f64], k: usize, m: usize, n: usize) {
    assert!(a.len() >= k * m && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: dgemm reads A^T[i][p] = a[p m + i] (i < m, p < k; strides 1 and m),
    // B[p][j] = b[p n + j] and reads and writes C[i][j] = c[i n + j]: the largest offsets,
    // k m - 1, k n - 1 and m n - 1, are in bounds by the assert. `c` is a `&mut` borrow, so
    // it overlaps neither `a` nor `b`.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            1,
            m as isize,
            b.as_ptr(),
            n as isize,
            1,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// x^T A x for symmetric A, with `scratch` of length d (it receives A x). A x is
/// accumulated as a sum of rows scaled by x_j (A is symmetric, so rows are columns):
/// contiguous multiply-adds with no horizontal sum per row. The whole form is one function
/// per instruction set, so the AVX2/FMA choice is made once per call, not once per row.
#[inline]
pub fn quad_form(a: &[f64], x: &[f64], scratch: &mut [f64]) -> f64 {
    symv_dot(a, x, None, scratch).0
}

/// For symmetric A (d x d): y = A x (into `y`), and returns (x^T A x, t . x) where `t` is
/// an optional second vector (a ridge model's theta: its mean in the same pass).
#[inline]
pub fn symv_dot(a: &[f64], x: &[f64], t: Option<&[f64]>, y: &mut [f64]) -> (f64, f64) {
    let d = x.len();
    assert!(a.len() >= d * d && y.len() >= d && t.is_none_or(|t| t.len() >= d));
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirements (a: d^2, t and y: d, for d = x.len()); `y` is a
            // `&mut` borrow, so it overlaps no input.
            return unsafe { symv_dot_avx2_fma(a, x, t, Some(y)) };
        }
    }
    symv_dot_portable(a, x, t, y)
}

/// (x^T A x, t . x) for symmetric A, without storing A x (a decision's width and mean).
#[inline]
pub fn quad_and_dot(a: &[f64], x: &[f64], t: &[f64]) -> (f64, f64) {
    let d = x.len();
    assert!(a.len() >= d * d && t.len() >= d);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirements (a: d^2, t: d, for d = x.len()).
            return unsafe { symv_dot_avx2_fma(a, x, Some(t), None) };
        }
    }
    let mut y = vec![0.0; d];
    symv_dot_portable(a, x, Some(t), &mut y)
}

/// The dimension from which [`quad_and_dot_upper`] is used for a decision's width: there the
/// inverses no longer fit in cache and reading half of each is about twice as fast. Below it,
/// decisions keep the full-matrix kernel (bit for bit the results of earlier versions).
pub const UPPER_TRIANGLE_FROM: usize = 64;

/// (x^T A x, t . x) for symmetric A (d x d, row-major) reading only its upper triangle:
/// x^T A x = sum_i A_ii x_i^2 + 2 sum_{i<j} A_ij x_i x_j. Half the bytes of
/// [`quad_and_dot`], which a decision at large d is bound by; equal to it up to rounding.
#[inline]
pub fn quad_and_dot_upper(a: &[f64], x: &[f64], t: &[f64]) -> (f64, f64) {
    let d = x.len();
    assert!(a.len() >= d * d && t.len() >= d);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirements (a: d^2 for d = x.len()).
            let q = unsafe { quad_upper_avx2_fma(a, x) };
            return (q, dot(x, t));
        }
    }
    (quad_upper_portable(a, x), dot_portable(x, t))
}

fn quad_upper_portable(a: &[f64], x: &[f64]) -> f64 {
    let d = x.len();
    let (mut diag, mut off) = (0.0, 0.0);
    for i in 0..d {
        let row = &a[i * d..(i + 1) * d];
        diag += row[i] * x[i] * x[i];
        off += x[i] * dot_portable(&row[i + 1..], &x[i + 1..]);
    }
    diag + 2.0 * off
}

/// [`quad_and_dot_upper`]'s quadratic form with AVX2/FMA: rows in blocks of four; within a
/// block the 4 x 4 diagonal tile is summed in scalars, and the columns right of it as
/// u_j = sum_r x_r A_rj (four rows read together, x_j loaded once) times x_j, in vector
/// accumulators summed once at the end.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `a.len() >= d^2` for d = x.len(). Every access is
/// then in bounds: rows i0 + r < d and columns j < d (full chunks end at j + 4 <= d, the
/// masked tail's live lanes below d; masked-off lanes are not accessed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quad_upper_avx2_fma(a: &[f64], x: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let d = x.len();
    let (ap, xp) = (a.as_ptr(), x.as_ptr());
    let mut tile = 0.0;
    let mut off0 = _mm256_setzero_pd();
    let mut off1 = _mm256_setzero_pd();
    let mut i0 = 0;
    while i0 < d {
        let nb = (d - i0).min(4);
        for r in 0..nb {
            let xr = *xp.add(i0 + r);
            let row = ap.add((i0 + r) * d);
            let mut s = 0.5 * *row.add(i0 + r) * xr;
            for c in r + 1..nb {
                s += *row.add(i0 + c) * *xp.add(i0 + c);
            }
            tile += xr * s;
        }
        if nb == 4 {
            let r0 = ap.add(i0 * d);
            let (r1, r2, r3) = (r0.add(d), r0.add(2 * d), r0.add(3 * d));
            let x0 = _mm256_set1_pd(*xp.add(i0));
            let x1 = _mm256_set1_pd(*xp.add(i0 + 1));
            let x2 = _mm256_set1_pd(*xp.add(i0 + 2));
            let x3 = _mm256_set1_pd(*xp.add(i0 + 3));
            // u_j for the four rows with the load `$ld` at column `$j`.
            macro_rules! u {
                ($ld:ident, $j:expr $(, $m:expr)?) => {{
                    let mut u = _mm256_mul_pd($ld(r0.add($j) $(, $m)?), x0);
                    u = _mm256_fmadd_pd($ld(r1.add($j) $(, $m)?), x1, u);
                    u = _mm256_fmadd_pd($ld(r2.add($j) $(, $m)?), x2, u);
                    _mm256_fmadd_pd($ld(r3.add($j) $(, $m)?), x3, u)
                }};
            }
            let mut j = i0 + 4;
            while j + 8 <= d {
                let (xa, xb) = (_mm256_loadu_pd(xp.add(j)), _mm256_loadu_pd(xp.add(j + 4)));
                off0 = _mm256_fmadd_pd(u!(_mm256_loadu_pd, j), xa, off0);
                off1 = _mm256_fmadd_pd(u!(_mm256_loadu_pd, j + 4), xb, off1);
                j += 8;
            }
            if j + 4 <= d {
                let xa = _mm256_loadu_pd(xp.add(j));
                off0 = _mm256_fmadd_pd(u!(_mm256_loadu_pd, j), xa, off0);
                j += 4;
            }
            if j < d {
                let mask = tail_mask(d - j);
                let xa = _mm256_maskload_pd(xp.add(j), mask);
                off1 = _mm256_fmadd_pd(u!(_mm256_maskload_pd, j, mask), xa, off1);
            }
        }
        i0 += nb;
    }
    2.0 * (tile + hsum(_mm256_add_pd(off0, off1)))
}

fn symv_dot_portable(a: &[f64], x: &[f64], t: Option<&[f64]>, y: &mut [f64]) -> (f64, f64) {
    let d = x.len();
    let y = &mut y[..d];
    y.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        for (s, aj) in y.iter_mut().zip(&a[j * d..(j + 1) * d]) {
            *s += xj * aj;
        }
    }
    (dot_portable(x, y), t.map_or(0.0, |t| dot_portable(x, t)))
}

/// The mask of the first `rem` lanes.
///
/// # Safety
/// The CPU must support AVX (implied by AVX2).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tail_mask(rem: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // rem in 1..=4 valid lanes (low lanes first).
    let m = |i: usize| if i < rem { -1i64 } else { 0 };
    _mm256_set_epi64x(m(3), m(2), m(1), m(0))
}

/// The sum of the four lanes, as `(v0 + v1) + (v2 + v3)`.
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hsum(v: std::arch::x86_64::__m256d) -> f64 {
    use std::arch::x86_64::*;
    let mut lanes = [0.0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), v);
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// One panel of up to 4 NC columns starting at c0 (width w): A[:, panel] x accumulated in
/// NC registers, then its contributions to x^T A x and t . x (lane-wise).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `NC = ceil(w / 4)` and `c0 + w <= d`; `a` is valid
/// for reads of d^2 values, `x` (and `t`) of d, `y` for writes of d, not overlapping the
/// others. Then every access is in bounds: the full chunks end before `c0 + 4 (NC - 1)`,
/// which is below `c0 + w`, and the masked last chunk's live lanes end at `c0 + w - 1`
/// (masked-off lanes are not accessed: they neither read nor fault).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn symv_panel<const NC: usize>(
    a: *const f64,
    x: *const f64,
    t: Option<*const f64>,
    y: Option<*mut f64>,
    d: usize,
    c0: usize,
    w: usize,
    q: &mut std::arch::x86_64::__m256d,
    m: &mut std::arch::x86_64::__m256d,
) {
    use std::arch::x86_64::*;
    let mask = tail_mask(w - 4 * (NC - 1));
    let mut acc = [_mm256_setzero_pd(); NC];
    for j in 0..d {
        let xj = _mm256_set1_pd(*x.add(j));
        let row = a.add(j * d + c0);
        for c in 0..NC - 1 {
            acc[c] = _mm256_fmadd_pd(_mm256_loadu_pd(row.add(4 * c)), xj, acc[c]);
        }
        acc[NC - 1] = _mm256_fmadd_pd(
            _mm256_maskload_pd(row.add(4 * (NC - 1)), mask),
            xj,
            acc[NC - 1],
        );
    }
    let xp = x.add(c0);
    for c in 0..NC - 1 {
        let xc = _mm256_loadu_pd(xp.add(4 * c));
        *q = _mm256_fmadd_pd(acc[c], xc, *q);
        if let Some(t) = t {
            *m = _mm256_fmadd_pd(_mm256_loadu_pd(t.add(c0 + 4 * c)), xc, *m);
        }
        if let Some(y) = y {
            _mm256_storeu_pd(y.add(c0 + 4 * c), acc[c]);
        }
    }
    let xc = _mm256_maskload_pd(xp.add(4 * (NC - 1)), mask);
    *q = _mm256_fmadd_pd(acc[NC - 1], xc, *q);
    if let Some(t) = t {
        let tc = _mm256_maskload_pd(t.add(c0 + 4 * (NC - 1)), mask);
        *m = _mm256_fmadd_pd(tc, xc, *m);
    }
    if let Some(y) = y {
        _mm256_maskstore_pd(y.add(c0 + 4 * (NC - 1)), mask, acc[NC - 1]);
    }
}

/// y = A x by column panels of up to 32 held in registers (A symmetric: row j of A scaled
/// by x_j), with x^T A x and t . x.
///
/// # Safety
/// The CPU must support AVX2 and FMA; for d = x.len(), `a.len() >= d^2` and `t` and `y`
/// (when given) hold at least d values. The panels then meet [`symv_panel`]'s contract:
/// `w = min(d - c0, 32)` and `NC = ceil(w / 4) <= 8`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn symv_dot_avx2_fma(
    a: &[f64],
    x: &[f64],
    t: Option<&[f64]>,
    y: Option<&mut [f64]>,
) -> (f64, f64) {
    use std::arch::x86_64::*;
    let d = x.len();
    let (ap, xp) = (a.as_ptr(), x.as_ptr());
    let tp = t.map(|t| t.as_ptr());
    let yp = y.map(|y| y.as_mut_ptr());
    let mut q = _mm256_setzero_pd();
    let mut m = _mm256_setzero_pd();
    let mut c0 = 0;
    while c0 < d {
        let w = (d - c0).min(32);
        match w.div_ceil(4) {
            1 => symv_panel::<1>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            2 => symv_panel::<2>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            3 => symv_panel::<3>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            4 => symv_panel::<4>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            5 => symv_panel::<5>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            6 => symv_panel::<6>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            7 => symv_panel::<7>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
            _ => symv_panel::<8>(ap, xp, tp, yp, d, c0, w, &mut q, &mut m),
        }
        c0 += w;
    }
    (hsum(q), hsum(m))
}

/// M += s u u^T for a d x d row-major M. Computed as (r u_i) (r u_j) with r = sqrt(|s|),
/// whose products commute exactly, so an exactly symmetric M stays exactly symmetric.
#[inline]
pub fn add_sym_outer(m: &mut [f64], u: &[f64], s: f64) {
    let d = u.len();
    assert!(m.len() >= d * d);
    if s == 0.0 {
        return;
    }
    let r = s.abs().sqrt();
    let neg = s < 0.0;
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and `m` holds d^2 values
            // for d = u.len() (asserted), the kernel's requirements.
            unsafe { add_sym_outer_avx2_fma(m, u, r, neg) };
            return;
        }
    }
    for i in 0..d {
        let ui = if neg { -(r * u[i]) } else { r * u[i] };
        for (mij, uj) in m[i * d..(i + 1) * d].iter_mut().zip(u) {
            *mij += ui * (r * uj);
        }
    }
}

/// [`add_sym_outer`]'s update with AVX2/FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA and `m.len() >= d^2` for d = u.len(): row i's loads
/// and stores cover `i d + j` for `j + 3 < d` (full chunks) or `j < d` (the remainder).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_sym_outer_avx2_fma(m: &mut [f64], u: &[f64], r: f64, neg: bool) {
    use std::arch::x86_64::*;
    let d = u.len();
    // ru = r u (the scaled vector), on the stack for the common small d.
    let mut buf = [0.0f64; 64];
    let mut heap = Vec::new();
    let ru: &mut [f64] = if d <= 64 {
        &mut buf[..d]
    } else {
        heap.resize(d, 0.0);
        &mut heap
    };
    for (o, v) in ru.iter_mut().zip(u) {
        *o = r * v;
    }
    let (mp, rp) = (m.as_mut_ptr(), ru.as_ptr());
    let full = d / 4 * 4;
    for i in 0..d {
        let ui = if neg { -*rp.add(i) } else { *rp.add(i) };
        let b = _mm256_set1_pd(ui);
        let row = mp.add(i * d);
        let mut j = 0;
        while j < full {
            let v = _mm256_fmadd_pd(b, _mm256_loadu_pd(rp.add(j)), _mm256_loadu_pd(row.add(j)));
            _mm256_storeu_pd(row.add(j), v);
            j += 4;
        }
        while j < d {
            *row.add(j) = ui.mul_add(*rp.add(j), *row.add(j));
            j += 1;
        }
    }
}

/// True when every value is finite. Branch-free (v * 0 is 0 for finite v, NaN otherwise)
/// in eight independent lanes, with AVX2 where the CPU has it: a validation pass over a
/// large batch costs a fraction of a memory read.
#[inline]
pub fn all_finite(x: &[f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 (checked above), the function's only requirement
            // (its body is safe code compiled for AVX2).
            return unsafe { all_finite_avx2(x) };
        }
    }
    all_finite_lanes(x)
}

#[inline(always)]
fn all_finite_lanes(x: &[f64]) -> bool {
    let mut acc = [0.0f64; 8];
    let mut it = x.chunks_exact(8);
    for v in &mut it {
        for k in 0..8 {
            acc[k] += v[k] * 0.0;
        }
    }
    let tail: f64 = it.remainder().iter().map(|v| v * 0.0).sum();
    acc.iter().sum::<f64>() + tail == 0.0
}

/// [`all_finite_lanes`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn all_finite_avx2(x: &[f64]) -> bool {
    all_finite_lanes(x)
}

/// `limit_bits - |v|'s bits` for `limit_bits` = the bits of a finite `limit` >= 0: negative
/// exactly when |v| > limit or v is NaN (the bit patterns of non-negative numbers are ordered
/// as the numbers, and NaN's lie above infinity's). ORed over many values, the result is
/// negative when any of them is out of range: a range check without branches or float
/// compares, which vectorizes.
#[inline(always)]
pub fn range_excess(v: f64, limit_bits: i64) -> i64 {
    limit_bits - (v.to_bits() & 0x7fff_ffff_ffff_ffff) as i64
}

/// True when |v| <= `limit` for every value (NaN refused); `limit` is finite and >= 0.
/// Branch-free in eight lanes, with AVX2 where the CPU has it.
#[inline]
pub fn all_within(x: &[f64], limit: f64) -> bool {
    let limit_bits = limit.to_bits() as i64;
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked above), the function's only requirement
            // (its body is safe code compiled for AVX2).
            return unsafe { all_within_avx2(x, limit_bits) };
        }
    }
    all_within_lanes(x, limit_bits)
}

#[inline(always)]
fn all_within_lanes(x: &[f64], limit_bits: i64) -> bool {
    let mut acc = [0i64; 8];
    let mut it = x.chunks_exact(8);
    for v in &mut it {
        for k in 0..8 {
            acc[k] |= range_excess(v[k], limit_bits);
        }
    }
    let tail = it
        .remainder()
        .iter()
        .fold(0, |a, v| a | range_excess(*v, limit_bits));
    acc.iter().fold(tail, |a, b| a | b) >= 0
}

/// [`all_within_lanes`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_within_avx2(x: &[f64], limit_bits: i64) -> bool {
    all_within_lanes(x, limit_bits)
}

/// `s[i]`, read exactly once: a volatile read, which the compiler neither repeats nor
/// merges with another, for memory that another thread may write meanwhile (the value is
/// then checked and used from the one read). Panics when `i` is out of bounds.
#[inline(always)]
pub fn read_once<T: Copy>(s: &[T], i: usize) -> T {
    // SAFETY: `&s[i]` is a valid, aligned reference (bounds-checked).
    unsafe { std::ptr::read_volatile(&s[i]) }
}

/// Copies `row` into `dst` and adds `wr * row` to `b` (the first `row.len()` entries of
/// each); ORs the range excesses of the values against `limit_bits` (see
/// [`range_excess`]) into `excess`, lane `j % 4` for value j. The batch fit's row kernel:
/// each value of `row` is read exactly once ([`read_once`]), and the copy, the sum and the
/// check all use that read, however another thread writes the source meanwhile.
#[inline]
pub fn gather_row(
    dst: &mut [f64],
    b: &mut [f64],
    row: &[f64],
    wr: f64,
    limit_bits: i64,
    excess: &mut [i64; 4],
) {
    for (j, (o, b)) in dst[..row.len()]
        .iter_mut()
        .zip(&mut b[..row.len()])
        .enumerate()
    {
        let v = read_once(row, j);
        *o = v;
        *b += wr * v;
        excess[j % 4] |= range_excess(v, limit_bits);
    }
}

/// [`gather_row`] with AVX2, four values per instruction, with the same results bit for bit
/// (a multiply then an add, as the portable loop). Each group of four is read by one
/// load written in assembly, which the compiler can neither repeat nor replace (an
/// intrinsic load may be turned into a second pass over the source, e.g. a `memcpy` for the
/// copy: two reads that a concurrent writer could make disagree).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub unsafe fn gather_row_avx2(
    dst: &mut [f64],
    b: &mut [f64],
    row: &[f64],
    wr: f64,
    limit_bits: i64,
    excess: &mut [i64; 4],
) {
    use std::arch::x86_64::*;
    let d = row.len();
    assert!(dst.len() >= d && b.len() >= d, "gather_row: short buffers");
    let full = d / 4 * 4;
    let (rp, dp, bp) = (row.as_ptr(), dst.as_mut_ptr(), b.as_mut_ptr());
    let w = _mm256_set1_pd(wr);
    let abs = _mm256_set1_epi64x(0x7fff_ffff_ffff_ffff);
    let limit = _mm256_set1_epi64x(limit_bits);
    // SAFETY: `excess` is 4 i64 (32 bytes); unaligned loads and stores need no alignment.
    let mut acc = unsafe { _mm256_loadu_si256(excess.as_ptr() as *const __m256i) };
    let mut j = 0;
    while j < full {
        let v: __m256d;
        // SAFETY: j + 4 <= d, and `row`, `dst` and `b` hold at least d values (asserted);
        // the assembly reads the 32 bytes at `rp + j` (unaligned is allowed) and touches
        // nothing else (no stack, no flags).
        unsafe {
            std::arch::asm!(
                "vmovupd {v}, ymmword ptr [{p}]",
                p = in(reg) rp.add(j),
                v = out(ymm_reg) v,
                options(nostack, preserves_flags, readonly),
            );
            _mm256_storeu_pd(dp.add(j), v);
            let sum = _mm256_add_pd(_mm256_loadu_pd(bp.add(j)), _mm256_mul_pd(w, v));
            _mm256_storeu_pd(bp.add(j), sum);
        }
        let bits = _mm256_and_si256(_mm256_castpd_si256(v), abs);
        acc = _mm256_or_si256(acc, _mm256_sub_epi64(limit, bits));
        j += 4;
    }
    // SAFETY: as above.
    unsafe { _mm256_storeu_si256(excess.as_mut_ptr() as *mut __m256i, acc) };
    for j in full..d {
        let v = read_once(row, j);
        dst[j] = v;
        b[j] += wr * v;
        excess[j % 4] |= range_excess(v, limit_bits);
    }
}

/// Rows per group of the batched quadratic forms: one AVX2 register holds 4 rows, two hold
/// a group.
pub const GROUP: usize = 8;

/// Quadratic forms x_r^T M x_r and dots t . x_r of a group of [`GROUP`] rows for symmetric
/// M (d x d), given the rows transposed: `xt` is d x GROUP (`xt[j * GROUP + r]` = feature j
/// of row r; zero-padded rows give zeros). Uses the symmetry, x^T M x = sum_i x_i (M_ii x_i
/// plus twice sum_{j>i} M_ij x_j): d(d+1)/2 multiply-adds per row, each vector instruction
/// serving four rows. Every row's result depends only on that row (not on its group or
/// lane).
#[inline]
pub fn quad_forms_group(
    m: &[f64],
    t: &[f64],
    xt: &[f64],
    d: usize,
    q: &mut [f64; GROUP],
    mean: &mut [f64; GROUP],
) {
    assert!(m.len() >= d * d && t.len() >= d && xt.len() >= d * GROUP);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirements (m: d^2, t: d, xt: d GROUP); `q` and `mean` are
            // `&mut` arrays of GROUP values.
            unsafe { quad_forms_group_avx2_fma(m, t, xt, d, q, mean) };
            return;
        }
    }
    for r in 0..GROUP {
        let x = |j: usize| xt[j * GROUP + r];
        let mut s = 0.0;
        let mut mu = 0.0;
        for i in 0..d {
            let mut z = 0.0;
            for j in i + 1..d {
                z += m[i * d + j] * x(j);
            }
            s += x(i) * (m[i * d + i] * x(i) + 2.0 * z);
            mu += t[i] * x(i);
        }
        q[r] = s;
        mean[r] = mu;
    }
}

/// `a * (t . x_r) + c * sqrt(max(0, x_r^T M x_r))` for the rows of a transposed group (see
/// [`quad_forms_group`]) into `out`: a ridge model's mean (a = 1, c = 0, no quadratic form
/// computed), width (a = 0, c = 1) or UCB score (a = 1, c = alpha) of eight rows, the
/// square roots taken four at a time.
#[inline]
pub fn group_values(m: &[f64], t: &[f64], xt: &[f64], d: usize, a: f64, c: f64, out: &mut [f64]) {
    assert!(m.len() >= d * d && t.len() >= d && xt.len() >= d * GROUP && out.len() >= GROUP);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirements (m: d^2, t: d, xt: d GROUP, out: GROUP).
            unsafe { group_values_avx2_fma(m, t, xt, d, a, c, out) };
            return;
        }
    }
    let (mut q, mut mean) = ([0.0; GROUP], [0.0; GROUP]);
    if c != 0.0 {
        quad_forms_group(m, t, xt, d, &mut q, &mut mean);
    } else {
        for r in 0..GROUP {
            mean[r] = (0..d).map(|j| t[j] * xt[j * GROUP + r]).sum();
        }
    }
    for r in 0..GROUP {
        out[r] = a * mean[r] + c * q[r].max(0.0).sqrt();
    }
}

/// [`group_values`] with AVX2/FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `m.len() >= d^2`, `t.len() >= d`,
/// `xt.len() >= d GROUP` and `out.len() >= GROUP` (the two stores write `out[0..8]`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn group_values_avx2_fma(
    m: &[f64],
    t: &[f64],
    xt: &[f64],
    d: usize,
    a: f64,
    c: f64,
    out: &mut [f64],
) {
    use std::arch::x86_64::*;
    let (q, mean) = if c != 0.0 {
        quad_group_avx2(m.as_ptr(), t.as_ptr(), xt.as_ptr(), d)
    } else {
        (
            [_mm256_setzero_pd(); 2],
            dot_group_avx2(t.as_ptr(), xt.as_ptr(), d),
        )
    };
    let (av, cv, zero) = (_mm256_set1_pd(a), _mm256_set1_pd(c), _mm256_setzero_pd());
    for h in 0..2 {
        let w = _mm256_sqrt_pd(_mm256_max_pd(q[h], zero));
        let o = _mm256_fmadd_pd(cv, w, _mm256_mul_pd(av, mean[h]));
        _mm256_storeu_pd(out.as_mut_ptr().add(4 * h), o);
    }
}

/// The rows `i0..i0 + NI` of M's upper triangle applied to a transposed group: their
/// contributions to x^T M x and t . x.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `i0 + NI <= d`; `mp` is valid for reads of d^2
/// values, `tp` of d and `xp` of d GROUP. Then every index is in bounds: M's at
/// `(i0 + u) d + j` with `i0 + u, j < d`, t's at `i < d`, x's at `j GROUP + 0..8`, `j < d`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn quad_tile<const NI: usize>(
    mp: *const f64,
    tp: *const f64,
    xp: *const f64,
    d: usize,
    i0: usize,
    q: &mut [std::arch::x86_64::__m256d; 2],
    mean: &mut [std::arch::x86_64::__m256d; 2],
) {
    use std::arch::x86_64::*;
    let mut z = [[_mm256_setzero_pd(); 2]; NI];
    for j in i0 + NI..d {
        let x0 = _mm256_loadu_pd(xp.add(j * GROUP));
        let x1 = _mm256_loadu_pd(xp.add(j * GROUP + 4));
        for u in 0..NI {
            let b = _mm256_set1_pd(*mp.add((i0 + u) * d + j));
            z[u][0] = _mm256_fmadd_pd(b, x0, z[u][0]);
            z[u][1] = _mm256_fmadd_pd(b, x1, z[u][1]);
        }
    }
    for u in 0..NI {
        for v in u + 1..NI {
            let j = i0 + v;
            let b = _mm256_set1_pd(*mp.add((i0 + u) * d + j));
            z[u][0] = _mm256_fmadd_pd(b, _mm256_loadu_pd(xp.add(j * GROUP)), z[u][0]);
            z[u][1] = _mm256_fmadd_pd(b, _mm256_loadu_pd(xp.add(j * GROUP + 4)), z[u][1]);
        }
    }
    let two = _mm256_set1_pd(2.0);
    for u in 0..NI {
        let i = i0 + u;
        let mii = _mm256_set1_pd(*mp.add(i * d + i));
        let xi0 = _mm256_loadu_pd(xp.add(i * GROUP));
        let xi1 = _mm256_loadu_pd(xp.add(i * GROUP + 4));
        let w0 = _mm256_fmadd_pd(two, z[u][0], _mm256_mul_pd(mii, xi0));
        let w1 = _mm256_fmadd_pd(two, z[u][1], _mm256_mul_pd(mii, xi1));
        q[0] = _mm256_fmadd_pd(xi0, w0, q[0]);
        q[1] = _mm256_fmadd_pd(xi1, w1, q[1]);
        let ti = _mm256_set1_pd(*tp.add(i));
        mean[0] = _mm256_fmadd_pd(ti, xi0, mean[0]);
        mean[1] = _mm256_fmadd_pd(ti, xi1, mean[1]);
    }
}

/// x^T M x and t . x of a transposed group (see [`quad_forms_group`]) by tiles of four
/// features.
///
/// # Safety
/// As [`quad_tile`]'s, for every tile: `mp` valid for d^2 reads, `tp` for d, `xp` for
/// d GROUP (the tiles cover `i0..i0 + NI` with `i0 + NI <= d`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn quad_group_avx2(
    mp: *const f64,
    tp: *const f64,
    xp: *const f64,
    d: usize,
) -> (
    [std::arch::x86_64::__m256d; 2],
    [std::arch::x86_64::__m256d; 2],
) {
    use std::arch::x86_64::*;
    let mut q = [_mm256_setzero_pd(); 2];
    let mut mean = [_mm256_setzero_pd(); 2];
    let mut i0 = 0;
    while i0 < d {
        let ni = (d - i0).min(4);
        match ni {
            4 => quad_tile::<4>(mp, tp, xp, d, i0, &mut q, &mut mean),
            3 => quad_tile::<3>(mp, tp, xp, d, i0, &mut q, &mut mean),
            2 => quad_tile::<2>(mp, tp, xp, d, i0, &mut q, &mut mean),
            _ => quad_tile::<1>(mp, tp, xp, d, i0, &mut q, &mut mean),
        }
        i0 += ni;
    }
    (q, mean)
}

/// t . x of a transposed group, four independent accumulator pairs.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `tp` is valid for reads of d values and `xp` of
/// d GROUP (loads at `j GROUP + 0..8` for `j < d`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_group_avx2(
    tp: *const f64,
    xp: *const f64,
    d: usize,
) -> [std::arch::x86_64::__m256d; 2] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_pd(); 8];
    let mut j = 0;
    while j + 4 <= d {
        for u in 0..4 {
            let b = _mm256_set1_pd(*tp.add(j + u));
            acc[2 * u] = _mm256_fmadd_pd(b, _mm256_loadu_pd(xp.add((j + u) * GROUP)), acc[2 * u]);
            acc[2 * u + 1] = _mm256_fmadd_pd(
                b,
                _mm256_loadu_pd(xp.add((j + u) * GROUP + 4)),
                acc[2 * u + 1],
            );
        }
        j += 4;
    }
    while j < d {
        let b = _mm256_set1_pd(*tp.add(j));
        acc[0] = _mm256_fmadd_pd(b, _mm256_loadu_pd(xp.add(j * GROUP)), acc[0]);
        acc[1] = _mm256_fmadd_pd(b, _mm256_loadu_pd(xp.add(j * GROUP + 4)), acc[1]);
        j += 1;
    }
    let lo = _mm256_add_pd(_mm256_add_pd(acc[0], acc[2]), _mm256_add_pd(acc[4], acc[6]));
    let hi = _mm256_add_pd(_mm256_add_pd(acc[1], acc[3]), _mm256_add_pd(acc[5], acc[7]));
    [lo, hi]
}

/// [`quad_forms_group`] with AVX2/FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `m.len() >= d^2`, `t.len() >= d` and
/// `xt.len() >= d GROUP` ([`quad_group_avx2`]'s contract).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quad_forms_group_avx2_fma(
    m: &[f64],
    t: &[f64],
    xt: &[f64],
    d: usize,
    q: &mut [f64; GROUP],
    mean: &mut [f64; GROUP],
) {
    use std::arch::x86_64::*;
    let (qv, mv) = quad_group_avx2(m.as_ptr(), t.as_ptr(), xt.as_ptr(), d);
    _mm256_storeu_pd(q.as_mut_ptr(), qv[0]);
    _mm256_storeu_pd(q.as_mut_ptr().add(4), qv[1]);
    _mm256_storeu_pd(mean.as_mut_ptr(), mv[0]);
    _mm256_storeu_pd(mean.as_mut_ptr().add(4), mv[1]);
}

/// G += (W X)^T X on the upper triangle of the d x d row-major `g` (j >= i, by tiles: some
/// entries below the diagonal are updated too and must be overwritten by the caller, e.g.
/// mirrored from the upper triangle), for row-major `xs` and `wxs` (rows x dp, dp = d
/// rounded up to a multiple of 4, zero-padded): the Gram accumulation of a block of rows,
/// about half the multiply-adds of a full product.
pub fn syrk_upper_add(g: &mut [f64], d: usize, xs: &[f64], wxs: &[f64], rows: usize, dp: usize) {
    assert!(dp % 4 == 0 && dp >= d && g.len() >= d * d);
    assert!(xs.len() >= rows * dp && wxs.len() >= rows * dp);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the asserts give the
            // kernel's requirements (dp a multiple of 4 with dp >= d, g: d^2, xs and wxs:
            // rows dp); `g` is a `&mut` borrow, so it overlaps neither input.
            unsafe { syrk_upper_add_avx2_fma(g, d, xs, wxs, rows, dp) };
            return;
        }
    }
    for r in 0..rows {
        let (x, wx) = (&xs[r * dp..r * dp + d], &wxs[r * dp..r * dp + d]);
        for i in 0..d {
            for j in i..d {
                g[i * d + j] += wx[i] * x[j];
            }
        }
    }
}

/// One tile of G += (W X)^T X: rows `i0..i0 + NI` by the columns `j0..j0 + 4 NJ` (the last
/// chunk of four masked to the columns < d by `mask`).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `i0 + NI <= d`, `j0 + 4 (NJ - 1) < d`, `j0` a
/// multiple of 4, `mask` enabling only the lanes of the last chunk below column d; `g` is
/// valid for reads and writes of d^2 values and `xs`, `wxs` for reads of rows dp values
/// (dp a multiple of 4, dp >= d), not overlapping `g`. Then X's unmasked loads of the last
/// chunk end at `j0 + 4 (NJ - 1) + 3 <= dp - 1` (a multiple of 4 below dp is at most
/// dp - 4: the padding is what makes them in bounds), and G's accesses stay at columns < d.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn syrk_tile<const NI: usize, const NJ: usize>(
    g: *mut f64,
    d: usize,
    xs: *const f64,
    wxs: *const f64,
    rows: usize,
    dp: usize,
    i0: usize,
    j0: usize,
    mask: std::arch::x86_64::__m256i,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_pd(); NJ]; NI];
    for r in 0..rows {
        let xr = xs.add(r * dp + j0);
        let wr = wxs.add(r * dp + i0);
        let mut xv = [_mm256_setzero_pd(); NJ];
        for c in 0..NJ {
            xv[c] = _mm256_loadu_pd(xr.add(4 * c));
        }
        for u in 0..NI {
            let b = _mm256_set1_pd(*wr.add(u));
            for c in 0..NJ {
                acc[u][c] = _mm256_fmadd_pd(b, xv[c], acc[u][c]);
            }
        }
    }
    for u in 0..NI {
        for c in 0..NJ {
            let p = g.add((i0 + u) * d + j0 + 4 * c);
            if c + 1 < NJ {
                _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), acc[u][c]));
            } else {
                let v = _mm256_add_pd(_mm256_maskload_pd(p, mask), acc[u][c]);
                _mm256_maskstore_pd(p, mask, v);
            }
        }
    }
}

/// [`syrk_upper_add`] with AVX2/FMA, by tiles of at most 4 x 8.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `dp % 4 == 0`, `dp >= d`, `g.len() >= d^2` and
/// `xs.len(), wxs.len() >= rows dp`. The tiles then meet [`syrk_tile`]'s contract: `j0`
/// steps by 8 from a multiple of 8 while `j0 < d`, and the mask keeps the columns < d.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn syrk_upper_add_avx2_fma(
    g: &mut [f64],
    d: usize,
    xs: &[f64],
    wxs: &[f64],
    rows: usize,
    dp: usize,
) {
    let (gp, xp, wp) = (g.as_mut_ptr(), xs.as_ptr(), wxs.as_ptr());
    let mut i0 = 0;
    while i0 < d {
        let ni = (d - i0).min(4);
        // j tiles of up to 8 columns, from the one holding column i0; the last chunk of
        // each tile is masked to the columns < d.
        let mut j0 = i0 / 8 * 8;
        while j0 < d {
            let w = (d - j0).min(8);
            let two = w > 4;
            let mask = tail_mask(if two { w - 4 } else { w });
            macro_rules! tile {
                ($ni:literal) => {
                    if two {
                        syrk_tile::<$ni, 2>(gp, d, xp, wp, rows, dp, i0, j0, mask)
                    } else {
                        syrk_tile::<$ni, 1>(gp, d, xp, wp, rows, dp, i0, j0, mask)
                    }
                };
            }
            match ni {
                4 => tile!(4),
                3 => tile!(3),
                2 => tile!(2),
                _ => tile!(1),
            }
            j0 += 8;
        }
        i0 += ni;
    }
}

/// A^{-1} <- (A + w x x^T)^{-1} by Sherman-Morrison, given v = A^{-1} x and q = x^T v.
/// The update subtracts a symmetric outer product computed as products that commute
/// exactly ([`add_sym_outer`]), so an exactly symmetric inverse stays exactly symmetric;
/// positive definiteness holds in exact arithmetic for w >= 0, and the
/// owner refactorizes periodically to remove the rounding drift.
#[inline]
pub fn sherman_morrison(a_inv: &mut [f64], v: &[f64], q: f64, w: f64) {
    let c = w / (1.0 + w * q);
    add_sym_outer(a_inv, v, -c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_spd(d: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::rng::Rng::seed_from_u64(seed);
        let m: Vec<f64> = (0..d * d).map(|_| rng.uniform() - 0.5).collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d).map(|k| m[i * d + k] * m[j * d + k]).sum::<f64>();
            }
            a[i * d + i] += 0.5;
        }
        a
    }

    #[test]
    fn cholesky_pivot_rules_and_blocks() {
        // The unblocked loop below BLOCKED_FROM, the blocked one above: both reproduce A.
        for &n in &[1usize, 20, 63, 64, 65, 129, 200] {
            let a = random_spd(n, n as u64);
            let l = cholesky(&a, n).unwrap();
            let mut llt = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    llt[i * n + j] = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
                    if j > i {
                        assert_eq!(l[i * n + j], 0.0);
                    }
                }
            }
            for (u, v) in llt.iter().zip(&a) {
                assert!((u - v).abs() < 1e-10 * (1.0 + v.abs()), "{n}");
            }
        }
        // A rank-one PSD matrix: the second column of its factor is zero.
        let l = cholesky_with(&[4.0, 2.0, 2.0, 1.0], 2, 1e-12, SmallPivot::Zero).unwrap();
        assert_eq!(l, vec![2.0, 0.0, 1.0, 0.0]);
        // A zero pivot inside the blocked path: a rank-deficient 150 x 150 Gram matrix of
        // rank 100 gives zero columns, and still L L^T = A.
        let (n, rank) = (150, 100);
        let mut state = 7u64;
        let x: Vec<f64> = (0..n * rank)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..rank).map(|k| x[i * rank + k] * x[j * rank + k]).sum();
            }
        }
        let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
        let l = cholesky_with(&g, n, 1e-9 * trace, SmallPivot::Zero).unwrap();
        let zero_columns = (0..n)
            .filter(|&j| (j..n).all(|i| l[i * n + j] == 0.0))
            .count();
        assert_eq!(zero_columns, n - rank);
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
                assert!((v - g[i * n + j]).abs() < 1e-7 * (1.0 + g[i * n + j].abs()));
            }
        }
        assert!(cholesky_with(&g, n, 1e-9 * trace, SmallPivot::Refuse).is_none());
        // Not positive definite: refused.
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
        // [[1e32, 1e16], [1e16, 1 + 1e-20]] = v v^T + 1e-20 I: the second pivot (1e-20 in
        // exact arithmetic) rounds to 0, is refused by the plain factor and floored.
        let a = [1e32 + 1e-20, 1e16, 1e16, 1.0 + 1e-20];
        assert!(cholesky(&a, 2).is_none());
        let l = cholesky_with(&a, 2, 1e-20, SmallPivot::Floor).unwrap();
        assert_eq!(l, vec![1e16, 0.0, 1.0, 1e-20f64.sqrt()]);
        // Pivots above the floor are those of the plain factor, bit for bit.
        let a = random_spd(70, 5);
        assert_eq!(
            cholesky_with(&a, 70, 1e-12, SmallPivot::Floor),
            cholesky_with(&a, 70, 1e-12, SmallPivot::Refuse)
        );
        assert!(cholesky_with(&[f64::NAN], 1, 1.0, SmallPivot::Floor).is_none());
        assert!(cholesky_with(&[f64::INFINITY], 1, 1.0, SmallPivot::Floor).is_none());
        assert!(cholesky_with(&[f64::NAN], 1, 1.0, SmallPivot::Zero).is_none());
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        for d in [1, 2, 5, 17] {
            let a = random_spd(d, d as u64);
            let inv = spd_inverse(&a, d).unwrap();
            for i in 0..d {
                for j in 0..d {
                    let s: f64 = (0..d).map(|k| a[i * d + k] * inv[k * d + j]).sum();
                    assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
                    assert_eq!(inv[i * d + j], inv[j * d + i]);
                }
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn matrix_products_match_loops() {
        let mut rng = crate::rng::Rng::seed_from_u64(4);
        let (k, m, n) = (7, 5, 3);
        let a: Vec<f64> = (0..k * m).map(|_| rng.uniform()).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.uniform()).collect();
        let mut c = vec![1.0; m * n];
        add_at_b(&a, &b, &mut c, k, m, n);
        for i in 0..m {
            for j in 0..n {
                let e: f64 = 1.0 + (0..k).map(|r| a[r * m + i] * b[r * n + j]).sum::<f64>();
                assert!((c[i * n + j] - e).abs() < 1e-12);
            }
        }
        let mut c2 = vec![0.0; k * n];
        let bt: Vec<f64> = (0..m * n).map(|_| rng.uniform()).collect();
        matmul(&a, &bt, &mut c2, k, m, n);
        for i in 0..k {
            for j in 0..n {
                let e: f64 = (0..m).map(|r| a[i * m + r] * bt[r * n + j]).sum();
                assert!((c2[i * n + j] - e).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn quad_form_matches_the_definition() {
        let d = 9;
        let a = random_spd(d, 3);
        let x: Vec<f64> = (0..d).map(|i| (i as f64 - 4.0) / 3.0).collect();
        let exact: f64 = (0..d)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| x[i] * a[i * d + j] * x[j])
            .sum();
        let mut s = vec![0.0; d];
        assert!((quad_form(&a, &x, &mut s) - exact).abs() < 1e-12 * exact.abs().max(1.0));
    }

    #[test]
    fn the_upper_triangle_quadratic_form_matches_the_full_one_and_reads_only_the_upper_half() {
        for d in [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 31, 64, 67, 130] {
            let a = random_spd(d, d as u64);
            let x: Vec<f64> = (0..d).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
            let t: Vec<f64> = (0..d).map(|i| (i as f64).sin()).collect();
            let (q, m) = quad_and_dot(&a, &x, &t);
            // NaN below the diagonal: a kernel that read it would return NaN.
            let mut upper = a.clone();
            for i in 0..d {
                for j in 0..i {
                    upper[i * d + j] = f64::NAN;
                }
            }
            let (qu, mu) = quad_and_dot_upper(&upper, &x, &t);
            let qp = quad_upper_portable(&upper, &x);
            for v in [qu, qp] {
                assert!(
                    (v - q).abs() <= 1e-12 * q.abs().max(1.0),
                    "d={d}: {v} vs {q}"
                );
            }
            assert!((mu - m).abs() <= 1e-12 * m.abs().max(1.0));
        }
    }

    #[test]
    fn the_row_oriented_spd_inverse_matches_the_scalar_one() {
        for d in [1, 5, 64, 67, 130] {
            let a = random_spd(d, 40 + d as u64);
            let (fast, slow) = (
                spd_inverse_rows(&a, d).unwrap(),
                spd_inverse_scalar(&a, d).unwrap(),
            );
            let scale = slow.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (f, s) in fast.iter().zip(&slow) {
                assert!((f - s).abs() <= 1e-11 * scale, "d={d}: {f} vs {s}");
            }
            // Exactly symmetric, and A A^{-1} = I.
            let mut prod = vec![0.0; d * d];
            matmul(&a, &fast, &mut prod, d, d, d);
            for i in 0..d {
                for j in 0..d {
                    assert_eq!(fast[i * d + j], fast[j * d + i]);
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((prod[i * d + j] - e).abs() < 1e-9, "d={d}");
                }
            }
        }
        // Not positive definite: refused, as by the scalar version.
        let mut a = random_spd(70, 3);
        a[69 * 70 + 69] = -1.0;
        assert!(spd_inverse(&a, 70).is_none());
    }

    #[test]
    fn batched_quadratic_forms_match_the_definition() {
        let mut rng = crate::rng::Rng::seed_from_u64(8);
        for d in [1, 2, 3, 4, 5, 7, 8, 9, 20, 33] {
            let a = random_spd(d, d as u64 + 10);
            let t: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
            let xt: Vec<f64> = (0..d * GROUP).map(|_| rng.uniform() - 0.5).collect();
            let (mut q, mut m) = ([0.0; GROUP], [0.0; GROUP]);
            quad_forms_group(&a, &t, &xt, d, &mut q, &mut m);
            for r in 0..GROUP {
                let x: Vec<f64> = (0..d).map(|j| xt[j * GROUP + r]).collect();
                let exact: f64 = (0..d)
                    .flat_map(|i| (0..d).map(move |j| (i, j)))
                    .map(|(i, j)| x[i] * a[i * d + j] * x[j])
                    .sum();
                assert!((q[r] - exact).abs() < 1e-12 * exact.abs().max(1.0), "d={d}");
                assert!((m[r] - dot_portable(&x, &t)).abs() < 1e-12);
                let mut y = vec![0.0; d];
                let (q1, m1) = symv_dot(&a, &x, Some(&t), &mut y);
                assert!((q1 - exact).abs() < 1e-12 * exact.abs().max(1.0));
                assert!((m1 - m[r]).abs() < 1e-12);
                let mut ax = vec![0.0; d];
                matvec(&a, &x, &mut ax);
                for (p, e) in y.iter().zip(&ax) {
                    assert!((p - e).abs() < 1e-12);
                }
                let (q2, m2) = quad_and_dot(&a, &x, &t);
                assert_eq!((q2, m2), (q1, m1));
            }
        }
    }

    #[test]
    fn gram_kernels_match_loops() {
        let mut rng = crate::rng::Rng::seed_from_u64(9);
        for d in [1usize, 2, 3, 4, 5, 7, 8, 9, 12, 13, 20, 21, 36] {
            let dp = d.div_ceil(4) * 4;
            let rows = 37;
            let pad = |v: Vec<f64>| -> Vec<f64> {
                v.iter()
                    .enumerate()
                    .map(|(i, x)| if i % dp < d { *x } else { 0.0 })
                    .collect()
            };
            let xs = pad((0..rows * dp).map(|_| rng.uniform() - 0.5).collect());
            let wxs = pad((0..rows * dp).map(|_| rng.uniform() - 0.5).collect());
            let mut g = vec![1.0; d * d + 3];
            syrk_upper_add(&mut g, d, &xs, &wxs, rows, dp);
            for i in 0..d {
                for j in i..d {
                    let e: f64 = 1.0
                        + (0..rows)
                            .map(|r| wxs[r * dp + i] * xs[r * dp + j])
                            .sum::<f64>();
                    assert!((g[i * d + j] - e).abs() < 1e-12, "d={d}");
                }
            }
            // Nothing written past the matrix.
            assert_eq!(&g[d * d..], &[1.0, 1.0, 1.0]);
        }
        // The rank-one update keeps exact symmetry, for either sign.
        let d = 11;
        let mut m = random_spd(d, 4);
        let u: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
        let before = m.clone();
        add_sym_outer(&mut m, &u, 0.37);
        add_sym_outer(&mut m, &u, -0.11);
        for i in 0..d {
            for j in 0..d {
                assert_eq!(m[i * d + j], m[j * d + i]);
                let e = before[i * d + j] + 0.26 * u[i] * u[j];
                assert!((m[i * d + j] - e).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn all_finite_finds_every_non_finite_value() {
        for n in [0, 1, 7, 8, 9, 31, 100] {
            let mut x: Vec<f64> = (0..n).map(|i| i as f64 - 3.5).collect();
            assert!(all_finite(&x));
            for i in 0..n {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let keep = x[i];
                    x[i] = bad;
                    assert!(!all_finite(&x), "n={n} i={i}");
                    assert!(!all_finite_lanes(&x));
                    x[i] = keep;
                }
            }
        }
        assert!(all_finite(&[f64::MAX, f64::MIN, -0.0, f64::MIN_POSITIVE]));
    }

    #[test]
    fn all_within_refuses_exactly_the_values_beyond_the_limit() {
        let limit: f64 = 1e30;
        let above = f64::from_bits(limit.to_bits() + 1);
        for n in [0, 1, 7, 8, 9, 31, 100] {
            let mut x: Vec<f64> = (0..n).map(|i| (i as f64 - 3.5) * 1e27).collect();
            assert!(all_within(&x, limit) && all_within_lanes(&x, limit.to_bits() as i64));
            for i in 0..n {
                let keep = x[i];
                for edge in [limit, -limit, 0.0, -0.0, f64::MIN_POSITIVE] {
                    x[i] = edge;
                    assert!(all_within(&x, limit), "n={n} i={i} {edge}");
                }
                for bad in [above, -above, f64::NAN, -f64::NAN, f64::INFINITY, f64::MIN] {
                    x[i] = bad;
                    assert!(!all_within(&x, limit), "n={n} i={i} {bad}");
                    assert!(!all_within_lanes(&x, limit.to_bits() as i64));
                }
                x[i] = keep;
            }
        }
        assert!(all_within(&[f64::MAX, f64::MIN], f64::MAX));
        assert!(!all_within(&[f64::INFINITY], f64::MAX));
    }

    #[test]
    fn gather_row_kernels_agree_bit_for_bit() {
        let mut rng = crate::rng::Rng::seed_from_u64(9);
        let limit = 1e30f64.to_bits() as i64;
        for d in [1, 3, 4, 5, 8, 20, 23] {
            let row: Vec<f64> = (0..d).map(|_| rng.uniform() * 8.0 - 4.0).collect();
            let b0: Vec<f64> = (0..d).map(|_| rng.uniform()).collect();
            let (mut dst, mut b, mut excess) = (vec![0.0; d + 2], b0.clone(), [0i64; 4]);
            gather_row(&mut dst, &mut b, &row, 0.3, limit, &mut excess);
            assert_eq!(&dst[..d], &row[..]);
            for j in 0..d {
                assert_eq!(b[j], b0[j] + 0.3 * row[j]);
            }
            assert!(excess.iter().all(|e| *e >= 0));
            let mut bad = row.clone();
            bad[d - 1] = f64::NAN;
            gather_row(&mut dst, &mut b, &bad, 0.3, limit, &mut excess);
            assert!(excess.iter().any(|e| *e < 0));
            #[cfg(target_arch = "x86_64")]
            if crate::simd::avx2() {
                let (mut dst2, mut b2, mut excess2) = (vec![0.0; d + 2], b0.clone(), [0i64; 4]);
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { gather_row_avx2(&mut dst2, &mut b2, &row, 0.3, limit, &mut excess2) };
                let mut b1 = b0.clone();
                let (mut dst1, mut excess1) = (vec![0.0; d + 2], [0i64; 4]);
                gather_row(&mut dst1, &mut b1, &row, 0.3, limit, &mut excess1);
                assert_eq!((dst1, b1, excess1), (dst2.clone(), b2.clone(), excess2));
                // SAFETY: as above.
                unsafe { gather_row_avx2(&mut dst2, &mut b2, &bad, 0.3, limit, &mut excess2) };
                assert!(excess2.iter().any(|e| *e < 0));
            }
        }
    }

    #[test]
    fn dot_kernels_agree() {
        let mut rng = crate::rng::Rng::seed_from_u64(2);
        for n in [0, 1, 3, 4, 7, 8, 9, 16, 21, 100] {
            let a: Vec<f64> = (0..n).map(|_| rng.uniform() - 0.5).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.uniform() - 0.5).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - exact).abs() < 1e-12);
            assert!((dot_portable(&a, &b) - exact).abs() < 1e-12);
        }
    }

    #[test]
    fn sherman_morrison_matches_exact_inverse() {
        let d = 6;
        let mut a = random_spd(d, 1);
        let mut inv = spd_inverse(&a, d).unwrap();
        let mut rng = crate::rng::Rng::seed_from_u64(5);
        let mut v = vec![0.0; d];
        for _ in 0..500 {
            let x: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
            let w = 2.0 * rng.uniform();
            matvec(&inv, &x, &mut v);
            let q = dot(&x, &v);
            sherman_morrison(&mut inv, &v, q, w);
            for i in 0..d {
                for j in 0..d {
                    a[i * d + j] += w * x[i] * x[j];
                }
            }
        }
        let exact = spd_inverse(&a, d).unwrap();
        for (p, e) in inv.iter().zip(&exact) {
            assert!((p - e).abs() < 1e-10 * e.abs().max(1.0));
        }
    }
}
