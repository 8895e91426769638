"""`regretless serve` under load on loopback: requests/s and latency percentiles at
constant request rates (issue 16).

Starts ``regretless serve`` on a temporary config, finds the saturating rate with a closed
loop (``--connections`` keep-alive connections sending back to back), then drives an open
loop at 50% and 90% of it: requests are *scheduled* at a constant rate and each latency is
measured from its scheduled send time, so a stalled server is charged for the requests
that queued behind it (no coordinated omission, as with wrk2). Each request is a
``POST /decide`` followed, for half of them, by ``POST /reward``.

    python benches/serve_load.py                       # 5 s per phase
    python benches/serve_load.py --seconds 20 --durability commit --out results/serve.json

The client runs in this process (asyncio, raw HTTP/1.1): on a 2-core machine it shares the
CPU with the server, so quote ratios between phases of one run, not absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def one_request(conn: Connection, i: int, tag: str) -> None:
    status, body = await conn.post("/decide", {"event_id": f"{tag}-{i}"})
    assert status == 200, body
    if i % 2 == 0:
        status, body = await conn.post("/reward", {"event_id": f"{tag}-{i}", "value": 1.0})
        assert status == 200, body


async def closed_loop(port: int, connections: int, seconds: float) -> float:
    conns = [await Connection.open(port) for _ in range(connections)]
    done = 0
    stop = time.perf_counter() + seconds

    async def run(c: Connection, k: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < stop:
            await one_request(c, i * connections + k, "sat")
            i += 1
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c, k) for k, c in enumerate(conns)))
    dt = time.perf_counter() - t0
    for c in conns:
        c.close()
    return done / dt


async def open_loop(port: int, rate: float, seconds: float, connections: int, tag: str) -> dict:
    """Requests scheduled every 1/rate s; latency counted from the scheduled time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    n = int(rate * seconds)
    start = time.perf_counter() + 0.1

    async def fire(i: int) -> None:
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        try:
            await one_request(conn, i, tag)
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(fire(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    lat = np.asarray(latencies) * 1e3
    return {
        "target_rate": rate,
        "achieved_rate": n / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--durability", default="batch", choices=("none", "batch", "commit"))
    parser.add_argument("--policy", default="EpsilonGreedy", help="multi-armed policy class")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "svc.toml")
        with open(cfg, "w") as f:
            f.write(
                f'reward_wait = 60.0\ndurability = "{args.durability}"\n'
                f'arms = ["a", "b", "c", "d"]\n[policy]\nclass = "{args.policy}"\nseed = 1\n'
            )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "regretless", "serve", cfg, "--port", str(port)]
        )
        try:
            for _ in range(400):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            saturating = asyncio.run(closed_loop(port, args.connections, args.seconds))
            results = {"durability": args.durability, "saturating_rate": saturating}
            for share in (0.5, 0.9):
                results[f"at_{int(share * 100)}pct"] = asyncio.run(
                    open_loop(port, share * saturating, args.seconds, args.connections, f"o{share}")
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
