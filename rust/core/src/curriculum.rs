//! Curriculum sampling over difficulty bins: the EMA-debiased multiplicative-weights
//! sampler of Prompt-GDRO (Panaganti et al. 2026; the update rule is a reconstruction).
//!
//! Prompts sit in B difficulty bins; the sampler chooses the bin mix q for each training
//! batch and learns from the batch's per-prompt losses (e.g. 1 - pass rate):
//! 1. per bin b seen in the batch, its mean loss l_b (intensive: a bin sampled more often
//!    does not get a larger signal);
//! 2. s_b <- beta s_b + (1 - beta) l_b and n_b += 1;
//! 3. s_hat_b = s_b / (1 - beta^n_b) (bias correction of the zero start);
//! 4. q proportional to exp(eta s_hat), then q <- (1 - gamma) q + gamma / B.
//!
//! The `Cumulative` mode is the EXP3-style baseline it replaces: s_b += sum of the batch's
//! losses in bin b, without importance weighting, so bins sampled more gather more weight
//! (rich get richer) whatever their difficulty.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use crate::stats::sample_discrete;
use serde::{Deserialize, Serialize};

/// How the per-bin scores are updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreMode {
    /// Bias-corrected exponential moving average of the per-batch mean loss.
    Ema,
    /// Cumulative sum of the losses (the un-debiased baseline).
    Cumulative,
}

/// The bin sampler (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinSampler {
    beta: f64,
    eta: f64,
    gamma: f64,
    mode: ScoreMode,
    rng: Rng,
    /// s_b: the EMA (or the cumulative sum) per bin.
    scores: Vec<f64>,
    /// n_b: batches in which each bin was seen.
    updates: Vec<u64>,
}

impl BinSampler {
    pub fn new(
        n_bins: usize,
        beta: f64,
        eta: f64,
        gamma: f64,
        mode: ScoreMode,
        seed: Option<u64>,
    ) -> Result<Self> {
        if n_bins < 1 {
            return Err(Error::param("n_bins", "must be at least 1, got 0"));
        }
        crate::limits::check_alloc("n_bins", &[n_bins], 16)?;
        let s = BinSampler {
            beta,
            eta,
            gamma,
            mode,
            rng: Rng::from_optional_seed(seed),
            scores: vec![0.0; n_bins],
            updates: vec![0; n_bins],
        };
        s.check_params()?;
        Ok(s)
    }

    fn check_params(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.beta) {
            return Err(Error::param(
                "beta",
                format!("must be in [0, 1), got {}", crate::error::show(self.beta)),
            ));
        }
        if !(0.0..=1e6).contains(&self.eta) {
            return Err(Error::param(
                "eta",
                format!("must be in [0, 1e6], got {}", crate::error::show(self.eta)),
            ));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(Error::param(
                "gamma",
                format!("must be in [0, 1], got {}", crate::error::show(self.gamma)),
            ));
        }
        Ok(())
    }

    pub fn n_bins(&self) -> usize {
        self.scores.len()
    }
    pub fn beta(&self) -> f64 {
        self.beta
    }
    pub fn eta(&self) -> f64 {
        self.eta
    }
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    pub fn mode(&self) -> ScoreMode {
        self.mode
    }
    /// Batches in which each bin was seen.
    pub fn update_counts(&self) -> &[u64] {
        &self.updates
    }

    /// The scores q is built from: s_hat (bias-corrected EMA; 0 for a bin never seen) or
    /// the cumulative sums.
    pub fn scores(&self) -> Vec<f64> {
        match self.mode {
            ScoreMode::Cumulative => self.scores.clone(),
            ScoreMode::Ema => self
                .scores
                .iter()
                .zip(&self.updates)
                .map(|(&s, &n)| {
                    if n == 0 {
                        0.0
                    } else {
                        // 1 - beta^n, computed without cancellation for beta near 1.
                        let exponent = n.min(i32::MAX as u64) as f64 * self.beta.ln();
                        let correction = -exponent.exp_m1();
                        if correction > 0.0 {
                            s / correction
                        } else {
                            s
                        }
                    }
                })
                .collect(),
        }
    }

    /// The bin mix q.
    pub fn probabilities(&self) -> Vec<f64> {
        let s = self.scores();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = s.iter().map(|&x| (self.eta * (x - m)).exp()).collect();
        let total: f64 = w.iter().sum();
        let b = w.len() as f64;
        w.iter()
            .map(|&x| (1.0 - self.gamma) * x / total + self.gamma / b)
            .collect()
    }

    /// `n` bins drawn from q.
    pub fn sample(&mut self, n: usize) -> Vec<usize> {
        let q = self.probabilities();
        (0..n).map(|_| sample_discrete(&q, &mut self.rng)).collect()
    }

    /// Learns from one batch: `bins[i]` and `losses[i]` (in [0, 1]) of its i-th prompt.
    /// Every row is validated before any is used.
    pub fn update(&mut self, bins: &[i64], losses: &[f64]) -> Result<()> {
        if bins.len() != losses.len() {
            return Err(Error::shape(
                "losses",
                format!(
                    "length {} does not match bins (length {})",
                    losses.len(),
                    bins.len()
                ),
            ));
        }
        let k = self.scores.len();
        for (i, (&b, &l)) in bins.iter().zip(losses).enumerate() {
            if b < 0 || b as u64 >= k as u64 {
                return Err(Error::ArmOutOfRange {
                    argument: "bins".into(),
                    arm: b,
                    n_arms: k,
                    position: Some(i),
                });
            }
            crate::policy::RewardDomain::Unit.check("losses", l, Some(i), "BinSampler")?;
        }
        if self.updates.contains(&u64::MAX) {
            return Err(Error::param(
                "bins",
                "a bin's update count would exceed 2**64 - 1",
            ));
        }
        let mut sum = vec![0.0; k];
        let mut count = vec![0u64; k];
        for (&b, &l) in bins.iter().zip(losses) {
            sum[b as usize] += l;
            count[b as usize] += 1;
        }
        for b in 0..k {
            if count[b] == 0 {
                continue;
            }
            match self.mode {
                ScoreMode::Ema => {
                    let mean = sum[b] / count[b] as f64;
                    self.scores[b] = self.beta * self.scores[b] + (1.0 - self.beta) * mean;
                }
                ScoreMode::Cumulative => self.scores[b] += sum[b],
            }
            self.updates[b] += 1;
        }
        Ok(())
    }
}

impl Persist for BinSampler {
    const KIND: &'static str = "BinSampler";
    fn check_invariants(&self) -> Result<()> {
        self.check_params()?;
        let ok = !self.scores.is_empty()
            && self.scores.len() == self.updates.len()
            && self.rng.is_valid()
            && self.scores.iter().all(|s| s.is_finite() && *s >= 0.0);
        if ok {
            Ok(())
        } else {
            Err(Error::state("bin sampler state is inconsistent"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debiased_ema_equals_the_mean_of_constant_losses() {
        let mut s = BinSampler::new(2, 0.9, 5.0, 0.0, ScoreMode::Ema, Some(0)).unwrap();
        s.update(&[0, 0, 1], &[0.2, 0.4, 0.8]).unwrap();
        // One update: s = 0.1 * 0.3, corrected by 1 - 0.9 = 0.1 back to 0.3.
        let sc = s.scores();
        assert!((sc[0] - 0.3).abs() < 1e-12 && (sc[1] - 0.8).abs() < 1e-12);
        let q = s.probabilities();
        let want = 1.0 / (1.0 + (5.0f64 * (0.3 - 0.8)).exp());
        assert!((q[1] - want).abs() < 1e-12);
        let snapshot = s.clone();
        assert!(s.update(&[0, 2], &[0.1, 0.1]).is_err());
        assert!(s.update(&[0, 1], &[0.1, 1.1]).is_err());
        assert_eq!(s, snapshot);
    }
}
