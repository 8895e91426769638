"""The HTTP front of DecisionService: routes, 4xx answers that change nothing, metrics,
the TOML config, and `regretless serve` end to end with a graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import regretless
from regretless import _eventlog as ev
from regretless.exceptions import InvalidParameterError
from regretless.serve import app, load_service, request
from regretless.service import DecisionService


def _call(application, method, path, body=b""):
    status, out = asyncio.run(request(application, method, path, body))
    return status, out


def _post(application, path, payload):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, out = _call(application, "POST", path, body)
    return status, json.loads(out)


@pytest.fixture
def contextual(tmp_path):
    svc = DecisionService(
        regretless.LinUCB(3, dim=2, seed=0),
        tmp_path / "log",
        reward_wait=30.0,
        arms=["a", "b", "c"],
        seed=1,
        snapshot_every=0,
    )
    yield svc
    svc.close()


def test_decide_and_reward_round_trip(contextual):
    application = app(contextual)
    status, d = _post(application, "/decide", {"context": [0.5, 1.0], "event_id": "r1"})
    assert status == 200 and d["event_id"] == "r1" and d["action"] in ("a", "b", "c")
    assert sorted(d["probabilities"]) == ["a", "b", "c"]
    assert sum(d["probabilities"].values()) == pytest.approx(1.0)
    assert _post(application, "/reward", {"event_id": "r1", "value": 0.5}) == (
        200,
        {"status": "joined"},
    )
    assert _post(application, "/reward", {"event_id": "r1", "value": 1}) == (
        200,
        {"status": "duplicate"},
    )
    status, stats = _call(application, "GET", "/stats")
    stats = json.loads(stats)
    assert status == 200 and stats["decisions"] == 1 and stats["joined"] == 1
    assert _call(application, "GET", "/healthz") == (200, b'{"status": "ok"}')


BAD_REQUESTS = [
    ("/decide", b"{not json", 400),
    ("/decide", b"\xff\xfe", 400),
    ("/decide", b"[1, 2]", 422),
    ("/decide", {"context": [1.0, 2.0, 3.0]}, 422),  # wrong shape
    ("/decide", {"context": "ab"}, 422),
    ("/decide", {"context": [1.0, None]}, 422),
    ("/decide", {}, 422),  # a contextual service needs a context
    ("/decide", {"context": [1, 2], "eligible": "a"}, 422),
    ("/decide", {"context": [1, 2], "eligible": ["zzz"]}, 422),
    ("/decide", {"context": [1, 2], "eligible": [7]}, 422),
    ("/decide", {"context": [1, 2], "event_id": 5}, 422),
    ("/decide", {"context": [1, 2], "event_id": "taken"}, 422),  # already in use
    ("/decide", {"context": [1, 2], "colour": "red"}, 422),
    ("/reward", {"event_id": "nobody", "value": 1.0}, 404),
    ("/reward", {"event_id": "taken"}, 422),
    ("/reward", {"event_id": "taken", "value": "high"}, 422),
    ("/reward", {"event_id": "taken", "value": True}, 422),
    ("/reward", {"event_id": "taken", "value": [1.0]}, 422),
    ("/reward", b'{"event_id": "taken", "value": NaN}', 422),
    ("/reward", {"event_id": ["taken"], "value": 1.0}, 422),
    ("/reward", b"", 400),
]


@pytest.mark.parametrize(("path", "payload", "code"), BAD_REQUESTS)
def test_bad_requests_answer_4xx_and_change_nothing(contextual, path, payload, code):
    application = app(contextual)
    assert _post(application, "/decide", {"context": [0.0, 1.0], "event_id": "taken"})[0] == 200
    contextual.flush()
    before = (contextual.stats(), contextual.policy.to_bytes())
    status, answer = _post(application, path, payload)
    assert status == code, answer
    assert isinstance(answer["error"], str) and answer["error"] and answer["type"]
    contextual.flush()
    after = (contextual.stats(), contextual.policy.to_bytes())
    if code == 404:  # an unknown id is counted, nothing else
        assert after[0]["unknown"] == before[0]["unknown"] + 1
        after[0]["unknown"] = before[0]["unknown"]
    assert after == before
    assert _post(application, "/reward", {"event_id": "taken", "value": 1.0})[1] == {
        "status": "joined"
    }


def test_routes_and_methods(contextual):
    application = app(contextual)
    assert _call(application, "GET", "/nowhere")[0] == 404
    assert _call(application, "GET", "/decide")[0] == 405
    assert _call(application, "POST", "/stats")[0] == 405
    big = json.dumps({"context": [0.0] * 300_000}).encode()
    assert _call(application, "POST", "/decide", big)[0] == 413


def test_metrics_are_prometheus_text(contextual):
    application = app(contextual)
    for i in range(3):
        _post(application, "/decide", {"context": [0.0, float(i)], "event_id": f"m{i}"})
    _post(application, "/reward", {"event_id": "m0", "value": 1.0})
    _post(application, "/reward", {"event_id": "zz", "value": 1.0})
    status, text = _call(application, "GET", "/metrics")
    assert status == 200
    samples = {}
    for line in text.decode().splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP regretless_", "# TYPE regretless_"))
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples["regretless_decisions_total"] == 3
    assert samples['regretless_rewards_total{status="joined"}'] == 1
    assert samples['regretless_rewards_total{status="unknown"}'] == 1
    assert samples["regretless_pending"] == 2
    assert samples['regretless_http_requests_total{route="/decide",code="200"}'] == 3
    assert samples['regretless_http_requests_total{route="/reward",code="404"}'] == 1


def test_config_creates_then_recovers(tmp_path):
    cfg = tmp_path / "svc.toml"
    cfg.write_text(
        'log_dir = "data"\nreward_wait = 5.0\ndefault_reward = 0.0\narms = ["x", "y"]\n'
        'seed = 4\n[policy]\nclass = "EpsilonGreedy"\nepsilon = 0.5\nseed = 2\n'
    )
    svc, _ = load_service(cfg)
    assert svc.arms == ("x", "y") and svc.log_dir == str(tmp_path / "data")
    d = svc.decide()
    svc.close()
    again, _ = load_service(cfg)
    assert again.reward(d.event_id, 1.0) == "joined"
    again.close()
    cfg.write_text('reward_wait = 1.0\ncolour = "red"\n[policy]\nclass = "UCB1"\nn_arms = 2\n')
    with pytest.raises(InvalidParameterError, match="colour"):
        load_service(cfg)
    cfg.write_text('reward_wait = 1.0\n[policy]\nclass = "GPUCB"\n')
    with pytest.raises(InvalidParameterError, match="class"):
        load_service(cfg)


def _fetch(req):
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_regretless_serve_end_to_end_flushes_on_shutdown(tmp_path):
    pytest.importorskip("uvicorn")
    cfg = tmp_path / "svc.toml"
    cfg.write_text(
        'reward_wait = 60.0\ndurability = "none"\narms = ["x", "y", "z"]\n'
        '[policy]\nclass = "ThompsonSampling"\nseed = 1\n'
    )
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(regretless.__file__)))
    server = subprocess.Popen(
        [sys.executable, "-m", "regretless", "serve", str(cfg), "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                _fetch(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        ids = []
        for i in range(20):
            req = urllib.request.Request(
                base + "/decide", data=json.dumps({"event_id": f"h{i}"}).encode(), method="POST"
            )
            ids.append(json.loads(_fetch(req))["event_id"])
        req = urllib.request.Request(base + "/reward", data=b"{bad", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            _fetch(req)
        assert e.value.code == 400
        e.value.close()
        for eid in ids[:5]:
            req = urllib.request.Request(
                base + "/reward",
                data=json.dumps({"event_id": eid, "value": 1.0}).encode(),
                method="POST",
            )
            assert json.loads(_fetch(req)) == {"status": "joined"}
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (recent versions).
    assert server.returncode in (0, -signal.SIGTERM), err
    assert b"Traceback" not in err, err
    # durability="none", yet every record is in the log: the shutdown flushed it.
    records = list(ev.read_records(str(tmp_path / "svc-log")))
    assert sum(r.kind == ev.DECISION for r in records) == 20
    assert sum(r.kind == ev.REWARD for r in records) == 5
    back = DecisionService.recover(tmp_path / "svc-log")
    assert back.stats()["joined"] == 5 and back.policy.n_updates == 5
    back.close()
    assert np.isclose(sum(back.policy.counts()), 5)
