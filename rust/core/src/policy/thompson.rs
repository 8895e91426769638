//! Thompson sampling: play the argmax of one draw from each arm's posterior.

use super::list::ListRule;
use super::{
    finite_positive, persist_policy, require, sample_among, ArmCache, Core, Policy, RewardDomain,
};
use crate::eligible::Eligible;
use crate::error::Result;
use crate::rng::Rng;
use crate::sample::{gamma, normal, tables, GammaSampler};
use crate::stats::{ArmStats, RandomTieArgmax};
use serde::{Deserialize, Serialize};

/// Draws used by `probabilities()`, which has no closed form for Thompson sampling.
pub const PROBABILITY_SAMPLES: usize = 10_000;

/// The Gamma samplers of a Beta(a, b) posterior and its mean a / (a + b), kept per arm
/// between decisions (they change only when the arm is updated).
type BetaSamplers = (GammaSampler, GammaSampler, f64);

fn beta_samplers((a, b): (f64, f64)) -> BetaSamplers {
    (GammaSampler::new(a), GammaSampler::new(b), a / (a + b))
}

/// One Beta(a, b) draw from the project's Gamma sampler.
#[inline]
pub(super) fn beta(a: f64, b: f64, rng: &mut Rng) -> f64 {
    let (ga, gb, mean) = beta_samplers((a, b));
    beta_with(&ga, &gb, mean, rng)
}

/// One Beta(a, b) draw as X / (X + Y) from the samplers of Gamma(a) and Gamma(b);
/// `mean` = a / (a + b) settles the rare case where both gamma draws underflow.
#[inline(always)]
fn beta_with(ga: &GammaSampler, gb: &GammaSampler, mean: f64, rng: &mut Rng) -> f64 {
    let x = ga.sample(rng);
    let y = gb.sample(rng);
    beta_ratio(x, y, mean, rng)
}

/// Random words drawn ahead per chunk of arms in `ThompsonSampling::select` (four per arm).
const WORDS_CHUNK: usize = 32;

/// X / (X + Y) for X ~ Gamma(a), Y ~ Gamma(b).
#[inline(always)]
fn beta_ratio(x: f64, y: f64, mean: f64, rng: &mut Rng) -> f64 {
    if x + y > 0.0 {
        x / (x + y)
    } else {
        // Both draws underflowed (tiny shapes): the Beta mass sits at the endpoints.
        if rng.uniform() < mean {
            1.0
        } else {
            0.0
        }
    }
}

/// Monte Carlo estimate of P(arm i wins the argmax) with a generator forked from the
/// policy's, so asking for probabilities does not move the decision stream.
pub(super) fn monte_carlo_probabilities(
    n_arms: usize,
    rng: &Rng,
    eligible: Option<&Eligible>,
    mut draw: impl FnMut(usize, &mut Rng) -> f64,
) -> Vec<f64> {
    let candidates: Vec<usize> = match eligible {
        Some(e) => e.indices().collect(),
        None => (0..n_arms).collect(),
    };
    let mut fork = Rng::seed_from_u64(rng.clone().next_raw());
    let mut wins = vec![0u64; n_arms];
    for _ in 0..PROBABILITY_SAMPLES {
        let mut best = f64::NEG_INFINITY;
        let mut best_i = candidates[0];
        for &i in &candidates {
            let v = draw(i, &mut fork);
            if v > best {
                best = v;
                best_i = i;
            }
        }
        wins[best_i] += 1;
    }
    wins.iter()
        .map(|&w| w as f64 / PROBABILITY_SAMPLES as f64)
        .collect()
}

/// Beta-Bernoulli Thompson sampling (Thompson 1933; Agrawal and Goyal 2012): arm i's
/// posterior is Beta(prior_alpha + S_i, prior_beta + n_i - S_i). Rewards in [0, 1];
/// a fractional reward r counts as r successes and 1 - r failures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThompsonSampling {
    core: Core,
    params: BetaPrior,
    #[serde(skip)]
    samplers: ArmCache<BetaSamplers>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BetaPrior {
    pub prior_alpha: f64,
    pub prior_beta: f64,
}

impl BetaPrior {
    /// Posterior (alpha, beta) given an arm's statistics.
    pub fn posterior(&self, a: &ArmStats) -> (f64, f64) {
        let s = a.sum().clamp(0.0, a.n as f64);
        (self.prior_alpha + s, self.prior_beta + a.n as f64 - s)
    }
}

impl ThompsonSampling {
    pub fn new(
        n_arms: usize,
        prior_alpha: f64,
        prior_beta: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = ThompsonSampling {
            core: Core::new(n_arms, seed)?,
            params: BetaPrior {
                prior_alpha,
                prior_beta,
            },
            samplers: ArmCache::default(),
        };
        p.check_extra()?;
        Ok(p)
    }

    /// Posterior (alpha, beta) of arm i.
    pub fn posterior(&self, i: usize) -> (f64, f64) {
        self.params.posterior(&self.core.arms[i])
    }

    fn monte_carlo(&self, eligible: Option<&Eligible>) -> Vec<f64> {
        let post: Vec<(f64, f64)> = (0..self.n_arms()).map(|i| self.posterior(i)).collect();
        monte_carlo_probabilities(self.n_arms(), &self.core.rng, eligible, |i, r| {
            beta(post[i].0, post[i].1, r)
        })
    }
}

impl Policy for ThompsonSampling {
    type Params = BetaPrior;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &BetaPrior {
        &self.params
    }
    fn describe_params(&self) -> String {
        format!(
            "prior_alpha={}, prior_beta={}",
            self.params.prior_alpha, self.params.prior_beta
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Unit
    }
    fn select(&mut self) -> usize {
        let (prior, arms) = (&self.params, &self.core.arms);
        self.samplers
            .refresh(&self.core, |i| beta_samplers(prior.posterior(&arms[i])));
        let mut rng = self.core.rng.clone();
        let mut argmax = RandomTieArgmax::new();
        let zig = tables();
        // The first attempt's four words of every arm in a chunk are drawn in one tight loop,
        // then consumed by straight-line arithmetic (see `crate::sample`): the generator's
        // dependency chain and the samplers' arithmetic no longer alternate.
        for (c, chunk) in self.samplers.values.chunks(WORDS_CHUNK / 4).enumerate() {
            let mut words = [0u64; WORDS_CHUNK];
            for w in &mut words[..4 * chunk.len()] {
                *w = rng.next_raw();
            }
            // The draws first, then the argmax over them: a branch of the argmax that
            // waits for a draw's division would stall the next arm's sampling behind it.
            let mut draws = [0.0; WORDS_CHUNK / 4];
            for ((draw, (ga, gb, mean)), w) in draws.iter_mut().zip(chunk).zip(words.chunks(4)) {
                let x = ga.sample_from(zig, w[0], w[1], &mut rng);
                let y = gb.sample_from(zig, w[2], w[3], &mut rng);
                *draw = beta_ratio(x, y, *mean, &mut rng);
            }
            for (j, &draw) in draws[..chunk.len()].iter().enumerate() {
                argmax.push(c * (WORDS_CHUNK / 4) + j, draw, &mut rng);
            }
        }
        self.core.rng = rng;
        argmax.finish()
    }
    fn observe(&mut self, arm: usize, reward: f64) {
        let was_current = self.samplers.is_current(&self.core);
        self.core.arms[arm].push(reward);
        self.core.t += 1;
        let samplers = beta_samplers(self.posterior(arm));
        self.samplers
            .observed(&self.core, arm, was_current, samplers);
    }
    fn on_add_arm(&mut self) {
        self.samplers.clear();
    }
    fn on_remove_arm(&mut self, _i: usize) {
        // Arms shift down: cached samplers no longer line up with their arms.
        self.samplers.clear();
    }
    /// Posterior means.
    fn scores(&self) -> Vec<f64> {
        (0..self.core.arms.len())
            .map(|i| {
                let (a, b) = self.posterior(i);
                a / (a + b)
            })
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        self.monte_carlo(None)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let (prior, arms) = (&self.params, &self.core.arms);
        let mut rng = self.core.rng.clone();
        let i = sample_among(&mut rng, eligible, |i, r| {
            let (a, b) = prior.posterior(&arms[i]);
            beta(a, b, r)
        });
        self.core.rng = rng;
        i
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        self.monte_carlo(Some(eligible))
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sampled
    }
    fn draw_keys(&self, rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.n_arms()).map(|i| {
            let (a, b) = self.posterior(i);
            beta(a, b, rng)
        }));
    }
    fn check_extra(&self) -> Result<()> {
        finite_positive(self.params.prior_alpha, "prior_alpha")?;
        finite_positive(self.params.prior_beta, "prior_beta")
    }
}
persist_policy!(ThompsonSampling, "ThompsonSampling");

/// Gaussian Thompson sampling with unknown mean and variance: each arm has a Normal-Gamma
/// prior NG(mu0, kappa0, alpha0, beta0) on (mean, precision), updated in closed form from
/// the arm's count, mean and sum of squared deviations. A draw samples the precision
/// tau ~ Gamma(alpha_n, rate beta_n), then the mean ~ N(mu_n, 1 / (kappa_n tau)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianThompsonSampling {
    core: Core,
    params: NormalGammaPrior,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormalGammaPrior {
    pub mu0: f64,
    pub kappa0: f64,
    pub alpha0: f64,
    pub beta0: f64,
}

impl NormalGammaPrior {
    /// Posterior (mu_n, kappa_n, alpha_n, beta_n) given an arm's statistics.
    pub fn posterior(&self, a: &ArmStats) -> (f64, f64, f64, f64) {
        let n = a.n as f64;
        let kappa = self.kappa0 + n;
        let mu = (self.kappa0 * self.mu0 + n * a.mean()) / kappa;
        let alpha = self.alpha0 + 0.5 * n;
        let d = a.mean() - self.mu0;
        let beta = self.beta0 + 0.5 * a.m2.max(0.0) + self.kappa0 * n * d * d / (2.0 * kappa);
        (mu, kappa, alpha, beta)
    }
}

impl GaussianThompsonSampling {
    pub fn new(
        n_arms: usize,
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let p = GaussianThompsonSampling {
            core: Core::new(n_arms, seed)?,
            params: NormalGammaPrior {
                mu0,
                kappa0,
                alpha0,
                beta0,
            },
        };
        p.check_extra()?;
        Ok(p)
    }

    fn monte_carlo(&self, eligible: Option<&Eligible>) -> Vec<f64> {
        let post: Vec<_> = self
            .core
            .arms
            .iter()
            .map(|a| self.params.posterior(a))
            .collect();
        monte_carlo_probabilities(self.n_arms(), &self.core.rng, eligible, |i, r| {
            Self::draw(post[i], r)
        })
    }

    fn draw(post: (f64, f64, f64, f64), rng: &mut Rng) -> f64 {
        let (mu, kappa, alpha, beta) = post;
        let tau = gamma(alpha, rng) / beta;
        let z = normal(rng);
        if tau > 0.0 {
            mu + z / (kappa * tau).sqrt()
        } else {
            // Precision underflow means unbounded variance: an infinitely optimistic draw.
            f64::INFINITY
        }
    }
}

impl Policy for GaussianThompsonSampling {
    type Params = NormalGammaPrior;
    fn core(&self) -> &Core {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    fn params(&self) -> &NormalGammaPrior {
        &self.params
    }
    fn describe_params(&self) -> String {
        let p = &self.params;
        format!(
            "mu0={}, kappa0={}, alpha0={}, beta0={}",
            p.mu0, p.kappa0, p.alpha0, p.beta0
        )
    }
    fn reward_domain(&self) -> RewardDomain {
        RewardDomain::Real
    }
    fn select(&mut self) -> usize {
        let mut rng = self.core.rng.clone();
        let mut argmax = RandomTieArgmax::new();
        for (i, a) in self.core.arms.iter().enumerate() {
            let draw = Self::draw(self.params.posterior(a), &mut rng);
            argmax.push(i, draw, &mut rng);
        }
        self.core.rng = rng;
        argmax.finish()
    }
    /// Posterior means of the arms' means.
    fn scores(&self) -> Vec<f64> {
        self.core
            .arms
            .iter()
            .map(|a| self.params.posterior(a).0)
            .collect()
    }
    fn probabilities(&self) -> Vec<f64> {
        self.monte_carlo(None)
    }
    fn select_among(&mut self, eligible: &Eligible) -> usize {
        let (prior, arms) = (&self.params, &self.core.arms);
        let mut rng = self.core.rng.clone();
        let i = sample_among(&mut rng, eligible, |i, r| {
            Self::draw(prior.posterior(&arms[i]), r)
        });
        self.core.rng = rng;
        i
    }
    fn probabilities_among(&self, eligible: &Eligible) -> Vec<f64> {
        self.monte_carlo(Some(eligible))
    }
    fn list_rule(&self) -> ListRule {
        ListRule::Sampled
    }
    fn draw_keys(&self, rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            self.core
                .arms
                .iter()
                .map(|a| Self::draw(self.params.posterior(a), rng)),
        );
    }
    fn check_extra(&self) -> Result<()> {
        let p = &self.params;
        require(p.mu0.is_finite(), "mu0", "must be finite", p.mu0)?;
        finite_positive(p.kappa0, "kappa0")?;
        finite_positive(p.alpha0, "alpha0")?;
        finite_positive(p.beta0, "beta0")
    }
}
persist_policy!(GaussianThompsonSampling, "GaussianThompsonSampling");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_mean() {
        let mut rng = Rng::seed_from_u64(11);
        let n = 200_000;
        let (a, b) = (3.0, 7.0);
        let mean = (0..n).map(|_| beta(a, b, &mut rng)).sum::<f64>() / n as f64;
        assert!((mean - 0.3).abs() < 0.002);
    }

    #[test]
    fn select_indexes_arms_across_word_chunks() {
        // More arms than one chunk of pre-drawn words: the dominant arm must come back with
        // its own index from whichever chunk it is in.
        for best in [0usize, 7, 8, 17, 19] {
            let mut p = ThompsonSampling::new(20, 1.0, 1.0, Some(best as u64)).unwrap();
            for arm in 0..20usize {
                let reward = if arm == best { 1.0 } else { 0.0 };
                for _ in 0..200 {
                    p.update(arm as i64, reward).unwrap();
                }
            }
            for _ in 0..50 {
                assert_eq!(p.select(), best);
            }
        }
    }
}
