//! A small, portable, serializable random generator: xoshiro256++ (Blackman and Vigna),
//! seeded through SplitMix64. Implemented here rather than taken from a crate so that the
//! stream a seed produces is part of this library's own format: a restored object continues
//! the same stream whatever version of `rand` the build resolves.
//!
//! Every draw turns the generator's words (or [`splitmix64`]'s, for the OPE bootstrap's
//! keyed Poisson weights) into values with this library's own code ([`crate::sample`],
//! or next to its one user), with one exception: binomial counts
//! ([`crate::stats::binomial`], the streaming simulators' batches of pulls) come from
//! `rand_distr::Binomial` fed by this generator, so they depend on `rand_distr` (pinned
//! with `=` in the workspace `Cargo.toml`) and on rand 0.9's uniform floats (value-stable
//! within 0.9 by rand's policy; locked by `Cargo.lock`). The normal draws of LinTS,
//! LogisticTS, the Gaussian environment and the binomial's normal approximation (beyond
//! 2^53 trials) use [`crate::sample::normal_rand_distr_05`], which reproduces `rand_distr`
//! 0.5's `StandardNormal` bit for bit (tested against the pinned crate), so saved states of
//! these classes continue identically.

use rand_core::{impls, RngCore};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    s: [u64; 4],
}

/// One SplitMix64 step: the recommended way to expand a 64-bit seed.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for x in s.iter_mut() {
            *x = splitmix64(&mut sm);
        }
        // SplitMix64 never yields four zeros from one seed, but keep the invariant explicit.
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    /// A seed drawn from the process's hash randomness and the clock: for `seed=None`.
    pub fn from_entropy() -> Self {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        let mut h = RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        h.write_u64(nanos);
        Self::seed_from_u64(h.finish())
    }

    pub fn from_optional_seed(seed: Option<u64>) -> Self {
        match seed {
            Some(s) => Self::seed_from_u64(s),
            None => Self::from_entropy(),
        }
    }

    /// Seed of the `index`-th independent child stream of `seed` (used for simulation runs).
    pub fn child_seed(seed: u64, index: u64) -> u64 {
        let mut sm = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        splitmix64(&mut sm);
        splitmix64(&mut sm)
    }

    /// The state must not be all zeros (xoshiro's one fixed point); checked on deserialize.
    pub fn is_valid(&self) -> bool {
        self.s != [0; 4]
    }

    #[inline]
    pub fn next_raw(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_raw() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n) by Lemire's multiply-shift with rejection (unbiased).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_raw() as u128) * (n as u128);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = (self.next_raw() as u128) * (n as u128);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }
}

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (self.next_raw() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next_raw()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        impls::fill_bytes_via_next(self, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vector_of_xoshiro256plusplus() {
        // First outputs of the reference C implementation for state {1, 2, 3, 4}.
        let mut r = Rng { s: [1, 2, 3, 4] };
        let expected = [
            41943041u64,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
        ];
        for e in expected {
            assert_eq!(r.next_raw(), e);
        }
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::seed_from_u64(7);
        let mut hist = [0u32; 7];
        for _ in 0..70_000 {
            hist[r.below(7) as usize] += 1;
        }
        for h in hist {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
    }

    #[test]
    fn uniform_mean_and_range() {
        let mut r = Rng::seed_from_u64(1);
        let n = 100_000;
        let mut s = 0.0;
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            s += u;
        }
        assert!((s / n as f64 - 0.5).abs() < 0.005);
    }
}
