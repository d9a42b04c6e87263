"""Read API under load: /dashboard and /revenue over 90 days of rollups.

Setup: an embedded PostgreSQL in a temporary directory (or a database of its own on the
server DATABASE_URL names), migrated; 90 days of the generator's transactions up to now
(TRANSACTIONS_PER_DAY a day) written by the ingestion loader; the transactions marts of
all four grains materialized by the rollup runner as single range runs (hours up to the
current hour, closed days, weeks and months); an admin API key.

The API runs as `analytics-platform api` (uvicorn with uvloop and httptools, JSON access
logs to a file), with 1 worker process (the default) and then 2; the load generator is a
second process: an asyncio HTTP/1.1 keep-alive client on uvloop, one request in flight
per connection, for DURATION seconds per run after a warm-up. Both share the machine's
cores, as the target says. The requests repeat, as a dashboard's polling does, so after
the first one (reported: it computes from the marts) they are answered from the API's
response cache. Reported per endpoint, worker count and concurrency: requests/s,
p50/p95/p99 latency, and CPU time per request of the API processes and of the load
generator (wall-clock figures are noisy on a shared machine; the CPU ones compare across
runs). The load average at the start is reported too.

Targets (issue 5): /dashboard p95 under 10 ms at concurrency 10, over 1,500 requests/s
at concurrency 50. The seeds promise p95 under 500 ms for dashboard APIs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.api.keys import create_api_key
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.migrations import migrate
from analytics_platform.rollups.families import TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import load_settings

DAYS = 90
TRANSACTIONS_PER_DAY = 2_000
CONCURRENCIES = (10, 50)
DURATION = 8.0
WARMUP = 1.5
# uvicorn worker processes: 1 (API_WORKERS' default) and 2 (one per core).
WORKER_COUNTS = (1, 2)
TZ = "UTC"
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ data
def _day(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def load_transactions(url: str, now: datetime) -> int:
    """90 days of the generator's transactions before `now`, via the ingestion loader."""
    config = GeneratorConfig(
        seed=5,
        days=DAYS,
        events_per_day=TRANSACTIONS_PER_DAY,
        start=_day(now) - timedelta(days=DAYS - 1),
        late_fraction=0.0,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
    )
    loaded = load_generated_rows(url, config, now, ZoneInfo(TZ), ["transactions"], "bench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE raw.transactions")
    return loaded["transactions"]


def materialize(url: str, now: datetime) -> float:
    """The transactions marts of every grain over the history, one range run each."""
    day = _day(now)
    first = day - timedelta(days=DAYS - 1)
    windows = {
        Grain.HOURLY: (first, now.replace(minute=0, second=0, microsecond=0)),
        Grain.DAILY: (first, day),
        Grain.WEEKLY: (
            first - timedelta(days=first.weekday()),
            day - timedelta(days=day.weekday()),
        ),
        Grain.MONTHLY: (first.replace(day=1), day.replace(day=1)),
    }
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for grain, (start, end) in windows.items():
            if end > start:
                materialize_window(conn, Mart(TRANSACTIONS, grain), start, end, TZ)
        conn.execute("ANALYZE")
    return time.perf_counter() - started


# ------------------------------------------------------------------ server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children still alive (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def api_server(url: str, log_path: Path, workers: int) -> Any:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REPORTING_TIMEZONE": TZ,
        "API_WORKERS": str(workers),
        "API_PORT": str(port),
        "API_HOST": "127.0.0.1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics_platform.cli", "api"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health/live", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"API did not start; see {log_path}:\n{log_path.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.2)
            yield port, process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# ------------------------------------------------------------------ load generator
class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight."""

    _LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = self._LENGTH.search(self.buffer, 0, end + 2)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) >= end + 4 + length and self.waiter is not None:
            status = int(self.buffer[9:12])
            del self.buffer[: end + 4 + length]
            waiter, self.waiter = self.waiter, None
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    def request(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


async def _load(
    port: int, payload: bytes, concurrency: int, warmup: float, duration: float, out: Any
) -> dict:
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(concurrency):
        _, protocol = await loop.create_connection(_Connection, "127.0.0.1", port)
        connections.append(protocol)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration
    # Tells the parent to read the server's CPU counters: the measured part starts.
    loop.call_later(warmup, out.send, "measuring")

    async def worker(connection: _Connection) -> None:
        nonlocal errors
        clock = time.perf_counter
        while True:
            sent = clock()
            if sent >= stop:
                return
            status = await connection.request(payload)
            done = clock()
            if sent >= measure_from:
                latencies.append(done - sent)
                if status != 200:
                    errors += 1

    cpu_before: Any = None

    def mark() -> None:
        nonlocal cpu_before
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)

    loop.call_later(warmup, mark)
    await asyncio.gather(*(worker(c) for c in connections))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for c in connections:
        assert c.transport is not None
        c.transport.close()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"latencies": latencies, "errors": errors, "client_cpu": cpu, "seconds": duration}


def _client(port: int, payload: bytes, concurrency: int, out: Any) -> None:
    import uvloop

    out.send(uvloop.run(_load(port, payload, concurrency, WARMUP, DURATION, out)))


def run_load(port: int, server_pid: int, path: str, key: str, concurrency: int) -> dict:
    payload = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    client = context.Process(target=_client, args=(port, payload, concurrency, send))
    client.start()
    send.close()  # the child's copy is the only writer: a crash ends recv() with EOFError
    try:
        receive.recv()  # "measuring"
        server_before = _cpu_seconds(server_pid)
        result = receive.recv()
    except EOFError:
        client.join()
        raise RuntimeError(f"the load generator died (exit code {client.exitcode})") from None
    server_after = _cpu_seconds(server_pid)
    client.join()
    latencies = sorted(result["latencies"])
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1000

    return {
        "rps": n / result["seconds"],
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "errors": result["errors"],
        "server_cpu_us": (server_after - server_before) / n * 1e6 if n else None,
        "client_cpu_us": result["client_cpu"] / n * 1e6 if n else None,
    }


# ------------------------------------------------------------------ benchmark
def _metric(value: float | None, unit: str, target: float | None = None) -> dict:
    return {"value": value, "unit": unit, "target": target}


def _first_request_ms(port: int, path: str, key: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": key})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


def _uncached_ms(port: int, path: str, key: str) -> float:
    """Median latency of requests the cache cannot answer: each asks for another
    presentation zone, which is part of the cache key, so each is computed (warm pool)."""
    zones = [f"Etc/GMT{sign}{hours}" for sign in "+-" for hours in range(1, 12)]
    separator = "&" if "?" in path else "?"
    times = sorted(
        _first_request_ms(port, f"{path}{separator}timezone={quote(zone)}", key) for zone in zones
    )
    return times[len(times) // 2]


def _measure(url: str, tmp: Path) -> dict[str, dict]:
    metrics: dict[str, dict] = {"api_load_avg_1min_at_start": _metric(os.getloadavg()[0], "")}
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = load_transactions(url, now)
    metrics["api_bench_transactions_loaded"] = _metric(rows, "rows")
    metrics["api_bench_load_s"] = _metric(time.perf_counter() - started, "s")
    metrics["api_bench_rollups_s"] = _metric(materialize(url, now), "s")
    with psycopg.connect(url, autocommit=True) as conn:
        key = create_api_key(conn, name="benchmark", scope="admin")
    today = _day(now).date()
    paths = {
        "dashboard": "/api/v1/analytics/dashboard",
        "revenue": (
            f"/api/v1/analytics/revenue?interval=day&start={today - timedelta(days=DAYS)}"
            f"&end={today}&limit=100"
        ),
    }
    for workers in WORKER_COUNTS:
        with api_server(url, tmp / f"api-{workers}.log", workers) as (port, pid):
            for name, path in paths.items():
                first = _first_request_ms(port, path, key)
                metrics[f"api_{name}_w{workers}_first_request_ms"] = _metric(first, "ms")
                uncached = _uncached_ms(port, path, key)
                metrics[f"api_{name}_w{workers}_uncached_median_ms"] = _metric(uncached, "ms")
            for name, path in paths.items():
                for concurrency in CONCURRENCIES:
                    result = run_load(port, pid, path, key, concurrency)
                    _record(metrics, f"api_{name}_w{workers}_c{concurrency}", result)
    return metrics


def _record(metrics: dict, prefix: str, r: dict) -> None:
    dashboard = "_dashboard_" in prefix
    metrics[f"{prefix}_rps"] = _metric(
        r["rps"], "req/s", 1500.0 if dashboard and prefix.endswith("_c50") else None
    )
    metrics[f"{prefix}_p50_ms"] = _metric(r["p50"], "ms")
    metrics[f"{prefix}_p95_ms"] = _metric(
        r["p95"], "ms", 10.0 if dashboard and prefix.endswith("_c10") else 500.0
    )
    metrics[f"{prefix}_p99_ms"] = _metric(r["p99"], "ms")
    metrics[f"{prefix}_non_200"] = _metric(r["errors"], "responses", 0)
    metrics[f"{prefix}_server_cpu_per_req_us"] = _metric(r["server_cpu_us"], "us")
    metrics[f"{prefix}_client_cpu_per_req_us"] = _metric(r["client_cpu_us"], "us")


def run() -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, ExitStack() as stack:
        if server_url := os.environ.get("DATABASE_URL"):
            name = f"bench_api_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = psycopg.conninfo.make_conninfo(server_url, dbname=name)

            def drop() -> None:
                with psycopg.connect(server_url, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )

            stack.callback(drop)
        else:
            server = EmbeddedPostgres(Path(tmp) / "pg", databases=("bench",)).start()
            stack.callback(server.stop)
            url = server.url("bench")
        migrate(load_settings({**os.environ, "DATABASE_URL": url}))
        return _measure(url, Path(tmp))
