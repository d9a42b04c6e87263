"""End to end through the real Dagster daemon: sensor ticks, a queued catch-up run, then
inline ingestion, with Dagster's storage in PostgreSQL as in production."""

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

from analytics_platform.ingestion.jobs import TOPIC_TAG

from .factories import events, produce

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.slow
def test_daemon_ticks_launch_a_catch_up_run_then_ingest_inline(
    settings, postgres_cluster, tmp_path
):
    dagster_db = postgres_cluster.create_database()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": dagster_db,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "INGEST_CATCHUP_THRESHOLD": "1000",
        "INGEST_TICK_BUDGET_SECONDS": "10",
    }
    produce(settings, "transactions", events("transactions", 3000))
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        caught_up = wait_for_count(settings.database_url, 3000, 150, daemon)
        assert caught_up == 3000, (tmp_path / "daemon.log").read_text()[-4000:]
        produce(settings, "transactions", events("transactions", 150))
        assert wait_for_count(settings.database_url, 3150, 60, daemon) == 3150
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()

    os.environ["DAGSTER_PG_URL"] = dagster_db
    try:
        instance = DagsterInstance.from_config(str(home))
        runs = instance.get_run_records(RunsFilter(tags={TOPIC_TAG: "transactions"}))
        assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS]
        partitions = instance.get_materialized_partitions(AssetKey(["raw", "transactions"]))
        assert partitions
        instance.dispose()
    finally:
        del os.environ["DAGSTER_PG_URL"]
        postgres_cluster.drop_database(dagster_db)
