//! Exact GP-UCB on a finite candidate set with the incremental posterior of
//! docs/ALGORITHMS.md 1.1: the normalised covariance rows `g_s` (one per observation, each of
//! length A) are stored, and each observation costs O(A t) with no refactorization.
//!
//! The rows are `G = L^{-1} K_{P,D}` where `L` is the Cholesky factor of `K_PP + noise I`
//! over the observed points `P`; so `L` itself is read back from `G` (row t of `L` is
//! column `x_t` of the first t rows of `G`, with diagonal `sqrt(v_t)`), which is what
//! [`GPUCB::posterior`] needs for arbitrary query points.

use super::{check_index, check_points, check_reward, gp_ucb_beta, Kernel, BLOCK};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::argmax_random_ties;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GPUCB {
    kernel: Kernel,
    x: Vec<f64>,
    d: usize,
    a: usize,
    kdiag: Vec<f64>,
    noise: f64,
    beta_scale: f64,
    delta: f64,
    mean: Vec<f64>,
    var: Vec<f64>,
    /// `t` rows of length A, row-major.
    g: Vec<f64>,
    /// `L^{-1} y` and the diagonal `sqrt(v_s)` of `L`.
    alpha: Vec<f64>,
    ldiag: Vec<f64>,
    pulls: Vec<u64>,
    rewards: Vec<f64>,
    rng: Rng,
}

/// The smallest observation variance, relative to the largest `k(x, x)` (see
/// [`GPUCB::innovation_variance`]).
const JITTER: f64 = 1e-10;

fn check_common(noise: f64, delta: f64, beta_scale: f64) -> Result<()> {
    // A floor on the noise bounds the gains 1 / (var + noise) of the posterior updates.
    if !(1e-30..=1e100).contains(&noise) {
        return Err(Error::param(
            "noise",
            format!(
                "must be a noise variance in [1e-30, 1e100], got {}",
                crate::error::show(noise)
            ),
        ));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::param(
            "delta",
            format!("must be in (0, 1), got {delta}"),
        ));
    }
    if !(beta_scale.is_finite() && beta_scale >= 0.0) {
        return Err(Error::param(
            "beta_scale",
            format!("must be a finite number >= 0, got {beta_scale}"),
        ));
    }
    Ok(())
}

impl GPUCB {
    /// `candidates` is row-major (A, d); `noise` is the noise variance.
    pub fn new(
        candidates: &[f64],
        d: usize,
        kernel: Kernel,
        noise: f64,
        beta_scale: f64,
        delta: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        kernel.validate()?;
        check_common(noise, delta, beta_scale)?;
        let a = check_points("candidates", candidates, d)?;
        if a == 0 {
            return Err(Error::shape(
                "candidates",
                "expected at least one candidate",
            ));
        }
        if a > u32::MAX as usize {
            return Err(Error::shape("candidates", "too many candidates"));
        }
        let kdiag = kernel.diag(candidates, d);
        super::check_kernel_diagonal(&kdiag)?;
        Ok(GPUCB {
            kernel,
            x: candidates.to_vec(),
            d,
            a,
            var: kdiag.clone(),
            kdiag,
            noise,
            beta_scale,
            delta,
            mean: vec![0.0; a],
            g: Vec::new(),
            alpha: Vec::new(),
            ldiag: Vec::new(),
            pulls: Vec::new(),
            rewards: Vec::new(),
            rng: Rng::from_optional_seed(seed),
        })
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
    pub fn t(&self) -> usize {
        self.pulls.len()
    }
    pub fn candidates(&self) -> &[f64] {
        &self.x
    }
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }
    /// Posterior variance of f at every candidate (noise not included), floored at 0.
    pub fn variance(&self) -> Vec<f64> {
        self.var.iter().map(|v| v.max(0.0)).collect()
    }
    pub fn pulls(&self) -> &[u64] {
        &self.pulls
    }
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    pub fn describe_params(&self) -> String {
        format!(
            "kernel={}, noise={}, beta_scale={}, delta={}",
            self.kernel.describe(),
            self.noise,
            self.beta_scale,
            self.delta
        )
    }

    /// The confidence multiplier `beta_t` for the next step.
    pub fn beta(&self) -> f64 {
        gp_ucb_beta(
            self.a,
            self.pulls.len() as u64 + 1,
            self.delta,
            self.beta_scale,
        )
    }

    /// `mu + sqrt(beta_t) sigma` for every candidate.
    pub fn scores(&self) -> Vec<f64> {
        let sb = self.beta().sqrt();
        self.mean
            .iter()
            .zip(&self.var)
            .map(|(m, v)| m + sb * v.max(0.0).sqrt())
            .collect()
    }

    pub fn select(&mut self) -> usize {
        let sb = self.beta().sqrt();
        let (m, v) = (&self.mean, &self.var);
        argmax_random_ties(
            (0..self.a).map(|i| m[i] + sb * v[i].max(0.0).sqrt()),
            &mut self.rng,
        )
    }

    /// The variance `c(x_i) + noise` of an observation at `x_i`, floored at
    /// [`JITTER`] times the largest `k(x, x)`: rounding leaves errors of about `t eps k` in
    /// `c`, and gains `c / v` with a noise far below them grow the rows step after step
    /// until they overflow (a noise of 1e-20 beside kernel values of 1 did in 12 steps).
    /// Inactive whenever the noise is above the floor.
    fn innovation_variance(&self, ci: f64) -> f64 {
        let kmax = self.kdiag.iter().fold(0.0f64, |m, &k| m.max(k));
        (ci.max(0.0) + self.noise).max(JITTER * kmax)
    }

    /// `c(x) = k(x, x_i) - sum_s g_s(x) g_s(x_i)` over the stored rows and `extra` rows.
    fn c_vector(&self, i: usize, extra: &[Vec<f64>]) -> Vec<f64> {
        let (a, d, t) = (self.a, self.d, self.pulls.len());
        let xi = &self.x[i * d..(i + 1) * d];
        let w: Vec<f64> = (0..t).map(|s| self.g[s * a + i]).collect();
        let we: Vec<f64> = extra.iter().map(|r| r[i]).collect();
        let mut c = vec![0.0; a];
        c.par_chunks_mut(BLOCK).enumerate().for_each(|(b, cb)| {
            let j0 = b * BLOCK;
            for (r, cj) in cb.iter_mut().enumerate() {
                let j = j0 + r;
                *cj = self.kernel.eval(&self.x[j * d..(j + 1) * d], xi);
            }
            let n = cb.len();
            for s in 0..t {
                let ws = w[s];
                if ws == 0.0 {
                    continue;
                }
                let row = &self.g[s * a + j0..s * a + j0 + n];
                for (cj, gj) in cb.iter_mut().zip(row) {
                    *cj -= ws * gj;
                }
            }
            for (row, ws) in extra.iter().zip(&we) {
                for (cj, gj) in cb.iter_mut().zip(&row[j0..j0 + n]) {
                    *cj -= ws * gj;
                }
            }
        });
        c
    }

    /// Record `reward` for candidate `index`: one O(A t) incremental step.
    pub fn update(&mut self, index: i64, reward: f64) -> Result<()> {
        let i = check_index(index, self.a)?;
        check_reward(reward)?;
        // The stored rows grow by one candidate row per update (A t values in all).
        self.g.try_reserve(self.a).map_err(|_| {
            Error::memory(
                "update",
                format!(
                    "{} more rows of {} candidates",
                    self.pulls.len() + 1,
                    self.a
                ),
            )
        })?;
        let c = self.c_vector(i, &[]);
        let v = self.innovation_variance(c[i]);
        let sv = v.sqrt();
        let r = reward - self.mean[i];
        let f = r / v;
        // A kernel matrix too ill-conditioned for the noise (a tiny noise beside large
        // kernel values) lets rounding grow the rows until an update overflows: refuse that
        // update, before anything changes, with exactly the values it would store.
        let finite = (r / sv).is_finite()
            && c.par_iter()
                .zip(self.mean.par_iter().zip(self.var.par_iter()))
                .with_min_len(BLOCK)
                .all(|(cj, (m, s2))| {
                    (m + cj * f).is_finite()
                        && (s2 - cj * cj / v).is_finite()
                        && (cj / sv).is_finite()
                });
        if !finite {
            return Err(Error::InvalidReward {
                argument: "reward".into(),
                value: reward,
                position: None,
                expected: format!(
                    "one the posterior can record: it would overflow at candidate {i} (the \
                     kernel matrix is too ill-conditioned for noise={}; raise the noise or \
                     rescale the kernel)",
                    crate::error::show(self.noise)
                ),
            });
        }
        self.mean
            .par_iter_mut()
            .zip(self.var.par_iter_mut())
            .zip(c.par_iter())
            .with_min_len(BLOCK)
            .for_each(|((m, s2), cj)| {
                *m += cj * f;
                *s2 -= cj * cj / v;
            });
        self.g.extend(c.iter().map(|cj| cj / sv));
        self.alpha.push(r / sv);
        self.ldiag.push(sv);
        self.pulls.push(i as u64);
        self.rewards.push(reward);
        Ok(())
    }

    /// `b` distinct candidates for parallel evaluation: each pick is the UCB argmax, after
    /// which the variances are updated as if it had been observed (the mean, and so the
    /// fantasized reward, stays at the posterior mean; beta_t is that of the next step).
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
        // One row of A values per chosen candidate but the last.
        crate::limits::check_alloc("b", &[b, self.a], 8)?;
        let sb = self.beta().sqrt();
        let mut var = self.var.clone();
        let mut extra: Vec<Vec<f64>> = Vec::new();
        let mut chosen = vec![false; self.a];
        let mut out = Vec::with_capacity(b);
        for k in 0..b {
            let (m, vr, ch) = (&self.mean, &var, &chosen);
            let i = argmax_random_ties(
                (0..self.a).map(|j| {
                    if ch[j] {
                        f64::NAN
                    } else {
                        m[j] + sb * vr[j].max(0.0).sqrt()
                    }
                }),
                &mut self.rng,
            );
            chosen[i] = true;
            out.push(i);
            if k + 1 < b {
                let c = self.c_vector(i, &extra);
                let v = self.innovation_variance(c[i]);
                for (s2, cj) in var.iter_mut().zip(&c) {
                    *s2 -= cj * cj / v;
                }
                let sv = v.sqrt();
                extra.push(c.into_iter().map(|cj| cj / sv).collect());
            }
        }
        Ok(out)
    }

    /// Posterior mean and variance of f at arbitrary row-major query points `xq` (n, d).
    pub fn posterior(&self, xq: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = check_points("X", xq, self.d)?;
        let (a, d, t) = (self.a, self.d, self.pulls.len());
        // The (n x t) cross-covariances with the observed points.
        crate::limits::check_alloc("X", &[n, t.max(1)], 16)?;
        if t == 0 {
            return Ok((vec![0.0; n], self.kernel.diag(xq, d)));
        }
        let xp: Vec<f64> = self
            .pulls
            .iter()
            .flat_map(|&p| self.x[p as usize * d..(p as usize + 1) * d].iter().copied())
            .collect();
        let kq = self.kernel.block(xq, &xp, d);
        let qdiag = self.kernel.diag(xq, d);
        // Packed lower-triangular L: row s holds L[s][0..=s].
        let mut l = Vec::with_capacity(t * (t + 1) / 2);
        for (s, &p) in self.pulls.iter().enumerate() {
            for q in 0..s {
                l.push(self.g[q * a + p as usize]);
            }
            l.push(self.ldiag[s]);
        }
        let mut mean = vec![0.0; n];
        let mut var = vec![0.0; n];
        mean.par_iter_mut()
            .zip(var.par_iter_mut())
            .zip(kq.par_chunks(t))
            .zip(qdiag.par_iter())
            .for_each(|(((m, v), kr), kd)| {
                let mut h = vec![0.0; t];
                let mut off = 0;
                for s in 0..t {
                    let row = &l[off..off + s];
                    let acc: f64 = row.iter().zip(&h[..s]).map(|(x, y)| x * y).sum();
                    h[s] = (kr[s] - acc) / l[off + s];
                    off += s + 1;
                }
                *m = crate::linalg::dot(&h, &self.alpha);
                *v = (kd - crate::linalg::dot(&h, &h)).max(0.0);
            });
        Ok((mean, var))
    }
}

impl Persist for GPUCB {
    const KIND: &'static str = "GPUCB";
    fn check_invariants(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::state(format!("GPUCB: {m}")));
        self.kernel.validate()?;
        check_common(self.noise, self.delta, self.beta_scale)?;
        super::check_kernel_diagonal(&self.kdiag)?;
        let t = self.pulls.len();
        if self.d == 0 || self.a == 0 || self.x.len() != self.a.saturating_mul(self.d) {
            return bad("candidate matrix and its shape disagree");
        }
        if self.kdiag.len() != self.a || self.mean.len() != self.a || self.var.len() != self.a {
            return bad("per-candidate vectors have the wrong length");
        }
        if self.g.len() != t.saturating_mul(self.a)
            || self.alpha.len() != t
            || self.ldiag.len() != t
            || self.rewards.len() != t
        {
            return bad("history lengths disagree");
        }
        if self.pulls.iter().any(|&p| p >= self.a as u64) {
            return bad("a recorded index is out of range");
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.x)
            && finite(&self.kdiag)
            && finite(&self.mean)
            && finite(&self.var)
            && finite(&self.g)
            && finite(&self.alpha)
            && finite(&self.rewards))
            || self.ldiag.iter().any(|v| !(v.is_finite() && *v > 0.0))
        {
            return bad("non-finite values");
        }
        if !self.rng.is_valid() {
            return bad("invalid generator state");
        }
        Ok(())
    }
}

impl GPUCB {
    /// Decode and rebuild the posterior from the recorded history.
    ///
    /// The stored means, variances, rows `g_s`, `alpha` and the diagonal of `L` are derived
    /// from `(pulls, rewards)`; bytes with a valid checksum can still hold finite derived
    /// values that disagree with that history, and the next update could then overflow. So
    /// the history is replayed through [`GPUCB::update`] from the prior (the same
    /// operations in the same order, so a state written by this code is rebuilt bit for
    /// bit) and the stored derived values are discarded. Costs the `O(A t^2)` of the
    /// updates that made the state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let stored: GPUCB = crate::state::decode(bytes)?;
        stored
            .replayed()
            .map_err(|e| Error::state(format!("GPUCB: {e}")))
    }

    fn replayed(mut self) -> Result<Self> {
        let pulls = std::mem::take(&mut self.pulls);
        let rewards = std::mem::take(&mut self.rewards);
        let kdiag = self.kernel.diag(&self.x, self.d);
        super::check_kernel_diagonal(&kdiag)?;
        let mut p = GPUCB {
            var: kdiag.clone(),
            kdiag,
            mean: vec![0.0; self.a],
            g: Vec::with_capacity(self.g.len()),
            alpha: Vec::with_capacity(pulls.len()),
            ldiag: Vec::with_capacity(pulls.len()),
            pulls: Vec::with_capacity(pulls.len()),
            rewards: Vec::with_capacity(pulls.len()),
            ..self
        };
        for (&i, &r) in pulls.iter().zip(&rewards) {
            // In range: check_invariants compared every index with A.
            p.update(i as i64, r)?;
        }
        p.check_invariants()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(a: usize) -> Vec<f64> {
        (0..a).map(|i| i as f64 / (a - 1) as f64).collect()
    }

    #[test]
    fn incremental_posterior_equals_the_closed_form() {
        let x = grid(30);
        let k = Kernel::from_spec("rbf", 0.2, 1.0, 1.0, 0.0).unwrap();
        let mut p = GPUCB::new(&x, 1, k, 0.01, 1.0, 0.1, Some(1)).unwrap();
        for (i, y) in [(3, 0.5), (17, -0.2), (3, 0.4), (29, 1.0)] {
            p.update(i, y).unwrap();
        }
        let (m, v) = p.posterior(&x).unwrap();
        for j in 0..30 {
            assert!((m[j] - p.mean()[j]).abs() < 1e-10);
            assert!((v[j] - p.variance()[j]).abs() < 1e-10);
        }
        let b = p.select_batch(5).unwrap();
        let mut s = b.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 5);
    }

    /// Bytes whose derived posterior disagrees with the recorded history (a valid CRC) load
    /// as the posterior of that history: before the rebuild, a mean of 1e300 or rows of
    /// another history loaded and the next update made the state non-finite.
    #[test]
    fn loading_rebuilds_the_posterior_from_the_history() {
        let x = grid(12);
        let k = Kernel::from_spec("rbf", 0.3, 1.0, 1.0, 0.0).unwrap();
        let history = [(3, 0.5), (7, -0.25), (3, 0.75), (11, 1.0), (0, -1.0)];
        let fresh = || GPUCB::new(&x, 1, k, 1e-6, 1.0, 0.1, Some(4)).unwrap();
        let mut p = fresh();
        for (i, y) in history {
            p.update(i, y).unwrap();
        }
        let bytes = crate::state::encode(&p).unwrap();
        // A state written by this code is rebuilt bit for bit.
        assert_eq!(GPUCB::from_bytes(&bytes).unwrap(), p);

        let mut derived = p.clone();
        derived.mean[5] = 1e300;
        derived.var[2] = -1e300;
        derived.g[7] = 1e300;
        derived.alpha[1] = -1e300;
        derived.ldiag[4] = 1e-300;
        let loaded = GPUCB::from_bytes(&crate::state::encode(&derived).unwrap()).unwrap();
        assert_eq!(loaded, p);

        // Another recorded index: the derived values are those of the new history.
        let mut other = p.clone();
        other.pulls[2] = 9;
        let mut loaded = GPUCB::from_bytes(&crate::state::encode(&other).unwrap()).unwrap();
        let mut want = fresh();
        for (s, (i, y)) in history.into_iter().enumerate() {
            want.update(if s == 2 { 9 } else { i }, y).unwrap();
        }
        assert_eq!(loaded, want);
        assert_ne!(loaded.mean, p.mean);
        loaded.update(9, 1e100).unwrap();
        let again = crate::state::encode(&loaded).unwrap();
        assert_eq!(GPUCB::from_bytes(&again).unwrap(), loaded);

        // A recorded reward out of range is corrupt bytes.
        let mut big = p.clone();
        big.rewards[0] = 1e101;
        let err = GPUCB::from_bytes(&crate::state::encode(&big).unwrap()).unwrap_err();
        assert!(matches!(err, Error::State { .. }), "{err}");
        assert!(err.to_string().contains("reward"), "{err}");
    }

    /// A noise far below the kernel's scale: the observation variance is floored at
    /// 1e-10 k_max (a fuzzed 2-d case overflowed at step 12 without the floor:
    /// tests/test_fuzz_findings.py); an update that would still overflow is refused with
    /// nothing changed.
    #[test]
    fn tiny_noise_is_floored_and_an_overflowing_update_is_refused() {
        let x = grid(12);
        let k = Kernel::from_spec("polynomial", 0.3, 1.0, 3.0, 1.0).unwrap();
        let mut p = GPUCB::new(&x, 1, k, 1e-20, 1.0, 0.1, Some(0)).unwrap();
        let kmax = p.kdiag.iter().fold(0.0f64, |m, &v| m.max(v));
        for t in 0..200 {
            let i = p.select();
            p.update(i as i64, ((t * 7) as f64).sin()).unwrap();
        }
        assert!(p.ldiag.iter().all(|&l| l * l >= 0.999_999e-10 * kmax));
        let bytes = crate::state::encode(&p).unwrap();
        assert_eq!(GPUCB::from_bytes(&bytes).unwrap(), p);
        // Above the floor the noise is used as given.
        let mut q = GPUCB::new(&x, 1, k, 0.5, 1.0, 0.1, Some(0)).unwrap();
        q.update(3, 1.0).unwrap();
        assert_eq!(q.ldiag[0], (q.kdiag[3] + 0.5).sqrt());

        let mut r = GPUCB::new(
            &grid(5),
            1,
            Kernel::from_spec("rbf", 0.5, 1.0, 1.0, 0.0).unwrap(),
            1e-30,
            1.0,
            0.1,
            Some(0),
        )
        .unwrap();
        r.update(2, 1.0).unwrap();
        r.mean[2] = 1e308;
        let before = r.clone();
        let err = r.update(2, -1e100).unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
        assert_eq!(r, before);
    }

    #[test]
    fn bad_input_changes_nothing() {
        let x = grid(5);
        let k = Kernel::from_spec("matern52", 0.5, 1.0, 1.0, 0.0).unwrap();
        let mut p = GPUCB::new(&x, 1, k, 0.1, 1.0, 0.1, Some(0)).unwrap();
        let before = p.clone();
        assert!(p.update(5, 1.0).is_err());
        assert!(p.update(0, f64::NAN).is_err());
        assert_eq!(p, before);
        assert!(GPUCB::new(&[0.0, f64::NAN], 1, k, 0.1, 1.0, 0.1, None).is_err());
        assert!(GPUCB::new(&x, 1, k, 0.0, 1.0, 0.1, None).is_err());
    }
}
