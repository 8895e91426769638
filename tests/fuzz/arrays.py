"""Probe (b): odd arrays for every call that takes arrays.

Each case builds valid arguments for one call (batch updates and selections, scores,
probabilities, top-k, kernel posteriors and constructors, stream ``update_many``, OPE
``push`` and ``evaluate``, environments), then replaces one argument (or every row-aligned
one) by another dtype, memory layout (Fortran, strided, negative strides, read-only,
unaligned, big-endian, zero-stride broadcast and overlapping views, lists), by values such as
NaN, infinities and out-of-range indices, by an empty or wrongly shaped array, or by a huge
zero-stride view.

Expected: success or a RegretlessError (MemoryError for a huge array a call copies); never a
panic, an abort or a hang; a failed call leaves the object's bytes unchanged; a successful
one leaves bytes that load back. The same values in another layout give the same result."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import regretless
from numpy.lib.stride_tricks import as_strided
from regretless import ope

from .outcomes import Finding, assert_loadable, check_raised
from .targets import BY_NAME, MAB_FACTORIES, N_ACTIONS, TARGETS, ope_batch

Rng = np.random.Generator
Args = dict[str, Any]


@dataclass(frozen=True)
class ArrayCall:
    """One call: ``build(obj, rng, n)`` gives valid named arguments for ``n`` rows (``obj`` is
    the target object, or None for a constructor or function); ``invoke(obj, args)`` calls.
    ``rows`` names the arguments whose first axis is the row axis; ``real_rows`` is the
    number of rows a huge view has when it stands for real work (it must finish in time)."""

    name: str
    target: str | None
    build: Callable[[Any, Rng, int], Args]
    invoke: Callable[[Any, Args], Any]
    rows: tuple[str, ...]
    real_rows: int = 2**16


def _arms(n_arms: int, rng: Rng, n: int) -> np.ndarray:
    return rng.integers(0, n_arms, size=n).astype(np.int64)


def _contexts(p, rng: Rng, n: int) -> np.ndarray:
    return rng.normal(size=(n, p.dim))


def _calls() -> list[ArrayCall]:
    calls: list[ArrayCall] = []
    for name in MAB_FACTORIES:
        calls.append(
            ArrayCall(
                f"{name}.update_batch",
                name,
                lambda p, rng, n: {"arms": _arms(p.n_arms, rng, n), "rewards": rng.random(n)},
                lambda p, a: p.update_batch(a["arms"], a["rewards"]),
                ("arms", "rewards"),
            )
        )
    for t in TARGETS:
        if t.family != "contextual":
            continue
        kl = t.name.startswith(("KLRegularized", "Gibbs"))

        def pi(p, rng, n, kl=kl, one=False):
            if not kl:
                return None
            return (
                rng.dirichlet(np.ones(p.n_arms))
                if one
                else rng.dirichlet(np.ones(p.n_arms), size=n)
            )

        calls += [
            ArrayCall(
                f"{t.name}.select",
                t.name,
                lambda p, rng, n, pi=pi: {
                    "x": rng.normal(size=p.dim),
                    "pi_ref": pi(p, rng, 1, one=True),
                },
                lambda p, a: p.select(a["x"], a["pi_ref"]),
                (),
            ),
            ArrayCall(
                f"{t.name}.update",
                t.name,
                lambda p, rng, n: {
                    "x": rng.normal(size=p.dim),
                    "arm": 0,
                    "reward": 1.0,
                    "weight": 1.0,
                },
                lambda p, a: p.update(a["x"], a["arm"], a["reward"], a["weight"]),
                (),
            ),
            ArrayCall(
                f"{t.name}.select_batch",
                t.name,
                lambda p, rng, n, pi=pi: {"X": _contexts(p, rng, n), "pi_ref": pi(p, rng, n)},
                lambda p, a: p.select_batch(a["X"], a["pi_ref"]),
                ("X", "pi_ref"),
            ),
            ArrayCall(
                f"{t.name}.probabilities",
                t.name,
                lambda p, rng, n, pi=pi: {"X": _contexts(p, rng, n), "pi_ref": pi(p, rng, n)},
                lambda p, a: p.probabilities(a["X"], a["pi_ref"]),
                ("X", "pi_ref"),
                # Thompson sampling estimates each row's probabilities by Monte Carlo
                # (about 0.25 ms a row): 2**16 rows is a quarter of a minute of real work.
                2**10 if t.name in ("LinTS", "LogisticTS") else 2**16,
            ),
            ArrayCall(
                f"{t.name}.update_batch",
                t.name,
                lambda p, rng, n: {
                    "X": _contexts(p, rng, n),
                    "arms": _arms(p.n_arms, rng, n),
                    "rewards": (rng.random(n) < 0.5).astype(np.float64),
                    "weights": rng.uniform(0.5, 2.0, size=n) if rng.random() < 0.5 else None,
                },
                lambda p, a: p.update_batch(a["X"], a["arms"], a["rewards"], a["weights"]),
                ("X", "arms", "rewards", "weights"),
            ),
        ]
        for m in ("scores", "mean", "width"):
            calls.append(
                ArrayCall(
                    f"{t.name}.{m}",
                    t.name,
                    lambda p, rng, n: {"X": _contexts(p, rng, n)},
                    lambda p, a, m=m: getattr(p, m)(a["X"]),
                    ("X",),
                )
            )
        calls.append(
            ArrayCall(
                f"{t.name}.top_k",
                t.name,
                lambda p, rng, n: {"X": _contexts(p, rng, n)},
                lambda p, a: p.top_k(a["X"], 2),
                ("X",),
            )
        )

    def hx(p, rng, n):
        return {"X": rng.normal(size=(n, p.dim)), "Z": rng.normal(size=(n, p.shared_dim))}

    calls += [
        ArrayCall(
            "HybridLinUCB.select",
            "HybridLinUCB",
            lambda p, rng, n: {"x": rng.normal(size=p.dim), "z": rng.normal(size=p.shared_dim)},
            lambda p, a: p.select(a["x"], a["z"]),
            (),
        ),
        ArrayCall(
            "HybridLinUCB.update",
            "HybridLinUCB",
            lambda p, rng, n: {"x": rng.normal(size=p.dim), "z": rng.normal(size=p.shared_dim)},
            lambda p, a: p.update(a["x"], 1, 0.5, 1.0, z=a["z"]),
            (),
        ),
        ArrayCall(
            "HybridLinUCB.update_batch",
            "HybridLinUCB",
            lambda p, rng, n: (
                hx(p, rng, n)
                | {
                    "arms": _arms(p.n_arms, rng, n),
                    "rewards": rng.random(n),
                    "weights": rng.uniform(0.5, 2.0, size=n) if rng.random() < 0.5 else None,
                }
            ),
            lambda p, a: p.update_batch(a["X"], a["arms"], a["rewards"], a["weights"], Z=a["Z"]),
            ("X", "Z", "arms", "rewards", "weights"),
        ),
        ArrayCall(
            "HybridLinUCB.top_k",
            "HybridLinUCB",
            hx,
            lambda p, a: p.top_k(a["X"], 2, a["Z"]),
            ("X", "Z"),
        ),
    ]
    for m in ("select_batch", "scores", "mean", "width", "probabilities"):
        calls.append(
            ArrayCall(
                f"HybridLinUCB.{m}",
                "HybridLinUCB",
                hx,
                lambda p, a, m=m: getattr(p, m)(a["X"], a["Z"]),
                ("X", "Z"),
            )
        )
    for name in ("GPUCB", "BKB"):
        calls.append(
            ArrayCall(
                f"{name}.posterior",
                name,
                lambda p, rng, n: {"X": rng.uniform(size=(n, 2))},
                lambda p, a: p.posterior(a["X"]),
                ("X",),
            )
        )
        cls = getattr(regretless, name)
        calls.append(
            ArrayCall(
                f"{name}(candidates)",
                None,
                lambda p, rng, n: {"candidates": rng.uniform(size=(max(n, 1), 2))},
                lambda p, a, cls=cls: cls(a["candidates"], regretless.RBF(0.3), seed=0),
                ("candidates",),
            )
        )
    for t in TARGETS:
        if t.family == "stream":
            calls.append(
                ArrayCall(
                    f"{t.name}.update_many",
                    t.name,
                    lambda p, rng, n: {"rewards": (rng.random(n) < 0.5).astype(np.float64)},
                    lambda p, a: p.update_many(p.next_pull(), a["rewards"]),
                    ("rewards",),
                )
            )
    ope_rows = ("reward", "action", "pscore", "action_dist", "position", "estimated_rewards")
    for t in TARGETS:
        if t.family == "ope":
            calls.append(
                ArrayCall(
                    f"{t.name}.push",
                    t.name,
                    lambda p, rng, n: ope_batch(rng, n),
                    lambda p, a: p.push(*(a[k] for k in ope_rows)),
                    ope_rows,
                )
            )
    for est in (
        ope.InverseProbabilityWeighting(),
        ope.DoublyRobust(),
        ope.DirectMethod(),
        ope.SelfNormalizedDoublyRobust(),
        ope.SwitchDoublyRobust(lambda_=3.0),
    ):
        calls.append(
            ArrayCall(
                f"ope.{type(est).__name__}.evaluate",
                None,
                lambda p, rng, n: ope_batch(rng, n),
                lambda p, a, est=est: est.evaluate(
                    reward=a["reward"],
                    action=a["action"],
                    pscore=a["pscore"],
                    action_dist=a["action_dist"],
                    position=a["position"],
                    estimated_rewards_by_reg_model=a["estimated_rewards"],
                    n_bootstrap=2,
                    seed=1,
                ),
                ope_rows,
            )
        )
    calls += [
        ArrayCall(
            "BernoulliEnv(means)",
            None,
            lambda p, rng, n: {"means": rng.random(max(n, 1))},
            lambda p, a: regretless.BernoulliEnv(a["means"]),
            ("means",),
        ),
        ArrayCall(
            "GaussianEnv(means)",
            None,
            lambda p, rng, n: {"means": rng.normal(size=max(n, 1))},
            lambda p, a: regretless.GaussianEnv(a["means"], sd=0.5),
            ("means",),
        ),
        ArrayCall(
            "TableEnv(rewards)",
            None,
            lambda p, rng, n: {"rewards": rng.random((max(n, 1), 3))},
            lambda p, a: regretless.TableEnv(a["rewards"]),
            ("rewards",),
        ),
        ArrayCall(
            "gibbs_policy",
            None,
            lambda p, rng, n: {
                "rewards": rng.random((n, 3)),
                "pi_ref": rng.dirichlet(np.ones(3), size=n),
            },
            lambda p, a: regretless.gibbs_policy(a["rewards"], 2.0, a["pi_ref"]),
            ("rewards", "pi_ref"),
        ),
    ]
    return calls


CALLS = _calls()

# Value-preserving perturbations: the call must behave exactly as with the canonical array.
LAYOUTS = (
    "fortran",
    "strided",
    "column-strided",
    "negative-strides",
    "read-only",
    "unaligned",
    "big-endian",
    "zero-stride-rows",
    "overlapping-rows",
    "list",
)
DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex128",
    "object",
    "str",
    "bytes",
)
VALUES = (
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "5e-324",
    "-1",
    "2**62",
    "-2**63",
    "n_arms",
)
SHAPES = (
    "empty",
    "ndim+1",
    "ndim-1",
    "0-d",
    "width+1",
    "width-1",
    "length+1",
    "length-1",
    "python-scalar",
    "None",
    "huge-view",
)
# The first size stands for real work (ArrayCall.real_rows, which must finish); the larger
# ones can only be refused.
HUGE_ROWS = (2**16, 2**33, 2**40, 2**62)
PERTURBATIONS = LAYOUTS + tuple(f"dtype:{d}" for d in DTYPES) + VALUES + SHAPES


def _unaligned(x: np.ndarray) -> np.ndarray:
    buf = np.empty(x.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buf.data, dtype=x.dtype, count=x.size, offset=1).reshape(x.shape)
    out[...] = x
    return out


def _set_one(x: np.ndarray, value: Any, rng: Rng) -> np.ndarray:
    if x.size == 0:
        return x
    dtype = x.dtype
    if isinstance(value, float) and dtype.kind in "iub":
        dtype = np.dtype(np.float64)
    if isinstance(value, int) and dtype.kind == "f" and abs(value) > 2**53:
        dtype = np.dtype(object)
    y = x.astype(dtype)
    y.flat[int(rng.integers(0, y.size))] = value
    return y


def perturb(name: str, x: Any, rng: Rng, ctx: dict[str, Any]) -> tuple[Any, Any]:
    """(perturbed, canonical) for one argument; canonical changes only for the views whose
    values are defined by the view (zero-stride and overlapping rows)."""
    if x is None:
        if name in ("None", "python-scalar"):
            return (1.0 if name == "python-scalar" else None), x
        x = ctx["fill"]()  # an optional argument given as an array
    x = np.asarray(x)
    if name == "fortran":
        return np.asfortranarray(x), x
    if name == "strided":
        big = np.zeros((x.shape[0] * 2,) + x.shape[1:] if x.ndim else (2,), dtype=x.dtype)
        if x.ndim == 0:
            return x, x
        big[::2] = x
        return big[::2], x
    if name == "column-strided":
        if x.ndim < 2:
            return perturb("strided", x, rng, ctx)
        big = np.zeros(x.shape[:-1] + (x.shape[-1] * 2,), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2], x
    if name == "negative-strides":
        return np.flip(np.flip(x).copy()), x
    if name == "read-only":
        y = x.copy()
        y.setflags(write=False)
        return y, x
    if name == "unaligned":
        return _unaligned(x), x
    if name == "big-endian":
        return x.astype(x.dtype.newbyteorder(">")), x
    if name == "zero-stride-rows":
        if x.ndim == 0 or x.shape[0] == 0:
            return x, x
        y = np.broadcast_to(x[:1], x.shape)
        return y, y.copy()
    if name == "overlapping-rows":
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
            return perturb("zero-stride-rows", x, rng, ctx)
        flat = np.ascontiguousarray(x).ravel()
        y = as_strided(flat, shape=x.shape, strides=(flat.itemsize, flat.itemsize), writeable=False)
        return y, y.copy()
    if name == "list":
        return x.tolist(), x
    if name.startswith("dtype:"):
        dt = name[6:]
        if dt == "str":
            return x.astype(str), x
        if dt == "bytes":
            return x.astype(bytes), x
        return x.astype(dt), x
    if name in VALUES:
        value = {
            "nan": float("nan"),
            "inf": float("inf"),
            "-inf": float("-inf"),
            "1e308": 1e308,
            "-1e308": -1e308,
            "5e-324": 5e-324,
            "-1": -1,
            "2**62": 2**62,
            "-2**63": -(2**63),
            "n_arms": ctx.get("n_arms", 3),
        }[name]
        return _set_one(x, value, rng), x
    if name == "empty":
        return x[:0] if x.ndim else np.empty(0, dtype=x.dtype), x
    if name == "ndim+1":
        return x[None], x
    if name == "ndim-1":
        return (x.reshape(-1) if x.ndim > 1 else (x[0] if x.size else x.reshape(()))), x
    if name == "0-d":
        return np.asarray(x.flat[0] if x.size else 0.0), x
    if name in ("width+1", "width-1"):
        if x.ndim == 0:
            return x, x
        w = x.shape[-1] + (1 if name == "width+1" else -1)
        y = np.zeros(x.shape[:-1] + (max(w, 0),), dtype=x.dtype)
        k = min(w, x.shape[-1])
        if k > 0:
            y[..., :k] = x[..., :k]
        return y, x
    if name in ("length+1", "length-1"):
        if x.ndim == 0:
            return x, x
        if name == "length-1":
            return x[:-1], x
        return np.concatenate([x, x[-1:] if len(x) else np.zeros((1,) + x.shape[1:], x.dtype)]), x
    if name == "python-scalar":
        return 1.0, x
    if name == "None":
        return None, x
    if name == "huge-view":
        rows = HUGE_ROWS[int(rng.integers(0, len(HUGE_ROWS)))]
        return _huge(x, ctx["real_rows"] if rows == HUGE_ROWS[0] else rows), x
    raise AssertionError(name)


def _huge(x: np.ndarray, rows: int) -> np.ndarray:
    if x.ndim == 0:
        return np.broadcast_to(x, (rows,))
    first = x[:1] if len(x) else np.zeros((1,) + x.shape[1:], x.dtype)
    return np.broadcast_to(first, (rows,) + x.shape[1:])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if hasattr(a, "to_bytes") and hasattr(b, "to_bytes"):
        return a.to_bytes() == b.to_bytes()
    if hasattr(a, "n_arms") and type(a) is type(b) and not hasattr(a, "to_bytes"):
        # Environments: equal when their public properties are.
        keys = [k for k in dir(a) if not k.startswith("_") and not callable(getattr(a, k))]
        return all(_same(getattr(a, k), getattr(b, k)) for k in keys)
    if hasattr(a, "estimate") and hasattr(b, "estimate"):
        return _same(a.to_dict(), b.to_dict())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and (a == b)


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        s = f"array(shape={v.shape}, dtype={v.dtype}, strides={v.strides}"
        s += ", F" if v.flags.f_contiguous and not v.flags.c_contiguous else ""
        s += ", read-only" if not v.flags.writeable else ""
        s += ", unaligned" if not v.flags.aligned else ""
        if v.size <= 12:
            s += f", values={np.array2string(v, separator=',', threshold=12)}"
        return s + ")"
    if isinstance(v, list):
        return f"list(len={len(v)}, {str(v)[:80]})"
    return repr(v)


@dataclass
class ArrayCase:
    call: ArrayCall
    obj_bytes: bytes | None
    cls: type | None
    canonical: Args
    args: Args
    perturbation: str
    argument: str
    compare: bool

    def label(self) -> str:
        return f"{self.call.name} [{self.perturbation.split(' (')[0]} of {self.argument}]"

    def describe(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items())
        base = (
            ""
            if self.obj_bytes is None
            else f" on {self.cls.__name__}.from_bytes(<{len(self.obj_bytes)} bytes>)"
        )
        return f"{self.call.name}({shown}){base}  # {self.perturbation} of {self.argument}"

    def _obj(self) -> Any:
        return None if self.obj_bytes is None else self.cls.from_bytes(self.obj_bytes)

    def run(self) -> None:
        where = f"{self.call.name} [{self.perturbation} of {self.argument}]"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.compare:
                self._run_compare(where)
            else:
                self._run_plain(where)

    def _run_plain(self, where: str) -> None:
        obj = self._obj()
        before = None if obj is None else obj.to_bytes()
        try:
            out = self.call.invoke(obj, self.args)
        except BaseException as exc:  # noqa: BLE001 - classified below
            check_raised(exc, where)
            if obj is not None and obj.to_bytes() != before:
                raise Finding(
                    "state-changed-on-error", where, f"{type(exc).__name__}: {exc}"
                ) from exc
            return
        if obj is not None:
            assert_loadable(obj, where)
        if hasattr(out, "to_bytes"):
            assert_loadable(out, f"{where} -> result")

    def _run_compare(self, where: str) -> None:
        a, b = self._obj(), self._obj()
        try:
            want = ("ok", self.call.invoke(a, self.canonical))
        except BaseException as exc:  # noqa: BLE001 - compared below
            check_raised(exc, f"{self.call.name} [canonical]")
            want = ("err", type(exc).__name__)
        before = None if b is None else b.to_bytes()
        try:
            got = ("ok", self.call.invoke(b, self.args))
        except BaseException as exc:  # noqa: BLE001 - classified below
            check_raised(exc, where)
            if b is not None and b.to_bytes() != before:
                raise Finding(
                    "state-changed-on-error", where, f"{type(exc).__name__}: {exc}"
                ) from exc
            got = ("err", f"{type(exc).__name__}: {str(exc)[:200]}")
        if want[0] != got[0]:
            raise Finding(
                "layout-mismatch",
                where,
                f"canonical arrays: {want[0]} {'' if want[0] == 'ok' else want[1]}; "
                f"same values in this layout: {got[0]} {'' if got[0] == 'ok' else got[1]}",
            )
        if want[0] == "ok":
            if not _same(want[1], got[1]):
                raise Finding("layout-mismatch", where, "the result differs from the canonical one")
            if a is not None and a.to_bytes() != b.to_bytes():
                raise Finding("layout-mismatch", where, "the state differs from the canonical one")
            if b is not None:
                assert_loadable(b, where)


class ArrayProbe:
    name = "arrays"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._objs: dict[str, tuple[bytes, type]] = {}

    def _base(self, target: str) -> tuple[bytes, type]:
        if target not in self._objs:
            t = BY_NAME[target]
            obj = t.make(1)
            if t.family == "stream":
                obj.offer(0)  # pulls pending, so update_many has an arm to pay
            else:
                rng = np.random.default_rng([self.seed, TARGETS.index(t)])
                t.play(obj, rng, 20)
            self._objs[target] = (obj.to_bytes(), type(obj))
        return self._objs[target]

    def build(self, index: int) -> ArrayCase:
        rng = np.random.default_rng([self.seed, index])
        call = CALLS[index % len(CALLS)]
        obj_bytes, cls = (None, None) if call.target is None else self._base(call.target)
        obj = None if cls is None else cls.from_bytes(obj_bytes)
        n = int(rng.choice((0, 1, 2, 3, 5, 8)))
        canonical = call.build(obj, rng, n)
        array_args = [k for k, v in canonical.items() if isinstance(v, np.ndarray) or v is None]
        if not array_args:
            array_args = list(canonical)
        argument = array_args[int(rng.integers(0, len(array_args)))]
        ctx = {
            "real_rows": call.real_rows,
            "n_arms": getattr(obj, "n_arms", N_ACTIONS) if obj is not None else N_ACTIONS,
            "fill": lambda: (
                rng.random(n) if argument not in ("pi_ref", "Z") else rng.random((n, 3))
            ),
        }
        r = rng.random()
        if r < 0.08 and call.rows:
            # Every row-aligned argument as one huge zero-stride view (lengths agree).
            rows = HUGE_ROWS[int(rng.integers(0, len(HUGE_ROWS)))]
            rows = call.real_rows if rows == HUGE_ROWS[0] else rows
            args = dict(canonical)
            while True:
                try:
                    for k in call.rows:
                        if isinstance(canonical.get(k), np.ndarray):
                            args[k] = _huge(canonical[k], rows)
                    break
                except ValueError:  # more bytes than numpy can describe: fewer rows
                    rows //= 8
            return ArrayCase(
                call,
                obj_bytes,
                cls,
                canonical,
                args,
                f"huge-view-all {rows}",
                ",".join(call.rows),
                False,
            )
        if r < 0.13 and call.rows:
            args = dict(canonical)
            for k in call.rows:
                if isinstance(args.get(k), np.ndarray):
                    args[k] = args[k][:0]
            return ArrayCase(
                call, obj_bytes, cls, canonical, args, "empty-all", ",".join(call.rows), False
            )
        name = PERTURBATIONS[int(rng.integers(0, len(PERTURBATIONS)))]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                value, canon_value = perturb(name, canonical[argument], rng, ctx)
            except (ValueError, TypeError, OverflowError) as exc:
                # numpy cannot build this variant (e.g. a view too big to describe).
                value, canon_value, name = (
                    canonical[argument],
                    canonical[argument],
                    f"{name} (unbuildable: {exc})",
                )
        args = dict(canonical)
        args[argument] = value
        canonical = dict(canonical)
        canonical[argument] = canon_value
        # An empty list has no dtype: it cannot stand for an empty int64 or (0, d) array.
        compare = (
            name in LAYOUTS
            and canonical[argument] is not None
            and not (name == "list" and np.asarray(canonical[argument]).size == 0)
        )
        return ArrayCase(call, obj_bytes, cls, canonical, args, name, argument, compare)
