//! The one error type of the core. Every fallible public function returns [`Result`];
//! the Python glue maps each variant to one exception class of `regretless.exceptions`.

use std::fmt;

/// What went wrong, with enough detail to name the offending argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A hyperparameter or argument has an invalid value (e.g. `epsilon = 1.5`).
    InvalidParameter { name: String, message: String },
    /// An arm index outside `0..n_arms`. `position` is the row of a batch, if any.
    ArmOutOfRange {
        argument: String,
        arm: i64,
        n_arms: usize,
        position: Option<usize>,
    },
    /// A reward that is NaN, infinite, or outside the range the model is defined on.
    InvalidReward {
        argument: String,
        value: f64,
        position: Option<usize>,
        expected: String,
    },
    /// Arrays of the wrong length or shape.
    Shape { argument: String, message: String },
    /// Bytes that are not a valid serialized state of the expected type.
    State { message: String },
    /// Two objects that cannot be combined (merge of different hyperparameters,
    /// a policy and an environment whose reward ranges disagree).
    Incompatible { message: String },
    /// A call the streaming protocol does not allow at this point: a pull of an arm the
    /// policy does not hold or did not ask for, an offer while pulls are pending, after
    /// `finish`, or beyond `n_arms`. `argument` names the call's offending argument.
    Protocol { argument: String, message: String },
    /// A size whose buffers cannot be allocated (or whose byte count overflows).
    Memory { argument: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn param(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            message: message.into(),
        }
    }
    pub fn state(message: impl Into<String>) -> Self {
        Error::State {
            message: message.into(),
        }
    }
    pub fn incompatible(message: impl Into<String>) -> Self {
        Error::Incompatible {
            message: message.into(),
        }
    }
    pub fn shape(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Shape {
            argument: argument.into(),
            message: message.into(),
        }
    }
    pub fn memory(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Memory {
            argument: argument.into(),
            message: message.into(),
        }
    }
    pub fn protocol(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Protocol {
            argument: argument.into(),
            message: message.into(),
        }
    }
}

fn at(position: &Option<usize>) -> String {
    match position {
        Some(i) => format!(" at position {i}"),
        None => String::new(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidParameter { name, message } => write!(f, "{name}: {message}"),
            Error::ArmOutOfRange {
                argument,
                arm,
                n_arms,
                position,
            } => write!(
                f,
                "{argument}{}: arm {arm} is out of range; expected an integer in [0, {n_arms})",
                at(position)
            ),
            Error::InvalidReward {
                argument,
                value,
                position,
                expected,
            } => write!(
                f,
                "{argument}{}: reward {value} is invalid; expected {expected}",
                at(position)
            ),
            Error::Shape { argument, message } | Error::Protocol { argument, message } => {
                write!(f, "{argument}: {message}")
            }
            Error::Memory { argument, message } => {
                write!(f, "{argument}: cannot allocate {message}")
            }
            Error::State { message } => write!(f, "invalid state bytes: {message}"),
            Error::Incompatible { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {}
