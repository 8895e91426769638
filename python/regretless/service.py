"""Decision service: decide now, learn from rewards that arrive later, lose nothing.

:class:`DecisionService` wraps a multi-armed (:class:`~regretless.Bandit`) or contextual
(:class:`~regretless.ContextualBandit`) policy. ``decide`` draws an arm from the policy's
probabilities with a uniform derived from ``(service seed, event id)``, logs the decision
and returns at once; ``reward(event_id, value)`` joins the reward to its decision on the
service's monotonic clock and teaches the policy. Everything that changes the policy is a
record of an append-only event log (:mod:`regretless._eventlog`), so
:meth:`DecisionService.recover` (latest snapshot + the log after it) and :func:`replay`
(every decision recomputed from the first snapshot) reproduce the service exactly.

The join: a decision waits ``reward_wait`` seconds of service time for its reward. The
first reward inside the window is learned (``"joined"``); later ones for the same event
are logged but not learned (``"duplicate"``: first reward wins); a reward after the window
closed is logged, not learned (``"late"``); an id the service does not know (never
decided, or closed more than ``reward_wait`` ago) is counted and answered ``"unknown"``,
not logged. When the window closes without a reward the policy learns ``default_reward``
(None: nothing). Time while the service is down does not count: the clock resumes where
the log stops.

Deciding threads read the model through one reference (``(version, policy)``) that the
learner replaces with a fresh copy of the learned policy every ``publish_every`` learned
rewards (an atomic swap of an ``Arc``), so a decision never waits for learning.

The live service's hot path (``decide``, ``reward``, the windows, the log writer) runs in
Rust (``regretless._core._ServiceCore``), in one call per decision or reward; this module
validates unusual inputs and does recovery, replay, snapshots and exports, and is the
reference the Rust side logs byte for byte the same records as.

>>> import tempfile, regretless
>>> log_dir = tempfile.mkdtemp()
>>> svc = regretless.DecisionService(regretless.EpsilonGreedy(n_arms=3, epsilon=0.2, seed=1),
...     log_dir, reward_wait=60.0, arms=["a", "b", "c"], seed=7)
>>> d = svc.decide()
>>> d.action in ("a", "b", "c"), round(float(d.probabilities.sum()), 12)
(True, 1.0)
>>> svc.reward(d.event_id, 1.0), svc.reward(d.event_id, 1.0), svc.reward("nope", 1.0)
('joined', 'duplicate', 'unknown')
>>> svc.close()
>>> again = regretless.DecisionService.recover(log_dir)
>>> again.stats()["joined"]
1
>>> again.close()
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import json
import math
import os
import secrets
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import regretless
from regretless import _core
from regretless import _eventlog as ev
from regretless.exceptions import (
    ArmError,
    DTypeError,
    IncompatibleError,
    InvalidParameterError,
    RegretlessError,
    RewardError,
    ShapeError,
    StateError,
)

__all__ = [
    "Decision",
    "DecisionService",
    "ReplayReport",
    "policy_takes_eligible",
    "read_decisions",
    "replay",
    "to_dsjson",
    "to_parquet",
]

DURABILITIES = ("none", "batch", "commit")
_META = "service.json"
_SNAPSHOT_MAGIC = b"RGLSNP01"


#: What :meth:`DecisionService.decide` returns (a frozen class of the Rust core): the
#: ``event_id`` to send the reward with, the ``action`` (arm name or index), the
#: ``probabilities`` it was drawn from (read-only, exactly as logged) and the
#: ``model_version`` that decided.
Decision = _core.Decision


# ---------------------------------------------------------------------------- policy access


def _is_contextual(policy: Any) -> bool:
    return isinstance(policy, regretless.ContextualBandit)


def _policy_probabilities(policy: Any, context: np.ndarray | None, eligible: Any) -> np.ndarray:
    """The policy's distribution for one decision: the one place the service asks for it."""
    kwargs = {} if eligible is None else {"eligible": eligible}
    try:
        if context is None:
            p = policy.probabilities(**kwargs)
        else:
            p = policy.probabilities(context[None, :], **kwargs)[0]
    except TypeError as e:
        if eligible is not None and not policy_takes_eligible(policy):
            raise IncompatibleError(
                f"eligible: {type(policy).__name__}.probabilities takes no eligible= in this "
                "version of regretless"
            ) from e
        raise
    return np.asarray(p, dtype=np.float64)


def policy_takes_eligible(policy: Any) -> bool:
    """Whether ``policy.probabilities`` accepts ``eligible=`` (every family does once arm
    masks are supported).

    >>> import regretless
    >>> isinstance(policy_takes_eligible(regretless.UCB1(n_arms=2)), bool)
    True
    """
    try:
        if _is_contextual(policy):
            policy.probabilities(np.zeros((1, policy.dim)), eligible=None)
        else:
            policy.probabilities(eligible=None)
    except TypeError:
        return False
    return True


def _learn(policy: Any, action: int, context: np.ndarray | None, value: float) -> None:
    if context is None:
        policy.update(action, value)
    else:
        policy.update(context, action, value)


def _uniform(key: bytes, event_id: str) -> float:
    """The decision's uniform in [0, 1): a keyed hash of the event id, so replay redraws it."""
    h = hashlib.blake2b(event_id.encode(), digest_size=8, key=key).digest()
    return (int.from_bytes(h, "little") >> 11) * 2.0**-53


def _draw(probabilities: np.ndarray, u: float, eligible: np.ndarray | None = None) -> int:
    """The arm whose cumulative-probability interval holds ``u`` (never a 0-probability arm),
    after checking that ``probabilities`` is a distribution over the eligible arms.

    Plain Python over the list: for the few arms of a decision it is several times faster
    than numpy's per-call overhead, and the sequential sum replays exactly.
    """
    values = probabilities.tolist()
    cumulative = []
    total = 0.0
    for x in values:
        if not 0.0 <= x <= 1.0:  # also NaN
            break
        total += x
        cumulative.append(total)
    ok = len(cumulative) == len(values) and abs(total - 1.0) <= 1e-9
    if ok and eligible is not None and len(eligible) < len(values):
        allowed = set(eligible.tolist())
        ok = all(x == 0.0 for i, x in enumerate(values) if i not in allowed)
    if not ok:
        raise RegretlessError(f"the policy returned an invalid distribution {probabilities!r}")
    i = min(bisect.bisect_right(cumulative, u * total), len(values) - 1)
    while values[i] <= 0.0 and i > 0:  # only when u * total rounds to the total
        i -= 1
    return i


# ---------------------------------------------------------------------------- snapshots


def _snapshot_name(seq: int) -> str:
    return f"snap-{seq:020d}.bin"


def _write_atomic(directory: str, name: str, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the directory: the file is whole or absent."""
    tmp = os.path.join(directory, f".{name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, name))
    ev.fsync_dir(directory)


def _encode_snapshot(header: dict[str, Any], learner: bytes, published: bytes) -> bytes:
    head = json.dumps(header).encode()
    body = b"".join(len(part).to_bytes(8, "little") + part for part in (head, learner, published))
    return _SNAPSHOT_MAGIC + zlib.crc32(body).to_bytes(4, "little") + body


def _decode_snapshot(data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    if not data.startswith(_SNAPSHOT_MAGIC) or len(data) < len(_SNAPSHOT_MAGIC) + 4:
        raise StateError("not a regretless service snapshot")
    pos = len(_SNAPSHOT_MAGIC)
    crc = int.from_bytes(data[pos : pos + 4], "little")
    body = data[pos + 4 :]
    if zlib.crc32(body) != crc:
        raise StateError("snapshot fails its CRC")
    parts = []
    pos = 0
    for _ in range(3):
        n = int.from_bytes(body[pos : pos + 8], "little")
        parts.append(body[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return json.loads(parts[0]), parts[1], parts[2]


def _snapshots(log_dir: str) -> list[str]:
    return sorted(n for n in os.listdir(log_dir) if n.startswith("snap-") and n.endswith(".bin"))


def _load_snapshot(log_dir: str, *, first: bool = False) -> tuple[dict[str, Any], bytes, bytes]:
    """The latest (or first) snapshot that reads back whole."""
    names = _snapshots(log_dir)
    for name in names if first else reversed(names):
        try:
            with open(os.path.join(log_dir, name), "rb") as f:
                return _decode_snapshot(f.read())
        except (StateError, ValueError, OSError):
            continue
    raise StateError(f"{log_dir}: no readable snapshot")


# ---------------------------------------------------------------------------- the service


@dataclass
class _Pending:
    action: int
    context: np.ndarray | None
    deadline: float


class DecisionService:
    """A policy behind event ids: decide now, reward later, everything logged.

    Args:
        policy: a :class:`~regretless.Bandit` or :class:`~regretless.ContextualBandit`;
            the service owns it from now on (it learns a copy's worth of rewards).
        log_dir: directory of the event log and snapshots (created; must not hold a log:
            use :meth:`recover` for that).
        reward_wait: seconds of service time a decision waits for its reward.
        default_reward: what the policy learns when no reward came in time (None: nothing).
        snapshot_every: log records between automatic snapshots (taken by a background
            thread; 0: only on :meth:`snapshot`).
        durability: ``"none"`` (no fsync), ``"batch"`` (fsync every ``fsync_interval``
            seconds) or ``"commit"`` (``decide`` and ``reward`` return once their record is
            fsynced, one fsync for all records that arrived meanwhile).
        arms: names of the arms (strings), which ``decide`` returns and ``eligible`` takes.
        seed: key of the per-decision draws (None: a random one, stored in the log).
        publish_every: learned rewards between two model versions for the deciding
            threads (1: every reward is visible to the next decision).
        segment_bytes: size past which the log starts a new segment file.
        fsync_interval: seconds between fsyncs with ``durability="batch"``.

    >>> import tempfile, numpy as np, regretless
    >>> svc = regretless.DecisionService(regretless.LinUCB(n_arms=2, dim=3, seed=0),
    ...     tempfile.mkdtemp(), reward_wait=1.0, default_reward=0.0, seed=1)
    >>> d = svc.decide(np.ones(3), event_id="request-1")
    >>> d.event_id, d.model_version
    ('request-1', 0)
    >>> svc.reward("request-1", 0.5)
    'joined'
    >>> svc.close()
    """

    def __init__(
        self,
        policy: Any,
        log_dir: str | os.PathLike[str],
        *,
        reward_wait: float,
        default_reward: float | None = None,
        snapshot_every: int = 100_000,
        durability: str = "batch",
        arms: Sequence[str] | None = None,
        seed: int | None = None,
        publish_every: int = 1,
        segment_bytes: int = 64 << 20,
        fsync_interval: float = 0.05,
    ) -> None:
        if not isinstance(policy, (regretless.Bandit, regretless.ContextualBandit)):
            raise IncompatibleError(
                "policy: expected a Bandit or ContextualBandit (a policy with probabilities), "
                f"got {type(policy).__name__}"
            )
        log_dir = os.fspath(log_dir)
        if os.path.exists(os.path.join(log_dir, _META)):
            raise InvalidParameterError(
                f"log_dir: {log_dir} already holds a service log; use DecisionService.recover"
            )
        n_arms = int(policy.n_arms)
        config = {
            "policy_class": type(policy).__name__,
            "reward_wait": _check_wait(reward_wait),
            "default_reward": None if default_reward is None else float(default_reward),
            "snapshot_every": _check_count(snapshot_every, "snapshot_every", zero_ok=True),
            "durability": _check_durability(durability),
            "arms": _check_arms(arms, n_arms),
            "seed": secrets.randbits(64) if seed is None else _check_seed(seed),
            "publish_every": _check_count(publish_every, "publish_every"),
            "segment_bytes": _check_count(segment_bytes, "segment_bytes"),
            "fsync_interval": _check_wait(fsync_interval, "fsync_interval"),
            "n_arms": n_arms,
            "dim": int(policy.dim) if _is_contextual(policy) else None,
        }
        if config["default_reward"] is not None:
            probe = policy.copy()
            ctx = None if config["dim"] is None else np.zeros(config["dim"])
            try:
                _learn(probe, 0, ctx, config["default_reward"])
            except RegretlessError as e:
                raise RewardError(f"default_reward: {e}") from e
        os.makedirs(log_dir, exist_ok=True)
        self._setup(log_dir, config, policy.copy(), policy.copy(), 0, 0.0)
        # The config last: its presence says the log directory is complete.
        self._write_snapshot(self._capture())
        _write_atomic(log_dir, _META, json.dumps(config, indent=1).encode())
        self._start(first_seq=1)

    # -- construction shared with recover

    def _setup(
        self,
        log_dir: str,
        config: dict[str, Any],
        learner: Any,
        published: Any,
        version: int,
        clock: float,
    ) -> None:
        self.log_dir = log_dir
        self._config = config
        self._n_arms: int = config["n_arms"]
        self._dim: int | None = config["dim"]
        self._arms: tuple[str, ...] | None = (
            None if config["arms"] is None else tuple(config["arms"])
        )
        self._arm_index = None if self._arms is None else {a: i for i, a in enumerate(self._arms)}
        self._reward_wait: float = config["reward_wait"]
        self._default: float | None = config["default_reward"]
        self._durability: str = config["durability"]
        self._key = int(config["seed"]).to_bytes(8, "little")
        self._learner = learner
        self._model: tuple[int, Any] = (version, published)
        self._learn_lock = threading.Lock()
        self._order_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        # Closed event id -> (service time closed, whether a reward closed it).
        self._closed: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._seq = 0
        self._since_publish = 0
        self._snapshot_seq = 0
        self._clock_origin = time.monotonic() - clock
        self._counts = dict.fromkeys(
            ("decisions", "joined", "late", "duplicate", "unknown", "defaulted", "unlearned"), 0
        )
        self._open = False
        self._replayed = 0
        # Fresh event ids: a random prefix per process (no clash across restarts) + a count.
        self._id_prefix = uuid.uuid4().hex[:16]
        self._policy_cls = type(learner)
        self._extra_counts: dict[str, int] = {}

    def _start(self, first_seq: int) -> None:
        """Hand the state to the Rust core, which appends to the log from ``first_seq``."""
        assert first_seq == self._seq + 1
        version, model = self._model
        names = ("decisions", "joined", "late", "duplicate", "unknown", "defaulted", "unlearned")
        self._extra_counts = {k: v for k, v in self._counts.items() if k not in names}
        self._core = _core._ServiceCore(
            log_dir=self.log_dir,
            contextual=self._dim is not None,
            learner=self._learner.to_bytes(),
            published=model.to_bytes(),
            version=version,
            seq=self._seq,
            since_publish=self._since_publish,
            counts={k: v for k, v in self._counts.items() if k in names},
            pending=[
                (eid, p.action, None if p.context is None else p.context.tolist(), p.deadline)
                for eid, p in self._pending.items()
            ],
            closed=[(eid, t, by_reward) for eid, (t, by_reward) in self._closed.items()],
            clock=self._clock(),
            key=int(self._config["seed"]),
            n_arms=self._n_arms,
            dim=self._dim,
            reward_wait=self._reward_wait,
            default_reward=self._default,
            publish_every=self._config["publish_every"],
            durability=self._durability,
            segment_bytes=self._config["segment_bytes"],
            fsync_interval=self._config["fsync_interval"],
            id_prefix=self._id_prefix,
            arms=self._config["arms"],
        )
        # The per-request calls go straight to the core (no Python frame in between);
        # a subclass that overrides them keeps its own.
        cls = type(self)
        if cls.decide is DecisionService.decide:
            self.decide = self._core.decide  # type: ignore[method-assign]
        if cls.reward is DecisionService.reward:
            self.reward = self._core.reward  # type: ignore[method-assign]
        # The core holds the state from now on.
        del self._learner, self._model, self._pending, self._closed, self._counts
        del self._seq, self._since_publish
        self._open = True
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="regretless-service", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        every = self._config["snapshot_every"]
        while not self._stop.wait(min(0.05, self._reward_wait / 4)):
            try:
                self._sweep()
                if every and self._core.last_seq - self._snapshot_seq >= every:
                    self.snapshot()
            except Exception:  # noqa: BLE001 - the next tick retries; errors show in stats
                errors = self._extra_counts.get("maintenance_errors", 0) + 1
                self._extra_counts["maintenance_errors"] = errors

    # -- properties

    @property
    def arms(self) -> tuple[str, ...] | None:
        """The arm names (None: arms are their indices)."""
        return self._arms

    @property
    def policy(self) -> Any:
        """A copy of the learned policy."""
        return self._policy_cls.from_bytes(self._core.learner_bytes())

    @property
    def model_version(self) -> int:
        """The version of the model deciding now (0, then +1 per publication)."""
        return int(self._core.model_version)

    def _clock(self) -> float:
        return time.monotonic() - self._clock_origin

    # The service clock is ``time.monotonic() - _clock_origin``; once the core runs, it
    # keeps the clock and this reads and moves it (tests move time forward this way).
    @property
    def _clock_origin(self) -> float:
        core = self.__dict__.get("_core")
        if core is None:
            return float(self.__dict__["_origin"])
        return time.monotonic() - core.clock_now()

    @_clock_origin.setter
    def _clock_origin(self, origin: float) -> None:
        core = self.__dict__.get("_core")
        if core is None:
            self.__dict__["_origin"] = origin
        else:
            core.set_clock(time.monotonic() - origin)

    # -- validation

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidParameterError("the service is closed")

    # -- deciding

    def decide(
        self, context: Any = None, *, eligible: Any = None, event_id: str | None = None
    ) -> Decision:
        """Choose an arm for one request and log the decision.

        Args:
            context: the features (contextual policies), else None.
            eligible: the arms allowed for this request: a boolean mask, arm indices or
                (with ``arms=``) arm names. None: every arm.
            event_id: the request's id (None: a fresh one, a random prefix and a count).
                It must not be in use.

        The arm is drawn from the model's probabilities (renormalized over the eligible
        arms by the policy) with a uniform derived from ``(seed, event_id)``; no disk I/O
        happens here unless ``durability="commit"``, which waits for the fsync. The whole
        call runs in the Rust core (this method is replaced by the core's on the instance).
        """
        self._check_open()
        return self._core.decide(context, eligible=eligible, event_id=event_id)

    # -- learning

    def reward(self, event_id: str, value: float) -> str:
        """Report the reward of a decision; returns what the service did with it.

        ``"joined"``: learned (the first reward inside the window); ``"duplicate"``: a
        later reward for the same event, logged, not learned; ``"late"``: after the
        window closed, logged, not learned; ``"unknown"``: an id the service does not
        know, counted only. A value the policy cannot learn raises
        :class:`~regretless.exceptions.RewardError` and changes nothing.
        """
        self._check_open()
        return str(self._core.reward(event_id, value))

    def reward_many(self, event_ids: Sequence[str], values: Any) -> list[str]:
        """Report many rewards in one call: the same as ``[reward(e, v) for e, v in
        zip(event_ids, values)]`` (answered, logged and learned in that order), at a
        fraction of the per-call cost. Every id and value is checked before any is used;
        a value the policy refuses raises :class:`~regretless.exceptions.RewardError`,
        the rewards before it standing. With ``durability="commit"`` it returns once all
        of them are fsynced.

        >>> import tempfile, regretless
        >>> svc = regretless.DecisionService(regretless.UCB1(n_arms=2), tempfile.mkdtemp(),
        ...     reward_wait=60.0, seed=0)
        >>> ids = [svc.decide().event_id for _ in range(3)]
        >>> svc.reward_many(ids + ["nope"], [1.0, 0.0, 1.0, 1.0])
        ['joined', 'joined', 'joined', 'unknown']
        >>> svc.close()
        """
        self._check_open()
        ids = event_ids if type(event_ids) is list else list(event_ids)
        try:
            raw = np.asarray(values)
            if raw.dtype.kind in "bSUV":  # strings would be parsed, booleans taken as 0/1
                raise TypeError
            vals = raw.astype(np.float64, copy=False)
        except (TypeError, ValueError):
            raise RewardError("values: expected numbers") from None
        if vals.shape != (len(ids),):
            raise ShapeError(
                f"values: expected {len(ids)} values (one per event id), got shape {vals.shape}"
            )
        if not np.all(np.isfinite(vals)):
            raise RewardError("values: expected finite numbers")
        return self._core.reward_many(ids, vals)  # the core checks the ids

    def _sweep(self) -> None:
        """Close the windows that have run out."""
        self._core.sweep()

    # -- durability and state

    def flush(self) -> None:
        """Write and fsync every record so far."""
        self._check_open()
        self._core.flush()

    def _capture(self) -> tuple[dict[str, Any], bytes, bytes]:
        core = self.__dict__.get("_core")
        if core is not None:
            header, learner, published = core.capture()
            header["counts"].update(self._extra_counts)
            return header, bytes(learner), bytes(published)
        with self._learn_lock, self._order_lock:
            version, model = self._model
            header = {
                "seq": self._seq,
                "clock": self._clock(),
                "model_version": version,
                "since_publish": self._since_publish,
                "counts": dict(self._counts),
                "pending": [
                    [eid, p.action, None if p.context is None else p.context.tolist(), p.deadline]
                    for eid, p in self._pending.items()
                ],
                "closed": [[eid, t, by_reward] for eid, (t, by_reward) in self._closed.items()],
            }
            return header, self._learner.to_bytes(), model.to_bytes()

    def _write_snapshot(self, state: tuple[dict[str, Any], bytes, bytes]) -> None:
        header, learner, published = state
        _write_atomic(self.log_dir, _snapshot_name(header["seq"]), _encode_snapshot(*state))
        self._snapshot_seq = header["seq"]
        # Keep the first snapshot (for replay) and the latest two.
        names = _snapshots(self.log_dir)
        for name in names[1:-2]:
            os.remove(os.path.join(self.log_dir, name))

    def snapshot(self) -> int:
        """Write the service's state atomically; returns the last log record it covers."""
        self._check_open()
        with self._snapshot_lock:
            state = self._capture()
            # The log must hold every record the snapshot covers before the snapshot
            # exists: a crash in between would leave a gap in the log after recovery.
            self._core.flush()
            self._write_snapshot(state)
            return state[0]["seq"]

    def stats(self) -> dict[str, Any]:
        """Counters: decisions, joined / late / duplicate / unknown rewards, windows closed
        with the default reward or unlearned, pending events, model version, log position
        (last record, last fsynced, last snapshot), log bytes, fsyncs, records dropped after
        a write error (``log_error``), and the log records replayed by :meth:`recover`.
        """
        core = self._core.stats()
        out: dict[str, Any] = {
            k: core[k] for k in ("decisions", "joined", "late", "duplicate", "unknown", "defaulted")
        }
        out["unlearned"] = core["unlearned"]
        out.update(self._extra_counts)
        for k in ("pending", "model_version", "last_seq", "durable_seq"):
            out[k] = core[k]
        out["snapshot_seq"] = self._snapshot_seq
        for k in ("log_bytes", "fsyncs", "dropped", "log_error"):
            out[k] = core[k]
        out["replayed_on_recovery"] = self._replayed
        return out

    def close(self) -> None:
        """Stop the background thread, write and fsync the log. Idempotent."""
        if not self._open:
            return
        self._stop.set()
        self._ticker.join()
        self._open = False
        try:
            self._core.flush()
        finally:
            self._core.close()  # raises nothing; a failed write was re-raised by flush

    def __enter__(self) -> DecisionService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # without this, pickle/copy fail on an internal lock with an unhelpful TypeError
        raise DTypeError(
            "DecisionService cannot be pickled or copied: it owns its log directory and a "
            "background writer; reopen it elsewhere with DecisionService.recover(log_dir), "
            "or pickle svc.policy"
        )

    # -- recovery

    @classmethod
    def recover(cls, log_dir: str | os.PathLike[str], **overrides: Any) -> DecisionService:
        """The service of ``log_dir`` as it was: latest valid snapshot + the log after it.

        A torn record at the end of the log (a crash mid-write) is cut off; the service
        then appends to a new segment. ``overrides`` may change ``durability``,
        ``snapshot_every`` or ``fsync_interval``.
        """
        log_dir = os.fspath(log_dir)
        config = _read_meta(log_dir)
        for k, val in overrides.items():
            if k == "durability":
                config[k] = _check_durability(val)
            elif k == "snapshot_every":
                config[k] = _check_count(val, k, zero_ok=True)
            elif k == "fsync_interval":
                config[k] = _check_wait(val, k)
            else:
                raise InvalidParameterError(f"{k}: cannot be changed on recovery")
        for name in os.listdir(log_dir):  # snapshots a crash left half-written
            if name.startswith(".snap-") and name.endswith(".tmp"):
                os.remove(os.path.join(log_dir, name))
        header, learner_bytes, published_bytes = _load_snapshot(log_dir)
        policy_cls = getattr(regretless, config["policy_class"])
        self = cls.__new__(cls)
        self._setup(
            log_dir,
            config,
            policy_cls.from_bytes(learner_bytes),
            policy_cls.from_bytes(published_bytes),
            header["model_version"],
            header["clock"],
        )
        self._restore(header)
        last_clock = header["clock"]
        replayed = 0
        for r in ev.read_records(log_dir, after=header["seq"], repair=True):
            self._apply(r)
            last_clock = max(last_clock, r.clock)
            replayed += 1
        self._replayed = replayed
        self._clock_origin = time.monotonic() - last_clock
        self._snapshot_seq = header["seq"]
        self._start(first_seq=self._seq + 1)
        return self

    def _restore(self, header: dict[str, Any]) -> None:
        self._seq = header["seq"]
        self._since_publish = header["since_publish"]
        self._counts.update(header["counts"])
        for eid, action, ctx, deadline in header["pending"]:
            x = None if ctx is None else np.asarray(ctx, dtype=np.float64)
            self._pending[eid] = _Pending(action, x, deadline)
        for eid, t, by_reward in header["closed"]:
            self._closed[eid] = (t, by_reward)

    def _apply(self, r: ev.Record) -> None:
        """Redo one logged event on the recovered state."""
        self._seq = r.seq
        if r.kind == ev.DECISION:
            self._pending[r.event_id] = _Pending(r.action, r.context, r.clock + self._reward_wait)
            self._counts["decisions"] += 1
        elif r.kind == ev.REWARD:
            self._counts[r.status] += 1
            if r.status == "joined":
                p = self._pending.pop(r.event_id)
                _learn(self._learner, p.action, p.context, r.value)
                self._closed[r.event_id] = (r.clock, True)
                self._since_publish += 1
        elif r.kind == ev.EXPIRE:
            p = self._pending.pop(r.event_id)
            self._closed[r.event_id] = (r.clock, False)
            if r.applied:
                _learn(self._learner, p.action, p.context, r.value)
                self._since_publish += 1
                self._counts["defaulted"] += 1
            else:
                self._counts["unlearned"] += 1
        elif r.kind == ev.PUBLISH:
            self._model = (r.model_version, self._learner.copy())
            self._since_publish = 0


# ---------------------------------------------------------------------------- checks
# The core reads the common forms of its arguments itself and calls these for the rest
# (and for the errors), so both give the same answers.


def _context_arg(context: Any, dim: int) -> np.ndarray:
    """A decision's context as a float64 vector of ``dim`` finite features."""
    if context is None:
        raise ShapeError(f"context: expected {dim} features, got None")
    try:
        x = np.array(context, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ShapeError(f"context: expected {dim} numbers ({e})") from e
    if x.shape != (dim,):
        raise ShapeError(f"context: expected {dim} features, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError("context: every feature must be finite")
    return x


def _eligible_arg(eligible: Any, n_arms: int, arm_index: dict[str, int] | None) -> np.ndarray:
    """A decision's eligible arms as sorted distinct int64 indices."""
    items = list(eligible) if not isinstance(eligible, np.ndarray) else eligible
    arr = np.asarray(items)
    if arr.dtype == bool:
        if arr.shape != (n_arms,):
            raise ShapeError(f"eligible: a mask needs {n_arms} booleans, got shape {arr.shape}")
        idx = np.flatnonzero(arr)
    elif arr.size and arr.dtype.kind in "US":
        if arm_index is None:
            raise ArmError("eligible: arm names need a service created with arms=")
        try:
            idx = np.array([arm_index[str(a)] for a in arr.ravel()], dtype=np.int64)
        except KeyError as e:
            raise ArmError(f"eligible: unknown arm {e.args[0]!r}") from None
    elif arr.size == 0 or arr.dtype.kind in "iu":
        idx = arr.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n_arms):
            raise ArmError(f"eligible: arm indices must be in [0, {n_arms})")
    else:
        raise ShapeError("eligible: expected a boolean mask, arm indices or arm names")
    idx = np.unique(idx).astype(np.int64)
    if idx.size == 0:
        raise ArmError("eligible: no eligible arm")
    return idx


def _check_wait(x: Any, name: str = "reward_wait") -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name}: expected a positive number of seconds") from None
    if not (math.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name}: expected a positive number of seconds, got {x!r}")
    return v


def _check_count(x: Any, name: str, *, zero_ok: bool = False) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < (0 if zero_ok else 1):
        bound = "a non-negative" if zero_ok else "a positive"
        raise InvalidParameterError(f"{name}: expected {bound} integer, got {x!r}")
    return int(x)


def _read_meta(log_dir: str) -> dict[str, Any]:
    """The service config of ``log_dir``; a clear FileNotFoundError when it holds none."""
    path = os.path.join(log_dir, _META)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT,
            f"log_dir: {log_dir} holds no decision service log (no {_META}); "
            "DecisionService(policy, log_dir, ...) starts one",
            path,
        ) from None


def _check_value(value: Any) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    if isinstance(value, (bool, np.bool_, str, bytes, bytearray)):
        # float() would parse "1" and take True as 1.0; policies refuse both (DTypeError)
        raise RewardError(f"value: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RewardError(f"value: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise RewardError(f"value: expected a finite number, got {v}")
    return v


def _check_seed(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or not 0 <= x < 2**64:
        raise InvalidParameterError(f"seed: expected an integer in [0, 2**64), got {x!r}")
    return int(x)


def _check_durability(x: Any) -> str:
    if x not in DURABILITIES:
        raise InvalidParameterError(f"durability: expected one of {DURABILITIES}, got {x!r}")
    return str(x)


def _check_arms(arms: Any, n_arms: int) -> list[str] | None:
    if arms is None:
        return None
    if isinstance(arms, str) or not all(isinstance(a, str) for a in arms):
        raise ArmError("arms: expected a sequence of strings")
    names = list(arms)
    if len(names) != n_arms:
        raise ArmError(f"arms: the policy has {n_arms} arms, got {len(names)} names")
    if len(set(names)) != len(names):
        raise ArmError("arms: names must be distinct")
    return names


# ---------------------------------------------------------------------------- reading logs


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`replay` found: decisions recomputed and how many differ from the log.

    >>> from regretless.service import ReplayReport
    >>> ReplayReport(n_decisions=3, n_mismatches=0, first_mismatch=None).ok
    True
    """

    n_decisions: int
    n_mismatches: int
    first_mismatch: str | None

    @property
    def ok(self) -> bool:
        """Whether every decision was reproduced."""
        return self.n_mismatches == 0


def replay(log_dir: str | os.PathLike[str]) -> ReplayReport:
    """Recompute every logged decision from the service's first snapshot and the log.

    Each decision's probabilities must match the logged ones bit for bit and its arm
    must be the one the event id's draw gives: the log is a complete account of the
    service. (Needs the whole log: a log cut by a crash without fsync replays up to the
    first missing record.)
    """
    log_dir = os.fspath(log_dir)
    config = _read_meta(log_dir)
    header, learner_bytes, published_bytes = _load_snapshot(log_dir, first=True)
    policy_cls = getattr(regretless, config["policy_class"])
    svc = DecisionService.__new__(DecisionService)
    svc._setup(
        log_dir,
        config,
        policy_cls.from_bytes(learner_bytes),
        policy_cls.from_bytes(published_bytes),
        header["model_version"],
        header["clock"],
    )
    svc._restore(header)
    n = bad = 0
    first = None
    expected = header["seq"] + 1
    for r in ev.read_records(log_dir, after=header["seq"]):
        if r.seq != expected:
            break
        expected += 1
        if r.kind == ev.DECISION:
            n += 1
            version, model = svc._model
            probs = _policy_probabilities(model, r.context, r.eligible)
            same = (
                version == r.model_version
                and r.probabilities is not None
                and probs.tobytes() == r.probabilities.tobytes()
                and _draw(probs, _uniform(svc._key, r.event_id), r.eligible) == r.action
            )
            if not same:
                bad += 1
                first = first or r.event_id
        svc._apply(r)
    return ReplayReport(n, bad, first)


def read_decisions(log_dir: str | os.PathLike[str]) -> Any:
    """The logged decisions that closed with a learned reward, as an Arrow table.

    Columns: ``action`` (arm index), ``reward`` (the joined reward, or the default reward
    of a window that closed without one), ``pscore`` (the logged probability of the
    action), ``context`` (contextual services), ``timestamp``, then ``event_id``,
    ``probabilities`` (the logged vector) and ``model_version``. The first columns follow
    :func:`regretless.logs.schema`, so :func:`regretless.logs.read_logs` and
    :mod:`regretless.ope` take the table (or its Parquet file) as is. A log being
    written can be read: its torn tail is skipped.
    """
    import pyarrow as pa

    log_dir = os.fspath(log_dir)
    config = _read_meta(log_dir)
    decisions: dict[str, ev.Record] = {}
    rows: list[tuple[ev.Record, float]] = []
    for r in ev.read_records(log_dir):
        if r.kind == ev.DECISION:
            decisions[r.event_id] = r
        elif (r.kind == ev.REWARD and r.status == "joined") or (r.kind == ev.EXPIRE and r.applied):
            d = decisions.pop(r.event_id, None)
            if d is not None:
                rows.append((d, r.value))
    rows.sort(key=lambda dr: dr[0].seq)
    action = np.array([d.action for d, _ in rows], dtype=np.int64)
    probs = [d.probabilities for d, _ in rows]
    cols: dict[str, Any] = {
        "action": pa.array(action, pa.int64()),
        "reward": pa.array(np.array([v for _, v in rows], dtype=np.float64)),
        "pscore": pa.array(
            np.array([p[a] for p, a in zip(probs, action, strict=True)], dtype=np.float64)  # type: ignore[index]
        ),
    }
    if config["dim"] is not None:
        flat = np.concatenate([d.context for d, _ in rows]) if rows else np.zeros(0)
        item = pa.field("item", pa.float64(), nullable=False)
        cols["context"] = pa.FixedSizeListArray.from_arrays(
            pa.array(flat, pa.float64()), type=pa.list_(item, config["dim"])
        )
    wall = np.array([d.wall for d, _ in rows], dtype=np.float64)
    cols["timestamp"] = pa.array((wall * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))
    cols["event_id"] = pa.array([d.event_id for d, _ in rows], pa.string())
    cols["probabilities"] = pa.array([p.tolist() for p in probs], pa.list_(pa.float64()))  # type: ignore[union-attr]
    cols["model_version"] = pa.array([d.model_version for d, _ in rows], pa.int64())
    return pa.table(cols)


def to_parquet(log_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> int:
    """Write :func:`read_decisions` to a Parquet file; returns the number of rows."""
    import pyarrow.parquet as pq

    table = read_decisions(log_dir)
    pq.write_table(table, os.fspath(path))
    return int(table.num_rows)


def to_dsjson(log_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> int:
    """Write the rewarded decisions as Vowpal Wabbit DSJSON lines (``--dsjson --cb_adf``);
    returns the number of lines. Each line lists every arm as an action (``_multi``), the
    chosen one first as VW expects (``a`` and ``p`` in that order), with cost = -reward.
    """
    log_dir = os.fspath(log_dir)
    config = _read_meta(log_dir)
    table = read_decisions(log_dir)
    names = config["arms"] or [str(i) for i in range(config["n_arms"])]
    cols = table.to_pydict()
    with open(path, "w") as out:
        for i in range(table.num_rows):
            a = cols["action"][i]
            probs = cols["probabilities"][i]
            order = [a] + [j for j in range(len(probs)) if j != a]
            shared: dict[str, Any] = {}
            if "context" in cols:
                shared["x"] = cols["context"][i]
            line = {
                "_label_cost": -cols["reward"][i],
                "_label_probability": probs[a],
                "_label_Action": a + 1,
                "_labelIndex": a,
                "o": [{"v": cols["reward"][i], "EventId": cols["event_id"][i]}],
                "Timestamp": cols["timestamp"][i].isoformat(),
                "Version": "1",
                "EventId": cols["event_id"][i],
                "a": [j + 1 for j in order],
                "c": {**shared, "_multi": [{"arm": {names[j]: 1}} for j in range(len(probs))]},
                "p": [probs[j] for j in order],
                "VWState": {"m": str(cols["model_version"][i])},
            }
            out.write(json.dumps(line) + "\n")
    return int(table.num_rows)
