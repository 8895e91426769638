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
//! `update_batch` in order).
//!
//! Representation and cost. An arm's sums are kept at the round of its last row, its
//! stamp: G = V - lam I, G2 = W - lam I and b there. After dt idle rounds (s = gamma^dt)
//! they are s G, s^2 G2 and s b, exactly (nothing is rescaled, so no rounding accumulates
//! over idle rounds), but V = s G + lam I is not a rescaling of the stamp's V, so neither
//! is its inverse. With G = Q T Q^T (Householder tridiagonalization: T tridiagonal, Q a
//! product of d - 2 reflections kept as vectors; computed once per arm and stamp, on the
//! first score that needs it, and cached), V = Q (s T + lam I) Q^T for every s, and
//! s T + lam I is solved in O(d). For a context x:
//!
//! ```text
//! y = V^{-1} x = Q (s T + lam I)^{-1} Q^T x
//! mean = x^T V^{-1} (s b) = s y^T b
//! width^2 = y^T (s^2 G2 + lam I) y = s^2 y^T W_stamp y + (1 - s^2) lam |y|^2
//! ```
//!
//! O(d^2) per arm and context (the reflections twice, one quadratic form), with nothing
//! done for an idle arm between its rows. An update costs O(d^2) for the played arm alone
//! (its sums brought from its stamp, gamma^dt at once, and the row added); the d^3
//! tridiagonalization (multiply-adds) follows at the arm's next score. So a select + update is
//! O(K d^2 + d^3), where the version before was O(K d^3) (every arm with data refactorized
//! from its sums, V^{-1} and V^{-1} W V^{-1}, after every recorded call; measured in
//! benches/README.md, forgetting section). s T + lam I has eigenvalues >= lam (T is G's
//! positive semidefinite form), so its LDL^T pivots are >= lam: they are clamped there
//! against rounding, and V^{-1} stays within 1 / lam. (A symmetric eigendecomposition would
//! do the same job at several times the cost per row: faer's and EISPACK's QL were
//! measured at 40 and 15 times an SPD inverse at d = 20.)
//!
//! The scores are the same formulas as an exact refactorization of V and W at the current
//! round (tests below: 1e-9 relative over d = 3 to 64, gamma = 0.9 to 0.999, arms idle up
//! to 10^4 rounds, and 10^6 rounds at gamma = 0.999). The models' `a_inv` and `theta` are
//! not used and stay at the prior (I / lam and 0); every path that scores or reports
//! coefficients reads them through this module ([`mean_width`], [`Forgetting::value`],
//! [`Forgetting::coefficients`], and for batches of more than about 2 d rows
//! [`Forgetting::current_models`]: the width matrices built once per call for the batch
//! kernel, the one place they are built). The caches are a function of the saved sums, so a decoded
//! copy (caches rebuilt on first use) scores bit for bit as the original, and a batch
//! update is the loop of single updates bit for bit. Payload version 3 saves the stamps;
//! version 2 (every arm brought to the last round, the width matrix in `a_inv`) loads as
//! every arm stamped at the last round.
//!
//! Not mergeable: a discounted sum depends on the order of the rounds, and two replicas'
//! rounds have none.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::ridge::{sum_limit, GRAM_ROW_LIMIT};
use super::{LinearBase, RidgeModel, WEIGHT_LIMIT};
use crate::error::{Error, Result};
use crate::linalg;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The forgetting state of a decayed policy: the discount factor, the round counter and,
/// per arm, the second Gram matrix and the round its sums are at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ForgettingData")]
pub struct Forgetting {
    /// Discount factor gamma in (0, 1]: each round multiplies the past's weight by gamma.
    pub gamma: f64,
    /// Rounds recorded since creation (the paper's t; unlike the update count, removing an
    /// arm does not lower it).
    pub rounds: u64,
    /// Per arm, W = sum gamma^{2(stamp-s)} w^2 x x^T + lam I at the arm's stamp (d x d,
    /// row-major).
    pub gram2: Vec<Vec<f64>>,
    /// Per arm, the round its sums (V in `gram`, b, W) are at: its last row's round (or the
    /// round it was added; nothing to discount before its first row).
    pub stamps: Vec<u64>,
    /// Per arm, the tridiagonal form of its V - lam I at its stamp, built on first use.
    #[serde(skip)]
    caches: Caches,
}

/// The saved fields of [`Forgetting`] (payload version 3); the caches start empty.
#[derive(Deserialize)]
struct ForgettingData {
    gamma: f64,
    rounds: u64,
    gram2: Vec<Vec<f64>>,
    stamps: Vec<u64>,
}

impl From<ForgettingData> for Forgetting {
    fn from(f: ForgettingData) -> Self {
        Forgetting {
            caches: Caches::new(f.gram2.len()),
            gamma: f.gamma,
            rounds: f.rounds,
            gram2: f.gram2,
            stamps: f.stamps,
        }
    }
}

/// The forgetting state of payload version 2, which kept every arm's sums at the last round
/// and its theta and width matrix V^{-1} W V^{-1} in the model (`theta`, `a_inv`).
#[derive(Deserialize)]
pub(crate) struct ForgettingV2 {
    gamma: f64,
    rounds: u64,
    gram2: Vec<Vec<f64>>,
}

impl ForgettingV2 {
    /// The state as version 3 keeps it: every arm stamped at the last round (where version 2
    /// kept its sums), the models' derived values back at the prior (unused).
    pub(crate) fn upgrade(self, base: &mut LinearBase) -> Forgetting {
        for m in base.arms.iter_mut() {
            let fresh = RidgeModel::new(base.dim, base.lam);
            m.a_inv = fresh.a_inv;
            m.theta = fresh.theta;
            m.since_refactor = 0;
        }
        Forgetting {
            caches: Caches::new(self.gram2.len()),
            stamps: vec![self.rounds; self.gram2.len()],
            gamma: self.gamma,
            rounds: self.rounds,
            gram2: self.gram2,
        }
    }
}

/// An arm's G = V - lam I at its stamp as Q T Q^T: T symmetric tridiagonal and
/// Q = P_0 P_1 ... P_{d-3} a product of Householder reflections P_k = I - beta_k v_k v_k^T
/// acting on the indices k+1..d. For any discount s, V = s G + lam I = Q (s T + lam I) Q^T,
/// and s T + lam I is solved in O(d).
#[derive(Clone, Debug)]
struct Tridiagonal {
    /// T's diagonal (d entries) and off-diagonal (d - 1, T[i][i+1]).
    diag: Vec<f64>,
    off: Vec<f64>,
    /// Row k holds v_k in its entries k+1..d (d x d, row-major).
    v: Vec<f64>,
    /// beta_k (0: P_k = I).
    beta: Vec<f64>,
}

/// The per-arm caches: equal whatever they hold (a function of the sums, which equality
/// compares), cloned with their contents.
#[derive(Clone, Default)]
struct Caches(Vec<OnceLock<Tridiagonal>>);

impl Caches {
    fn new(k: usize) -> Self {
        Caches((0..k).map(|_| OnceLock::new()).collect())
    }
}

impl PartialEq for Caches {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.0.iter().filter(|s| s.get().is_some()).count();
        write!(f, "Caches({built} of {} built)", self.0.len())
    }
}

impl Tridiagonal {
    /// The Householder tridiagonalization of `gram` - lam I (symmetric, d x d, row-major),
    /// about d^3 multiply-adds as written (Golub and Van Loan, Algorithm 8.3.1, both
    /// triangles of the trailing block updated; each Householder vector computed from its
    /// column scaled by its largest entry, so nothing over- or underflows).
    fn of(gram: &[f64], d: usize, lam: f64) -> Tridiagonal {
        let mut a = gram.to_vec();
        for i in 0..d {
            a[i * d + i] -= lam;
        }
        let mut v = vec![0.0; d * d];
        let mut beta = vec![0.0; d];
        let mut off = vec![0.0; d.saturating_sub(1)];
        let mut w = vec![0.0; d];
        for k in 0..d.saturating_sub(1) {
            let m = d - k - 1;
            if m == 1 {
                off[k] = a[(k + 1) * d + k];
                continue;
            }
            // x = A[k+1.., k]; v = x / alpha + sign(x_0) |x / alpha| e_1, P x = off_k e_1.
            let alpha = (k + 1..d).fold(0.0f64, |mx, i| mx.max(a[i * d + k].abs()));
            if alpha == 0.0 {
                continue;
            }
            let vk = &mut v[k * d + k + 1..(k + 1) * d];
            for (j, i) in (k + 1..d).enumerate() {
                vk[j] = a[i * d + k] / alpha;
            }
            let sigma = linalg::dot(vk, vk).sqrt();
            let x0 = vk[0];
            let sign = if x0 >= 0.0 { 1.0 } else { -1.0 };
            vk[0] = x0 + sign * sigma;
            let b = 1.0 / (sigma * (sigma + x0.abs()));
            beta[k] = b;
            off[k] = -sign * sigma * alpha;
            // The trailing block B: p = b B v, w = p - (b p.v / 2) v, B <- B - v w^T - w v^T.
            let wk = &mut w[..m];
            for (j, i) in (k + 1..d).enumerate() {
                wk[j] = b * linalg::dot(&a[i * d + k + 1..(i + 1) * d], vk);
            }
            let c = 0.5 * b * linalg::dot(wk, vk);
            for (wj, vj) in wk.iter_mut().zip(vk.iter()) {
                *wj -= c * vj;
            }
            for (j, i) in (k + 1..d).enumerate() {
                let (vj, wj) = (vk[j], wk[j]);
                let row = &mut a[i * d + k + 1..(i + 1) * d];
                for (r, (vl, wl)) in row.iter_mut().zip(vk.iter().zip(wk.iter())) {
                    *r -= vj * wl + wj * vl;
                }
            }
        }
        let diag = (0..d).map(|i| a[i * d + i]).collect();
        Tridiagonal { diag, off, v, beta }
    }

    /// P_k u for the reflection k (u: all d entries; P_k changes k+1..d).
    #[inline]
    fn reflect(&self, k: usize, u: &mut [f64]) {
        let d = u.len();
        let b = self.beta[k];
        if b == 0.0 {
            return;
        }
        let vk = &self.v[k * d + k + 1..(k + 1) * d];
        let t = b * linalg::dot(vk, &u[k + 1..]);
        for (x, v) in u[k + 1..].iter_mut().zip(vk) {
            *x -= t * v;
        }
    }

    /// u <- Q^T u (P_0 first).
    fn apply_qt(&self, u: &mut [f64]) {
        for k in 0..u.len().saturating_sub(1) {
            self.reflect(k, u);
        }
    }

    /// u <- Q u (P_0 last).
    fn apply_q(&self, u: &mut [f64]) {
        for k in (0..u.len().saturating_sub(1)).rev() {
            self.reflect(k, u);
        }
    }

    /// u <- (s T + lam I)^{-1} u by its LDL^T factorization (O(d); `piv`: d values of work
    /// space). The pivots of a matrix whose eigenvalues are >= lam are >= lam; they are
    /// clamped there against rounding (T is positive semidefinite up to rounding).
    fn solve(&self, s: f64, lam: f64, u: &mut [f64], piv: &mut [f64]) {
        let d = u.len();
        let mut prev = (s * self.diag[0] + lam).max(lam);
        piv[0] = prev;
        for i in 1..d {
            let o = s * self.off[i - 1];
            let l = o / prev;
            prev = (s * self.diag[i] + lam - l * o).max(lam);
            piv[i] = prev;
            u[i] -= l * u[i - 1];
        }
        u[d - 1] /= piv[d - 1];
        for i in (0..d - 1).rev() {
            u[i] = (u[i] - s * self.off[i] * u[i + 1]) / piv[i];
        }
    }

    /// u <- V^{-1} u = Q (s T + lam I)^{-1} Q^T u.
    fn inverse_times(&self, s: f64, lam: f64, u: &mut [f64], piv: &mut [f64]) {
        self.apply_qt(u);
        self.solve(s, lam, u, piv);
        self.apply_q(u);
    }
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

/// gamma^k: 1 for k = 0 or gamma = 1, and 0 beyond powi's i32 exponents (where it has
/// underflowed long before for any gamma < 1).
fn power(gamma: f64, k: u64) -> f64 {
    if k == 0 || gamma == 1.0 {
        1.0
    } else if k > i32::MAX as u64 {
        0.0
    } else {
        gamma.powi(k as i32)
    }
}

/// Runs `f` on a zeroed scratch buffer of `n` values, on the stack up to 128 (d <= 64).
#[inline]
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    if n <= 128 {
        let mut b = [0.0; 128];
        f(&mut b[..n])
    } else {
        f(&mut vec![0.0; n])
    }
}

/// The per-row bound of W's entries: w^2 |x|^2 <= 1e60 * 1e60.
const GRAM2_ROW_LIMIT: f64 = WEIGHT_LIMIT * GRAM_ROW_LIMIT;

/// Arm `a`'s (mean, width) for a validated context `x`: the decayed model's (through
/// `f`'s caches) when the policy has forgetting, else the ridge model's own.
#[inline]
pub(crate) fn mean_width(
    f: Option<&Forgetting>,
    arms: &[RidgeModel],
    lam: f64,
    a: usize,
    x: &[f64],
) -> (f64, f64) {
    match f {
        None => arms[a].mean_width(x),
        Some(f) => f.mean_width(arms, lam, a, x, true),
    }
}

/// Arm `a`'s mean for a validated context `x` (see [`mean_width`]).
#[inline]
pub(crate) fn mean(
    f: Option<&Forgetting>,
    arms: &[RidgeModel],
    lam: f64,
    a: usize,
    x: &[f64],
) -> f64 {
    match f {
        None => arms[a].mean(x),
        Some(f) => f.mean_width(arms, lam, a, x, false).0,
    }
}

impl Forgetting {
    pub fn new(gamma: f64, base: &LinearBase) -> Result<Self> {
        check_decay(Some(gamma))?;
        let k = base.arms.len();
        Ok(Forgetting {
            gamma,
            rounds: 0,
            gram2: vec![prior(base.dim, base.lam); k],
            stamps: vec![0; k],
            caches: Caches::new(k),
        })
    }

    /// Brings arm `a`'s sums from its stamp to round `to` (gamma^{to - stamp} at once).
    fn advance(&mut self, base: &mut LinearBase, a: usize, to: u64) {
        let s = power(self.gamma, to - self.stamps[a]);
        self.stamps[a] = to;
        if s == 1.0 {
            return;
        }
        let (d, lam) = (base.dim, base.lam);
        let m = &mut base.arms[a];
        scale_data(&mut m.gram, d, s, lam);
        m.b.iter_mut().for_each(|v| *v *= s);
        scale_data(&mut self.gram2[a], d, s * s, lam);
    }

    /// One validated row of arm `a` as the next round: its sums brought to the round, the
    /// row added, its cached form dropped.
    fn record(&mut self, base: &mut LinearBase, a: usize, x: &[f64], r: f64, w: f64) {
        self.rounds += 1;
        self.advance(base, a, self.rounds);
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
        // Rebuilt from the sums at the new stamp on the next score (a function of the saved
        // state, so a decoded copy builds the same bits).
        self.caches.0[a].take();
        base.t += 1;
    }

    /// One round: the row added to arm `a`'s sums (the other arms' are discounted
    /// implicitly, through their stamps). The row is validated.
    pub fn update(&mut self, base: &mut LinearBase, a: usize, x: &[f64], r: f64, w: f64) {
        self.record(base, a, x, r, w);
    }

    /// Validated rows in order, one round each: the loop of [`Forgetting::update`], with
    /// the same bits.
    pub fn update_rows(&mut self, base: &mut LinearBase, rows: &[(usize, &[f64], f64, f64)]) {
        for &(a, x, r, w) in rows {
            self.record(base, a, x, r, w);
        }
    }

    /// Arm `a`'s tridiagonal form, built on first use.
    fn cache(&self, arms: &[RidgeModel], lam: f64, a: usize) -> &Tridiagonal {
        self.caches.0[a].get_or_init(|| Tridiagonal::of(&arms[a].gram, arms[a].b.len(), lam))
    }

    /// Arm `a`'s (mean, width if `with_width`, else 0) at the current round for a validated
    /// context `x`, O(d^2) (see the module notes).
    pub fn mean_width(
        &self,
        arms: &[RidgeModel],
        lam: f64,
        a: usize,
        x: &[f64],
        with_width: bool,
    ) -> (f64, f64) {
        let m = &arms[a];
        if m.n == 0 {
            // The prior: the model's own I / lam and 0.
            return if with_width {
                m.mean_width(x)
            } else {
                (m.mean(x), 0.0)
            };
        }
        let d = x.len();
        let t = self.cache(arms, lam, a);
        let s = power(self.gamma, self.rounds - self.stamps[a]);
        let s2 = s * s;
        with_scratch(2 * d, |buf| {
            let (y, piv) = buf.split_at_mut(d);
            y.copy_from_slice(x);
            t.inverse_times(s, lam, y, piv);
            let mean = s * linalg::dot(y, &m.b);
            if !with_width {
                return (mean, 0.0);
            }
            let (q_stamp, _) = linalg::quad_and_dot(&self.gram2[a], y, &m.b);
            let q = s2 * q_stamp + (1.0 - s2) * lam * linalg::dot(y, y);
            (mean, q.max(0.0).sqrt())
        })
    }

    /// `ca * mean + cw * width` of arm `a` for a validated context (the batch engine's
    /// value; the mean alone when `cw` is 0): with ca = 1 the bits of the decisions'
    /// mean + cw * width.
    pub fn value(
        &self,
        arms: &[RidgeModel],
        lam: f64,
        a: usize,
        x: &[f64],
        ca: f64,
        cw: f64,
    ) -> f64 {
        if cw == 0.0 {
            ca * self.mean_width(arms, lam, a, x, false).0
        } else {
            let (mean, width) = self.mean_width(arms, lam, a, x, true);
            ca * mean + cw * width
        }
    }

    /// Every arm's theta = V^{-1} b at the current round, (K x d) row-major.
    pub fn coefficients(&self, base: &LinearBase) -> Vec<f64> {
        let (d, lam) = (base.dim, base.lam);
        let mut out = vec![0.0; base.arms.len() * d];
        for (a, (m, o)) in base.arms.iter().zip(out.chunks_exact_mut(d)).enumerate() {
            if m.n == 0 {
                o.copy_from_slice(&m.theta);
                continue;
            }
            let t = self.cache(&base.arms, lam, a);
            let s = power(self.gamma, self.rounds - self.stamps[a]);
            // theta = V^{-1} (s b).
            o.copy_from_slice(&m.b);
            with_scratch(d, |piv| t.inverse_times(s, lam, o, piv));
            o.iter_mut().for_each(|v| *v *= s);
        }
        out
    }

    /// Every arm's (width matrix V^{-1} W V^{-1}, theta = V^{-1} b) at the current round, for
    /// the batch engine's kernel (O(K d^3): V^{-1} column by column through the cached form,
    /// then two products); arms without rows keep the prior's I / lam and 0. A function of
    /// the saved state, as the caches are.
    pub fn current_models(&self, base: &LinearBase) -> Vec<(Vec<f64>, Vec<f64>)> {
        let (d, lam) = (base.dim, base.lam);
        let thetas = self.coefficients(base);
        let mut piv = vec![0.0; d];
        base.arms
            .iter()
            .enumerate()
            .map(|(a, m)| {
                let theta = thetas[a * d..(a + 1) * d].to_vec();
                if m.n == 0 {
                    return (m.a_inv.clone(), theta);
                }
                let t = self.cache(&base.arms, lam, a);
                let s = power(self.gamma, self.rounds - self.stamps[a]);
                // Rows of V^{-1} (symmetric: its columns).
                let mut inv = vec![0.0; d * d];
                for (j, row) in inv.chunks_exact_mut(d).enumerate() {
                    row[j] = 1.0;
                    t.inverse_times(s, lam, row, &mut piv);
                }
                symmetrize(&mut inv, d);
                let mut w = self.gram2[a].clone();
                scale_data(&mut w, d, s * s, lam);
                let (mut p, mut out) = (vec![0.0; d * d], vec![0.0; d * d]);
                linalg::matmul(&inv, &w, &mut p, d, d, d);
                linalg::matmul(&p, &inv, &mut out, d, d, d);
                symmetrize(&mut out, d);
                (out, theta)
            })
            .collect()
    }

    pub fn on_add_arm(&mut self, base: &LinearBase) {
        self.gram2.push(prior(base.dim, base.lam));
        self.stamps.push(self.rounds);
        self.caches.0.push(OnceLock::new());
    }

    pub fn on_remove_arm(&mut self, i: usize) {
        self.gram2.remove(i);
        self.stamps.remove(i);
        self.caches.0.remove(i);
    }

    pub fn check(&self, base: &LinearBase) -> Result<()> {
        let (d, lam) = (base.dim, base.lam);
        check_decay(Some(self.gamma))?;
        let k = base.arms.len();
        let fresh = RidgeModel::new(d, lam);
        let ok = self.gram2.len() == k
            && self.stamps.len() == k
            && self.caches.0.len() == k
            && self.rounds >= base.t
            && self.stamps.iter().all(|&s| s <= self.rounds)
            && base
                .arms
                .iter()
                .all(|m| m.a_inv == fresh.a_inv && m.theta == fresh.theta)
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
                "the forgetting state is inconsistent (sizes, round counts, stamps, second Gram matrices or models' derived values)",
            ))
        }
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

    /// The exact refactorization of the version before the cached forms: arm a's sums
    /// brought to the current round, V^{-1} by Cholesky, theta = V^{-1} b and the width
    /// matrix V^{-1} W V^{-1} by products.
    fn exact(f: &Forgetting, b: &LinearBase, a: usize) -> (Vec<f64>, Vec<f64>) {
        let (d, lam) = (b.dim, b.lam);
        let s = power(f.gamma, f.rounds - f.stamps[a]);
        let (mut v, mut w) = (b.arms[a].gram.clone(), f.gram2[a].clone());
        scale_data(&mut v, d, s, lam);
        scale_data(&mut w, d, s * s, lam);
        let bb: Vec<f64> = b.arms[a].b.iter().map(|v| s * v).collect();
        from_sums(&v, &w, &bb, d)
    }

    fn from_sums(v: &[f64], w: &[f64], b: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let inv = linalg::spd_inverse(v, d).unwrap();
        let mut theta = vec![0.0; d];
        linalg::matvec(&inv, b, &mut theta);
        let (mut p, mut m) = (vec![0.0; d * d], vec![0.0; d * d]);
        linalg::matmul(&inv, w, &mut p, d, d, d);
        linalg::matmul(&p, &inv, &mut m, d, d, d);
        (theta, m)
    }

    /// |mean - x^T theta| and |width - sqrt(x^T M x)| relative to the scale of the terms.
    fn errors(
        f: &Forgetting,
        b: &LinearBase,
        a: usize,
        x: &[f64],
        want: &(Vec<f64>, Vec<f64>),
    ) -> (f64, f64) {
        let (mean, width) = f.mean_width(&b.arms, b.lam, a, x, true);
        let d = x.len();
        let m_want = linalg::dot(x, &want.0);
        let scale: f64 = x
            .iter()
            .zip(&want.0)
            .map(|(u, v)| (u * v).abs())
            .sum::<f64>();
        let mut scratch = vec![0.0; d];
        let w_want = linalg::quad_form(&want.1, x, &mut scratch).sqrt();
        (
            (mean - m_want).abs() / scale.max(1e-300),
            (width - w_want).abs() / w_want,
        )
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
    fn the_sums_and_scores_equal_the_discounted_sums_written_out_single_and_batched() {
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
        fb.update_rows(&mut batched, &view[..100]);
        fb.update_rows(&mut batched, &view[100..101]);
        fb.update_rows(&mut batched, &view[101..]);
        // The batch is the loop, bit for bit.
        assert_eq!(single, batched);
        assert_eq!(fs, fb);
        let x: Vec<f64> = (0..d).map(|i| 0.3 - 0.1 * i as f64).collect();
        let theta = fs.coefficients(&single);
        for a in 0..k {
            // The sums at the stamp, brought to the round, are the written-out ones.
            let s = power(gamma, fs.rounds - fs.stamps[a]);
            let (mut v, mut w) = (single.arms[a].gram.clone(), fs.gram2[a].clone());
            scale_data(&mut v, d, s, lam);
            scale_data(&mut w, d, s * s, lam);
            let bb: Vec<f64> = single.arms[a].b.iter().map(|v| s * v).collect();
            assert!(close(&v, &want[a].0, 1e-9), "arm {a}");
            assert!(close(&w, &want[a].1, 1e-9), "arm {a}");
            assert!(close(&bb, &want[a].2, 1e-9), "arm {a}");
            // Scores and coefficients from the written-out sums.
            let exact = from_sums(&want[a].0, &want[a].1, &want[a].2, d);
            let (em, ew) = errors(&fs, &single, a, &x, &exact);
            assert!(em < 1e-9 && ew < 1e-9, "arm {a}: {em} {ew}");
            assert!(close(&theta[a * d..(a + 1) * d], &exact.0, 1e-9));
        }
        // The idle arm was last played long ago: its stamp is old.
        assert!(fs.rounds - fs.stamps[k - 1] > 100);
        fs.check(&single).unwrap();
        single.check().unwrap();
        // A wrong discount of W (gamma instead of gamma^2) is far from it.
        let wrong = brute(&rows, k, d, lam, gamma.sqrt());
        assert!(!close(&fs.gram2[0], &wrong[0].0, 1e-3));
    }

    #[test]
    fn scores_equal_the_exact_refactorization_across_dimensions_discounts_and_idle_spans() {
        let mut worst = (0.0f64, 0.0f64);
        for d in [3usize, 20, 64] {
            for gamma in [0.9, 0.99, 0.999] {
                let (k, lam) = (4, 0.5);
                let mut b = base(k, d, lam);
                let mut f = Forgetting::new(gamma, &b).unwrap();
                let mut rng = Rng::seed_from_u64(d as u64 * 1000 + (gamma * 1000.0) as u64);
                let row = |rng: &mut Rng| -> (Vec<f64>, f64, f64) {
                    let x: Vec<f64> = (0..d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                    (x, rng.uniform(), 0.25 + 2.0 * rng.uniform())
                };
                // Every arm gets 3 d rows, then arm 3 idles while the others play; checked
                // after 0, 1, 10, 100, 1000 and 10^4 idle rounds.
                for i in 0..4 * 3 * d {
                    let (x, r, w) = row(&mut rng);
                    f.update(&mut b, i % k, &x, r, w);
                }
                let mut idle = 0u64;
                for target in [0u64, 1, 10, 100, 1000, 10_000] {
                    while idle < target {
                        let (x, r, w) = row(&mut rng);
                        f.update(&mut b, (idle % 3) as usize, &x, r, w);
                        idle += 1;
                    }
                    assert_eq!(f.rounds - f.stamps[3], idle);
                    for a in 0..k {
                        let want = exact(&f, &b, a);
                        let theta = f.coefficients(&b);
                        assert!(close(&theta[a * d..(a + 1) * d], &want.0, 1e-9));
                        for _ in 0..3 {
                            let x: Vec<f64> = (0..d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                            let (em, ew) = errors(&f, &b, a, &x, &want);
                            assert!(
                                em < 1e-9 && ew < 1e-9,
                                "d {d} gamma {gamma} idle {idle} arm {a}: {em} {ew}"
                            );
                            worst = (worst.0.max(em), worst.1.max(ew));
                        }
                    }
                }
                f.check(&b).unwrap();
            }
        }
        // Measured: means within 9e-15 and widths within 5e-15 of the refactorization.
        println!(
            "worst relative errors: mean {:.1e}, width {:.1e}",
            worst.0, worst.1
        );
    }

    #[test]
    fn a_million_rounds_at_gamma_0_999_keep_every_score_finite_and_exact() {
        // Contexts along two directions mostly (a nearly singular G), long idle spans for
        // arm 1, a fifth of the rounds single updates and the rest batches of 1000 rows;
        // every 1000 rounds both arms are scored against the exact refactorization.
        let (k, d, lam, gamma) = (2, 3, 1.0, 0.999);
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
        let q = [0.3, -0.7, 0.2];
        let mut worst = 0.0f64;
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
            if i % 1000 == 0 {
                for a in 0..k {
                    if b.arms[a].n == 0 {
                        continue;
                    }
                    let t = f.cache(&b.arms, lam, a);
                    assert!(t.diag.iter().chain(&t.off).all(|v| v.is_finite()));
                    let (mean, width) = f.mean_width(&b.arms, lam, a, &q, true);
                    assert!(mean.is_finite() && width.is_finite() && width > 0.0);
                    // Every eigenvalue of V is >= lam: the width is at most |x| / sqrt(lam).
                    assert!(width <= linalg::dot(&q, &q).sqrt() / lam.sqrt() * (1.0 + 1e-12));
                    let (em, ew) = errors(&f, &b, a, &q, &exact(&f, &b, a));
                    worst = worst.max(em).max(ew);
                }
            }
        }
        assert!(worst < 1e-9, "{worst}");
        assert_eq!(b.t, n);
        b.check().unwrap();
        f.check(&b).unwrap();
        for a in 0..k {
            // V <= lam I + sum_k gamma^k |x|^2 I.
            let bound = lam + 27.0 / (1.0 - gamma);
            assert!(b.arms[a].gram.iter().all(|v| v.abs() <= bound));
            assert!(linalg::cholesky(&f.gram2[a], d).is_some(), "arm {a}");
        }
    }

    /// T u for the tridiagonal T of `t`.
    fn tri_times(t: &Tridiagonal, u: &[f64]) -> Vec<f64> {
        let d = u.len();
        (0..d)
            .map(|i| {
                let mut v = t.diag[i] * u[i];
                if i > 0 {
                    v += t.off[i - 1] * u[i - 1];
                }
                if i + 1 < d {
                    v += t.off[i] * u[i + 1];
                }
                v
            })
            .collect()
    }

    #[test]
    fn the_tridiagonal_form_reconstructs_g_and_solves_v() {
        let mut rng = Rng::seed_from_u64(4);
        for d in [1, 2, 3, 7, 20, 33] {
            // B B^T with a wide spread of eigenvalues and rank about d / 2, plus lam I.
            let lam = 0.1;
            let bm: Vec<f64> = (0..d * d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let mut g = prior(d, lam);
            for i in 0..d / 2 + 1 {
                linalg::add_sym_outer(&mut g, &bm[i * d..(i + 1) * d], 10f64.powi(i as i32 % 5));
            }
            let t = Tridiagonal::of(&g, d, lam);
            let mut piv = vec![0.0; d];
            for j in 0..d {
                // Q T Q^T e_j = G e_j - lam e_j, and Q^T keeps lengths.
                let mut u = vec![0.0; d];
                u[j] = 1.0;
                t.apply_qt(&mut u);
                assert!((linalg::dot(&u, &u) - 1.0).abs() < 1e-13);
                let mut col = tri_times(&t, &u);
                t.apply_q(&mut col);
                for i in 0..d {
                    let want = g[i * d + j] - if i == j { lam } else { 0.0 };
                    assert!((col[i] - want).abs() < 1e-11 * 1e4, "d {d}");
                }
                // V(s)^{-1} e_j against the inverse of s G + lam I.
                for s in [1.0, 0.3, 1e-5, 0.0] {
                    let mut vs = g.clone();
                    scale_data(&mut vs, d, s, lam);
                    let inv = linalg::spd_inverse(&vs, d).unwrap();
                    let mut u = vec![0.0; d];
                    u[j] = 1.0;
                    t.inverse_times(s, lam, &mut u, &mut piv);
                    for i in 0..d {
                        assert!((u[i] - inv[i * d + j]).abs() < 1e-9 * inv[j * d + j].abs());
                    }
                }
            }
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
        let theta = f.coefficients(&b);
        let x = [0.2, -0.4, 0.9];
        for a in 0..k {
            assert!(close(
                &theta[a * d..(a + 1) * d],
                &ridge.arms[a].theta,
                1e-10
            ));
            // Unit weights: W = V, so the width is LinUCB's.
            let (mean, width) = f.mean_width(&b.arms, lam, a, &x, true);
            let (rm, rw) = ridge.arms[a].mean_width(&x);
            assert!((mean - rm).abs() < 1e-10 && (width - rw).abs() < 1e-10);
        }
        for bad in [0.0, -0.5, 1.0 + 1e-12, f64::NAN, f64::INFINITY] {
            assert!(check_decay(Some(bad)).is_err());
        }
        assert!(check_decay(None).is_ok() && check_decay(Some(1e-300)).is_ok());
    }

    #[test]
    fn an_arm_long_idle_fades_to_the_prior_and_a_fresh_arm_is_the_prior() {
        let (k, d, lam) = (3, 4, 2.0);
        let mut b = base(k, d, lam);
        let mut f = Forgetting::new(0.5, &b).unwrap();
        let x = [1.0, -0.5, 0.25, 2.0];
        f.update(&mut b, 0, &x, 1.0, 1.0);
        for _ in 0..3000 {
            f.update(&mut b, 1, &x, 0.0, 1.0);
        }
        // 0.5^3000 underflows: arm 0 is the prior again, arm 2 never left it.
        let prior_width = (linalg::dot(&x, &x) / lam).sqrt();
        for a in [0, 2] {
            let (mean, width) = f.mean_width(&b.arms, lam, a, &x, true);
            assert_eq!(mean, 0.0);
            assert!((width - prior_width).abs() < 1e-12 * prior_width);
        }
        // Caches follow the arms when arms come and go.
        f.on_add_arm(&b);
        b.arms.push(RidgeModel::new(d, lam));
        f.on_remove_arm(0);
        b.t -= b.arms.remove(0).n;
        f.update(&mut b, 2, &x, 1.0, 1.0);
        f.check(&b).unwrap();
        let want = exact(&f, &b, 2);
        let (em, ew) = errors(&f, &b, 2, &x, &want);
        assert!(em < 1e-12 && ew < 1e-12);
    }
}
