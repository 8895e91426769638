//! The versioned byte format of every stateful object.
//!
//! Layout: `b"RGLS"` magic, format version (u16 LE), kind name length (u8) and ASCII kind
//! name (e.g. `UCB1`), postcard payload, CRC-32 of everything before it (u32 LE).
//! The checksum catches corruption before decoding; a decoded state is then checked for
//! internal consistency by its type, so crafted bytes cannot produce an object that panics.

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};

pub const MAGIC: &[u8; 4] = b"RGLS";
/// The first payload version of every kind. A kind whose payload layout changes bumps its
/// own [`Persist::VERSION`] and keeps decoding every older one ([`Persist::decode_payload`]).
pub const FORMAT_VERSION: u16 = 1;

/// A type with a serialized form: its kind name and a consistency check after decoding.
pub trait Persist: Serialize + DeserializeOwned {
    const KIND: &'static str;
    /// The payload version this build writes for the kind.
    const VERSION: u16 = FORMAT_VERSION;
    /// Structural invariants of a decoded value (lengths agree, values finite, ...).
    fn check_invariants(&self) -> Result<()>;
    /// Decodes a payload written with `version` (1..=`VERSION`); returns the value and the
    /// unread rest. Kinds with older layouts convert them here.
    fn decode_payload(version: u16, payload: &[u8]) -> Result<(Self, &[u8])> {
        let _ = version;
        read_payload(payload)
    }
    /// The version and payload written for this value: kinds with a newer layout write the
    /// oldest one that still represents the value, so states that use nothing new keep
    /// their bytes (and stay readable by older releases).
    fn encode_payload(&self) -> Result<(u16, Vec<u8>)> {
        Ok((Self::VERSION, write_payload(self)?))
    }
}

/// The postcard bytes of `value`.
pub fn write_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| Error::state(format!("encode: {e}")))
}

/// The postcard value at the start of `payload` and the unread rest.
pub fn read_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<(T, &[u8])> {
    postcard::take_from_bytes(payload).map_err(|e| Error::state(format!("payload: {e}")))
}

pub fn encode<T: Persist>(value: &T) -> Result<Vec<u8>> {
    let (version, payload) = value.encode_payload()?;
    let kind = T::KIND.as_bytes();
    let mut out = Vec::with_capacity(4 + 2 + 1 + kind.len() + payload.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.push(kind.len() as u8);
    out.extend_from_slice(kind);
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Reads the header without decoding the payload: (format version, kind name).
pub fn peek_kind(bytes: &[u8]) -> Result<(u16, String)> {
    if bytes.len() < 4 + 2 + 1 + 4 || &bytes[..4] != MAGIC {
        return Err(Error::state(
            "not a regretless state (missing the RGLS header); expected bytes from to_bytes()",
        ));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let klen = bytes[6] as usize;
    if bytes.len() < 7 + klen + 4 {
        return Err(Error::state("truncated header"));
    }
    let kind = std::str::from_utf8(&bytes[7..7 + klen])
        .map_err(|_| Error::state("kind name is not ASCII"))?
        .to_string();
    Ok((version, kind))
}

pub fn decode<T: Persist>(bytes: &[u8]) -> Result<T> {
    let (version, kind) = peek_kind(bytes)?;
    let body_end = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[body_end..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_end]) != stored {
        return Err(Error::state(
            "checksum mismatch: the bytes are corrupt or truncated",
        ));
    }
    if kind != T::KIND {
        return Err(Error::state(format!(
            "the bytes hold a {kind}, not a {}",
            T::KIND
        )));
    }
    if version == 0 || version > T::VERSION {
        return Err(Error::state(format!(
            "format version {version} is not supported by this build (reads 1..={} for {}); upgrade regretless",
            T::VERSION,
            T::KIND
        )));
    }
    let payload = &bytes[7 + kind.len()..body_end];
    let (value, rest) = T::decode_payload(version, payload)?;
    if !rest.is_empty() {
        return Err(Error::state("trailing bytes after the payload"));
    }
    value
        .check_invariants()
        .map_err(|e| invalid_state::<T>(e))?;
    Ok(value)
}

/// A decoded value that fails its checks is corrupt bytes, whatever check refused it (the
/// checks reuse the constructors', which raise InvalidParameter for a hyperparameter out of
/// range): a StateError naming the kind and what was invalid.
fn invalid_state<T: Persist>(e: Error) -> Error {
    match e {
        Error::State { .. } => e,
        other => Error::state(format!("invalid {} state: {other}", T::KIND)),
    }
}
