//! The simulation loop: many independent runs of one policy in one environment, spread
//! over threads, each run a tight select/draw/update loop with no allocation per step.

use crate::env::Environment;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::rng::Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, PartialEq)]
pub struct SimulationConfig {
    pub horizon: usize,
    pub n_runs: usize,
    pub seed: u64,
    /// Record cumulative regret every this many steps (and at the horizon).
    pub record_every: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimulationOutput {
    /// 1-based step numbers at which regret was recorded.
    pub steps: Vec<u64>,
    /// Cumulative regret, row-major (n_runs, steps.len()).
    pub regret: Vec<f64>,
    /// Pulls per arm at the end of each run, row-major (n_runs, n_arms).
    pub counts: Vec<u64>,
    /// Total reward collected in each run.
    pub total_reward: Vec<f64>,
    pub best_arm: usize,
    /// Cumulative number of switches (steps whose arm differs from the step before) at
    /// the recorded steps, row-major (n_runs, steps.len()), for every policy.
    pub switches: Vec<u64>,
}

/// Salt separating the environment's stream from the policy's within a run.
const ENV_STREAM: u64 = 0x5EED_0FE4_u64;

pub fn recorded_steps(horizon: usize, record_every: usize) -> Vec<u64> {
    let mut steps: Vec<u64> = (1..=horizon / record_every)
        .map(|k| (k * record_every) as u64)
        .collect();
    if horizon % record_every != 0 {
        steps.push(horizon as u64);
    }
    steps
}

/// Runs `policy` (cloned afresh for every run, its generator reseeded from `seed` and the
/// run index) for `horizon` steps in `env`, `n_runs` times in parallel. The same seed gives
/// the same result whatever the number of threads. `progress`, if given, is incremented
/// once per finished run.
pub fn simulate<P: Policy>(
    policy: &P,
    env: &Environment,
    config: &SimulationConfig,
    progress: Option<&AtomicU64>,
) -> Result<SimulationOutput> {
    let SimulationConfig {
        horizon,
        n_runs,
        seed,
        record_every,
    } = *config;
    if horizon == 0 {
        return Err(Error::param("horizon", "must be >= 1, got 0"));
    }
    if n_runs == 0 {
        return Err(Error::param("n_runs", "must be >= 1, got 0"));
    }
    if record_every == 0 {
        return Err(Error::param("record_every", "must be >= 1, got 0"));
    }
    if let Some(max) = env.max_horizon() {
        if horizon > max {
            return Err(Error::param(
                "horizon",
                format!("{horizon} exceeds the {max} steps of the reward table"),
            ));
        }
    }
    if env.n_arms() != policy.n_arms() {
        return Err(Error::incompatible(format!(
            "the environment has {} arms but the policy has {}",
            env.n_arms(),
            policy.n_arms()
        )));
    }
    if !policy.reward_domain().includes(env.reward_domain()) {
        return Err(Error::incompatible(format!(
            "{} needs rewards that are {}, but this environment can pay rewards outside that range",
            P::KIND,
            policy.reward_domain().describe()
        )));
    }
    // Each run continues the policy's own count.
    crate::policy::check_room(policy.n_updates(), horizon as u64)?;
    // Each run's curve and counts, then the (n_runs, points) and (n_runs, K) outputs.
    // Saturating: horizon = usize::MAX must reach the allocation check, not wrap to 0.
    let points = (horizon / record_every).saturating_add(1);
    crate::limits::check_alloc("horizon", &[points], 16)?;
    crate::limits::check_alloc("n_runs", &[n_runs, points.saturating_add(env.n_arms())], 16)?;
    let steps = recorded_steps(horizon, record_every);
    let best = env.best_arm(horizon);
    let k = env.n_arms();

    let run_one = |run: usize| {
        let run_seed = Rng::child_seed(seed, run as u64);
        let mut p = policy.clone();
        p.reseed(run_seed);
        let env_rng = Rng::seed_from_u64(Rng::child_seed(run_seed, ENV_STREAM));
        let curve = Vec::with_capacity(steps.len());
        let run = Run {
            horizon,
            record_every,
            k,
        };
        // One loop per environment kind, so that the draw and the regret of a step are
        // inlined into it (no dispatch on the environment per step).
        let result = match env {
            Environment::Bernoulli { means } => run.play(
                &mut p,
                env_rng,
                curve,
                |_, arm, rng| {
                    if rng.uniform() < means[arm] {
                        1.0
                    } else {
                        0.0
                    }
                },
                |_, arm| means[best] - means[arm],
            ),
            Environment::Gaussian { .. }
            | Environment::Table { .. }
            | Environment::PiecewiseBernoulli { .. } => run.play(
                &mut p,
                env_rng,
                curve,
                |t, arm, rng| env.draw(t, arm, rng),
                |t, arm| env.step_regret(t, arm, best),
            ),
        };
        if let Some(c) = progress {
            c.fetch_add(1, Ordering::Relaxed);
        }
        result
    };
    // One run stays on the calling thread: handing it to the rayon pool costs a thread
    // wake-up, which dominates short runs (a grid of many small cells) on a busy machine.
    let runs: Vec<RunOutput> = if n_runs == 1 {
        vec![run_one(0)]
    } else {
        crate::parallel::install(|| {
            (0..n_runs)
                .into_par_iter()
                .with_min_len(1)
                .map(run_one)
                .collect()
        })
    };

    let mut out = SimulationOutput {
        steps,
        regret: Vec::with_capacity(n_runs * runs[0].0.len()),
        counts: Vec::with_capacity(n_runs * k),
        total_reward: Vec::with_capacity(n_runs),
        best_arm: best,
        switches: Vec::with_capacity(n_runs * runs[0].0.len()),
    };
    for (curve, counts, total, switches) in runs {
        out.regret.extend_from_slice(&curve);
        out.counts.extend_from_slice(&counts);
        out.total_reward.push(total);
        out.switches.extend_from_slice(&switches);
    }
    Ok(out)
}

/// One run's (regret curve, pulls per arm, total reward, switch-count curve).
type RunOutput = (Vec<f64>, Vec<u64>, f64, Vec<u64>);

/// The shape of one simulated run.
struct Run {
    horizon: usize,
    record_every: usize,
    k: usize,
}

impl Run {
    /// The select / draw / update loop of one run: (regret curve, pulls per arm, total
    /// reward, switch-count curve).
    #[inline(always)]
    fn play<P: Policy>(
        &self,
        p: &mut P,
        mut env_rng: Rng,
        mut curve: Vec<f64>,
        draw: impl Fn(usize, usize, &mut Rng) -> f64,
        step_regret: impl Fn(usize, usize) -> f64,
    ) -> RunOutput {
        let mut counts = vec![0u64; self.k];
        let mut switch_curve = Vec::with_capacity(curve.capacity());
        let mut switches = 0u64;
        // No arm before the first step: the first decision is not a switch.
        let mut previous = usize::MAX;
        let mut cum = 0.0;
        let mut total = 0.0;
        // A countdown rather than `(t + 1) % record_every`: an integer division per step
        // is a noticeable share of a step that costs a few tens of nanoseconds.
        let mut until_record = self.record_every;
        for t in 0..self.horizon {
            let arm = p.select();
            switches += u64::from(arm != previous && previous != usize::MAX);
            previous = arm;
            let r = draw(t, arm, &mut env_rng);
            p.observe(arm, r);
            counts[arm] += 1;
            total += r;
            cum += step_regret(t, arm);
            until_record -= 1;
            if until_record == 0 || t + 1 == self.horizon {
                curve.push(cum);
                switch_curve.push(switches);
                until_record = self.record_every;
            }
        }
        (curve, counts, total, switch_curve)
    }
}
