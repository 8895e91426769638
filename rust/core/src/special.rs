//! Divergences, the KL-UCB index solver and the Beta quantile used by Bayes-UCB.

/// Bernoulli KL divergence kl(p, q), with the conventions 0 ln 0 = 0 and q clipped away
/// from {0, 1} so that the result stays finite. Evaluated as the sum of two non-negative
/// terms p phi(q / p - 1) + (1 - p) phi((1 - q) / (1 - p) - 1) (their linear parts cancel
/// exactly), which keeps its relative precision near q = p, where the textbook form
/// cancels.
pub fn kl_bernoulli(p: f64, q: f64) -> f64 {
    const EPS: f64 = 1e-15;
    let p = p.clamp(0.0, 1.0);
    let q = q.clamp(EPS, 1.0 - EPS);
    let a = if p > 0.0 { scaled_phi(p, q) } else { q };
    let b = if p < 1.0 {
        scaled_phi(1.0 - p, 1.0 - q)
    } else {
        1.0 - q
    };
    a + b
}

/// Gaussian KL divergence with known variance.
pub fn kl_gaussian(p: f64, q: f64, variance: f64) -> f64 {
    (p - q) * (p - q) / (2.0 * variance)
}

/// Poisson KL divergence kl(p, q) = q - p + p ln(p / q), evaluated as p phi(q / p - 1)
/// with phi(u) = u - ln(1 + u), so that it keeps its relative precision when q is close to
/// a large p (the direct form loses everything to cancellation there: at p = 1e33 its
/// rounding error is about 1e17, far above the levels the index compares it with).
pub fn kl_poisson(p: f64, q: f64) -> f64 {
    let q = q.max(1e-300);
    if p <= 0.0 {
        return q;
    }
    scaled_phi(p, q)
}

/// p phi(q / p - 1) = q - p + p ln(p / q) for p, q > 0: through phi near q = p (where the
/// direct form cancels), directly elsewhere (where q / p - 1 would lose q's digits when
/// q << p, and q / p may overflow).
fn scaled_phi(p: f64, q: f64) -> f64 {
    let u = q / p - 1.0;
    if u.abs() < 0.5 {
        p * u_minus_ln_1p(u)
    } else {
        q - p + p * (p.ln() - q.ln())
    }
}

/// u - ln(1 + u) for u > -1, accurate near 0 (where it is u^2 / 2 - u^3 / 3 + ...).
fn u_minus_ln_1p(u: f64) -> f64 {
    if u.abs() < 1e-3 {
        // Alternating series; the terms shrink by |u| < 1e-3 each, so ten of them reach
        // far below double precision.
        let mut sum = 0.0;
        let mut power = u * u;
        for k in 2..12 {
            let term = power / k as f64;
            sum += if k % 2 == 0 { term } else { -term };
            power *= u;
        }
        sum
    } else {
        u - u.ln_1p()
    }
}

/// A point strictly inside (lo, hi) for a bisection step: the geometric mean when the
/// bracket spans more than a factor 4 (so that a bracket from 1e-300 to 1e308 closes in
/// a few dozen steps, not thousands), mirrored near 1 for probabilities, the square of hi
/// when lo = 0 (a doubly exponential approach to 0, then steps of 1e-16 below the normal
/// range), the midpoint otherwise.
fn bracket_mid(lo: f64, hi: f64) -> f64 {
    if lo > 0.0 && hi > 4.0 * lo {
        return lo.sqrt() * hi.sqrt();
    }
    if lo <= 0.0 && hi > 0.0 && hi < 0.25 {
        let square = hi * hi;
        return if square >= f64::MIN_POSITIVE {
            square
        } else if hi * 1e-16 > 0.0 {
            hi * 1e-16
        } else {
            hi * 0.5
        };
    }
    if hi < 1.0 && hi > 0.75 && 1.0 - lo > 4.0 * (1.0 - hi) {
        return 1.0 - (1.0 - lo).sqrt() * (1.0 - hi).sqrt();
    }
    lo + 0.5 * (hi - lo)
}

/// Root of a convex increasing f on (lo, top), with f(lo) < 0, by Newton's method. From
/// any start right of lo the first tangent step lands right of the root (convexity), after
/// which the iterates decrease monotonically to it; so a warm start from the previous
/// step's index (usually a hair left of the new root) converges in two or three
/// iterations. Rounding can break the convexity argument far from the root, so the
/// iterates are kept inside a bracket and a step that leaves it bisects instead; at most
/// 200 evaluations whatever the inputs.
fn newton_convex_increasing(
    f_df: impl Fn(f64) -> (f64, f64),
    start: f64,
    lo: f64,
    top: f64,
) -> f64 {
    let (mut left, mut right) = (lo, top);
    let mut q = start.clamp(lo, top);
    for _ in 0..200 {
        let (f, df) = f_df(q);
        if f.is_nan() {
            return q;
        }
        if f == 0.0 {
            return q;
        }
        if f > 0.0 {
            right = q;
        } else {
            left = q;
        }
        let newton = q - f / df;
        if df > 0.0 && newton.is_finite() {
            let step = (q - newton).abs();
            // Quadratic convergence: once a step is below 1e-8 of the distance to either
            // end of the interval, the next one would be below 1e-16 of it; stop a step
            // early (and at once when the step is below float resolution).
            let near = (newton - lo).min(top - newton);
            if step <= 1e-15 * q.abs().max(1e-300) || step <= 1e-8 * near {
                return newton.clamp(left, right);
            }
        }
        let next = if df > 0.0 && newton > left && newton < right {
            newton
        } else {
            bracket_mid(left, right)
        };
        if !(next > left && next < right) || next == q {
            // The bracket is down to adjacent floats.
            return next;
        }
        q = next;
    }
    q
}

/// Largest q >= mean with n * kl(mean, q) <= level, for the Bernoulli divergence.
/// f(q) = n kl(mean, q) - level is convex and increasing on [mean, 1); Newton starts from
/// `warm` if it is a usable point, else right of the root at Pinsker's bound.
pub fn klucb_bernoulli_from(mean: f64, n: f64, level: f64, warm: Option<f64>) -> f64 {
    let mean = mean.clamp(0.0, 1.0);
    if level <= 0.0 {
        return mean;
    }
    if mean >= 1.0 {
        return 1.0;
    }
    if mean <= 0.0 {
        return 1.0 - (-level / n).exp();
    }
    const TOP: f64 = 1.0 - 1e-12;
    if n * kl_bernoulli(mean, TOP) <= level {
        return 1.0;
    }
    let start = match warm {
        Some(w) if w > mean && w < TOP => w,
        _ => (mean + (level / (2.0 * n)).sqrt()).min(TOP),
    };
    let f_df = |q: f64| {
        (
            n * kl_bernoulli(mean, q) - level,
            n * (q - mean) / (q * (1.0 - q)),
        )
    };
    newton_convex_increasing(f_df, start, mean, TOP)
}

pub fn klucb_bernoulli(mean: f64, n: f64, level: f64) -> f64 {
    klucb_bernoulli_from(mean, n, level, None)
}

/// Closed form for the Gaussian divergence: mean + sqrt(2 variance level / n).
pub fn klucb_gaussian(mean: f64, n: f64, level: f64, variance: f64) -> f64 {
    mean + (2.0 * variance * level.max(0.0) / n).sqrt()
}

/// Largest q >= mean with n * kl_poisson(mean, q) <= level.
pub fn klucb_poisson_from(mean: f64, n: f64, level: f64, warm: Option<f64>) -> f64 {
    let mean = mean.max(0.0);
    if level <= 0.0 {
        return mean;
    }
    if mean == 0.0 {
        return level / n;
    }
    let target = level / n;
    let start = match warm {
        Some(w) if w > mean && w.is_finite() => w,
        _ => match poisson_bracket(mean, target) {
            Some(q) => q,
            // kl stays below the target up to the largest float: the index is unbounded.
            None => return f64::MAX,
        },
    };
    let f_df = |q: f64| (kl_poisson(mean, q) - target, 1.0 - mean / q);
    newton_convex_increasing(f_df, start, mean, f64::MAX)
}

/// A point q > mean right of the root of kl(mean, q) = target, found by doubling the
/// distance from the mean; None when even f64::MAX lies left of it. The distance starts at
/// least one unit in the last place of the mean, so every doubling moves q (the bracket
/// cannot stall below float resolution), and at most ~2100 doublings span every float.
fn poisson_bracket(mean: f64, target: f64) -> Option<f64> {
    let mut step = ((2.0 * mean * target).sqrt() + target).max(mean * f64::EPSILON);
    for _ in 0..2200 {
        let q = mean + step;
        if !q.is_finite() {
            break;
        }
        if kl_poisson(mean, q) >= target {
            return Some(q);
        }
        step *= 2.0;
    }
    (kl_poisson(mean, f64::MAX) >= target).then_some(f64::MAX)
}

pub fn klucb_poisson(mean: f64, n: f64, level: f64) -> f64 {
    klucb_poisson_from(mean, n, level, None)
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; relative error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Continued fraction of the incomplete beta function (Numerical Recipes' `betacf` form,
/// 1 / (1 + d1 / (1 + d2 / (1 + ...)))), evaluated by the forward recurrence of its
/// convergents A_n / B_n with periodic rescaling. Unlike modified Lentz, whose two
/// divisions per term form a serial dependency chain, the recurrence is a chain of
/// multiply-adds; the one division per term (the convergence check) is off the chain.
/// This makes Bayes-UCB's quantile solves several times faster.
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    // Convergents of G = 1 + d1 / (1 + d2 / (1 + ...)); the fraction is B_n / A_n.
    let d1 = -qab * x / qap;
    let (mut a_prev, mut a_cur) = (1.0f64, 1.0 + d1);
    let (mut b_prev, mut b_cur) = (1.0f64, 1.0f64);
    let mut value = b_cur / a_cur;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        for d in [even, odd] {
            let a_next = a_cur + d * a_prev;
            let b_next = b_cur + d * b_prev;
            a_prev = a_cur;
            a_cur = a_next;
            b_prev = b_cur;
            b_cur = b_next;
        }
        let big = a_cur.abs().max(b_cur.abs());
        if !(1e-150..=1e150).contains(&big) {
            let s = 1.0 / big;
            a_prev *= s;
            a_cur *= s;
            b_prev *= s;
            b_cur *= s;
        }
        let next = b_cur / a_cur;
        if (next - value).abs() <= 1e-16 * next.abs() {
            return next;
        }
        value = next;
    }
    value
}

/// Regularized incomplete beta I_x(a, b) and its complement 1 - I_x(a, b), each computed
/// directly so that tail probabilities near 0 keep their relative precision.
pub fn inc_beta_pair(a: f64, b: f64, x: f64) -> (f64, f64) {
    inc_beta_pair_given(a, b, ln_beta(a, b), x)
}

/// [`inc_beta_pair`] with ln B(a, b) given: a quantile solve evaluates it at several x for
/// the same (a, b), and ln B costs three log-gammas.
fn inc_beta_pair_given(a: f64, b: f64, lnb: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    if x >= 1.0 {
        return (1.0, 0.0);
    }
    let ln_front = a * x.ln() + b * (1.0 - x).ln() - lnb;
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        let lower = front * beta_cf(a, b, x) / a;
        (lower, 1.0 - lower)
    } else {
        let upper = front * beta_cf(b, a, 1.0 - x) / b;
        (1.0 - upper, upper)
    }
}

/// The x with upper tail 1 - I_x(a, b) = tail, for 0 < tail < 1: the (1 - tail)-quantile of
/// Beta(a, b), as Bayes-UCB needs with tail = 1/t. Safeguarded Newton on the log of the
/// tail, bracketed so that it always converges.
pub fn beta_upper_quantile(a: f64, b: f64, tail: f64) -> f64 {
    beta_upper_quantile_from(a, b, tail, None)
}

/// [`beta_upper_quantile`] with Newton started from `warm` (e.g. the previous step's
/// index), which cuts the iterations to two or three when it is close.
pub fn beta_upper_quantile_from(a: f64, b: f64, tail: f64, warm: Option<f64>) -> f64 {
    if tail >= 1.0 {
        return 0.0;
    }
    if tail <= 0.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mean = a / (a + b);
    let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    let z = (-2.0 * tail.ln()).sqrt();
    let mut x = match warm {
        Some(w) if w > 0.0 && w < 1.0 => w,
        _ => (mean + z * sd).clamp(1e-12, 1.0 - 1e-12),
    };
    let ln_target = tail.ln();
    let lnb = ln_beta(a, b);
    for _ in 0..200 {
        let (_, upper) = inc_beta_pair_given(a, b, lnb, x);
        if upper > tail {
            lo = x;
        } else {
            hi = x;
        }
        // Newton on g(x) = ln U(x) - ln tail, with U'(x) = -density(x).
        let ln_density = (a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - lnb;
        let next = if upper > 0.0 {
            let g = upper.ln() - ln_target;
            let dg = -(ln_density - upper.ln()).exp();
            x - g / dg
        } else {
            f64::NAN
        };
        let newton = next.is_finite() && next > lo && next < hi;
        let next = if newton { next } else { bracket_mid(lo, hi) };
        let step = (next - x).abs();
        let scale = x.min(1.0 - x).max(1e-300);
        // A Newton step below 1e-8 of the scale leaves an error below 1e-16 of it
        // (quadratic convergence): with a warm start this is usually the first step, so a
        // decision costs one incomplete-beta evaluation per arm.
        if step <= 1e-14 * scale || (newton && step <= 1e-8 * scale) || hi <= lo {
            return next;
        }
        x = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30 {
            assert!((ln_gamma(n as f64) - f.ln()).abs() < 1e-12 * f.ln().abs().max(1.0));
            f *= n as f64;
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    }

    #[test]
    fn klucb_solves_the_equation() {
        for &(m, n, l) in &[
            (0.3, 10.0, 2.0),
            (0.9, 1000.0, 9.2),
            (0.01, 3.0, 1.0),
            (0.5, 1.0, 0.1),
        ] {
            let q = klucb_bernoulli(m, n, l);
            assert!(q >= m && q <= 1.0);
            if q < 1.0 {
                assert!((n * kl_bernoulli(m, q) - l).abs() < 1e-9, "{m} {n} {l} {q}");
            }
            let q = klucb_poisson(m * 3.0, n, l);
            assert!((n * kl_poisson(m * 3.0, q) - l).abs() < 1e-9);
        }
        assert_eq!(klucb_bernoulli(1.0, 5.0, 1.0), 1.0);
        assert!((klucb_bernoulli(0.0, 5.0, 1.0) - (1.0 - (-0.2f64).exp())).abs() < 1e-15);
        assert!((klucb_poisson(0.0, 4.0, 2.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn incomplete_beta_known_values() {
        // I_x(1, 1) = x; I_x(2, 3) = 1 - (1-x)^3 (1 + 3x) ... use the closed form for a=1.
        for &x in &[0.1, 0.5, 0.9] {
            assert!((inc_beta_pair(1.0, 1.0, x).0 - x).abs() < 1e-14);
            let expected = 1.0 - (1.0f64 - x).powi(4);
            assert!((inc_beta_pair(1.0, 4.0, x).0 - expected).abs() < 1e-13);
        }
        // Symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
        let (l, _) = inc_beta_pair(30.5, 7.25, 0.8);
        let (_, u) = inc_beta_pair(7.25, 30.5, 0.2);
        assert!((l - u).abs() < 1e-13);
    }

    #[test]
    fn beta_quantile_inverts_the_tail() {
        for &(a, b, t) in &[
            (1.0, 1.0, 0.1),
            (3.0, 9.0, 1e-3),
            (900.0, 100.0, 1e-5),
            (1.0, 50.0, 0.5),
            (2.0, 1.0, 1e-8),
        ] {
            let x = beta_upper_quantile(a, b, t);
            let (_, upper) = inc_beta_pair(a, b, x);
            assert!((upper / t - 1.0).abs() < 1e-8, "{a} {b} {t}: {x} {upper}");
        }
        assert!((beta_upper_quantile(1.0, 1.0, 0.25) - 0.75).abs() < 1e-12);
    }

    /// One unit in the last place of x (x > 0, finite).
    fn ulp(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1) - x
    }

    /// `q` is the root of g(q) = n kl(mean, q) - level to within float resolution (or to
    /// 1e-9 of the distance from the mean), checked on both sides: g(q - delta) <= 0 and
    /// g(q + delta) >= 0. The divergence itself is only known to the relative precision
    /// with which q / mean - 1 is represented (about eps q / (q - mean)), so the sign of g
    /// is judged to that precision.
    fn assert_root(kl: impl Fn(f64) -> f64, mean: f64, n: f64, level: f64, q: f64, top: f64) {
        assert!(
            q >= mean && q <= top,
            "mean {mean:e} n {n:e} level {level:e}: q {q:e}"
        );
        let delta = (8.0 * ulp(q)).max(1e-9 * (q - mean));
        let below = (q - delta).max(mean);
        let rel = 1e-12 + 8.0 * f64::EPSILON * q.max(1.0) / (q - mean).max(f64::MIN_POSITIVE);
        assert!(
            n * kl(below) <= level * (1.0 + rel),
            "mean {mean:e} n {n:e} level {level:e}: q {q:e} is right of the root"
        );
        if q + delta < top {
            assert!(
                n * kl(q + delta) >= level * (1.0 - rel.min(1.0)),
                "mean {mean:e} n {n:e} level {level:e}: q {q:e} is left of the root"
            );
        }
    }

    #[test]
    fn poisson_index_terminates_and_solves_at_the_extremes() {
        // The reported hang: mean 1e33 after one pull, level ln 2.
        let q = klucb_poisson(1e33, 1.0, 2f64.ln());
        assert_root(|q| kl_poisson(1e33, q), 1e33, 1.0, 2f64.ln(), q, f64::MAX);
        for &mean in &[1e-300, 1e-12, 0.5, 3.0, 1e10, 1e33, 1e200, 1e300, 1.7e308] {
            for &n in &[1.0, 1e6, 1e15, 1.8e19] {
                for &level in &[1e-12, 2f64.ln(), 50.0, 700.0] {
                    let q = klucb_poisson(mean, n, level);
                    if q == f64::MAX {
                        assert!(n * kl_poisson(mean, f64::MAX) < level * (1.0 + 1e-12));
                        continue;
                    }
                    assert_root(|q| kl_poisson(mean, q), mean, n, level, q, f64::MAX);
                    // A warm start anywhere right of the mean finds the same root.
                    let warm = klucb_poisson_from(mean, n, level, Some(q * 3.0 + 1.0));
                    assert_root(|q| kl_poisson(mean, q), mean, n, level, warm, f64::MAX);
                }
            }
        }
    }

    #[test]
    fn divergences_match_the_direct_forms_where_those_are_exact() {
        // Reference: q - p + p ln(p / q) where no cancellation occurs (q far from p).
        for &(p, q) in &[(1.0f64, 3.0f64), (2.0, 0.5), (1e-3, 10.0), (50.0, 200.0)] {
            let direct: f64 = q - p + p * (p / q).ln();
            assert!(
                (kl_poisson(p, q) - direct).abs() <= 1e-14 * direct,
                "{p} {q}"
            );
        }
        // Bernoulli: the textbook form where it does not cancel, the quadratic term near p.
        for &(p, q) in &[(0.3f64, 0.9f64), (0.9, 0.1), (1e-3, 0.5), (0.5, 1e-6)] {
            let direct = p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
            assert!(
                (kl_bernoulli(p, q) - direct).abs() <= 1e-14 * direct,
                "{p} {q}"
            );
        }
        let (p, d) = (0.3, 1e-7);
        let quadratic = d * d / (2.0 * p * (1.0 - p));
        assert!((kl_bernoulli(p, p + d) / quadratic - 1.0).abs() < 1e-6);
        assert_eq!(kl_bernoulli(0.0, 0.5), 2f64.ln());
        assert!((kl_bernoulli(1.0, 0.5) - 2f64.ln()).abs() < 1e-15);
        // Near q = p: kl = p u^2 / 2 (1 - 2u/3 + ...) with u = q / p - 1.
        let (p, u) = (1e33, 1e-10);
        let expected = p * u * u / 2.0 * (1.0 - 2.0 * u / 3.0);
        assert!((kl_poisson(p, p * (1.0 + u)) / expected - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bernoulli_index_solves_at_the_extremes() {
        const TOP: f64 = 1.0 - 1e-12;
        for &mean in &[1e-12, 1e-6, 0.3, 0.5, 0.999, 1.0 - 1e-9] {
            for &n in &[1.0, 1e3, 1e9, 1e13, 1.8e19] {
                for &level in &[1e-6, 2f64.ln(), 50.0] {
                    let q = klucb_bernoulli(mean, n, level);
                    if q == 1.0 {
                        assert!(n * kl_bernoulli(mean, TOP) <= level);
                        continue;
                    }
                    assert_root(|q| kl_bernoulli(mean, q), mean, n, level, q, TOP);
                }
            }
        }
    }

    #[test]
    fn beta_quantile_at_the_extremes() {
        for &(a, b) in &[
            (1e-3, 1e-3),
            (1e-3, 1.0),
            (1e6, 1.0),
            (1.0, 1e6),
            (1e9, 1e9),
            (1e12, 3.0),
        ] {
            for &t in &[1e-300, 1e-20, 1e-3, 0.5, 0.999] {
                let x = beta_upper_quantile(a, b, t);
                assert!((0.0..=1.0).contains(&x), "{a} {b} {t}: {x}");
                // Two-sided: the upper tail crosses t within a few ulps or 1e-9 of x.
                let delta = (8.0 * ulp(x.max(1e-300))).max(1e-9 * x.min(1.0 - x));
                let (_, left) = inc_beta_pair(a, b, (x - delta).max(0.0));
                let (_, right) = inc_beta_pair(a, b, (x + delta).min(1.0));
                assert!(
                    left >= t * (1.0 - 1e-6),
                    "{a:e} {b:e} {t:e}: x {x:e} right of it"
                );
                assert!(
                    right <= t * (1.0 + 1e-6),
                    "{a:e} {b:e} {t:e}: x {x:e} left of it"
                );
            }
        }
    }
}
