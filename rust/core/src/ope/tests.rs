//! Estimators against a direct two-pass transcription of their definitions, streaming
//! against in-memory, thread-count independence, and validation.

use super::*;
use crate::rng::Rng;

struct Data {
    n: usize,
    k: usize,
    l: usize,
    reward: Vec<f64>,
    action: Vec<i64>,
    pscore: Vec<f64>,
    position: Vec<i64>,
    pi: Vec<f64>,
    q: Vec<f64>,
}

fn data(n: usize, k: usize, l: usize, seed: u64) -> Data {
    let mut rng = Rng::seed_from_u64(seed);
    let mut pi = vec![0.0; n * k * l];
    let mut q = vec![0.0; n * k * l];
    let (mut reward, mut action, mut pscore, mut position) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        for s in 0..l {
            let raw: Vec<f64> = (0..k).map(|_| rng.uniform() + 0.05).collect();
            let total: f64 = raw.iter().sum();
            for a in 0..k {
                pi[i * k * l + a * l + s] = raw[a] / total;
                q[i * k * l + a * l + s] = rng.uniform();
            }
        }
        let a = rng.below(k as u64) as i64;
        action.push(a);
        pscore.push(1.0 / k as f64);
        position.push(rng.below(l as u64) as i64);
        reward.push(if rng.uniform() < 0.3 + 0.1 * a as f64 {
            1.0
        } else {
            0.0
        });
    }
    Data {
        n,
        k,
        l,
        reward,
        action,
        pscore,
        position,
        pi,
        q,
    }
}

impl Data {
    fn batch(&self, range: std::ops::Range<usize>) -> Batch<'_> {
        let kl = self.k * self.l;
        let rows = range.len();
        Batch {
            reward: Some((&self.reward[range.clone()]).into()),
            action: Some((&self.action[range.clone()]).into()),
            pscore: Some(&self.pscore[range.clone()]),
            position: Some(&self.position[range.clone()]),
            action_dist: ActionDist::Full(
                Table::new(
                    &self.pi[range.start * kl..range.end * kl],
                    rows,
                    self.k,
                    self.l,
                    "action_dist",
                )
                .unwrap(),
            ),
            estimated_rewards: Some(
                Table::new(
                    &self.q[range.start * kl..range.end * kl],
                    rows,
                    self.k,
                    self.l,
                    "q",
                )
                .unwrap(),
            ),
        }
    }

    fn all(&self) -> Batch<'_> {
        self.batch(0..self.n)
    }

    /// Round rewards exactly as the estimator definitions (obp) write them.
    fn reference(&self, est: Estimator) -> Vec<f64> {
        let (k, l) = (self.k, self.l);
        let at = |v: &Vec<f64>, i: usize, a: usize, s: usize| v[i * k * l + a * l + s];
        let w: Vec<f64> = (0..self.n)
            .map(|i| {
                at(
                    &self.pi,
                    i,
                    self.action[i] as usize,
                    self.position[i] as usize,
                ) / self.pscore[i]
            })
            .collect();
        let wbar = w.iter().sum::<f64>() / self.n as f64;
        (0..self.n)
            .map(|i| {
                let (a, s, r) = (
                    self.action[i] as usize,
                    self.position[i] as usize,
                    self.reward[i],
                );
                let dm: f64 = (0..k)
                    .map(|b| at(&self.pi, i, b, s) * at(&self.q, i, b, s))
                    .sum::<f64>()
                    / (0..k).map(|b| at(&self.pi, i, b, s)).sum::<f64>();
                let res = r - at(&self.q, i, a, s);
                match est {
                    Estimator::DirectMethod => dm,
                    Estimator::Ipw { lambda } => r * w[i].min(lambda),
                    Estimator::SnIpw => r * w[i] / wbar,
                    Estimator::Dr { lambda } => dm + w[i].min(lambda) * res,
                    Estimator::SnDr => dm + w[i] * res / wbar,
                    Estimator::SwitchDr { lambda } => {
                        dm + if w[i] <= lambda { w[i] * res } else { 0.0 }
                    }
                    Estimator::DrOs { lambda } => dm + lambda * w[i] / (w[i] * w[i] + lambda) * res,
                }
            })
            .collect()
    }
}

fn all_estimators() -> Vec<Estimator> {
    vec![
        Estimator::DirectMethod,
        Estimator::Ipw {
            lambda: f64::INFINITY,
        },
        Estimator::Ipw { lambda: 2.0 },
        Estimator::SnIpw,
        Estimator::Dr {
            lambda: f64::INFINITY,
        },
        Estimator::Dr { lambda: 1.5 },
        Estimator::SnDr,
        Estimator::SwitchDr { lambda: 2.0 },
        Estimator::DrOs { lambda: 3.0 },
    ]
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

#[test]
fn estimates_and_round_rewards_match_the_definitions() {
    let d = data(100_003, 5, 2, 1);
    for est in all_estimators() {
        let s = evaluate(est, &d.all(), 0.05, 0, 0).unwrap();
        let reference = d.reference(est);
        let (m, sd) = mean_sd(&reference);
        assert!(
            (s.estimate - m).abs() < 1e-12,
            "{est:?}: {} vs {m}",
            s.estimate
        );
        let rr = round_rewards(est, &d.all(), s.mean_weight).unwrap();
        for (a, b) in rr.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "{est:?}");
        }
        if !est.self_normalized() {
            let se = sd / (d.n as f64).sqrt();
            assert!((s.std_err - se).abs() < 1e-12 * se.max(1.0), "{est:?}");
            let z = 1.959963984540054;
            assert!((s.ci.0 - (m - z * se)).abs() < 1e-12);
        }
        assert_eq!(s.n_rounds, d.n as u64);
    }
}

#[test]
fn self_normalized_standard_error_is_the_delta_method() {
    let d = data(50_000, 4, 1, 2);
    let s = evaluate(Estimator::SnIpw, &d.all(), 0.05, 0, 0).unwrap();
    // Influence function of sum(rw)/sum(w): (r_i w_i - theta w_i) / mean(w).
    let w: Vec<f64> = (0..d.n)
        .map(|i| d.pi[i * d.k + d.action[i] as usize] / d.pscore[i])
        .collect();
    let wbar = w.iter().sum::<f64>() / d.n as f64;
    let psi: Vec<f64> = (0..d.n)
        .map(|i| (d.reward[i] * w[i] - s.estimate * w[i]) / wbar)
        .collect();
    let (_, sd) = mean_sd(&psi);
    assert!((s.std_err - sd / (d.n as f64).sqrt()).abs() < 1e-12);
    assert!((s.mean_weight - wbar).abs() < 1e-12);
}

#[test]
fn streaming_in_uneven_batches_equals_one_pass_bit_for_bit() {
    let d = data(3 * CHUNK_ROWS + 777, 3, 2, 3);
    for est in all_estimators() {
        let whole = evaluate(est, &d.all(), 0.1, 6, 9).unwrap();
        let mut acc = OffPolicyAccumulator::new(est, 6, 9).unwrap();
        let cuts = [
            0,
            1,
            1000,
            CHUNK_ROWS + 5,
            2 * CHUNK_ROWS + 5,
            3 * CHUNK_ROWS,
            d.n,
        ];
        for w in cuts.windows(2) {
            acc.push(&d.batch(w[0]..w[1])).unwrap();
        }
        assert_eq!(
            format!("{:?}", acc.summary(0.1).unwrap()),
            format!("{whole:?}")
        );
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let d = data(3 * CHUNK_ROWS + 11, 4, 1, 4);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                all_estimators()
                    .into_iter()
                    .map(|e| evaluate(e, &d.all(), 0.05, 4, 1).unwrap())
                    .collect::<Vec<_>>()
            })
    };
    // Debug prints the shortest round-trip form: equal strings are equal bits (and NaN == NaN).
    assert_eq!(format!("{:?}", run(1)), format!("{:?}", run(3)));
}

#[test]
fn bootstrap_interval_agrees_with_the_normal_one_on_large_samples() {
    let d = data(20_000, 4, 1, 5);
    for est in [
        Estimator::Ipw {
            lambda: f64::INFINITY,
        },
        Estimator::SnDr,
    ] {
        let s = evaluate(est, &d.all(), 0.05, 300, 3).unwrap();
        let (lo, hi) = s.bootstrap_ci.unwrap();
        assert_eq!(s.n_bootstrap, 300);
        let normal_width = s.ci.1 - s.ci.0;
        assert!(lo < s.estimate && s.estimate < hi);
        assert!(((hi - lo) / normal_width - 1.0).abs() < 0.2, "{est:?}");
    }
    // A different seed gives different replicates.
    let a = evaluate(Estimator::SnIpw, &d.all(), 0.05, 50, 1).unwrap();
    let b = evaluate(Estimator::SnIpw, &d.all(), 0.05, 50, 2).unwrap();
    assert_ne!(a.bootstrap_ci, b.bootstrap_ci);
    assert_eq!(a.estimate, b.estimate);
}

#[test]
fn logged_action_probabilities_and_shared_tables() {
    let d = data(1000, 3, 1, 6);
    let pe: Vec<f64> = (0..d.n)
        .map(|i| d.pi[i * 3 + d.action[i] as usize])
        .collect();
    let mut b = d.all();
    b.position = None;
    let full = evaluate(Estimator::SnIpw, &b, 0.05, 0, 0).unwrap();
    b.action_dist = ActionDist::Logged(&pe);
    let logged = evaluate(Estimator::SnIpw, &b, 0.05, 0, 0).unwrap();
    assert!((full.estimate - logged.estimate).abs() < 1e-14);
    let err = evaluate(Estimator::Dr { lambda: 1.0 }, &b, 0.05, 0, 0).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    // One distribution shared by every row.
    let shared = [0.2, 0.3, 0.5];
    b.action_dist = ActionDist::Full(Table::new(&shared, 1, 3, 1, "action_dist").unwrap());
    let s = evaluate(
        Estimator::Ipw {
            lambda: f64::INFINITY,
        },
        &b,
        0.05,
        0,
        0,
    )
    .unwrap();
    let expect: f64 = (0..d.n)
        .map(|i| d.reward[i] * shared[d.action[i] as usize] / d.pscore[i])
        .sum::<f64>()
        / d.n as f64;
    assert!((s.estimate - expect).abs() < 1e-12);
}

#[test]
fn invalid_rows_are_reported_by_name_and_first_row_and_change_nothing() {
    let mut d = data(3 * CHUNK_ROWS, 3, 1, 7);
    d.position = vec![0; d.n];
    let est = Estimator::Dr {
        lambda: f64::INFINITY,
    };
    let mut acc = OffPolicyAccumulator::new(est, 8, 0).unwrap();
    acc.push(&d.batch(0..100)).unwrap();
    let before = acc.summary(0.05).unwrap();

    let mut bad = |f: &dyn Fn(&mut Data), expect: &str| {
        let mut e = data(3 * CHUNK_ROWS, 3, 1, 7);
        e.position = vec![0; e.n];
        f(&mut e);
        let err = acc.push(&e.batch(100..e.n)).unwrap_err().to_string();
        assert!(err.starts_with(expect), "{err} (expected {expect})");
        assert_eq!(acc.summary(0.05).unwrap(), before);
    };
    let far = 2 * CHUNK_ROWS + 3; // in a chunk evaluated in parallel
    bad(
        &|e| {
            e.reward[far] = f64::NAN;
            e.reward[far + 20_000] = f64::NAN;
        },
        &format!("reward[{far}]: reward NaN is invalid"),
    );
    bad(
        &|e| e.pscore[150] = 0.0,
        "pscore[150]: propensity 0 is outside (0, 1]",
    );
    bad(&|e| e.pscore[150] = 1.5, "pscore[150]");
    bad(
        &|e| e.action[far] = 3,
        &format!("action[{far}]: arm 3 is out of range"),
    );
    bad(&|e| e.action[far] = -1, &format!("action[{far}]"));
    bad(
        &|e| e.pi[3 * 200] += 0.1,
        "action_dist[200]: probabilities sum to",
    );
    bad(
        &|e| e.pi[3 * 200] = -0.1,
        "action_dist[200]: probability -0.1",
    );
    bad(
        &|e| e.q[3 * 300] = f64::NAN,
        "estimated_rewards_by_reg_model[300]",
    );
    bad(
        &|e| e.position[400] = 1,
        "position[400]: slot 1 is outside [0, 1)",
    );

    // Shapes and presence.
    let mut b = d.batch(0..10);
    b.pscore = Some(&d.pscore[0..9]);
    assert_eq!(
        acc.push(&b).unwrap_err().to_string(),
        "pscore: length 9 does not match reward (length 10)"
    );
    let mut b = d.batch(0..10);
    b.estimated_rewards = None;
    assert!(acc
        .push(&b)
        .unwrap_err()
        .to_string()
        .starts_with("estimated_rewards_by_reg_model: required by dr"));
    let d2 = data(10, 3, 2, 1);
    let mut b = d2.all();
    b.position = None;
    assert!(matches!(
        evaluate(est, &b, 0.05, 0, 0),
        Err(Error::InvalidParameter { .. })
    ));
    // A later batch with another number of actions.
    let d4 = data(10, 4, 1, 1);
    assert!(matches!(acc.push(&d4.all()), Err(Error::Shape { .. })));
    assert_eq!(acc.summary(0.05).unwrap(), before);
    assert!(acc.summary(1.0).is_err());
    assert!(Estimator::from_name("ipw", -1.0).is_err());
    assert!(Estimator::from_name("magic", 1.0).is_err());
}

#[test]
fn undefined_self_normalization_is_an_error() {
    let pi = [0.0, 1.0];
    let b = Batch {
        reward: Some((&[1.0][..]).into()),
        action: Some((&[0][..]).into()),
        pscore: Some(&[0.5]),
        position: None,
        action_dist: ActionDist::Full(Table::new(&pi, 1, 2, 1, "action_dist").unwrap()),
        estimated_rewards: None,
    };
    assert!(evaluate(Estimator::SnIpw, &b, 0.05, 0, 0).is_err());
    let s = evaluate(
        Estimator::Ipw {
            lambda: f64::INFINITY,
        },
        &b,
        0.05,
        0,
        0,
    )
    .unwrap();
    assert_eq!(s.estimate, 0.0);
    assert!(s.std_err.is_nan());
}

#[test]
fn replay_keeps_about_one_row_in_k_and_validates_first() {
    use crate::policy::{EpsilonGreedy, Policy};
    let mut rng = Rng::seed_from_u64(3);
    let n = 30_000;
    let k = 3;
    let actions: Vec<i64> = (0..n).map(|_| rng.below(k) as i64).collect();
    let rewards: Vec<f64> = actions
        .iter()
        .map(|&a| {
            if rng.uniform() < [0.2, 0.5, 0.8][a as usize] {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    // A policy that always explores uniformly is the logger itself: value = mean reward.
    let mut p = EpsilonGreedy::new(3, 1.0, None, Some(1)).unwrap();
    let out = replay(&mut p, &actions, &rewards).unwrap();
    assert!((out.n_matched as f64 / n as f64 - 1.0 / 3.0).abs() < 0.02);
    assert!((out.estimate - 0.5).abs() < 4.0 * out.std_err);
    assert_eq!(p.n_updates(), out.n_matched);
    assert_eq!(
        out.matched.iter().filter(|&&m| m).count() as u64,
        out.n_matched
    );
    // A greedy learner does better than uniform.
    let mut g = EpsilonGreedy::new(3, 0.05, None, Some(1)).unwrap();
    let good = replay(&mut g, &actions, &rewards).unwrap();
    assert!(good.estimate > 0.7, "{}", good.estimate);
    // A bad row anywhere: error, and the policy is untouched.
    let before = g.clone();
    let mut bad = rewards.clone();
    bad[n - 1] = f64::NAN;
    assert!(matches!(
        replay(&mut g, &actions, &bad),
        Err(Error::InvalidReward { .. })
    ));
    let mut bad_arms = actions.clone();
    bad_arms[n - 1] = 3;
    let err = replay(&mut g, &bad_arms, &rewards).unwrap_err();
    assert!(err
        .to_string()
        .starts_with(&format!("actions at position {}", n - 1)));
    assert_eq!(g, before);
}

#[test]
fn block_fast_and_checked_paths_agree_to_the_bit() {
    // position None takes the block loop; all-zero positions the row-by-row fast path;
    // a bad row anywhere sends its block through the checked path.
    let mut d = data(2 * CHUNK_ROWS + 99, 4, 1, 12);
    d.position = vec![0; d.n];
    for est in all_estimators() {
        if est == Estimator::DirectMethod {
            continue;
        }
        let with_positions = evaluate(est, &d.all(), 0.05, 3, 1).unwrap();
        let mut b = d.all();
        b.position = None;
        let without = evaluate(est, &b, 0.05, 3, 1).unwrap();
        assert_eq!(
            format!("{with_positions:?}"),
            format!("{without:?}"),
            "{est:?}"
        );
    }
    let est = Estimator::SnDr;
    type Corrupt<'a> = (&'a dyn Fn(&mut Data), &'a str);
    let cases: [Corrupt; 5] = [
        (&|e| e.reward[60_000] = f64::INFINITY, "reward[60000]"),
        (&|e| e.action[5] = 4, "action[5]"),
        (&|e| e.pscore[6] = 0.0, "pscore[6]"),
        (&|e| e.pi[4 * 7 + 1] = -0.25, "action_dist[7]"),
        (
            &|e| e.q[4 * 8 + 2] = f64::NAN,
            "estimated_rewards_by_reg_model[8]",
        ),
    ];
    for (f, expect) in cases {
        let mut e = data(2 * CHUNK_ROWS + 99, 4, 1, 12);
        f(&mut e);
        let mut b = e.all();
        b.position = None;
        let err = evaluate(est, &b, 0.05, 0, 0).unwrap_err().to_string();
        assert!(err.starts_with(expect), "{err} (expected {expect})");
    }
    // Logged-action probabilities through the block loop.
    let pe = vec![0.5; 10];
    let mut r = [1.0; 10];
    r[9] = f64::NAN;
    let b = Batch {
        reward: Some((&r[..]).into()),
        action: Some((&[0; 10][..]).into()),
        pscore: Some(&[0.5; 10]),
        position: None,
        action_dist: ActionDist::Logged(&pe),
        estimated_rewards: None,
    };
    let err = evaluate(Estimator::SnIpw, &b, 0.05, 0, 0).unwrap_err();
    assert!(err.to_string().starts_with("reward[9]"), "{err}");
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

fn assert_summaries_close(a: &Summary, b: &Summary) {
    assert_eq!(a.n_rounds, b.n_rounds);
    assert!(
        close(a.estimate, b.estimate),
        "{} vs {}",
        a.estimate,
        b.estimate
    );
    assert!(
        close(a.std_err, b.std_err),
        "{} vs {}",
        a.std_err,
        b.std_err
    );
    assert!(close(a.ess, b.ess) && close(a.mean_weight, b.mean_weight));
    assert_eq!(a.n_bootstrap, b.n_bootstrap);
    match (a.bootstrap_ci, b.bootstrap_ci) {
        (Some(x), Some(y)) => assert!(close(x.0, y.0) && close(x.1, y.1), "{x:?} vs {y:?}"),
        (None, None) => {}
        other => panic!("{other:?}"),
    }
}

/// Shards accumulated apart (each from its own first row, one of them serialized and
/// restored on the way) and merged give the one-pass result, bootstrap included.
#[test]
fn merged_shards_equal_one_pass() {
    let d = data(3 * CHUNK_ROWS / 2 + 777, 4, 2, 21);
    for est in [
        Estimator::Ipw { lambda: 2.5 },
        Estimator::SnIpw,
        Estimator::Dr {
            lambda: f64::INFINITY,
        },
        Estimator::SnDr,
        Estimator::DirectMethod,
    ] {
        let mut one = OffPolicyAccumulator::new(est, 50, 9).unwrap();
        one.push(&d.all()).unwrap();
        let whole = one.summary(0.1).unwrap();
        let cuts = [0, 1000, CHUNK_ROWS + 5, d.n];
        let mut merged: Option<OffPolicyAccumulator> = None;
        // Merged in a scrambled order: merge is symmetric up to rounding.
        for s in [1, 0, 2] {
            let mut acc = OffPolicyAccumulator::starting_at(est, 50, 9, cuts[s] as u64).unwrap();
            acc.push(&d.batch(cuts[s]..cuts[s + 1])).unwrap();
            let acc: OffPolicyAccumulator =
                crate::state::decode(&crate::state::encode(&acc).unwrap()).unwrap();
            merged = Some(match merged {
                None => acc,
                Some(m) => m.merge(&acc).unwrap(),
            });
        }
        let merged = merged.unwrap();
        assert_eq!(merged.rows(), d.n as u64);
        assert_summaries_close(&merged.summary(0.1).unwrap(), &whole);
        // Merging an empty accumulator changes nothing.
        let empty = OffPolicyAccumulator::new(est, 50, 9).unwrap();
        assert_summaries_close(&merged.merge(&empty).unwrap().summary(0.1).unwrap(), &whole);
    }
}

#[test]
fn merge_refuses_what_one_pass_could_not_give() {
    let d = data(200, 3, 1, 4);
    let ipw = Estimator::Ipw {
        lambda: f64::INFINITY,
    };
    let mut a = OffPolicyAccumulator::new(ipw, 10, 1).unwrap();
    a.push(&d.batch(0..100)).unwrap();
    let mut b = OffPolicyAccumulator::new(ipw, 10, 1).unwrap();
    b.push(&d.batch(100..200)).unwrap();
    // Both shards start at row 0: their bootstrap weights would coincide.
    let err = a.merge(&b).unwrap_err().to_string();
    assert!(err.contains("overlap"), "{err}");
    // Without a bootstrap the row indices do not matter.
    let mut a0 = OffPolicyAccumulator::new(ipw, 0, 1).unwrap();
    a0.push(&d.batch(0..100)).unwrap();
    let mut b0 = OffPolicyAccumulator::new(ipw, 0, 1).unwrap();
    b0.push(&d.batch(100..200)).unwrap();
    assert!(a0.merge(&b0).is_ok());
    let other = OffPolicyAccumulator::new(Estimator::SnIpw, 0, 1).unwrap();
    assert!(a0.merge(&other).is_err());
    let reseeded = OffPolicyAccumulator::new(ipw, 0, 2).unwrap();
    assert!(a0.merge(&reseeded).is_err());
}

/// A restored accumulator continues bit for bit, mid-chunk; corrupt state is refused.
#[test]
fn serialized_accumulator_continues_identically() {
    let d = data(CHUNK_ROWS + 3000, 5, 1, 8);
    let est = Estimator::SnDr;
    let mut a = OffPolicyAccumulator::new(est, 20, 3).unwrap();
    a.push(&d.batch(0..1234)).unwrap();
    let bytes = crate::state::encode(&a).unwrap();
    let mut b: OffPolicyAccumulator = crate::state::decode(&bytes).unwrap();
    a.push(&d.batch(1234..d.n)).unwrap();
    b.push(&d.batch(1234..d.n)).unwrap();
    assert_eq!(a.summary(0.05).unwrap(), b.summary(0.05).unwrap());
    let mut one = OffPolicyAccumulator::new(est, 20, 3).unwrap();
    one.push(&d.all()).unwrap();
    assert_eq!(one.summary(0.05).unwrap(), b.summary(0.05).unwrap());
    for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
        assert!(crate::state::decode::<OffPolicyAccumulator>(&bytes[..cut]).is_err());
    }
}
