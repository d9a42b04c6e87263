"""End to end through the real Dagster daemon: sensor ticks, a queued catch-up run, then
inline ingestion, with Dagster's storage in PostgreSQL as in production."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

# What the UI's "View logs" button of a tick reads (dagster-graphql calls it too).
from dagster._core.definitions.instigation_logger import get_instigation_log_records
from dagster._core.scheduler.instigation import InstigatorTick, TickStatus

from analytics_platform.ingestion.jobs import TOPIC_TAG

from .factories import events, produce

ROOT = Path(__file__).resolve().parents[1]
SENSOR = "ingest_transactions"


def wait_for_count(url: str, expected: int, timeout: float, daemon: subprocess.Popen) -> int:
    deadline = time.monotonic() + timeout
    found = -1
    while time.monotonic() < deadline and daemon.poll() is None:
        with psycopg.connect(url) as conn:
            found = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
        if found >= expected:
            return found
        time.sleep(0.5)
    return found


def finished_ticks(instance: DagsterInstance) -> list[InstigatorTick]:
    """The sensor's ended ticks as the UI's tick history lists them, newest first."""
    [state] = [s for s in instance.all_instigator_state() if s.instigator_name == SENSOR]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return [t for t in ticks if t.status != TickStatus.STARTED]


def inline_rows(ticks: list[InstigatorTick]) -> int:
    summaries = [json.loads(t.cursor) for t in ticks if t.cursor]
    return sum(s["rows"] for s in summaries if s["outcome"] == "ingested")


def wait_for_inline_rows(
    instance: DagsterInstance, expected: int, timeout: float, daemon: subprocess.Popen
) -> list[InstigatorTick]:
    """Until ended ticks account for `expected` inline rows: the tick that wrote the last
    row may still be following the topic when the rows become visible."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and daemon.poll() is None:
        ticks = finished_ticks(instance)
        if inline_rows(ticks) >= expected:
            return ticks
        time.sleep(0.5)
    return finished_ticks(instance)


@pytest.mark.slow
def test_daemon_ticks_launch_a_catch_up_run_then_ingest_inline_and_say_what_they_did(
    settings, postgres_cluster, tmp_path, monkeypatch
):
    dagster_db = postgres_cluster.create_database()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    # dagster.yaml reads the storage URL from the environment, here as in the daemon.
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_db)
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "INGEST_CATCHUP_THRESHOLD": "1000",
        "INGEST_TICK_BUDGET_SECONDS": "10",
    }
    produce(settings, "transactions", events("transactions", 3000))
    log_path = tmp_path / "daemon.log"
    log = log_path.open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    instance = None
    try:
        # The catch-up run is a new process importing the code: minutes on a loaded host.
        caught_up = wait_for_count(settings.database_url, 3000, 300, daemon)
        assert caught_up == 3000, log_path.read_text()[-4000:]
        # The daemon has created Dagster's schema by now: safe to open a second instance.
        instance = DagsterInstance.from_config(str(home))
        produce(settings, "transactions", events("transactions", 150))
        assert wait_for_count(settings.database_url, 3150, 60, daemon) == 3150
        ticks = wait_for_inline_rows(instance, 150, 30, daemon)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()

    try:
        assert instance is not None
        runs = instance.get_run_records(RunsFilter(tags={TOPIC_TAG: "transactions"}))
        assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS]
        partitions = instance.get_materialized_partitions(AssetKey(["raw", "transactions"]))
        assert partitions

        # Every tick says what it did. The catch-up tick requested the one run...
        [requested] = [t for t in ticks if t.status == TickStatus.SUCCESS]
        assert requested.run_ids == [runs[0].dagster_run.run_id]
        summary = json.loads(requested.cursor)
        assert (summary["outcome"], summary["lag"]) == ("catch_up_requested", 3000)
        # ...and ticks without a run request (SKIPPED in the UI) carry their outcome as
        # the skip reason, a cursor and a log line.
        skipped = [t for t in ticks if t.status == TickStatus.SKIPPED]
        assert skipped and all(t.skip_reason and t.cursor for t in skipped)
        ingested = [t for t in skipped if json.loads(t.cursor)["outcome"] == "ingested"]
        assert inline_rows(ingested) == 150
        for tick in ingested:
            rows = json.loads(tick.cursor)["rows"]
            assert tick.skip_reason.startswith(f"ingested {rows:,} row")
            assert "of raw.transactions from" in tick.skip_reason
            logged = [
                r["dagster_meta"]["orig_message"]
                for r in get_instigation_log_records(instance, tick.log_key)
            ]
            assert logged == [tick.skip_reason]
        outcomes = {json.loads(t.cursor)["outcome"] for t in skipped}
        assert outcomes <= {"ingested", "idle", "catch_up_running"}

        # The cursor a SKIPPED tick returns is stored as the sensor's cursor: the sensor
        # page shows the latest tick's summary.
        [state] = [s for s in instance.all_instigator_state() if s.instigator_name == SENSOR]
        latest = finished_ticks(instance)[0]
        assert latest.status == TickStatus.SKIPPED, latest.tick_data.error
        assert state.instigator_data.cursor == latest.cursor
    finally:
        if instance is not None:
            instance.dispose()
        postgres_cluster.drop_database(dagster_db)
