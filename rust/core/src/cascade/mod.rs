//! Cascading bandits (Kveton, Szepesvari, Wen, Ashkan 2015; Zong et al. 2016): each round
//! shows an ordered list of k of L items; the user scans it from the top and clicks the
//! first attractive item. Items above the click are observed unattractive, the clicked one
//! attractive, items below it unobserved. The policies rank items by an optimistic index of
//! their attraction probability; [`registry::AnyCascade`] holds any of them, and
//! [`simulate`] plays one against a cascade click model.

use crate::eligible::{Eligible, EligibleRows};
use crate::error::{Error, Result};
use crate::policy::list::{top_k_random_ties, top_k_random_ties_among, RankedList};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

pub mod linucb;
pub mod registry;
pub mod simulate;
pub mod ucb;

pub use linucb::CascadeLinUCB;
pub use registry::AnyCascade;
pub use simulate::{simulate_cascade, CascadeEnv};
pub use ucb::{CascadeKLUCB, CascadeUCB1};

/// What every cascade policy keeps: its generator, per-item examination and click counts,
/// and the number of rounds (lists with feedback) seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeCore {
    pub rng: Rng,
    pub examined: Vec<u64>,
    pub clicks: Vec<u64>,
    pub rounds: u64,
}

impl CascadeCore {
    pub fn new(n_items: usize, seed: Option<u64>) -> Result<Self> {
        if n_items == 0 {
            return Err(Error::param("n_items", "must be at least 1, got 0"));
        }
        crate::limits::check_alloc("n_items", &[n_items], 24)?;
        Ok(CascadeCore {
            rng: Rng::from_optional_seed(seed),
            examined: vec![0; n_items],
            clicks: vec![0; n_items],
            rounds: 0,
        })
    }

    pub fn n_items(&self) -> usize {
        self.examined.len()
    }

    /// Click rate per item (0 for items never examined).
    pub fn click_rates(&self) -> Vec<f64> {
        self.examined
            .iter()
            .zip(&self.clicks)
            .map(|(&n, &c)| if n == 0 { 0.0 } else { c as f64 / n as f64 })
            .collect()
    }

    pub fn check(&self) -> Result<()> {
        if self.examined.is_empty() || self.examined.len() != self.clicks.len() {
            return Err(Error::state(
                "per-item counts are empty or of different lengths",
            ));
        }
        if !self.rng.is_valid() {
            return Err(Error::state("generator state is all zeros"));
        }
        if self.clicks.iter().zip(&self.examined).any(|(c, n)| c > n) {
            return Err(Error::state("an item has more clicks than examinations"));
        }
        let clicks: u128 = self.clicks.iter().map(|&c| c as u128).sum();
        if clicks > self.rounds as u128 {
            return Err(Error::state("more clicks than rounds"));
        }
        Ok(())
    }

    /// Adds `other`'s counts (same number of items, checked by the caller).
    pub fn merge(&mut self, other: &CascadeCore) -> Result<()> {
        let rounds = crate::error::checked_count(self.rounds, other.rounds, "round count")?;
        for (a, b) in self.examined.iter().zip(&other.examined) {
            crate::error::checked_count(*a, *b, "examination count")?;
        }
        for (a, b) in self.examined.iter_mut().zip(&other.examined) {
            *a += b;
        }
        for (a, b) in self.clicks.iter_mut().zip(&other.clicks) {
            *a += b;
        }
        self.rounds = rounds;
        Ok(())
    }
}

/// A shown list and its click, validated: distinct items in range, the click a slot of
/// the list. `position` names the row of a batch in messages.
pub fn check_feedback(
    n_items: usize,
    items: &[i64],
    click: Option<i64>,
    position: Option<usize>,
) -> Result<(Vec<usize>, Option<usize>)> {
    let row = position.map_or(String::new(), |r| format!(" (row {r})"));
    if items.is_empty() || items.len() > n_items {
        return Err(Error::shape(
            "items",
            format!(
                "expected a list of 1 to {n_items} items (the number of items), got {}{row}",
                items.len()
            ),
        ));
    }
    let mut seen = vec![false; n_items];
    let mut list = Vec::with_capacity(items.len());
    for &e in items {
        if e < 0 || e as u64 >= n_items as u64 {
            return Err(Error::ArmOutOfRange {
                argument: "items".into(),
                arm: e,
                n_arms: n_items,
                position,
            });
        }
        let e = e as usize;
        if seen[e] {
            return Err(Error::param(
                "items",
                format!("item {e} is listed twice{row}; a list shows distinct items"),
            ));
        }
        seen[e] = true;
        list.push(e);
    }
    let click = match click {
        None => None,
        Some(c) if c >= 0 && (c as u64) < items.len() as u64 => Some(c as usize),
        Some(c) => {
            return Err(Error::param(
                "click_position",
                format!(
                    "must be a slot of the list in [0, {}) or None (no click), got {c}{row}",
                    items.len()
                ),
            ))
        }
    };
    Ok((list, click))
}

/// `k` of a list over `n_items` items.
pub fn check_k(k: usize, n_items: usize) -> Result<()> {
    if k == 0 || k > n_items {
        return Err(Error::param(
            "k",
            format!("must be an integer in [1, {n_items}] (the number of items), got {k}"),
        ));
    }
    Ok(())
}

/// `k` of a list over the eligible items: a list of k distinct eligible items needs k of
/// them (a shorter list is not returned: the caller asked for k slots). `row` names the
/// row of a batch.
pub fn check_k_eligible(k: usize, eligible: &Eligible, row: Option<usize>) -> Result<()> {
    if k > eligible.count() {
        let at = row.map_or(String::new(), |r| format!(" in row {r}"));
        return Err(Error::param(
            "k",
            format!(
                "must be at most the number of eligible items, {}{at}; got {k}",
                eligible.count()
            ),
        ));
    }
    Ok(())
}

/// The common behaviour of the cascade policies: an optimistic index per item, the top k
/// of it as the list, and the cascade feedback rule for updates.
pub trait CascadePolicy: crate::state::Persist + Clone + Send + Sync + 'static {
    fn core(&self) -> &CascadeCore;
    fn core_mut(&mut self) -> &mut CascadeCore;
    /// Optimistic attraction index per item (+inf for items never examined).
    fn scores(&self) -> Vec<f64>;
    /// Hyperparameters as `name=value` pairs, for `repr`.
    fn describe_params(&self) -> String;
    /// Extra statistics of one examined item with its label (0 or 1).
    fn observe_extra(&mut self, _item: usize, _label: f64) {}

    fn n_items(&self) -> usize {
        self.core().n_items()
    }

    /// The top `k` items by index, ties in random order (see [`top_k_random_ties`] for the
    /// propensities).
    fn select_list(&mut self, k: usize) -> Result<RankedList> {
        check_k(k, self.n_items())?;
        let scores = self.scores();
        Ok(top_k_random_ties(&scores, k, &mut self.core_mut().rng))
    }

    /// `n` lists with no feedback between them, row-major (n * k).
    fn select_list_batch(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        check_k(k, self.n_items())?;
        crate::limits::check_alloc("n", &[n, k], 16)?;
        let scores = self.scores();
        let mut out = Vec::with_capacity(n * k);
        for _ in 0..n {
            out.extend(top_k_random_ties(&scores, k, &mut self.core_mut().rng).arms);
        }
        Ok(out)
    }

    /// `select_list` among the `eligible` items only: the top `k` of their indices, ties
    /// in random order (the same draws as the unrestricted list over those items alone).
    /// Needs at least `k` eligible items.
    fn select_list_eligible(&mut self, k: usize, eligible: &Eligible) -> Result<RankedList> {
        check_k(k, self.n_items())?;
        eligible.check_arms(self.n_items())?;
        check_k_eligible(k, eligible, None)?;
        let scores = self.scores();
        Ok(top_k_random_ties_among(
            &scores,
            k,
            eligible,
            &mut self.core_mut().rng,
        ))
    }

    /// `select_list_batch` with the eligible items of each row (all rows validated first).
    fn select_list_batch_eligible(
        &mut self,
        n: usize,
        k: usize,
        eligible: &EligibleRows,
    ) -> Result<Vec<usize>> {
        check_k(k, self.n_items())?;
        crate::limits::check_alloc("n", &[n, k], 16)?;
        eligible.check(n, self.n_items())?;
        for r in 0..n {
            let row = matches!(eligible, EligibleRows::PerRow(_)).then_some(r);
            check_k_eligible(k, eligible.row(r), row)?;
            if row.is_none() {
                break;
            }
        }
        let scores = self.scores();
        let mut out = Vec::with_capacity(n * k);
        for r in 0..n {
            let rng = &mut self.core_mut().rng;
            out.extend(top_k_random_ties_among(&scores, k, eligible.row(r), rng).arms);
        }
        Ok(out)
    }

    /// `scores` with -inf for the items outside `eligible`.
    fn scores_eligible(&self, eligible: &Eligible) -> Result<Vec<f64>> {
        eligible.check_arms(self.n_items())?;
        let mut s = self.scores();
        eligible.mask_scores(&mut s);
        Ok(s)
    }

    /// Records a validated list: items above the click get label 0, the clicked item 1.
    fn record(&mut self, list: &[usize], click: Option<usize>) {
        let last = click.unwrap_or(list.len() - 1);
        for (slot, &e) in list[..=last].iter().enumerate() {
            let label = u64::from(click == Some(slot));
            let c = self.core_mut();
            c.examined[e] += 1;
            c.clicks[e] += label;
            self.observe_extra(e, label as f64);
        }
        self.core_mut().rounds += 1;
    }

    fn update_list(&mut self, items: &[i64], click: Option<i64>) -> Result<()> {
        let (list, click) = check_feedback(self.n_items(), items, click, None)?;
        room(self.core(), 1)?;
        self.record(&list, click);
        Ok(())
    }

    /// `lists` is row-major (n rows of `k` items); `clicks[r]` < 0 means no click. Every
    /// row is validated before any is recorded.
    fn update_list_batch(&mut self, lists: &[i64], k: usize, clicks: &[i64]) -> Result<()> {
        if k == 0 || lists.len() != clicks.len() * k {
            return Err(Error::shape(
                "clicks",
                format!(
                    "expected one click position per list: {} lists of {k} items, {} clicks",
                    lists.len().checked_div(k).unwrap_or(0),
                    clicks.len()
                ),
            ));
        }
        let mut rows = Vec::with_capacity(clicks.len());
        for (r, &c) in clicks.iter().enumerate() {
            let click = if c < 0 { None } else { Some(c) };
            rows.push(check_feedback(
                self.n_items(),
                &lists[r * k..(r + 1) * k],
                click,
                Some(r),
            )?);
        }
        room(self.core(), clicks.len() as u64)?;
        for (list, click) in rows {
            self.record(&list, click);
        }
        Ok(())
    }
}

/// `Ok` while `added` more rounds keep every count below 2^64.
fn room(core: &CascadeCore, added: u64) -> Result<()> {
    if core.rounds.checked_add(added).is_some() {
        return Ok(());
    }
    Err(Error::param(
        "n_rounds",
        format!(
            "the round count {} cannot grow by {added}: it would exceed 2**64 - 1",
            core.rounds
        ),
    ))
}

/// ln t for the round count t, floored at 0.
pub(crate) fn ln_rounds(t: u64) -> f64 {
    if t <= 1 {
        0.0
    } else {
        (t as f64).ln()
    }
}
