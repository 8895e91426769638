//! The registry of the single-pass streaming policies: [`AnyStream`] holds any one of them,
//! each call a `match` into the concrete [`Stream`]'s code. Bytes are exactly the concrete
//! type's; decoding dispatches on the kind name in the state header. [`NAMES`] is the list
//! Python and the simulator read (see CONTRIBUTING.md for adding a policy).

use super::{
    simulate_stream, AggressiveSelectivePromotion, GameOfArms, GameOfArmsRule, NaiveEpsilonBest,
    NaiveRule, Order, Rule, SelectivePromotionRule, StreamSimulation, UniformExploration,
    UniformRule,
};
use crate::error::{Error, Result};
use crate::state::{decode, encode, peek_kind};

/// Any single-pass streaming policy.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyStream {
    UniformExploration(UniformExploration),
    NaiveEpsilonBest(NaiveEpsilonBest),
    GameOfArms(GameOfArms),
    AggressiveSelectivePromotion(AggressiveSelectivePromotion),
}

/// The kind names of the registered policies, in the order Python lists them.
pub const NAMES: [&str; 4] = [
    UniformRule::KIND,
    NaiveRule::KIND,
    GameOfArmsRule::KIND,
    SelectivePromotionRule::KIND,
];

/// `$body` with `$p` bound to the concrete policy inside `$any`.
macro_rules! dispatch {
    ($any:expr, $p:ident => $body:expr) => {
        match $any {
            AnyStream::UniformExploration($p) => $body,
            AnyStream::NaiveEpsilonBest($p) => $body,
            AnyStream::GameOfArms($p) => $body,
            AnyStream::AggressiveSelectivePromotion($p) => $body,
        }
    };
}

impl From<UniformExploration> for AnyStream {
    fn from(p: UniformExploration) -> Self {
        AnyStream::UniformExploration(p)
    }
}
impl From<NaiveEpsilonBest> for AnyStream {
    fn from(p: NaiveEpsilonBest) -> Self {
        AnyStream::NaiveEpsilonBest(p)
    }
}
impl From<GameOfArms> for AnyStream {
    fn from(p: GameOfArms) -> Self {
        AnyStream::GameOfArms(p)
    }
}
impl From<AggressiveSelectivePromotion> for AnyStream {
    fn from(p: AggressiveSelectivePromotion) -> Self {
        AnyStream::AggressiveSelectivePromotion(p)
    }
}

/// Runs the batched simulation of the policy named `kind` (see [`simulate_stream`]).
pub fn simulate_named(
    kind: &str,
    means: &[f64],
    horizon: u64,
    n_runs: usize,
    seed: u64,
    order: Order,
) -> Result<StreamSimulation> {
    match kind {
        "UniformExploration" => simulate_stream::<UniformRule>(means, horizon, n_runs, seed, order),
        "NaiveEpsilonBest" => simulate_stream::<NaiveRule>(means, horizon, n_runs, seed, order),
        "GameOfArms" => simulate_stream::<GameOfArmsRule>(means, horizon, n_runs, seed, order),
        "AggressiveSelectivePromotion" => {
            simulate_stream::<SelectivePromotionRule>(means, horizon, n_runs, seed, order)
        }
        other => Err(Error::param(
            "algorithm",
            format!("unknown streaming algorithm {other:?}"),
        )),
    }
}

impl AnyStream {
    /// The policy named `kind` for `n_arms` arms and `horizon` pulls.
    pub fn new(kind: &str, n_arms: u64, horizon: u64, seed: Option<u64>) -> Result<Self> {
        Ok(match kind {
            "UniformExploration" => UniformExploration::new(n_arms, horizon, seed)?.into(),
            "NaiveEpsilonBest" => NaiveEpsilonBest::new(n_arms, horizon, seed)?.into(),
            "GameOfArms" => GameOfArms::new(n_arms, horizon, seed)?.into(),
            "AggressiveSelectivePromotion" => {
                AggressiveSelectivePromotion::new(n_arms, horizon, seed)?.into()
            }
            other => {
                return Err(Error::param(
                    "algorithm",
                    format!("unknown streaming algorithm {other:?}"),
                ))
            }
        })
    }

    /// The kind name (the class name, and the one in the state header).
    pub fn kind(&self) -> &'static str {
        fn kind_of<R: Rule>(_: &super::Stream<R>) -> &'static str {
            R::KIND
        }
        dispatch!(self, p => kind_of(p))
    }

    /// The concrete policy's `to_bytes` (the same bytes).
    pub fn encode(&self) -> Result<Vec<u8>> {
        dispatch!(self, p => encode(p))
    }

    /// Decodes a state of any registered kind.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (_, kind) = peek_kind(bytes)?;
        Self::decode_as(&kind, bytes)
    }

    /// Decodes a state that must be of kind `kind` (the concrete type's decoding and errors).
    pub fn decode_as(kind: &str, bytes: &[u8]) -> Result<Self> {
        Ok(match kind {
            "UniformExploration" => AnyStream::UniformExploration(decode(bytes)?),
            "NaiveEpsilonBest" => AnyStream::NaiveEpsilonBest(decode(bytes)?),
            "GameOfArms" => AnyStream::GameOfArms(decode(bytes)?),
            "AggressiveSelectivePromotion" => {
                AnyStream::AggressiveSelectivePromotion(decode(bytes)?)
            }
            other => {
                let held = peek_kind(bytes).map(|(_, k)| k).unwrap_or_default();
                return Err(Error::state(format!(
                    "the bytes hold a {held}, not a {other} (a streaming policy)"
                )));
            }
        })
    }

    pub fn describe_params(&self) -> String {
        dispatch!(self, p => p.describe_params())
    }
    pub fn n_arms(&self) -> u64 {
        dispatch!(self, p => p.n_arms())
    }
    pub fn horizon(&self) -> u64 {
        dispatch!(self, p => p.horizon())
    }
    pub fn n_offered(&self) -> u64 {
        dispatch!(self, p => p.n_offered())
    }
    pub fn n_pulls(&self) -> u64 {
        dispatch!(self, p => p.n_pulls())
    }
    pub fn is_finished(&self) -> bool {
        dispatch!(self, p => p.is_finished())
    }
    pub fn committed(&self) -> Option<i64> {
        dispatch!(self, p => p.committed())
    }
    pub fn next_pull(&self) -> Option<i64> {
        dispatch!(self, p => p.next_pull())
    }
    pub fn pending(&self) -> u64 {
        dispatch!(self, p => p.pending())
    }
    pub fn max_arms_in_memory(&self) -> usize {
        dispatch!(self, p => p.max_arms_in_memory())
    }
    pub fn arms_in_memory(&self) -> Vec<i64> {
        dispatch!(self, p => p.arms_in_memory())
    }
    pub fn reseed(&mut self, seed: u64) {
        dispatch!(self, p => p.reseed(seed))
    }
    pub fn offer(&mut self, arm: i64) -> Result<()> {
        dispatch!(self, p => p.offer(arm))
    }
    pub fn update(&mut self, arm: i64, reward: f64) -> Result<()> {
        dispatch!(self, p => p.update(arm, reward))
    }
    pub fn update_many(&mut self, arm: i64, rewards: &[f64]) -> Result<()> {
        dispatch!(self, p => p.update_many(arm, rewards))
    }
    pub fn finish(&mut self) -> Result<()> {
        dispatch!(self, p => p.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_decodes_and_simulates() {
        for name in NAMES {
            let mut p = AnyStream::new(name, 4, 1_000, Some(3)).unwrap();
            assert_eq!(p.kind(), name);
            p.offer(7).unwrap();
            let arm = p.next_pull().unwrap();
            p.update(arm, 1.0).unwrap();
            let bytes = p.encode().unwrap();
            let q = AnyStream::decode(&bytes).unwrap();
            assert_eq!(p, q);
            assert_eq!(q.encode().unwrap(), bytes);
            let other = if name == "GameOfArms" {
                "NaiveEpsilonBest"
            } else {
                "GameOfArms"
            };
            let err = AnyStream::decode_as(other, &bytes).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            let sim = simulate_named(name, &[0.2, 0.8], 100, 2, 0, Order::Given).unwrap();
            assert_eq!(sim.regret.len(), 2);
        }
        assert!(AnyStream::new("Nope", 4, 10, None).is_err());
        assert!(simulate_named("Nope", &[0.5], 10, 1, 0, Order::Given).is_err());
    }

    #[test]
    fn bytes_are_the_concrete_types() {
        let concrete = GameOfArms::new(5, 10_000, Some(1)).unwrap();
        assert_eq!(
            AnyStream::from(concrete.clone()).encode().unwrap(),
            encode(&concrete).unwrap()
        );
    }
}
