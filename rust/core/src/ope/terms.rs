//! The per-row term `(u_i, v_i, w_i)` of every estimator, with the validation of the row.
//! Errors name the argument and the row as `argument[row]`, the row counted from the
//! start of the whole stream.
//!
//! Three paths compute the terms: [`RowTerms::row`] (checked, any layout, names the first
//! invalid row), [`RowTerms::row_fast`] (branch-free, one slot per row) and
//! [`RowTerms::block`] (a monomorphized two-stage loop over blocks of rows, W3's layout,
//! with an AVX2 version of its per-row sums). Each estimator's formula is written once, as
//! a [`Term`]; all paths do the same additions in the same order, so they agree bit for
//! bit. [`crate::simd`] decides whether the AVX2 version runs (`REGRETLESS_NO_SIMD=1`
//! forces the portable one).

// `(x >= 0.0) & (x <= 1.0)` on purpose: a non-short-circuit test the compiler can keep
// branch-free, where `contains` compiles to a branch.
#![allow(clippy::manual_range_contains)]

use super::{ActionDist, Actions, Batch, Estimator, Rewards, Table, SUM_TOLERANCE};
use crate::error::{Error, Result};

/// Rows evaluated per block: the unit of the fused validate-and-evaluate loop.
pub(crate) const BLOCK: usize = 64;

/// The terms `(u, v, w)` of a block of rows, one array per term.
pub(crate) struct Buf {
    pub u: [f64; BLOCK],
    pub v: [f64; BLOCK],
    pub w: [f64; BLOCK],
}

impl Buf {
    pub(crate) fn new() -> Self {
        Buf {
            u: [0.0; BLOCK],
            v: [0.0; BLOCK],
            w: [0.0; BLOCK],
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, j: usize) -> [f64; 3] {
        [self.u[j], self.v[j], self.w[j]]
    }

    #[inline(always)]
    pub(crate) fn set(&mut self, j: usize, x: [f64; 3]) {
        self.u[j] = x[0];
        self.v[j] = x[1];
        self.w[j] = x[2];
    }
}

/// Stage 1's per-row values of a block (see [`RowTerms::block`]); made once per run of
/// blocks and reused (entries a layout never writes keep their initial values).
pub(crate) struct Stage {
    r: [f64; BLOCK],
    pe: [f64; BLOCK],
    dot: [f64; BLOCK],
    sum: [f64; BLOCK],
    qf: [f64; BLOCK],
    ok: bool,
}

impl Stage {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Stage {
            r: [0.0; BLOCK],
            pe: [0.0; BLOCK],
            dot: [0.0; BLOCK],
            sum: [1.0; BLOCK],
            qf: [0.0; BLOCK],
            ok: true,
        }
    }
}

/// Rows ahead of the current one whose table entries are prefetched in the block loop
/// (the hardware prefetcher alone leaves the row loop waiting on memory).
const PREFETCH_ROWS: usize = 16;

/// Hints the CPU to fetch `values[at]` into the cache; a no-op past the end (no access
/// is made either way: a prefetch never faults and reads nothing into the program).
#[inline(always)]
fn prefetch<T>(values: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < values.len() {
        // SAFETY: `at < values.len()`, so the pointer arithmetic stays inside the slice;
        // `_mm_prefetch` only hints the cache (it reads nothing into the program and never
        // faults) and needs SSE, which every x86_64 CPU has.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(values.as_ptr().add(at).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, at);
}

/// Prefetches the first and the last entry of row `row` of a table of `k` columns: every
/// cache line of a row that spans at most two (W3's 80-byte rows do); the middle lines
/// of wider rows are left to the hardware prefetcher.
#[inline(always)]
fn prefetch_row(values: &[f64], row: usize, k: usize) {
    prefetch(values, row * k);
    prefetch(values, row * k + k - 1);
}

/// One estimator's per-row term `(u, v, w)` (the table in [`super`]'s module doc) from the
/// logged reward `r`, the importance weight `w`, the reward model's value of the
/// evaluation policy `dm` and its value of the logged action `q_logged` (0 without a
/// model). Each estimator is a type, so that the block loop is compiled once per estimator
/// with its formula inlined; [`Estimator::term`] picks the type for a single row. The
/// scalar, fast and block paths all compute their terms here, so they agree bit for bit.
pub(crate) trait Term: Copy {
    fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3];
}

/// The estimators as [`Term`] types, one per [`Estimator`] variant.
mod term {
    use super::Term;

    #[derive(Clone, Copy)]
    pub(crate) struct Dm;
    #[derive(Clone, Copy)]
    pub(crate) struct Ipw {
        pub lambda: f64,
    }
    #[derive(Clone, Copy)]
    pub(crate) struct SnIpw;
    #[derive(Clone, Copy)]
    pub(crate) struct Dr {
        pub lambda: f64,
    }
    #[derive(Clone, Copy)]
    pub(crate) struct SnDr;
    #[derive(Clone, Copy)]
    pub(crate) struct SwitchDr {
        pub lambda: f64,
    }
    #[derive(Clone, Copy)]
    pub(crate) struct DrOs {
        pub lambda: f64,
    }

    impl Term for Dm {
        #[inline(always)]
        fn term(self, _r: f64, _w: f64, dm: f64, _q_logged: f64) -> [f64; 3] {
            [dm, 0.0, 0.0]
        }
    }

    impl Term for Ipw {
        #[inline(always)]
        fn term(self, r: f64, w: f64, _dm: f64, _q_logged: f64) -> [f64; 3] {
            [r * w.min(self.lambda), 0.0, w]
        }
    }

    impl Term for SnIpw {
        #[inline(always)]
        fn term(self, r: f64, w: f64, _dm: f64, _q_logged: f64) -> [f64; 3] {
            [0.0, r * w, w]
        }
    }

    impl Term for Dr {
        #[inline(always)]
        fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3] {
            [dm + w.min(self.lambda) * (r - q_logged), 0.0, w]
        }
    }

    impl Term for SnDr {
        #[inline(always)]
        fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3] {
            [dm, w * (r - q_logged), w]
        }
    }

    impl Term for SwitchDr {
        #[inline(always)]
        fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3] {
            let correction = if w <= self.lambda {
                w * (r - q_logged)
            } else {
                0.0
            };
            [dm + correction, 0.0, w]
        }
    }

    impl Term for DrOs {
        #[inline(always)]
        fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3] {
            let lambda = self.lambda;
            // lambda * w / (w^2 + lambda), with its limits 0 (DM) and infinity (DR) exact.
            let shrunk = if lambda == f64::INFINITY {
                w
            } else if lambda == 0.0 {
                0.0
            } else {
                lambda * w / (w * w + lambda)
            };
            [dm + shrunk * (r - q_logged), 0.0, w]
        }
    }
}

/// Evaluates `$body` with `$t` bound to `$est`'s [`Term`] type: the one list of estimators
/// from which both the per-row dispatch and the monomorphized block loops derive.
macro_rules! with_term {
    ($est:expr, |$t:ident| $body:expr) => {
        match $est {
            Estimator::DirectMethod => {
                let $t = term::Dm;
                $body
            }
            Estimator::Ipw { lambda } => {
                let $t = term::Ipw { lambda };
                $body
            }
            Estimator::SnIpw => {
                let $t = term::SnIpw;
                $body
            }
            Estimator::Dr { lambda } => {
                let $t = term::Dr { lambda };
                $body
            }
            Estimator::SnDr => {
                let $t = term::SnDr;
                $body
            }
            Estimator::SwitchDr { lambda } => {
                let $t = term::SwitchDr { lambda };
                $body
            }
            Estimator::DrOs { lambda } => {
                let $t = term::DrOs { lambda };
                $body
            }
        }
    };
}

impl Estimator {
    /// This estimator's [`Term`] of one row.
    #[inline(always)]
    pub(crate) fn term(self, r: f64, w: f64, dm: f64, q_logged: f64) -> [f64; 3] {
        with_term!(self, |t| t.term(r, w, dm, q_logged))
    }
}

/// The per-row terms of one batch under one estimator: the batch, checked for shape,
/// ready to be evaluated (and its values validated) row by row or block by block.
pub(crate) struct RowTerms<'a> {
    est: Estimator,
    n: usize,
    reward: Rewards<'a>,
    action: Actions<'a>,
    pscore: &'a [f64],
    position: Option<&'a [i64]>,
    dist: ActionDist<'a>,
    q: Option<Table<'a>>,
    /// Whether each row's distribution must be checked (not when one table is shared: it
    /// is checked once, when this is built).
    check_rows: bool,
}

/// Shape of the evaluation-policy input: `(n_actions, len_list)`, or `None` for the
/// logged-action form. Fixed by the first batch of a stream.
pub(crate) type DistShape = Option<(usize, usize)>;

fn length_error(argument: &str, len: usize, reference: &str, n: usize) -> Error {
    Error::shape(
        argument,
        format!("length {len} does not match {reference} (length {n})"),
    )
}

#[cold]
#[inline(never)]
fn bad_reward(row: u64, value: f64) -> Error {
    Error::InvalidReward {
        argument: format!("reward[{row}]"),
        value,
        position: None,
        expected: "a finite number".into(),
    }
}

#[cold]
#[inline(never)]
fn bad_action(row: u64, arm: i64, n_arms: usize) -> Error {
    Error::ArmOutOfRange {
        argument: format!("action[{row}]"),
        arm,
        n_arms,
        position: None,
    }
}

#[cold]
#[inline(never)]
fn bad_pscore(row: u64, p: f64) -> Error {
    Error::param(
        format!("pscore[{row}]"),
        format!("propensity {p} is outside (0, 1]"),
    )
}

#[cold]
#[inline(never)]
fn bad_position(row: u64, l: i64, len_list: usize) -> Error {
    Error::param(
        format!("position[{row}]"),
        format!("slot {l} is outside [0, {len_list})"),
    )
}

#[cold]
#[inline(never)]
fn bad_probability(argument: String, value: f64, action: Option<usize>) -> Error {
    let of = action
        .map(|a| format!(" of action {a}"))
        .unwrap_or_default();
    Error::param(
        argument,
        format!("probability {value}{of} is outside [0, 1]"),
    )
}

#[cold]
#[inline(never)]
fn bad_sum(argument: String, sum: f64, slot: usize, len_list: usize) -> Error {
    let at = if len_list > 1 {
        format!(" at slot {slot}")
    } else {
        String::new()
    };
    Error::param(
        argument,
        format!("probabilities sum to {sum}{at}, not 1; action_dist must be a probability distribution over actions"),
    )
}

#[cold]
#[inline(never)]
fn non_finite(row: u64, has_model: bool, w: f64) -> Error {
    if has_model {
        Error::param(
            format!("estimated_rewards_by_reg_model[{row}]"),
            format!("the reward model gives a non-finite term (importance weight {w})"),
        )
    } else {
        Error::param(
            format!("pscore[{row}]"),
            format!("importance weight {w} overflows"),
        )
    }
}

/// Checks that block `base` of `t` holds a distribution over actions for every slot.
fn check_distribution(t: &Table<'_>, base: usize, argument: impl Fn() -> String) -> Result<()> {
    let (k, l) = (t.n_actions, t.len_list);
    let block = &t.values[base..base + k * l];
    if l == 1 {
        let mut s = 0.0;
        let mut ok = true;
        for &x in block {
            ok &= (0.0..=1.0).contains(&x);
            s += x;
        }
        if ok && (s - 1.0).abs() <= SUM_TOLERANCE {
            return Ok(());
        }
    }
    for slot in 0..l {
        let mut s = 0.0;
        for a in 0..k {
            let x = block[a * l + slot];
            if !(0.0..=1.0).contains(&x) {
                return Err(bad_probability(argument(), x, Some(a)));
            }
            s += x;
        }
        if (s - 1.0).abs() > SUM_TOLERANCE || s.is_nan() {
            return Err(bad_sum(argument(), s, slot, l));
        }
    }
    Ok(())
}

/// Sum of `p` and whether no entry is negative, in four independent lanes (a single
/// running sum would serialize on the adder's latency). Negativity is read off the OR of
/// the sign bits; with the sum within [`SUM_TOLERANCE`] of 1 it also bounds every entry
/// by 1. A NaN makes the sum NaN, and -0.0 only sends the row to the checked path.
#[inline(always)]
fn sum_checked(p: &[f64]) -> (f64, bool) {
    let mut s = [0.0; 4];
    let mut bits = 0u64;
    let chunks = p.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..4 {
            s[j] += c[j];
            bits |= c[j].to_bits();
        }
    }
    for &x in rest {
        s[0] += x;
        bits |= x.to_bits();
    }
    ((s[0] + s[1]) + (s[2] + s[3]), bits >> 63 == 0)
}

/// `(sum p, sum p q, no p negative)`, four lanes (see [`sum_checked`]).
#[inline(always)]
fn dot_checked(p: &[f64], q: &[f64]) -> (f64, f64, bool) {
    let mut s = [0.0; 4];
    let mut d = [0.0; 4];
    let mut bits = 0u64;
    let (pc, qc) = (p.chunks_exact(4), q.chunks_exact(4));
    let (pr, qr) = (pc.remainder(), qc.remainder());
    for (a, b) in pc.zip(qc) {
        for j in 0..4 {
            s[j] += a[j];
            d[j] += a[j] * b[j];
            bits |= a[j].to_bits();
        }
    }
    for (&x, &y) in pr.iter().zip(qr) {
        s[0] += x;
        d[0] += x * y;
        bits |= x.to_bits();
    }
    (
        (s[0] + s[1]) + (s[2] + s[3]),
        (d[0] + d[1]) + (d[2] + d[3]),
        bits >> 63 == 0,
    )
}

/// The per-row sums of the block loop: [`sum_checked`] and [`dot_checked`], portable or
/// with AVX2 (the same additions in the same order, so the same results). Taken by value
/// (zero-sized), so that holding an [`Avx2`] proves the CPU has AVX2.
trait RowSums: Copy {
    fn sum(self, p: &[f64]) -> (f64, bool);
    fn dot(self, p: &[f64], q: &[f64]) -> (f64, f64, bool);
}

#[derive(Clone, Copy)]
struct Portable;

impl RowSums for Portable {
    #[inline(always)]
    fn sum(self, p: &[f64]) -> (f64, bool) {
        sum_checked(p)
    }

    #[inline(always)]
    fn dot(self, p: &[f64], q: &[f64]) -> (f64, f64, bool) {
        dot_checked(p, q)
    }
}

/// The AVX2 row sums: a token whose only constructor, [`Avx2::new_unchecked`], is `unsafe`
/// with the CPU's AVX2 as its contract, so its safe methods can rely on it.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

#[cfg(target_arch = "x86_64")]
impl RowSums for Avx2 {
    #[inline(always)]
    fn sum(self, p: &[f64]) -> (f64, bool) {
        // SAFETY: `avx2::sum_checked` needs AVX2 and nothing else (it reads only `p`'s
        // indices below `p.len()`); `self` exists, so its constructor's contract, AVX2,
        // holds.
        unsafe { avx2::sum_checked(p) }
    }

    #[inline(always)]
    fn dot(self, p: &[f64], q: &[f64]) -> (f64, f64, bool) {
        // SAFETY: as in `sum` (the reads stop at min(p.len(), q.len())).
        unsafe { avx2::dot_checked(p, q) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// [`super::sum_checked`] with the four lanes in one register: lane `j` adds entries
    /// `4c + j`, the remainder goes to lane 0, then `(s0 + s1) + (s2 + s3)`; bit-for-bit
    /// the portable result. The sign bits of all entries come from a movemask of their OR.
    ///
    /// # Safety
    /// The CPU must support AVX2. Any slice is fine: loads are at `i + 3 < n` or `i < n`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn sum_checked(p: &[f64]) -> (f64, bool) {
        let n = p.len();
        let ptr = p.as_ptr();
        let mut acc = _mm256_setzero_pd();
        let mut or = _mm256_setzero_pd();
        let mut i = 0;
        while i + 4 <= n {
            let v = _mm256_loadu_pd(ptr.add(i));
            acc = _mm256_add_pd(acc, v);
            or = _mm256_or_pd(or, v);
            i += 4;
        }
        let mut s = [0.0f64; 4];
        _mm256_storeu_pd(s.as_mut_ptr(), acc);
        let mut neg = _mm256_movemask_pd(or) != 0;
        while i < n {
            let x = *ptr.add(i);
            s[0] += x;
            neg |= x.is_sign_negative();
            i += 1;
        }
        ((s[0] + s[1]) + (s[2] + s[3]), !neg)
    }

    /// [`super::dot_checked`] likewise (products then sums: no FMA, as the portable code).
    ///
    /// # Safety
    /// The CPU must support AVX2. Any slices are fine: loads stop at min(p.len(), q.len()).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn dot_checked(p: &[f64], q: &[f64]) -> (f64, f64, bool) {
        let n = p.len().min(q.len());
        let (pp, qp) = (p.as_ptr(), q.as_ptr());
        let mut acc = _mm256_setzero_pd();
        let mut dacc = _mm256_setzero_pd();
        let mut or = _mm256_setzero_pd();
        let mut i = 0;
        while i + 4 <= n {
            let v = _mm256_loadu_pd(pp.add(i));
            let w = _mm256_loadu_pd(qp.add(i));
            acc = _mm256_add_pd(acc, v);
            dacc = _mm256_add_pd(dacc, _mm256_mul_pd(v, w));
            or = _mm256_or_pd(or, v);
            i += 4;
        }
        let mut s = [0.0f64; 4];
        let mut d = [0.0f64; 4];
        _mm256_storeu_pd(s.as_mut_ptr(), acc);
        _mm256_storeu_pd(d.as_mut_ptr(), dacc);
        let mut neg = _mm256_movemask_pd(or) != 0;
        while i < n {
            let (x, y) = (*pp.add(i), *qp.add(i));
            s[0] += x;
            d[0] += x * y;
            neg |= x.is_sign_negative();
            i += 1;
        }
        (
            (s[0] + s[1]) + (s[2] + s[3]),
            (d[0] + d[1]) + (d[2] + d[3]),
            !neg,
        )
    }
}

impl<'a> RowTerms<'a> {
    /// Checks presence, lengths and shapes (not values: those are checked row by row).
    pub(crate) fn new(est: Estimator, b: &Batch<'a>) -> Result<Self> {
        let name = est.name();
        let logged = est.uses_logged_feedback();
        // Number of rows: the first per-row input present.
        let mut n: Option<(usize, &str)> = None;
        let mut take = |len: usize, arg: &'static str| -> Result<()> {
            match n {
                None => {
                    n = Some((len, arg));
                    Ok(())
                }
                Some((m, r)) if m != len => Err(length_error(arg, len, r, m)),
                _ => Ok(()),
            }
        };
        if logged {
            let reward = b
                .reward
                .ok_or_else(|| Error::param("reward", format!("required by {name}")))?;
            take(reward.len(), "reward")?;
            let action = b
                .action
                .ok_or_else(|| Error::param("action", format!("required by {name}")))?;
            take(action.len(), "action")?;
            let pscore = b
                .pscore
                .ok_or_else(|| Error::param("pscore", format!("required by {name}")))?;
            take(pscore.len(), "pscore")?;
        }
        if let Some(p) = b.position {
            take(p.len(), "position")?;
        }
        let (k, l) = match b.action_dist {
            ActionDist::Full(t) => {
                if t.rows != 1 {
                    take(t.rows, "action_dist")?;
                }
                (t.n_actions, t.len_list)
            }
            ActionDist::Logged(pi) => {
                if matches!(est, Estimator::Ipw { .. } | Estimator::SnIpw) {
                    take(pi.len(), "action_dist")?;
                } else {
                    return Err(Error::shape(
                        "action_dist",
                        format!(
                            "{name} needs the evaluation policy's full distribution, shape (n_rounds, n_actions[, len_list]), not only the probability of the logged action"
                        ),
                    ));
                }
                (0, 1)
            }
        };
        let q = if est.uses_reward_model() {
            let q = b.estimated_rewards.ok_or_else(|| {
                Error::param(
                    "estimated_rewards_by_reg_model",
                    format!("required by {name}"),
                )
            })?;
            if (q.n_actions, q.len_list) != (k, l) {
                return Err(Error::shape(
                    "estimated_rewards_by_reg_model",
                    format!(
                        "has {} actions and {} slots but action_dist has {k} and {l}",
                        q.n_actions, q.len_list
                    ),
                ));
            }
            if q.rows != 1 {
                take(q.rows, "estimated_rewards_by_reg_model")?;
            }
            Some(q)
        } else {
            None
        };
        let n = match n {
            Some((n, _)) => n,
            // Only shared one-row tables and no per-row input: a single row.
            None => 1,
        };
        if l > 1 && b.position.is_none() {
            return Err(Error::param(
                "position",
                format!("required when action_dist has {l} slots (len_list > 1)"),
            ));
        }
        let mut check_rows = true;
        if let ActionDist::Full(t) = b.action_dist {
            if t.rows == 1 {
                check_distribution(&t, 0, || "action_dist".to_string())?;
                check_rows = false;
            }
        }
        Ok(RowTerms {
            est,
            n,
            reward: b.reward.unwrap_or(Rewards::F64(&[])),
            action: b.action.unwrap_or(Actions::I64(&[])),
            pscore: b.pscore.unwrap_or(&[]),
            position: b.position,
            dist: b.action_dist,
            q,
            check_rows,
        })
    }

    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Trusts that every per-row `action_dist` row is a distribution (the caller vouches
    /// for it): its sum is not checked, and IPW reads only the logged action's entry.
    /// Every other check stays.
    pub(crate) fn trust_distributions(&mut self) {
        self.check_rows = false;
    }

    pub(crate) fn shape(&self) -> DistShape {
        match self.dist {
            ActionDist::Full(t) => Some((t.n_actions, t.len_list)),
            ActionDist::Logged(_) => None,
        }
    }

    /// Whether [`RowTerms::block`] applies: per-row tables with one slot, no positions, and
    /// an estimator that reads the logged feedback (the common case, W3's layout).
    pub(crate) fn has_block_path(&self) -> bool {
        let per_row = |t: &Table<'_>| t.rows != 1 && t.len_list == 1;
        match self.dist {
            ActionDist::Full(t) => {
                per_row(&t)
                    && self.position.is_none()
                    && self.est.uses_logged_feedback()
                    && self.q.as_ref().is_none_or(per_row)
            }
            ActionDist::Logged(_) => self.position.is_none(),
        }
    }

    /// Rows `start..end` (at most [`BLOCK`]) into `out`, for [`RowTerms::has_block_path`]
    /// layouts, validating every row in the same pass. Two stages, each staged so that it
    /// vectorizes: per-row sums of the distribution (monomorphized for small numbers of
    /// actions, so a row is straight-line code), then element-wise weights, terms and
    /// checks over the block (monomorphized per estimator); with AVX2 when the CPU has it.
    /// The arithmetic is the same in every instruction set (same order, no FMA), so the
    /// result does not depend on the machine. Returns false if any row is invalid; the
    /// caller then re-runs the block through [`RowTerms::row`] for the error.
    pub(crate) fn block(&self, start: usize, end: usize, st: &mut Stage, out: &mut Buf) -> bool {
        debug_assert!(end - start <= BLOCK);
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked just above), the two functions' only
            // requirement; their bodies are safe code.
            unsafe {
                self.stage1_avx2(start, end, st);
                return self.stage2_avx2(start, end, st, out);
            }
        }
        self.stage1_dispatch(Portable, start, end, st);
        self.stage2_dispatch(start, end, st, out)
    }

    /// Stage 1 compiled for AVX2, with the AVX2 row sums.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn stage1_avx2(&self, start: usize, end: usize, st: &mut Stage) {
        // SAFETY: this function's contract is that the CPU has AVX2.
        let sums = unsafe { Avx2::new_unchecked() };
        self.stage1_dispatch(sums, start, end, st)
    }

    /// Stage 2 compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn stage2_avx2(&self, start: usize, end: usize, st: &Stage, out: &mut Buf) -> bool {
        self.stage2_dispatch(start, end, st, out)
    }

    #[inline(always)]
    fn stage1_dispatch<S: RowSums>(&self, sums: S, start: usize, end: usize, st: &mut Stage) {
        let k = match self.dist {
            ActionDist::Full(t) => t.n_actions,
            ActionDist::Logged(_) => 0,
        };
        macro_rules! by_k {
            ($($n:literal)*) => {
                match k {
                    $($n => self.stage1::<S, $n>(sums, start, end, st),)*
                    _ => self.stage1::<S, 0>(sums, start, end, st),
                }
            };
        }
        by_k!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// Prefetches rows `start..end` of the logged reward, action and propensity (the
    /// next block's: these streams are read in bursts of a block, which the hardware
    /// prefetcher alone serves late).
    #[inline(always)]
    fn prefetch_logged(&self, start: usize, end: usize) {
        // Entries per 64-byte cache line, for 8-byte values (4-byte ones: every other line).
        const STEP: usize = 8;
        let mut i = start;
        while i < end.min(self.n) {
            match self.reward {
                Rewards::F64(r) => prefetch(r, i),
                Rewards::I64(r) => prefetch(r, i),
            }
            match self.action {
                Actions::I64(a) => prefetch(a, i),
                Actions::I32(a) => {
                    if i % 16 == 0 {
                        prefetch(a, i)
                    }
                }
            }
            prefetch(self.pscore, i);
            i += STEP;
        }
    }

    /// Stage 1: the logged feedback into local arrays, and per row the evaluation policy's
    /// probability of the logged action (`pe`), the model's value of the policy
    /// (`dot / sum`) and of the logged action (`qf`), with the distribution's checks.
    /// `K` is the number of actions when known at compile time, else 0.
    #[inline(always)]
    fn stage1<S: RowSums, const K: usize>(
        &self,
        sums: S,
        start: usize,
        end: usize,
        st: &mut Stage,
    ) {
        let n = end - start;
        if self.check_rows || self.q.is_some() {
            // (Trusted IPW reads ahead in the action stream already, for its gather.)
            self.prefetch_logged(end, end + BLOCK);
        }
        let mut act = [0i64; BLOCK];
        self.reward.copy_to(start, &mut st.r[..n]);
        self.action.copy_to(start, &mut act[..n]);
        let mut ok = true;
        match self.dist {
            ActionDist::Logged(pi) => {
                st.pe[..n].copy_from_slice(&pi[start..end]);
                for (&p, &a) in st.pe[..n].iter().zip(&act[..n]) {
                    ok &= (a >= 0) & (p >= 0.0) & (p <= 1.0);
                }
            }
            ActionDist::Full(t) => {
                let k = if K > 0 { K } else { t.n_actions };
                let pis = t.values[start * k..end * k].chunks_exact(k);
                let mut nonneg = true;
                match self.q {
                    Some(q) => {
                        let qs = q.values[start * k..end * k].chunks_exact(k);
                        for (j, (p, qrow)) in pis.zip(qs).enumerate() {
                            prefetch_row(t.values, start + j + PREFETCH_ROWS, k);
                            prefetch_row(q.values, start + j + PREFETCH_ROWS, k);
                            let (s, d, good) = sums.dot(p, qrow);
                            let a = act[j];
                            let valid = (a as u64) < k as u64;
                            let ai = if valid { a as usize } else { 0 };
                            ok &= valid;
                            nonneg &= good;
                            st.sum[j] = s;
                            st.dot[j] = d;
                            st.pe[j] = p[ai];
                            st.qf[j] = qrow[ai];
                        }
                    }
                    // Trusted distributions (validate=False): only the logged action's
                    // entry is read; `st.sum` stays 1 and nothing is checked of the row.
                    None if !self.check_rows => {
                        for (j, p) in pis.enumerate() {
                            let ahead = start + j + PREFETCH_ROWS;
                            if ahead < self.n {
                                let a = self.action.get(ahead);
                                prefetch(t.values, ahead * k + (a as usize).min(k - 1));
                            }
                            let a = act[j];
                            let valid = (a as u64) < k as u64;
                            let ai = if valid { a as usize } else { 0 };
                            ok &= valid;
                            st.pe[j] = p[ai];
                        }
                    }
                    None => {
                        for (j, p) in pis.enumerate() {
                            prefetch_row(t.values, start + j + PREFETCH_ROWS, k);
                            let (s, good) = sums.sum(p);
                            let a = act[j];
                            let valid = (a as u64) < k as u64;
                            let ai = if valid { a as usize } else { 0 };
                            ok &= valid;
                            nonneg &= good;
                            st.sum[j] = s;
                            st.pe[j] = p[ai];
                        }
                    }
                }
                if self.check_rows {
                    ok &= nonneg;
                    for &s in &st.sum[..n] {
                        ok &= (s - 1.0).abs() <= SUM_TOLERANCE;
                    }
                }
            }
        }
        st.ok = ok;
    }

    #[inline(always)]
    fn stage2_dispatch(&self, start: usize, end: usize, st: &Stage, out: &mut Buf) -> bool {
        if matches!(self.est, Estimator::DirectMethod) {
            // No block path: DM reads no logged feedback (see `has_block_path`).
            return false;
        }
        with_term!(self.est, |term| self.stage2(start, end, st, out, term))
    }

    /// Stage 2: element-wise over the block (vectorizes: no branches, no gathers).
    #[inline(always)]
    fn stage2(&self, start: usize, end: usize, st: &Stage, out: &mut Buf, term: impl Term) -> bool {
        let n = end - start;
        let ps = &self.pscore[start..end];
        let mut ok = st.ok;
        // Indexed: five input and three output arrays in lockstep vectorize best this way.
        #[allow(clippy::needless_range_loop)]
        for j in 0..n {
            let w = st.pe[j] / ps[j];
            let x = term.term(st.r[j], w, st.dot[j] / st.sum[j], st.qf[j]);
            ok &= st.r[j].is_finite()
                & (ps[j] > 0.0)
                & (ps[j] <= 1.0)
                & x[0].is_finite()
                & x[1].is_finite()
                & w.is_finite();
            out.u[j] = x[0];
            out.v[j] = x[1];
            out.w[j] = x[2];
        }
        ok
    }

    /// Whether [`RowTerms::row_fast`] applies (one slot per row).
    pub(crate) fn has_fast_path(&self) -> bool {
        match self.dist {
            ActionDist::Full(t) => t.len_list == 1,
            ActionDist::Logged(_) => true,
        }
    }

    /// [`RowTerms::row`] for one slot per row, without early exits: invalid input only
    /// clears the returned flag (indices are clamped so that nothing is read out of
    /// bounds). A block of rows with a cleared flag is re-run through `row` for its error.
    /// Branch-free checks keep this loop several times faster than the checked one.
    #[inline(always)]
    pub(crate) fn row_fast(&self, i: usize) -> ([f64; 3], bool) {
        let mut ok = true;
        if let Some(p) = self.position {
            ok &= p[i] == 0;
        }
        let (pe, dm, qfact) = match self.dist {
            ActionDist::Logged(pi) => {
                let pe = pi[i];
                ok &= (pe >= 0.0) & (pe <= 1.0);
                (pe, 0.0, 0.0)
            }
            ActionDist::Full(t) => {
                let k = t.n_actions;
                let base = t.base(i);
                let p = &t.values[base..base + k];
                let (sum, dot, good, qrow) = match self.q {
                    Some(q) => {
                        let qb = q.base(i);
                        let qrow = &q.values[qb..qb + k];
                        let (s, d, good) = dot_checked(p, qrow);
                        (s, d, good, qrow)
                    }
                    None if self.check_rows => {
                        let (s, good) = sum_checked(p);
                        (s, 0.0, good, &[][..])
                    }
                    None => (1.0, 0.0, true, &[][..]),
                };
                if self.check_rows {
                    ok &= good & ((sum - 1.0).abs() <= SUM_TOLERANCE);
                }
                let dm = dot / sum;
                if matches!(self.est, Estimator::DirectMethod) {
                    // DM reads no logged feedback.
                    return (self.est.term(0.0, 0.0, dm, 0.0), ok & dm.is_finite());
                }
                let a = self.action.get(i);
                let valid = (a >= 0) & ((a as u64) < k as u64);
                ok &= valid;
                let a = if valid { a as usize } else { 0 };
                let qfact = if qrow.is_empty() { 0.0 } else { qrow[a] };
                (p[a], dm, qfact)
            }
        };
        let r = self.reward.get(i);
        ok &= r.is_finite();
        if matches!(self.dist, ActionDist::Logged(_)) {
            ok &= self.action.get(i) >= 0;
        }
        let ps = self.pscore[i];
        ok &= (ps > 0.0) & (ps <= 1.0);
        let w = pe / ps;
        let out = self.est.term(r, w, dm, qfact);
        ok &= out[0].is_finite() & out[1].is_finite() & w.is_finite();
        (out, ok)
    }

    /// `(u, v, w)` of local row `i`; `row` is its index in the whole stream (for errors).
    #[inline(always)]
    pub(crate) fn row(&self, i: usize, row: u64) -> Result<[f64; 3]> {
        let t = match self.dist {
            ActionDist::Logged(pi) => return self.row_logged(i, row, pi[i]),
            ActionDist::Full(t) => t,
        };
        let ll = t.len_list;
        let slot = match self.position {
            Some(p) => {
                let s = p[i];
                if s < 0 || s as u64 >= ll as u64 {
                    return Err(bad_position(row, s, ll));
                }
                s as usize
            }
            None => 0,
        };
        let base = t.base(i);
        let k = t.n_actions;
        // DM term: the model's reward averaged over the evaluation policy (obp's
        // np.average with weights pi_e); and the row's own check.
        let (dm, qb) = if ll == 1 {
            let p = &t.values[base..base + k];
            let (sum, dot, ok, qb) = match self.q {
                Some(q) => {
                    let qb = q.base(i);
                    let (s, d, ok) = dot_checked(p, &q.values[qb..qb + k]);
                    (s, d, ok, qb)
                }
                None if self.check_rows => {
                    let (s, ok) = sum_checked(p);
                    (s, 0.0, ok, 0)
                }
                None => (1.0, 0.0, true, 0),
            };
            if self.check_rows && !(ok && (sum - 1.0).abs() <= SUM_TOLERANCE) {
                check_distribution(&t, base, || format!("action_dist[{row}]"))?;
            }
            (dot / sum, qb)
        } else {
            if self.check_rows {
                check_distribution(&t, base, || format!("action_dist[{row}]"))?;
            }
            match self.q {
                Some(q) => {
                    let qb = q.base(i);
                    let mut s_pq = 0.0;
                    let mut s_p = 0.0;
                    for a in 0..k {
                        let p = t.values[base + a * ll + slot];
                        s_pq += p * q.values[qb + a * ll + slot];
                        s_p += p;
                    }
                    (s_pq / s_p, qb)
                }
                None => (0.0, 0),
            }
        };
        if matches!(self.est, Estimator::DirectMethod) {
            if !dm.is_finite() {
                return Err(non_finite(row, true, 0.0));
            }
            // DM reads no logged feedback.
            return Ok(self.est.term(0.0, 0.0, dm, 0.0));
        }
        let r = self.reward.get(i);
        if !r.is_finite() {
            return Err(bad_reward(row, r));
        }
        let a = self.action.get(i);
        if a < 0 || a as u64 >= k as u64 {
            return Err(bad_action(row, a, k));
        }
        let a = a as usize;
        let ps = self.pscore[i];
        if !(ps > 0.0 && ps <= 1.0) {
            return Err(bad_pscore(row, ps));
        }
        let w = t.values[base + a * ll + slot] / ps;
        let q_logged = match self.q {
            Some(q) => q.values[qb + a * ll + slot],
            None => 0.0,
        };
        let out = self.est.term(r, w, dm, q_logged);
        if !(out[0].is_finite() && out[1].is_finite() && w.is_finite()) {
            return Err(non_finite(row, self.q.is_some(), w));
        }
        Ok(out)
    }

    #[inline(always)]
    fn row_logged(&self, i: usize, row: u64, pe: f64) -> Result<[f64; 3]> {
        let r = self.reward.get(i);
        if !r.is_finite() {
            return Err(bad_reward(row, r));
        }
        let a = self.action.get(i);
        if a < 0 {
            return Err(Error::param(
                format!("action[{row}]"),
                format!("action {a} is negative"),
            ));
        }
        let ps = self.pscore[i];
        if !(ps > 0.0 && ps <= 1.0) {
            return Err(bad_pscore(row, ps));
        }
        if !(0.0..=1.0).contains(&pe) {
            return Err(bad_probability(format!("action_dist[{row}]"), pe, None));
        }
        let w = pe / ps;
        let out = match self.est {
            // (Neither reads the reward model.)
            Estimator::SnIpw | Estimator::Ipw { .. } => self.est.term(r, w, 0.0, 0.0),
            // RowTerms::new admits only IPW and SNIPW with the logged-action form.
            _ => [f64::NAN, f64::NAN, w],
        };
        if !(out[0].is_finite() && out[1].is_finite() && w.is_finite()) {
            return Err(non_finite(row, false, w));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1).
    fn uniform(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| (crate::rng::splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64)
            .collect()
    }

    /// The block loop in both instruction sets, for numbers of actions with and without a
    /// monomorphized row loop: bit-for-bit the same terms and the same verdict as the
    /// checked row-by-row path.
    #[test]
    fn block_paths_agree_bit_for_bit_with_the_checked_rows() {
        let n = 150;
        for k in [2usize, 3, 5, 10, 16, 17, 23] {
            let mut pi = uniform(k as u64, n * k);
            for row in pi.chunks_mut(k) {
                let s: f64 = row.iter().sum();
                row.iter_mut().for_each(|x| *x /= s);
            }
            let q = uniform(100 + k as u64, n * k);
            let reward: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
            let action: Vec<i32> = (0..n).map(|i| (i * 7 % k) as i32).collect();
            let pscore: Vec<f64> = uniform(7, n).iter().map(|x| 0.05 + 0.9 * x).collect();
            for (est, with_q) in [
                (Estimator::Ipw { lambda: 3.0 }, false),
                (Estimator::SnIpw, false),
                (
                    Estimator::Dr {
                        lambda: f64::INFINITY,
                    },
                    true,
                ),
                (Estimator::SnDr, true),
                (Estimator::SwitchDr { lambda: 2.0 }, true),
                (Estimator::DrOs { lambda: 4.0 }, true),
            ] {
                let b = Batch {
                    reward: Some((&reward[..]).into()),
                    action: Some((&action[..]).into()),
                    pscore: Some(&pscore),
                    position: None,
                    action_dist: ActionDist::Full(Table::new(&pi, n, k, 1, "a").unwrap()),
                    estimated_rewards: with_q.then(|| Table::new(&q, n, k, 1, "q").unwrap()),
                };
                for trust in [false, true] {
                    let mut terms = RowTerms::new(est, &b).unwrap();
                    if trust {
                        terms.trust_distributions();
                    }
                    assert!(terms.has_block_path());
                    // One stage reused across the blocks, as `Pass` does.
                    let mut st = Stage::new();
                    for start in [0, 64, 128] {
                        let end = (start + BLOCK).min(n);
                        let mut portable = Buf::new();
                        terms.stage1_dispatch(Portable, start, end, &mut st);
                        assert!(terms.stage2_dispatch(start, end, &st, &mut portable));
                        for (j, i) in (start..end).enumerate() {
                            let checked = terms.row(i, i as u64).unwrap();
                            assert_eq!(
                                portable.get(j).map(f64::to_bits),
                                checked.map(f64::to_bits)
                            );
                        }
                        #[cfg(target_arch = "x86_64")]
                        if crate::simd::avx2() {
                            let mut st = Stage::new();
                            let mut simd = Buf::new();
                            // SAFETY: the CPU has AVX2 (checked just above).
                            unsafe {
                                terms.stage1_avx2(start, end, &mut st);
                                assert!(terms.stage2_avx2(start, end, &st, &mut simd));
                            }
                            for j in 0..end - start {
                                assert_eq!(
                                    simd.get(j).map(f64::to_bits),
                                    portable.get(j).map(f64::to_bits)
                                );
                            }
                        }
                    }
                }
                // Trusted rows that do not sum to one: the block path reads them as the
                // checked rows do (IPW only the logged entry; DR divides by the sum).
                let scaled: Vec<f64> = pi.iter().map(|x| 1.5 * x).collect();
                let bs = Batch {
                    action_dist: ActionDist::Full(Table::new(&scaled, n, k, 1, "a").unwrap()),
                    ..b
                };
                let mut terms = RowTerms::new(est, &bs).unwrap();
                assert!(!terms.block(0, 64, &mut Stage::new(), &mut Buf::new()));
                terms.trust_distributions();
                let mut st = Stage::new();
                for start in [0, 64, 128] {
                    let end = (start + BLOCK).min(n);
                    let mut out = Buf::new();
                    assert!(terms.block(start, end, &mut st, &mut out));
                    for (j, i) in (start..end).enumerate() {
                        let checked = terms.row(i, i as u64).unwrap();
                        assert_eq!(out.get(j).map(f64::to_bits), checked.map(f64::to_bits));
                    }
                }
                // One bad entry in the last block: the block fails in both paths.
                let mut bad = pi.clone();
                bad[140 * k] = -0.0 - 0.25;
                let b = Batch {
                    action_dist: ActionDist::Full(Table::new(&bad, n, k, 1, "a").unwrap()),
                    ..b
                };
                let terms = RowTerms::new(est, &b).unwrap();
                assert!(!terms.block(128, n, &mut Stage::new(), &mut Buf::new()));
                assert!(terms.block(64, 128, &mut Stage::new(), &mut Buf::new()));
                let err = terms.row(140, 140).unwrap_err().to_string();
                assert!(err.starts_with("action_dist[140]"), "{err}");
            }
        }
    }
}
