"""HTTP front of a :class:`~regretless.DecisionService`: a plain ASGI app and its config.

``regretless serve service.toml [--port N]`` runs :func:`app` on uvicorn (``pip install
'regretless[serve]'``). Routes, JSON in and out:

- ``POST /decide`` ``{"context": [...], "eligible": [...], "event_id": "..."}`` (all
  optional) -> ``{"event_id", "action", "probabilities", "model_version"}``; with arm
  names, ``probabilities`` maps each name to its probability.
- ``POST /reward`` ``{"event_id": "...", "value": 1.0}`` -> ``{"status": ...}``; an unknown
  event id answers 404.
- ``GET /stats`` (the service's counters), ``GET /metrics`` (Prometheus text),
  ``GET /healthz``.

Bad JSON answers 400, a body of the wrong shape or values 422, each with
``{"error": ..., "type": ...}``; a request that fails changes nothing. Shutting the server
down (SIGINT, SIGTERM) closes the service, which writes and fsyncs its log.

A config file names the log directory (relative to the file), the service's options and
the policy; a directory that already holds a log is recovered instead::

    log_dir = "decisions"
    reward_wait = 60.0
    default_reward = 0.0
    durability = "batch"
    arms = ["small", "large"]

    [policy]
    class = "ThompsonSampling"
    seed = 1

>>> import asyncio, json, tempfile, regretless
>>> svc = regretless.DecisionService(regretless.UCB1(n_arms=2), tempfile.mkdtemp(),
...     reward_wait=5.0, arms=["a", "b"])
>>> status, body = asyncio.run(request(app(svc), "POST", "/decide", b"{}"))
>>> status, sorted(json.loads(body))
(200, ['action', 'event_id', 'model_version', 'probabilities'])
>>> asyncio.run(request(app(svc), "POST", "/reward", b'{"event_id": "x", "value": 1}'))[0]
404
>>> svc.close()
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import regretless
from regretless.exceptions import InvalidParameterError, RegretlessError
from regretless.service import DecisionService

__all__ = ["app", "load_service", "request"]

#: Largest request body accepted (bytes).
MAX_BODY = 1 << 20

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_SERVICE_KEYS = {
    "log_dir",
    "reward_wait",
    "default_reward",
    "snapshot_every",
    "durability",
    "arms",
    "seed",
    "publish_every",
    "segment_bytes",
    "fsync_interval",
    "port",
    "host",
    "policy",
}
_RECOVER_KEYS = ("durability", "snapshot_every", "fsync_interval")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, kind: str = "BadRequest") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def load_service(path: str | os.PathLike[str]) -> tuple[DecisionService, dict[str, Any]]:
    """The service a TOML config describes (recovered when its log exists), and the config.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "svc.toml").write_text('reward_wait = 5.0\\narms = ["a", "b"]\\n'
    ...                                 '[policy]\\nclass = "UCB1"\\n')
    >>> svc, config = load_service(d / "svc.toml")
    >>> svc.arms, os.path.basename(svc.log_dir)
    (('a', 'b'), 'svc-log')
    >>> svc.close()
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    path = os.fspath(path)
    with open(path, "rb") as f:
        config = tomllib.load(f)
    unknown = set(config) - _SERVICE_KEYS
    if unknown:
        raise InvalidParameterError(f"{path}: unknown keys {sorted(unknown)}")
    base = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    log_dir = os.path.join(base, config.get("log_dir", f"{stem}-log"))
    if os.path.exists(os.path.join(log_dir, "service.json")):
        overrides = {k: config[k] for k in _RECOVER_KEYS if k in config}
        return DecisionService.recover(log_dir, **overrides), config
    spec = dict(config.get("policy") or {})
    name = spec.pop("class", None)
    cls = getattr(regretless, str(name), None)
    if not isinstance(cls, type) or not issubclass(
        cls, (regretless.Bandit, regretless.ContextualBandit)
    ):
        raise InvalidParameterError(
            f"{path}: [policy] class must name a Bandit or ContextualBandit, got {name!r}"
        )
    if "arms" in config and "n_arms" not in spec:
        spec["n_arms"] = len(config["arms"])
    options = {
        k: config[k] for k in _SERVICE_KEYS - {"log_dir", "port", "host", "policy"} if k in config
    }
    if "reward_wait" not in options:
        raise InvalidParameterError(f"{path}: reward_wait is required")
    return DecisionService(cls(**spec), log_dir, **options), config


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise _BadRequest(400, f"the body is not JSON: {e}", "BadJSON") from None
    if not isinstance(data, dict):
        raise _BadRequest(422, "the body must be a JSON object", "ShapeError")
    return data


def _fields(data: dict[str, Any], allowed: set[str], required: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    extra = set(data) - allowed
    if extra:
        raise _BadRequest(422, f"unknown fields {sorted(extra)}", "ShapeError")
    missing = required - set(data)
    if missing:
        raise _BadRequest(422, f"missing fields {sorted(missing)}", "ShapeError")


def _metrics(stats: dict[str, Any], requests: dict[tuple[str, int], int]) -> str:
    lines = [
        "# HELP regretless_decisions_total Decisions made.",
        "# TYPE regretless_decisions_total counter",
        f"regretless_decisions_total {stats['decisions']}",
        "# HELP regretless_rewards_total Rewards received, by status.",
        "# TYPE regretless_rewards_total counter",
    ]
    for status in ("joined", "late", "duplicate", "unknown"):
        lines.append(f'regretless_rewards_total{{status="{status}"}} {stats[status]}')
    lines += [
        "# HELP regretless_windows_closed_total Reward windows closed without a reward.",
        "# TYPE regretless_windows_closed_total counter",
        f'regretless_windows_closed_total{{learned="default"}} {stats["defaulted"]}',
        f'regretless_windows_closed_total{{learned="nothing"}} {stats["unlearned"]}',
    ]
    gauges = {
        "pending": "Decisions waiting for their reward.",
        "model_version": "Version of the deciding model.",
        "last_seq": "Sequence number of the last log record.",
        "durable_seq": "Sequence number of the last fsynced log record.",
    }
    for name, help_ in gauges.items():
        lines += [
            f"# HELP regretless_{name} {help_}",
            f"# TYPE regretless_{name} gauge",
            f"regretless_{name} {stats[name]}",
        ]
    counters = {
        "log_bytes": "Bytes written to the event log.",
        "fsyncs": "fsync calls of the event log.",
        "dropped": "Log records dropped after a write error.",
    }
    for name, help_ in counters.items():
        lines += [
            f"# HELP regretless_{name}_total {help_}",
            f"# TYPE regretless_{name}_total counter",
            f"regretless_{name}_total {stats[name]}",
        ]
    lines += [
        "# HELP regretless_http_requests_total HTTP requests, by route and status.",
        "# TYPE regretless_http_requests_total counter",
    ]
    for (route, code), n in sorted(requests.items()):
        lines.append(f'regretless_http_requests_total{{route="{route}",code="{code}"}} {n}')
    return "\n".join(lines) + "\n"


def app(service: DecisionService) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application serving ``service`` (see the module doc for the routes)."""
    requests: dict[tuple[str, int], int] = {}
    blocking = service._durability == "commit"

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # A commit waits for an fsync: off the event loop. Other calls return in microseconds.
        if blocking:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def decision_json(d: Any) -> dict[str, Any]:
        probs = d.probabilities.tolist()
        return {
            "event_id": d.event_id,
            "action": d.action,
            "probabilities": probs
            if service.arms is None
            else dict(zip(service.arms, probs, strict=True)),
            "model_version": d.model_version,
        }

    async def decide(body: bytes) -> tuple[int, Any]:
        data = _json(body)
        _fields(data, {"context", "eligible", "event_id"})
        eligible = data.get("eligible")
        if eligible is not None and not isinstance(eligible, list):
            raise _BadRequest(422, "eligible: expected a list", "ShapeError")
        d = await call(
            service.decide,
            data.get("context"),
            eligible=eligible,
            event_id=data.get("event_id"),
        )
        return 200, decision_json(d)

    async def reward(body: bytes) -> tuple[int, Any]:
        data = _json(body)
        _fields(data, {"event_id", "value"}, {"event_id", "value"})
        value = data["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _BadRequest(422, "value: expected a number", "RewardError")
        if not math.isfinite(float(value)):
            raise _BadRequest(422, "value: expected a finite number", "RewardError")
        status = await call(service.reward, data["event_id"], float(value))
        if status == "unknown":
            return 404, {"error": "unknown event id", "type": "UnknownEvent", "status": status}
        return 200, {"status": status}

    routes: dict[tuple[str, str], Callable[[bytes], Awaitable[tuple[int, Any]]]] = {
        ("POST", "/decide"): decide,
        ("POST", "/reward"): reward,
    }

    async def read_body(receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _BadRequest(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise _BadRequest(413, f"the body is larger than {MAX_BODY} bytes", "TooLarge")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def respond(send: Send, status: int, payload: Any, text: bool = False) -> None:
        if text:
            body, ctype = str(payload).encode(), b"text/plain; version=0.0.4; charset=utf-8"
        else:
            body, ctype = json.dumps(payload).encode(), b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(service.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        text = False
        try:
            if method == "GET" and path == "/healthz":
                status, payload = 200, {"status": "ok"}
            elif method == "GET" and path == "/stats":
                status, payload = 200, service.stats()
            elif method == "GET" and path == "/metrics":
                status, payload, text = 200, _metrics(service.stats(), requests), True
            elif (method, path) in routes:
                body = await read_body(receive)
                status, payload = await routes[(method, path)](body)
            elif any(p == path for _, p in routes) or path in ("/healthz", "/stats", "/metrics"):
                raise _BadRequest(405, f"{method} not allowed on {path}", "MethodNotAllowed")
            else:
                raise _BadRequest(404, f"no route {path}", "NotFound")
        except _BadRequest as e:
            status, payload = e.status, {"error": str(e), "type": e.kind}
        except RegretlessError as e:
            status, payload = 422, {"error": str(e), "type": type(e).__name__}
        known = path in ("/decide", "/reward", "/healthz", "/stats", "/metrics")
        key = (path if known else "other", status)
        requests[key] = requests.get(key, 0) + 1
        await respond(send, status, payload, text)

    return application


async def request(
    application: Callable[[Scope, Receive, Send], Awaitable[None]],
    method: str,
    path: str,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """Drive an ASGI app with one HTTP request in process; returns (status, body).

    For tests and examples: no server, no sockets.
    """
    sent: list[MutableMapping[str, Any]] = []
    delivered = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, out


def run(config_path: str, port: int | None = None, host: str | None = None) -> int:
    """Serve the config's service with uvicorn until interrupted; the log is flushed on exit."""
    try:
        import uvicorn
    except ImportError:
        print("regretless serve needs uvicorn: pip install 'regretless[serve]'", file=sys.stderr)
        return 2
    service, config = load_service(config_path)
    uvicorn.run(
        app(service),
        host=host or config.get("host", "127.0.0.1"),
        port=int(port if port is not None else config.get("port", 8000)),
        lifespan="on",
        log_level="warning",
    )
    service.close()  # already closed by the lifespan shutdown unless startup failed
    return 0
