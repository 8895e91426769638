//! Hybrid LinUCB (Li, Chu, Langford and Schapire 2010, Algorithm 2): a reward model with
//! coefficients beta shared by all arms on features z and per-arm coefficients theta_a on
//! features x, r = z^T beta + x^T theta_a + noise.
//!
//! The state is the raw sufficient statistics (so that `merge` is exact): per arm
//! A_a = lam I + sum x x^T, B_a = sum x z^T, b_a = sum r x, and shared C = sum z z^T,
//! c = sum r z. The paper's A_0 and b_0 are their Schur complements,
//! A_0 = lam I + C - sum_a B_a^T A_a^{-1} B_a and b_0 = c - sum_a B_a^T A_a^{-1} b_a, kept
//! as the sum of per-arm contributions so that an update recomputes only its arm's. With
//! beta = A_0^{-1} b_0 and theta_a = A_a^{-1}(b_a - B_a beta), the paper's variance term
//! simplifies to s = (z - G_a^T x)^T A_0^{-1} (z - G_a^T x) + x^T A_a^{-1} x, G_a = A_a^{-1} B_a.
//! With no shared features (k = 0) it is exactly disjoint LinUCB.

// Index loops read as the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::{ridge, CONTEXT_LIMIT, LAM_RANGE, REFACTOR_EVERY, WEIGHT_LIMIT};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::linalg;
use crate::policy::{check_room, REWARD_LIMIT};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::{argmax_distribution, argmax_random_ties};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HybridArm {
    /// A_a (d x d), its inverse, B_a (d x k), b_a (d).
    pub gram: Vec<f64>,
    pub a_inv: Vec<f64>,
    pub cross: Vec<f64>,
    pub b: Vec<f64>,
    /// Derived: G_a = A_a^{-1} B_a (d x k), u_a = A_a^{-1} b_a (d), the arm's Schur
    /// contributions S_a = B_a^T G_a (k x k) and t_a = B_a^T u_a (k).
    pub g: Vec<f64>,
    pub u: Vec<f64>,
    pub s: Vec<f64>,
    pub t: Vec<f64>,
    /// The arm's rows' shared-feature sums: sum z z^T (k x k) and sum r z (k). Kept per
    /// arm so that removing an arm removes its rows exactly.
    pub zz: Vec<f64>,
    pub rz: Vec<f64>,
    pub n: u64,
    pub since_refactor: u64,
}

impl HybridArm {
    fn new(d: usize, k: usize, lam: f64) -> Self {
        let mut gram = vec![0.0; d * d];
        let mut a_inv = vec![0.0; d * d];
        for i in 0..d {
            gram[i * d + i] = lam;
            a_inv[i * d + i] = 1.0 / lam;
        }
        HybridArm {
            gram,
            a_inv,
            cross: vec![0.0; d * k],
            b: vec![0.0; d],
            g: vec![0.0; d * k],
            u: vec![0.0; d],
            s: vec![0.0; k * k],
            t: vec![0.0; k],
            zz: vec![0.0; k * k],
            rz: vec![0.0; k],
            n: 0,
            since_refactor: 0,
        }
    }

    /// Recompute G, u, S, t from A^{-1}, B, b.
    fn refresh(&mut self, d: usize, k: usize) {
        if k > 0 {
            linalg::matmul(&self.a_inv, &self.cross, &mut self.g, d, d, k);
        }
        let mut u = vec![0.0; d];
        linalg::matvec(&self.a_inv, &self.b, &mut u);
        self.u = u;
        for i in 0..k {
            for j in 0..k {
                let mut acc = 0.0;
                for r in 0..d {
                    acc += self.cross[r * k + i] * self.g[r * k + j];
                }
                self.s[i * k + j] = acc;
            }
            let mut acc = 0.0;
            for r in 0..d {
                acc += self.cross[r * k + i] * self.u[r];
            }
            self.t[i] = acc;
        }
    }

    fn refactor(&mut self, d: usize) {
        if let Some(inv) = linalg::spd_inverse(&self.gram, d) {
            self.a_inv = inv;
        }
        self.since_refactor = 0;
    }

    fn add(&mut self, x: &[f64], z: &[f64], r: f64, w: f64, d: usize, k: usize) {
        for i in 0..d {
            let wxi = w * x[i];
            for j in 0..d {
                self.gram[i * d + j] += wxi * x[j];
            }
            for j in 0..k {
                self.cross[i * k + j] += wxi * z[j];
            }
            self.b[i] += wxi * r;
        }
        for p in 0..k {
            let wzp = w * z[p];
            for q in 0..k {
                self.zz[p * k + q] += wzp * z[q];
            }
            self.rz[p] += wzp * r;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HybridParams {
    pub alpha: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HybridLinUCB {
    rng: Rng,
    dim: usize,
    shared_dim: usize,
    lam: f64,
    params: HybridParams,
    arms: Vec<HybridArm>,
    /// Derived: A_0^{-1} and beta.
    a0_inv: Vec<f64>,
    beta: Vec<f64>,
    n_updates: u64,
}

/// One decision's features: x and z either shared by all arms or given per arm.
#[derive(Clone, Copy)]
pub struct HybridContext<'a> {
    pub x: &'a [f64],
    pub x_per_arm: bool,
    pub z: &'a [f64],
    pub z_per_arm: bool,
}

impl<'a> HybridContext<'a> {
    #[inline]
    fn x(&self, arm: usize, d: usize) -> &'a [f64] {
        if self.x_per_arm {
            &self.x[arm * d..(arm + 1) * d]
        } else {
            self.x
        }
    }
    #[inline]
    fn z(&self, arm: usize, k: usize) -> &'a [f64] {
        if self.z_per_arm {
            &self.z[arm * k..(arm + 1) * k]
        } else {
            self.z
        }
    }
}

/// How a batch of n rows lays out x (or z): one vector per row, or one per row and arm.
fn layout(argument: &str, len: usize, n: usize, n_arms: usize, width: usize) -> Result<bool> {
    if width == 0 {
        return Ok(false);
    }
    if len == n * width {
        Ok(false)
    } else if len == n * n_arms * width {
        Ok(true)
    } else {
        Err(Error::shape(
            argument,
            format!("expected ({n}, {width}) or ({n}, {n_arms}, {width}) values, got {len} in all"),
        ))
    }
}

impl HybridLinUCB {
    pub fn new(
        n_arms: usize,
        dim: usize,
        shared_dim: usize,
        alpha: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        if n_arms == 0 {
            return Err(Error::param("n_arms", "must be at least 1, got 0"));
        }
        if dim == 0 {
            return Err(Error::param("dim", "must be at least 1, got 0"));
        }
        if !(LAM_RANGE.0..=LAM_RANGE.1).contains(&lam) {
            return Err(Error::param_got(
                "lam",
                "must be a number in [1e-30, 1e30]",
                lam,
            ));
        }
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(Error::param_got(
                "alpha",
                "must be a finite number >= 0",
                alpha,
            ));
        }
        let k = shared_dim;
        // Per arm: d x d, d x k and k x k matrices (two of each) and a few vectors.
        crate::limits::check_alloc(
            "shared_dim",
            &[k.saturating_add(1), k.saturating_add(1)],
            32,
        )?;
        let side = dim.saturating_add(k).saturating_add(1);
        crate::limits::check_alloc("dim", &[side, side], 16)?;
        crate::limits::check_alloc("n_arms", &[n_arms, side, side], 16)?;
        let mut p = HybridLinUCB {
            rng: Rng::from_optional_seed(seed),
            dim,
            shared_dim: k,
            lam,
            params: HybridParams { alpha },
            arms: vec![HybridArm::new(dim, k, lam); n_arms],
            a0_inv: vec![0.0; k * k],
            beta: vec![0.0; k],
            n_updates: 0,
        };
        p.refresh_shared();
        Ok(p)
    }

    pub fn n_arms(&self) -> usize {
        self.arms.len()
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn shared_dim(&self) -> usize {
        self.shared_dim
    }
    pub fn n_updates(&self) -> u64 {
        self.n_updates
    }
    pub fn counts(&self) -> Vec<u64> {
        self.arms.iter().map(|a| a.n).collect()
    }
    pub fn describe_params(&self) -> String {
        format!("alpha={}, lam={}", self.params.alpha, self.lam)
    }
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }
    /// beta, the shared coefficients.
    pub fn shared_coefficients(&self) -> &[f64] {
        &self.beta
    }
    /// theta_a = u_a - G_a beta for every arm, (K x d) row-major.
    pub fn coefficients(&self) -> Vec<f64> {
        let (d, k) = (self.dim, self.shared_dim);
        let mut out = Vec::with_capacity(self.arms.len() * d);
        for a in &self.arms {
            for i in 0..d {
                out.push(a.u[i] - linalg::dot(&a.g[i * k..(i + 1) * k], &self.beta));
            }
        }
        out
    }

    /// A_0 = lam I + C - sum S_a, b_0 = c - sum t_a; then A_0^{-1} and beta.
    fn refresh_shared(&mut self) {
        let k = self.shared_dim;
        if k == 0 {
            return;
        }
        let mut a0 = vec![0.0; k * k];
        let mut b0 = vec![0.0; k];
        for i in 0..k {
            a0[i * k + i] = self.lam;
        }
        for arm in &self.arms {
            for ((x, zz), s) in a0.iter_mut().zip(&arm.zz).zip(&arm.s) {
                *x += zz - s;
            }
            for ((x, rz), t) in b0.iter_mut().zip(&arm.rz).zip(&arm.t) {
                *x += rz - t;
            }
        }
        // Exact symmetry before the factorization (the per-arm terms are symmetric only up
        // to rounding).
        for i in 0..k {
            for j in 0..i {
                let v = 0.5 * (a0[i * k + j] + a0[j * k + i]);
                a0[i * k + j] = v;
                a0[j * k + i] = v;
            }
        }
        if let Some(inv) = linalg::spd_inverse(&a0, k) {
            self.a0_inv = inv;
            let mut beta = vec![0.0; k];
            linalg::matvec(&self.a0_inv, &b0, &mut beta);
            self.beta = beta;
        }
    }

    /// (mean, variance term s) of arm a for one context.
    fn arm_stats(&self, a: usize, ctx: &HybridContext, scratch: &mut Scratch) -> (f64, f64) {
        let (d, k) = (self.dim, self.shared_dim);
        let arm = &self.arms[a];
        let x = ctx.x(a, d);
        let z = ctx.z(a, k);
        let xa = linalg::quad_form(&arm.a_inv, x, &mut scratch.d);
        let mut mean = linalg::dot(x, &arm.u);
        if k == 0 {
            return (mean, xa);
        }
        // gx = G_a^T x, then e = z - gx.
        for j in 0..k {
            let mut acc = 0.0;
            for i in 0..d {
                acc += arm.g[i * k + j] * x[i];
            }
            scratch.e[j] = z[j] - acc;
        }
        // mean = z^T beta + x^T u - gx^T beta = e^T beta + x^T u.
        mean += linalg::dot(&scratch.e, &self.beta);
        let s = linalg::quad_form(&self.a0_inv, &scratch.e, &mut scratch.k) + xa;
        (mean, s)
    }

    fn score_row(&self, ctx: &HybridContext, out: &mut [f64], scratch: &mut Scratch) {
        for (a, o) in out.iter_mut().enumerate() {
            let (m, s) = self.arm_stats(a, ctx, scratch);
            *o = m + self.params.alpha * s.max(0.0).sqrt();
        }
    }

    fn check_row(&self, ctx: &HybridContext) -> Result<()> {
        let within = |v: &f64| v.abs() <= CONTEXT_LIMIT;
        if let Some(i) = ctx.x.iter().position(|v| !within(v)) {
            return Err(Error::param(
                "x",
                format!(
                    "value {i} is {}; contexts must be finite with |value| <= 1e30",
                    crate::error::show(ctx.x[i])
                ),
            ));
        }
        if let Some(i) = ctx.z.iter().position(|v| !within(v)) {
            return Err(Error::param(
                "z",
                format!(
                    "value {i} is {}; contexts must be finite with |value| <= 1e30",
                    crate::error::show(ctx.z[i])
                ),
            ));
        }
        Ok(())
    }

    /// One decision.
    pub fn select<'a>(&mut self, x: &'a [f64], z: &'a [f64]) -> Result<usize> {
        let ctx = self.context(x, z, 1)?;
        self.check_row(&ctx)?;
        let mut scores = vec![0.0; self.arms.len()];
        let mut scratch = Scratch::new(self.dim, self.shared_dim);
        self.score_row(&ctx, &mut scores, &mut scratch);
        Ok(argmax_random_ties(scores.iter().copied(), &mut self.rng))
    }

    /// Validates the layout of `n` rows of x and z.
    pub fn context<'a>(&self, x: &'a [f64], z: &'a [f64], n: usize) -> Result<HybridContext<'a>> {
        let (d, k, kk) = (self.dim, self.shared_dim, self.arms.len());
        let x_per_arm = layout("x", x.len(), n, kk, d)?;
        let z_per_arm = layout("z", z.len(), n, kk, k)?;
        Ok(HybridContext {
            x,
            x_per_arm,
            z,
            z_per_arm,
        })
    }

    fn row<'a>(&self, ctx: &HybridContext<'a>, i: usize) -> HybridContext<'a> {
        let (d, k, kk) = (self.dim, self.shared_dim, self.arms.len());
        let xw = if ctx.x_per_arm { kk * d } else { d };
        let zw = if ctx.z_per_arm { kk * k } else { k };
        HybridContext {
            x: &ctx.x[i * xw..(i + 1) * xw],
            x_per_arm: ctx.x_per_arm,
            z: &ctx.z[i * zw..(i + 1) * zw],
            z_per_arm: ctx.z_per_arm,
        }
    }

    /// Per-arm scores (n x K) for n rows.
    pub fn scores_batch(&self, x: &[f64], z: &[f64], n: usize) -> Result<Vec<f64>> {
        self.map_rows(x, z, n, |p, ctx, out, s| p.score_row(ctx, out, s))
    }

    /// Per-arm means (n x K).
    pub fn mean_batch(&self, x: &[f64], z: &[f64], n: usize) -> Result<Vec<f64>> {
        self.map_rows(x, z, n, |p, ctx, out, s| {
            for (a, o) in out.iter_mut().enumerate() {
                *o = p.arm_stats(a, ctx, s).0;
            }
        })
    }

    /// Per-arm confidence widths sqrt(s) (n x K).
    pub fn width_batch(&self, x: &[f64], z: &[f64], n: usize) -> Result<Vec<f64>> {
        self.map_rows(x, z, n, |p, ctx, out, s| {
            for (a, o) in out.iter_mut().enumerate() {
                *o = p.arm_stats(a, ctx, s).1.max(0.0).sqrt();
            }
        })
    }

    pub fn probabilities_batch(&self, x: &[f64], z: &[f64], n: usize) -> Result<Vec<f64>> {
        self.map_rows(x, z, n, |p, ctx, out, s| {
            p.score_row(ctx, out, s);
            let pr = argmax_distribution(out);
            out.copy_from_slice(&pr);
        })
    }

    fn map_rows(
        &self,
        x: &[f64],
        z: &[f64],
        n: usize,
        f: impl Fn(&Self, &HybridContext, &mut [f64], &mut Scratch) + Sync,
    ) -> Result<Vec<f64>> {
        let ctx = self.context(x, z, n)?;
        self.check_row(&ctx)?;
        let kk = self.arms.len();
        crate::limits::check_alloc("X", &[n, kk], 16)?;
        let mut out = vec![0.0; n * kk];
        crate::parallel::install(|| {
            out.par_chunks_mut(kk).enumerate().for_each_init(
                || Scratch::new(self.dim, self.shared_dim),
                |s, (i, row)| f(self, &self.row(&ctx, i), row, s),
            )
        });
        Ok(out)
    }

    pub fn select_batch(&mut self, x: &[f64], z: &[f64], n: usize) -> Result<Vec<usize>> {
        let ctx = self.context(x, z, n)?;
        self.check_row(&ctx)?;
        let mut scores = vec![0.0; self.arms.len()];
        let mut scratch = Scratch::new(self.dim, self.shared_dim);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let row = self.row(&ctx, i);
            self.score_row(&row, &mut scores, &mut scratch);
            out.push(argmax_random_ties(scores.iter().copied(), &mut self.rng));
        }
        Ok(out)
    }

    /// Records n rows (validated first; a failing batch changes nothing).
    pub fn update_batch(
        &mut self,
        x: &[f64],
        z: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let n = arms.len();
        let ctx = self.context(x, z, n)?;
        self.check_row(&ctx)?;
        if rewards.len() != n || weights.is_some_and(|w| w.len() != n) {
            return Err(Error::shape(
                "rewards/weights",
                format!("lengths must match the {n} arms"),
            ));
        }
        let kk = self.arms.len();
        for (i, &a) in arms.iter().enumerate() {
            if a < 0 || a as u64 >= kk as u64 {
                return Err(Error::ArmOutOfRange {
                    argument: "arms".into(),
                    arm: a,
                    n_arms: kk,
                    position: Some(i),
                });
            }
        }
        if let Some(i) = rewards
            .iter()
            .position(|r| !(-REWARD_LIMIT..=REWARD_LIMIT).contains(r))
        {
            return Err(Error::InvalidReward {
                argument: "rewards".into(),
                value: rewards[i],
                position: Some(i),
                expected: "a number in [-1e100, 1e100]".into(),
            });
        }
        if let Some(w) = weights {
            if let Some(i) = w.iter().position(|w| !(0.0..=WEIGHT_LIMIT).contains(w)) {
                return Err(Error::param(
                    "weights",
                    format!(
                        "entry {i} is {}; importance weights must be in [0, 1e30]",
                        crate::error::show(w[i])
                    ),
                ));
            }
        }
        check_room(self.n_updates, n as u64)?;
        let saved = self.clone();
        let (d, k) = (self.dim, self.shared_dim);
        let mut touched = vec![false; kk];
        for i in 0..n {
            let row = self.row(&ctx, i);
            let a = arms[i] as usize;
            let w = weights.map_or(1.0, |w| w[i]);
            let (xa, za) = (row.x(a, d), row.z(a, k));
            self.arms[a].add(xa, za, rewards[i], w, d, k);
            self.arms[a].n += 1;
            touched[a] = true;
        }
        crate::parallel::install(|| {
            self.arms
                .par_iter_mut()
                .zip(touched.par_iter())
                .filter(|(_, &t)| t)
                .for_each(|(arm, _)| {
                    arm.refactor(d);
                    arm.refresh(d, k);
                })
        });
        self.n_updates += n as u64;
        self.refresh_shared();
        self.keep_if_loadable(saved, "X")
    }

    /// One observation: O(d^2 + d^2 k + d k^2 + K k^2 + k^3).
    pub fn update(
        &mut self,
        x: &[f64],
        z: &[f64],
        arm: i64,
        reward: f64,
        weight: f64,
    ) -> Result<()> {
        if x.len() != self.dim || z.len() != self.shared_dim {
            return Err(Error::shape(
                "x/z",
                format!(
                    "expected {} and {} features, got {} and {}",
                    self.dim,
                    self.shared_dim,
                    x.len(),
                    z.len()
                ),
            ));
        }
        let kk = self.arms.len();
        if arm < 0 || arm as u64 >= kk as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm,
                n_arms: kk,
                position: None,
            });
        }
        if !(-REWARD_LIMIT..=REWARD_LIMIT).contains(&reward) {
            return Err(Error::InvalidReward {
                argument: "reward".into(),
                value: reward,
                position: None,
                expected: "a number in [-1e100, 1e100]".into(),
            });
        }
        if !(0.0..=WEIGHT_LIMIT).contains(&weight) {
            return Err(Error::param(
                "weight",
                format!("got {}; must be in [0, 1e30]", crate::error::show(weight)),
            ));
        }
        check_room(self.n_updates, 1)?;
        self.check_row(&HybridContext {
            x,
            x_per_arm: false,
            z,
            z_per_arm: false,
        })?;
        let saved = self.clone();
        let (d, k) = (self.dim, self.shared_dim);
        let a = arm as usize;
        let arm_state = &mut self.arms[a];
        arm_state.add(x, z, reward, weight, d, k);
        arm_state.n += 1;
        if weight > 0.0 {
            let mut v = vec![0.0; d];
            linalg::matvec(&arm_state.a_inv, x, &mut v);
            let q = linalg::dot(x, &v);
            linalg::sherman_morrison(&mut arm_state.a_inv, &v, q, weight);
            arm_state.since_refactor += 1;
            if arm_state.since_refactor >= REFACTOR_EVERY {
                arm_state.refactor(d);
            }
        }
        arm_state.refresh(d, k);
        self.n_updates += 1;
        self.refresh_shared();
        self.keep_if_loadable(saved, "x")
    }

    /// Keeps the result of an update or merge only when it is a state that loads (every
    /// matrix finite, as the decoder checks); otherwise puts `saved` back and refuses.
    /// Rows within the limits only overflow from a state whose derived matrices hold huge
    /// values (bytes that decode but no update produces), so this never refuses a state
    /// that reasonable data led to; it makes the set of loadable states closed under
    /// accepted calls.
    fn keep_if_loadable(&mut self, saved: HybridLinUCB, argument: &str) -> Result<()> {
        if self.check_invariants().is_ok() {
            return Ok(());
        }
        *self = saved;
        Err(Error::param(
            argument,
            "this call would overflow the model's matrices (its state is ill-conditioned); \
             nothing was recorded",
        ))
    }

    pub fn add_arm(&mut self) -> usize {
        self.arms
            .push(HybridArm::new(self.dim, self.shared_dim, self.lam));
        self.arms.len() - 1
    }

    /// Removes arm i and its data (its rows leave the shared statistics too).
    pub fn remove_arm(&mut self, i: i64) -> Result<()> {
        let kk = self.arms.len();
        if i < 0 || i as u64 >= kk as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "arm".into(),
                arm: i,
                n_arms: kk,
                position: None,
            });
        }
        if kk == 1 {
            return Err(Error::param("arm", "cannot remove the last remaining arm"));
        }
        let removed = self.arms.remove(i as usize);
        self.n_updates -= removed.n;
        self.refresh_shared();
        Ok(())
    }

    /// Adds another replica's data: exactly equal to fitting both data sets.
    pub fn merge(&mut self, other: &HybridLinUCB) -> Result<()> {
        if other.arms.len() != self.arms.len()
            || other.dim != self.dim
            || other.shared_dim != self.shared_dim
        {
            return Err(Error::incompatible(format!(
                "other: cannot merge a HybridLinUCB with {} arms, dim={}, shared_dim={} into one \
                 with {} arms, dim={}, shared_dim={}",
                other.arms.len(),
                other.dim,
                other.shared_dim,
                self.arms.len(),
                self.dim,
                self.shared_dim
            )));
        }
        if other.lam != self.lam || other.params != self.params {
            let describe = |p: &HybridLinUCB| format!("alpha={}, lam={}", p.params.alpha, p.lam);
            return Err(crate::error::hyperparameter_mismatch(
                "HybridLinUCB",
                &describe(self),
                &describe(other),
            ));
        }
        let n_updates =
            crate::error::checked_count(self.n_updates, other.n_updates, "update count")?;
        let saved = self.clone();
        let (d, k, lam) = (self.dim, self.shared_dim, self.lam);
        for (a, o) in self.arms.iter_mut().zip(&other.arms) {
            for (i, (g, og)) in a.gram.iter_mut().zip(&o.gram).enumerate() {
                *g += og;
                if i % (d + 1) == 0 {
                    *g -= lam;
                }
            }
            for (c, oc) in a.cross.iter_mut().zip(&o.cross) {
                *c += oc;
            }
            for (b, ob) in a.b.iter_mut().zip(&o.b) {
                *b += ob;
            }
            for (z, oz) in a.zz.iter_mut().zip(&o.zz) {
                *z += oz;
            }
            for (z, oz) in a.rz.iter_mut().zip(&o.rz) {
                *z += oz;
            }
            a.n += o.n;
            a.refactor(d);
            a.refresh(d, k);
        }
        self.n_updates = n_updates;
        self.refresh_shared();
        self.keep_if_loadable(saved, "other")
    }

    /// One decision among the eligible arms: the argmax of the scores over them, ties at
    /// random (see [`crate::eligible`]).
    pub fn select_eligible(&mut self, x: &[f64], z: &[f64], eligible: &Eligible) -> Result<usize> {
        let ctx = self.context(x, z, 1)?;
        self.check_row(&ctx)?;
        eligible.check_arms(self.arms.len())?;
        let mut scores = vec![0.0; self.arms.len()];
        let mut scratch = Scratch::new(self.dim, self.shared_dim);
        self.score_row(&ctx, &mut scores, &mut scratch);
        Ok(eligible.argmax(scores.iter().copied(), &mut self.rng))
    }

    /// `select_batch` restricted to each row's eligible arms (validated first).
    pub fn select_batch_eligible(
        &mut self,
        x: &[f64],
        z: &[f64],
        n: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        let ctx = self.context(x, z, n)?;
        self.check_row(&ctx)?;
        eligible.check(n, self.arms.len())?;
        let mut scores = vec![0.0; self.arms.len()];
        let mut scratch = Scratch::new(self.dim, self.shared_dim);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let row = self.row(&ctx, i);
            self.score_row(&row, &mut scores, &mut scratch);
            out.push(
                eligible
                    .row(i)
                    .argmax(scores.iter().copied(), &mut self.rng),
            );
        }
        Ok(out)
    }

    /// Scores with -inf for each row's ineligible arms.
    pub fn scores_batch_eligible(
        &self,
        x: &[f64],
        z: &[f64],
        n: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<f64>> {
        eligible.check(n, self.arms.len())?;
        let mut s = self.scores_batch(x, z, n)?;
        for (i, row) in s.chunks_exact_mut(self.arms.len()).enumerate() {
            eligible.row(i).mask_scores(row);
        }
        Ok(s)
    }

    /// The law of the restricted decisions: uniform over each row's eligible maximizers.
    pub fn probabilities_batch_eligible(
        &self,
        x: &[f64],
        z: &[f64],
        n: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<f64>> {
        eligible.check(n, self.arms.len())?;
        let mut s = self.scores_batch(x, z, n)?;
        for (i, row) in s.chunks_exact_mut(self.arms.len()).enumerate() {
            let p = eligible.row(i).argmax_distribution(row);
            row.copy_from_slice(&p);
        }
        Ok(s)
    }

    /// The `k` best eligible arms of each row; `k` may not exceed any row's eligible count.
    pub fn top_k_eligible(
        &self,
        x: &[f64],
        z: &[f64],
        n: usize,
        k: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        let kk = self.arms.len();
        eligible.check(n, kk)?;
        super::check_top_k(k, n, kk, eligible)?;
        Ok(super::top_k_rows_eligible(
            &self.scores_batch(x, z, n)?,
            kk,
            k,
            eligible,
        ))
    }

    pub fn top_k(&self, x: &[f64], z: &[f64], n: usize, k: usize) -> Result<Vec<usize>> {
        let kk = self.arms.len();
        if k == 0 || k > kk {
            return Err(Error::param("k", format!("must be in [1, {kk}], got {k}")));
        }
        Ok(super::top_k_rows(&self.scores_batch(x, z, n)?, kk, k))
    }
}

pub struct Scratch {
    d: Vec<f64>,
    e: Vec<f64>,
    k: Vec<f64>,
}

impl Scratch {
    fn new(d: usize, k: usize) -> Self {
        Scratch {
            d: vec![0.0; d],
            e: vec![0.0; k],
            k: vec![0.0; k],
        }
    }
}

impl Persist for HybridLinUCB {
    const KIND: &'static str = "HybridLinUCB";
    fn check_invariants(&self) -> Result<()> {
        let (d, k) = (self.dim, self.shared_dim);
        let arms_ok = !self.arms.is_empty()
            && self.arms.iter().all(|a| {
                a.gram.len() == d * d
                    && a.a_inv.len() == d * d
                    && a.cross.len() == d * k
                    && a.b.len() == d
                    && a.g.len() == d * k
                    && a.u.len() == d
                    && a.s.len() == k * k
                    && a.t.len() == k
                    && a.zz.len() == k * k
                    && a.rz.len() == k
                    && a.gram
                        .iter()
                        .chain(&a.a_inv)
                        .chain(&a.cross)
                        .chain(&a.b)
                        .chain(&a.g)
                        .chain(&a.u)
                        .chain(&a.s)
                        .chain(&a.t)
                        .chain(&a.zz)
                        .chain(&a.rz)
                        .all(|v| v.is_finite())
                    // Not positive definiteness (see `RidgeModel`'s check): a positive
                    // diagonal, which every accepted update keeps.
                    && (0..d).all(|i| a.gram[i * d + i] > 0.0)
                    // The sums' bounds in the arm's row count, as for `RidgeModel` (a row
                    // adds w x x^T, w x z^T, w z z^T: 1e90; w r x, w r z: 1e160), and the
                    // inverse's limit, which updates and merges keep by refusal
                    // (`keep_if_loadable` applies this check to their results).
                    && {
                        let quad = ridge::sum_limit(a.n, ridge::GRAM_ROW_LIMIT);
                        let lin = ridge::sum_limit(a.n, ridge::B_ROW_LIMIT);
                        a.gram.iter().enumerate().all(|(i, g)| {
                            let prior = if i % (d + 1) == 0 { self.lam } else { 0.0 };
                            (g - prior).abs() <= quad
                        }) && a.cross.iter().chain(&a.zz).all(|v| v.abs() <= quad)
                            && a.b.iter().chain(&a.rz).all(|v| v.abs() <= lin)
                            && a.a_inv.iter().all(|v| v.abs() <= ridge::INVERSE_LIMIT)
                    }
            });
        let shared_ok = self.a0_inv.len() == k * k
            && self.beta.len() == k
            && self.a0_inv.iter().chain(&self.beta).all(|v| v.is_finite());
        let counts_ok = self.arms.iter().map(|a| a.n).sum::<u64>() == self.n_updates;
        let params_ok = (LAM_RANGE.0..=LAM_RANGE.1).contains(&self.lam)
            && self.params.alpha.is_finite()
            && self.params.alpha >= 0.0;
        let ok = d > 0 && arms_ok && shared_ok && counts_ok && params_ok && self.rng.is_valid();
        if !ok {
            return Err(Error::state("HybridLinUCB state is inconsistent"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted() -> HybridLinUCB {
        let mut p = HybridLinUCB::new(2, 2, 1, 1.0, 1.0, Some(0)).unwrap();
        for i in 0..6 {
            let x = [1.0, i as f64 * 0.5];
            p.update(&x, &[0.5], i % 2, 1.0, 1.0).unwrap();
        }
        p
    }

    #[test]
    fn sums_beyond_the_row_count_and_an_inverse_beyond_its_limit_do_not_decode() {
        let p = fitted();
        p.check_invariants().unwrap();
        let broken = |f: &dyn Fn(&mut HybridArm)| {
            let mut b = p.clone();
            f(&mut b.arms[0]);
            b.check_invariants().is_err()
        };
        let quad = ridge::sum_limit(3, ridge::GRAM_ROW_LIMIT);
        assert!(broken(&|a| a.gram[1] = f64::MAX));
        assert!(broken(&|a| a.gram[1] = 1.01 * quad));
        assert!(!broken(&|a| a.gram[1] = 0.99 * quad));
        assert!(broken(&|a| a.cross[0] = 1.01 * quad));
        assert!(broken(&|a| a.zz[0] = 1.01 * quad));
        assert!(broken(
            &|a| a.rz[0] = 1.01 * ridge::sum_limit(3, ridge::B_ROW_LIMIT)
        ));
        assert!(broken(&|a| a.a_inv[0] = 1.01 * ridge::INVERSE_LIMIT));
    }

    #[test]
    fn an_update_that_would_overflow_is_refused_and_changes_nothing() {
        // A decodable but indefinite inverse diag(L, -L) at its limit L: for x = (1, 1),
        // x^T A^-1 x = 0 and the Sherman-Morrison step subtracts v v^T with v = (L, -L),
        // taking the inverse to -1e72; the update is refused and the state kept.
        let mut p = fitted();
        let l = ridge::INVERSE_LIMIT;
        p.arms[0].a_inv = vec![l, 0.0, 0.0, -l];
        p.check_invariants().unwrap();
        let before = p.clone();
        let err = p.update(&[1.0, 1.0], &[0.5], 0, 1.0, 1.0).unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
        assert_eq!(p, before);
        // An ordinary row is still accepted.
        p.update(&[0.1, 0.2], &[0.3], 1, 1.0, 1.0).unwrap();
        p.check_invariants().unwrap();
    }
}
