//! HATCH (Yang, Li, Qin and Ye, WWW 2020), run on an infinite horizon: a contextual bandit
//! that pays one unit per served user and may skip users for free. An allocation layer
//! serves users by class (nearest of J centers) so that the expected spending per user is
//! the budget rate, filling classes in descending optimistic value (the LP
//! max sum_j phi_j p_j u_j s.t. sum_j phi_j p_j <= rate, p in [0, 1] is solved by that
//! greedy, with one fractional class); a personalization layer, disjoint LinUCB, picks the
//! arm of a served user.
//!
//! The budget accrues `rate` per arriving user (and stops at `budget` when one is given): a
//! user is served only when a whole unit is available, so the spending never exceeds
//! min(rate * users, budget). The LP is solved at the paced rate
//! rate + (rate * users - spent) / PACING_WINDOW (clipped to [0, 1]), the infinite-horizon
//! form of HATCH's B_tau / (T - tau): a shortfall is made up over the next users, which
//! keeps the spending on the line rate * users. Class frequencies phi_j are counted online
//! (with one prior arrival per class); class values u_j are optimistic ridge estimates on
//! the centers (x_j^T theta + alpha ||x_j||_{A^-1}) from the served users' rewards.

use crate::contextual::{ContextualPolicy, LinUCB};
use crate::eligible::{Eligible, EligibleRows};
use crate::error::{show, Error, Result};
use crate::rng::Rng;
use crate::state::Persist;
use serde::{Deserialize, Serialize};

/// Users over which a shortfall (or excess) of spending against the budget line is made up.
pub const PACING_WINDOW: f64 = 100.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HATCH {
    /// Disjoint LinUCB on the full context: the arm of a served user.
    #[serde(with = "crate::contextual::linear::undecayed_linucb")]
    personal: LinUCB,
    /// A one-arm LinUCB on the class centers: the optimistic class values.
    #[serde(with = "crate::contextual::linear::undecayed_linucb")]
    classes: LinUCB,
    centers: Vec<f64>,
    arrivals: Vec<u64>,
    rate: f64,
    budget: Option<f64>,
    spent: u64,
    users: u64,
    rng: Rng,
}

impl HATCH {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_arms: usize,
        dim: usize,
        centers: &[f64],
        rate: f64,
        budget: Option<f64>,
        alpha: f64,
        lam: f64,
        seed: Option<u64>,
    ) -> Result<Self> {
        let mut rng = Rng::from_optional_seed(seed);
        let personal = LinUCB::new(n_arms, dim, alpha, lam, Some(rng.next_raw()))?;
        let classes = LinUCB::new(1, dim, alpha, lam, Some(rng.next_raw()))?;
        if centers.is_empty() || centers.len() % dim != 0 {
            return Err(Error::shape(
                "centers",
                format!(
                    "expected a (n_classes, dim = {dim}) array with at least one row, got {} values",
                    centers.len()
                ),
            ));
        }
        let p = HATCH {
            personal,
            classes,
            centers: centers.to_vec(),
            arrivals: vec![0; centers.len() / dim],
            rate,
            budget,
            spent: 0,
            users: 0,
            rng,
        };
        p.check_params()?;
        Ok(p)
    }

    fn check_params(&self) -> Result<()> {
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            return Err(Error::param(
                "rate",
                format!("must be a number in (0, 1], got {}", show(self.rate)),
            ));
        }
        if let Some(b) = self.budget {
            if !(b.is_finite() && b >= 0.0) {
                return Err(Error::param(
                    "budget",
                    format!("must be None or a finite number >= 0, got {}", show(b)),
                ));
            }
        }
        if let Some(i) = self
            .centers
            .iter()
            .position(|v| !v.is_finite() || v.abs() > 1e30)
        {
            return Err(Error::param(
                "centers",
                format!(
                    "expected finite values of magnitude <= 1e30, got {} at position {i}",
                    show(self.centers[i])
                ),
            ));
        }
        Ok(())
    }

    pub fn n_arms(&self) -> usize {
        self.personal.n_arms()
    }
    pub fn dim(&self) -> usize {
        self.personal.dim()
    }
    pub fn n_classes(&self) -> usize {
        self.arrivals.len()
    }
    pub fn rate(&self) -> f64 {
        self.rate
    }
    pub fn budget(&self) -> Option<f64> {
        self.budget
    }
    pub fn spent(&self) -> u64 {
        self.spent
    }
    pub fn n_users(&self) -> u64 {
        self.users
    }
    /// Rewards learned (successful `update` calls; the arm and class models learn each one).
    pub fn n_updates(&self) -> u64 {
        self.personal.n_updates()
    }
    pub fn arrivals(&self) -> &[u64] {
        &self.arrivals
    }
    pub fn centers(&self) -> &[f64] {
        &self.centers
    }
    pub fn counts(&self) -> Vec<u64> {
        self.personal.counts()
    }
    pub fn describe_params(&self) -> String {
        format!(
            "rate={}, budget={}, {}",
            self.rate,
            self.budget.map_or("None".to_string(), |b| b.to_string()),
            self.personal.describe_params()
        )
    }

    fn check_x(&self, name: &str, x: &[f64]) -> Result<()> {
        let d = self.dim();
        if x.len() != d {
            return Err(Error::shape(
                name,
                format!("expected {d} features, got {}", x.len()),
            ));
        }
        crate::contextual::check_contexts(name, x, d).map(|_| ())
    }

    /// The class of context `x`: its nearest center (ties to the lower index).
    pub fn class_of(&self, x: &[f64]) -> Result<usize> {
        self.check_x("x", x)?;
        Ok(self.nearest(x))
    }

    fn nearest(&self, x: &[f64]) -> usize {
        let d = self.dim();
        let mut best = (f64::INFINITY, 0);
        for (j, c) in self.centers.chunks(d).enumerate() {
            let dist: f64 = c.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
            if dist < best.0 {
                best = (dist, j);
            }
        }
        best.1
    }

    /// Optimistic class values u_j = x_j^T theta + alpha ||x_j||_{A^-1}.
    pub fn class_values(&self) -> Vec<f64> {
        self.classes
            .scores_batch(&self.centers)
            .unwrap_or_else(|_| vec![0.0; self.n_classes()])
    }

    /// The serving probability of each class: the LP's greedy solution at the budget rate.
    pub fn serve_probabilities(&self) -> Vec<f64> {
        let values = self.class_values();
        let j_n = self.n_classes() as f64;
        let total = self.users as f64 + j_n;
        let mut order: Vec<usize> = (0..self.n_classes()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let surplus = self.rate * self.users as f64 - self.spent as f64;
        let mut left = (self.rate + surplus / PACING_WINDOW).clamp(0.0, 1.0);
        let mut p = vec![0.0; self.n_classes()];
        for j in order {
            if left <= 0.0 || values[j] <= 0.0 {
                break;
            }
            let phi = (self.arrivals[j] as f64 + 1.0) / total;
            p[j] = (left / phi).min(1.0);
            left -= p[j] * phi;
        }
        p
    }

    /// The allowance left for the next user: min(rate * (users + 1), budget) - spent.
    pub fn allowance(&self) -> f64 {
        let accrued = self.rate * (self.users as f64 + 1.0);
        let cap = self.budget.map_or(accrued, |b| accrued.min(b));
        cap - self.spent as f64
    }

    /// One arriving user with context `x`: the arm to serve, or None to skip (free). A serve
    /// spends one unit at once.
    pub fn select(&mut self, x: &[f64]) -> Result<Option<usize>> {
        self.select_eligible(x, None)
    }

    /// `select` with the served arm chosen among the `eligible` arms only (LinUCB's argmax
    /// over them, ties at random). Whether the user is served does not depend on the mask
    /// (the class and the budget decide it); a mask is validated before anything changes,
    /// and the learned models are never touched by it.
    pub fn select_eligible(
        &mut self,
        x: &[f64],
        eligible: Option<&Eligible>,
    ) -> Result<Option<usize>> {
        self.check_x("x", x)?;
        if let Some(e) = eligible {
            e.check_arms(self.n_arms())?;
        }
        if self.users == u64::MAX {
            return Err(Error::param("x", "the user count would exceed 2**64 - 1"));
        }
        let j = self.nearest(x);
        let p = self.serve_probabilities()[j];
        let can_pay = self.allowance() >= 1.0;
        let draw = self.rng.uniform();
        self.users += 1;
        self.arrivals[j] += 1;
        if can_pay && draw < p {
            self.spent += 1;
            match eligible {
                None => Ok(Some(self.personal.select(x)?)),
                Some(e) => Ok(Some(self.personal.select_eligible(x, None, e)?)),
            }
        } else {
            Ok(None)
        }
    }

    /// The served arm's index for context `x` (LinUCB's upper confidence bound per arm),
    /// -inf outside `eligible` when given.
    pub fn scores(&self, x: &[f64], eligible: Option<&Eligible>) -> Result<Vec<f64>> {
        self.check_x("x", x)?;
        match eligible {
            None => self.personal.scores_batch(x),
            Some(e) => self
                .personal
                .scores_batch_eligible(x, &EligibleRows::Shared(e.clone())),
        }
    }

    /// The law of the arm served to a user with context `x` given that the user is served
    /// (restricted to `eligible` when given): uniform over the maximizers of `scores`, 0
    /// elsewhere. The propensity of a logged serve is this times the serve probability of
    /// the user's class (`serve_probabilities`) at that moment.
    pub fn probabilities(&self, x: &[f64], eligible: Option<&Eligible>) -> Result<Vec<f64>> {
        self.check_x("x", x)?;
        let all;
        let e = match eligible {
            Some(e) => e,
            None => {
                all = Eligible::all(self.n_arms());
                &all
            }
        };
        self.personal
            .probabilities_batch_eligible(x, None, &EligibleRows::Shared(e.clone()))
    }

    /// Record the reward of a served user: the arm model and the class model learn it.
    pub fn update(&mut self, x: &[f64], arm: i64, reward: f64) -> Result<()> {
        self.check_x("x", x)?;
        let j = self.nearest(x);
        let d = self.dim();
        // Validate on the arm model first: a refused call changes nothing.
        self.personal.update(x, arm, reward, 1.0)?;
        let center = self.centers[j * d..(j + 1) * d].to_vec();
        self.classes.update(&center, 0, reward, 1.0)
    }
}

impl Persist for HATCH {
    const KIND: &'static str = "HATCH";
    fn check_invariants(&self) -> Result<()> {
        self.personal.check_policy()?;
        self.classes.check_policy()?;
        self.check_params()?;
        let d = self.personal.dim();
        let ok = self.classes.dim() == d
            && self.classes.n_arms() == 1
            && !self.arrivals.is_empty()
            && self.centers.len() == self.arrivals.len() * d
            && self.arrivals.iter().sum::<u64>() == self.users
            && self.spent <= self.users
            && self.personal.n_updates() == self.classes.n_updates()
            && self.rng.is_valid();
        if ok {
            Ok(())
        } else {
            Err(Error::state("HATCH: sizes or counters are inconsistent"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_tracks_the_rate_and_never_exceeds_it() {
        let centers = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
        let mut p = HATCH::new(2, 2, &centers, 0.3, None, 1.0, 1.0, Some(1)).unwrap();
        let mut rng = Rng::seed_from_u64(9);
        for t in 1..=3000u64 {
            let j = rng.below(3) as usize;
            let x = &centers[j * 2..j * 2 + 2];
            if let Some(arm) = p.select(x).unwrap() {
                let reward = if j == 0 && arm == 1 { 1.0 } else { 0.2 };
                p.update(x, arm as i64, reward).unwrap();
            }
            assert!(p.spent() as f64 <= 0.3 * t as f64 + 1e-9);
        }
        assert!(p.spent() as f64 >= 0.3 * 3000.0 - 5.0, "{}", p.spent());
    }
}
