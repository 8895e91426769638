"""Dynamical linear bandits (Mussi, Metelli and Restelli 2023): DynLinUCB's epochs and
regression against a numpy reference on a logged run, the environment against the closed
forms of the linear system, and the regret on the authors' synthetic configuration:
DynLinUCB's flattens, the myopic LinUCB's grows linearly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import regretless
from regretless import DynamicalLinearEnv, DynLinUCB, MyopicLinUCB, simulate_dynlin

ACTIONS = DynamicalLinearEnv.budget_splits(3)
GAP_MIN = 0.8125 - 0.78125  # the best split (1, .5, 0) against the runner-up (.5, 1, 0)


def epoch_lengths(n: int, rho: float) -> list[int]:
    """H_j = 1 + floor(ln j / ln(1 / rho)) for j = 1..n (powers of 1/rho count exactly)."""
    return [1 + math.floor(math.log(j) / math.log(1 / rho) * (1 + 1e-12)) for j in range(1, n + 1)]


def dynlin_beta(b: dict, lam: float, d: int, u: float, t: int, horizon: int) -> float:
    """The paper's radius, written from its constants (ALGORITHMS.md 7.1)."""
    gap = 1 - b["rho_bar"]
    c1 = b["theta"] + b["omega"] * b["b_norm"] * b["phi"] / gap
    c2 = u * b["omega"] * b["phi"] * (u * b["b_norm"] / gap + u / gap)
    s2 = b["sigma"] ** 2 * (1 + (b["omega"] * b["phi"]) ** 2 / (1 - b["rho_bar"] ** 2))
    conf = 2 * s2 * (math.log(horizon) + d / 2 * math.log(1 + t * u * u / (d * lam)))
    return c1 * math.sqrt(lam) + c2 / math.sqrt(lam) * math.log(math.e * (t + 1)) + math.sqrt(conf)


def test_synthetic_system_is_the_authors_configuration() -> None:
    env = DynamicalLinearEnv.synthetic(0.01, seed=0)
    a, b, c, d, w = env.system()
    np.testing.assert_array_equal(a, np.diag([0.2, 0, 0.1]))
    np.testing.assert_array_equal(b, np.diag([0.45, 0, 0.1]))
    np.testing.assert_array_equal(c, np.diag([1, 0, 0.1]))
    np.testing.assert_array_equal(d, np.diag([0, 0.5, 0.1]))
    np.testing.assert_array_equal(w, np.ones(3))
    # The authors' action set: each order of the campaigns fills 1.5 greedily, caps at 1.
    splits = set()
    for order in itertools.permutations(range(3)):
        u, left = [0.0] * 3, 1.5
        for i in order:
            u[i] = min(left, 1.0)
            left -= u[i]
        splits.add(tuple(u))
    np.testing.assert_array_equal(ACTIONS, np.array(sorted(splits)))
    assert len(splits) == 6


def random_stable_system(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n, p, m = 4, 3, 2
    a = rng.normal(size=(n, n))
    a *= 0.8 / max(abs(np.linalg.eigvals(a)))
    return (
        a,
        rng.normal(size=(n, p)),
        rng.normal(size=(m, n)),
        rng.normal(size=(m, p)),
        rng.normal(size=m),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steady_state_gain_and_bounds_are_the_closed_forms(seed: int) -> None:
    a, b, c, d, w = random_stable_system(seed)
    env = DynamicalLinearEnv(a, b, c, d, output=w, sigma=0.0, seed=seed)
    h = w @ (d + c @ np.linalg.inv(np.eye(4) - a) @ b)
    np.testing.assert_allclose(env.steady_state_gain(), h, rtol=1e-12, atol=1e-12)
    rho = max(abs(np.linalg.eigvals(a)))
    bounds = env.bounds()
    assert bounds["rho_bar"] == pytest.approx(rho, rel=1e-10)
    assert bounds["omega"] == pytest.approx(np.linalg.norm(w @ c), rel=1e-12)
    assert bounds["theta"] == pytest.approx(np.linalg.norm(w @ d), rel=1e-12)
    assert bounds["b_norm"] == pytest.approx(np.linalg.norm(b, 2), rel=1e-10)
    phi = max(np.linalg.norm(np.linalg.matrix_power(a, k), 2) / rho**k for k in range(1, 1000))
    assert bounds["phi"] == pytest.approx(phi, rel=1e-6)
    # Noise-free, the recurrence itself: y = w.(C x + D u), x' = A x + B u.
    rng = np.random.default_rng(seed + 10)
    x = np.zeros(4)
    for _ in range(30):
        u = rng.normal(size=3)
        assert env.step(u) == pytest.approx(w @ (c @ x + d @ u), rel=1e-12, abs=1e-12)
        x = a @ x + b @ u
        np.testing.assert_allclose(env.state(), x, rtol=1e-12, atol=1e-12)
    # Holding one action, the reward converges to h . u (to rho^t).
    u = np.array([0.3, -1.0, 0.5])
    for _ in range(400):
        y = env.step(u)
    assert y == pytest.approx(h @ u, rel=1e-9, abs=1e-12)


def test_the_steady_state_optimum_of_the_synthetic_system() -> None:
    env = DynamicalLinearEnv.synthetic(0.0, seed=0)
    h = env.steady_state_gain()
    np.testing.assert_allclose(h, [0.45 / 0.8, 0.5, 0.1 + 0.01 / 0.9], rtol=1e-14)
    values = ACTIONS @ h
    assert ACTIONS[np.argmax(values)].tolist() == [1.0, 0.5, 0.0]
    # Campaign 1 has no immediate effect (D[0, 0] = 0) but the largest steady-state one.
    assert sorted(values)[-1] - sorted(values)[-2] == pytest.approx(GAP_MIN)
    # With sigma = 0, a constant split earns exactly its steady-state value after a few
    # rounds (rho = 0.2).
    for _ in range(60):
        y = env.step(ACTIONS[np.argmax(values)])
    assert y == pytest.approx(values.max(), rel=1e-12)


def play_logged(policy, env, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    actions, rewards = [], []
    for _ in range(rounds):
        a = policy.select()
        r = env.step(ACTIONS[a])
        policy.update(a, r)
        actions.append(a)
        rewards.append(r)
    return np.array(actions), np.array(rewards)


def test_dynlin_epochs_and_regression_against_numpy() -> None:
    env = DynamicalLinearEnv.synthetic(0.05, seed=4)
    bounds = env.bounds()
    lam, horizon, rounds = 1.5, 5000, 3000
    p = DynLinUCB(ACTIONS, horizon, **bounds, lam=lam, scale=0.05, seed=4)
    actions, rewards = play_logged(p, env, rounds)
    lengths = epoch_lengths(2000, 0.2)
    ends = np.cumsum(lengths)
    n_done = int(np.searchsorted(ends, rounds, side="right"))
    assert p.n_epochs == n_done and p.epoch == n_done + 1 and p.n_updates == rounds
    # One action per epoch, held for the whole epoch.
    starts = np.concatenate([[0], ends[:n_done]])
    for s, e in zip(starts[:-1], ends[:n_done], strict=True):
        assert len(set(actions[s:e])) == 1
    # Ridge on the epochs' last rounds only.
    last = ends[:n_done] - 1
    U, y = ACTIONS[actions[last]], rewards[last]
    V = lam * np.eye(3) + U.T @ U
    np.testing.assert_allclose(p.gram(), V, rtol=1e-13)
    h_hat = np.linalg.solve(V, U.T @ y)
    np.testing.assert_allclose(p.estimate(), h_hat, rtol=1e-9, atol=1e-12)
    # ... which, the state having settled by each epoch's end, estimates h.
    np.testing.assert_allclose(p.estimate(), env.steady_state_gain(), atol=0.03)
    # The optimistic index with the paper's radius (times scale).
    u_max = max(np.linalg.norm(ACTIONS, axis=1))
    beta = 0.05 * dynlin_beta(bounds, lam, 3, u_max, rounds, horizon)
    assert p.beta == pytest.approx(beta, rel=1e-12)
    widths = np.sqrt(np.einsum("ij,jk,ik->i", ACTIONS, np.linalg.inv(V), ACTIONS))
    np.testing.assert_allclose(p.scores(), ACTIONS @ h_hat + beta * widths, rtol=1e-9)


def test_myopic_linucb_regresses_every_round() -> None:
    env = DynamicalLinearEnv.synthetic(0.05, seed=5)
    lam, horizon = 2.0, 4000
    p = MyopicLinUCB(ACTIONS, horizon, theta=0.5, sigma=0.05, lam=lam, seed=5)
    actions, rewards = play_logged(p, env, 1500)
    U = ACTIONS[actions]
    V = lam * np.eye(3) + U.T @ U
    np.testing.assert_allclose(p.estimate(), np.linalg.solve(V, U.T @ rewards), rtol=1e-9)
    u = max(np.linalg.norm(ACTIONS, axis=1))
    beta = 0.5 * math.sqrt(lam) + 0.05 * math.sqrt(
        2 * math.log(horizon) + 3 * math.log(1 + horizon * u * u / (3 * lam))
    )
    assert p.beta == pytest.approx(beta, rel=1e-12)
    # Any action of the set can be recorded (a logged row), not only the selected one.
    p.update(0, 0.2)
    assert p.n_updates == 1501


def regret_halves(policy, seed: int, horizon: int) -> tuple[float, float]:
    env = DynamicalLinearEnv.synthetic(0.01, seed=seed)
    r = simulate_dynlin(policy, env, horizon)["regret"]
    return r[horizon // 2 - 1], r[-1] - r[horizon // 2 - 1]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_dynlin_regret_flattens_where_myopic_linucb_grows_linearly(seed: int) -> None:
    """The authors' synthetic system, sigma = 0.01, the paper's radius. Measured at
    T = 200000 (seeds 1-4): DynLinUCB's regret 6920-6945 in the first half, 3252-3276 in
    the second (ratio 0.47); MyopicLinUCB locks onto (0.5, 1, 0) (seeds 1, 2, 4: exactly
    0.03125 per round) or a worse split (seed 3: 0.257 per round), with a biased estimate
    that under-weights campaign 1 (no immediate effect): 0.29-0.33 on seeds 1, 2 and 4
    (over-weighting campaign 2, 0.61-0.64), 0.10 on seed 3 (true: 0.5625 and 0.5)."""
    horizon = 200_000
    env = DynamicalLinearEnv.synthetic(0.01, seed=seed)
    bounds = env.bounds()
    p = DynLinUCB(ACTIONS, horizon, **bounds, seed=seed)
    first, second = regret_halves(p, seed, horizon)
    assert 0.35 < second / first < 0.6, (first, second)
    assert 5000 < first < 9000
    np.testing.assert_allclose(p.estimate(), env.steady_state_gain(), atol=0.005)
    q = MyopicLinUCB(ACTIONS, horizon, theta=bounds["theta"], sigma=bounds["sigma"], seed=seed)
    first, second = regret_halves(q, seed, horizon)
    # Never settles on the best split: at least the smallest gap every round.
    assert second >= GAP_MIN * (horizon // 2) - 1.0, (first, second)
    assert second / first > 0.7
    h_hat = q.estimate()
    assert h_hat[0] < 0.45 < 0.5625, h_hat


def test_over_the_authors_horizon_dynlin_ends_below_the_myopic_baseline() -> None:
    """At T = 10^6 (the paper's horizon), seed 1: DynLinUCB 24998 (8328 in the second
    half), MyopicLinUCB 31520 (15625 in the second half, linear)."""
    horizon = 1_000_000
    bounds = DynamicalLinearEnv.synthetic(0.01).bounds()
    p = DynLinUCB(ACTIONS, horizon, **bounds, seed=1)
    q = MyopicLinUCB(ACTIONS, horizon, theta=bounds["theta"], sigma=bounds["sigma"], seed=1)
    dyn, myo = regret_halves(p, 1, horizon), regret_halves(q, 1, horizon)
    assert sum(dyn) < 0.9 * sum(myo), (dyn, myo)
    assert dyn[1] < 0.6 * myo[1]


def test_bytes_round_trip_continues_identically() -> None:
    env = DynamicalLinearEnv.synthetic(0.01, seed=8)
    p = DynLinUCB(ACTIONS, 10_000, **env.bounds(), seed=8)
    simulate_dynlin(p, env, 777)  # stops mid-epoch
    assert p.held is not None
    q = DynLinUCB.from_bytes(p.to_bytes())
    env2 = DynamicalLinearEnv.from_bytes(env.to_bytes())
    assert q.to_bytes() == p.to_bytes() and env2.to_bytes() == env.to_bytes()
    a, b = simulate_dynlin(p, env, 3000), simulate_dynlin(q, env2, 3000)
    for key in ("actions", "rewards", "regret"):
        np.testing.assert_array_equal(a[key], b[key])
    assert q.to_bytes() == p.to_bytes() and env2.to_bytes() == env.to_bytes()
    m = MyopicLinUCB(ACTIONS, 1000, seed=1)
    simulate_dynlin(m, env, 50)
    assert MyopicLinUCB.from_bytes(m.to_bytes()).to_bytes() == m.to_bytes()
    assert repr(env).startswith("DynamicalLinearEnv(n_state=3, n_inputs=3, n_outputs=3")
    with pytest.raises(regretless.StateError, match="not a"):
        DynLinUCB.from_bytes(m.to_bytes())


def test_invalid_arguments_raise_and_name_them() -> None:
    eye, env_of = np.eye(2), DynamicalLinearEnv
    bad, shape = regretless.InvalidParameterError, regretless.ShapeError
    cases = [
        (lambda: env_of(1.1 * eye, eye, eye, eye), bad, "^a:"),
        (lambda: env_of(eye, np.ones((3, 2)), eye, eye), shape, "^b:"),
        (lambda: env_of(0.5 * eye, eye, eye, eye, sigma=-1.0), bad, "sigma"),
        (lambda: env_of(0.5 * eye, eye, eye, eye, output=[1.0]), shape, "output"),
        (lambda: DynLinUCB(ACTIONS, 100, rho_bar=1.0), bad, "rho_bar"),
        (lambda: DynLinUCB(ACTIONS, 0, rho_bar=0.5), bad, "horizon"),
        (lambda: DynLinUCB(ACTIONS, 100, rho_bar=0.5, lam=0.0), bad, "lam"),
        (lambda: DynLinUCB([1.0, 2.0], 100, rho_bar=0.5), shape, "actions"),
        (lambda: MyopicLinUCB(ACTIONS, 100, sigma=np.nan), bad, "sigma"),
        (lambda: DynamicalLinearEnv.budget_splits(9), bad, "^n:"),
    ]  # fmt: skip
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    env = DynamicalLinearEnv(0.5 * eye, eye, eye, eye, seed=0)
    with pytest.raises(regretless.IncompatibleError, match="policy"):
        simulate_dynlin(MyopicLinUCB(ACTIONS, 10), env, 5)
    with pytest.raises(regretless.DTypeError, match="policy"):
        simulate_dynlin(regretless.UCB1(2), env, 5)
    with pytest.raises(regretless.ShapeError, match="^u:"):
        env.step([1.0, 2.0, 3.0])
    p = DynLinUCB(ACTIONS, 100, rho_bar=0.5, seed=0)
    with pytest.raises(regretless.ArmError, match="select"):
        p.update(0, 1.0)  # no action held yet
    assert p.n_updates == 0


# ---- eligible= -------------------------------------------------------------------------------


def _random_mask(rng: np.random.Generator, n: int) -> np.ndarray:
    mask = rng.random(n) < 0.5
    mask[rng.integers(n)] = True
    return mask


def test_masked_actions_are_the_best_eligible_by_the_optimistic_index() -> None:
    """MyopicLinUCB every round, DynLinUCB at each epoch's start: the eligible action with
    the highest scores() (ties at random); DynLinUCB then holds it, an epoch's held action
    being returned while eligible. Never an action outside the mask."""
    env = DynamicalLinearEnv.synthetic(0.05, seed=0)
    rng = np.random.default_rng(0)
    myopic = MyopicLinUCB(ACTIONS, 2000, theta=0.5, sigma=0.05, seed=1)
    dyn = DynLinUCB(ACTIONS, 2000, **DynamicalLinearEnv.synthetic().bounds(), seed=1)
    chosen = overruled = 0
    for t in range(600):
        mask = _random_mask(rng, 6)
        scores = myopic.scores()
        a = myopic.select(eligible=mask)
        assert mask[a]
        if t > 0:
            assert scores[a] == scores[mask].max()
            overruled += int(scores[a] < scores.max())
        assert np.all(myopic.scores(eligible=mask)[~mask] == -np.inf)
        assert np.array_equal(myopic.scores(eligible=mask)[mask], scores[mask])
        myopic.update(a, env.step(ACTIONS[a]))

        held = dyn.held
        if held is not None:
            mask[held] = True  # within an epoch the held action has to stay eligible
        scores = dyn.scores()
        b = dyn.select(eligible=mask)
        assert mask[b]
        if held is not None:
            assert b == held
        elif dyn.epoch > 1:
            chosen += 1
            assert scores[b] == scores[mask].max()
        dyn.update(b, 0.5 + 0.1 * rng.standard_normal())
    assert chosen > 20
    assert overruled > 100  # the mask changed decisions, not only confirmed them


def test_dynlin_masking_out_the_held_action_is_refused() -> None:
    dyn = DynLinUCB(ACTIONS, 1000, rho_bar=0.9, seed=0)
    dyn.update(dyn.select(), 0.5)  # epoch 1: one round
    dyn.select()  # epoch 2: held for 1 + floor(ln 2 / ln(1 / 0.9)) = 7 rounds
    held = dyn.held
    before = dyn.to_bytes()
    others = [i for i in range(6) if i != held]
    with pytest.raises(regretless.InvalidParameterError, match="held for this epoch"):
        dyn.select(eligible=others)
    assert dyn.select(eligible=[held]) == held
    assert dyn.to_bytes() == before


@pytest.mark.parametrize("cls", [DynLinUCB, MyopicLinUCB])
def test_every_action_eligible_is_the_unmasked_policy_to_the_bit(cls) -> None:
    def run(eligible) -> tuple[list[int], bytes]:
        if cls is DynLinUCB:
            policy = cls(ACTIONS, 2000, **DynamicalLinearEnv.synthetic().bounds(), seed=7)
        else:
            policy = cls(ACTIONS, 2000, theta=0.5, sigma=0.05, seed=7)
        env = DynamicalLinearEnv.synthetic(0.05, seed=3)
        seq = []
        for _ in range(400):
            a = policy.select() if isinstance(eligible, str) else policy.select(eligible=eligible)
            policy.update(a, env.step(ACTIONS[a]))
            seq.append(a)
        return seq, policy.to_bytes()

    plain = run("none")
    assert run(None) == plain
    assert run(np.ones(6, dtype=bool)) == plain
    assert run([5, 4, 3, 2, 1, 0]) == plain


@pytest.mark.parametrize("cls", [DynLinUCB, MyopicLinUCB])
def test_bad_eligible_sets_are_refused_before_any_state_change(cls) -> None:
    policy = cls(ACTIONS, 100, rho_bar=0.5, seed=0) if cls is DynLinUCB else cls(ACTIONS, 100)
    before = policy.to_bytes()
    with pytest.raises(regretless.InvalidParameterError, match="eligible: no arm is eligible"):
        policy.select(eligible=[])
    with pytest.raises(regretless.ShapeError, match="eligible"):
        policy.scores(eligible=np.ones(5, dtype=bool))
    with pytest.raises(regretless.ArmError, match="eligible"):
        policy.select(eligible=[6])
    assert policy.to_bytes() == before
