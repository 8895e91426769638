//! Small dense linear algebra on row-major `Vec<f64>` matrices: what the ridge models need
//! (Cholesky, SPD inverse, Sherman-Morrison), written out because d is small (tens to a
//! few hundred) and the state must stay plain serializable vectors.

/// Lower-triangular Cholesky factor of the symmetric positive definite `a` (d x d),
/// or None if `a` is not numerically positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= l[j * d + k] * l[j * d + k];
        }
        if diag.is_nan() || diag <= 0.0 || diag.is_infinite() {
            return None;
        }
        let ljj = diag.sqrt();
        l[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = s / ljj;
        }
    }
    Some(l)
}

/// Inverse of an SPD matrix through its Cholesky factor, exactly symmetric.
pub fn spd_inverse(a: &[f64], d: usize) -> Option<Vec<f64>> {
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
        if a.len() >= 8 && avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
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

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2_fma() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0 = unknown, 1 = no, 2 = yes: the feature probe runs once per process.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            let yes = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

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
    // SAFETY: the asserts above bound every access the kernel makes through these
    // pointers with the row-major strides given.
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
    // SAFETY: the asserts bound every access made with these strides (A read transposed:
    // element (i, j) of A^T is a[j * m + i]).
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

/// x^T A x for symmetric A, with `scratch` of length d. A x is accumulated as a sum of
/// rows scaled by x_j (A is symmetric, so rows are columns): contiguous multiply-adds with
/// no horizontal sum per row. The whole form is one function per instruction set, so the
/// AVX2/FMA choice is made once per call, not once per row.
#[inline]
pub fn quad_form(a: &[f64], x: &[f64], scratch: &mut [f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { quad_form_avx2_fma(a, x, scratch) };
        }
    }
    let d = x.len();
    scratch.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        for (s, aj) in scratch.iter_mut().zip(&a[j * d..(j + 1) * d]) {
            *s += xj * aj;
        }
    }
    dot_portable(x, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quad_form_avx2_fma(a: &[f64], x: &[f64], scratch: &mut [f64]) -> f64 {
    let d = x.len();
    scratch.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        // Compiled with AVX2 and FMA enabled, this loop becomes 4-lane fused multiply-adds.
        for (s, aj) in scratch.iter_mut().zip(&a[j * d..(j + 1) * d]) {
            *s = aj.mul_add(xj, *s);
        }
    }
    if d >= 8 {
        dot_avx2_fma(x, scratch)
    } else {
        dot_portable(x, scratch)
    }
}

/// A^{-1} <- (A + w x x^T)^{-1} by Sherman-Morrison, given v = A^{-1} x and q = x^T v.
/// The update subtracts a symmetric outer product, so an exactly symmetric inverse stays
/// exactly symmetric; positive definiteness holds in exact arithmetic for w >= 0, and the
/// owner refactorizes periodically to remove the rounding drift.
#[inline]
pub fn sherman_morrison(a_inv: &mut [f64], v: &[f64], q: f64, w: f64) {
    let d = v.len();
    let c = w / (1.0 + w * q);
    for i in 0..d {
        let ci = c * v[i];
        let row = &mut a_inv[i * d..(i + 1) * d];
        for (r, vj) in row.iter_mut().zip(v) {
            *r -= ci * vj;
        }
    }
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
