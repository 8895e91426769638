//! Kernels of the exact disjoint models at embedding sizes (issue 20): the batch scoring
//! of a block of rows against one arm as a matrix product (from [`GEMM_SCORING_FROM`] on),
//! and the float32 copy of an inverse's upper triangle that decisions read under
//! `precision="float32"` (packed, read with float64 accumulation).

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use crate::linalg;

/// The dimension from which batch scoring runs one matrix product per arm and block of
/// rows ([`block_values`]) instead of the grouped quadratic-form kernel
/// (`linalg::group_values`, eight rows per pass over an inverse). Measured in one process,
/// one thread, K = 16 (`wide_kernels_timing`, machine loaded): the product reaches 0.8x the
/// grouped kernel at d = 128, 1.0-1.05x at d = 384 and 1.5-1.7x at d = 768 (where the
/// grouped kernel's inverse no longer stays in cache between its groups), so below this
/// size the grouped kernel is kept (bit for bit the earlier results).
pub const GEMM_SCORING_FROM: usize = 512;

/// Rows per block of the product path: one matrix product X_blk U per arm and block (U
/// the upper triangle of the arm's inverse, read once per block). A fixed size, so the
/// results do not depend on the number of threads; 128 keeps two blocks (two threads) for
/// 256 rows (256 is about 10% faster per thread at d = 768).
pub const SCORE_BLOCK: usize = 128;

/// `a * (t . x_r) + c * sqrt(max(0, x_r^T M x_r))` for the `rows` rows of `xb` (row-major,
/// rows x d) into `out[..rows]`, for symmetric M (d x d, row-major) of which only the upper
/// triangle is read: W = X_blk U by one triangular matrix product (faer, sequential: the
/// caller runs blocks in parallel), then x^T M x = 2 (W_r . x_r) - sum_i M_ii x_ri^2. The
/// means are `linalg::dot(x_r, t)`, the function the single-row kernels use (bit for bit
/// their means). `w` is a reusable buffer. With c = 0 no product is computed.
#[allow(clippy::too_many_arguments)]
pub fn block_values(
    m: &[f64],
    t: &[f64],
    xb: &[f64],
    rows: usize,
    d: usize,
    (a, c): (f64, f64),
    w: &mut Vec<f64>,
    out: &mut [f64],
) {
    assert!(m.len() >= d * d && t.len() >= d && xb.len() >= rows * d && out.len() >= rows);
    for (r, o) in out[..rows].iter_mut().enumerate() {
        *o = if a != 0.0 {
            a * linalg::dot(&xb[r * d..(r + 1) * d], t)
        } else {
            0.0
        };
    }
    if c == 0.0 || rows == 0 {
        return;
    }
    use faer::linalg::matmul::triangular::{matmul, BlockStructure};
    use faer::{Accum, MatMut, MatRef, Par};
    w.clear();
    w.resize(rows * d, 0.0);
    matmul(
        MatMut::from_row_major_slice_mut(&mut w[..rows * d], rows, d),
        BlockStructure::Rectangular,
        Accum::Replace,
        MatRef::from_row_major_slice(&xb[..rows * d], rows, d),
        BlockStructure::Rectangular,
        MatRef::from_row_major_slice(&m[..d * d], d, d),
        BlockStructure::TriangularUpper,
        1.0,
        Par::Seq,
    );
    for (r, o) in out[..rows].iter_mut().enumerate() {
        let x = &xb[r * d..(r + 1) * d];
        let mut diag = 0.0;
        for i in 0..d {
            diag += m[i * d + i] * x[i] * x[i];
        }
        let q = 2.0 * linalg::dot(&w[r * d..(r + 1) * d], x) - diag;
        *o += c * q.max(0.0).sqrt();
    }
}

/// The offset of row i of a packed upper triangle of order d (row i holds columns i..d).
#[inline(always)]
fn packed_offset(i: usize, d: usize) -> usize {
    i * d - i * i.saturating_sub(1) / 2
}

/// The number of values of a packed upper triangle of order d.
pub fn packed_len(d: usize) -> usize {
    d * (d + 1) / 2
}

/// The upper triangle of the symmetric `a` (d x d, row-major), each value rounded to the
/// nearest float32, packed row after row into `out` (resized to [`packed_len`]). Always
/// derived from the float64 matrix, never updated in float32, so it carries one rounding
/// and no drift.
pub fn pack_upper_f32(a: &[f64], d: usize, out: &mut Vec<f32>) {
    assert!(a.len() >= d * d);
    out.clear();
    out.reserve_exact(packed_len(d));
    for i in 0..d {
        out.extend(a[i * d + i..(i + 1) * d].iter().map(|&v| v as f32));
    }
}

/// The packed float32 upper triangle `p` of order d ([`pack_upper_f32`]) widened into the
/// upper triangle of the row-major d x d `out` (its lower triangle is left as it is):
/// what [`block_values`] reads under `precision="float32"`.
pub fn unpack_upper_f32(p: &[f32], d: usize, out: &mut Vec<f64>) {
    assert!(p.len() >= packed_len(d));
    out.resize(d * d, 0.0);
    for i in 0..d {
        let src = &p[packed_offset(i, d)..packed_offset(i, d) + d - i];
        for (o, v) in out[i * d + i..(i + 1) * d].iter_mut().zip(src) {
            *o = *v as f64;
        }
    }
}

/// x^T A x for symmetric A given as its packed float32 upper triangle ([`pack_upper_f32`]),
/// every product and sum in float64: half the bytes of the float64 upper triangle
/// ([`linalg::quad_and_dot_upper`]), which a decision at large d is bound by.
#[inline]
pub fn quad_upper_f32(p: &[f32], x: &[f64]) -> f64 {
    let d = x.len();
    assert!(p.len() >= packed_len(d));
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above) and the assert gives the
            // kernel's length requirement (p: d(d+1)/2 for d = x.len()).
            return unsafe { quad_upper_f32_avx2_fma(p, x) };
        }
    }
    quad_upper_f32_portable(p, x)
}

fn quad_upper_f32_portable(p: &[f32], x: &[f64]) -> f64 {
    let d = x.len();
    let (mut diag, mut off) = (0.0, 0.0);
    for i in 0..d {
        let row = &p[packed_offset(i, d)..packed_offset(i, d) + d - i];
        diag += row[0] as f64 * x[i] * x[i];
        let mut s = 0.0;
        for (v, xj) in row[1..].iter().zip(&x[i + 1..]) {
            s += *v as f64 * xj;
        }
        off += x[i] * s;
    }
    diag + 2.0 * off
}

/// [`quad_upper_f32`] with AVX2/FMA, the scheme of the float64 upper-triangle kernel: rows
/// in blocks of four, the 4 x 4 diagonal tile in scalars, the columns right of it as
/// u_j = sum_r x_r A_rj (four float32 values widened to float64 per row) times x_j.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `p.len() >= d (d + 1) / 2` for d = x.len().
/// Every access is then in bounds: element (i, j), j >= i, of the packed triangle is at
/// `packed_offset(i, d) + j - i < packed_len(d)`; the vector loads read columns j..j + 4
/// with j + 4 <= d of rows whose first column is at most j, the rest is scalar.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quad_upper_f32_avx2_fma(p: &[f32], x: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let d = x.len();
    let (pp, xp) = (p.as_ptr(), x.as_ptr());
    // Element (i, j) of the packed triangle.
    let at = |i: usize, j: usize| pp.add(packed_offset(i, d) + j - i);
    let mut tile = 0.0;
    let mut tail = 0.0;
    let mut off0 = _mm256_setzero_pd();
    let mut off1 = _mm256_setzero_pd();
    let mut i0 = 0;
    while i0 < d {
        let nb = (d - i0).min(4);
        for r in 0..nb {
            let i = i0 + r;
            let xr = *xp.add(i);
            let mut s = 0.5 * *at(i, i) as f64 * xr;
            for c in r + 1..nb {
                s += *at(i, i0 + c) as f64 * *xp.add(i0 + c);
            }
            tile += xr * s;
        }
        if nb == 4 {
            let j0 = i0 + 4;
            let x0 = _mm256_set1_pd(*xp.add(i0));
            let x1 = _mm256_set1_pd(*xp.add(i0 + 1));
            let x2 = _mm256_set1_pd(*xp.add(i0 + 2));
            let x3 = _mm256_set1_pd(*xp.add(i0 + 3));
            if j0 < d {
                let (r0, r1, r2, r3) = (at(i0, j0), at(i0 + 1, j0), at(i0 + 2, j0), at(i0 + 3, j0));
                let ld = |r: *const f32, k: usize| _mm256_cvtps_pd(_mm_loadu_ps(r.add(k)));
                let u = |k: usize| {
                    let mut u = _mm256_mul_pd(ld(r0, k), x0);
                    u = _mm256_fmadd_pd(ld(r1, k), x1, u);
                    u = _mm256_fmadd_pd(ld(r2, k), x2, u);
                    _mm256_fmadd_pd(ld(r3, k), x3, u)
                };
                let n = d - j0;
                let xj = xp.add(j0);
                let mut k = 0;
                while k + 8 <= n {
                    off0 = _mm256_fmadd_pd(u(k), _mm256_loadu_pd(xj.add(k)), off0);
                    off1 = _mm256_fmadd_pd(u(k + 4), _mm256_loadu_pd(xj.add(k + 4)), off1);
                    k += 8;
                }
                if k + 4 <= n {
                    off0 = _mm256_fmadd_pd(u(k), _mm256_loadu_pd(xj.add(k)), off0);
                    k += 4;
                }
                let xs = [
                    *xp.add(i0),
                    *xp.add(i0 + 1),
                    *xp.add(i0 + 2),
                    *xp.add(i0 + 3),
                ];
                while k < n {
                    let u = xs[0] * *r0.add(k) as f64
                        + xs[1] * *r1.add(k) as f64
                        + xs[2] * *r2.add(k) as f64
                        + xs[3] * *r3.add(k) as f64;
                    tail += u * *xj.add(k);
                    k += 1;
                }
            }
        }
        i0 += nb;
    }
    let mut lanes = [0.0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(off0, off1));
    2.0 * (tile + ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn spd(d: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let m: Vec<f64> = (0..d * d).map(|_| rng.uniform() - 0.5).collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d).map(|k| m[i * d + k] * m[j * d + k]).sum::<f64>() / d as f64;
            }
            a[i * d + i] += 0.1;
        }
        a
    }

    fn quad(a: &[f64], x: &[f64]) -> f64 {
        let d = x.len();
        let mut s = 0.0;
        for i in 0..d {
            for j in 0..d {
                s += x[i] * a[i * d + j] * x[j];
            }
        }
        s
    }

    #[test]
    fn block_values_equal_the_quadratic_forms_and_ignore_the_lower_triangle() {
        for &(d, rows) in &[(1usize, 3usize), (5, 1), (64, 17), (97, 64), (130, 9)] {
            let mut a = spd(d, d as u64);
            let mut rng = Rng::seed_from_u64(7);
            let x: Vec<f64> = (0..rows * d).map(|_| rng.uniform() - 0.5).collect();
            let t: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
            let want: Vec<f64> = (0..rows)
                .map(|r| {
                    let xr = &x[r * d..(r + 1) * d];
                    0.5 * linalg::dot(xr, &t) + 1.5 * quad(&a, xr).sqrt()
                })
                .collect();
            // Garbage below the diagonal: only the upper triangle is read.
            for i in 0..d {
                for j in 0..i {
                    a[i * d + j] = 1e6;
                }
            }
            let (mut w, mut out) = (Vec::new(), vec![0.0; rows]);
            block_values(&a, &t, &x, rows, d, (0.5, 1.5), &mut w, &mut out);
            for (o, e) in out.iter().zip(&want) {
                assert!((o - e).abs() <= 1e-12 * e.abs().max(1.0), "{d}: {o} {e}");
            }
            // Means only: the dot products exactly.
            block_values(&a, &t, &x, rows, d, (1.0, 0.0), &mut w, &mut out);
            for r in 0..rows {
                assert_eq!(out[r], linalg::dot(&x[r * d..(r + 1) * d], &t));
            }
        }
    }

    #[test]
    fn the_float32_triangle_gives_the_quadratic_form_of_its_rounded_values() {
        for d in [1usize, 3, 4, 5, 8, 9, 63, 64, 67, 130] {
            let a = spd(d, 3 + d as u64);
            let mut p = Vec::new();
            pack_upper_f32(&a, d, &mut p);
            assert_eq!(p.len(), packed_len(d));
            // The reference: the full form of the rounded matrix, in float64.
            let rounded: Vec<f64> = a.iter().map(|&v| v as f32 as f64).collect();
            let mut rng = Rng::seed_from_u64(d as u64);
            for _ in 0..5 {
                let x: Vec<f64> = (0..d).map(|_| rng.uniform() - 0.5).collect();
                let want = quad(&rounded, &x);
                for got in [quad_upper_f32(&p, &x), quad_upper_f32_portable(&p, &x)] {
                    assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-3), "{d}");
                }
                // And it is the float64 form up to float32 rounding, not bit for bit.
                let exact = quad(&a, &x);
                assert!((quad_upper_f32(&p, &x) - exact).abs() <= 1e-6 * exact);
            }
        }
    }

    /// The measurement behind benches/README.md's paragraph on these kernels, old and new
    /// alternating in one process (one thread): `cargo test -p regretless-core --release
    /// --lib -- --ignored --nocapture wide_kernels_timing`.
    #[test]
    #[ignore]
    fn wide_kernels_timing() {
        use std::time::Instant;
        const G: usize = linalg::GROUP;
        let k = 16;
        for d in [128usize, 384, 768] {
            let mut rng = Rng::seed_from_u64(d as u64);
            // Symmetric inverses (the values do not matter for the timing) and thetas.
            let arms: Vec<(Vec<f64>, Vec<f64>)> = (0..k)
                .map(|_| {
                    let mut a = vec![0.0; d * d];
                    for i in 0..d {
                        for j in i..d {
                            let v = if i == j {
                                1.0
                            } else {
                                0.01 * (rng.uniform() - 0.5)
                            };
                            a[i * d + j] = v;
                            a[j * d + i] = v;
                        }
                    }
                    (a, (0..d).map(|_| rng.uniform() - 0.5).collect())
                })
                .collect();
            let n = 512;
            let x: Vec<f64> = (0..n * d).map(|_| rng.uniform() - 0.5).collect();
            // Old batch scoring: transposed groups of eight rows, the quadratic-form kernel.
            let old = |out: &mut [f64]| {
                let block = ((16_384 / d) / G * G).clamp(G, 512);
                let mut xt = vec![0.0; block * d];
                for b0 in (0..n).step_by(block) {
                    let rows = block.min(n - b0);
                    let groups = rows.div_ceil(G);
                    xt.fill(0.0);
                    for r in 0..rows {
                        let (g, l) = (r / G, r % G);
                        for j in 0..d {
                            xt[g * d * G + j * G + l] = x[(b0 + r) * d + j];
                        }
                    }
                    for (a, (m, t)) in arms.iter().enumerate() {
                        for g in 0..groups {
                            let mut dst = [0.0; G];
                            let xg = &xt[g * d * G..(g + 1) * d * G];
                            linalg::group_values(m, t, xg, d, 1.0, 1.0, &mut dst);
                            for l in 0..G.min(rows - g * G) {
                                out[(b0 + g * G + l) * k + a] = dst[l];
                            }
                        }
                    }
                }
            };
            let new = |out: &mut [f64]| {
                let (mut w, mut dst) = (Vec::new(), vec![0.0; SCORE_BLOCK]);
                for b0 in (0..n).step_by(SCORE_BLOCK) {
                    let rows = SCORE_BLOCK.min(n - b0);
                    let xb = &x[b0 * d..(b0 + rows) * d];
                    for (a, (m, t)) in arms.iter().enumerate() {
                        block_values(m, t, xb, rows, d, (1.0, 1.0), &mut w, &mut dst);
                        for r in 0..rows {
                            out[(b0 + r) * k + a] = dst[r];
                        }
                    }
                }
            };
            let tri = |out: &mut [f64], bs: usize| {
                let (mut w, mut dst) = (Vec::new(), vec![0.0; bs]);
                for b0 in (0..n).step_by(bs) {
                    let rows = bs.min(n - b0);
                    let xb = &x[b0 * d..(b0 + rows) * d];
                    for (a, (m, t)) in arms.iter().enumerate() {
                        block_values(m, t, xb, rows, d, (1.0, 1.0), &mut w, &mut dst);
                        for r in 0..rows {
                            out[(b0 + r) * k + a] = dst[r];
                        }
                    }
                }
            };
            for bs in [32, 128, 256] {
                let mut o = vec![0.0; n * k];
                let (mut t_o, mut t_f) = (f64::INFINITY, f64::INFINITY);
                for _ in 0..3 {
                    let t0 = Instant::now();
                    old(&mut o);
                    t_o = t_o.min(t0.elapsed().as_secs_f64());
                    let t0 = Instant::now();
                    tri(&mut o, bs);
                    t_f = t_f.min(t0.elapsed().as_secs_f64());
                }
                println!(
                    "d = {d}: triangular product, block {bs}: {:.0} rows/s against old {:.0} ({:.2}x)",
                    n as f64 / t_f,
                    n as f64 / t_o,
                    t_o / t_f
                );
            }
            let (mut o1, mut o2) = (vec![0.0; n * k], vec![0.0; n * k]);
            let (mut t_old, mut t_new) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..4 {
                let t0 = Instant::now();
                old(&mut o1);
                t_old = t_old.min(t0.elapsed().as_secs_f64());
                let t0 = Instant::now();
                new(&mut o2);
                t_new = t_new.min(t0.elapsed().as_secs_f64());
            }
            for (u, v) in o1.iter().zip(&o2) {
                assert!((u - v).abs() <= 1e-9 * u.abs().max(1.0));
            }
            println!(
                "d = {d}, K = {k}: batch scoring old {:.0} rows/s, new {:.0} rows/s ({:.2}x)",
                n as f64 / t_old,
                n as f64 / t_new,
                t_old / t_new
            );
            // Single decisions: the float64 upper triangle against the float32 copy.
            let packed: Vec<Vec<f32>> = arms
                .iter()
                .map(|(m, _)| {
                    let mut p = Vec::new();
                    pack_upper_f32(m, d, &mut p);
                    p
                })
                .collect();
            let reps = 40;
            let (mut t64, mut t32) = (f64::INFINITY, f64::INFINITY);
            let mut sink = 0.0;
            for _ in 0..5 {
                let t0 = Instant::now();
                for r in 0..reps {
                    let xr = &x[(r % n) * d..(r % n + 1) * d];
                    for (m, t) in &arms {
                        let (q, mean) = linalg::quad_and_dot_upper(m, xr, t);
                        sink += mean + q.max(0.0).sqrt();
                    }
                }
                t64 = t64.min(t0.elapsed().as_secs_f64() / reps as f64);
                let t0 = Instant::now();
                for r in 0..reps {
                    let xr = &x[(r % n) * d..(r % n + 1) * d];
                    for (p, (_, t)) in packed.iter().zip(&arms) {
                        let q = quad_upper_f32(p, xr);
                        sink += linalg::dot(xr, t) + q.max(0.0).sqrt();
                    }
                }
                t32 = t32.min(t0.elapsed().as_secs_f64() / reps as f64);
            }
            println!(
                "d = {d}, K = {k}: decision float64 {:.1} us, float32 {:.1} us ({:.2}x) [{sink:.1}]",
                1e6 * t64,
                1e6 * t32,
                t64 / t32
            );
        }
    }
}
