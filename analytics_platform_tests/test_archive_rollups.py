"""Rollup runs over a month whose raw rows retention dropped: through Dagster, the way
the UI, a backfill and the rollup automation run them, they read the archived rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import DagsterInstance, RunRequest, build_sensor_context, materialize

from analytics_platform.assets.archive import (
    archive_asset_key,
    archive_assets,
    archive_changed_months,
    raw_retention,
)
from analytics_platform.assets.checks import mart_asset_key
from analytics_platform.assets.rollups import rollup_assets
from analytics_platform.automation.sensors import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    evaluate_rollup_tick,
)
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.rollups.families import MARTS, Grain, mart
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import Settings

from .rollup_reference import RawLoaders, mart_rows, transaction

UTC_ZONE = ZoneInfo("UTC")
JAN_START = datetime(2024, 1, 1, tzinfo=UTC)
FEB_START = datetime(2024, 2, 1, tzinfo=UTC)
# The history runs from Monday 2024-01-29 to 2024-02-03: one week, two months.
WEEK_START = datetime(2024, 1, 29, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)
# What the rollup sensor takes for "now": every hour, day and week of the history has
# closed, and January (the sensor counts every closed bucket without a run as missing).
SENSOR_NOW = WEEK_END + timedelta(minutes=10)
TRANSACTION_MARTS = [m for m in MARTS if m.family.raw_table == "raw.transactions"]
ROLLUP_ASSETS = {a.key: a for a in rollup_assets}
TRANSACTIONS_ARCHIVE = next(
    a for a in archive_assets if archive_asset_key("transactions") in a.keys
)
LATE = transaction(
    datetime(2024, 1, 30, 10, 15, tzinfo=UTC),
    amount=Decimal("123.45"),
    user_id="late-user",
    merchant_id="late-merchant",
    processing_ms=4321,
)


def _window(grain: Grain) -> tuple[datetime, datetime]:
    if grain is Grain.MONTHLY:
        return JAN_START, datetime(2024, 3, 1, tzinfo=UTC)
    return WEEK_START, WEEK_END


def _materialize_from_raw(conn: psycopg.Connection) -> None:
    for m in TRANSACTION_MARTS:
        materialize_window(conn, m, *_window(m.grain), "UTC")


def _marts(conn: psycopg.Connection) -> dict[str, dict]:
    return {m.name: mart_rows(conn, m) for m in TRANSACTION_MARTS}


def _january_raw_rows(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM raw.transactions WHERE occurred_at < %s", (FEB_START,)
    ).fetchone()
    return row[0] if row else 0


def _raw_keys(conn: psycopg.Connection) -> set[tuple]:
    return set(conn.execute("SELECT event_id, occurred_at FROM raw.transactions").fetchall())


def _compress_raw_chunks(conn: psycopg.Connection) -> None:
    """Compress every chunk of raw.transactions where the server compresses (TimescaleDB's
    `timescale` license; its policy would, at a moment no test controls): a DELETE on a
    compressed chunk decompresses first, which once made the restore's clean-up delete
    every row of the chunks it touched. Elsewhere (plain PostgreSQL, `apache`) nothing."""
    compresses = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')"
        " AND current_setting('timescaledb.license', true) = 'timescale'"
    ).fetchone()
    if compresses and compresses[0]:
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true)"
            " FROM show_chunks('raw.transactions') AS c"
        )


@dataclass(frozen=True)
class Marts:
    from_raw: dict[str, dict]
    # With the late event too, computed from raw before the drop.
    with_late_event: dict[str, dict]


@pytest.fixture
def dropped_january(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Marts:
    """A week of transactions rolled up from raw, January archived (through its asset) and
    dropped by retention (through its asset); the marts as raw gave them."""
    config = GeneratorConfig(
        seed=21,
        days=6,
        events_per_day=200,
        start=WEEK_START,
        malformed_fraction=0.0,
    )
    load_generated_rows(settings.database_url, config, SENSOR_NOW, UTC_ZONE, ("transactions",))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARCHIVE_URL", str(tmp_path / "archive"))
    monkeypatch.setenv("RAW_RETENTION_DAYS", "30")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        with conn.transaction(force_rollback=True):
            RawLoaders(UTC_ZONE).insert(conn, "raw.transactions", [LATE])
            _materialize_from_raw(conn)
            with_late_event = _marts(conn)
        _materialize_from_raw(conn)
        from_raw = _marts(conn)
        assert materialize([TRANSACTIONS_ARCHIVE], partition_key="2024-01-01").success
        materialize([raw_retention])  # its check fails for February (never archived)
        assert _january_raw_rows(conn) == 0, "retention dropped January"
    return Marts(from_raw, with_late_event)


def _run_requested(instance: DagsterInstance, request: RunRequest) -> list[bool]:
    """Run what the rollup sensor asked for, as its job would; the checks' outcomes."""
    keys = set(request.asset_selection or ())
    ranges = (ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)
    result = materialize(
        [a for key, a in ROLLUP_ASSETS.items() if key in keys],
        instance=instance,
        partition_key=request.partition_key,
        tags={k: v for k, v in request.tags.items() if k in ranges},
    )
    assert result.success
    return [c.passed for c in result.get_asset_check_evaluations()]


def _automation_until_nothing_due(instance: DagsterInstance) -> list[list[str | None]]:
    """Tick the rollup sensor and run its requests until it asks for nothing; returns the
    partitions (or range starts) requested per tick."""
    ticks = []
    for _ in range(6):
        result = evaluate_rollup_tick(
            build_sensor_context(instance=instance),
            grace=timedelta(minutes=5),
            retry_after=timedelta(minutes=15),
            now=SENSOR_NOW,
        )
        if not result.run_requests:
            return ticks
        ticks.append(
            [
                r.partition_key or r.tags.get(ASSET_PARTITION_RANGE_START_TAG)
                for r in result.run_requests
            ]
        )
        for request in result.run_requests:
            assert all(_run_requested(instance, request)), "every check passes"
    raise AssertionError("the rollup automation did not settle in 6 ticks")


def test_a_rollup_partition_of_a_dropped_month_run_from_dagster_keeps_its_rows_and_checks(
    dropped_january: Marts, settings: Settings
) -> None:
    instance = DagsterInstance.ephemeral()
    hourly = ROLLUP_ASSETS[mart_asset_key(mart("transactions_hourly"))]
    daily = ROLLUP_ASSETS[mart_asset_key(mart("transactions_daily"))]

    # A backfill of the dropped hours as one range run, then one day's partition.
    backfill = materialize(
        [hourly],
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2024-01-29-00:00",
            ASSET_PARTITION_RANGE_END_TAG: "2024-01-31-23:00",
        },
    )
    day = materialize([daily], instance=instance, partition_key="2024-01-30")

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        after = _marts(conn)
        left_in_raw = _january_raw_rows(conn)
    assert after == dropped_january.from_raw
    assert after["transactions_daily"], "the marts had rows to compare"
    assert left_in_raw == 0, "the restored rows are gone again after the runs"
    for result in (backfill, day):
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())
        for event in result.get_asset_materialization_events():
            assert event.materialization.metadata["raw_rows_restored_from_archive"].value > 0


def test_a_late_event_in_a_dropped_month_reruns_its_buckets_from_the_archive_and_the_event(
    dropped_january: Marts, settings: Settings
) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        RawLoaders(UTC_ZONE).insert(conn, "raw.transactions", [LATE])
        _compress_raw_chunks(conn)
        raw_before = _raw_keys(conn)

        ticks = _automation_until_nothing_due(DagsterInstance.ephemeral())

        after = _marts(conn)
        left_in_raw = _january_raw_rows(conn)
        raw_after = _raw_keys(conn)
    # The late event's hour re-runs first, with the day of merchant_breakdown (no hours).
    assert ticks[0] == ["2024-01-30-10:00", "2024-01-30"], "the late event's hour re-runs first"
    assert after == dropped_january.with_late_event
    assert after != dropped_january.from_raw
    assert left_in_raw == 1, "only the late event is left in raw"
    assert raw_after == raw_before, "the restores left every raw row as it was"


def test_late_rows_of_a_dropped_month_are_archived_beside_its_files_after_the_rollups_ran(
    dropped_january: Marts, settings: Settings
) -> None:
    instance = DagsterInstance.ephemeral()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        RawLoaders(UTC_ZONE).insert(conn, "raw.transactions", [LATE])
        _automation_until_nothing_due(instance)
        dropped_files = conn.execute(
            "SELECT path FROM archive.files WHERE raw_dropped_at IS NOT NULL ORDER BY path"
        ).fetchall()

        # The rollup runs' restores left ingestion's record alone: the sensor sees the
        # late row once, and the month's new file holds just it.
        sensed = archive_changed_months(build_sensor_context())
        reasons = {r.partition_key: r.tags["archive/reason"] for r in sensed.run_requests}
        assert reasons["2024-01-01"] == "1 rows ingested since it was archived"
        assert materialize([TRANSACTIONS_ARCHIVE], partition_key="2024-01-01").success
        files = conn.execute(
            "SELECT path, rows, raw_dropped_at IS NOT NULL FROM archive.files"
            " WHERE month = '2024-01-01' ORDER BY path"
        ).fetchall()
        assert [(p,) for p, _, dropped in files if dropped] == dropped_files
        assert [rows for _, rows, dropped in files if not dropped] == [1]

        # Dropped again, the hour re-runs from both archives and gives the same rows.
        materialize([raw_retention])
        assert _january_raw_rows(conn) == 0
        hourly = [
            ROLLUP_ASSETS[mart_asset_key(m)] for m in TRANSACTION_MARTS if m.grain is Grain.HOURLY
        ]
        assert materialize(hourly, instance=instance, partition_key="2024-01-30-10:00").success
        after = _marts(conn)
    assert after == dropped_january.with_late_event
