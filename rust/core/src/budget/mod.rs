//! Decisions under a budget: Knapsack RL's rollout allocation ([`allocation`]), bandits
//! with knapsacks ([`knapsack`]) and the budget-paced contextual bandit HATCH ([`hatch`]).

pub mod allocation;
pub mod hatch;
pub mod knapsack;

pub use allocation::{allocate_rollouts, informative_probability, RolloutAllocation};
pub use hatch::HATCH;
pub use knapsack::{KnapsackEnv, PrimalDualBwK};
