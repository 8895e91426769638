//! The decision service's hot-path pieces in pure Rust: the keyed draw ([`draw`]), the
//! event-log record codec ([`record`], byte for byte the format of `regretless._eventlog`),
//! the reward join table ([`join`]) and the log writer thread with a bounded queue and group
//! commit ([`writer`]).
//!
//! They hold no policy: the caller computes probabilities, draws and learns, and uses these
//! types for the sequence, the join and the log.

pub mod draw;
pub mod join;
pub mod record;
pub mod writer;

pub use draw::{draw, uniform, Keyed};
pub use join::{JoinTable, Lookup, Pending};
pub use record::{Body, Record, RewardStatus, SEGMENT_MAGIC};
pub use writer::{Durability, LogWriter, WriterConfig};
