//! The king/challenger "game of arms" (Jin, Huang, Tang and Xiao 2021, as used by Wang
//! 2023; constants from the paper's experiment code) with its fractional-stream fallback.

use super::{check_scored, epsilon, keep_better, pulls, Ctx, Rule, Scored, SLOTS};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// With `eps = (K/T)^(1/3)`:
///
/// * **Full stream.** The king gets a budget `phi = 1.2/eps^2` when crowned, plus
///   `1/eps^2` for every arriving arm, and a reference value `v` (first `eps/2`). A
///   challenger is tested at levels `l = 0, 1, ..., floor(10 ln ln K)`: if `phi < b_l =
///   2^l/eps^2` it is crowned (sampled `1.2/eps^2` times, `v <- min(1, max(mean, v +
///   eps/2))`); otherwise it is sampled `b_l` times, `phi -= b_l`, and discarded if its
///   mean is at most `v - eps/5`.
/// * **Fractional stream.** The first arm, then each arriving arm with probability
///   `1.5 / ln K`, is sampled `ln K / eps^2` times; the best so far is kept.
/// * Once the full stream has spent more than `10 K / eps^2` pulls it stops (its king is
///   let go) and the policy commits to the fractional stream's arm instead of the king.
///
/// Deviations from the reference code: `v` rises by `eps/2`, not by half the true gap
/// (oracle information); the first arm is crowned like any other (sampled `1.2/eps^2`
/// times) rather than crowned unseen; a challenger that survives every level is crowned
/// rather than raising an error. Memory: king, fractional arm and the arriving arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameOfArmsRule {
    eps: f64,
    /// 1/eps^2.
    unit: f64,
    top_level: u32,
    crown_pulls: u64,
    budget_step: u64,
    frac_pulls: u64,
    frac_prob: f64,
    full_cap: f64,
    full_pulls: u64,
    full_active: bool,
    king: Option<i64>,
    reference: f64,
    budget: u64,
    frac: Option<Scored>,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Stage {
    Idle,
    Test { arm: i64, level: u32 },
    Crown { arm: i64 },
    Fractional { arm: i64 },
}

impl GameOfArmsRule {
    /// Pulls of a challenger's test at `level`: 2^level / eps^2.
    pub fn level_pulls(&self, level: u32) -> u64 {
        pulls(self.unit * 2f64.powi(level.min(1100) as i32))
    }
    /// The highest test level, floor(10 ln ln K) (0 for K < 3).
    pub fn top_level(&self) -> u32 {
        self.top_level
    }
    /// The king's reference value v.
    pub fn reference(&self) -> f64 {
        self.reference
    }
    /// Whether the full stream is still running (it has not exceeded 10 K / eps^2 pulls).
    pub fn full_stream_active(&self) -> bool {
        self.full_active
    }

    fn test(&mut self, arm: i64, level: u32, ctx: &mut Ctx<'_>) {
        if level > self.top_level {
            return self.crown(arm, ctx);
        }
        let b = self.level_pulls(level);
        if self.budget < b {
            return self.crown(arm, ctx);
        }
        self.budget -= b;
        self.full_pulls = self.full_pulls.saturating_add(b);
        self.stage = Stage::Test { arm, level };
        ctx.sample(arm, b);
    }

    fn crown(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
        self.full_pulls = self.full_pulls.saturating_add(self.crown_pulls);
        self.stage = Stage::Crown { arm };
        ctx.sample(arm, self.crown_pulls);
    }

    fn fractional(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
        if self.frac.is_none() || ctx.rng().uniform() < self.frac_prob {
            self.stage = Stage::Fractional { arm };
            ctx.sample(arm, self.frac_pulls);
        } else {
            self.stage = Stage::Idle;
        }
    }
}

impl Rule for GameOfArmsRule {
    const KIND: &'static str = "GameOfArms";

    fn new(n_arms: u64, horizon: u64) -> Self {
        let eps = epsilon(n_arms, horizon);
        let unit = 1.0 / (eps * eps);
        let ln_k = (n_arms as f64).ln();
        let top_level = if n_arms >= 3 {
            (10.0 * ln_k.ln()).floor().max(0.0) as u32
        } else {
            0
        };
        GameOfArmsRule {
            eps,
            unit,
            top_level,
            crown_pulls: pulls(1.2 * unit),
            budget_step: pulls(unit),
            frac_pulls: pulls(ln_k * unit),
            frac_prob: if ln_k > 1.5 { 1.5 / ln_k } else { 1.0 },
            full_cap: 10.0 * n_arms as f64 * unit,
            full_pulls: 0,
            full_active: true,
            king: None,
            reference: eps / 2.0,
            budget: 0,
            frac: None,
            stage: Stage::Idle,
        }
    }

    fn max_arms(&self) -> usize {
        3
    }

    fn on_offer(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
        if self.full_active && self.full_pulls as f64 > self.full_cap {
            self.full_active = false;
            self.king = None;
        }
        if !self.full_active {
            return self.fractional(arm, ctx);
        }
        if self.king.is_none() {
            return self.crown(arm, ctx);
        }
        self.budget = self.budget.saturating_add(self.budget_step);
        self.test(arm, 0, ctx)
    }

    fn on_sampled(&mut self, mean: f64, ctx: &mut Ctx<'_>) {
        match self.stage {
            Stage::Idle => {}
            Stage::Test { arm, level } => {
                if mean <= self.reference - self.eps / 5.0 {
                    self.fractional(arm, ctx)
                } else {
                    self.test(arm, level.saturating_add(1), ctx)
                }
            }
            Stage::Crown { arm } => {
                self.king = Some(arm);
                self.budget = self.crown_pulls;
                self.reference = mean.max(self.reference + self.eps / 2.0).min(1.0);
                self.fractional(arm, ctx)
            }
            Stage::Fractional { arm } => {
                keep_better(&mut self.frac, arm, mean);
                self.stage = Stage::Idle;
            }
        }
    }

    fn on_exhausted(&mut self) {
        self.stage = Stage::Idle;
    }

    fn choose(&self) -> Option<i64> {
        if self.full_active && self.full_pulls as f64 <= self.full_cap {
            self.king.or(self.frac.map(|f| f.0))
        } else {
            self.frac.map(|f| f.0)
        }
    }

    fn release(&mut self) {
        self.king = None;
        self.frac = None;
        self.stage = Stage::Idle;
    }

    fn awaiting(&self) -> Option<i64> {
        match self.stage {
            Stage::Idle => None,
            Stage::Test { arm, .. } | Stage::Crown { arm } | Stage::Fractional { arm } => Some(arm),
        }
    }

    fn slots(&self) -> [Option<i64>; SLOTS] {
        let mut s = [None; SLOTS];
        s[0] = self.king;
        s[1] = self.frac.map(|f| f.0);
        s[2] = self.awaiting();
        s
    }

    fn check(&self) -> Result<()> {
        let ok = self.eps.is_finite()
            && self.eps > 0.0
            && self.eps <= 1.0
            && self.unit.is_finite()
            && self.unit >= 1.0
            && self.top_level <= 64
            && self.crown_pulls >= 1
            && self.budget_step >= 1
            && self.frac_pulls >= 1
            && self.frac_prob > 0.0
            && self.frac_prob <= 1.0
            && self.full_cap.is_finite()
            && self.full_cap > 0.0
            && self.reference.is_finite()
            && matches!(self.stage, Stage::Test { level, .. } if level <= self.top_level)
                == matches!(self.stage, Stage::Test { .. })
            && (self.full_active || self.king.is_none());
        if !ok {
            return Err(Error::state("GameOfArms parameters or stage out of range"));
        }
        check_scored(&self.frac, "fractional arm")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::super::GameOfArms;
    use super::*;
    use crate::state::{decode, encode};

    #[test]
    fn constants_follow_the_notes() {
        let r = GameOfArmsRule::new(1000, 1_000_000_000_000);
        assert!((r.eps - 1e-3).abs() < 1e-12);
        assert_eq!(r.top_level(), 19, "floor(10 ln ln 1000) = floor(19.33)");
        assert!((r.level_pulls(0) as f64 / 1e6 - 1.0).abs() < 1e-6);
        assert!((r.level_pulls(3) as f64 / 8e6 - 1.0).abs() < 1e-6);
        assert!((r.crown_pulls as f64 / 1.2e6 - 1.0).abs() < 1e-6);
        assert!((r.frac_prob - 1.5 / 1000f64.ln()).abs() < 1e-15);
        assert!((r.reference() - 5e-4).abs() < 1e-12);
        let tiny = GameOfArmsRule::new(2, 10);
        assert_eq!(tiny.top_level(), 0);
        assert_eq!(tiny.frac_prob, 1.0);
        assert_eq!(GameOfArmsRule::new(1, 1).top_level(), 0);
    }

    #[test]
    fn good_challengers_are_crowned_and_bad_ones_discarded() {
        // Deterministic rewards make every decision predictable.
        let mut p = GameOfArms::new(10, 10_000_000, Some(0)).unwrap();
        let pay = |p: &mut GameOfArms, arm: i64, r: f64| {
            while p.next_pull() == Some(arm) {
                let n = p.pending() as usize;
                p.update_many(arm, &vec![r; n]).unwrap();
            }
        };
        p.offer(0).unwrap();
        pay(&mut p, 0, 0.5);
        assert_eq!(p.rule.king, Some(0));
        assert!((p.rule.reference() - 0.5).abs() < 1e-12);
        p.offer(1).unwrap();
        pay(&mut p, 1, 0.1); // far below v - eps/5: discarded at level 0
        assert_eq!(p.rule.king, Some(0));
        p.offer(2).unwrap();
        pay(&mut p, 2, 0.9); // survives until the king's budget runs out, then crowned
        assert_eq!(p.rule.king, Some(2));
        assert!((p.rule.reference() - 0.9).abs() < 1e-12);
        assert!(p.arms_in_memory().len() <= 3);
        p.finish().unwrap();
        assert_eq!(p.committed(), Some(2));
    }

    #[test]
    fn memory_bound_and_mid_stream_round_trip() {
        let means: Vec<f64> = (0..500).map(|i| ((i * 53) % 97) as f64 / 100.0).collect();
        let mut p = GameOfArms::new(500, 500 * 500 * 500, Some(4)).unwrap();
        let (_, peak) = drive(&mut p, &means, 3);
        assert_eq!(p.max_arms_in_memory(), 3);
        assert!((2..=3).contains(&peak), "peak {peak}");
        let committed = p.committed().unwrap() as usize;
        assert!(
            means[committed] >= 0.9,
            "committed to a mean of {}",
            means[committed]
        );
        let mut q = GameOfArms::new(50, 1_000_000, Some(1)).unwrap();
        for arm in 0..3 {
            q.offer(arm).unwrap();
            while let Some(a) = q.next_pull() {
                q.update(a, 1.0).unwrap();
            }
        }
        q.offer(3).unwrap();
        q.update(3, 0.0).unwrap();
        let bytes = encode(&q).unwrap();
        let mut r: GameOfArms = decode(&bytes).unwrap();
        assert_eq!(q, r);
        for p in [&mut q, &mut r] {
            for arm in 4..50 {
                while let Some(a) = p.next_pull() {
                    p.update(a, if a % 7 == 0 { 1.0 } else { 0.0 }).unwrap();
                }
                p.offer(arm).unwrap();
            }
        }
        assert_eq!(
            q, r,
            "a restored policy continues identically, generator included"
        );
    }
}
