//! BKB, the budgeted kernelized bandit (Calandriello et al., COLT 2019; ALGORITHMS.md 1.2):
//! a Nystrom embedding on a dictionary of pulled arms resampled from scratch every step with
//! `p_i = min(1, qbar n_i sigma_i^2)`, and the posterior of every candidate from it.
//!
//! The embedding is `z(x) = L1^{-1} k_{S1}(x)` where `K_{S1 S1} = L1 L1^T` comes from a
//! pivoted Cholesky of `K_SS` stopped when the largest remaining pivot is below
//! `m eps trace(K_SS)`: it spans the same space as the eigen-embedding of the reference
//! (`Sigma^{-1/2} U^T k_S`, the same projection in exact arithmetic), drops the
//! numerically dependent dictionary points instead of the small eigen-directions, and costs
//! `m^3 / 3` instead of an eigendecomposition. `S1` is what `dictionary_indices` reports.
//!
//! Every candidate's posterior needs one `A x m x m` product: with
//! `C = L1^{-T} (I - lam A_t^{-1}) L1^{-1}`,
//! `lam sigma~^2(x) = k(x, x) - k_S(x)^T C k_S(x)` and `mu~(x) = k_S(x)^T L1^{-T} w`.
//! The kernel columns of arms that stay in the dictionary are kept between steps.

use super::{check_index, check_points, check_reward, gp_ucb_beta, Kernel, BLOCK};
use crate::error::{Error, Result};
use crate::linalg;
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::argmax_random_ties;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Everything derived from the dictionary and the pull statistics (not serialized: rebuilt
/// from them on load, bit for bit).
#[derive(Clone, Debug, Default, PartialEq)]
struct Derived {
    /// Kept dictionary arms in pivot order, and their kernel columns (each of length A).
    kept: Vec<usize>,
    cols: Vec<Vec<f64>>,
    /// `L1^{-1}` (r x r, lower), `A_t^{-1}` (r x r), `C` (r x r), `u = L1^{-T} w` (r).
    linv: Vec<f64>,
    ainv: Vec<f64>,
    c: Vec<f64>,
    u: Vec<f64>,
    mean: Vec<f64>,
    /// sigma~^2 with the 1/lam scaling of the reference.
    var: Vec<f64>,
    beta: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BKB {
    kernel: Kernel,
    x: Vec<f64>,
    d: usize,
    a: usize,
    lam: f64,
    qbar: f64,
    fnorm: f64,
    delta: f64,
    beta_scale: Option<f64>,
    counts: Vec<u64>,
    sums: Vec<f64>,
    t: u64,
    /// The sampled dictionary (sorted arm indices).
    dict: Vec<usize>,
    rng: Rng,
    #[serde(skip)]
    kdiag: Vec<f64>,
    #[serde(skip)]
    der: Derived,
}

fn check_params(
    lam: f64,
    qbar: f64,
    fnorm: f64,
    delta: f64,
    beta_scale: Option<f64>,
) -> Result<()> {
    let pos = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(Error::param(
                name,
                format!("must be a finite number > 0, got {v}"),
            ))
        }
    };
    pos("lam", lam)?;
    pos("qbar", qbar)?;
    if !(fnorm.is_finite() && fnorm >= 0.0) {
        return Err(Error::param(
            "fnorm",
            format!("must be a finite number >= 0, got {fnorm}"),
        ));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::param(
            "delta",
            format!("must be in (0, 1), got {delta}"),
        ));
    }
    if let Some(b) = beta_scale {
        if !(b.is_finite() && b >= 0.0) {
            return Err(Error::param(
                "beta_scale",
                format!("must be None or a finite number >= 0, got {b}"),
            ));
        }
    }
    Ok(())
}

/// Pivoted Cholesky of the symmetric PSD `k` (m x m): the pivots kept (positions) and the
/// factor of `K[piv, piv]` (r x r lower, row-major).
fn pivoted_cholesky(k: &[f64], m: usize) -> (Vec<usize>, Vec<f64>) {
    let trace: f64 = (0..m).map(|i| k[i * m + i]).sum();
    let tol = (m as f64) * f64::EPSILON * trace.abs();
    let mut dr: Vec<f64> = (0..m).map(|i| k[i * m + i]).collect();
    let mut used = vec![false; m];
    let mut piv = Vec::new();
    // Row i of the factor, over the pivots so far: lf[i * m + q].
    let mut lf = vec![0.0; m * m];
    loop {
        let mut best = usize::MAX;
        let mut bv = tol;
        for i in 0..m {
            if !used[i] && dr[i] > bv {
                bv = dr[i];
                best = i;
            }
        }
        if best == usize::MAX {
            break;
        }
        let q = piv.len();
        let s = bv.sqrt();
        used[best] = true;
        lf[best * m + q] = s;
        for i in 0..m {
            if used[i] {
                continue;
            }
            let v =
                k[i * m + best] - linalg::dot(&lf[i * m..i * m + q], &lf[best * m..best * m + q]);
            let c = v / s;
            lf[i * m + q] = c;
            dr[i] -= c * c;
        }
        piv.push(best);
    }
    let r = piv.len();
    let mut l = vec![0.0; r * r];
    for (row, &p) in piv.iter().enumerate() {
        l[row * r..row * r + row + 1].copy_from_slice(&lf[p * m..p * m + row + 1]);
    }
    (piv, l)
}

/// Inverse of a lower-triangular r x r matrix. Column j of the inverse is built as a
/// contiguous row of its transpose, so every inner product runs over contiguous memory.
fn lower_inverse(l: &[f64], r: usize) -> Vec<f64> {
    let mut lit = vec![0.0; r * r]; // lit[j][k] = (L^{-1})[k][j]
    for j in 0..r {
        lit[j * r + j] = 1.0 / l[j * r + j];
        for i in j + 1..r {
            let s = linalg::dot(&l[i * r + j..i * r + i], &lit[j * r + j..j * r + i]);
            lit[j * r + i] = -s / l[i * r + i];
        }
    }
    transpose(&lit, r, r)
}

/// Inverse of the SPD `a` (r x r) as `L^{-T} L^{-1}`, exactly symmetric.
fn spd_inverse(a: &[f64], r: usize) -> Option<Vec<f64>> {
    let l = linalg::cholesky(a, r)?;
    let li = lower_inverse(&l, r);
    let lit = transpose(&li, r, r);
    let mut inv = vec![0.0; r * r];
    if r > 0 {
        linalg::matmul(&lit, &li, &mut inv, r, r, r);
    }
    for i in 0..r {
        for j in 0..i {
            let v = 0.5 * (inv[i * r + j] + inv[j * r + i]);
            inv[i * r + j] = v;
            inv[j * r + i] = v;
        }
    }
    Some(inv)
}

fn transpose(m: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

impl BKB {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        candidates: &[f64],
        d: usize,
        kernel: Kernel,
        lam: f64,
        qbar: f64,
        fnorm: f64,
        delta: f64,
        beta_scale: Option<f64>,
        seed: Option<u64>,
    ) -> Result<Self> {
        kernel.validate()?;
        check_params(lam, qbar, fnorm, delta, beta_scale)?;
        let a = check_points("candidates", candidates, d)?;
        if a == 0 {
            return Err(Error::shape(
                "candidates",
                "expected at least one candidate",
            ));
        }
        let mut p = BKB {
            kernel,
            x: candidates.to_vec(),
            d,
            a,
            lam,
            qbar,
            fnorm,
            delta,
            beta_scale,
            counts: vec![0; a],
            sums: vec![0.0; a],
            t: 0,
            dict: Vec::new(),
            rng: Rng::from_optional_seed(seed),
            kdiag: Vec::new(),
            der: Derived::default(),
        };
        p.kdiag = kernel.diag(&p.x, d);
        p.rebuild()?;
        Ok(p)
    }

    pub fn n_candidates(&self) -> usize {
        self.a
    }
    pub fn dim(&self) -> usize {
        self.d
    }
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
    pub fn t(&self) -> u64 {
        self.t
    }
    pub fn lam(&self) -> f64 {
        self.lam
    }
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    pub fn sums(&self) -> &[f64] {
        &self.sums
    }
    pub fn mean(&self) -> &[f64] {
        &self.der.mean
    }
    /// sigma~^2 of every candidate (1/lam scaling: lam times it is the GP variance).
    pub fn variance(&self) -> &[f64] {
        &self.der.var
    }
    /// The dictionary arms the embedding uses (sorted).
    pub fn dictionary_indices(&self) -> Vec<usize> {
        let mut k = self.der.kept.clone();
        k.sort_unstable();
        k
    }
    pub fn dictionary_size(&self) -> usize {
        self.der.kept.len()
    }
    /// The reference's estimate of the effective dimension, `sum_i n_i sigma~_i^2`.
    pub fn effective_dimension(&self) -> f64 {
        self.counts
            .iter()
            .zip(&self.der.var)
            .map(|(&n, v)| n as f64 * v)
            .sum()
    }
    pub fn beta(&self) -> f64 {
        self.der.beta
    }
    pub fn candidates(&self) -> &[f64] {
        &self.x
    }
    pub fn describe_params(&self) -> String {
        format!(
            "kernel={}, lam={}, qbar={}, fnorm={}, delta={}, beta_scale={}",
            self.kernel.describe(),
            self.lam,
            self.qbar,
            self.fnorm,
            self.delta,
            match self.beta_scale {
                Some(b) => b.to_string(),
                None => "None".into(),
            }
        )
    }

    /// The width multiplier of sigma~: the reference's beta~, or with `beta_scale` the
    /// GP-UCB width `sqrt(beta_t lam)` (so that the width is `sqrt(beta_t)` times the GP
    /// standard deviation, as in [`super::GPUCB`]).
    fn width_factor(&self) -> f64 {
        match self.beta_scale {
            None => self.der.beta,
            Some(b) => (gp_ucb_beta(self.a, self.t + 1, self.delta, b) * self.lam).sqrt(),
        }
    }

    pub fn scores(&self) -> Vec<f64> {
        let w = self.width_factor();
        self.der
            .mean
            .iter()
            .zip(&self.der.var)
            .map(|(m, v)| m + w * v.max(0.0).sqrt())
            .collect()
    }

    pub fn select(&mut self) -> usize {
        let w = self.width_factor();
        let (m, v) = (&self.der.mean, &self.der.var);
        argmax_random_ties(
            (0..self.a).map(|i| m[i] + w * v[i].max(0.0).sqrt()),
            &mut self.rng,
        )
    }

    /// Record `reward` for candidate `index`, resample the dictionary and recompute the
    /// posterior of every candidate.
    pub fn update(&mut self, index: i64, reward: f64) -> Result<()> {
        let i = check_index(index, self.a)?;
        check_reward(reward)?;
        let saved = (self.dict.clone(), self.rng.clone());
        self.counts[i] += 1;
        self.sums[i] += reward;
        self.t += 1;
        let mut dict = Vec::new();
        for j in 0..self.a {
            let n = self.counts[j];
            if n == 0 {
                continue;
            }
            let p = (self.qbar * n as f64 * self.der.var[j]).min(1.0);
            if self.rng.uniform() < p {
                dict.push(j);
            }
        }
        if dict.is_empty() {
            dict.push(i);
        }
        self.dict = dict;
        if let Err(e) = self.rebuild() {
            self.counts[i] -= 1;
            self.sums[i] -= reward;
            self.t -= 1;
            (self.dict, self.rng) = saved;
            self.rebuild()?;
            return Err(e);
        }
        Ok(())
    }

    fn rebuild(&mut self) -> Result<()> {
        let (a, d, lam) = (self.a, self.d, self.lam);
        let m = self.dict.len();
        // K_SS and its pivoted Cholesky.
        let xs: Vec<f64> = self
            .dict
            .iter()
            .flat_map(|&s| self.x[s * d..(s + 1) * d].iter().copied())
            .collect();
        let kss = self.kernel.block(&xs, &xs, d);
        let (piv, l1) = pivoted_cholesky(&kss, m);
        let r = piv.len();
        let kept: Vec<usize> = piv.iter().map(|&p| self.dict[p]).collect();
        // Kernel columns, reusing those of arms already kept.
        let mut old: Vec<(usize, Vec<f64>)> = std::mem::take(&mut self.der.kept)
            .into_iter()
            .zip(std::mem::take(&mut self.der.cols))
            .collect();
        let mut cols = Vec::with_capacity(r);
        for &s in &kept {
            if let Some(pos) = old.iter().position(|(o, _)| *o == s) {
                cols.push(old.swap_remove(pos).1);
            } else {
                let xsr = &self.x[s * d..(s + 1) * d];
                let mut c = vec![0.0; a];
                c.par_chunks_mut(BLOCK).enumerate().for_each(|(b, cb)| {
                    for (q, cj) in cb.iter_mut().enumerate() {
                        let j = b * BLOCK + q;
                        *cj = self.kernel.eval(&self.x[j * d..(j + 1) * d], xsr);
                    }
                });
                cols.push(c);
            }
        }
        drop(old);
        let linv = lower_inverse(&l1, r);
        // Z_P = K_{P,S1} L1^{-T} for the pulled arms, scaled by sqrt(n_i); A_t and b.
        let pulled: Vec<usize> = (0..a).filter(|&j| self.counts[j] > 0).collect();
        let np = pulled.len();
        // K_{P,S1} (P x r), then Z_P = K_{P,S1} L1^{-T} in one product.
        let mut kp = vec![0.0; np * r];
        for (q, &j) in pulled.iter().enumerate() {
            for (k, col) in cols.iter().enumerate() {
                kp[q * r + k] = col[j];
            }
        }
        let linv_t = transpose(&linv, r, r);
        let mut zp = vec![0.0; np * r];
        if r > 0 && np > 0 {
            linalg::matmul(&kp, &linv_t, &mut zp, np, r, r);
        }
        let mut zt = vec![0.0; r * np]; // r x P: sqrt(n_i) z_i as columns
        let mut b = vec![0.0; r];
        for (q, &j) in pulled.iter().enumerate() {
            let sn = (self.counts[j] as f64).sqrt();
            for k in 0..r {
                let z = zp[q * r + k];
                zt[k * np + q] = sn * z;
                b[k] += z * self.sums[j];
            }
        }
        let ztt = transpose(&zt, r, np);
        let mut at = vec![0.0; r * r];
        if r > 0 && np > 0 {
            linalg::matmul(&zt, &ztt, &mut at, r, np, r);
        }
        for k in 0..r {
            at[k * r + k] += lam;
        }
        // Symmetrize against rounding before the inverse.
        for i in 0..r {
            for j in 0..i {
                let v = 0.5 * (at[i * r + j] + at[j * r + i]);
                at[i * r + j] = v;
                at[j * r + i] = v;
            }
        }
        let ainv = spd_inverse(&at, r).ok_or_else(|| {
            Error::param("lam", "the regularized design is not positive definite")
        })?;
        let mut w = vec![0.0; r];
        linalg::matvec(&ainv, &b, &mut w);
        // u = L1^{-T} w; C = L1^{-T} (I - lam A^{-1}) L1^{-1}.
        let mut u = vec![0.0; r];
        linalg::matvec(&linv_t, &w, &mut u);
        let mut bm: Vec<f64> = ainv.iter().map(|v| -lam * v).collect();
        for k in 0..r {
            bm[k * r + k] += 1.0;
        }
        let mut tmp = vec![0.0; r * r];
        let mut c = vec![0.0; r * r];
        if r > 0 {
            linalg::matmul(&linv_t, &bm, &mut tmp, r, r, r);
            linalg::matmul(&tmp, &linv, &mut c, r, r, r);
        }
        let mut mean = vec![0.0; a];
        let mut var = vec![0.0; a];
        {
            let (kdiag, cols, c, u) = (&self.kdiag, &cols, &c, &u);
            mean.par_chunks_mut(BLOCK)
                .zip(var.par_chunks_mut(BLOCK))
                .enumerate()
                .for_each(|(blk, (mb, vb))| {
                    let j0 = blk * BLOCK;
                    let n = mb.len();
                    let mut kb = vec![0.0; n * r];
                    for (k, col) in cols.iter().enumerate() {
                        for q in 0..n {
                            kb[q * r + k] = col[j0 + q];
                        }
                    }
                    let mut qb = vec![0.0; n * r];
                    if r > 0 {
                        linalg::matmul(&kb, c, &mut qb, n, r, r);
                    }
                    for q in 0..n {
                        let kr = &kb[q * r..(q + 1) * r];
                        mb[q] = linalg::dot(kr, u);
                        let s = kdiag[j0 + q] - linalg::dot(kr, &qb[q * r..(q + 1) * r]);
                        vb[q] = s.max(0.0) / lam;
                    }
                });
        }
        let deff: f64 = self
            .counts
            .iter()
            .zip(&var)
            .map(|(&n, v)| n as f64 * v)
            .sum();
        let logdet = deff * (self.t.max(1) as f64).ln();
        let beta = lam.sqrt() * self.fnorm + (lam * (logdet + (1.0 / self.delta).ln())).sqrt();
        self.der = Derived {
            kept,
            cols,
            linv,
            ainv,
            c,
            u,
            mean,
            var,
            beta,
        };
        Ok(())
    }

    /// `b` distinct candidates: each pick is the UCB argmax, after which the variances are
    /// updated as if it had been pulled once more with the dictionary held fixed (rank-one
    /// update of `A_t`; the mean stays, as in batch-BKB's fantasized rewards).
    pub fn select_batch(&mut self, b: usize) -> Result<Vec<usize>> {
        if b == 0 || b > self.a {
            return Err(Error::param(
                "b",
                format!(
                    "must be in [1, {}] (the number of candidates), got {b}",
                    self.a
                ),
            ));
        }
        let wf = self.width_factor();
        let r = self.der.kept.len();
        let mut var = self.der.var.clone();
        let mut ainv = self.der.ainv.clone();
        let mut chosen = vec![false; self.a];
        let mut out = Vec::with_capacity(b);
        let linv_t = transpose(&self.der.linv, r, r);
        for k in 0..b {
            let (m, vr, ch) = (&self.der.mean, &var, &chosen);
            let i = argmax_random_ties(
                (0..self.a).map(|j| {
                    if ch[j] {
                        f64::NAN
                    } else {
                        m[j] + wf * vr[j].max(0.0).sqrt()
                    }
                }),
                &mut self.rng,
            );
            chosen[i] = true;
            out.push(i);
            if k + 1 == b || r == 0 {
                continue;
            }
            let ki: Vec<f64> = self.der.cols.iter().map(|c| c[i]).collect();
            let mut zi = vec![0.0; r];
            linalg::matvec(&self.der.linv, &ki, &mut zi);
            let mut v = vec![0.0; r];
            linalg::matvec(&ainv, &zi, &mut v);
            let q = linalg::dot(&zi, &v);
            let mut h = vec![0.0; r];
            linalg::matvec(&linv_t, &v, &mut h);
            let cols = &self.der.cols;
            var.par_chunks_mut(BLOCK).enumerate().for_each(|(blk, vb)| {
                for (o, s2) in vb.iter_mut().enumerate() {
                    let j = blk * BLOCK + o;
                    let cj: f64 = cols.iter().zip(&h).map(|(c, hk)| c[j] * hk).sum();
                    *s2 -= cj * cj / (1.0 + q);
                }
            });
            linalg::sherman_morrison(&mut ainv, &v, q, 1.0);
        }
        Ok(out)
    }

    /// Posterior mean and sigma~^2 (1/lam scaling) at arbitrary query points (n, d).
    pub fn posterior(&self, xq: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = check_points("X", xq, self.d)?;
        let d = self.d;
        let r = self.der.kept.len();
        let xs: Vec<f64> = self
            .der
            .kept
            .iter()
            .flat_map(|&s| self.x[s * d..(s + 1) * d].iter().copied())
            .collect();
        let kq = self.kernel.block(xq, &xs, d);
        let qdiag = self.kernel.diag(xq, d);
        let mut q = vec![0.0; n * r];
        if r > 0 && n > 0 {
            linalg::matmul(&kq, &self.der.c, &mut q, n, r, r);
        }
        let mut mean = vec![0.0; n];
        let mut var = vec![0.0; n];
        for j in 0..n {
            let kr = &kq[j * r..(j + 1) * r];
            mean[j] = linalg::dot(kr, &self.der.u);
            var[j] = (qdiag[j] - linalg::dot(kr, &q[j * r..(j + 1) * r])).max(0.0) / self.lam;
        }
        Ok((mean, var))
    }
}

impl Persist for BKB {
    const KIND: &'static str = "BKB";
    fn check_invariants(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::state(format!("BKB: {m}")));
        self.kernel.validate()?;
        check_params(self.lam, self.qbar, self.fnorm, self.delta, self.beta_scale)?;
        if self.d == 0 || self.a == 0 || self.x.len() != self.a.saturating_mul(self.d) {
            return bad("candidate matrix and its shape disagree");
        }
        if self.counts.len() != self.a || self.sums.len() != self.a {
            return bad("per-candidate vectors have the wrong length");
        }
        if !self.x.iter().chain(&self.sums).all(|v| v.is_finite()) {
            return bad("non-finite values");
        }
        let total = self.counts.iter().try_fold(0u64, |s, &c| s.checked_add(c));
        if total != Some(self.t) {
            return bad("pull counts do not add up to t");
        }
        if self.dict.windows(2).any(|w| w[0] >= w[1])
            || self
                .dict
                .iter()
                .any(|&s| s >= self.a || self.counts[s] == 0)
        {
            return bad("dictionary must hold distinct pulled arms in increasing order");
        }
        if self.t > 0 && self.dict.is_empty() {
            return bad("empty dictionary after a pull");
        }
        if !self.rng.is_valid() {
            return bad("invalid generator state");
        }
        Ok(())
    }
}

impl BKB {
    /// Decode and rebuild the derived state (which is not stored).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut p: BKB = crate::state::decode(bytes)?;
        p.kdiag = p.kernel.diag(&p.x, p.d);
        p.rebuild().map_err(|e| Error::state(format!("BKB: {e}")))?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::GPUCB;

    fn points(a: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..a * d).map(|_| rng.uniform()).collect()
    }

    #[test]
    fn triangular_and_spd_inverses() {
        let a = [4.0, 2.0, 0.5, 2.0, 3.0, 0.1, 0.5, 0.1, 2.0];
        let inv = spd_inverse(&a, 3).unwrap();
        let mut prod = [0.0; 9];
        linalg::matmul(&a, &inv, &mut prod, 3, 3, 3);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((prod[i * 3 + j] - e).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn pivoted_cholesky_factors() {
        let k = [4.0, 2.0, 2.0, 3.0];
        let (piv, l) = pivoted_cholesky(&k, 2);
        assert_eq!(piv, vec![0, 1]);
        assert!((l[0] - 2.0).abs() < 1e-15 && (l[2] - 1.0).abs() < 1e-15);
        assert!((l[3] - 2f64.sqrt()).abs() < 1e-15);
        // Rank one: the second point is dropped.
        let (piv, _) = pivoted_cholesky(&[1.0, 2.0, 2.0, 4.0], 2);
        assert_eq!(piv, vec![1]);
    }

    #[test]
    fn full_dictionary_is_the_exact_gp() {
        let (a, d, lam) = (60, 2, 0.05);
        let x = points(a, d, 3);
        let k = Kernel::from_spec("rbf", 0.3, 1.0, 1.0, 0.0).unwrap();
        let mut b = BKB::new(&x, d, k, lam, 1e12, 1.0, 0.5, None, Some(0)).unwrap();
        let mut g = GPUCB::new(&x, d, k, lam, 1.0, 0.1, Some(0)).unwrap();
        let mut rng = Rng::seed_from_u64(9);
        for _ in 0..40 {
            let i = rng.below(20) as i64;
            let y = rng.uniform();
            b.update(i, y).unwrap();
            g.update(i, y).unwrap();
        }
        for j in 0..a {
            assert!((b.mean()[j] - g.mean()[j]).abs() < 1e-8, "mean {j}");
            assert!(
                (lam * b.variance()[j] - g.variance()[j]).abs() < 1e-8,
                "var {j}"
            );
        }
        let bytes = crate::state::encode(&b).unwrap();
        let c = BKB::from_bytes(&bytes).unwrap();
        assert_eq!(c.mean(), b.mean());
        assert_eq!(c.variance(), b.variance());
    }

    #[test]
    fn linear_kernel_dictionary_stays_within_d() {
        let (a, d) = (200, 3);
        let x: Vec<f64> = points(a, d, 5).iter().map(|v| v - 0.5).collect();
        let k = Kernel::from_spec("linear", 1.0, 1.0, 1.0, 0.0).unwrap();
        let mut b = BKB::new(&x, d, k, 0.01, 100.0, 1.0, 0.5, None, Some(1)).unwrap();
        for t in 0..100 {
            let i = b.select();
            let y = x[i * d] - x[i * d + 1] + 0.1 * ((t % 7) as f64 - 3.0) / 3.0;
            b.update(i as i64, y).unwrap();
            assert!(b.dictionary_size() <= d);
        }
    }
}
