//! KL-regularized contextual bandits (docs/ALGORITHMS.md section 3): play the Gibbs policy
//! pi(a|x) proportional to pi_ref(a|x) exp(eta f(x, a)) of a reference policy pi_ref and a
//! reward estimate f from the ridge regression oracle. `KLRegularizedUCB` uses the
//! optimistic f = min(1, mean + beta_t width) (Zhao, Ye, Xiong, Gu and Zhang 2025);
//! `GibbsGreedy` uses the plain estimate (no bonus), the variant argued to suffice by the
//! KL term alone. Everything is computed in log space.
//!
//! The bonus width defaults to OFUL's confidence radius (Abbasi-Yadkori, Pal and
//! Szepesvari 2011), the linear instantiation in the seed's analysis:
//! `beta_t = R sqrt(2 ln(2t) + d ln(1 + t / (d lam))) + sqrt(lam) S` with R = 1/2 (rewards in
//! [0, 1]), S = 1 and delta = 1 / (2t), so it grows with the dimension; `GibbsWidth::Tabular`
//! keeps the dimension-free `sqrt(2 ln(2t))` of the multi-armed instance. Payload version 2
//! stores the choice; version 1 bytes (which predate it) load with the tabular width they
//! were made with.

use super::{ContextualPolicy, LinearBase};
use crate::eligible::Eligible;
use crate::error::{Error, Result};
use crate::state::{read_payload, write_payload, Persist};
use crate::stats::sample_discrete;
use serde::{Deserialize, Serialize};

/// The bonus multiplier beta_t used when no fixed `beta` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GibbsWidth {
    /// OFUL's radius `sqrt(2 ln(2t) + d ln(1 + t / (d lam))) / 2 + sqrt(lam)`.
    Oful,
    /// `sqrt(2 ln(2t))`: with one constant feature, the tabular bonus
    /// `sqrt(2 ln(2t) / n_a)` of the paper's MAB instance, for every dimension.
    Tabular,
}

impl GibbsWidth {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "oful" => Ok(GibbsWidth::Oful),
            "tabular" => Ok(GibbsWidth::Tabular),
            _ => Err(Error::param(
                "width",
                format!("must be 'oful' or 'tabular', got {name:?}"),
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            GibbsWidth::Oful => "oful",
            GibbsWidth::Tabular => "tabular",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GibbsParams {
    /// Inverse temperature eta: large values mean weak regularization.
    pub eta: f64,
    /// Fixed bonus multiplier; None uses `width`'s beta_t.
    pub beta: Option<f64>,
    /// The beta_t rule when `beta` is None (unused by the greedy policy).
    pub width: GibbsWidth,
}

/// The parameters as version 1 payloads wrote them (before `width`).
#[derive(Serialize, Deserialize)]
struct GibbsParamsV1 {
    eta: f64,
    beta: Option<f64>,
}

impl GibbsParams {
    fn check(&self) -> Result<()> {
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return Err(Error::param_got(
                "eta",
                "must be a finite number > 0",
                self.eta,
            ));
        }
        if let Some(b) = self.beta {
            if !(b.is_finite() && b >= 0.0) {
                return Err(Error::param_got(
                    "beta",
                    "must be a finite number >= 0 or None",
                    b,
                ));
            }
        }
        Ok(())
    }

    /// The bonus multiplier after `t` updates, for contexts of dimension `dim` and ridge `lam`.
    fn beta_t(&self, t: u64, dim: usize, lam: f64) -> f64 {
        if let Some(b) = self.beta {
            return b;
        }
        let log_term = 2.0 * (2.0 * t.max(1) as f64).ln();
        match self.width {
            GibbsWidth::Tabular => log_term.sqrt(),
            GibbsWidth::Oful => {
                let d = dim as f64;
                0.5 * (log_term + d * (t as f64 / (d * lam)).ln_1p()).sqrt() + lam.sqrt()
            }
        }
    }
}

/// Gibbs probabilities softmax(log pi_ref + eta * f) into `out`, with f clipped to [0, 1].
fn gibbs_row(
    base: &LinearBase,
    params: &GibbsParams,
    optimistic: bool,
    x: &[f64],
    log_ref: Option<&[f64]>,
    out: &mut [f64],
    scratch: &mut [f64],
) {
    let k = out.len();
    let beta = if optimistic {
        params.beta_t(base.t, base.dim, base.lam)
    } else {
        0.0
    };
    let uniform = -(k as f64).ln();
    for (a, (o, m)) in out.iter_mut().zip(&base.arms).enumerate() {
        let mut f = m.mean(x);
        if optimistic {
            f += beta * m.width(x, scratch);
        }
        let f = f.clamp(0.0, 1.0);
        *o = log_ref.map_or(uniform, |l| l[a]) + params.eta * f;
    }
    let max = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for o in out.iter_mut() {
        *o = (*o - max).exp();
        total += *o;
    }
    for o in out.iter_mut() {
        *o /= total;
    }
}

/// [`gibbs_row`] restricted to the eligible arms (0 elsewhere), renormalized. When pi_ref
/// gives every eligible arm probability 0 the restriction is undefined; the eligible arms
/// are then played uniformly.
#[allow(clippy::too_many_arguments)]
fn gibbs_row_among(
    base: &LinearBase,
    params: &GibbsParams,
    optimistic: bool,
    x: &[f64],
    log_ref: Option<&[f64]>,
    eligible: &Eligible,
    out: &mut [f64],
    scratch: &mut [f64],
) {
    let uniform = -(out.len() as f64).ln();
    let masked: Vec<f64> = (0..out.len())
        .map(|a| match (eligible.contains(a), log_ref) {
            (false, _) => f64::NEG_INFINITY,
            (true, Some(l)) => l[a],
            (true, None) => uniform,
        })
        .collect();
    if eligible.indices().all(|a| masked[a] == f64::NEG_INFINITY) {
        out.copy_from_slice(&eligible.renormalize(&vec![1.0; out.len()]));
        return;
    }
    gibbs_row(base, params, optimistic, x, Some(&masked), out, scratch);
}

/// KL-regularized UCB: Gibbs policy on the optimistic estimate min(1, mean + beta_t width).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KLRegularizedUCB {
    base: LinearBase,
    params: GibbsParams,
}

/// Greedy Gibbs policy: the Gibbs policy on the plain ridge estimate (no bonus).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GibbsGreedy {
    base: LinearBase,
    params: GibbsParams,
}

/// The constructor and the [`ContextualPolicy`] impl of a Gibbs policy type `$ty` (a struct
/// of `base` and `params`); `$optimistic` adds the exploration bonus.
macro_rules! gibbs_policy_impls {
    ($ty:ident, $kind:literal, $optimistic:expr) => {
        impl $ty {
            pub fn new(
                n_arms: usize,
                dim: usize,
                eta: f64,
                beta: Option<f64>,
                lam: f64,
                seed: Option<u64>,
            ) -> Result<Self> {
                Self::with_width(n_arms, dim, eta, beta, lam, GibbsWidth::Oful, seed)
            }

            /// As `new`, with the beta_t rule `width` (used when `beta` is None).
            pub fn with_width(
                n_arms: usize,
                dim: usize,
                eta: f64,
                beta: Option<f64>,
                lam: f64,
                width: GibbsWidth,
                seed: Option<u64>,
            ) -> Result<Self> {
                // The greedy policy has no bonus: its width is fixed (so that its
                // parameters, and bytes, do not depend on an unused choice).
                let width = if $optimistic {
                    width
                } else {
                    GibbsWidth::Tabular
                };
                let p = $ty {
                    base: LinearBase::new(n_arms, dim, lam, seed)?,
                    params: GibbsParams { eta, beta, width },
                };
                p.check_params()?;
                Ok(p)
            }
        }

        impl ContextualPolicy for $ty {
            type Params = GibbsParams;
            fn base(&self) -> &LinearBase {
                &self.base
            }
            fn base_mut(&mut self) -> &mut LinearBase {
                &mut self.base
            }
            fn params(&self) -> &GibbsParams {
                &self.params
            }
            fn describe_params(&self) -> String {
                let beta = self
                    .params
                    .beta
                    .map_or("None".to_string(), |b| b.to_string());
                if $optimistic {
                    format!(
                        "eta={}, beta={beta}, lam={}, width='{}'",
                        self.params.eta,
                        self.base.lam,
                        self.params.width.name()
                    )
                } else {
                    format!("eta={}, lam={}", self.params.eta, self.base.lam)
                }
            }
            /// The (optimistic, clipped) reward estimate f(x, a) the Gibbs policy uses.
            fn score_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
                let beta = if $optimistic {
                    self.params
                        .beta_t(self.base.t, self.base.dim, self.base.lam)
                } else {
                    0.0
                };
                for (o, m) in out.iter_mut().zip(&self.base.arms) {
                    let w = if $optimistic {
                        m.width(x, scratch)
                    } else {
                        0.0
                    };
                    *o = (m.mean(x) + beta * w).clamp(0.0, 1.0);
                }
            }
            fn decide(&mut self, x: &[f64]) -> usize {
                let mut p = vec![0.0; self.base.arms.len()];
                let mut scratch = vec![0.0; self.base.dim];
                gibbs_row(
                    &self.base,
                    &self.params,
                    $optimistic,
                    x,
                    None,
                    &mut p,
                    &mut scratch,
                );
                sample_discrete(&p, &mut self.base.rng)
            }
            fn probability_row(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
                gibbs_row(&self.base, &self.params, $optimistic, x, None, out, scratch);
            }
            fn check_params(&self) -> Result<()> {
                self.params.check()
            }
            fn width_coefficient(&self) -> f64 {
                if $optimistic {
                    self.params
                        .beta_t(self.base.t, self.base.dim, self.base.lam)
                } else {
                    0.0
                }
            }
            fn transform_score(&self, score: f64) -> f64 {
                score.clamp(0.0, 1.0)
            }
            fn uses_reference(&self) -> bool {
                true
            }
            fn decide_ref(&mut self, x: &[f64], log_ref: &[f64]) -> usize {
                let mut p = vec![0.0; self.base.arms.len()];
                let mut scratch = vec![0.0; self.base.dim];
                gibbs_row(
                    &self.base,
                    &self.params,
                    $optimistic,
                    x,
                    Some(log_ref),
                    &mut p,
                    &mut scratch,
                );
                sample_discrete(&p, &mut self.base.rng)
            }
            fn probability_row_ref(
                &self,
                x: &[f64],
                log_ref: &[f64],
                out: &mut [f64],
                scratch: &mut [f64],
            ) {
                gibbs_row(
                    &self.base,
                    &self.params,
                    $optimistic,
                    x,
                    Some(log_ref),
                    out,
                    scratch,
                );
            }
            /// The Gibbs policy over the eligible arms alone: log pi_ref of the others set
            /// to -inf, so their weight is exactly 0 and no underflow of the others' total
            /// can occur.
            fn probability_row_among(
                &self,
                x: &[f64],
                log_ref: Option<&[f64]>,
                eligible: &Eligible,
                out: &mut [f64],
                scratch: &mut [f64],
            ) {
                gibbs_row_among(
                    &self.base,
                    &self.params,
                    $optimistic,
                    x,
                    log_ref,
                    eligible,
                    out,
                    scratch,
                );
            }
        }
        impl Persist for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u16 = 2;
            fn check_invariants(&self) -> Result<()> {
                self.check_policy()
            }
            fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
                if version >= 2 {
                    return read_payload(payload);
                }
                #[derive(Deserialize)]
                struct V1 {
                    base: LinearBase,
                    params: GibbsParamsV1,
                }
                let (v1, rest): (V1, &[u8]) = read_payload(payload)?;
                let params = GibbsParams {
                    eta: v1.params.eta,
                    beta: v1.params.beta,
                    width: GibbsWidth::Tabular,
                };
                Ok((
                    $ty {
                        base: v1.base,
                        params,
                    },
                    rest,
                ))
            }
            /// Version 1 (no width) when the width is the tabular one it implied.
            fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
                if self.params.width == GibbsWidth::Tabular {
                    let params = GibbsParamsV1 {
                        eta: self.params.eta,
                        beta: self.params.beta,
                    };
                    return Ok((1, write_payload(&(&self.base, &params))?));
                }
                Ok((2, write_payload(self)?))
            }
        }
    };
}

gibbs_policy_impls!(KLRegularizedUCB, "KLRegularizedUCB", true);
gibbs_policy_impls!(GibbsGreedy, "GibbsGreedy", false);
