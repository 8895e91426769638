"""Probe (c): numeric extremes on the scalar arguments of every constructor and method.

A case builds one object (one constructor argument set to an extreme value half of the time),
optionally plays it with valid input, applies one or two method calls with an extreme
argument (sizes up to 2**64, negative, bool, numpy scalars, 5e-324, 1e308, NaN, inf, ...),
then makes valid calls. Expected: each call succeeds or raises a RegretlessError (MemoryError
for a size); a refused call changes nothing; after accepted calls the object still makes
valid calls and its bytes load back; nothing panics, aborts or hangs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import regretless
from regretless import RegretlessError, ope

from .outcomes import Finding, assert_loadable, check_raised, describe, is_panic
from .targets import (
    DIM,
    KERNEL_CANDIDATES,
    exercise_contextual,
    exercise_hybrid,
    exercise_kernel,
    exercise_mab,
    exercise_stream,
    ope_batch,
    play_contextual,
    play_hybrid,
    play_kernel,
    play_mab,
    play_stream,
)

Rng = np.random.Generator

INTS = (
    0,
    1,
    2,
    -1,
    True,
    False,
    2**10,  # sizes of real work: they must finish (combined, e.g. 2**12 arms x 2**12 picks)
    2**12,
    2**31 - 1,
    2**31,
    2**32,
    2**32 + 1,
    2**53 + 1,
    2**62,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    10**12,
    -(2**31),
    -(2**63),
    -(2**64),
    np.int64(-1),
    np.uint64(2**64 - 1),
    np.int8(3),
    np.int64(2**62),
)
FLOATS = (
    0.0,
    -0.0,
    5e-324,
    1e-308,
    1e-200,
    1e-20,
    1e8,
    1e33,
    1e160,
    1e300,
    1e308,
    -1e308,
    -1e300,
    math.nan,
    math.inf,
    -math.inf,
    -1.0,
    1.0,
    1.0 - 2**-53,
    1.0 + 2**-52,
    True,
    False,
    0,
    -1,
    2**63,
    2**64,
    np.float32("nan"),
    np.float16(65504.0),
    np.float64(1e-320),
)


# Feature dimensions cost d**2 memory and up to d**3 time a step: their sizes of real work
# are smaller.
DIMS = tuple({2**10: 2**6, 2**12: 2**8}.get(v, v) if type(v) is int else v for v in INTS)


def extreme(kind: str, rng: Rng) -> Any:
    pool = {"int": INTS, "dim": DIMS, "float": FLOATS}[kind]
    return pool[int(rng.integers(0, len(pool)))]


@dataclass(frozen=True)
class Ctor:
    """A constructor: ``make(kw)`` builds the object; ``params`` maps each scalar argument to
    "int" or "float"; ``family`` picks the valid play and exercise."""

    name: str
    make: Callable[[dict[str, Any]], Any]
    params: dict[str, str]
    family: str


def _mab(cls: type, floats: tuple[str, ...] = (), ints: tuple[str, ...] = (), **fixed: Any):
    params = {"n_arms": "int", "seed": "int"} | dict.fromkeys(floats, "float")
    params |= dict.fromkeys(ints, "int")
    label = cls.__name__ + "".join(f"-{v}" for v in fixed.values())

    def make(kw: dict[str, Any]):
        return cls(kw.pop("n_arms", 4), **fixed, **({"seed": 0} | kw))

    return Ctor(label, make, params, "mab")


def _ctx(cls: type, floats: tuple[str, ...]):
    params = {"n_arms": "int", "dim": "dim", "seed": "int"} | dict.fromkeys(floats, "float")
    return Ctor(
        cls.__name__,
        lambda kw: cls(kw.pop("n_arms", 3), kw.pop("dim", DIM), **({"seed": 0} | kw)),
        params,
        "contextual",
    )


def _kernel(cls: type, kernel: str, floats: tuple[str, ...]):
    kparams = {"lengthscale": "float", "variance": "float"}
    if kernel == "Matern":
        kparams["nu"] = "float"
    if kernel == "Polynomial":
        kparams |= {"degree": "int", "offset": "float"}

    def make(kw: dict[str, Any]):
        kkw = {k[7:]: kw.pop(k) for k in list(kw) if k.startswith("kernel.")}
        if kernel == "Matern":
            kkw.setdefault("nu", 1.5)
        k = getattr(regretless, kernel)(**({"lengthscale": 0.3} | kkw))
        return cls(KERNEL_CANDIDATES, k, **({"seed": 0} | kw))

    params = {f"kernel.{k}": v for k, v in kparams.items()} | dict.fromkeys(floats, "float")
    return Ctor(f"{cls.__name__}-{kernel}", make, params | {"seed": "int"}, "kernel")


def _stream(cls: type):
    return Ctor(
        cls.__name__,
        lambda kw: cls(kw.pop("n_arms", 6), kw.pop("horizon", 3000), **({"seed": 0} | kw)),
        {"n_arms": "int", "horizon": "int", "seed": "int"},
        "stream",
    )


def _ope(est: str):
    def make(kw: dict[str, Any]):
        cls = {
            "ipw": ope.InverseProbabilityWeighting,
            "switch-dr": ope.SwitchDoublyRobust,
            "dr": ope.DoublyRobust,
        }[est]
        e = cls(kw.pop("lambda_")) if "lambda_" in kw else cls()
        return e.accumulator(**kw)

    params = {"n_bootstrap": "int", "seed": "int", "first_row": "int"}
    if est != "dr":
        params["lambda_"] = "float"
    return Ctor(f"OPE-{est}", make, params, "ope")


def _simulate(kw: dict[str, Any]) -> None:
    policy = regretless.UCB1(3, seed=0)
    env = regretless.BernoulliEnv([0.2, 0.5, 0.8])
    regretless.simulate(
        policy,
        env,
        kw.get("horizon", 100),
        kw.get("n_runs", 2),
        kw.get("seed", 0),
        record_every=kw.get("record_every", 1),
    )


CTORS: list[Ctor] = [
    _mab(regretless.EpsilonGreedy, ("epsilon", "decay")),
    _mab(regretless.Softmax, ("temperature",)),
    _mab(regretless.UCB1, ("alpha",)),
    _mab(regretless.UCBV, ("zeta", "c")),
    _mab(regretless.MOSS, ints=("horizon",)),
    _mab(regretless.KLUCB, ("c",)),
    _mab(regretless.KLUCB, ("c", "variance"), divergence="gaussian"),
    _mab(regretless.KLUCB, ("c",), divergence="poisson"),
    _mab(regretless.KLUCB, ("c",), plus=True),
    _mab(regretless.BayesUCB, ("prior_alpha", "prior_beta", "c"), ints=("horizon",)),
    _mab(regretless.ThompsonSampling, ("prior_alpha", "prior_beta")),
    _mab(regretless.GaussianThompsonSampling, ("mu0", "kappa0", "alpha0", "beta0")),
    _mab(regretless.EXP3, ("eta", "gamma"), ints=("horizon",)),
    _mab(regretless.EXP3IX, ("eta", "gamma"), ints=("horizon",)),
    _mab(regretless.SuccessiveElimination, ("delta",)),
    _ctx(regretless.LinUCB, ("alpha", "lam")),
    _ctx(regretless.LinTS, ("v", "lam")),
    _ctx(regretless.LinGreedy, ("epsilon", "lam")),
    _ctx(regretless.LogisticUCB, ("alpha", "lam")),
    _ctx(regretless.LogisticTS, ("v", "lam")),
    _ctx(regretless.KLRegularizedUCB, ("eta", "beta", "lam")),
    _ctx(regretless.GibbsGreedy, ("eta", "lam")),
    Ctor(
        "HybridLinUCB",
        lambda kw: regretless.HybridLinUCB(
            kw.pop("n_arms", 3), kw.pop("dim", DIM), kw.pop("shared_dim", 2), **({"seed": 0} | kw)
        ),
        {"n_arms": "int", "dim": "dim", "shared_dim": "dim", "alpha": "float", "lam": "float"},
        "hybrid",
    ),
    _kernel(regretless.GPUCB, "RBF", ("noise", "beta_scale", "delta")),
    _kernel(regretless.GPUCB, "Matern", ("noise",)),
    _kernel(regretless.GPUCB, "Polynomial", ("noise",)),
    _kernel(regretless.BKB, "RBF", ("lam", "qbar", "fnorm", "delta", "beta_scale")),
    _kernel(regretless.BKB, "Linear", ("lam", "qbar")),
    *(
        _stream(c)
        for c in (
            regretless.UniformExploration,
            regretless.NaiveEpsilonBest,
            regretless.GameOfArms,
            regretless.AggressiveSelectivePromotion,
        )
    ),
    _ope("ipw"),
    _ope("switch-dr"),
    _ope("dr"),
    Ctor(
        "simulate",
        _simulate,
        {"horizon": "int", "n_runs": "int", "seed": "int", "record_every": "int"},
        "function",
    ),
    Ctor(
        "GaussianEnv",
        lambda kw: regretless.GaussianEnv([0.0, kw.get("mean", 1.0)], sd=kw.get("sd", 1.0)),
        {"sd": "float", "mean": "float"},
        "function",
    ),
    Ctor(
        "gibbs_policy",
        lambda kw: regretless.gibbs_policy(np.ones((2, 3)), kw.get("eta", 1.0)),
        {"eta": "float"},
        "function",
    ),
]


# Method calls with one extreme argument: (label, kinds of arguments, call(obj, values)).
Op = tuple[str, dict[str, str], Callable[[Any, dict[str, Any]], Any]]


def _x(p, v: dict[str, Any], key: str = "x_scale", width: int | None = None) -> np.ndarray:
    x = np.full(width or p.dim, 0.5)
    if key in v:
        x[0] = v[key]
    return x


def _merge_self(p, v: dict[str, Any]) -> None:
    """``p.merge(p)`` up to 70 times (counts double each time): the merges before a refused
    one were accepted, so only the refused merge must leave the bytes unchanged."""
    for _ in range(70):
        before, count = p.to_bytes(), _count(p)
        try:
            p.merge(p)
        except RegretlessError as exc:
            if p.to_bytes() != before:
                raise Finding("state-changed-on-error", "merge(self)", describe(exc)) from exc
            return
        _check_doubled(count, _count(p), f"{type(p).__name__}.merge(self)")


def _count(obj: Any) -> int | None:
    for name in ("n_updates", "rows"):
        if hasattr(obj, name):
            return int(getattr(obj, name))
    return None


def _check_doubled(before: int | None, after: int | None, where: str) -> None:
    """An accepted merge of an object with itself doubles its count (no silent wrap)."""
    if before is not None and after != 2 * before:
        raise Finding(
            "accepted-input-breaks-state", where, f"count {before} became {after}, not {2 * before}"
        )


def _merge_returned(acc, v: dict[str, Any]) -> None:
    """OffPolicyAccumulator.merge returns the merged accumulator: merge the result with
    itself up to 70 times (rows double each time); each accepted result must load."""
    merged = acc
    for _ in range(70):
        try:
            doubled = merged.merge(merged)
        except RegretlessError:
            return
        _check_doubled(_count(merged), _count(doubled), "OffPolicyAccumulator.merge(self)")
        merged = doubled
        assert_loadable(merged, "OffPolicyAccumulator.merge(self)")


OPS: dict[str, list[Op]] = {
    "mab": [
        ("update", {"arm": "int"}, lambda p, v: p.update(v["arm"], 1.0)),
        ("update", {"reward": "float"}, lambda p, v: p.update(0, v["reward"])),
        ("select_batch", {"n": "int"}, lambda p, v: p.select_batch(v["n"])),
        ("remove_arm", {"arm": "int"}, lambda p, v: p.remove_arm(v["arm"])),
        (
            "update_batch",
            {"reward": "float"},
            lambda p, v: p.update_batch(np.zeros(3, np.int64), np.full(3, float(v["reward"]))),
        ),
        ("merge(self) x70", {}, _merge_self),
    ],
    "contextual": [
        ("update", {"x_scale": "float"}, lambda p, v: p.update(_x(p, v), 0, 1.0)),
        ("update", {"arm": "int"}, lambda p, v: p.update(_x(p, v), v["arm"], 1.0)),
        ("update", {"reward": "float"}, lambda p, v: p.update(_x(p, v), 0, v["reward"])),
        ("update", {"weight": "float"}, lambda p, v: p.update(_x(p, v), 1, 1.0, v["weight"])),
        ("select", {"x_scale": "float"}, lambda p, v: p.select(_x(p, v))),
        ("top_k", {"k": "int"}, lambda p, v: p.top_k(np.ones((2, p.dim)), v["k"])),
        ("remove_arm", {"arm": "int"}, lambda p, v: p.remove_arm(v["arm"])),
        (
            "update_batch",
            {"x_scale": "float"},
            lambda p, v: p.update_batch(
                np.tile(_x(p, v), (3, 1)), np.zeros(3, np.int64), np.ones(3)
            ),
        ),
        ("merge(self) x70", {}, _merge_self),
    ],
    "hybrid": [
        (
            "update",
            {"x_scale": "float"},
            lambda p, v: p.update(_x(p, v), 0, 1.0, z=np.ones(p.shared_dim)),
        ),
        (
            "update",
            {"z_scale": "float"},
            lambda p, v: p.update(np.ones(p.dim), 0, 1.0, z=_x(p, v, "z_scale", p.shared_dim)),
        ),
        (
            "update",
            {"arm": "int"},
            lambda p, v: p.update(np.ones(p.dim), v["arm"], 1.0, z=np.ones(p.shared_dim)),
        ),
        (
            "update",
            {"reward": "float"},
            lambda p, v: p.update(np.ones(p.dim), 0, v["reward"], z=np.ones(p.shared_dim)),
        ),
        (
            "top_k",
            {"k": "int"},
            lambda p, v: p.top_k(np.ones((2, p.dim)), v["k"], np.ones((2, p.shared_dim))),
        ),
        ("remove_arm", {"arm": "int"}, lambda p, v: p.remove_arm(v["arm"])),
        ("merge(self) x70", {}, _merge_self),
    ],
    "kernel": [
        ("update", {"index": "int"}, lambda p, v: p.update(v["index"], 0.5)),
        ("update", {"reward": "float"}, lambda p, v: p.update(0, v["reward"])),
        ("select_batch", {"b": "int"}, lambda p, v: p.select_batch(v["b"])),
    ],
    "stream": [
        ("offer", {"arm": "int"}, lambda p, v: p.offer(v["arm"])),
        ("update", {"arm": "int"}, lambda p, v: p.update(v["arm"], 1.0)),
        ("update", {"reward": "float"}, lambda p, v: p.update(v["pending"], v["reward"])),
        (
            "update_many",
            {"reward": "float"},
            lambda p, v: p.update_many(v["pending"], np.full(1, float(v["reward"]))),
        ),
        ("finish", {}, lambda p, v: p.finish()),
    ],
    "ope": [
        ("push", {"reward": "float"}, lambda p, v: _push(p, "reward", v["reward"])),
        ("push", {"pscore": "float"}, lambda p, v: _push(p, "pscore", v["pscore"])),
        ("push", {"action_dist": "float"}, lambda p, v: _push(p, "action_dist", v["action_dist"])),
        (
            "push",
            {"estimated_rewards": "float"},
            lambda p, v: _push(p, "estimated_rewards", v["estimated_rewards"]),
        ),
        ("push", {"action": "int"}, lambda p, v: _push(p, "action", v["action"])),
        ("summary", {"alpha": "float"}, lambda p, v: p.summary(v["alpha"])),
        ("merge(self) x70", {}, _merge_returned),
    ],
    "function": [],
}


def _pending(p) -> int:
    arm = p.next_pull()
    if arm is None:
        if p.n_offered < p.n_arms and not p.is_finished:
            p.offer(p.n_offered)
        arm = p.next_pull()
    return 0 if arm is None else arm


def _push(p, key: str, value: Any) -> None:
    b = ope_batch(np.random.default_rng(0), 2)
    arr = b[key]
    big = isinstance(value, (int, np.integer)) and not -(2**53) <= int(value) <= 2**53
    arr = arr.astype(object) if big else arr.copy()
    if arr.dtype.kind in "iu" and not isinstance(value, (int, np.integer)):
        arr = arr.astype(np.float64)
    arr.flat[0] = value
    b[key] = arr
    p.push(b["reward"], b["action"], b["pscore"], b["action_dist"], None, b["estimated_rewards"])


def play_ope(p, rng: Rng, steps: int) -> None:
    b = ope_batch(rng, 4)
    p.push(b["reward"], b["action"], b["pscore"], b["action_dist"], None, b["estimated_rewards"])


def exercise_ope(p, rng: Rng) -> None:
    play_ope(p, rng, 1)
    p.summary(0.05)


PLAY = {
    "mab": play_mab,
    "contextual": play_contextual,
    "hybrid": play_hybrid,
    "kernel": play_kernel,
    "stream": play_stream,
    "ope": play_ope,
}
EXERCISE = {
    "mab": exercise_mab,
    "contextual": exercise_contextual,
    "hybrid": exercise_hybrid,
    "kernel": exercise_kernel,
    "stream": exercise_stream,
    "ope": exercise_ope,
}


@dataclass
class ScalarCase:
    ctor: Ctor
    kwargs: dict[str, Any]
    play_steps: int
    ops: list[tuple[Op, dict[str, Any]]] = field(default_factory=list)

    def label(self) -> str:
        ops = "".join(f".{op[0]}({', '.join(vals)})" for op, vals in self.ops)
        return f"{self.ctor.name}({', '.join(self.kwargs)}){ops}"

    def describe(self) -> str:
        ops = "; ".join(
            f"{op[0]}({', '.join(f'{k}={v!r}' for k, v in vals.items())})" for op, vals in self.ops
        )
        return (
            f"{self.ctor.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"
            f"; play {self.play_steps} valid steps; {ops or 'no calls'}; then valid calls"
        )

    def run(self) -> None:
        accepted: list[str] = []
        where = f"{self.ctor.name}({', '.join(self.kwargs)})"
        try:
            obj = self.ctor.make(dict(self.kwargs))
        except BaseException as exc:  # noqa: BLE001 - classified below
            check_raised(exc, where)
            return
        if self.ctor.family == "function":
            return
        accepted.append(where)
        rng = np.random.default_rng(0)
        if self.play_steps:
            self._after_accepted(
                accepted, lambda: PLAY[self.ctor.family](obj, rng, self.play_steps)
            )
            accepted.append(f"play {self.play_steps}")
        assert_loadable(obj, " -> ".join(accepted))
        for (label, kinds, call), values in self.ops:
            where = f"{self.ctor.name}.{label}({', '.join(kinds)})"
            if self.ctor.family == "stream":
                # The arm to pay is found (offering one if need be) before the snapshot.
                values = values | {"pending": self._after_accepted(accepted, lambda: _pending(obj))}
            before = obj.to_bytes()
            try:
                call(obj, values)
            except BaseException as exc:  # noqa: BLE001 - classified below
                check_raised(exc, where)
                if obj.to_bytes() != before:
                    raise Finding("state-changed-on-error", where, describe(exc)) from exc
                continue
            accepted.append(where)
            assert_loadable(obj, " -> ".join(accepted))
        self._after_accepted(accepted, lambda: EXERCISE[self.ctor.family](obj, rng))
        assert_loadable(obj, " -> ".join(accepted) + " -> valid calls")

    def _after_accepted(self, accepted: list[str], call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Finding:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is the finding
            kind = "panic" if is_panic(exc) else "accepted-input-breaks-state"
            if not is_panic(exc) and not isinstance(exc, (RegretlessError, MemoryError)):
                kind = "wrong-exception"
            raise Finding(kind, " -> ".join(accepted) + " -> valid calls", describe(exc)) from exc


class ScalarProbe:
    name = "scalars"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def build(self, index: int) -> ScalarCase:
        rng = np.random.default_rng([self.seed, index])
        ctor = CTORS[index % len(CTORS)]
        kwargs: dict[str, Any] = {}
        ops_available = OPS[ctor.family]
        if not ops_available or rng.random() < 0.5:
            names = list(ctor.params)
            p = names[int(rng.integers(0, len(names)))]
            kwargs[p] = extreme(ctor.params[p], rng)
        n_ops = 0 if not ops_available else int(rng.integers(0 if kwargs else 1, 3))
        ops = []
        for _ in range(n_ops):
            op = ops_available[int(rng.integers(0, len(ops_available)))]
            ops.append((op, {k: extreme(kind, rng) for k, kind in op[1].items()}))
        play = int(rng.choice((0, 0, 5, 30)))
        return ScalarCase(ctor, kwargs, play, ops)
