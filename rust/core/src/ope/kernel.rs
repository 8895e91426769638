//! The per-row term `(u_i, v_i, w_i)` of every estimator, with the validation of the row.
//! Errors name the argument and the row as `argument[row]`, the row counted from the
//! start of the whole stream.

// `(x >= 0.0) & (x <= 1.0)` on purpose: a non-short-circuit test the compiler can keep
// branch-free, where `contains` compiles to a branch.
#![allow(clippy::manual_range_contains)]

use super::{ActionDist, Batch, Estimator, Table, SUM_TOLERANCE};
use crate::error::{Error, Result};

/// A batch checked for shape and ready to be evaluated row by row.
pub(crate) struct Kernel<'a> {
    est: Estimator,
    n: usize,
    reward: &'a [f64],
    action: &'a [i64],
    pscore: &'a [f64],
    position: Option<&'a [i64]>,
    dist: ActionDist<'a>,
    q: Option<Table<'a>>,
    /// Whether each row's distribution must be checked (not when one table is shared: it
    /// is checked once, when the kernel is built).
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

impl<'a> Kernel<'a> {
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
        Ok(Kernel {
            est,
            n,
            reward: b.reward.unwrap_or(&[]),
            action: b.action.unwrap_or(&[]),
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

    pub(crate) fn shape(&self) -> DistShape {
        match self.dist {
            ActionDist::Full(t) => Some((t.n_actions, t.len_list)),
            ActionDist::Logged(_) => None,
        }
    }

    /// Whether [`Kernel::block`] applies: per-row tables with one slot, no positions, and
    /// an estimator that reads the logged feedback (the common case, W3's layout).
    pub(crate) fn has_block_path(&self) -> bool {
        let per_row = |t: &Table<'_>| t.rows != 1 && t.len_list == 1;
        match self.dist {
            ActionDist::Full(t) => {
                per_row(&t)
                    && self.check_rows
                    && self.position.is_none()
                    && self.est.uses_logged_feedback()
                    && self.q.as_ref().is_none_or(per_row)
            }
            ActionDist::Logged(_) => self.position.is_none(),
        }
    }

    /// Rows `start..end` into `out`, for [`Kernel::has_block_path`] layouts: the loop is
    /// monomorphized per estimator and walks the arrays with iterators (no per-row
    /// dispatch or bounds checks). Returns false if any row is invalid; the caller then
    /// re-runs the block through [`Kernel::row`] for the error.
    pub(crate) fn block(&self, start: usize, end: usize, out: &mut [[f64; 3]]) -> bool {
        match self.est {
            Estimator::Ipw { lambda } => {
                self.block_with(start, end, out, |r, w, _, _| [r * w.min(lambda), 0.0, w])
            }
            Estimator::SnIpw => self.block_with(start, end, out, |r, w, _, _| [0.0, r * w, w]),
            Estimator::Dr { lambda } => self.block_with(start, end, out, |r, w, dm, qf| {
                [dm + w.min(lambda) * (r - qf), 0.0, w]
            }),
            Estimator::SnDr => {
                self.block_with(start, end, out, |r, w, dm, qf| [dm, w * (r - qf), w])
            }
            Estimator::SwitchDr { lambda } => self.block_with(start, end, out, |r, w, dm, qf| {
                let term = if w <= lambda { w * (r - qf) } else { 0.0 };
                [dm + term, 0.0, w]
            }),
            Estimator::DrOs { lambda } => self.block_with(start, end, out, |r, w, dm, qf| {
                let shrunk = if lambda == f64::INFINITY {
                    w
                } else if lambda == 0.0 {
                    0.0
                } else {
                    lambda * w / (w * w + lambda)
                };
                [dm + shrunk * (r - qf), 0.0, w]
            }),
            Estimator::DirectMethod => false,
        }
    }

    #[inline(always)]
    fn block_with(
        &self,
        start: usize,
        end: usize,
        out: &mut [[f64; 3]],
        f: impl Fn(f64, f64, f64, f64) -> [f64; 3],
    ) -> bool {
        let logged = self.reward[start..end]
            .iter()
            .zip(&self.action[start..end])
            .zip(&self.pscore[start..end]);
        let t = match self.dist {
            ActionDist::Full(t) => t,
            ActionDist::Logged(pi) => {
                let mut ok = true;
                for ((o, ((&r, &a), &ps)), &pe) in out.iter_mut().zip(logged).zip(&pi[start..end]) {
                    let w = pe / ps;
                    let x = f(r, w, 0.0, 0.0);
                    ok &= (a >= 0)
                        & r.is_finite()
                        & (ps > 0.0)
                        & (ps <= 1.0)
                        & (pe >= 0.0)
                        & (pe <= 1.0)
                        & x[0].is_finite()
                        & x[1].is_finite()
                        & w.is_finite();
                    *o = x;
                }
                return ok;
            }
        };
        let k = t.n_actions;
        let pis = t.values[start * k..end * k].chunks_exact(k);
        let mut ok = true;
        // Validity of one row, as `row` checks it; `a` is clamped so reads stay in bounds.
        let logged_ok = |r: f64, a: i64, ps: f64| -> (bool, usize) {
            let valid = (a as u64) < k as u64;
            let good = valid & r.is_finite() & (ps > 0.0) & (ps <= 1.0);
            (good, if valid { a as usize } else { 0 })
        };
        match self.q {
            Some(q) => {
                let qs = q.values[start * k..end * k].chunks_exact(k);
                for (((o, ((&r, &a), &ps)), p), qrow) in out.iter_mut().zip(logged).zip(pis).zip(qs)
                {
                    let (sum, dot, nonneg) = dot_checked(p, qrow);
                    let (good, a) = logged_ok(r, a, ps);
                    let w = p[a] / ps;
                    let x = f(r, w, dot / sum, qrow[a]);
                    ok &= good
                        & nonneg
                        & ((sum - 1.0).abs() <= SUM_TOLERANCE)
                        & x[0].is_finite()
                        & x[1].is_finite()
                        & w.is_finite();
                    *o = x;
                }
            }
            None => {
                for ((o, ((&r, &a), &ps)), p) in out.iter_mut().zip(logged).zip(pis) {
                    let (sum, nonneg) = sum_checked(p);
                    let (good, a) = logged_ok(r, a, ps);
                    let w = p[a] / ps;
                    let x = f(r, w, 0.0, 0.0);
                    ok &= good
                        & nonneg
                        & ((sum - 1.0).abs() <= SUM_TOLERANCE)
                        & x[0].is_finite()
                        & x[1].is_finite()
                        & w.is_finite();
                    *o = x;
                }
            }
        }
        ok
    }

    /// Whether [`Kernel::row_fast`] applies (one slot per row).
    pub(crate) fn has_fast_path(&self) -> bool {
        match self.dist {
            ActionDist::Full(t) => t.len_list == 1,
            ActionDist::Logged(_) => true,
        }
    }

    /// [`Kernel::row`] for one slot per row, without early exits: invalid input only
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
                    return ([dm, 0.0, 0.0], ok & dm.is_finite());
                }
                let a = self.action[i];
                let valid = (a >= 0) & ((a as u64) < k as u64);
                ok &= valid;
                let a = if valid { a as usize } else { 0 };
                let qfact = if qrow.is_empty() { 0.0 } else { qrow[a] };
                (p[a], dm, qfact)
            }
        };
        let r = self.reward[i];
        ok &= r.is_finite();
        if matches!(self.dist, ActionDist::Logged(_)) {
            ok &= self.action[i] >= 0;
        }
        let ps = self.pscore[i];
        ok &= (ps > 0.0) & (ps <= 1.0);
        let w = pe / ps;
        let residual = r - qfact;
        let out = match self.est {
            Estimator::Ipw { lambda } => [r * w.min(lambda), 0.0, w],
            Estimator::SnIpw => [0.0, r * w, w],
            Estimator::Dr { lambda } => [dm + w.min(lambda) * residual, 0.0, w],
            Estimator::SnDr => [dm, w * residual, w],
            Estimator::SwitchDr { lambda } => {
                let term = if w <= lambda { w * residual } else { 0.0 };
                [dm + term, 0.0, w]
            }
            Estimator::DrOs { lambda } => {
                let shrunk = if lambda == f64::INFINITY {
                    w
                } else if lambda == 0.0 {
                    0.0
                } else {
                    lambda * w / (w * w + lambda)
                };
                [dm + shrunk * residual, 0.0, w]
            }
            Estimator::DirectMethod => [dm, 0.0, 0.0],
        };
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
            return Ok([dm, 0.0, 0.0]);
        }
        let r = self.reward[i];
        if !r.is_finite() {
            return Err(bad_reward(row, r));
        }
        let a = self.action[i];
        if a < 0 || a as u64 >= k as u64 {
            return Err(bad_action(row, a, k));
        }
        let a = a as usize;
        let ps = self.pscore[i];
        if !(ps > 0.0 && ps <= 1.0) {
            return Err(bad_pscore(row, ps));
        }
        let w = t.values[base + a * ll + slot] / ps;
        let residual = match self.q {
            Some(q) => r - q.values[qb + a * ll + slot],
            None => 0.0,
        };
        let out = match self.est {
            Estimator::Ipw { lambda } => [r * w.min(lambda), 0.0, w],
            Estimator::SnIpw => [0.0, r * w, w],
            Estimator::Dr { lambda } => [dm + w.min(lambda) * residual, 0.0, w],
            Estimator::SnDr => [dm, w * residual, w],
            Estimator::SwitchDr { lambda } => {
                let term = if w <= lambda { w * residual } else { 0.0 };
                [dm + term, 0.0, w]
            }
            Estimator::DrOs { lambda } => {
                let shrunk = if lambda == f64::INFINITY {
                    w
                } else if lambda == 0.0 {
                    0.0
                } else {
                    lambda * w / (w * w + lambda)
                };
                [dm + shrunk * residual, 0.0, w]
            }
            Estimator::DirectMethod => [dm, 0.0, 0.0],
        };
        if !(out[0].is_finite() && out[1].is_finite() && w.is_finite()) {
            return Err(non_finite(row, self.q.is_some(), w));
        }
        Ok(out)
    }

    #[inline(always)]
    fn row_logged(&self, i: usize, row: u64, pe: f64) -> Result<[f64; 3]> {
        let r = self.reward[i];
        if !r.is_finite() {
            return Err(bad_reward(row, r));
        }
        let a = self.action[i];
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
            Estimator::SnIpw => [0.0, r * w, w],
            Estimator::Ipw { lambda } => [r * w.min(lambda), 0.0, w],
            // Kernel::new admits only IPW and SNIPW with the logged-action form.
            _ => [f64::NAN, f64::NAN, w],
        };
        if !(out[0].is_finite() && out[1].is_finite() && w.is_finite()) {
            return Err(non_finite(row, false, w));
        }
        Ok(out)
    }
}
