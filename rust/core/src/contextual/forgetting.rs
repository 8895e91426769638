//! Forgetting for the disjoint linear policies (`decay=` on LinUCB, LinTS and LinGreedy):
//! the discounted ridge regression of D-LinUCB (Russac, Vernade and Cappe, NeurIPS 2019,
//! "Weighted Linear Bandits for Non-Stationary Environments", Algorithm 1; notes in
//! docs/ALGORITHMS.md section 11).
//!
//! The paper weights round s by gamma^{-s} and regularizes with lam gamma^{-t}, so its
//! matrices grow without bound; divided by gamma^{-t} (gamma^{-2t} for the second one) they
//! are the recursions of its Algorithm 1, kept here as they are:
//!
//! ```text
//! V_t = gamma   V_{t-1} + w x x^T   + (1 - gamma)   lam I   = sum gamma^{t-s}  w x x^T   + lam I
//! W_t = gamma^2 W_{t-1} + w^2 x x^T + (1 - gamma^2) lam I   = sum gamma^{2(t-s)} w^2 x x^T + lam I
//! b_t = gamma   b_{t-1} + w r x
//! theta_t = V_t^{-1} b_t,   width(x) = sqrt(x^T V_t^{-1} W_t V_t^{-1} x)
//! ```
//!
//! (w is the row's importance weight, 1 in the paper; the width is the paper's, which the
//! rescaling leaves unchanged since V^{-1} W V^{-1} is invariant to it.) Every sum is a
//! convex combination with lam I, so nothing grows or underflows into a singular matrix
//! over any number of rounds.
//!
//! Time is global, as in the paper: its one parameter vector over block features
//! (x in arm a's block of a K d vector) is exactly K disjoint models, each discounted at
//! every round, played or not, so the estimate of an arm left alone fades back to the
//! prior and its width grows back towards sqrt(|x|^2 / lam): a drifting arm that was
//! abandoned is tried again. (Discounting an arm only when it is played would keep a stale
//! estimate with a small width forever.) A round is one recorded row (`update`, or a row of
//! `update_batch` in order). Within a batch an idle arm's sums are brought to the current
//! round lazily, scaled by gamma^{dt} at its next row (exact); a single update scales every
//! arm's sums by gamma, O(K d^2). The inverse is not a rescaling, though:
//! V = gamma^{dt} G + lam I changes its eigenvalues unequally, so after every call that
//! records rows each arm with data gets one exact refactorization from its sums, O(K d^3)
//! per call (O(n d^2 + K d^3) for a batch of n rows) instead of LinUCB's O(d^2)
//! Sherman-Morrison step.
//!
//! The refactorization runs in one work space per call, the triangular steps on the dot
//! kernel and the three products blocked; measured per select + update at K = 10 in
//! benches/README.md (forgetting section).
//!
//! The width matrix V^{-1} W V^{-1} is kept in each model's `a_inv` (and V^{-1} b in
//! `theta`), so scoring, batch scoring and sampling are LinUCB's and LinTS's code. Not
//! mergeable: a discounted sum depends on the order of the rounds, and two replicas' rounds
//! have none.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::ridge::{sum_limit, GRAM_ROW_LIMIT};
use super::{LinearBase, RidgeModel, INVERSE_LIMIT, THETA_LIMIT, WEIGHT_LIMIT};
use crate::error::{Error, Result};
use crate::linalg;
use serde::{Deserialize, Serialize};

/// The forgetting state of a decayed policy: the discount factor, the second Gram matrix of
/// every arm and the round counter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forgetting {
    /// Discount factor gamma in (0, 1]: each round multiplies the past's weight by gamma.
    pub gamma: f64,
    /// Rounds recorded since creation (the paper's t; unlike the update count, removing an
    /// arm does not lower it).
    pub rounds: u64,
    /// Per arm, W = sum gamma^{2(t-s)} w^2 x x^T + lam I (d x d, row-major).
    pub gram2: Vec<Vec<f64>>,
}

/// Validates a `decay` argument: None, or a number in (0, 1].
pub fn check_decay(decay: Option<f64>) -> Result<()> {
    match decay {
        Some(g) if !(g > 0.0 && g <= 1.0) => Err(Error::param(
            "decay",
            format!(
                "must be a discount factor in (0, 1] or None, got {}",
                crate::error::show(g)
            ),
        )),
        _ => Ok(()),
    }
}

fn prior(dim: usize, lam: f64) -> Vec<f64> {
    let mut m = vec![0.0; dim * dim];
    for i in 0..dim {
        m[i * dim + i] = lam;
    }
    m
}

/// Scales the data part of `m` = data + lam I by `s`: m <- s (m - lam I) + lam I.
fn scale_data(m: &mut [f64], d: usize, s: f64, lam: f64) {
    // Row by row, the diagonal entry set apart (no index arithmetic per entry).
    for (i, row) in m.chunks_exact_mut(d).enumerate() {
        let diag = row[i];
        row.iter_mut().for_each(|v| *v *= s);
        row[i] = lam + s * (diag - lam);
    }
}

/// The per-row bound of W's entries: w^2 |x|^2 <= 1e60 * 1e60.
const GRAM2_ROW_LIMIT: f64 = WEIGHT_LIMIT * GRAM_ROW_LIMIT;

impl Forgetting {
    pub fn new(gamma: f64, base: &LinearBase) -> Result<Self> {
        check_decay(Some(gamma))?;
        Ok(Forgetting {
            gamma,
            rounds: 0,
            gram2: vec![prior(base.dim, base.lam); base.arms.len()],
        })
    }

    /// Brings arm `a`'s sums from round `from` to round `to` (gamma^{to - from}).
    fn advance(&mut self, base: &mut LinearBase, a: usize, from: u64, to: u64) {
        if to == from {
            return;
        }
        let (d, lam) = (base.dim, base.lam);
        // gamma^k underflows to 0 for long idle spans: the sums then are the prior, exactly
        // the limit. powi takes an i32; beyond it the factor is 0 (or 1 for gamma = 1).
        let k = to - from;
        let (s, s2) = if self.gamma == 1.0 {
            (1.0, 1.0)
        } else if k > i32::MAX as u64 {
            (0.0, 0.0)
        } else {
            let s = self.gamma.powi(k as i32);
            (s, s * s)
        };
        let m = &mut base.arms[a];
        if s != 1.0 {
            scale_data(&mut m.gram, d, s, lam);
            m.b.iter_mut().for_each(|v| *v *= s);
        }
        if s2 != 1.0 {
            scale_data(&mut self.gram2[a], d, s2, lam);
        }
    }

    /// Adds one validated row to arm `a`'s sums, which are at the current round.
    fn add_row(&mut self, base: &mut LinearBase, a: usize, x: &[f64], r: f64, w: f64) {
        let m = &mut base.arms[a];
        m.n += 1;
        m.weight_sum += w;
        if w != 0.0 {
            linalg::add_sym_outer(&mut m.gram, x, w);
            linalg::add_sym_outer(&mut self.gram2[a], x, w * w);
            let wr = w * r;
            for (b, v) in m.b.iter_mut().zip(x) {
                *b += wr * v;
            }
        }
    }

    /// One round: every arm's sums discounted by gamma, the row added to arm `a`'s, then
    /// every arm with data refactorized. The row is validated.
    pub fn update(&mut self, base: &mut LinearBase, a: usize, x: &[f64], r: f64, w: f64) {
        for arm in 0..base.arms.len() {
            if base.arms[arm].n > 0 {
                self.advance(base, arm, self.rounds, self.rounds + 1);
            }
        }
        self.add_row(base, a, x, r, w);
        self.rounds += 1;
        base.t += 1;
        self.refresh(base);
    }

    /// Validated rows in order, one round each: an arm's sums are brought to a row's round
    /// only when the row is its own (lazily, gamma^{dt} at once), all of them to the last
    /// round at the end, then one refactorization per arm. Equal to the loop of `update`
    /// up to rounding.
    pub fn update_rows(&mut self, base: &mut LinearBase, rows: &[(usize, &[f64], f64, f64)]) {
        let mut stamp = vec![self.rounds; base.arms.len()];
        for &(a, x, r, w) in rows {
            self.rounds += 1;
            self.advance(base, a, stamp[a], self.rounds);
            stamp[a] = self.rounds;
            self.add_row(base, a, x, r, w);
        }
        for a in 0..base.arms.len() {
            if base.arms[a].n > 0 {
                self.advance(base, a, stamp[a], self.rounds);
            }
        }
        base.t += rows.len() as u64;
        self.refresh(base);
    }

    /// theta = V^{-1} b and the width matrix V^{-1} W V^{-1} of every arm with data, from
    /// its sums. As for the ridge refactorization, values beyond the limits (a numerically
    /// singular V, from contexts near 1e30 with a tiny lam) are not taken: the previous
    /// ones stay.
    pub fn refresh(&self, base: &mut LinearBase) {
        let d = base.dim;
        // One work space for every arm: no allocation per arm.
        let mut work = Work::new(d);
        for (m, g2) in base.arms.iter_mut().zip(&self.gram2) {
            if m.n == 0 {
                continue;
            }
            refresh_model(m, g2, d, &mut work);
        }
    }

    pub fn on_add_arm(&mut self, base: &LinearBase) {
        self.gram2.push(prior(base.dim, base.lam));
    }

    pub fn on_remove_arm(&mut self, i: usize) {
        self.gram2.remove(i);
    }

    pub fn check(&self, base: &LinearBase) -> Result<()> {
        let (d, lam) = (base.dim, base.lam);
        check_decay(Some(self.gamma))?;
        let ok = self.gram2.len() == base.arms.len()
            && self.rounds >= base.t
            && self.gram2.iter().zip(&base.arms).all(|(g, m)| {
                let limit = sum_limit(m.n, GRAM2_ROW_LIMIT);
                g.len() == d * d
                    && (0..d).all(|i| g[i * d + i] > 0.0)
                    && g.iter().enumerate().all(|(i, v)| {
                        let p = if i % (d + 1) == 0 { lam } else { 0.0 };
                        v.is_finite() && (v - p).abs() <= limit
                    })
            });
        if ok {
            Ok(())
        } else {
            Err(Error::state(
                "the forgetting state is inconsistent (sizes, round count or second Gram matrices)",
            ))
        }
    }
}

/// The work space of [`Forgetting::refresh`]: V's Cholesky factor L, the transpose of
/// L^{-1}, V^{-1}, V^{-1} W, the width matrix and theta (d x d each, d for theta).
struct Work {
    l: Vec<f64>,
    lit: Vec<f64>,
    inv: Vec<f64>,
    p: Vec<f64>,
    w: Vec<f64>,
    theta: Vec<f64>,
}

impl Work {
    fn new(d: usize) -> Self {
        let z = vec![0.0; d * d];
        Work {
            l: z.clone(),
            lit: z.clone(),
            inv: z.clone(),
            p: z.clone(),
            w: z,
            theta: vec![0.0; d],
        }
    }
}

/// V^{-1} of the symmetric positive definite `a` (d x d) into `inv`, exactly symmetric,
/// through its Cholesky factor (into `l`, lower) and the factor's inverse (transposed, into
/// `lit`, upper; `li` is work space), their inner sums contiguous [`linalg::dot`]s and the
/// product L^{-T} L^{-1} one blocked matrix product; false (and `inv` unspecified) when `a`
/// is not numerically positive definite. The arithmetic of [`linalg::spd_inverse`] without
/// its three allocations, summed in another order.
fn spd_inverse_into(
    a: &[f64],
    d: usize,
    l: &mut [f64],
    lit: &mut [f64],
    li: &mut [f64],
    inv: &mut [f64],
) -> bool {
    if !linalg::cholesky_into(a, d, l) {
        return false;
    }
    // Row j of lit is column j of L^{-1}: L^{-1}[i][j] = -(sum_{k=j}^{i-1} L[i][k] L^{-1}[k][j]) / L[i][i].
    for j in 0..d {
        lit[j * d + j] = 1.0 / l[j * d + j];
        for i in j + 1..d {
            let s = linalg::dot(&l[i * d + j..i * d + i], &lit[j * d + j..j * d + i]);
            lit[j * d + i] = -s / l[i * d + i];
        }
    }
    // V^{-1} = L^{-T} L^{-1} = li^T li for li = L^{-1} (lit transposed; lit's lower part is
    // zero), one blocked product, then made exactly symmetric.
    for i in 0..d {
        for j in 0..d {
            li[i * d + j] = lit[j * d + i];
        }
    }
    inv.iter_mut().for_each(|v| *v = 0.0);
    linalg::add_at_b(li, li, inv, d, d, d);
    symmetrize(inv, d);
    true
}

/// m <- (m + m^T) / 2 for a d x d row-major m.
fn symmetrize(m: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
}

fn refresh_model(m: &mut RidgeModel, g2: &[f64], d: usize, k: &mut Work) {
    if !spd_inverse_into(&m.gram, d, &mut k.l, &mut k.lit, &mut k.p, &mut k.inv) {
        return;
    }
    linalg::matvec(&k.inv, &m.b, &mut k.theta);
    // P = V^{-1} W, then V^{-1} W V^{-1} = P V^{-1}, two blocked products, made exactly
    // symmetric.
    linalg::matmul(&k.inv, g2, &mut k.p, d, d, d);
    linalg::matmul(&k.p, &k.inv, &mut k.w, d, d, d);
    symmetrize(&mut k.w, d);
    let mut max = 0.0f64;
    let mut finite = true;
    for v in k.w.iter() {
        finite &= v.is_finite();
        max = max.max(v.abs());
    }
    let theta_ok = k
        .theta
        .iter()
        .all(|t| t.is_finite() && t.abs() <= THETA_LIMIT);
    if finite && max <= INVERSE_LIMIT && theta_ok {
        m.a_inv.copy_from_slice(&k.w);
        m.theta.copy_from_slice(&k.theta);
        m.since_refactor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn base(k: usize, d: usize, lam: f64) -> LinearBase {
        LinearBase::new(k, d, lam, Some(0)).unwrap()
    }

    /// The sums written out: V_a = sum gamma^{t-s} w x x^T + lam I over arm a's rows,
    /// W_a with gamma^{2(t-s)} w^2, b_a = sum gamma^{t-s} w r x (t = rounds so far).
    #[allow(clippy::type_complexity)]
    fn brute(
        rows: &[(usize, Vec<f64>, f64, f64)],
        k: usize,
        d: usize,
        lam: f64,
        gamma: f64,
    ) -> Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let t = rows.len();
        let mut out = vec![(prior(d, lam), prior(d, lam), vec![0.0; d]); k];
        for (s, (a, x, r, w)) in rows.iter().enumerate() {
            let age = (t - 1 - s) as i32;
            let g = gamma.powi(age);
            let g2 = gamma.powi(2 * age);
            for i in 0..d {
                for j in 0..d {
                    out[*a].0[i * d + j] += g * w * x[i] * x[j];
                    out[*a].1[i * d + j] += g2 * w * w * x[i] * x[j];
                }
                out[*a].2[i] += g * w * r * x[i];
            }
        }
        out
    }

    fn random_rows(n: usize, k: usize, d: usize, seed: u64) -> Vec<(usize, Vec<f64>, f64, f64)> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                // Long idle spans for the last arm: it plays only in the first tenth.
                let a = if i < n / 10 {
                    rng.below(k as u64) as usize
                } else {
                    rng.below(k as u64 - 1) as usize
                };
                let x = (0..d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                let w = if i % 7 == 0 { 0.0 } else { 0.5 + rng.uniform() };
                (a, x, rng.uniform(), w)
            })
            .collect()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * y.abs().max(1.0))
    }

    #[test]
    fn the_sums_equal_the_discounted_sums_written_out_single_and_batched() {
        let (k, d, lam, gamma) = (4, 5, 0.7, 0.97);
        let rows = random_rows(600, k, d, 3);
        let want = brute(&rows, k, d, lam, gamma);
        let mut single = base(k, d, lam);
        let mut fs = Forgetting::new(gamma, &single).unwrap();
        for (a, x, r, w) in &rows {
            fs.update(&mut single, *a, x, *r, *w);
        }
        let mut batched = base(k, d, lam);
        let mut fb = Forgetting::new(gamma, &batched).unwrap();
        let view: Vec<(usize, &[f64], f64, f64)> = rows
            .iter()
            .map(|(a, x, r, w)| (*a, &x[..], *r, *w))
            .collect();
        // Three batches: lazy discounting across batch boundaries too.
        fb.update_rows(&mut batched, &view[..100]);
        fb.update_rows(&mut batched, &view[100..101]);
        fb.update_rows(&mut batched, &view[101..]);
        for (b, f) in [(&single, &fs), (&batched, &fb)] {
            assert_eq!(b.t, 600);
            assert_eq!(f.rounds, 600);
            for a in 0..k {
                assert!(close(&b.arms[a].gram, &want[a].0, 1e-9), "arm {a}");
                assert!(close(&f.gram2[a], &want[a].1, 1e-9), "arm {a}");
                assert!(close(&b.arms[a].b, &want[a].2, 1e-9), "arm {a}");
                // theta and the width matrix from the written-out sums.
                let inv = linalg::spd_inverse(&want[a].0, d).unwrap();
                let mut theta = vec![0.0; d];
                linalg::matvec(&inv, &want[a].2, &mut theta);
                let mut p = vec![0.0; d * d];
                let mut w = vec![0.0; d * d];
                linalg::matmul(&inv, &want[a].1, &mut p, d, d, d);
                linalg::matmul(&p, &inv, &mut w, d, d, d);
                assert!(close(&b.arms[a].theta, &theta, 1e-9));
                assert!(close(&b.arms[a].a_inv, &w, 1e-9));
            }
            f.check(b).unwrap();
            b.check().unwrap();
        }
        // A wrong discount of W (gamma instead of gamma^2) is far from it.
        let wrong = brute(&rows, k, d, lam, gamma.sqrt());
        assert!(!close(&fs.gram2[0], &wrong[0].0, 1e-3));
    }

    #[test]
    fn a_million_rounds_keep_every_matrix_finite_and_positive_definite() {
        // Contexts along two directions mostly, with long idle spans for arm 1, and a
        // strong discount: the data parts shrink towards the prior and back, 1e6 times.
        // A fifth of the rounds are single updates, the rest batches of 1000 rows.
        let (k, d, lam, gamma) = (2, 3, 1.0, 0.9);
        let mut b = base(k, d, lam);
        let mut f = Forgetting::new(gamma, &b).unwrap();
        let mut rng = Rng::seed_from_u64(9);
        let n = 1_000_000u64;
        let mut row = |i: u64| {
            let a = usize::from(i % 100_000 < 10);
            let x = vec![
                1.0 + 1e-3 * rng.uniform(),
                rng.uniform() * 1e-6,
                if i % 2 == 0 { 5.0 } else { 0.0 },
            ];
            (a, x, rng.uniform())
        };
        let mut i = 0;
        while i < n {
            if i < n / 5 {
                let (a, x, r) = row(i);
                f.update(&mut b, a, &x, r, 1.0);
                i += 1;
            } else {
                let rows: Vec<_> = (i..i + 1000).map(&mut row).collect();
                let view: Vec<(usize, &[f64], f64, f64)> =
                    rows.iter().map(|(a, x, r)| (*a, &x[..], *r, 1.0)).collect();
                f.update_rows(&mut b, &view);
                i += 1000;
            }
        }
        assert_eq!(b.t, n);
        b.check().unwrap();
        f.check(&b).unwrap();
        for (a, m) in b.arms.iter().enumerate() {
            assert!(m
                .gram
                .iter()
                .chain(&m.a_inv)
                .chain(&m.theta)
                .all(|v| v.is_finite()));
            assert!(linalg::cholesky(&m.gram, d).is_some(), "arm {a}");
            assert!(linalg::cholesky(&f.gram2[a], d).is_some(), "arm {a}");
            assert!(linalg::cholesky(&m.a_inv, d).is_some(), "arm {a}");
            // V <= lam I + sum_k gamma^k |x|^2 I.
            let bound = lam + 27.0 / (1.0 - gamma);
            assert!(m.gram.iter().all(|v| v.abs() <= bound));
            // Every eigenvalue of V is >= lam: the width matrix is <= 1 / lam.
            assert!((0..d).all(|i| m.a_inv[i * d + i] <= 1.0 / lam + 1e-12));
        }
    }

    #[test]
    fn the_allocation_free_inverse_is_the_spd_inverse() {
        let mut rng = Rng::seed_from_u64(4);
        for d in [1, 2, 7, 9, 20, 33] {
            // B B^T + 0.1 I, with a wide spread of eigenvalues.
            let bm: Vec<f64> = (0..d * d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let mut a = prior(d, 0.1);
            for i in 0..d {
                linalg::add_sym_outer(&mut a, &bm[i * d..(i + 1) * d], 10f64.powi(i as i32 % 5));
            }
            let want = linalg::spd_inverse(&a, d).unwrap();
            let mut k = Work::new(d);
            assert!(spd_inverse_into(
                &a, d, &mut k.l, &mut k.lit, &mut k.p, &mut k.inv
            ));
            assert!(close(&k.inv, &want, 1e-9), "d = {d}");
            for i in 0..d {
                for j in 0..d {
                    assert_eq!(k.inv[i * d + j], k.inv[j * d + i]);
                }
            }
            // Not positive definite: refused.
            a[0] = -1.0;
            assert!(!spd_inverse_into(
                &a, d, &mut k.l, &mut k.lit, &mut k.p, &mut k.inv
            ));
        }
    }

    #[test]
    fn decay_one_is_the_ridge_regression_and_bad_factors_are_refused() {
        let (k, d, lam) = (2, 3, 1.0);
        let rows = random_rows(200, k, d, 5);
        let mut b = base(k, d, lam);
        let mut f = Forgetting::new(1.0, &b).unwrap();
        let mut ridge = base(k, d, lam);
        let mut scratch = vec![0.0; d];
        for (a, x, r, _) in &rows {
            f.update(&mut b, *a, x, *r, 1.0);
            ridge.arms[*a]
                .update(x, *r, 1.0, &mut scratch, super::super::Link::Identity)
                .unwrap();
        }
        for a in 0..k {
            assert!(close(&b.arms[a].theta, &ridge.arms[a].theta, 1e-10));
            // Unit weights: W = V, so the width matrix is V^{-1}.
            assert!(close(&b.arms[a].a_inv, &ridge.arms[a].a_inv, 1e-10));
        }
        for bad in [0.0, -0.5, 1.0 + 1e-12, f64::NAN, f64::INFINITY] {
            assert!(check_decay(Some(bad)).is_err());
        }
        assert!(check_decay(None).is_ok() && check_decay(Some(1e-300)).is_ok());
    }
}
