"""Declaring an experiment: policies x environments x seeds, validated before anything runs.

:class:`PolicySpec` names a multi-armed policy class with hyperparameters (or a sweep of
them), :class:`EnvSpec` an environment, and :class:`Grid` crosses them with seeds into
:class:`Cell` objects, each identified by a hash of everything that determines its
results. :func:`load_grid` reads the same structure from a TOML file.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import itertools
import json
import os
import pathlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import regretless
from regretless._checks import check_positive_int, check_seed
from regretless.exceptions import InvalidParameterError

__all__ = ["ENV_KINDS", "Cell", "EnvSpec", "Grid", "PolicySpec", "load_grid"]

ENV_KINDS = ("bernoulli", "gaussian", "table")
_RESERVED = ("n_arms", "seed")
#: Seeds are stored in int64 result columns.
SEED_BOUND = 2**63


def _format_value(v: Any) -> str:
    return repr(v) if isinstance(v, str) else f"{v}"


@dataclass(frozen=True)
class PolicySpec:
    """A multi-armed policy class (by name, see :data:`regretless.POLICIES`) with fixed
    hyperparameters. ``n_arms`` comes from the environment and ``seed`` from the cell.

    >>> PolicySpec("UCB1", {"alpha": 2.0}).label
    'UCB1(alpha=2.0)'
    >>> [s.label for s in PolicySpec.sweep("MOSS", horizon=[100, 1000])]
    ['MOSS(horizon=100)', 'MOSS(horizon=1000)']
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, type):
            object.__setattr__(self, "name", self.name.__name__)
        object.__setattr__(self, "params", dict(sorted(dict(self.params).items())))
        if self.label is None:
            inner = ", ".join(f"{k}={_format_value(v)}" for k, v in self.params.items())
            object.__setattr__(self, "label", f"{self.name}({inner})" if inner else self.name)

    @staticmethod
    def sweep(name: str | type, label: str | None = None, **params: Any) -> list[PolicySpec]:
        """One spec per combination of the hyperparameter values: a list value is swept,
        a scalar is fixed."""
        keys = sorted(params)
        axes = [params[k] if isinstance(params[k], (list, tuple)) else [params[k]] for k in keys]
        specs = []
        for combo in itertools.product(*axes):
            p = dict(zip(keys, combo, strict=True))
            specs.append(PolicySpec(name, p, label if label is None else label.format(**p)))
        return specs

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)


@dataclass(frozen=True)
class EnvSpec:
    """A named environment: ``kind`` is ``"bernoulli"`` (``means``), ``"gaussian"``
    (``means``, ``sd``) or ``"table"`` (``rewards``, a ``(steps, arms)`` array).

    >>> EnvSpec("hard", "gaussian", means=[0.0, 0.1], sd=0.5).build().n_arms
    2
    """

    name: str
    kind: str = "bernoulli"
    means: Sequence[float] | None = None
    sd: float = 1.0
    rewards: Any = None

    def build(self) -> Any:
        """The environment object."""
        if self.kind == "bernoulli":
            return regretless.BernoulliEnv(np.asarray(self._means(), dtype=np.float64))
        if self.kind == "gaussian":
            return regretless.GaussianEnv(
                np.asarray(self._means(), dtype=np.float64), sd=float(self.sd)
            )
        if self.kind == "table":
            if self.rewards is None:
                raise InvalidParameterError(f"env {self.name!r}: a table env needs rewards")
            return regretless.TableEnv(np.asarray(self.rewards, dtype=np.float64))
        raise InvalidParameterError(
            f"env {self.name!r}: unknown kind {self.kind!r}; choose from {', '.join(ENV_KINDS)}"
        )

    def _means(self) -> Sequence[float]:
        if self.means is None:
            raise InvalidParameterError(f"env {self.name!r}: a {self.kind} env needs means")
        return self.means

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind in ("bernoulli", "gaussian"):
            d["means"] = [float(m) for m in np.asarray(self._means(), dtype=np.float64)]
        if self.kind == "gaussian":
            d["sd"] = float(self.sd)
        if self.kind == "table":
            d["rewards"] = np.asarray(self.rewards, dtype=np.float64).tolist()
        return d

    def fingerprint(self) -> str:
        d = self.to_dict()
        if self.kind == "table":
            # Hash the table rather than embedding it in every cell's identity.
            arr = np.ascontiguousarray(np.asarray(self.rewards, dtype=np.float64))
            d["rewards"] = [list(arr.shape), hashlib.sha256(arr.tobytes()).hexdigest()]
        return json.dumps(d, sort_keys=True)


@dataclass(frozen=True)
class Cell:
    """One grid cell: ``runs`` simulations of one policy in one environment from one seed."""

    cell_id: str
    policy: PolicySpec
    env: EnvSpec
    seed: int
    horizon: int
    runs: int
    record_every: int

    def describe(self) -> str:
        return f"cell {self.policy.label} x env {self.env.name!r} x seed {self.seed}"

    def build_policy(self, n_arms: int) -> Any:
        cls = _policy_class(self.policy.name, self.describe())
        return cls(n_arms, **self.policy.params, seed=self.seed)


def _policy_class(name: str, where: str) -> type:
    by_name = {c.__name__: c for c in regretless.POLICIES}
    if name not in by_name:
        raise InvalidParameterError(
            f"{where}: unknown policy {name!r}; choose from {', '.join(sorted(by_name))}"
        )
    return by_name[name]


def _hyperparameters(cls: type) -> list[str] | None:
    """The keyword arguments a policy class takes besides ``n_arms`` and ``seed`` (None
    when the class has no introspectable signature)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    return [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in _RESERVED]


def _check_hyperparameter_names(cls: type, params: Mapping[str, Any], where: str) -> None:
    valid = _hyperparameters(cls)
    if valid is None:
        return
    for name in params:
        if name in valid or name in _RESERVED:
            continue
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(valid) if valid else "none"
        raise InvalidParameterError(
            f"{where}: unknown hyperparameter {name!r} for {cls.__name__}{hint} "
            f"(valid hyperparameters: {listed})"
        )


def _check_keys(d: Mapping[str, Any], known: set[str], where: str, note: str = "") -> None:
    """Rejects keys outside ``known``, naming the valid ones and the closest match."""
    for key in sorted(set(d) - known):
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidParameterError(
            f"{where}: unknown key {key!r}{hint} (valid keys: {', '.join(sorted(known))}){note}"
        )


class Grid:
    """Policies x environments x seeds, validated completely on construction.

    Args:
        policies: :class:`PolicySpec` objects, class names or classes (no
            hyperparameters), or lists of specs (as returned by :meth:`PolicySpec.sweep`).
        envs: :class:`EnvSpec` objects with distinct names.
        seeds: base seeds in ``[0, 2**63)``; a cell's ``runs`` simulations derive their
            streams from it exactly as :func:`regretless.simulate` does.
        horizon: steps per run.
        runs: independent runs per cell.
        record_every: record the regret every this many steps (and at the horizon).

    Every policy is constructed once for every arm count among the environments and
    simulated for one step in every environment, so an unknown policy, an invalid
    hyperparameter (:class:`~regretless.InvalidParameterError`) or a policy that cannot
    take an environment's rewards (:class:`~regretless.IncompatibleError`) raises an error
    naming the cell before anything runs.

    >>> Grid(["UCB9"], [EnvSpec("e", means=[0.1, 0.2])], seeds=[0], horizon=10)
    Traceback (most recent call last):
    ...
    regretless.exceptions.InvalidParameterError: cell UCB9 x env 'e' x seed 0: unknown policy ...
    """

    def __init__(
        self,
        policies: Iterable[PolicySpec | str | type | Sequence[PolicySpec]],
        envs: Iterable[EnvSpec],
        seeds: Iterable[int],
        horizon: int,
        runs: int = 1,
        record_every: int = 1,
    ) -> None:
        flat: list[PolicySpec] = []
        for p in policies:
            if isinstance(p, (list, tuple)):
                flat.extend(p)
            elif isinstance(p, PolicySpec):
                flat.append(p)
            elif isinstance(p, (str, type)):
                flat.append(PolicySpec(p))
            else:
                raise InvalidParameterError(f"policies: expected PolicySpec or a name, got {p!r}")
        self.policies = flat
        self.envs = list(envs)
        self.seeds = [check_seed(s, "seeds", bound=SEED_BOUND) for s in seeds]
        self.horizon = check_positive_int(horizon, "horizon")
        self.runs = check_positive_int(runs, "runs")
        self.record_every = check_positive_int(record_every, "record_every")
        if not self.policies or not self.envs or not self.seeds:
            raise InvalidParameterError("a grid needs at least one policy, env and seed")
        names = [e.name for e in self.envs]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"envs: names must be distinct, got {names}")
        labels = [p.label for p in self.policies]
        if len(set(labels)) != len(labels):
            raise InvalidParameterError(f"policies: labels must be distinct, got {labels}")
        self.cells = [
            self._make_cell(p, e, s) for p in self.policies for e in self.envs for s in self.seeds
        ]
        self._validate()

    def _make_cell(self, p: PolicySpec, e: EnvSpec, seed: int) -> Cell:
        key = json.dumps(
            [p.name, p.params_json(), p.label, e.fingerprint(), seed]
            + [self.horizon, self.runs, self.record_every]
        )
        cell_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        return Cell(cell_id, p, e, seed, self.horizon, self.runs, self.record_every)

    def _validate(self) -> None:
        built: dict[str, Any] = {}
        for cell in self.cells:
            where = cell.describe()
            if cell.env.name not in built:
                try:
                    env = cell.env.build()
                except regretless.RegretlessError as e:
                    raise type(e)(f"{where}: {e}") from e
                if cell.env.kind == "table" and env.n_steps < self.horizon:
                    raise InvalidParameterError(
                        f"{where}: the reward table has {env.n_steps} rows, fewer than "
                        f"the horizon {self.horizon}"
                    )
                built[cell.env.name] = env
        checked: set[tuple[str, int]] = set()
        for cell in self.cells:
            where = cell.describe()
            n_arms = built[cell.env.name].n_arms
            key = (cell.policy.label, n_arms)
            if key in checked:
                continue
            checked.add(key)
            for k, v in cell.policy.params.items():
                if k in _RESERVED:
                    raise InvalidParameterError(
                        f"{where}: {k} is set by the grid, not a hyperparameter"
                    )
                if not isinstance(v, (bool, int, float, str)):
                    raise InvalidParameterError(
                        f"{where}: hyperparameter {k}={v!r} is not a number, bool or string"
                    )
            _check_hyperparameter_names(
                _policy_class(cell.policy.name, where), cell.policy.params, where
            )
            try:
                cell.build_policy(n_arms)
            except TypeError as e:
                raise InvalidParameterError(f"{where}: invalid hyperparameter: {e}") from e
            except regretless.RegretlessError as e:
                if str(e).startswith(where):
                    raise
                raise type(e)(f"{where}: {e}") from e
        # One step of every (policy, env) pair: the reward-domain checks of simulate
        # (e.g. UCB1 needs rewards in [0, 1]) fail here rather than mid-run.
        paired: set[tuple[str, str]] = set()
        for cell in self.cells:
            if (cell.policy.label, cell.env.name) in paired:
                continue
            paired.add((cell.policy.label, cell.env.name))
            env = built[cell.env.name]
            try:
                regretless.simulate(cell.build_policy(env.n_arms), env, 1, 1, 0)
            except regretless.RegretlessError as e:
                raise type(e)(f"{cell.describe()}: {e}") from e

    def __len__(self) -> int:
        return len(self.cells)

    def __repr__(self) -> str:
        return (
            f"Grid({len(self.policies)} policies x {len(self.envs)} envs x "
            f"{len(self.seeds)} seeds = {len(self.cells)} cells, horizon {self.horizon}, "
            f"{self.runs} runs per cell)"
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: str | os.PathLike[str] = ".") -> Grid:
        """A grid from the structure of an experiment TOML file (see :func:`load_grid`)."""
        d = dict(d)
        known = {"horizon", "runs", "seeds", "record_every", "policy", "env"}
        _check_keys(d, known, "experiment")
        if "horizon" not in d:
            raise InvalidParameterError("experiment: horizon is required")
        seeds = d.get("seeds", [0])
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = list(range(check_positive_int(seeds, "seeds")))
        policies: list[PolicySpec] = []
        for i, p in enumerate(d.get("policy", [])):
            p = dict(p)
            where = f"policy #{i + 1}"
            if "name" not in p:
                raise InvalidParameterError(f"{where}: name is required")
            _check_keys(
                p,
                {"name", "label", "params", "sweep"},
                f"{where} ({p['name']})",
                "; hyperparameters go in params = {...} (fixed) or sweep = {...} (lists of values)",
            )
            params = dict(p.get("params", {}))
            sweep = dict(p.get("sweep", {}))
            for k, v in sweep.items():
                if not isinstance(v, list) or not v:
                    raise InvalidParameterError(
                        f"{where} ({p['name']}): sweep.{k} must be a non-empty list"
                    )
            if sweep:
                policies.extend(PolicySpec.sweep(p["name"], p.get("label"), **params, **sweep))
            else:
                policies.append(PolicySpec(p["name"], params, p.get("label")))
        envs = []
        for i, e in enumerate(d.get("env", [])):
            e = dict(e)
            where = f"env #{i + 1}"
            _check_keys(e, {"name", "kind", "means", "sd", "rewards", "path"}, where)
            if "path" in e:
                e["rewards"] = np.load(pathlib.Path(base_dir) / e.pop("path"))
                e.setdefault("kind", "table")
            envs.append(EnvSpec(**{"name": f"env{i + 1}", **e}))
        return cls(
            policies,
            envs,
            seeds,
            horizon=d["horizon"],
            runs=d.get("runs", 1),
            record_every=d.get("record_every", 1),
        )


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """A grid from a TOML file::

        horizon = 10000
        runs = 8               # runs per cell
        seeds = 3              # or a list: [0, 1, 2]
        record_every = 100

        [[policy]]
        name = "UCB1"
        sweep = { alpha = [0.5, 1.0, 2.0] }   # one policy per value

        [[policy]]
        name = "MOSS"
        params = { horizon = 10000 }           # fixed hyperparameters

        [[env]]
        name = "easy"
        kind = "bernoulli"
        means = [0.2, 0.5, 0.8]

    A ``table`` env takes ``rewards = [[...], ...]`` or ``path = "rewards.npy"`` (relative
    to the TOML file).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    p = pathlib.Path(path)
    with p.open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise InvalidParameterError(f"{p}: invalid TOML: {e}") from e
    return Grid.from_dict(data, base_dir=p.parent)
