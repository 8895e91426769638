//! One stored arm (the king) and the arriving one: uniform exploration and the naive
//! single-memory epsilon-best algorithm differ only in how often they sample an arm.

use super::{check_scored, epsilon, keep_better, pulls, Ctx, Rule, Scored, SLOTS};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Sample every arriving arm `n` times; it replaces the king if its mean is strictly
/// higher. The first arm's mean is stored (the reference code forgets to).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KingCore {
    /// Pulls per arm.
    n: u64,
    king: Option<Scored>,
    challenger: Option<i64>,
}

impl KingCore {
    fn new(n: u64) -> Self {
        KingCore {
            n,
            king: None,
            challenger: None,
        }
    }
    /// Pulls spent on every arriving arm.
    pub fn pulls_per_arm(&self) -> u64 {
        self.n
    }
    fn on_offer(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
        self.challenger = Some(arm);
        ctx.sample(arm, self.n);
    }
    fn on_sampled(&mut self, mean: f64) {
        if let Some(arm) = self.challenger.take() {
            keep_better(&mut self.king, arm, mean);
        }
    }
    fn slots(&self) -> [Option<i64>; SLOTS] {
        let mut s = [None; SLOTS];
        s[0] = self.king.map(|k| k.0);
        s[1] = self.challenger;
        s
    }
    fn check(&self) -> Result<()> {
        if self.n == 0 || self.n > super::MAX_HORIZON {
            return Err(Error::state("pulls per arm out of range"));
        }
        check_scored(&self.king, "king")
    }
}

/// Uniform exploration: `n = (T/K)^(2/3) (ln T)^(1/3)` pulls per arm, which gives
/// O(K^(1/3) T^(2/3) log^(1/3) T) regret with two arms of memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniformRule(pub KingCore);

/// Naive single-memory epsilon-best: `n = ln K / eps^2` pulls per arm with
/// `eps = (K/T)^(1/3)`: O(K^(1/3) T^(2/3) log K) expected regret. It loses to uniform
/// exploration by about `ln K / (ln T)^(1/3)` whenever exploration dominates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NaiveRule(pub KingCore);

/// The [`Rule`] impl of a king rule `$ty` (a newtype of [`KingCore`]) whose arms are each
/// pulled `$n` times, a formula in the number of arms `$k` and the horizon `$t`.
macro_rules! king_rule_impl {
    ($ty:ident, $kind:literal, |$k:ident, $t:ident| $n:expr) => {
        impl Rule for $ty {
            const KIND: &'static str = $kind;
            fn new($k: u64, $t: u64) -> Self {
                $ty(KingCore::new(pulls($n)))
            }
            fn max_arms(&self) -> usize {
                2
            }
            fn on_offer(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
                self.0.on_offer(arm, ctx)
            }
            fn on_sampled(&mut self, mean: f64, _ctx: &mut Ctx<'_>) {
                self.0.on_sampled(mean)
            }
            fn on_exhausted(&mut self) {
                self.0.challenger = None;
            }
            fn choose(&self) -> Option<i64> {
                self.0.king.map(|k| k.0)
            }
            fn release(&mut self) {
                self.0.king = None;
                self.0.challenger = None;
            }
            fn awaiting(&self) -> Option<i64> {
                self.0.challenger
            }
            fn slots(&self) -> [Option<i64>; SLOTS] {
                self.0.slots()
            }
            fn check(&self) -> Result<()> {
                self.0.check()
            }
        }
    };
}

king_rule_impl!(UniformRule, "UniformExploration", |k, t| {
    (t as f64 / k as f64).powf(2.0 / 3.0) * (t as f64).ln().cbrt()
});
king_rule_impl!(NaiveRule, "NaiveEpsilonBest", |k, t| (k as f64).ln()
    / epsilon(k, t).powi(2));

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::super::{NaiveEpsilonBest, Stream, UniformExploration};
    use super::*;
    use crate::state::{decode, encode};

    #[test]
    fn sample_sizes_follow_the_notes() {
        let k = 1000u64;
        let t = 1000 * k * k * k;
        let ue = UniformRule::new(k, t).0.pulls_per_arm() as f64;
        let want = (1e9f64).powf(2.0 / 3.0) * (t as f64).ln().cbrt();
        assert!((ue - want).abs() <= 1.0, "{ue} vs {want}");
        let naive = NaiveRule::new(k, t).0.pulls_per_arm() as f64;
        // ln K / eps^2 with eps = (K/T)^(1/3) = 1e-3.
        assert!((naive / (1000f64.ln() * 1e6) - 1.0).abs() < 1e-6);
        // The ratio the notes predict: ln K / (ln T)^(1/3), about 2.29.
        assert!((naive / ue - 2.29).abs() < 0.01);
        assert_eq!(
            NaiveRule::new(1, 10).0.pulls_per_arm(),
            1,
            "ln 1 = 0 still pulls once"
        );
    }

    #[test]
    fn the_first_arm_is_a_real_king_and_ties_keep_the_king() {
        // Deterministic rewards: arm 0 pays 0.5 exactly, arm 1 the same, arm 2 less.
        let mut p = UniformExploration::new(3, 10_000, Some(0)).unwrap();
        for (arm, r) in [(0, 0.5), (1, 0.5), (2, 0.25)] {
            p.offer(arm).unwrap();
            let n = p.pending() as usize;
            p.update_many(arm, &vec![r; n]).unwrap();
        }
        assert_eq!(p.arms_in_memory(), vec![0]);
        p.finish().unwrap();
        assert_eq!(p.committed(), Some(0));
    }

    #[test]
    fn memory_is_two_arms_and_state_round_trips_mid_stream() {
        let means: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
        let mut p = NaiveEpsilonBest::new(200, 8_000_000, Some(4)).unwrap();
        let (_, peak) = drive(&mut p, &means, 2);
        assert_eq!(p.max_arms_in_memory(), 2);
        assert_eq!(peak, 2);
        assert_eq!(p.n_pulls(), 8_000_000);
        // Mid-stream: half-way through an evaluation.
        let mut q = UniformExploration::new(5, 100_000, Some(9)).unwrap();
        q.offer(0).unwrap();
        q.update_many(0, &[1.0, 0.0, 1.0]).unwrap();
        let bytes = encode(&q).unwrap();
        let r: Stream<UniformRule> = decode(&bytes).unwrap();
        assert_eq!(q, r);
        assert_eq!(encode(&r).unwrap(), bytes);
    }
}
