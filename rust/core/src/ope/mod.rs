//! Off-policy evaluation: estimate the value of an evaluation policy `pi_e` from logs of
//! another (behaviour) policy `pi_b`, in one pass over the rows.
//!
//! The estimators and their inputs follow Open Bandit Pipeline (Saito et al. 2021) so that
//! the two can be checked against each other: per row `reward`, logged `action`, its
//! propensity `pscore = pi_b(a_i | x_i)`, an optional slot `position` (ranked lists, one
//! row per slot), the evaluation policy `action_dist` (the full `(n, n_actions, len_list)`
//! table, or only `pi_e(a_i | x_i)`), and for the model-based estimators a reward model
//! `estimated_rewards` of the same shape as `action_dist`.
//!
//! Every estimator is written as the mean of a per-row term `u_i` plus, for the
//! self-normalized ones, a ratio `sum v_i / sum w_i` (`w_i = pi_e(a_i|x_i) / pscore_i` is the
//! importance weight):
//!
//! | estimator | u_i | v_i |
//! |---|---|---|
//! | DM | `q(x_i, pi_e)` | 0 |
//! | IPW (clip `lambda`) | `min(w_i, lambda) r_i` | 0 |
//! | SNIPW | 0 | `w_i r_i` |
//! | DR (clip `lambda`) | `q(x_i, pi_e) + min(w_i, lambda) (r_i - q(x_i, a_i))` | 0 |
//! | SNDR | `q(x_i, pi_e)` | `w_i (r_i - q(x_i, a_i))` |
//! | Switch-DR | `q(x_i, pi_e) + 1{w_i <= lambda} w_i (r_i - q(x_i, a_i))` | 0 |
//! | DRos | `q(x_i, pi_e) + lambda w_i / (w_i^2 + lambda) (r_i - q(x_i, a_i))` | 0 |
//!
//! where `q(x, pi_e) = sum_a pi_e(a|x) q(x, a) / sum_a pi_e(a|x)` (obp's weighted average).
//! So an estimate needs only the running moments of `(u, v, w)`: see
//! [`OffPolicyAccumulator`] for how the estimate, its standard error and a Poisson-bootstrap
//! interval come out of one pass with memory independent of the number of rows.

mod accumulate;
mod interval;
pub mod replay;
mod small_sample;
mod terms;

use crate::error::{Error, Result};

pub use accumulate::{
    evaluate, evaluate_with, round_rewards, OffPolicyAccumulator, Summary, CHUNK_ROWS,
};
pub use interval::{normal_quantile, percentile_sorted};
pub use replay::{replay, ReplayOutput};
pub use small_sample::{small_sample_intervals, SmallSampleIntervals};

/// Tolerance on `|sum_a pi_e(a|x) - 1|`: numpy's `allclose(s, 1)` (rtol 1e-5, atol 1e-8),
/// the check Open Bandit Pipeline applies, so every input obp accepts is accepted here.
pub const SUM_TOLERANCE: f64 = 1e-5 + 1e-8;

/// An off-policy estimator and its hyperparameter. `lambda` is obp's `lambda_`: the clipping
/// level of IPW and DR (infinite: no clipping), the switching threshold of Switch-DR and the
/// shrinkage of DRos (0 gives DM, infinity gives DR).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Estimator {
    DirectMethod,
    Ipw { lambda: f64 },
    SnIpw,
    Dr { lambda: f64 },
    SnDr,
    SwitchDr { lambda: f64 },
    DrOs { lambda: f64 },
}

impl Estimator {
    /// By obp's `estimator_name`: `dm`, `ipw`, `snipw`, `dr`, `sndr`, `switch-dr`, `dr-os`.
    /// `lambda` must be >= 0 (infinity allowed) and is ignored by dm, snipw and sndr.
    pub fn from_name(name: &str, lambda: f64) -> Result<Self> {
        if lambda.is_nan() || lambda < 0.0 {
            return Err(Error::param(
                "lambda_",
                format!("must be a number >= 0 (inf allowed), got {lambda}"),
            ));
        }
        Ok(match name {
            "dm" => Estimator::DirectMethod,
            "ipw" => Estimator::Ipw { lambda },
            "snipw" => Estimator::SnIpw,
            "dr" => Estimator::Dr { lambda },
            "sndr" => Estimator::SnDr,
            "switch-dr" => Estimator::SwitchDr { lambda },
            "dr-os" => Estimator::DrOs { lambda },
            other => {
                return Err(Error::param(
                    "estimator",
                    format!(
                        "unknown estimator {other:?}; expected one of dm, ipw, snipw, dr, sndr, switch-dr, dr-os"
                    ),
                ))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Estimator::DirectMethod => "dm",
            Estimator::Ipw { .. } => "ipw",
            Estimator::SnIpw => "snipw",
            Estimator::Dr { .. } => "dr",
            Estimator::SnDr => "sndr",
            Estimator::SwitchDr { .. } => "switch-dr",
            Estimator::DrOs { .. } => "dr-os",
        }
    }

    /// Uses the logged reward, action and propensity (all but DM).
    pub fn uses_logged_feedback(&self) -> bool {
        !matches!(self, Estimator::DirectMethod)
    }

    /// Needs a reward model (DM and the doubly robust family).
    pub fn uses_reward_model(&self) -> bool {
        !matches!(self, Estimator::Ipw { .. } | Estimator::SnIpw)
    }

    /// Divides by the sum of the importance weights (SNIPW, SNDR).
    pub fn self_normalized(&self) -> bool {
        matches!(self, Estimator::SnIpw | Estimator::SnDr)
    }
}

/// A per-row table of values over actions and slots, row-major `(rows, n_actions,
/// len_list)`. `rows == 1` means one table shared by every row (a context-free policy).
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    pub values: &'a [f64],
    pub rows: usize,
    pub n_actions: usize,
    pub len_list: usize,
}

impl<'a> Table<'a> {
    pub fn new(
        values: &'a [f64],
        rows: usize,
        n_actions: usize,
        len_list: usize,
        argument: &str,
    ) -> Result<Self> {
        if n_actions == 0 || len_list == 0 || rows == 0 {
            return Err(Error::shape(
                argument,
                format!("needs at least one row, action and slot, got shape ({rows}, {n_actions}, {len_list})"),
            ));
        }
        if rows
            .checked_mul(n_actions)
            .and_then(|x| x.checked_mul(len_list))
            != Some(values.len())
        {
            return Err(Error::shape(
                argument,
                format!(
                    "{} values do not fill shape ({rows}, {n_actions}, {len_list})",
                    values.len()
                ),
            ));
        }
        Ok(Table {
            values,
            rows,
            n_actions,
            len_list,
        })
    }

    /// Offset of row `i`'s block.
    #[inline(always)]
    pub(crate) fn base(&self, i: usize) -> usize {
        if self.rows == 1 {
            0
        } else {
            i * self.n_actions * self.len_list
        }
    }
}

/// The evaluation policy, as obp takes it (`Full`), or only the probability it gives the
/// logged action (`Logged`, enough for IPW and SNIPW).
#[derive(Clone, Copy, Debug)]
pub enum ActionDist<'a> {
    Full(Table<'a>),
    Logged(&'a [f64]),
}

/// Logged rewards, borrowed in the caller's dtype: integer rewards (obp's binary rewards
/// are int64) are read as `f64` row by row instead of being copied to a float array.
#[derive(Clone, Copy, Debug)]
pub enum Rewards<'a> {
    F64(&'a [f64]),
    I64(&'a [i64]),
}

impl Rewards<'_> {
    pub fn len(&self) -> usize {
        match self {
            Rewards::F64(s) => s.len(),
            Rewards::I64(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reward of row `i` (an integer converted as numpy's `astype(float64)` does).
    #[inline(always)]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Rewards::F64(s) => s[i],
            Rewards::I64(s) => s[i] as f64,
        }
    }

    /// Rows `start..start + out.len()` into `out`.
    #[inline(always)]
    pub(crate) fn copy_to(&self, start: usize, out: &mut [f64]) {
        match self {
            Rewards::F64(s) => out.copy_from_slice(&s[start..start + out.len()]),
            Rewards::I64(s) => {
                let n = out.len();
                for (o, &x) in out.iter_mut().zip(&s[start..start + n]) {
                    *o = x as f64;
                }
            }
        }
    }
}

impl<'a> From<&'a [f64]> for Rewards<'a> {
    fn from(s: &'a [f64]) -> Self {
        Rewards::F64(s)
    }
}

impl<'a> From<&'a [i64]> for Rewards<'a> {
    fn from(s: &'a [i64]) -> Self {
        Rewards::I64(s)
    }
}

/// Logged actions (or slots), borrowed as int64 or int32.
#[derive(Clone, Copy, Debug)]
pub enum Actions<'a> {
    I64(&'a [i64]),
    I32(&'a [i32]),
}

impl Actions<'_> {
    pub fn len(&self) -> usize {
        match self {
            Actions::I64(s) => s.len(),
            Actions::I32(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Actions::I64(s) => s[i],
            Actions::I32(s) => s[i] as i64,
        }
    }

    /// Rows `start..start + out.len()` into `out`.
    #[inline(always)]
    pub(crate) fn copy_to(&self, start: usize, out: &mut [i64]) {
        match self {
            Actions::I64(s) => out.copy_from_slice(&s[start..start + out.len()]),
            Actions::I32(s) => {
                let n = out.len();
                for (o, &x) in out.iter_mut().zip(&s[start..start + n]) {
                    *o = x as i64;
                }
            }
        }
    }
}

impl<'a> From<&'a [i64]> for Actions<'a> {
    fn from(s: &'a [i64]) -> Self {
        Actions::I64(s)
    }
}

impl<'a> From<&'a [i32]> for Actions<'a> {
    fn from(s: &'a [i32]) -> Self {
        Actions::I32(s)
    }
}

/// One batch of logged rows (all slices of the same length, except tables with one row).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub reward: Option<Rewards<'a>>,
    pub action: Option<Actions<'a>>,
    pub pscore: Option<&'a [f64]>,
    pub position: Option<&'a [i64]>,
    pub action_dist: ActionDist<'a>,
    pub estimated_rewards: Option<Table<'a>>,
}

#[cfg(test)]
mod tests;
