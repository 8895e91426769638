//! One pass, constant memory: running moments of `(u, v, w)` and Poisson-bootstrap
//! replicate sums, accumulated over fixed chunks of rows.
//!
//! * **Estimate and standard error.** Each estimator is `mean(u) + sum(v) / sum(w)` (the
//!   ratio only for the self-normalized ones), so the count, the means of `(u, v, w)` and
//!   their 3 x 3 co-moment matrix are sufficient. The standard error is the delta method:
//!   the sample standard deviation of the influence function
//!   `u_i + (v_i - theta w_i) / mean(w)` (with `theta = sum v / sum w`), over `sqrt(n)`;
//!   for the plain estimators that is the standard deviation of `u` over `sqrt(n)`.
//! * **Bootstrap.** A Poisson bootstrap (Hanley and MacGibbon 2006; Chamandy et al. 2012):
//!   replicate `b` gives row `i` the weight `m_ib ~ Poisson(1)` instead of resampling, so
//!   each replicate is four running sums `(sum m, sum m u, sum m v, sum m w)` and its
//!   estimate `sum m u / sum m + sum m v / sum m w` re-normalizes the self-normalized
//!   estimators inside every replicate. `m_ib` is drawn from a generator keyed by the seed
//!   and the row's index in the stream, so it does not depend on how rows are batched.
//! * **Determinism.** Rows are cut into chunks of [`CHUNK_ROWS`] at fixed positions of the
//!   stream (row `j` belongs to chunk `j / CHUNK_ROWS`, however the stream is batched);
//!   each chunk is summed sequentially, chunks run in parallel, and their partial results
//!   are folded in chunk order. So the result is bit-for-bit the same for any number of
//!   threads, and a stream gives exactly the in-memory result.
//! * **Numerics.** Within a chunk, deviations from the chunk's first row are summed (a
//!   shifted-data variance, stable when the mean is large against the spread); chunks are
//!   combined with Chan et al.'s pairwise update.

use super::interval::{normal_quantile, percentile_sorted};
use super::terms::{Buf, DistShape, RowTerms, Stage, BLOCK};
use super::{Batch, Estimator};
use crate::error::{Error, Result};
use crate::parallel::map_with_caller;
use crate::rng::splitmix64;
use crate::state::Persist;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Rows per chunk: the unit of parallel work and of the fixed summation order.
pub const CHUNK_ROWS: usize = 1 << 15;
/// Chunks evaluated in parallel before they are folded in (bounds the memory of a push).
const CHUNKS_PER_ROUND: usize = 64;
/// Upper bound on bootstrap replicates (each costs four numbers per chunk in flight).
const MAX_BOOTSTRAP: usize = 100_000;
/// Largest stream index a shard may start at: every shard keeps room for 2**63 rows, so
/// that no plausible stream runs the u64 row index past its end.
const MAX_FIRST_ROW: u64 = (1 << 63) - 1;
/// Entries of the symmetric 3 x 3 co-moment matrix: uu, vv, ww, uv, uw, vw.
const PAIRS: [(usize, usize); 6] = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)];

/// Count, means and co-moments (sums of products of deviations) of `(u, v, w)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Moments {
    n: u64,
    mean: [f64; 3],
    m2: [f64; 6],
}

impl Moments {
    fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let d = [
            o.mean[0] - self.mean[0],
            o.mean[1] - self.mean[1],
            o.mean[2] - self.mean[2],
        ];
        let f = na * nb / n;
        for (p, &(i, j)) in PAIRS.iter().enumerate() {
            self.m2[p] += o.m2[p] + d[i] * d[j] * f;
        }
        for (m, di) in self.mean.iter_mut().zip(d) {
            *m += di * nb / n;
        }
        self.n += o.n;
    }

    /// Sample covariance of variables `i` and `j` (divisor n - 1).
    fn cov(&self, p: usize) -> f64 {
        self.m2[p] / (self.n as f64 - 1.0)
    }
}

/// Inverse CDF of Poisson(1) on 32-bit uniforms: `thresholds[k] = P(K <= k) 2^32`.
pub(crate) struct PoissonTable([u64; 16]);

impl PoissonTable {
    pub(crate) fn new() -> Self {
        let mut t = [0u64; 16];
        let mut pk = (-1.0f64).exp();
        let mut cdf = 0.0;
        for (k, slot) in t.iter_mut().enumerate() {
            cdf += pk;
            pk /= (k + 1) as f64;
            *slot = (cdf * 4_294_967_296.0).min(4_294_967_296.0) as u64;
        }
        PoissonTable(t)
    }

    #[inline(always)]
    fn draw(&self, x: u32) -> f64 {
        let x = x as u64;
        let mut k = 0;
        while k < 15 && x >= self.0[k] {
            k += 1;
        }
        k as f64
    }
}

/// Sums of deviations from the first row and of their products.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Shifted {
    n: u64,
    shift: [f64; 3],
    d: [f64; 3],
    dd: [f64; 6],
}

/// Partial sums of one chunk: shifted moments and bootstrap replicate sums.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ChunkAcc {
    s: Shifted,
    /// Replicate b at `4 b ..`: (sum m, sum m u, sum m v, sum m w).
    boot: Vec<f64>,
}

impl ChunkAcc {
    fn new(n_bootstrap: usize) -> Self {
        ChunkAcc {
            s: Shifted::default(),
            boot: vec![0.0; 4 * n_bootstrap],
        }
    }

    fn moments(&self) -> Moments {
        self.s.moments()
    }
}

impl Shifted {
    /// Adds one row. Without `FULL` (the estimators that are a plain mean: `v` is always 0
    /// and the cross moments are never read) only the moments of `u` and `w` are kept.
    #[inline(always)]
    fn push<const FULL: bool>(&mut self, x: [f64; 3]) {
        if self.n == 0 {
            self.shift = x;
        }
        let d = [
            x[0] - self.shift[0],
            x[1] - self.shift[1],
            x[2] - self.shift[2],
        ];
        if FULL {
            for (s, di) in self.d.iter_mut().zip(d) {
                *s += di;
            }
            for (p, &(i, j)) in PAIRS.iter().enumerate() {
                self.dd[p] += d[i] * d[j];
            }
        } else {
            self.d[0] += d[0];
            self.d[2] += d[2];
            self.dd[0] += d[0] * d[0];
            self.dd[2] += d[2] * d[2];
        }
        self.n += 1;
    }

    /// Adds the first `m` rows of `buf`.
    #[inline(always)]
    fn push_block<const FULL: bool>(&mut self, buf: &Buf, m: usize) {
        for j in 0..m {
            self.push::<FULL>(buf.get(j));
        }
    }

    fn moments(&self) -> Moments {
        if self.n == 0 {
            return Moments::default();
        }
        let n = self.n as f64;
        let mut m = Moments {
            n: self.n,
            ..Moments::default()
        };
        for i in 0..3 {
            m.mean[i] = self.shift[i] + self.d[i] / n;
        }
        for (p, &(i, j)) in PAIRS.iter().enumerate() {
            m.m2[p] = self.dd[p] - self.d[i] * self.d[j] / n;
        }
        m
    }
}

/// Adds `x` to every replicate with its Poisson(1) weight for stream row `row`.
#[inline(always)]
fn bootstrap_row(reps: &mut [f64], x: [f64; 3], row: u64, seed: u64, table: &PoissonTable) {
    let mut key = seed ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut state = splitmix64(&mut key);
    for pair in reps.chunks_mut(8) {
        let z = splitmix64(&mut state);
        for (half, r) in pair.chunks_exact_mut(4).enumerate() {
            let m = table.draw((z >> (32 * half)) as u32);
            if m > 0.0 {
                r[0] += m;
                r[1] += m * x[0];
                r[2] += m * x[1];
                r[3] += m * x[2];
            }
        }
    }
}

/// Calls `f(b, m)` with replicate `b`'s Poisson(1) weight `m > 0` of stream row `row`:
/// the same draws as [`bootstrap_row`] (which stays a separate loop, being the hot one).
#[inline(always)]
pub(crate) fn poisson_weights(
    row: u64,
    seed: u64,
    table: &PoissonTable,
    n_bootstrap: usize,
    mut f: impl FnMut(usize, f64),
) {
    let mut key = seed ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut state = splitmix64(&mut key);
    let mut b = 0;
    while b < n_bootstrap {
        let z = splitmix64(&mut state);
        for half in 0..2 {
            if b + half < n_bootstrap {
                let m = table.draw((z >> (32 * half)) as u32);
                if m > 0.0 {
                    f(b + half, m);
                }
            }
        }
        b += 2;
    }
}

struct Pass<'k, 'a> {
    terms: &'k RowTerms<'a>,
    /// Stream index of the batch's first row.
    first_row: u64,
    seed: u64,
    table: PoissonTable,
    /// Keep every co-moment (self-normalized estimators) or only those of u and w.
    full: bool,
    /// Use the branch-free row evaluation (one slot per row).
    fast: bool,
    /// Use the monomorphized block loop (per-row tables, one slot, no positions).
    block: bool,
}

impl Pass<'_, '_> {
    fn run(&self, rows: Range<usize>, acc: &mut ChunkAcc) -> Result<()> {
        if self.full {
            self.run_with::<true>(rows, acc)
        } else {
            self.run_with::<false>(rows, acc)
        }
    }

    fn run_with<const FULL: bool>(&self, rows: Range<usize>, acc: &mut ChunkAcc) -> Result<()> {
        // Rows are evaluated (and validated) into a small buffer, which a tight loop then
        // folds into a local copy of the sums: both loops stay short and in registers.
        let mut s = acc.s;
        let mut buf = Buf::new();
        let mut stage = Stage::new();
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BLOCK).min(rows.end);
            let m = end - start;
            let mut ok = self.fast;
            if self.block {
                ok = self.terms.block(start, end, &mut stage, &mut buf);
            } else if self.fast {
                for (j, i) in (start..end).enumerate() {
                    let (x, good) = self.terms.row_fast(i);
                    buf.set(j, x);
                    ok &= good;
                }
            }
            if !ok {
                // The checked path: names the first invalid row (or recomputes the block
                // if there is none, e.g. when the fast path does not apply).
                for (j, i) in (start..end).enumerate() {
                    buf.set(j, self.terms.row(i, self.first_row + i as u64)?);
                }
            }
            s.push_block::<FULL>(&buf, m);
            if !acc.boot.is_empty() {
                for (j, i) in (start..end).enumerate() {
                    let g = self.first_row + i as u64;
                    bootstrap_row(&mut acc.boot, buf.get(j), g, self.seed, &self.table);
                }
            }
            start = end;
        }
        acc.s = s;
        Ok(())
    }
}

/// What an estimator reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub estimator: Estimator,
    pub n_rounds: u64,
    pub estimate: f64,
    /// Standard error (delta method for the self-normalized estimators); NaN for n < 2.
    pub std_err: f64,
    pub alpha: f64,
    /// Normal-approximation interval `estimate -/+ z_{1 - alpha/2} std_err`.
    pub ci: (f64, f64),
    /// Percentile interval of the Poisson-bootstrap replicates, if any were requested.
    pub bootstrap_ci: Option<(f64, f64)>,
    /// Mean of the bootstrap replicates (obp reports it as the interval's "mean").
    pub bootstrap_mean: Option<f64>,
    /// Replicates that could be evaluated (a replicate that drew no row is skipped).
    pub n_bootstrap: usize,
    /// Mean importance weight: about 1 when the behaviour policy covers the evaluation
    /// policy's support and the propensities are right (NaN for DM).
    pub mean_weight: f64,
    /// Kish's effective sample size of the importance weights, (sum w)^2 / sum w^2.
    pub ess: f64,
}

/// Streaming state of one estimator: push batches of rows, read a [`Summary`] at any time.
///
/// ```
/// use regretless_core::ope::{OffPolicyAccumulator, ActionDist, Batch, Estimator};
/// let mut acc = OffPolicyAccumulator::new(Estimator::Ipw { lambda: f64::INFINITY }, 0, 0).unwrap();
/// let pi = [0.9, 0.1, 0.9, 0.1];
/// for _ in 0..2 {
///     let batch = Batch {
///         reward: Some((&[1.0, 0.0][..]).into()),
///         action: Some((&[0, 0][..]).into()),
///         pscore: Some(&[0.5, 0.5]),
///         position: None,
///         action_dist: ActionDist::Full(regretless_core::ope::Table::new(&pi, 2, 2, 1, "action_dist").unwrap()),
///         estimated_rewards: None,
///     };
///     acc.push(&batch).unwrap();
/// }
/// let s = acc.summary(0.05).unwrap();
/// assert_eq!(s.n_rounds, 4);
/// assert!((s.estimate - 0.9).abs() < 1e-12);
/// ```
///
/// Shards of one data set can be accumulated apart (in other processes or machines, the
/// state shipped with [`crate::state::encode`]) and combined with [`OffPolicyAccumulator::merge`]:
/// the result is that of one pass over all the rows, up to the order of floating-point
/// sums. With a bootstrap, give each shard the stream index of its first row
/// ([`OffPolicyAccumulator::starting_at`]), so that every row keeps the Poisson weights it has in
/// one pass.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OffPolicyAccumulator {
    estimator: Estimator,
    n_bootstrap: usize,
    seed: u64,
    shape: Option<DistShape>,
    total: Moments,
    total_boot: Vec<f64>,
    pending: ChunkAcc,
    rows: u64,
    /// Stream index of the first row (the bootstrap key of the first row pushed).
    first_row: u64,
    /// Stream index of the next row pushed: `first_row + rows` until a merge.
    next_row: u64,
    /// Stream indices of the rows held, as sorted disjoint half-open ranges (one until
    /// shards are merged): two accumulators with a bootstrap merge only if theirs are
    /// disjoint.
    ranges: Vec<(u64, u64)>,
}

impl OffPolicyAccumulator {
    pub fn new(estimator: Estimator, n_bootstrap: usize, seed: u64) -> Result<Self> {
        if n_bootstrap > MAX_BOOTSTRAP {
            return Err(Error::param(
                "n_bootstrap",
                format!("must be at most {MAX_BOOTSTRAP}, got {n_bootstrap}"),
            ));
        }
        Ok(OffPolicyAccumulator {
            estimator,
            n_bootstrap,
            seed,
            shape: None,
            total: Moments::default(),
            total_boot: vec![0.0; 4 * n_bootstrap],
            pending: ChunkAcc::new(n_bootstrap),
            rows: 0,
            first_row: 0,
            next_row: 0,
            ranges: Vec::new(),
        })
    }

    /// An accumulator whose first row has index `first_row` in the whole stream (a shard
    /// that starts there): rows draw their bootstrap weights by that index.
    pub fn starting_at(
        estimator: Estimator,
        n_bootstrap: usize,
        seed: u64,
        first_row: u64,
    ) -> Result<Self> {
        if first_row > MAX_FIRST_ROW {
            return Err(Error::param(
                "first_row",
                format!("must be an integer in [0, 2**63), got {first_row} (room is left for 2**63 rows after it)"),
            ));
        }
        let mut acc = Self::new(estimator, n_bootstrap, seed)?;
        acc.first_row = first_row;
        acc.next_row = first_row;
        Ok(acc)
    }

    pub fn n_bootstrap(&self) -> usize {
        self.n_bootstrap
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Stream index of the first row.
    pub fn first_row(&self) -> u64 {
        self.first_row
    }

    /// Combines two accumulators of the same estimator, bootstrap and seed, over disjoint
    /// sets of rows: the result is that of one pass over both (to rounding: the sums are
    /// added in another order). With a bootstrap the two row ranges
    /// `first_row..first_row + rows` must not overlap, or rows would share weights.
    pub fn merge(&self, other: &OffPolicyAccumulator) -> Result<OffPolicyAccumulator> {
        if self.estimator != other.estimator {
            return Err(Error::param(
                "other",
                format!(
                    "cannot merge a {} accumulator into a {} one",
                    other.estimator.name(),
                    self.estimator.name()
                ),
            ));
        }
        if self.n_bootstrap != other.n_bootstrap || self.seed != other.seed {
            return Err(Error::param(
                "other",
                format!(
                    "accumulators must share n_bootstrap and seed to merge (got {} and {}, seeds {} and {})",
                    self.n_bootstrap, other.n_bootstrap, self.seed, other.seed
                ),
            ));
        }
        let shape = match (self.shape, other.shape) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::shape(
                    "other",
                    "the accumulators saw action_dist of different shapes",
                ))
            }
            (a, b) => a.or(b),
        };
        let overlap = self.ranges.iter().find_map(|&(a0, a1)| {
            other
                .ranges
                .iter()
                .find(|&&(b0, b1)| a0 < b1 && b0 < a1)
                .map(|&b| ((a0, a1), b))
        });
        if let (true, Some(((a0, a1), (b0, b1)))) = (self.n_bootstrap > 0, overlap) {
            return Err(Error::param(
                "other",
                format!(
                    "rows {a0}..{a1} and {b0}..{b1} overlap: with a bootstrap, give each shard the stream index of its first row (first_row)"
                ),
            ));
        }
        let mut all: Vec<(u64, u64)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match ranges.last_mut() {
                // Without a bootstrap, overlapping ranges are allowed: coalesce them.
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => ranges.push((a, b)),
            }
        }
        // Every moment count is at most its accumulator's rows: checking the sum of rows
        // covers them all.
        let rows = crate::error::checked_count(self.rows, other.rows, "row count")?;
        let mut total = self.total;
        total.merge(&self.pending.moments());
        total.merge(&other.total);
        total.merge(&other.pending.moments());
        let mut total_boot = self.total_boot.clone();
        for part in [&self.pending.boot, &other.total_boot, &other.pending.boot] {
            for (t, x) in total_boot.iter_mut().zip(part) {
                *t += x;
            }
        }
        let first_row = ranges
            .first()
            .map_or(self.first_row.min(other.first_row), |r| r.0);
        let next_row = self.next_row.max(other.next_row);
        Ok(OffPolicyAccumulator {
            estimator: self.estimator,
            n_bootstrap: self.n_bootstrap,
            seed: self.seed,
            shape,
            total,
            total_boot,
            pending: ChunkAcc::new(self.n_bootstrap),
            rows,
            first_row,
            next_row,
            ranges,
        })
    }

    pub fn estimator(&self) -> Estimator {
        self.estimator
    }

    /// Rows accumulated so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds a batch of rows. Every row is validated; on error nothing is added.
    pub fn push(&mut self, batch: &Batch<'_>) -> Result<()> {
        self.push_with(batch, true)
    }

    /// [`OffPolicyAccumulator::push`]; with `check_distributions = false` the caller vouches that
    /// every row of a per-row `action_dist` is a probability distribution, and its sum is
    /// not checked (every other check stays).
    pub fn push_with(&mut self, batch: &Batch<'_>, check_distributions: bool) -> Result<()> {
        let mut terms = RowTerms::new(self.estimator, batch)?;
        if !check_distributions {
            terms.trust_distributions();
        }
        if let Some(shape) = self.shape {
            if shape != terms.shape() {
                let show = |s: DistShape| match s {
                    Some((k, l)) => format!("{k} actions x {l} slots"),
                    None => "the logged-action probability only".to_string(),
                };
                return Err(Error::shape(
                    "action_dist",
                    format!(
                        "this batch has {} but earlier batches had {}",
                        show(terms.shape()),
                        show(shape)
                    ),
                ));
            }
        }
        let n = terms.n();
        // Stream indices are u64: refuse a batch that would run past the last one (the
        // state would wrap and no longer load), before anything changes.
        if self.next_row.checked_add(n as u64).is_none()
            || self.rows.checked_add(n as u64).is_none()
        {
            return Err(Error::param(
                "first_row",
                format!(
                    "the {n} rows of this batch would take the row index past 2**64 - 1 (the next row is {}, {} rows held); start the shard at a lower first_row",
                    self.next_row, self.rows
                ),
            ));
        }
        let pass = Pass {
            terms: &terms,
            first_row: self.next_row,
            seed: self.seed,
            table: PoissonTable::new(),
            full: self.estimator.self_normalized(),
            fast: terms.has_fast_path(),
            block: terms.has_block_path(),
        };
        let mut pending = self.pending.clone();
        let mut total = self.total;
        let mut total_boot = self.total_boot.clone();
        let fold = |total: &mut Moments, boot: &mut Vec<f64>, c: &ChunkAcc| {
            total.merge(&c.moments());
            for (t, x) in boot.iter_mut().zip(&c.boot) {
                *t += x;
            }
        };
        // Complete the chunk left open by the previous batch.
        let mut i = 0;
        if pending.s.n > 0 {
            i = (CHUNK_ROWS - pending.s.n as usize).min(n);
            pass.run(0..i, &mut pending)?;
            if pending.s.n as usize == CHUNK_ROWS {
                fold(&mut total, &mut total_boot, &pending);
                pending = ChunkAcc::new(self.n_bootstrap);
            }
        }
        // Whole chunks in parallel, folded in stream order.
        let n_full = (n - i) / CHUNK_ROWS;
        let mut c = 0;
        while c < n_full {
            let end = (c + CHUNKS_PER_ROUND).min(n_full);
            let parts = map_with_caller(end - c, |j| {
                let start = i + (c + j) * CHUNK_ROWS;
                let mut acc = ChunkAcc::new(self.n_bootstrap);
                pass.run(start..start + CHUNK_ROWS, &mut acc)?;
                Ok(acc)
            });
            for part in parts {
                fold(&mut total, &mut total_boot, &part?);
            }
            c = end;
        }
        // The rest opens the next chunk.
        pass.run(i + n_full * CHUNK_ROWS..n, &mut pending)?;

        self.shape = Some(terms.shape());
        self.total = total;
        self.total_boot = total_boot;
        self.pending = pending;
        if n > 0 {
            let (start, end) = (self.next_row, self.next_row + n as u64);
            match self.ranges.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => self.ranges.push((start, end)),
            }
        }
        self.rows += n as u64;
        self.next_row += n as u64;
        Ok(())
    }

    /// Estimate, standard error and intervals at level `1 - alpha` of the rows so far.
    pub fn summary(&self, alpha: f64) -> Result<Summary> {
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(Error::param(
                "alpha",
                format!("must be in (0, 1), got {alpha}"),
            ));
        }
        let mut m = self.total;
        m.merge(&self.pending.moments());
        let mut boot = self.total_boot.clone();
        for (t, x) in boot.iter_mut().zip(&self.pending.boot) {
            *t += x;
        }
        if m.n == 0 {
            return Err(Error::shape("reward", "no rows to evaluate"));
        }
        let n = m.n as f64;
        let sn = self.estimator.self_normalized();
        let (estimate, var) = if sn {
            let wbar = m.mean[2];
            if wbar <= 0.0 {
                return Err(Error::param(
                    "action_dist",
                    "the evaluation policy gives probability 0 to every logged action, so the self-normalized estimate is undefined",
                ));
            }
            let theta = m.mean[1] / wbar;
            let c = [1.0, 1.0 / wbar, -theta / wbar];
            let mut var = 0.0;
            for (p, &(i, j)) in PAIRS.iter().enumerate() {
                let k = if i == j { 1.0 } else { 2.0 };
                var += k * c[i] * c[j] * m.cov(p);
            }
            (m.mean[0] + theta, var)
        } else {
            (m.mean[0], m.cov(0))
        };
        let std_err = if m.n >= 2 {
            (var.max(0.0) / n).sqrt()
        } else {
            f64::NAN
        };
        let z = normal_quantile(1.0 - alpha / 2.0);
        let mut reps: Vec<f64> = boot
            .chunks_exact(4)
            .filter_map(|r| {
                if r[0] <= 0.0 {
                    return None;
                }
                let mut e = r[1] / r[0];
                if sn {
                    if r[3] <= 0.0 {
                        return None;
                    }
                    e += r[2] / r[3];
                }
                Some(e)
            })
            .collect();
        reps.sort_by(f64::total_cmp);
        let bootstrap_ci = if reps.is_empty() {
            None
        } else {
            Some((
                percentile_sorted(&reps, alpha / 2.0),
                percentile_sorted(&reps, 1.0 - alpha / 2.0),
            ))
        };
        let (mean_weight, ess) = if self.estimator.uses_logged_feedback() {
            let wbar = m.mean[2];
            let sum_w2 = m.m2[2] + n * wbar * wbar;
            (
                wbar,
                if sum_w2 > 0.0 {
                    n * n * wbar * wbar / sum_w2
                } else {
                    0.0
                },
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        Ok(Summary {
            estimator: self.estimator,
            n_rounds: m.n,
            estimate,
            std_err,
            alpha,
            ci: (estimate - z * std_err, estimate + z * std_err),
            bootstrap_ci,
            bootstrap_mean: if reps.is_empty() {
                None
            } else {
                Some(reps.iter().sum::<f64>() / reps.len() as f64)
            },
            n_bootstrap: reps.len(),
            mean_weight,
            ess,
        })
    }
}

impl Persist for OffPolicyAccumulator {
    const KIND: &'static str = "OffPolicyAccumulator";

    fn check_invariants(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::state(format!("OffPolicyAccumulator: {m}")));
        let lambda = match self.estimator {
            Estimator::Ipw { lambda }
            | Estimator::Dr { lambda }
            | Estimator::SwitchDr { lambda }
            | Estimator::DrOs { lambda } => lambda,
            _ => 0.0,
        };
        if lambda.is_nan() || lambda < 0.0 {
            return bad("lambda_ is not a number >= 0");
        }
        if self.n_bootstrap > MAX_BOOTSTRAP
            || self.total_boot.len() != 4 * self.n_bootstrap
            || self.pending.boot.len() != 4 * self.n_bootstrap
        {
            return bad("bootstrap sums do not match n_bootstrap");
        }
        if self.pending.s.n >= CHUNK_ROWS as u64
            || self.total.n.checked_add(self.pending.s.n) != Some(self.rows)
        {
            return bad("row counts are inconsistent");
        }
        let mut held = 0u64;
        let mut prev_end = None;
        for &(a, b) in &self.ranges {
            if a >= b || prev_end.is_some_and(|e| a <= e) || b > self.next_row {
                return bad("row ranges are not sorted, disjoint and before the next row");
            }
            held = held.saturating_add(b - a);
            prev_end = Some(b);
        }
        if self.n_bootstrap > 0 && held != self.rows {
            return bad("row ranges do not hold the row count");
        }
        if let Some(Some((k, l))) = self.shape {
            if k == 0 || l == 0 {
                return bad("action_dist shape has a zero dimension");
            }
        }
        Ok(())
    }
}

/// The whole computation on data in memory: one [`OffPolicyAccumulator`] fed one batch.
pub fn evaluate(
    estimator: Estimator,
    batch: &Batch<'_>,
    alpha: f64,
    n_bootstrap: usize,
    seed: u64,
) -> Result<Summary> {
    evaluate_with(estimator, batch, alpha, n_bootstrap, seed, true)
}

/// [`evaluate`], optionally trusting the distributions (see [`OffPolicyAccumulator::push_with`]).
pub fn evaluate_with(
    estimator: Estimator,
    batch: &Batch<'_>,
    alpha: f64,
    n_bootstrap: usize,
    seed: u64,
    check_distributions: bool,
) -> Result<Summary> {
    let mut acc = OffPolicyAccumulator::new(estimator, n_bootstrap, seed)?;
    acc.push_with(batch, check_distributions)?;
    acc.summary(alpha)
}

/// Per-row contributions whose mean is the estimate (obp's `_estimate_round_rewards`):
/// `u_i + v_i / mean(w)`, with `mean_weight = mean(w)` from the estimate's [`Summary`].
pub fn round_rewards(
    estimator: Estimator,
    batch: &Batch<'_>,
    mean_weight: f64,
) -> Result<Vec<f64>> {
    let terms = RowTerms::new(estimator, batch)?;
    let mut out = vec![0.0; terms.n()];
    let sn = estimator.self_normalized();
    let results: Vec<Result<()>> = crate::parallel::install(|| {
        out.par_chunks_mut(CHUNK_ROWS)
            .enumerate()
            .map(|(c, slice)| {
                for (j, o) in slice.iter_mut().enumerate() {
                    let i = c * CHUNK_ROWS + j;
                    let x = terms.row(i, i as u64)?;
                    *o = if sn { x[0] + x[1] / mean_weight } else { x[0] };
                }
                Ok(())
            })
            .collect()
    });
    for r in results {
        r?;
    }
    Ok(out)
}
