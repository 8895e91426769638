//! Which vector instruction sets the hand-written kernels may use ([`crate::linalg`]'s
//! AVX2/FMA kernels and the OPE block loop in `ope::terms`), decided once per process.
//!
//! The answer is what the CPU reports (`is_x86_feature_detected!`), so that portable
//! builds (baseline x86-64 wheels) still use the vector unit where there is one, except
//! that setting the environment variable `REGRETLESS_NO_SIMD` to anything but `0` or an
//! empty value turns every SIMD path off: the portable fallbacks then run on any machine,
//! which is how CI tests them (`.ci/run`). The variable is read once, at the first call;
//! changing it later in the process has no effect.

// Only the x86_64 kernels ask: on other architectures there is no SIMD path to switch.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::sync::atomic::{AtomicU8, Ordering};

const PROBED: u8 = 1;
const AVX2: u8 = 2;
const FMA: u8 = 4;

/// The environment variable that disables the SIMD paths.
pub const NO_SIMD_VAR: &str = "REGRETLESS_NO_SIMD";

/// The probed feature bits (`PROBED` set once known).
#[inline]
fn features() -> u8 {
    static STATE: AtomicU8 = AtomicU8::new(0);
    let s = STATE.load(Ordering::Relaxed);
    if s & PROBED != 0 {
        return s;
    }
    let s = probe();
    // Every thread computes the same value: a race only repeats the probe.
    STATE.store(s, Ordering::Relaxed);
    s
}

#[cold]
fn probe() -> u8 {
    let disabled = std::env::var_os(NO_SIMD_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    let s = PROBED;
    #[cfg(target_arch = "x86_64")]
    let s = if disabled {
        s
    } else {
        let avx2 = if std::is_x86_feature_detected!("avx2") {
            AVX2
        } else {
            0
        };
        let fma = if std::is_x86_feature_detected!("fma") {
            FMA
        } else {
            0
        };
        s | avx2 | fma
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = disabled;
    s
}

/// Whether the AVX2 paths may run: the CPU has AVX2 and SIMD is not disabled.
#[inline]
pub(crate) fn avx2() -> bool {
    features() & AVX2 != 0
}

/// Whether the AVX2 + FMA paths may run.
#[inline]
pub(crate) fn avx2_fma() -> bool {
    features() & (AVX2 | FMA) == AVX2 | FMA
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under the switch (as CI's second run sets it) no SIMD path runs; without it, the
    /// answer is the CPU's.
    #[test]
    fn the_switch_turns_every_simd_path_off() {
        let set = std::env::var_os(NO_SIMD_VAR).is_some_and(|v| !v.is_empty() && v != "0");
        if set {
            assert!(!avx2() && !avx2_fma());
        } else {
            #[cfg(target_arch = "x86_64")]
            assert_eq!(avx2(), std::is_x86_feature_detected!("avx2"));
        }
    }
}
