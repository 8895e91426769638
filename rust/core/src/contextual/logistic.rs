//! Logistic contextual bandits for binary rewards (clicks): per-arm logistic regressions
//! with an online Laplace posterior N(theta_a, A_a^{-1}) (Chapelle and Li 2011, with the
//! full covariance), scored optimistically (LogisticUCB) or by posterior sampling
//! (LogisticTS) on the logit scale, which ranks arms as the click probability does.

use super::{persist_contextual, pick, ContextualPolicy, LinearBase, Link};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::sample::normal_rand_distr_05;
use crate::stats::argmax_distribution;
use serde::{Deserialize, Serialize};

fn logistic_base(n_arms: usize, dim: usize, lam: f64, seed: Option<u64>) -> Result<LinearBase> {
    let mut base = LinearBase::new(n_arms, dim, lam, seed)?;
    base.link = Link::Logistic;
    Ok(base)
}

fn check_logistic(base: &LinearBase) -> Result<()> {
    if base.link == Link::Logistic {
        Ok(())
    } else {
        Err(Error::state("a logistic policy must hold logistic models"))
    }
}

/// LogisticUCB: score_a(x) = x^T theta_a + alpha sqrt(x^T A_a^{-1} x), the upper
/// confidence bound of the logit under the Laplace posterior (as in GLM-UCB, Li, Lu and
/// Zhou 2017). Rewards in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticUCB {
    base: LinearBase,
    params: LogisticUCBParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticUCBParams {
    pub alpha: f64,
}

impl LogisticUCB {
    pub fn new(n_arms: usize, dim: usize, alpha: f64, lam: f64, seed: Option<u64>) -> Result<Self> {
        let p = LogisticUCB {
            base: logistic_base(n_arms, dim, lam, seed)?,
            params: LogisticUCBParams { alpha },
        };
        p.check_params()?;
        Ok(p)
    }
}

impl ContextualPolicy for LogisticUCB {
    type Params = LogisticUCBParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &LogisticUCBParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("alpha={}, lam={}", self.params.alpha, self.base.lam)
    }
    fn score_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        for (o, m) in out.iter_mut().zip(&self.base.arms) {
            *o = m.mean(x) + self.params.alpha * m.width(x, scratch);
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        let mut scores = vec![0.0; self.base.arms.len()];
        let mut scratch = vec![0.0; self.base.dim];
        self.score_row(x, &mut scores, &mut scratch);
        pick(&scores, &mut self.base.rng)
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.score_row(x, out, scratch);
        let p = argmax_distribution(out);
        out.copy_from_slice(&p);
    }
    fn check_params(&self) -> Result<()> {
        check_logistic(&self.base)?;
        if self.params.alpha.is_finite() && self.params.alpha >= 0.0 {
            Ok(())
        } else {
            Err(Error::param_got(
                "alpha",
                "must be a finite number >= 0",
                self.params.alpha,
            ))
        }
    }
    fn width_coefficient(&self) -> f64 {
        self.params.alpha
    }
    fn deterministic(&self) -> bool {
        true
    }
}
persist_contextual!(LogisticUCB, "LogisticUCB");

/// LogisticTS: Thompson sampling from the Laplace posterior, scaled by v (v = 1 is the
/// posterior itself). For one context the sampled logit of arm a is
/// N(x^T theta_a, v^2 x^T A_a^{-1} x), drawn directly. Rewards in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticTS {
    base: LinearBase,
    params: LogisticTSParams,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticTSParams {
    pub v: f64,
}

impl LogisticTS {
    pub fn new(n_arms: usize, dim: usize, v: f64, lam: f64, seed: Option<u64>) -> Result<Self> {
        let p = LogisticTS {
            base: logistic_base(n_arms, dim, lam, seed)?,
            params: LogisticTSParams { v },
        };
        p.check_params()?;
        Ok(p)
    }
}

/// Draws used by `LogisticTS::probabilities` (Monte Carlo, as for LinTS).
pub const PROBABILITY_SAMPLES: usize = 4096;

impl ContextualPolicy for LogisticTS {
    type Params = LogisticTSParams;
    fn base(&self) -> &LinearBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LinearBase {
        &mut self.base
    }
    fn params(&self) -> &LogisticTSParams {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!("v={}, lam={}", self.params.v, self.base.lam)
    }
    /// Posterior-mean logits x^T theta_a.
    fn score_row(&self, x: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        for (o, m) in out.iter_mut().zip(&self.base.arms) {
            *o = m.mean(x);
        }
    }
    fn decide(&mut self, x: &[f64]) -> usize {
        let mut scores = vec![0.0; self.base.arms.len()];
        let mut scratch = vec![0.0; self.base.dim];
        let mut rng = self.base.rng.clone();
        for (o, m) in scores.iter_mut().zip(&self.base.arms) {
            let z = normal_rand_distr_05(&mut rng);
            *o = m.mean(x) + self.params.v * m.width(x, &mut scratch) * z;
        }
        let i = pick(&scores, &mut rng);
        self.base.rng = rng;
        i
    }
    fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let k = out.len();
        let means: Vec<f64> = self.base.arms.iter().map(|m| m.mean(x)).collect();
        let sds: Vec<f64> = self
            .base
            .arms
            .iter()
            .map(|m| self.params.v * m.width(x, scratch))
            .collect();
        if sds.iter().all(|&s| s == 0.0) {
            out.copy_from_slice(&argmax_distribution(&means));
            return;
        }
        let mut h = self.base.rng.clone().next_raw();
        for v in x {
            h = h.rotate_left(5) ^ v.to_bits();
        }
        let mut rng = Rng::seed_from_u64(h);
        let mut wins = vec![0u32; k];
        for _ in 0..PROBABILITY_SAMPLES {
            let mut best = f64::NEG_INFINITY;
            let mut best_i = 0;
            for i in 0..k {
                let z = normal_rand_distr_05(&mut rng);
                let s = means[i] + sds[i] * z;
                if s > best {
                    best = s;
                    best_i = i;
                }
            }
            wins[best_i] += 1;
        }
        for (o, w) in out.iter_mut().zip(wins) {
            *o = w as f64 / PROBABILITY_SAMPLES as f64;
        }
    }
    fn check_params(&self) -> Result<()> {
        check_logistic(&self.base)?;
        if self.params.v.is_finite() && self.params.v >= 0.0 {
            Ok(())
        } else {
            Err(Error::param_got(
                "v",
                "must be a finite number >= 0",
                self.params.v,
            ))
        }
    }
    fn width_coefficient(&self) -> f64 {
        0.0
    }
    fn sampling_moments(
        &self,
        x: &[f64],
        means: &mut [f64],
        sds: &mut [f64],
        scratch: &mut [f64],
    ) -> bool {
        for (a, m) in self.base.arms.iter().enumerate() {
            means[a] = m.mean(x);
            sds[a] = self.params.v * m.width(x, scratch);
        }
        true
    }
}
persist_contextual!(LogisticTS, "LogisticTS");
