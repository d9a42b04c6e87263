"""The newcomer's path: `demo --once` end to end, the full `make demo` with Ctrl-C, and the
pieces they are made of (history window, partition spans, rollups that leave the
automation nothing to race for, the live stream)."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka import Consumer, TopicPartition

from analytics_platform.assets.rollups import PARTITIONS
from analytics_platform.dev.dagster_graphql import FINISHED, backfill_status
from analytics_platform.dev.demo_api import ApiAnswer, has_numbers
from analytics_platform.dev.generator import GeneratorConfig, Simulation, generate_events
from analytics_platform.dev.history import (
    HistoryTooLargeError,
    HistoryWindow,
    check_fits_embedded_kafka,
    history_config,
    history_window,
    ingest_history,
    produce_history,
)
from analytics_platform.dev.history_rollups import compute_spans, partition_spans
from analytics_platform.dev.live_stream import LiveStream, live_events, transactions_per_day
from analytics_platform.events import TOPICS
from analytics_platform.resources.kafka import topic_name
from analytics_platform.rollups.bookkeeping import due_buckets
from analytics_platform.rollups.families import MARTS, Grain

ROOT = Path(__file__).resolve().parents[1]
UTC_ZONE = ZoneInfo("UTC")
# What the demo itself sets; a developer's own values must not leak into its children.
_DEMO_VARIABLES = ("DATABASE_URL", "DAGSTER_PG_URL", "KAFKA_BOOTSTRAP_SERVERS", "DAGSTER_HOME")


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "analytics_platform.cli", "demo", "--no-progress", *args]


def demo_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _DEMO_VARIABLES}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- the history window


def test_history_ends_now_and_partitions_start_on_the_first_of_its_month():
    now = datetime(2026, 3, 5, 14, 37, 12, tzinfo=UTC)
    window = history_window(30, now, UTC_ZONE)
    assert window.end == datetime(2026, 3, 5, 14, 37, tzinfo=UTC)
    assert window.start == datetime(2026, 2, 3, 14, 37, tzinfo=UTC)
    assert window.partitions_start_date.isoformat() == "2026-02-01"


def test_the_week_holding_the_historys_first_day_is_a_partition():
    from dagster import WeeklyPartitionsDefinition

    # Wednesday 1 July: its week starts on Monday 29 June.
    window = history_window(30, datetime(2026, 7, 31, 9, 0, tzinfo=UTC), UTC_ZONE)
    assert window.start.date().isoformat() == "2026-07-01"
    weeks = WeeklyPartitionsDefinition(
        start_date=window.partitions_start_date.isoformat(), day_offset=1
    )
    first_week = weeks.time_window_for_partition_key(weeks.get_first_partition_key())
    assert first_week.start <= window.start
    assert window.partitions_start_date.day == 1


def test_the_history_makes_the_transactions_a_day_it_states():
    # A week from a Monday without paydays: the weekday factors average 1.
    window = history_window(7, datetime(2026, 1, 12, tzinfo=UTC), UTC_ZONE)
    config = history_config(window, transactions_per_day=2_000, seed=42)
    transaction_ids = {
        match.group(1)
        for event in generate_events(config)
        if event.topic == "transactions"
        and (match := re.search(rb'"transaction_id":"([^"]+)"', event.value))
    }
    assert len(transaction_ids) / 7 == pytest.approx(2_000, rel=0.05)


def test_a_history_the_embedded_kafka_would_truncate_is_refused_before_starting():
    check_fits_embedded_kafka(30, 10_000, 64)
    with pytest.raises(HistoryTooLargeError, match=r"at most .* transactions per day"):
        check_fits_embedded_kafka(30, 100_000, 64)


@pytest.mark.parametrize(
    ("grain", "first", "last", "count"),
    [
        # The partial first hour and day are whole partitions (the rest of them is empty);
        # the still-open hour and day are not closed yet.
        (Grain.HOURLY, "2026-02-03-14:00", "2026-03-05-13:00", 720),
        (Grain.DAILY, "2026-02-03", "2026-03-04", 30),
        # Weeks start on Monday: 2026-02-02 holds the first events, 2026-02-23 is the last
        # week closed by Thursday 2026-03-05.
        (Grain.WEEKLY, "2026-02-02", "2026-02-23", 4),
        (Grain.MONTHLY, "2026-02-01", "2026-02-01", 1),
    ],
)
def test_partition_spans_cover_the_closed_partitions_holding_the_history(grain, first, last, count):
    window = history_window(30, datetime(2026, 3, 5, 14, 37, tzinfo=UTC), UTC_ZONE)
    (span,) = [s for s in partition_spans(window.start, window.end, PARTITIONS) if s.grain is grain]
    assert (span.first_key, span.last_key, span.count) == (first, last, count)
    assert span.start <= window.start < span.end <= window.end


def test_a_grain_without_a_closed_partition_has_no_span():
    window = history_window(2, datetime(2026, 3, 5, 14, 37, tzinfo=UTC), UTC_ZONE)
    grains = {s.grain for s in partition_spans(window.start, window.end, PARTITIONS)}
    assert grains == {Grain.HOURLY, Grain.DAILY}


# ---------------------------------------------------------------- history into raw and marts


def test_history_is_ingested_whole_and_rolled_up_leaving_the_automation_nothing_due(settings, conn):
    window = history_window(2, datetime.now(UTC), settings.tz)
    config = GeneratorConfig(seed=3, days=2, events_per_day=300, start=window.start)
    produced = produce_history(settings, Simulation(config), progress=False)
    reports = ingest_history(settings, produced, progress=False)

    for name in TOPICS:
        result = reports[name].result
        # Every message is a row, a dropped duplicate or a dead letter: nothing is lost.
        assert result.rows_inserted + result.duplicates + result.dead_letters == produced[name]
        assert reports[name].remaining == 0
    raw_rows = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
    assert raw_rows == reports["transactions"].result.rows_inserted > 0

    spans = partition_spans(window.start, window.end, PARTITIONS)
    results = compute_spans(settings.database_url, spans, "UTC", progress=False)
    assert len(results) == len([m for m in MARTS if m.grain in {s.grain for s in spans}])
    platform_total = conn.execute(
        "SELECT sum(transaction_count) FROM marts.transactions_hourly "
        "WHERE dimension = 'platform' AND currency = ''"
    ).fetchone()[0]
    hours = {s.grain: s for s in spans}[Grain.HOURLY]
    in_closed_hours = conn.execute(
        "SELECT count(*) FROM raw.transactions WHERE occurred_at < %s", (hours.end,)
    ).fetchone()[0]
    assert platform_total == in_closed_hours
    # The rollup automation compares the same bookkeeping: nothing of the history is left
    # for it to request once the daemon starts.
    for mart in MARTS:
        assert due_buckets(conn, mart, "UTC", window.end) == [], mart.name


# ---------------------------------------------------------------- the live stream


def _consume_all(settings, expected: int, timeout: float = 30.0) -> list:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "t-live"}
    )
    partitions = [
        TopicPartition(topic_name(settings, name), p, 0)
        for name in TOPICS
        for p in range(settings.kafka_topic_partitions)
    ]
    consumer.assign(partitions)
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += [m for m in consumer.consume(1000, timeout=1.0) if m.error() is None]
    consumer.close()
    return messages


def test_live_stream_sends_events_when_their_time_comes_and_stops_promptly(settings):
    # The stream's clock set to a weekday evening, the busiest hours, so the test does
    # not depend on the hour it runs at.
    now = datetime.now(UTC)
    evening = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    offset = evening - now
    history = Simulation(
        GeneratorConfig(seed=11, days=1, events_per_day=100, start=evening - timedelta(days=1))
    )
    for _ in history.run():
        pass
    events = live_events(history, 2.0)
    stream = LiveStream(settings, events, clock=lambda: datetime.now(UTC) + offset)
    assert transactions_per_day(2.0) == 31_418
    stream.start()
    deadline = time.monotonic() + 60
    while sum(stream.produced.values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    started_stopping = time.monotonic()
    stream.stop()
    assert time.monotonic() - started_stopping < 3
    assert stream.error is None
    produced = sum(stream.produced.values())
    assert produced >= 5

    messages = _consume_all(settings, produced)
    assert len(messages) == produced
    latest_allowed = datetime.now(UTC) + offset
    for message in messages:
        occurred = re.search(rb'"occurred_at":"([^"]+)"', message.value())
        if occurred:  # malformed fault events may lack it
            at = datetime.fromisoformat(occurred.group(1).decode())
            # A day's first events may lead into it (a login, a top-up before a payment).
            assert evening - timedelta(hours=1) <= at <= latest_allowed


# ---------------------------------------------------------------- demo --once


def _table(output: str, title: str) -> list[list[str]]:
    """Rows of a summary table: the lines after its title and header, up to a blank."""
    lines = output.split(title, 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _grains_closed(window: HistoryWindow, zone: ZoneInfo) -> set[str]:
    """The grains with a bucket boundary inside the history window (start, end]: a week
    ends on a Monday's midnight, a month on the 1st's."""
    grains = {"hourly", "daily"}
    day = window.start.astimezone(zone).date() + timedelta(days=1)
    while datetime.combine(day, datetime.min.time(), zone) <= window.end:
        if day.weekday() == 0:
            grains.add("weekly")
        if day.day == 1:
            grains.add("monthly")
        day += timedelta(days=1)
    return grains


@pytest.mark.slow
def test_demo_once_produces_ingests_materializes_and_answers_then_exits_zero(tmp_path):
    started = datetime.now(UTC)
    result = subprocess.run(
        demo_command(
            "--once", "--days", "2", "--events-per-day", "400", "--data-dir", str(tmp_path)
        ),
        cwd=ROOT,
        env=demo_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    topics = {row[0]: row[1:] for row in _table(out, "Events per topic")}
    assert set(TOPICS) <= set(topics)
    for name in TOPICS:
        produced, ingested, duplicates, dead, lag, hours = map(_number, topics[name])
        assert produced > 0 and ingested > 0 and hours > 0, name
        assert ingested + duplicates + dead == produced, name
        assert lag == 0, name
    assert sum(_number(topics[n][3]) for n in TOPICS) > 0, "the generator's faults are rejected"

    grains = {row[0]: row for row in _table(out, "Rollup partitions materialized")}
    # Two days close a week or a month only when a Monday or a 1st lies in them.
    zone = ZoneInfo(os.environ.get("REPORTING_TIMEZONE", "UTC"))
    expected = [
        _grains_closed(history_window(2, at, zone), zone) for at in (started, datetime.now(UTC))
    ]
    assert set(grains) in expected
    hourly = grains["hourly"]
    assert _number(hourly[1]) == 6 and _number(hourly[2]) == 6 * 48
    assert "0 failed" in " ".join(grains["daily"])

    # The customer tables of the closed day: every scored user in one RFM segment.
    segments = re.search(r"^customers \(RFM segments on \S+.*\n((?: {4}.+\n)+)", out, re.M)
    assert segments, out[-3000:]
    assert sum(_number(line.split()[-1]) for line in segments[1].splitlines()) > 0
    assert re.search(r"^archive: ", out, re.M)

    answers = re.findall(r"^GET (\S+) -> (\d+)\n +(.*)$", out, re.MULTILINE)
    assert len(answers) == 3, out[-2000:]
    for target, status, excerpt in answers:
        assert status == "200", (target, excerpt)
    revenue = next(e for t, _, e in answers if "revenue" in t)
    assert re.search(r"revenue=\d+\.\d\d", revenue), revenue
    # The embedded services are gone with the command.
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


# ---------------------------------------------------------------- make demo, Ctrl-C


def _process_tree(root: int) -> dict[int, str]:
    """pid -> start time (field 22 of /proc/PID/stat) of `root` and its descendants."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        starts[pid] = fields[19]
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in starts:
            tree[pid] = starts[pid]
            todo += children.get(pid, [])
    return tree


def _alive(pid: int, start: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == start and fields[0] != "Z"


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_make_demo_serves_ui_and_api_then_ctrl_c_leaves_no_process_behind(tmp_path):
    dagster_port, api_port = free_port(), free_port()
    # Two days: the revenue example shows complete days only, and one day of history up to
    # now lies mostly in today late in the day (an empty answer a minute before midnight).
    demo = subprocess.Popen(
        demo_command(
            "--days", "2", "--events-per-day", "300", "--live-rate", "2",
            "--dagster-port", str(dagster_port), "--api-port", str(api_port),
            "--data-dir", str(tmp_path),
        ),
        cwd=ROOT,
        env=demo_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        for line in demo.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and demo.poll() is None:
            if any("Ctrl-C stops everything." in line for line in lines):
                break
            time.sleep(0.5)
        output = "".join(lines)
        assert "Ctrl-C stops everything." in output, output[-4000:]

        dagster_url = re.search(r"^Dagster UI: (\S+)$", output, re.MULTILINE).group(1)
        api_docs = re.search(r"^API docs: (\S+)$", output, re.MULTILINE).group(1)
        key = re.search(r"^API key: (\S+)$", output, re.MULTILINE).group(1)
        backfill = re.search(r"history backfill: \S+/runs/b/(\w+)", output).group(1)
        assert dagster_url == f"http://127.0.0.1:{dagster_port}"
        assert api_docs == f"http://127.0.0.1:{api_port}/docs"

        with urllib.request.urlopen(f"{dagster_url}/server_info", timeout=10) as response:
            assert response.status == 200
        assert backfill_status(dagster_url, backfill) in FINISHED | {"REQUESTED"}
        # The printed curl commands, over real HTTP.
        curls = re.findall(r"^  (curl .*)$", output, re.MULTILINE)
        assert len(curls) == 3
        answers = {}
        for command in curls:
            assert f"X-API-Key: {key}" in command
            url = re.search(r"(http://[^' ]+)'?$", command).group(1)
            request = urllib.request.Request(url, headers={"X-API-Key": key})
            with urllib.request.urlopen(request, timeout=30) as response:
                answers[url] = ApiAnswer(url, response.status, response.read().decode())
        assert all(a.status == 200 for a in answers.values())
        (revenue,) = [a for url, a in answers.items() if "/revenue" in url]
        assert has_numbers(revenue), revenue.body[:500]

        tree = _process_tree(demo.pid)
        postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().split()[0])
        tree[postmaster] = _process_tree(postmaster)[postmaster]
        assert len(tree) >= 6, tree  # the demo, dagster dev and its servers, the API, postgres

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=90) == 0
    finally:
        if demo.poll() is None:
            # A failed assertion above: stop the demo as a user would, so it stops its
            # children (each in a process group of its own, which killpg would orphan).
            left = _process_tree(demo.pid)
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                demo.wait()
    reader.join(5)
    output = "".join(lines)
    assert "stopping the embedded PostgreSQL and Kafka" in output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in tree.items()):
        time.sleep(0.5)
    survivors = [p for p, s in tree.items() if _alive(p, s)]
    assert not survivors, [Path(f"/proc/{p}/cmdline").read_bytes() for p in survivors]
    assert not _port_open(dagster_port) and not _port_open(api_port)


# ---------------------------------------------------------------- child process groups


def test_stopping_a_child_ends_its_whole_group_even_what_ignores_ctrl_c(tmp_path):
    from analytics_platform.dev.child_processes import ChildProcess

    # A leader that ignores SIGINT, with a grandchild that ignores it too.
    script = "trap '' INT; sleep 300 & echo $! > grandchild; wait"
    child = ChildProcess(
        "stubborn", ["bash", "-c", script], log_path=tmp_path / "log", env={}, cwd=tmp_path
    ).start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "grandchild").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int((tmp_path / "grandchild").read_text())
    tree = _process_tree(child.pid)
    assert grandchild in tree

    started = time.monotonic()
    child.stop(grace=0.5)
    assert time.monotonic() - started < 10
    assert not child.running()
    assert not any(_alive(pid, start) for pid, start in tree.items())


# ---------------------------------------------------------------- in-process API requests


def _app_with_lifespan(fail_startup: bool = False):
    from fastapi import FastAPI, Request

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if fail_startup:
            raise RuntimeError("database unreachable")
        yield {"greeting": "opened at startup"}

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello(request: Request, name: str = "world") -> dict:
        return {
            "greeting": request.state.greeting,
            "name": name,
            "key": request.headers.get("x-api-key"),
            "amount": "12.50",
        }

    return app


def test_in_process_requests_run_inside_the_apps_lifespan_with_query_and_headers():
    from analytics_platform.dev.asgi_requests import get_in_process

    (response,) = get_in_process(_app_with_lifespan(), ["/hello?name=ana"], {"X-API-Key": "k1"})
    assert response.status == 200
    answer = ApiAnswer(response.path, response.status, response.text())
    assert answer.excerpt() == "amount=12.50"
    assert has_numbers(answer)
    assert '"greeting":"opened at startup"' in response.text()
    assert '"name":"ana"' in response.text() and '"key":"k1"' in response.text()


def test_a_failing_startup_is_reported_with_its_reason():
    from analytics_platform.dev.asgi_requests import AsgiLifespanError, get_in_process

    with pytest.raises(AsgiLifespanError, match="database unreachable"):
        get_in_process(_app_with_lifespan(fail_startup=True), ["/hello"])


# ---------------------------------------------------------------- Dagster's log


def test_a_rollup_run_logs_at_info_not_a_debug_line_per_event(settings, monkeypatch, capfd):
    import yaml
    from dagster import instance_for_test

    from analytics_platform.definitions import defs

    # The repository's instance settings about logs, on a throwaway instance.
    instance_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    job = defs.resolve_job_def("rollups_hourly")
    tags = {
        "dagster/asset_partition_range_start": "2026-03-04-10:00",
        "dagster/asset_partition_range_end": "2026-03-04-12:00",
    }
    with instance_for_test(overrides={"python_logs": instance_config["python_logs"]}) as instance:
        assert job.execute_in_process(instance=instance, tags=tags).success
    printed = capfd.readouterr().err
    assert " - INFO - " in printed  # each mart says what it wrote
    assert " - DEBUG - " not in printed
