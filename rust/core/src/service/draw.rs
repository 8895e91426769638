//! The decision's draw, as `regretless.service` makes it: a uniform in [0, 1) from the
//! keyed BLAKE2b-64 hash of the event id (key: the service seed, 8 bytes little-endian),
//! and the arm whose cumulative-probability interval holds it. Same bits as Python's
//! `hashlib.blake2b(event_id, digest_size=8, key=key)`, so `replay` redraws either side's
//! decisions.

use crate::error::{Error, Result};

const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

#[inline(always)]
fn mix(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

#[inline(always)]
fn round(v: &mut [u64; 16], m: &[u64; 16], s: &[usize; 16]) {
    mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

fn compress(h: &mut [u64; 8], block: &[u8; 128], counter: u128, last: bool) {
    let mut m = [0u64; 16];
    for (w, b) in m.iter_mut().zip(block.chunks_exact(8)) {
        *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= counter as u64;
    v[13] ^= (counter >> 64) as u64;
    if last {
        v[14] = !v[14];
    }
    // Twelve rounds written out: the message schedule's indices are constants, so the
    // loads need no bounds checks (a loop over `SIGMA[round % 10]` checks each one).
    round(&mut v, &m, &SIGMA[0]);
    round(&mut v, &m, &SIGMA[1]);
    round(&mut v, &m, &SIGMA[2]);
    round(&mut v, &m, &SIGMA[3]);
    round(&mut v, &m, &SIGMA[4]);
    round(&mut v, &m, &SIGMA[5]);
    round(&mut v, &m, &SIGMA[6]);
    round(&mut v, &m, &SIGMA[7]);
    round(&mut v, &m, &SIGMA[8]);
    round(&mut v, &m, &SIGMA[9]);
    round(&mut v, &m, &SIGMA[0]);
    round(&mut v, &m, &SIGMA[1]);
    for i in 0..8 {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

/// BLAKE2b with an 8-byte key and an 8-byte digest (RFC 7693), as a little-endian u64.
pub fn blake2b_64(key: &[u8; 8], message: &[u8]) -> u64 {
    Keyed::new(u64::from_le_bytes(*key)).hash(message)
}

/// BLAKE2b-64 under one 8-byte key, with the key block compressed once: hashing a
/// message of up to 128 bytes then takes one compression instead of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyed {
    /// The state after the key block (used when the message is not empty).
    after_key: [u64; 8],
    /// The parameter block's state (for the empty message, whose key block is the last).
    initial: [u64; 8],
    key: [u8; 8],
}

impl Keyed {
    /// The hasher of key `key` (8 bytes little-endian, as `key.to_bytes(8, "little")`).
    pub fn new(key: u64) -> Self {
        let key = key.to_le_bytes();
        let mut initial = IV;
        initial[0] ^= 0x0101_0000 ^ ((key.len() as u64) << 8) ^ 8;
        let mut block = [0u8; 128];
        block[..8].copy_from_slice(&key);
        let mut after_key = initial;
        compress(&mut after_key, &block, 128, false);
        Self {
            after_key,
            initial,
            key,
        }
    }

    /// The keyed hash of `message` as a little-endian u64.
    pub fn hash(&self, message: &[u8]) -> u64 {
        let mut block = [0u8; 128];
        // The key block is the first block; it is the last only for an empty message.
        let mut counter: u128 = 128;
        if message.is_empty() {
            let mut h = self.initial;
            block[..8].copy_from_slice(&self.key);
            compress(&mut h, &block, counter, true);
            return h[0];
        }
        let mut h = self.after_key;
        let mut chunks = message.chunks(128).peekable();
        while let Some(chunk) = chunks.next() {
            block = [0u8; 128];
            block[..chunk.len()].copy_from_slice(chunk);
            counter += chunk.len() as u128;
            compress(&mut h, &block, counter, chunks.peek().is_none());
        }
        h[0]
    }

    /// The decision's uniform in [0, 1) for `event_id` (see [`uniform`]).
    pub fn uniform(&self, event_id: &str) -> f64 {
        (self.hash(event_id.as_bytes()) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The decision's uniform in [0, 1): the top 53 bits of the keyed hash of the event id.
pub fn uniform(key: u64, event_id: &str) -> f64 {
    Keyed::new(key).uniform(event_id)
}

/// The arm whose cumulative-probability interval holds `u` (never a 0-probability arm),
/// after checking that `probabilities` is a distribution (entries in [0, 1] summing to 1
/// within 1e-9) that is 0 outside `eligible` (sorted arm indices; None: every arm).
pub fn draw(probabilities: &[f64], u: f64, eligible: Option<&[u32]>) -> Result<usize> {
    let n = probabilities.len();
    let invalid = || Error::Incompatible {
        message: format!("the policy returned an invalid distribution {probabilities:?}"),
    };
    let mut total = 0.0;
    for &x in probabilities {
        if !(0.0..=1.0).contains(&x) {
            return Err(invalid()); // also NaN
        }
        total += x;
    }
    if n == 0 || (total - 1.0).abs() > 1e-9 {
        return Err(invalid());
    }
    if let Some(allowed) = eligible {
        if allowed.len() < n {
            let outside = probabilities
                .iter()
                .enumerate()
                .any(|(i, &x)| x != 0.0 && allowed.binary_search(&(i as u32)).is_err());
            if outside {
                return Err(invalid());
            }
        }
    }
    // bisect_right over the running sums, recomputed in the same order (same rounding).
    let target = u * total;
    let mut running = 0.0;
    let mut i = n - 1;
    for (j, &x) in probabilities.iter().enumerate() {
        running += x;
        if running > target {
            i = j;
            break;
        }
    }
    while probabilities[i] <= 0.0 && i > 0 {
        i -= 1;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_uniform_equal_pythons_blake2b() {
        // hashlib.blake2b(eid.encode(), digest_size=8, key=seed.to_bytes(8, "little"))
        let e = "é✓".repeat(30);
        let x = "x".repeat(200);
        let cases: [(u64, &str, &str, f64); 5] = [
            (7, "a", "623d003d878aca86", 0.5265280323192209),
            (0, "", "c3afffd8bf4f1b3c", 0.23479174073963682),
            (u64::MAX, "req-1", "4a87b7ec2b6e616f", 0.43508041927699814),
            (12345, &x, "551de5aebefd903c", 0.23658738999701645),
            (99, &e, "f5734f9ca974729e", 0.6189339555824611),
        ];
        for (seed, eid, digest, u) in cases {
            let h = blake2b_64(&seed.to_le_bytes(), eid.as_bytes()).to_le_bytes();
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, digest, "seed {seed}");
            assert_eq!(uniform(seed, eid).to_bits(), u.to_bits(), "seed {seed}");
            let keyed = Keyed::new(seed);
            assert_eq!(keyed.uniform(eid).to_bits(), u.to_bits(), "seed {seed}");
            assert_eq!(keyed.hash(eid.as_bytes()).to_le_bytes(), h);
        }
    }

    #[test]
    fn draw_picks_the_interval_of_u_and_skips_zero_arms() {
        let p = [0.2, 0.0, 0.8];
        assert_eq!(draw(&p, 0.0, None).unwrap(), 0);
        assert_eq!(draw(&p, 0.1999999, None).unwrap(), 0);
        assert_eq!(
            draw(&p, 0.2, None).unwrap(),
            2,
            "the boundary belongs to the next arm"
        );
        assert_eq!(draw(&p, 0.9999999999999999, None).unwrap(), 2);
        assert_eq!(draw(&[0.5, 0.5, 0.0], 0.9999999999999999, None).unwrap(), 1);
        // Frequencies over a fine grid of u match the probabilities.
        let q = [0.1, 0.3, 0.6];
        let mut counts = [0usize; 3];
        for k in 0..10_000 {
            counts[draw(&q, (k as f64 + 0.5) / 10_000.0, None).unwrap()] += 1;
        }
        assert_eq!(counts, [1000, 3000, 6000]);
    }

    #[test]
    fn invalid_distributions_and_mass_outside_eligible_are_refused() {
        for p in [
            &[][..],
            &[0.5, 0.6],
            &[0.5, 0.4],
            &[f64::NAN, 1.0],
            &[-0.1, 1.1],
        ] {
            assert!(
                matches!(draw(p, 0.5, None), Err(Error::Incompatible { .. })),
                "{p:?}"
            );
        }
        assert!(draw(&[0.5, 0.5, 0.0], 0.5, Some(&[0, 2])).is_err());
        assert_eq!(draw(&[0.5, 0.0, 0.5], 0.7, Some(&[0, 2])).unwrap(), 2);
    }
}
