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
    /// [`Error::param`] with the offending value appended: "h: must be a finite number > 0,
    /// got -1" (NaN prints as `NaN`, infinities as `inf` / `-inf`, None as `None`).
    pub fn param_got(name: impl Into<String>, message: impl AsRef<str>, got: impl Shown) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            message: format!("{}, got {}", message.as_ref(), got.shown()),
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

/// A float as a person reads it: `1e300` rather than 301 digits, `0.25` as is.
pub fn show(x: f64) -> String {
    let a = x.abs();
    if x.is_finite() && a != 0.0 && !(1e-4..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A value as a parameter error names it (see [`Error::param_got`]).
pub trait Shown {
    fn shown(&self) -> String;
}

impl Shown for f64 {
    fn shown(&self) -> String {
        show(*self)
    }
}

impl Shown for f32 {
    fn shown(&self) -> String {
        show(f64::from(*self))
    }
}

macro_rules! shown_int {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_int!(u8, u16, u32, u64, usize, i32, i64, isize);

impl Shown for &str {
    fn shown(&self) -> String {
        format!("'{self}'")
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        match self {
            Some(v) => v.shown(),
            None => "None".to_string(),
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
                "{argument}{}: reward {} is invalid; expected {expected}",
                at(position),
                show(*value)
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

/// The name a class has in Python, for messages: the core's kind names are also the tags
/// of the state format and cannot change, and two of them differ from the Python names.
pub fn python_name(kind: &str) -> &str {
    match kind {
        "Exp3" => "EXP3",
        "Exp3IX" => "EXP3IX",
        other => other,
    }
}

/// Splits a `name=value, name=value` description (as `describe_params` writes) into its
/// pairs; a piece without `=` belongs to the value before it (a value with a comma).
fn param_pairs(description: &str) -> Vec<String> {
    let mut pairs: Vec<String> = Vec::new();
    for piece in description.split(", ") {
        match pairs.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => pairs.push(piece.to_string()),
        }
    }
    pairs
}

/// The error of a merge whose hyperparameters differ, naming the ones that do:
/// "other: cannot merge UCB1 with alpha=2 into UCB1 with alpha=1 (hyperparameters must
/// match)". `ours` and `theirs` are the two objects' `describe_params` strings.
pub fn hyperparameter_mismatch(kind: &str, ours: &str, theirs: &str) -> Error {
    let (a, b) = (param_pairs(ours), param_pairs(theirs));
    let only = |x: &[String], y: &[String]| {
        let d: Vec<&str> = x
            .iter()
            .filter(|p| !y.contains(p))
            .map(String::as_str)
            .collect();
        d.join(", ")
    };
    let (mut ours_diff, mut theirs_diff) = (only(&a, &b), only(&b, &a));
    if ours_diff.is_empty() && theirs_diff.is_empty() {
        // The descriptions agree to the digits printed: show them whole.
        (ours_diff, theirs_diff) = (ours.to_string(), theirs.to_string());
    }
    let name = python_name(kind);
    Error::incompatible(format!(
        "other: cannot merge {name} with {theirs_diff} into {name} with {ours_diff} \
         (hyperparameters must match)"
    ))
}

/// `a + b` for a count, or the error naming the count that would overflow.
pub fn checked_count(a: u64, b: u64, count: &str) -> Result<u64> {
    a.checked_add(b).ok_or_else(|| {
        Error::incompatible(format!(
            "other: the {count} would overflow ({a} + {b} exceeds 2**64 - 1); nothing was merged"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_got_appends_the_value() {
        let m = |e: Error| e.to_string();
        assert_eq!(
            m(Error::param_got("h", "must be a finite number > 0", -1.0)),
            "h: must be a finite number > 0, got -1"
        );
        assert_eq!(m(Error::param_got("a", "x", f64::NAN)), "a: x, got NaN");
        assert_eq!(
            m(Error::param_got("a", "x", f64::INFINITY)),
            "a: x, got inf"
        );
        assert_eq!(
            m(Error::param_got("a", "x", f64::NEG_INFINITY)),
            "a: x, got -inf"
        );
        assert_eq!(m(Error::param_got("a", "x", 0.25)), "a: x, got 0.25");
        assert_eq!(m(Error::param_got("a", "x", 1e40)), "a: x, got 1e40");
        assert_eq!(m(Error::param_got("n", "x", 0u64)), "n: x, got 0");
        assert_eq!(m(Error::param_got("t", "x", None::<u64>)), "t: x, got None");
        assert_eq!(m(Error::param_got("t", "x", Some(0u64))), "t: x, got 0");
    }
}
