//! Event-log records: the framed bytes `regretless._eventlog.encode` writes and `decode`
//! reads, so a log written from Rust recovers in Python and the other way round.
//!
//! A segment file starts with [`SEGMENT_MAGIC`]; each record is `[u32 payload length]
//! [u32 CRC-32 of the payload][payload]`, little-endian. The payload is a head `kind u8,
//! seq u64, clock f64, wall f64`, then (all kinds but publish) `u16 length + UTF-8 event
//! id`, then the kind's fields.

use crate::error::{Error, Result};

/// The first bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"RGLSEG01";
/// Longest event id, in UTF-8 bytes.
pub const MAX_EVENT_ID_BYTES: usize = 256;

const KIND_DECISION: u8 = 1;
const KIND_REWARD: u8 = 2;
const KIND_EXPIRE: u8 = 3;
const KIND_PUBLISH: u8 = 4;
#[cfg(test)]
const HEAD_BYTES: usize = 1 + 8 + 8 + 8;
const FRAME_BYTES: usize = 8;

/// What the service answered to a reward, by its code in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardStatus {
    Joined = 0,
    Pending = 1,
    Late = 2,
    Unknown = 3,
    Duplicate = 4,
}

impl RewardStatus {
    /// The name Python uses (`"joined"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Pending => "pending",
            Self::Late => "late",
            Self::Unknown => "unknown",
            Self::Duplicate => "duplicate",
        }
    }

    fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            0 => Self::Joined,
            1 => Self::Pending,
            2 => Self::Late,
            3 => Self::Unknown,
            4 => Self::Duplicate,
            _ => return Err(state(format!("unknown reward status code {code}"))),
        })
    }
}

/// The fields of one record kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A decision: the arm drawn, the model that drew it and the distribution logged.
    Decision {
        event_id: String,
        action: u32,
        model_version: u64,
        probabilities: Vec<f64>,
        context: Option<Vec<f64>>,
        eligible: Option<Vec<u32>>,
    },
    /// A reward and what the service did with it.
    Reward {
        event_id: String,
        value: f64,
        status: RewardStatus,
    },
    /// A window that closed without a reward (`applied`: the default reward was learned).
    Expire {
        event_id: String,
        applied: bool,
        value: f64,
    },
    /// A new model version published to the deciding threads.
    Publish { model_version: u64 },
}

/// One log record: sequence number, service clock and wall time (seconds), and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub clock: f64,
    pub wall: f64,
    pub body: Body,
}

fn state(message: String) -> Error {
    Error::State { message }
}

fn begin(out: &mut Vec<u8>, kind: u8, seq: u64, clock: f64, wall: f64) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_BYTES]); // length and CRC, filled in by `finish`
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&clock.to_le_bytes());
    out.extend_from_slice(&wall.to_le_bytes());
    start
}

fn put_event_id(out: &mut Vec<u8>, event_id: &str) -> Result<()> {
    let n = event_id.len();
    if n == 0 || n > MAX_EVENT_ID_BYTES {
        return Err(Error::InvalidParameter {
            name: "event_id".into(),
            message: format!("expected 1 to {MAX_EVENT_ID_BYTES} bytes of UTF-8, got {n}"),
        });
    }
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(event_id.as_bytes());
    Ok(())
}

fn finish(out: &mut [u8], start: usize) {
    let payload = &out[start + FRAME_BYTES..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends the framed bytes of a decision record without building a [`Record`] (the
/// deciding thread's path). On error `out` is left as it was.
#[allow(clippy::too_many_arguments)]
pub fn encode_decision(
    out: &mut Vec<u8>,
    seq: u64,
    clock: f64,
    wall: f64,
    event_id: &str,
    action: u32,
    model_version: u64,
    probabilities: &[f64],
    context: Option<&[f64]>,
    eligible: Option<&[u32]>,
) -> Result<()> {
    let start = begin(out, KIND_DECISION, seq, clock, wall);
    if let Err(e) = put_event_id(out, event_id) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(&action.to_le_bytes());
    out.extend_from_slice(&model_version.to_le_bytes());
    out.extend_from_slice(&(probabilities.len() as u32).to_le_bytes());
    out.extend_from_slice(&context.map_or(-1, |c| c.len() as i32).to_le_bytes());
    out.extend_from_slice(&eligible.map_or(-1, |e| e.len() as i32).to_le_bytes());
    for p in probabilities {
        out.extend_from_slice(&p.to_le_bytes());
    }
    for x in context.unwrap_or(&[]) {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for a in eligible.unwrap_or(&[]) {
        out.extend_from_slice(&a.to_le_bytes());
    }
    finish(out, start);
    Ok(())
}

/// Appends the framed bytes of a reward record (see [`encode_decision`]).
pub fn encode_reward(
    out: &mut Vec<u8>,
    seq: u64,
    clock: f64,
    wall: f64,
    event_id: &str,
    value: f64,
    status: RewardStatus,
) -> Result<()> {
    let start = begin(out, KIND_REWARD, seq, clock, wall);
    if let Err(e) = put_event_id(out, event_id) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(&value.to_le_bytes());
    out.push(status as u8);
    finish(out, start);
    Ok(())
}

/// Appends the framed bytes of an expiry record (see [`encode_decision`]).
pub fn encode_expire(
    out: &mut Vec<u8>,
    seq: u64,
    clock: f64,
    wall: f64,
    event_id: &str,
    applied: bool,
    value: f64,
) -> Result<()> {
    let start = begin(out, KIND_EXPIRE, seq, clock, wall);
    if let Err(e) = put_event_id(out, event_id) {
        out.truncate(start);
        return Err(e);
    }
    out.push(u8::from(applied));
    out.extend_from_slice(&value.to_le_bytes());
    finish(out, start);
    Ok(())
}

/// Appends the framed bytes of a publication record.
pub fn encode_publish(out: &mut Vec<u8>, seq: u64, clock: f64, wall: f64, model_version: u64) {
    let start = begin(out, KIND_PUBLISH, seq, clock, wall);
    out.extend_from_slice(&model_version.to_le_bytes());
    finish(out, start);
}

impl Record {
    /// Appends the record's framed bytes to `out` (exactly `_eventlog.encode(record)`).
    /// An event id that is empty or longer than [`MAX_EVENT_ID_BYTES`] is refused and
    /// leaves `out` unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let (seq, clock, wall) = (self.seq, self.clock, self.wall);
        match &self.body {
            Body::Decision {
                event_id,
                action,
                model_version,
                probabilities,
                context,
                eligible,
            } => encode_decision(
                out,
                seq,
                clock,
                wall,
                event_id,
                *action,
                *model_version,
                probabilities,
                context.as_deref(),
                eligible.as_deref(),
            ),
            Body::Reward {
                event_id,
                value,
                status,
            } => encode_reward(out, seq, clock, wall, event_id, *value, *status),
            Body::Expire {
                event_id,
                applied,
                value,
            } => encode_expire(out, seq, clock, wall, event_id, *applied, *value),
            Body::Publish { model_version } => {
                encode_publish(out, seq, clock, wall, *model_version);
                Ok(())
            }
        }
    }

    /// The framed bytes of the record.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// The record of a payload (the bytes after the frame) whose CRC has been checked.
    pub fn decode(payload: &[u8]) -> Result<Record> {
        let mut r = Reader {
            data: payload,
            pos: 0,
        };
        let kind = r.u8()?;
        let seq = r.u64()?;
        let clock = r.f64()?;
        let wall = r.f64()?;
        if kind == KIND_PUBLISH {
            let model_version = r.u64()?;
            return r.done(Record {
                seq,
                clock,
                wall,
                body: Body::Publish { model_version },
            });
        }
        let n = r.u16()? as usize;
        let event_id = std::str::from_utf8(r.take(n)?)
            .map_err(|_| state("event id is not UTF-8".into()))?
            .to_owned();
        let body = match kind {
            KIND_DECISION => {
                let action = r.u32()?;
                let model_version = r.u64()?;
                let k = r.u32()? as usize;
                let dim = r.i32()?;
                let n_elig = r.i32()?;
                let probabilities = r.f64s(k)?;
                let context = if dim >= 0 {
                    Some(r.f64s(dim as usize)?)
                } else {
                    None
                };
                let eligible = if n_elig >= 0 {
                    Some(r.u32s(n_elig as usize)?)
                } else {
                    None
                };
                Body::Decision {
                    event_id,
                    action,
                    model_version,
                    probabilities,
                    context,
                    eligible,
                }
            }
            KIND_REWARD => {
                let value = r.f64()?;
                let status = RewardStatus::from_code(r.u8()?)?;
                Body::Reward {
                    event_id,
                    value,
                    status,
                }
            }
            KIND_EXPIRE => {
                let applied = r.u8()? != 0;
                let value = r.f64()?;
                Body::Expire {
                    event_id,
                    applied,
                    value,
                }
            }
            _ => return Err(state(format!("unknown record kind {kind}"))),
        };
        r.done(Record {
            seq,
            clock,
            wall,
            body,
        })
    }
}

/// The intact records of one segment's bytes and the offset where they end (a torn or
/// corrupt record ends the scan there, as `_eventlog._scan`). Bytes that are not a segment
/// raise; a prefix of the magic (a crash while creating the segment) holds no records.
pub fn scan_segment(data: &[u8]) -> Result<(Vec<Record>, usize)> {
    if !data.starts_with(SEGMENT_MAGIC) {
        if SEGMENT_MAGIC.starts_with(data) {
            return Ok((Vec::new(), 0));
        }
        return Err(state("not a regretless event log segment".into()));
    }
    let mut out = Vec::new();
    let mut pos = SEGMENT_MAGIC.len();
    while pos + FRAME_BYTES <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
        let end = pos + FRAME_BYTES + len;
        if end > data.len() {
            break;
        }
        let payload = &data[pos + FRAME_BYTES..end];
        if crc32fast::hash(payload) != crc {
            break;
        }
        out.push(Record::decode(payload)?);
        pos = end;
    }
    Ok((out, pos))
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| state("record payload is cut short".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn f64s(&mut self, n: usize) -> Result<Vec<f64>> {
        let bytes = self.take(
            n.checked_mul(8)
                .ok_or_else(|| state("size overflows".into()))?,
        )?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        let bytes = self.take(
            n.checked_mul(4)
                .ok_or_else(|| state("size overflows".into()))?,
        )?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
    // Python's decoder ignores trailing bytes; so do we, to read what it reads.
    fn done(self, record: Record) -> Result<Record> {
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SEGMENT_MAGIC + b"".join(_eventlog.encode(r) for r in records)` for the records of
    /// [`records`], from the Python writer.
    const PYTHON_SEGMENT: &str = "52474c534547303168000000fdc6646b010100000000000000000000000000c03f00000040fc54d94105007265712d310200000003000000000000000300000002000000020000009a9999999999b93f9a9999999999c93f666666666666e63f000000000000f83f00000000000000c000000000020000004800000087bc3ec8010200000000000000000000000000d03f00002040fc54d9410500c3a9e29c9300000000000000000000000002000000ffffffffffffffff000000000000f03f0000000000000000290000001135c6f8020300000000000000000000000000f03f00004040fc54d94105007265712d31000000000000e83f00290000006827aafc020400000000000000000000000000f83f00008040fc54d94105007265712d31000000000000f0bf0425000000b7127d3402050000000000000000000000000000400000c040fc54d941010078000000000000000002290000001fc71e120306000000000000000000000000804e4000000041fc54d9410500c3a9e29c9301000000000000e03f26000000f86f58e00307000000000000000000000000004f4000004041fc54d94102007a7a000000000000000000210000007b33284d0408000000000000000000000000804f4000008041fc54d9410400000000000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn records() -> Vec<Record> {
        let w = 1.7e9;
        let rec = |seq, clock, wall, body| Record {
            seq,
            clock,
            wall,
            body,
        };
        vec![
            rec(
                1,
                0.125,
                w,
                Body::Decision {
                    event_id: "req-1".into(),
                    action: 2,
                    model_version: 3,
                    probabilities: vec![0.1, 0.2, 0.7],
                    context: Some(vec![1.5, -2.0]),
                    eligible: Some(vec![0, 2]),
                },
            ),
            rec(
                2,
                0.25,
                w + 0.5,
                Body::Decision {
                    event_id: "é✓".into(),
                    action: 0,
                    model_version: 0,
                    probabilities: vec![1.0, 0.0],
                    context: None,
                    eligible: None,
                },
            ),
            rec(
                3,
                1.0,
                w + 1.0,
                Body::Reward {
                    event_id: "req-1".into(),
                    value: 0.75,
                    status: RewardStatus::Joined,
                },
            ),
            rec(
                4,
                1.5,
                w + 2.0,
                Body::Reward {
                    event_id: "req-1".into(),
                    value: -1.0,
                    status: RewardStatus::Duplicate,
                },
            ),
            rec(
                5,
                2.0,
                w + 3.0,
                Body::Reward {
                    event_id: "x".into(),
                    value: 0.0,
                    status: RewardStatus::Late,
                },
            ),
            rec(
                6,
                61.0,
                w + 4.0,
                Body::Expire {
                    event_id: "é✓".into(),
                    applied: true,
                    value: 0.5,
                },
            ),
            rec(
                7,
                62.0,
                w + 5.0,
                Body::Expire {
                    event_id: "zz".into(),
                    applied: false,
                    value: 0.0,
                },
            ),
            rec(8, 63.0, w + 6.0, Body::Publish { model_version: 4 }),
        ]
    }

    #[test]
    fn encoding_matches_the_python_writer_byte_for_byte() {
        let mut out = SEGMENT_MAGIC.to_vec();
        for r in records() {
            r.encode_into(&mut out).unwrap();
        }
        assert_eq!(out, hex(PYTHON_SEGMENT));
    }

    #[test]
    fn borrowed_decision_encoder_equals_the_record_encoder() {
        let r = &records()[0];
        let mut out = Vec::new();
        encode_decision(
            &mut out,
            1,
            0.125,
            1.7e9,
            "req-1",
            2,
            3,
            &[0.1, 0.2, 0.7],
            Some(&[1.5, -2.0]),
            Some(&[0, 2]),
        )
        .unwrap();
        assert_eq!(out, r.encode().unwrap());
    }

    #[test]
    fn python_segment_decodes_to_the_records() {
        let data = hex(PYTHON_SEGMENT);
        let (got, end) = scan_segment(&data).unwrap();
        assert_eq!(end, data.len());
        assert_eq!(got, records());
    }

    #[test]
    fn torn_or_corrupt_tail_ends_the_scan_at_the_last_whole_record() {
        let data = hex(PYTHON_SEGMENT);
        let last_len = records()[7].encode().unwrap().len();
        let whole = data.len() - last_len;
        for cut in [1, 5, 8, last_len - 1] {
            let (got, end) = scan_segment(&data[..whole + cut]).unwrap();
            assert_eq!((got.len(), end), (7, whole), "cut {cut}");
        }
        let mut flipped = data.clone();
        *flipped.last_mut().unwrap() ^= 1; // payload no longer matches its CRC
        let (got, end) = scan_segment(&flipped).unwrap();
        assert_eq!((got.len(), end), (7, whole));
    }

    #[test]
    fn magic_prefix_is_an_empty_segment_and_other_bytes_are_refused() {
        assert_eq!(scan_segment(b"RGLS").unwrap(), (Vec::new(), 0));
        assert_eq!(scan_segment(b"").unwrap(), (Vec::new(), 0));
        assert!(matches!(
            scan_segment(b"NOTASEGMENT"),
            Err(Error::State { .. })
        ));
    }

    #[test]
    fn event_id_length_is_checked_and_a_refused_record_writes_nothing() {
        let mut out = vec![7u8];
        let long = "x".repeat(MAX_EVENT_ID_BYTES + 1);
        for eid in ["", long.as_str()] {
            let r = Record {
                seq: 1,
                clock: 0.0,
                wall: 0.0,
                body: Body::Reward {
                    event_id: eid.into(),
                    value: 1.0,
                    status: RewardStatus::Joined,
                },
            };
            assert!(matches!(
                r.encode_into(&mut out),
                Err(Error::InvalidParameter { .. })
            ));
            assert_eq!(out, vec![7u8]);
        }
        let ok = "y".repeat(MAX_EVENT_ID_BYTES);
        assert!(encode_decision(&mut out, 1, 0.0, 0.0, &ok, 0, 0, &[1.0], None, None).is_ok());
    }

    #[test]
    fn unknown_kind_and_short_payloads_are_state_errors() {
        let mut p = records()[2].encode().unwrap()[FRAME_BYTES..].to_vec();
        p[0] = 9;
        assert!(matches!(Record::decode(&p), Err(Error::State { .. })));
        let p = records()[0].encode().unwrap();
        for n in [0, 3, HEAD_BYTES + 1, p.len() - FRAME_BYTES - 1] {
            let r = Record::decode(&p[FRAME_BYTES..FRAME_BYTES + n]);
            assert!(matches!(r, Err(Error::State { .. })), "{n}");
        }
    }
}
