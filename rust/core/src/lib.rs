//! regretless-core: bandit algorithms, environments and simulation in pure Rust.
//!
//! Every policy implements [`policy::Policy`] (select / update / batch forms / arm
//! management / merge) and [`state::Persist`] (versioned bytes); the single-pass streaming
//! policies of [`stream`] speak offer / next_pull / update / finish instead. Nothing here
//! depends on Python; the `regretless-py` crate wraps these types for the `regretless`
//! package.
//!
//! ```
//! use regretless_core::policy::{Policy, UCB1};
//! let mut p = UCB1::new(3, 1.0, Some(0)).unwrap();
//! for _ in 0..100 {
//!     let arm = p.select();
//!     p.update(arm as i64, if arm == 2 { 1.0 } else { 0.0 }).unwrap();
//! }
//! assert!(p.counts()[2] > 80);
//! ```

pub mod budget;
pub mod cascade;
pub mod cascading_rl;
pub mod contextual;
pub mod curriculum;
pub mod dynlin;
pub mod eligible;
pub mod env;
pub mod error;
pub mod identify;
pub mod kernel;
pub mod limits;
pub mod linalg;
pub mod ope;
pub mod parallel;
pub mod policy;
pub mod reactive;
pub mod rng;
pub mod sample;
pub mod service;
pub mod simd;
pub mod simulate;
pub mod sparse_linear;
pub mod special;
pub mod state;
pub mod stats;
pub mod stream;

#[cfg(all(test, feature = "faer-comparison"))]
mod faer_comparison;

pub use error::{Error, Result};
