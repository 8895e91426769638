//! BKB, the budgeted kernelized bandit (Calandriello et al., COLT 2019; docs/ALGORITHMS.md 1.2):
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
//! With `A_t = sum_i n_i z_i z_i^T + lam I = L_A L_A^T` and `w = A_t^{-1} sum_i z_i Y_i`,
//! every candidate's posterior is `mu~(x) = k_S1(x)^T L1^{-T} w` and
//! `lam sigma~^2(x) = k(x, x) - z^T (I - lam A_t^{-1}) z = k(x, x) - |R^T k_S1(x)|^2`, where
//! `I - lam A_t^{-1} = V V^T` (V upper triangular, PSD) and `R^T = V^T L1^{-1}` is lower
//! triangular: one product with a triangular factor per block of candidates (`A m^2 / 2`
//! multiply-adds), the pulled arms' embeddings and their Gram matrix (`P m^2`), and about
//! `1.3 m^3` in the Cholesky factors of `K_SS`, `A_t` and the reversed `I - lam A_t^{-1}`,
//! two triangular inverses, `A_t^{-1}` and `R^T`, all as blocked matrix products
//! ([`crate::linalg::cholesky_with`] and [`super::dense`], on faer's kernels) whose
//! independent panels run in parallel, as do the blocks of candidates and of pulled arms.
//! The ill-conditioning of `K_SS` stays confined to `L1^{-1}`; `A_t` is well conditioned
//! (eigenvalues >= lam) and `I - lam A_t^{-1}` has eigenvalues in [0, 1).
//!
//! The alternatives measured against these choices (a gathered Gram matrix; kept dictionary
//! arms' embeddings read off `L1`) are in benches/README.md, section "Kernel bandits".
//!
//! The kernel columns `k(X, x_s)` of pulled candidates are cached between steps (within a
//! memory budget beyond the current dictionary's columns), so a step evaluates the kernel
//! only for arms entering the dictionary for the first time; when the resampled dictionary
//! equals the previous one its factor and inverse are reused. The per-block buffers of the
//! block products are per-thread scratch kept between steps. The cache and the derived
//! quantities are deterministic functions of the stored state (and do not depend on the
//! number of threads), so a restored object continues bit for bit.

use super::{check_index, check_points, check_reward, dense, gp_ucb_beta, Kernel, BLOCK};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::linalg::{self, SmallPivot};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::argmax_random_ties;
use faer::MatRef;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Everything derived from the dictionary and the pull statistics (not serialized: rebuilt
/// from them on load, bit for bit).
#[derive(Clone, Debug, Default, PartialEq)]
struct Derived {
    /// The sampled dictionary these were built from, and its kept arms in factor order.
    dict: Vec<usize>,
    kept: Vec<usize>,
    /// `L1^{-1}`, `L_A^{-1}` and `R^T = V^T L1^{-1}` (r x r, lower), `u = L1^{-T} w` (r).
    linv: Vec<f64>,
    lainv: Vec<f64>,
    rt: Vec<f64>,
    u: Vec<f64>,
    mean: Vec<f64>,
    /// sigma~^2 with the 1/lam scaling of the reference.
    var: Vec<f64>,
    beta: f64,
}

thread_local! {
    /// Per-thread scratch of the blocked candidate products, kept between steps: freeing
    /// and re-faulting these per-block buffers every step (worker-thread arenas hand large
    /// freed blocks back to the system) cost about a quarter of a step in page faults.
    static SCRATCH: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Run `f` on this thread's scratch of at least `len` floats (contents unspecified: `f`
/// must write before it reads). Re-entrant: a nested call gets a fresh buffer.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.take());
    if buf.len() < len {
        buf = vec![0.0; len];
    }
    let out = f(&mut buf[..len]);
    SCRATCH.with(|s| {
        let old = s.take();
        s.set(if old.len() > buf.len() { old } else { buf });
    });
    out
}

/// Floats of cached kernel columns (128 MB): at most `max(COLUMN_BUDGET / A, m)` columns of
/// A floats are held (all pulled arms' for A = 1000, just the dictionary's for A = 10^5).
const COLUMN_BUDGET: usize = 1 << 24;

/// Kernel columns `k(X, x_s)` of pulled candidates. A cache of pure functions of the
/// candidates: not serialized, and ignored by equality.
#[derive(Clone, Debug, Default)]
struct Columns {
    cols: Vec<Option<Box<[f64]>>>,
    /// Step at which each column was last used, for eviction.
    used: Vec<u64>,
    held: usize,
    clock: u64,
}

impl PartialEq for Columns {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Columns {
    fn get(&self, s: usize) -> &[f64] {
        self.cols[s].as_deref().unwrap_or(&[])
    }

    /// Make sure the columns of `need` are present, evicting the least recently used
    /// others first so that at most `max(budget / A, need)` columns are ever held. The
    /// buffers are allocated on the calling thread (so that freed columns are reused rather
    /// than scattered over the worker threads' arenas) and filled in parallel.
    fn ensure(&mut self, kernel: &Kernel, x: &[f64], d: usize, a: usize, need: &[usize]) {
        if self.cols.len() != a {
            self.cols = vec![None; a];
            self.used = vec![0; a];
            self.held = 0;
        }
        self.clock += 1;
        for &s in need {
            self.used[s] = self.clock;
        }
        let missing: Vec<usize> = need
            .iter()
            .copied()
            .filter(|&s| self.cols[s].is_none())
            .collect();
        let cap = (COLUMN_BUDGET / a).max(need.len());
        if self.held + missing.len() > cap {
            let mut old: Vec<(u64, usize)> = (0..a)
                .filter(|&s| self.cols[s].is_some() && self.used[s] != self.clock)
                .map(|s| (self.used[s], s))
                .collect();
            old.sort_unstable();
            let excess = self.held + missing.len() - cap;
            for (_, s) in old.into_iter().take(excess) {
                self.cols[s] = None;
                self.held -= 1;
            }
        }
        let mut fresh: Vec<Box<[f64]>> = missing
            .iter()
            .map(|_| vec![0.0; a].into_boxed_slice())
            .collect();
        fresh.par_iter_mut().zip(&missing).for_each(|(c, &s)| {
            let xs = &x[s * d..(s + 1) * d];
            c.par_chunks_mut(BLOCK).enumerate().for_each(|(b, cb)| {
                for (q, cj) in cb.iter_mut().enumerate() {
                    let j = b * BLOCK + q;
                    *cj = kernel.eval(&x[j * d..(j + 1) * d], xs);
                }
            });
        });
        for (s, c) in missing.into_iter().zip(fresh) {
            self.cols[s] = Some(c);
            self.held += 1;
        }
    }
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
    /// The noise variance sigma_n^2 of the width beta~ (None: `lam`, as before it existed).
    noise_variance: Option<f64>,
    #[serde(skip)]
    kdiag: Vec<f64>,
    #[serde(skip)]
    der: Derived,
    #[serde(skip)]
    columns: Columns,
}

fn check_noise_variance(noise_variance: Option<f64>) -> Result<()> {
    match noise_variance {
        Some(v) if !(0.0..=1e100).contains(&v) => Err(Error::param(
            "noise_variance",
            format!(
                "must be None or a number in [0, 1e100], got {}",
                crate::error::show(v)
            ),
        )),
        _ => Ok(()),
    }
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
    // As GP-UCB's noise: a floor keeps the posterior's gains 1 / lam finite.
    if !(1e-30..=1e100).contains(&lam) {
        return Err(Error::param(
            "lam",
            format!("must be in [1e-30, 1e100], got {}", crate::error::show(lam)),
        ));
    }
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
            noise_variance: None,
            kdiag: Vec::new(),
            der: Derived::default(),
            columns: Columns::default(),
        };
        p.kdiag = kernel.diag(&p.x, d);
        super::check_kernel_diagonal(&p.kdiag)?;
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

    /// Sets the noise variance `sigma_n^2` of the width `beta~ = sqrt(lam) F +
    /// sqrt(sigma_n^2 (logdet + ln(1/delta)))` (None: `lam`), as the authors' code keeps it
    /// apart from the regularization `lam`.
    pub fn with_noise_variance(mut self, noise_variance: Option<f64>) -> Result<Self> {
        check_noise_variance(noise_variance)?;
        self.noise_variance = noise_variance;
        self.rebuild()?;
        Ok(self)
    }

    /// The noise variance of the width (`lam` unless set).
    pub fn noise_variance(&self) -> f64 {
        self.noise_variance.unwrap_or(self.lam)
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
            "kernel={}, lam={}, qbar={}, fnorm={}, delta={}, beta_scale={}, noise_variance={}",
            self.kernel.describe(),
            self.lam,
            self.qbar,
            self.fnorm,
            self.delta,
            match self.beta_scale {
                Some(b) => b.to_string(),
                None => "None".into(),
            },
            match self.noise_variance {
                Some(v) => v.to_string(),
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
        let (a, lam) = (self.a, self.lam);
        self.columns
            .ensure(&self.kernel, &self.x, self.d, a, &self.dict);
        let der = std::mem::take(&mut self.der);
        // The dictionary's factor: reused when the dictionary did not change.
        let (kept, linv) = if der.dict == self.dict && !der.kept.is_empty() {
            (der.kept, der.linv)
        } else {
            let m = self.dict.len();
            let mut kss = vec![0.0; m * m];
            for (j, &s) in self.dict.iter().enumerate() {
                let col = self.columns.get(s);
                for (i, &q) in self.dict.iter().enumerate() {
                    kss[i * m + j] = col[q];
                }
            }
            // Symmetrize against any rounding asymmetry of the kernel evaluations.
            for i in 0..m {
                for j in 0..i {
                    let v = 0.5 * (kss[i * m + j] + kss[j * m + i]);
                    kss[i * m + j] = v;
                    kss[j * m + i] = v;
                }
            }
            let trace: f64 = (0..m).map(|i| kss[i * m + i]).sum();
            let tol = (m as f64) * f64::EPSILON * trace.abs();
            // A plain (blocked) Cholesky when every pivot clears the tolerance; otherwise
            // the pivoted one, which drops the numerically dependent points.
            let (kept, l1) = match linalg::cholesky_with(&kss, m, tol, SmallPivot::Refuse) {
                Some(l) => (self.dict.clone(), l),
                None => {
                    let (piv, l) = pivoted_cholesky(&kss, m);
                    (piv.iter().map(|&p| self.dict[p]).collect(), l)
                }
            };
            let linv = dense::lower_inverse(&l1, kept.len());
            (kept, linv)
        };
        let r = kept.len();
        let cols: Vec<&[f64]> = kept.iter().map(|&s| self.columns.get(s)).collect();
        let pulled: Vec<usize> = (0..a).filter(|&j| self.counts[j] > 0).collect();
        let np = pulled.len();
        // k_S1 of a block of candidates as an r x n column block (contiguous copies).
        let gather = |rows: &[usize], kt: &mut [f64]| {
            let n = rows.len();
            for (k, col) in cols.iter().enumerate() {
                for (q, &j) in rows.iter().enumerate() {
                    kt[k * n + q] = col[j];
                }
            }
        };
        // The pulled arms' embeddings z = L1^{-1} k_S1, scaled by sqrt(n_i): A_t and b.
        let mut zp = vec![0.0; np * r];
        if r > 0 {
            zp.par_chunks_mut(BLOCK * r)
                .zip(pulled.par_chunks(BLOCK))
                .for_each(|(zb, rows)| {
                    with_scratch(r * rows.len(), |kt| {
                        gather(rows, kt);
                        dense::mul_lower_t(
                            MatRef::from_column_major_slice(kt, rows.len(), r),
                            &linv,
                            zb,
                        );
                    });
                });
        }
        let mut b = vec![0.0; r];
        for (q, &j) in pulled.iter().enumerate() {
            let (zq, y) = (&mut zp[q * r..(q + 1) * r], self.sums[j]);
            for (bk, z) in b.iter_mut().zip(zq.iter()) {
                *bk += z * y;
            }
            let sn = (self.counts[j] as f64).sqrt();
            for z in zq.iter_mut() {
                *z *= sn;
            }
        }
        let mut at = dense::gram(&zp, np, r);
        drop(zp);
        for k in 0..r {
            at[k * r + k] += lam;
        }
        // Every pivot of A_t is at least lam in exact arithmetic; beside embeddings of 1e33
        // (accepted candidates scaled so) rounding can take one to 0. The plain factor
        // first, the floored one if it refuses.
        let la = linalg::cholesky(&at, r)
            .or_else(|| linalg::cholesky_with(&at, r, lam, SmallPivot::Floor))
            .ok_or_else(|| Error::param("lam", "the regularized design is not finite"))?;
        let lainv = dense::lower_inverse(&la, r);
        // A_t^{-1} = L_A^{-T} L_A^{-1}; w = A_t^{-1} b; u = L1^{-T} w (the mean is k_S1^T u).
        let ainv = dense::gram_lower(&lainv, r);
        let mut w = vec![0.0; r];
        linalg::matvec(&ainv, &b, &mut w);
        let mut u = vec![0.0; r];
        for (i, &wi) in w.iter().enumerate() {
            for (k, uk) in u.iter_mut().enumerate().take(i + 1) {
                *uk += linv[i * r + k] * wi;
            }
        }
        // lam sigma~^2 = k - z^T (I - lam A_t^{-1}) z = k - |V^T L1^{-1} k|^2 with
        // I - lam A_t^{-1} = V V^T, V upper triangular (the Cholesky factor of the reversed
        // matrix, reversed), so that one triangular product per candidate gives the variance.
        let mut brev = vec![0.0; r * r];
        for i in 0..r {
            for j in 0..r {
                let v = -lam * ainv[(r - 1 - i) * r + (r - 1 - j)];
                brev[i * r + j] = if i == j { 1.0 + v } else { v };
            }
        }
        let lrev = linalg::cholesky_with(&brev, r, (r as f64) * f64::EPSILON, SmallPivot::Zero)
            .unwrap_or_default();
        let mut vt = vec![0.0; r * r];
        for i in 0..r {
            for j in 0..=i {
                vt[i * r + j] = lrev[(r - 1 - j) * r + (r - 1 - i)];
            }
        }
        let rt = dense::mul_lower_lower(&vt, &linv, r);
        // Every candidate: mean k^T u and lam sigma~^2 = k(x, x) - |R^T k|^2.
        let mut mean = vec![0.0; a];
        let mut var = vec![0.0; a];
        {
            let (kdiag, rt, u) = (&self.kdiag, &rt, &u);
            mean.par_chunks_mut(BLOCK)
                .zip(var.par_chunks_mut(BLOCK))
                .enumerate()
                .for_each(|(blk, (mb, vb))| {
                    let j0 = blk * BLOCK;
                    let n = mb.len();
                    with_scratch(2 * r * n, |buf| {
                        let (kt, q) = buf.split_at_mut(r * n);
                        for (k, col) in cols.iter().enumerate() {
                            kt[k * n..(k + 1) * n].copy_from_slice(&col[j0..j0 + n]);
                        }
                        dense::mul_lower_t(MatRef::from_column_major_slice(kt, n, r), rt, q);
                        mb.fill(0.0);
                        for (k, &uk) in u.iter().enumerate() {
                            for (mq, kq) in mb.iter_mut().zip(&kt[k * n..(k + 1) * n]) {
                                *mq += kq * uk;
                            }
                        }
                        for o in 0..n {
                            let qo = &q[o * r..(o + 1) * r];
                            let s = kdiag[j0 + o] - linalg::dot(qo, qo);
                            vb[o] = s.max(0.0) / lam;
                        }
                    });
                });
        }
        let deff: f64 = self
            .counts
            .iter()
            .zip(&var)
            .map(|(&n, v)| n as f64 * v)
            .sum();
        let logdet = deff * (self.t.max(1) as f64).ln();
        let noise = self.noise_variance.unwrap_or(lam);
        let beta = lam.sqrt() * self.fnorm + (noise * (logdet + (1.0 / self.delta).ln())).sqrt();
        self.der = Derived {
            dict: self.dict.clone(),
            kept,
            linv,
            lainv,
            u,
            rt,
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
        self.select_batch_among(b, None)
    }

    /// The generator of the tie breaks (for the registry's restricted decisions).
    pub(crate) fn rng_mut(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// [`Self::select_batch`] among the `eligible` candidates only (all when None).
    pub fn select_batch_among(
        &mut self,
        b: usize,
        eligible: Option<&Eligible>,
    ) -> Result<Vec<usize>> {
        let available = eligible.map_or(self.a, Eligible::count);
        if b == 0 || b > available {
            let what = if eligible.is_some() {
                "the number of eligible candidates"
            } else {
                "the number of candidates"
            };
            return Err(Error::param(
                "b",
                format!("must be in [1, {available}] ({what}), got {b}"),
            ));
        }
        let wf = self.width_factor();
        let r = self.der.kept.len();
        let mut var = self.der.var.clone();
        // A_t^{-1} = L_A^{-T} L_A^{-1}.
        let lai = &self.der.lainv;
        let lait = transpose(lai, r, r);
        let mut ainv = vec![0.0; r * r];
        if r > 0 {
            linalg::matmul(&lait, lai, &mut ainv, r, r, r);
        }
        // Ineligible candidates count as already chosen: never picked again.
        let mut chosen: Vec<bool> = match eligible {
            Some(e) => e.mask().iter().map(|&m| !m).collect(),
            None => vec![false; self.a],
        };
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
            let ki: Vec<f64> = self
                .der
                .kept
                .iter()
                .map(|&s| self.columns.get(s)[i])
                .collect();
            let mut zi = vec![0.0; r];
            linalg::matvec(&self.der.linv, &ki, &mut zi);
            let mut v = vec![0.0; r];
            linalg::matvec(&ainv, &zi, &mut v);
            let q = linalg::dot(&zi, &v);
            let mut h = vec![0.0; r];
            linalg::matvec(&linv_t, &v, &mut h);
            let cols: Vec<&[f64]> = self.der.kept.iter().map(|&s| self.columns.get(s)).collect();
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
        // The (n x r) features of the query rows.
        crate::limits::check_alloc("X", &[n, r.max(1)], 16)?;
        let xs: Vec<f64> = self
            .der
            .kept
            .iter()
            .flat_map(|&s| self.x[s * d..(s + 1) * d].iter().copied())
            .collect();
        let kq = self.kernel.block(xq, &xs, d);
        let qdiag = self.kernel.diag(xq, d);
        let mut q = vec![0.0; n * r];
        dense::mul_lower_t(
            MatRef::from_row_major_slice(&kq, n, r),
            &self.der.rt,
            &mut q,
        );
        let mut mean = vec![0.0; n];
        let mut var = vec![0.0; n];
        for j in 0..n {
            let (kr, qj) = (&kq[j * r..(j + 1) * r], &q[j * r..(j + 1) * r]);
            mean[j] = linalg::dot(kr, &self.der.u);
            var[j] = (qdiag[j] - linalg::dot(qj, qj)).max(0.0) / self.lam;
        }
        Ok((mean, var))
    }
}

/// The fields of a version 1 payload (before `noise_variance`), in order.
#[derive(Deserialize)]
struct BkbV1 {
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
    dict: Vec<usize>,
    rng: Rng,
}

impl Persist for BKB {
    const KIND: &'static str = "BKB";
    /// 2: `noise_variance` (version 1 bytes load with None, the width they were made with).
    const VERSION: u16 = 2;
    fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
        if version >= 2 {
            return crate::state::read_payload(payload);
        }
        let (v1, rest): (BkbV1, &[u8]) = crate::state::read_payload(payload)?;
        let p = BKB {
            kernel: v1.kernel,
            x: v1.x,
            d: v1.d,
            a: v1.a,
            lam: v1.lam,
            qbar: v1.qbar,
            fnorm: v1.fnorm,
            delta: v1.delta,
            beta_scale: v1.beta_scale,
            counts: v1.counts,
            sums: v1.sums,
            t: v1.t,
            dict: v1.dict,
            rng: v1.rng,
            noise_variance: None,
            kdiag: Vec::new(),
            der: Derived::default(),
            columns: Columns::default(),
        };
        Ok((p, rest))
    }
    /// Version 1 when `noise_variance` is unset (the width version 1 states had).
    fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
        if self.noise_variance.is_none() {
            let v1 = (
                &self.kernel,
                &self.x,
                self.d,
                self.a,
                self.lam,
                self.qbar,
                self.fnorm,
                self.delta,
                self.beta_scale,
                &self.counts,
                &self.sums,
                self.t,
                &self.dict,
                &self.rng,
            );
            return Ok((1, crate::state::write_payload(&v1)?));
        }
        Ok((2, crate::state::write_payload(self)?))
    }
    fn check_invariants(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::state(format!("BKB: {m}")));
        self.kernel.validate()?;
        check_params(self.lam, self.qbar, self.fnorm, self.delta, self.beta_scale)?;
        check_noise_variance(self.noise_variance)?;
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
        super::check_kernel_diagonal(&p.kdiag)
            .and_then(|_| p.rebuild())
            .map_err(|e| Error::state(format!("BKB: {e}")))?;
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

    /// BKB with a dictionary holding every pulled arm (qbar huge) and exact GP-UCB, fed
    /// the same `pulls` random pulls among the first `arms` candidates; asserts that BKB's
    /// mean and `lam` x variance equal the exact posterior to 1e-8 and returns BKB.
    fn assert_full_dictionary_is_the_exact_gp(
        (a, d, lam, lengthscale): (usize, usize, f64, f64),
        (arms, pulls, seed): (u64, usize, u64),
    ) -> BKB {
        let x = points(a, d, seed);
        let k = Kernel::from_spec("rbf", lengthscale, 1.0, 1.0, 0.0).unwrap();
        let mut b = BKB::new(&x, d, k, lam, 1e12, 1.0, 0.5, None, Some(0)).unwrap();
        let mut g = GPUCB::new(&x, d, k, lam, 1.0, 0.1, Some(0)).unwrap();
        let mut rng = Rng::seed_from_u64(seed + 1);
        for _ in 0..pulls {
            let i = rng.below(arms) as i64;
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
        b
    }

    #[test]
    fn full_dictionary_is_the_exact_gp() {
        let b = assert_full_dictionary_is_the_exact_gp((60, 2, 0.05, 0.3), (20, 40, 3));
        let bytes = crate::state::encode(&b).unwrap();
        let c = BKB::from_bytes(&bytes).unwrap();
        assert_eq!(c.mean(), b.mean());
        assert_eq!(c.variance(), b.variance());
    }

    /// A run with more than one candidate block and a dictionary wider than a panel of
    /// the blocked routines: new arms and repeats, the dictionary resampled every step.
    fn long_run(threads: usize, qbar: f64) -> BKB {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (a, d) = (600, 3);
            let x = points(a, d, 11);
            let k = Kernel::from_spec("rbf", 0.25, 1.0, 1.0, 0.0).unwrap();
            let mut b = BKB::new(&x, d, k, 0.01, qbar, 1.0, 0.5, None, Some(4)).unwrap();
            let mut rng = Rng::seed_from_u64(12);
            for t in 0..200 {
                let i = if t % 3 == 0 {
                    b.select()
                } else {
                    rng.below(300) as usize
                };
                let y = (5.0 * x[i * d]).sin() + 0.1 * (rng.uniform() - 0.5);
                b.update(i as i64, y).unwrap();
            }
            b
        })
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let one = long_run(1, 1.0);
        assert!(one.dictionary_size() > 64, "{}", one.dictionary_size());
        for threads in [2, 3] {
            let many = long_run(threads, 1.0);
            assert_eq!(one.dictionary_indices(), many.dictionary_indices());
            assert_eq!(one.mean(), many.mean());
            assert_eq!(one.variance(), many.variance());
            assert_eq!(one.beta(), many.beta());
        }
    }

    #[test]
    fn wide_full_dictionary_matches_the_exact_gp_and_continues_bit_for_bit() {
        // Every pulled arm in the dictionary (about 150 distinct arms, many repeated, a
        // factor wider than one panel of the blocked routines): the exact GP posterior.
        let mut b = assert_full_dictionary_is_the_exact_gp((400, 3, 0.01, 0.5), (200, 300, 21));
        let mut c = BKB::from_bytes(&crate::state::encode(&b).unwrap()).unwrap();
        for t in 0..20 {
            let (i, j) = (b.select(), c.select());
            assert_eq!(i, j);
            let y = (t as f64 * 0.37).sin();
            b.update(i as i64, y).unwrap();
            c.update(j as i64, y).unwrap();
            assert_eq!(b.mean(), c.mean());
            assert_eq!(b.variance(), c.variance());
        }
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
