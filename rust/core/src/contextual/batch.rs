//! The batch fit behind `ContextualPolicy::update_batch`: the ridge fit that reads each
//! value of a (possibly shared) input once and records a batch whole or not at all, and the
//! private copies for the fits that read a row more than once.

use super::{LinearBase, Link, RidgeSums};
use crate::error::{Error, Result};
use crate::linalg;
use rayon::prelude::*;

impl LinearBase {
    /// The ridge batch fit of validated sizes (see [`ContextualPolicy::update_batch`](super::ContextualPolicy::update_batch)):
    /// true when every row was recorded; false, with the state unchanged, when a value was
    /// out of range.
    ///
    /// Rows are taken in chunks of ~1 MB (in the shared cache; few enough that the threads
    /// rarely wait for each other, and ~64 rows per arm on average). In each, the arms are
    /// read once into a private buffer and checked, the row indices counting-sorted by arm
    /// (stable: every arm sees its rows in order), then each arm's rows gathered
    /// (prefetched, checked) into its sums, arms in parallel; an arm's sums are saved before
    /// its first row. Each arm's arithmetic is sequential and the chunks are fixed, so the
    /// result does not depend on the number of threads.
    pub(super) fn fit_ridge_rows(
        &mut self,
        x: &[f64],
        arms: &[i64],
        rewards: &[f64],
        weights: Option<&[f64]>,
    ) -> bool {
        let (d, k, n) = (self.dim, self.arms.len(), arms.len());
        // One hop into the pool for the whole fit: the sections below then split among
        // awake workers.
        crate::parallel::install(|| {
            let chunk = (131_072 / d.max(1)).max(64 * k).max(1);
            // Arm a's rows of a chunk at order[start[a]..start[a + 1]]; one more entry
            // counts refused arm indices.
            let mut start = vec![0usize; k + 2];
            let mut order = vec![0u32; chunk.min(n)];
            let mut chunk_arms = vec![0u32; chunk.min(n)];
            let mut saved: Vec<Option<RidgeSums>> = vec![None; k];
            let mut recorded = true;
            for c0 in (0..n).step_by(chunk) {
                let ca = &mut chunk_arms[..(c0 + chunk).min(n) - c0];
                start.fill(0);
                if !copy_and_count_arms(&arms[c0..c0 + ca.len()], ca, &mut start, k) {
                    recorded = false;
                    break;
                }
                for a in 0..k {
                    start[a + 1] += start[a];
                }
                let mut next = start.clone();
                for (i, &a) in ca.iter().enumerate() {
                    let s = &mut next[a as usize];
                    order[*s] = (c0 + i) as u32;
                    *s += 1;
                }
                let (start, order) = (&start, &order);
                recorded = self
                    .arms
                    .par_iter_mut()
                    .zip(saved.par_iter_mut())
                    .enumerate()
                    .filter(|(a, _)| start[a + 1] > start[*a])
                    .map_init(
                        || (Vec::new(), Vec::new()),
                        |(xs, wxs), (a, (model, saved))| {
                            saved.get_or_insert_with(|| model.sums());
                            let idx = &order[start[a]..start[a + 1]];
                            model.accumulate_rows(x, idx, rewards, weights, (xs, wxs))
                        },
                    )
                    .reduce(|| true, |p, q| p & q);
                if !recorded {
                    break;
                }
            }
            if !recorded {
                for (model, s) in self.arms.iter_mut().zip(saved) {
                    if let Some(s) = s {
                        model.restore_sums(s);
                    }
                }
                return false;
            }
            self.arms
                .par_iter_mut()
                .zip(saved.par_iter())
                .filter(|(_, s)| s.is_some())
                .for_each(|(model, _)| model.finish_rows());
            self.t += n as u64;
            true
        })
    }

    /// Fits validated rows of a private copy one arm at a time, each arm's rows in order
    /// (logistic models, whose online posterior is sequential, and batches beyond the ridge
    /// fit's u32 row indices).
    /// A refused row (see [`RidgeModel::update`]) refuses the batch, nothing changed.
    pub(super) fn fit_rows_in_order(&mut self, batch: &PrivateBatch) -> Result<()> {
        let (d, k, link) = (self.dim, self.arms.len(), self.link);
        let n = batch.arms.len();
        let mut rows: Vec<Vec<(&[f64], f64, f64)>> = vec![Vec::new(); k];
        for i in 0..n {
            rows[batch.arms[i] as usize].push((
                &batch.x[i * d..(i + 1) * d],
                batch.rewards[i],
                batch.weights().map_or(1.0, |w| w[i]),
            ));
        }
        let saved = (link == Link::Logistic).then(|| self.arms.clone());
        let models = &mut self.arms;
        let fitted = crate::parallel::install(|| {
            models
                .par_iter_mut()
                .zip(rows.par_iter())
                .filter(|(_, r)| !r.is_empty())
                .map(|(model, r)| model.update_many(r, link))
                .collect::<Result<Vec<()>>>()
        });
        if let Err(e) = fitted {
            if let Some(saved) = saved {
                self.arms = saved;
            }
            return Err(e);
        }
        self.t += n as u64;
        Ok(())
    }
}

/// Copies a chunk's arm indices into `dst`, each read once, counting them per arm in
/// `count[a + 1]` (`count` has k + 2 entries); false when one is outside [0, k) (those are
/// counted in `count[k + 1]` and stored as k).
#[inline]
fn copy_and_count_arms(src: &[i64], dst: &mut [u32], count: &mut [usize], k: usize) -> bool {
    for (i, o) in dst[..src.len()].iter_mut().enumerate() {
        let a = linalg::read_once(src, i);
        let a = if (a as u64) < k as u64 {
            a as u32
        } else {
            k as u32
        };
        *o = a;
        count[a as usize + 1] += 1;
    }
    count[k + 1] == 0
}

/// A private copy of a batch's inputs, each value read once: for the fits that read a row
/// more than once (see [`ContextualPolicy::update_batch`](super::ContextualPolicy::update_batch)).
pub(crate) struct PrivateBatch {
    pub x: Vec<f64>,
    pub arms: Vec<i64>,
    pub rewards: Vec<f64>,
    weights: Option<Vec<f64>>,
}

impl PrivateBatch {
    pub fn copy(x: &[f64], arms: &[i64], rewards: &[f64], weights: Option<&[f64]>) -> Result<Self> {
        Ok(PrivateBatch {
            x: private_copy("X", x)?,
            arms: private_copy("arms", arms)?,
            rewards: private_copy("rewards", rewards)?,
            weights: weights.map(|w| private_copy("weights", w)).transpose()?,
        })
    }

    pub fn weights(&self) -> Option<&[f64]> {
        self.weights.as_deref()
    }
}

fn private_copy<T: Copy>(name: &str, src: &[T]) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(src.len()).map_err(|_| {
        Error::memory(
            name,
            format!("{} values for a private copy of the batch", src.len()),
        )
    })?;
    v.extend_from_slice(src);
    Ok(v)
}
