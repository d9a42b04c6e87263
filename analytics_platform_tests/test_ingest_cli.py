import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .factories import event, events, produce

ROOT = Path(__file__).resolve().parents[1]


def environment(settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        **extra,
    }


def cli(settings, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analytics_platform.cli", *args],
        cwd=ROOT,
        env=environment(settings, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_run_and_status_report_rows_and_lag(settings):
    produce(settings, "transactions", events("transactions", 40))
    run = cli(settings, "ingest", "run", "--topic", "transactions")
    assert run.returncode == 0, run.stderr
    assert f"{settings.kafka_topic_prefix}transactions: 40 messages -> 40 rows" in run.stdout
    status = cli(settings, "ingest", "status")
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.endswith("ok") and "transactions" in x)
    assert line.split()[-2] == "0"


def test_unknown_topic_is_a_usage_error_listing_the_topics(settings):
    result = cli(settings, "ingest", "run", "--topic", "payments")
    assert result.returncode == 2
    assert "unknown topic 'payments'; use one of transactions, wallet-balances" in result.stderr


def test_dead_letters_are_listed_and_replayed_once_the_contract_accepts_them(settings, conn):
    old = event("transactions", datetime(2023, 6, 1, 12, tzinfo=UTC))
    produce(settings, "transactions", [old, b"{broken"])
    assert cli(settings, "ingest", "run").returncode == 0
    listing = cli(settings, "dead-letters", "list")
    assert "is before the accepted range" in listing.stdout
    assert "invalid JSON" in listing.stdout
    assert "2 dead letter(s) shown" in listing.stdout

    # The "fix": the accepted range now starts earlier, so the old event is valid.
    replay = cli(settings, "dead-letters", "replay", PARTITIONS_START_DATE="2023-01-01")
    assert replay.returncode == 0, replay.stderr
    assert "2 examined, 1 replayed, 0 already present, 1 still failing" in replay.stdout
    assert conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0] == 1
    again = cli(settings, "dead-letters", "replay", PARTITIONS_START_DATE="2023-01-01")
    assert "1 examined, 0 replayed" in again.stdout
    pending = cli(settings, "dead-letters", "list")
    assert "1 dead letter(s) shown" in pending.stdout


def test_acknowledge_gap_without_a_gap_says_so(settings):
    result = cli(
        settings, "ingest", "acknowledge-gap", "--topic", "transactions", "--partition", "0"
    )
    assert result.returncode == 2
    assert "no unacknowledged gap" in result.stderr


@pytest.mark.slow
def test_killed_ingest_process_resumes_without_loss_or_duplicates(settings, conn):
    produced = events("transactions", 30_000, step=timedelta(seconds=1))
    produce(settings, "transactions", produced)
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics_platform.cli", "ingest", "run", "--topic",
         "transactions"],
        cwd=ROOT,
        env=environment(settings, INGEST_BATCH_SIZE="500"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (stored,) = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM ingest.offsets"
        ).fetchone()
        if stored > 0:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    partial = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
    assert 0 < partial < 30_000, "the kill must land mid-ingestion"

    resumed = cli(settings, "ingest", "run", "--topic", "transactions")
    assert resumed.returncode == 0, resumed.stderr
    total, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM raw.transactions"
    ).fetchone()
    assert total == distinct == 30_000


def test_ingest_status_json_and_exit_code_say_whether_every_topic_is_caught_up(settings, kafka):
    import json

    from analytics_platform.resources.kafka import topic_name

    caught_up = cli(settings, "ingest", "status", "--json")
    assert caught_up.returncode == 0, caught_up.stderr
    assert json.loads(caught_up.stdout)["ok"] is True

    produce(settings, "transactions", events("transactions", 30))
    behind = cli(settings, "ingest", "status", "--json")
    assert behind.returncode == 1, behind.stderr
    [transactions] = [t for t in json.loads(behind.stdout)["topics"] if t["lag"]]
    assert (transactions["state"], transactions["lag"]) == ("behind", 30)

    # Kafka drops the head of a partition nobody has read yet: a gap, and blocked.
    topic = topic_name(settings, "wallet-balances")
    produce(settings, "wallet-balances", events("wallet-balances", 20))
    partition = -1
    for p in range(4):
        try:
            kafka.delete_records(topic, p, 1)
            partition = p
            break
        except Exception:  # an empty partition has nothing to delete
            continue
    blocked = cli(settings, "ingest", "status", "--json")
    assert blocked.returncode == 3, blocked.stderr
    status = json.loads(blocked.stdout)
    [wallets] = [t for t in status["topics"] if t["topic"] == topic]
    assert wallets["state"] == "blocked" and "acknowledge-gap" in wallets["error"]
    assert [(g["topic"], g["partition"], g["lost_from"], g["lost_to"]) for g in status["gaps"]] == [
        (topic, partition, 0, 1)
    ]

    # `ingest run` still ingests every other topic, and says which one failed.
    run = cli(settings, "ingest", "run")
    assert run.returncode == 3
    assert f"{settings.kafka_topic_prefix}transactions: 30 messages -> 30 rows" in run.stdout
    assert "wallet-balances: error:" in run.stderr and "Traceback" not in run.stderr
    table = cli(settings, "ingest", "status")
    assert table.returncode == 3
    assert "blocked:" in table.stdout and "failing" not in table.stdout


def test_ingest_status_reports_raw_months_kept_past_retention_because_unarchived(settings):
    from zoneinfo import ZoneInfo

    from analytics_platform.dev.generator import GeneratorConfig
    from analytics_platform.dev.raw_rows import load_generated_rows

    config = GeneratorConfig(
        seed=16, days=3, events_per_day=50, start=datetime(2024, 1, 10, tzinfo=UTC)
    )
    load_generated_rows(
        settings.database_url,
        config,
        datetime(2024, 2, 1, tzinfo=UTC),
        ZoneInfo("UTC"),
        ("transactions",),
    )
    status = cli(settings, "ingest", "status", "--json", RAW_RETENTION_DAYS="30")
    held = json.loads(status.stdout)["retention_held"]
    assert any("raw.transactions 2024-01 is past RAW_RETENTION_DAYS=30 but kept" in w for w in held)
    table = cli(settings, "ingest", "status", RAW_RETENTION_DAYS="30")
    assert "retention: raw.transactions 2024-01 is past RAW_RETENTION_DAYS=30" in table.stdout
