//! Aggressive selective promotion (Assadi and Wang, STOC 2020, as used by Wang 2023;
//! constants from the paper's experiment code): epsilon-best-arm with O(log* K) memory.

use super::{check_scored, epsilon, keep_better, pulls, Ctx, Rule, Scored, SLOTS};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Levels `l = 0..L-1` with `L = log*(K) + 1`, `r_0 = 2`, `r_(l+1) = 2^(r_l)`, and
/// `eps = (K/T)^(1/3)`. Level `l` samples an arriving arm `s_l` times (`s_0 = 1/eps^2`,
/// `s_l = r_l/eps^2`) and keeps the better of it and its stored arm. When the samples a
/// level has used exceed its cap (`c_0 = 4/eps^2`, `c_l = 2^(r_l) s_l / 2^(r_(l-1))`) it
/// promotes its stored arm to level `l + 1`, which samples it afresh, and is cleared.
/// Since every arrival at level `l` costs `s_l`, "used > c_l" is "more than
/// `c_l / s_l` arrivals": 4 at level 0, `2^(r_l - r_(l-1))` above (4, 4096, then more than
/// any stream); the rule counts arrivals, so float rounding of the caps cannot shift the
/// promotion by one arm. The top level never promotes.
///
/// At the end of the stream, if the pulls left cover `s_0` pulls of every non-empty
/// level's arm, each is sampled `s_0` times (from the top level down) and the best mean
/// wins (ties to the higher level); otherwise the highest non-empty level's arm wins. With
/// a single non-empty level there is nothing to compare and its arm wins at once (the
/// reference samples it anyway: the same pulls of the same arm, so the same regret).
///
/// Fixes to the reference code: the final argmax is a real argmax; a cleared level
/// forgets its stored mean (the reference keeps it and makes the next arm beat a ghost);
/// every sample counts toward its level's cap and the horizon; regret is charged to the
/// arm pulled (the reference charges the stored arm's mean for a challenger's pulls).
/// Memory: one arm per level plus the arriving or promoted one, `log*(K) + 2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectivePromotionRule {
    /// s_l: pulls of an arrival at level l.
    sizes: Vec<u64>,
    /// Arrivals level l takes before it promotes (u64::MAX: never).
    ratios: Vec<u64>,
    levels: Vec<Level>,
    stage: Stage,
    /// The end-of-stream winner so far.
    pick: Option<Scored>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Level {
    best: Option<Scored>,
    arrivals: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Stage {
    Idle,
    /// `arm` is being sampled on arrival at `level`.
    Arrive {
        arm: i64,
        level: u8,
    },
    /// End of stream: the arm of `level` is being sampled for the final comparison.
    Final {
        level: u8,
    },
}

/// log*(K) with natural logarithms: how many times ln can be applied while the value is
/// still at least 1 (1000 -> 6.9 -> 1.93 -> 0.66: 3).
pub fn log_star(n: u64) -> u32 {
    let mut x = n as f64;
    let mut count = 0;
    while x >= 1.0 {
        x = x.ln();
        count += 1;
    }
    count
}

impl SelectivePromotionRule {
    /// Number of levels, L = log*(K) + 1.
    pub fn n_levels(&self) -> usize {
        self.levels.len()
    }
    /// s_l for every level.
    pub fn sizes(&self) -> &[u64] {
        &self.sizes
    }
    /// Arrivals each level takes before it promotes its arm.
    pub fn arrivals_per_promotion(&self) -> Vec<u64> {
        self.ratios.iter().map(|r| r.saturating_add(1)).collect()
    }

    fn arrive(&mut self, arm: i64, level: usize, ctx: &mut Ctx<'_>) {
        self.stage = Stage::Arrive {
            arm,
            level: level as u8,
        };
        ctx.sample(arm, self.sizes[level]);
    }

    /// The highest non-empty level strictly below `below`, with its arm.
    fn highest_below(&self, below: usize) -> Option<(usize, i64)> {
        self.levels[..below.min(self.levels.len())]
            .iter()
            .enumerate()
            .rev()
            .find_map(|(l, lv)| lv.best.map(|b| (l, b.0)))
    }

    fn final_sample(&mut self, below: usize, ctx: &mut Ctx<'_>) {
        match self.highest_below(below) {
            Some((level, arm)) => {
                self.stage = Stage::Final { level: level as u8 };
                ctx.sample(arm, self.sizes[0]);
            }
            None => self.stage = Stage::Idle,
        }
    }
}

impl Rule for SelectivePromotionRule {
    const KIND: &'static str = "AggressiveSelectivePromotion";

    fn new(n_arms: u64, horizon: u64) -> Self {
        let unit = epsilon(n_arms, horizon).powi(-2);
        let n_levels = log_star(n_arms) as usize + 1;
        let mut r = vec![2.0f64];
        while r.len() < n_levels {
            let last = r[r.len() - 1];
            r.push(2f64.powf(last));
        }
        let sizes = r
            .iter()
            .enumerate()
            .map(|(l, &rl)| pulls(if l == 0 { unit } else { rl * unit }))
            .collect();
        let ratios = (0..n_levels)
            .map(|l| {
                if l + 1 == n_levels {
                    u64::MAX
                } else if l == 0 {
                    4
                } else {
                    let e = r[l] - r[l - 1];
                    if e.is_finite() && e < 63.0 {
                        1u64 << (e as u32)
                    } else {
                        u64::MAX
                    }
                }
            })
            .collect();
        SelectivePromotionRule {
            sizes,
            ratios,
            levels: vec![Level::default(); n_levels],
            stage: Stage::Idle,
            pick: None,
        }
    }

    fn max_arms(&self) -> usize {
        self.levels.len() + 1
    }

    fn on_offer(&mut self, arm: i64, ctx: &mut Ctx<'_>) {
        self.arrive(arm, 0, ctx)
    }

    fn on_sampled(&mut self, mean: f64, ctx: &mut Ctx<'_>) {
        match self.stage {
            Stage::Idle => {}
            Stage::Arrive { arm, level } => {
                let l = level as usize;
                let top = l + 1 == self.levels.len();
                let lv = &mut self.levels[l];
                lv.arrivals = lv.arrivals.saturating_add(1);
                keep_better(&mut lv.best, arm, mean);
                if !top && lv.arrivals > self.ratios[l] {
                    let promoted = lv.best.take().map(|b| b.0);
                    lv.arrivals = 0;
                    if let Some(p) = promoted {
                        return self.arrive(p, l + 1, ctx);
                    }
                }
                self.stage = Stage::Idle;
            }
            Stage::Final { level } => {
                let l = level as usize;
                if let Some((arm, _)) = self.levels[l].best {
                    keep_better(&mut self.pick, arm, mean);
                }
                self.final_sample(l, ctx);
            }
        }
    }

    fn on_exhausted(&mut self) {
        self.stage = Stage::Idle;
    }

    fn on_finish(&mut self, ctx: &mut Ctx<'_>) {
        let filled = self.levels.iter().filter(|l| l.best.is_some()).count() as u64;
        if filled >= 2 && ctx.remaining() >= filled.saturating_mul(self.sizes[0]) {
            self.final_sample(self.levels.len(), ctx);
        }
    }

    fn choose(&self) -> Option<i64> {
        self.pick
            .map(|p| p.0)
            .or_else(|| self.highest_below(self.levels.len()).map(|(_, arm)| arm))
    }

    fn release(&mut self) {
        self.levels.iter_mut().for_each(|l| *l = Level::default());
        self.stage = Stage::Idle;
        self.pick = None;
    }

    fn awaiting(&self) -> Option<i64> {
        match self.stage {
            Stage::Idle => None,
            Stage::Arrive { arm, .. } => Some(arm),
            Stage::Final { level } => self
                .levels
                .get(level as usize)
                .and_then(|l| l.best.map(|b| b.0)),
        }
    }

    fn slots(&self) -> [Option<i64>; SLOTS] {
        let mut s = [None; SLOTS];
        for (slot, lv) in s.iter_mut().zip(&self.levels) {
            *slot = lv.best.map(|b| b.0);
        }
        if let Stage::Arrive { arm, .. } = self.stage {
            s[SLOTS - 1] = Some(arm);
        }
        s
    }

    fn check(&self) -> Result<()> {
        let n = self.levels.len();
        let stage_ok = match self.stage {
            Stage::Idle => true,
            Stage::Arrive { level, .. } => (level as usize) < n,
            Stage::Final { level } => self
                .levels
                .get(level as usize)
                .is_some_and(|l| l.best.is_some()),
        };
        if !(2..SLOTS).contains(&n)
            || self.sizes.len() != n
            || self.ratios.len() != n
            || self.sizes.iter().any(|&s| s == 0 || s > super::MAX_HORIZON)
            || !stage_ok
        {
            return Err(Error::state(
                "AggressiveSelectivePromotion levels or stage out of range",
            ));
        }
        for lv in &self.levels {
            check_scored(&lv.best, "level arm")?;
        }
        check_scored(&self.pick, "final pick")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::super::AggressiveSelectivePromotion;
    use super::*;
    use crate::state::{decode, encode};

    #[test]
    fn levels_sizes_and_caps_follow_the_notes() {
        assert_eq!(
            [1, 2, 3, 15, 16, 1000, 1_000_000, 3_000_000, 4_000_000].map(log_star),
            [1, 1, 2, 2, 3, 3, 3, 3, 4]
        );
        let r = SelectivePromotionRule::new(1000, 1_000_000_000_000);
        assert_eq!(r.n_levels(), 4);
        let s: Vec<f64> = r.sizes().iter().map(|&s| s as f64 / 1e6).collect();
        for (got, want) in s.iter().zip([1.0, 4.0, 16.0, 65536.0]) {
            assert!((got / want - 1.0).abs() < 1e-6, "{s:?}");
        }
        assert_eq!(r.arrivals_per_promotion(), vec![5, 5, 4097, u64::MAX]);
        let big = SelectivePromotionRule::new(u64::MAX, super::super::MAX_HORIZON);
        assert_eq!(big.n_levels(), 5);
        assert!(big.sizes().iter().all(|&s| s >= 1));
    }

    #[test]
    fn promotion_resamples_and_clears_the_level() {
        // Deterministic rewards: arm i pays i/10. Level 0 takes 5 arrivals, then promotes.
        let mut p = AggressiveSelectivePromotion::new(20, 8_000_000, Some(0)).unwrap();
        let s = p.rule.sizes().to_vec();
        for arm in 0..5i64 {
            p.offer(arm).unwrap();
            assert_eq!(p.pending(), s[0]);
            p.update_many(arm, &vec![arm as f64 / 10.0; s[0] as usize])
                .unwrap();
        }
        // The fifth arrival promoted arm 4: it is resampled at level 1, level 0 is empty.
        assert_eq!(p.next_pull(), Some(4));
        assert_eq!(p.pending(), s[1]);
        assert_eq!(p.rule.levels[0], Level::default());
        assert_eq!(p.arms_in_memory(), vec![4]);
        p.update_many(4, &vec![0.4; s[1] as usize]).unwrap();
        let (arm, mean) = p.rule.levels[1].best.unwrap();
        assert_eq!(arm, 4);
        assert!((mean - 0.4).abs() < 1e-9);
        // Arm 7 lands at level 0; at the end both levels are sampled s_0 more times.
        p.offer(7).unwrap();
        p.update_many(7, &vec![0.7; s[0] as usize]).unwrap();
        p.finish().unwrap();
        assert_eq!(
            (p.next_pull(), p.pending()),
            (Some(4), s[0]),
            "top level first"
        );
        p.update_many(4, &vec![0.4; s[0] as usize]).unwrap();
        assert_eq!((p.next_pull(), p.pending()), (Some(7), s[0]));
        p.update_many(7, &vec![0.7; s[0] as usize]).unwrap();
        assert_eq!(p.committed(), Some(7));
        assert_eq!(p.pending(), 8_000_000 - p.n_pulls());
    }

    #[test]
    fn memory_stays_within_log_star_and_round_trips() {
        let k = 30_000usize;
        let means: Vec<f64> = (0..k)
            .map(|i| ((i * 7919) % 10007) as f64 / 10007.0)
            .collect();
        let mut p = AggressiveSelectivePromotion::new(k as u64, 1 << 50, Some(2)).unwrap();
        let (_, peak) = drive(&mut p, &means, 5);
        assert_eq!(p.max_arms_in_memory(), log_star(k as u64) as usize + 2);
        assert!(peak <= p.max_arms_in_memory());
        assert!(peak >= 3, "the levels are used: peak {peak}");
        let mut q = AggressiveSelectivePromotion::new(40, 1 << 30, Some(2)).unwrap();
        for arm in 0..13 {
            q.offer(arm).unwrap();
            while let Some((a, n)) = q.pending_request() {
                q.update_many(a, &vec![(a % 5) as f64 / 4.0; n as usize])
                    .unwrap();
            }
        }
        q.offer(13).unwrap();
        q.update(13, 1.0).unwrap();
        let mut r: AggressiveSelectivePromotion = decode(&encode(&q).unwrap()).unwrap();
        assert_eq!(q, r);
        for p in [&mut q, &mut r] {
            for arm in 14..40 {
                while let Some((a, n)) = p.pending_request() {
                    p.update_many(a, &vec![(a % 5) as f64 / 4.0; n.min(1 << 20) as usize])
                        .unwrap();
                }
                p.offer(arm).unwrap();
            }
        }
        assert_eq!(q, r);
    }
}
