"""The cold archive: Parquet months, verification, retention that loses nothing, reading
back (DuckDB views, streaming, rollups re-materialized from the archive)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import psycopg
import pytest

from analytics_platform.archive.checksums import file_checksums
from analytics_platform.archive.columns import (
    DECIMAL_SCALE,
    RawColumn,
    UnsupportedColumnError,
    raw_columns,
)
from analytics_platform.archive.due import archive_due, due_months
from analytics_platform.archive.reader import query_archive, stream_archived_transactions
from analytics_platform.archive.restore import rematerialize_from_archive
from analytics_platform.archive.retention import apply_retention, retention_warnings
from analytics_platform.archive.store import LocalArchiveStore
from analytics_platform.archive.verification import verify_month
from analytics_platform.archive.writer import archive_month
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.rollups.families import TRANSACTIONS, WEBHOOKS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import Settings

JANUARY = date(2024, 1, 1)
FEBRUARY = date(2024, 2, 1)
JAN_START = datetime(2024, 1, 1, tzinfo=UTC)
FEB_START = datetime(2024, 2, 1, tzinfo=UTC)
MAR_START = datetime(2024, 3, 1, tzinfo=UTC)
# Both months end more than 30 days before this.
LATER = datetime(2024, 6, 1, tzinfo=UTC)
RETENTION_DAYS = 30
TOPICS_LOADED = ("transactions", "webhook-deliveries")


@pytest.fixture
def history(settings: Settings) -> Settings:
    """Transactions and webhook deliveries from 2024-01-24 to 2024-02-06: two UTC months."""
    config = GeneratorConfig(
        seed=16,
        days=14,
        events_per_day=300,
        start=datetime(2024, 1, 24, tzinfo=UTC),
        malformed_fraction=0.0,
    )
    load_generated_rows(settings.database_url, config, MAR_START, ZoneInfo("UTC"), TOPICS_LOADED)
    return settings


@pytest.fixture
def store(tmp_path: Path) -> LocalArchiveStore:
    return LocalArchiveStore(tmp_path / "archive")


def _raw_transactions(conn: psycopg.Connection, start: datetime, end: datetime) -> list[tuple]:
    return conn.execute(
        "SELECT event_id::text, occurred_at, amount::text, metadata::text, merchant_id"
        " FROM raw.transactions WHERE occurred_at >= %s AND occurred_at < %s"
        " ORDER BY occurred_at, event_id",
        (start, end),
    ).fetchall()


def _mart_rows(conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime) -> list:
    return conn.execute(
        f"SELECT * FROM {mart.table} WHERE bucket_start >= %s AND bucket_start < %s"
        " ORDER BY 1, 2, 3, 4",
        (start, end),
    ).fetchall()


def test_a_month_is_written_as_hive_parquet_with_exact_money_and_utc_instants(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        # Outside 1900-2100 the export takes the numeric path to epoch microseconds
        # (columns.py): a float would be off by a microsecond here.
        far = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)
        conn.execute(
            "UPDATE raw.transactions SET ingested_at = %s WHERE event_id = ("
            " SELECT event_id FROM raw.transactions WHERE occurred_at < %s LIMIT 1)",
            (far, FEB_START),
        )
        result = archive_month(conn, store, "transactions", JANUARY, rows_per_file=2_000)
        raw = _raw_transactions(conn, JAN_START, FEB_START)
        ingested = conn.execute(
            "SELECT ingested_at FROM raw.transactions WHERE occurred_at < %s"
            " ORDER BY occurred_at, event_id",
            (FEB_START,),
        ).fetchall()

    assert result.rows == len(raw) > 2_000
    assert len(result.files) == -(-len(raw) // 2_000)
    for f in result.files:
        assert f.path.startswith("raw-utc/table=transactions/year=2024/month=01/part-")
        assert f.path.endswith(".parquet")
    files = [store.read_location(f.path) for f in result.files]
    assert not list(store.root.rglob(".*.tmp")), "no staging file is left behind"
    with duckdb.connect() as con:
        types = dict(
            con.execute("SELECT name, type FROM parquet_schema($f)", {"f": files[0]}).fetchall()
        )
        metadata = con.execute("SELECT compression FROM parquet_metadata($f)", {"f": files})
        codecs = {r[0] for r in metadata.fetchall()}
    assert types["amount"] == "FIXED_LEN_BYTE_ARRAY"  # DECIMAL(38, 18), not a float
    assert codecs == {"ZSTD"}
    archived = pl.concat([pl.read_parquet(f) for f in files]).sort("occurred_at", "event_id")
    assert archived.schema["amount"] == pl.Decimal(38, 18)
    assert archived.schema["occurred_at"] == pl.Datetime("us", "UTC")
    assert archived["event_id"].to_list() == [r[0] for r in raw]
    assert archived["occurred_at"].to_list() == [r[1] for r in raw]
    assert archived["ingested_at"].to_list() == [r[0] for r in ingested]
    assert far in archived["ingested_at"].to_list()
    # Exact values, with the scale each one had.
    scales = archived["amount__scale"].to_list()
    amounts = archived["amount"].to_list()
    exact = [a.quantize(Decimal(1).scaleb(-s)) for a, s in zip(amounts, scales, strict=True)]
    assert [str(a) for a in exact] == [r[2] for r in raw]
    assert archived["metadata"].to_list() == [r[3] for r in raw]


def test_verification_passes_for_an_unchanged_month_and_fails_once_raw_changes(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        archive_month(conn, store, "transactions", JANUARY)
        assert verify_month(conn, store, "transactions", JANUARY).ok
        conn.execute(
            "UPDATE raw.transactions SET amount = amount + 0.01 WHERE event_id = ("
            " SELECT event_id FROM raw.transactions WHERE occurred_at < %s LIMIT 1)",
            (FEB_START,),
        )
        changed = verify_month(conn, store, "transactions", JANUARY)
        verified_at = conn.execute(
            "SELECT verified_at FROM archive.months WHERE raw_table = 'transactions'"
        ).fetchone()
    assert not changed.ok
    assert "changed since it was archived" in changed.problems[0]
    assert verified_at == (None,)


def test_the_writer_records_both_checksums_and_a_changed_missing_extra_or_miswritten_row_fails(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        result = archive_month(conn, store, "transactions", JANUARY, rows_per_file=2_000)
        columns = raw_columns(conn, "transactions")
        recorded = conn.execute(
            "SELECT count(*), count(checksum), count(raw_checksum), sum(raw_checksum),"
            " min(checksum_version) FROM archive.files"
        ).fetchone()
        # Formula 2's raw side as documented (052_archive_checksum_v2.sql).
        documented = conn.execute(
            "SELECT sum(hash_record_extended(ROW(event_id, occurred_at, user_id,"
            " transaction_id, amount, scale(amount), currency, transaction_type, category,"
            " status, payment_method, retry_count, processing_ms, merchant_id, recipient_id,"
            " failure_reason, metadata, schema_version, kafka_partition, kafka_offset,"
            " ingested_at), 0)) FROM raw.transactions WHERE occurred_at < %s",
            (FEB_START,),
        ).fetchone()
        verification = verify_month(conn, store, "transactions", JANUARY)

        raw_changes = {
            "amount": "UPDATE raw.transactions SET amount = amount + 0.01 WHERE {row}",
            "scale only": "UPDATE raw.transactions SET amount = amount::numeric(30, 6) WHERE {row}",
            "timestamp": "UPDATE raw.transactions SET ingested_at = ingested_at"
            " + interval '1 microsecond' WHERE {row}",
            "text": "UPDATE raw.transactions SET status = status || 'x' WHERE {row}",
            "missing": "DELETE FROM raw.transactions WHERE {row}",
            "extra": "INSERT INTO raw.transactions SELECT gen_random_uuid(), occurred_at,"
            " user_id, transaction_id, amount, currency, transaction_type, category, status,"
            " payment_method, retry_count, processing_ms, merchant_id, recipient_id,"
            " failure_reason, metadata, schema_version, kafka_partition, kafka_offset,"
            " ingested_at FROM raw.transactions WHERE {row}",
        }
        row = (
            "event_id = (SELECT event_id FROM raw.transactions WHERE occurred_at < '2024-02-01'"
            " ORDER BY occurred_at DESC LIMIT 1)"
        )
        raw_verdicts = {}
        for change, statement in raw_changes.items():
            with pytest.raises(_Undo), conn.transaction():
                conn.execute(statement.format(row=row))
                raw_verdicts[change] = verify_month(conn, store, "transactions", JANUARY).ok
                raise _Undo
        assert verify_month(conn, store, "transactions", JANUARY).ok, "raw is back as it was"

        path = store.read_location(result.files[0].path)
        original = pl.read_parquet(path, hive_partitioning=False)
        first = pl.int_range(original.height) == 0
        file_changes = {
            "amount": pl.when(first).then(pl.col("amount") + Decimal("1")).otherwise("amount"),
            "timestamp": pl.when(first)
            .then(pl.col("occurred_at") + timedelta(microseconds=1))
            .otherwise("occurred_at"),
            "scale": pl.when(first)
            .then(pl.lit(7, pl.UInt8))
            .otherwise("amount__scale")
            .alias("amount__scale"),
        }
        file_problems = {}
        for change, column in file_changes.items():
            original.with_columns(column).write_parquet(path, compression="zstd")
            file_problems[change] = verify_month(conn, store, "transactions", JANUARY).problems
        original.write_parquet(path, compression="zstd")
        assert verify_month(conn, store, "transactions", JANUARY).ok, "the file is back"

        # A writer conversion bug: wrong values in every row of a file whose manifest
        # checksum is the wrong file's own, so that only the spot check against raw sees it.
        target = result.files[-1]
        target_path = store.read_location(target.path)
        written = pl.read_parquet(target_path, hive_partitioning=False)
        wrong_writers = {
            "amount": pl.lit(DECIMAL_SCALE, pl.UInt8).alias("amount__scale"),
            "ingested_at": pl.col("ingested_at") + timedelta(microseconds=1),
            "metadata": pl.col("metadata").str.replace_all(": ", ":"),
            "occurred_at": pl.col("occurred_at").dt.truncate("1s"),
            "event_id": pl.col("event_id").str.to_uppercase(),
        }
        miswritten = {}
        for column, conversion in wrong_writers.items():
            written.with_columns(conversion).write_parquet(target_path, compression="zstd")
            with duckdb.connect() as con:
                _, own_checksum = file_checksums(con, [target_path], columns)[target_path]
            _record_checksum(conn, target.path, own_checksum)
            miswritten[column] = verify_month(conn, store, "transactions", JANUARY).problems
        written.write_parquet(target_path, compression="zstd")
        _record_checksum(conn, target.path, target.checksum or 0)
        assert verify_month(conn, store, "transactions", JANUARY).ok, "the right file is back"

        damaged = Path(store.read_location(result.files[1].path))
        damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
        unreadable = verify_month(conn, store, "transactions", JANUARY)

    assert recorded is not None and documented is not None
    assert recorded[:3] == (len(result.files),) * 3 and recorded[4] == 2
    assert recorded[3] == documented[0] == verification.raw.checksum != 0
    assert verification.ok and verification.archived_rows == result.rows
    assert raw_verdicts == dict.fromkeys(raw_changes, False)
    for change, problems in file_problems.items():
        assert {p.split(":")[0] for p in problems} == {result.files[0].path}, change
        assert "holds rows with checksum" in problems[0], change
        # The spot check compared the changed first row with raw and names the column.
        column = "occurred_at" if change == "timestamp" else "amount"
        assert f"differs from raw.transactions in column {column}:" in problems[1], change
    for column, problems in miswritten.items():
        assert problems, f"a file with a wrong {column} passed verification"
        assert {p.split(":")[0] for p in problems} == {target.path}, column
        assert not any("checksum" in p for p in problems), column
        assert f"differs from raw.transactions in column {column}:" in problems[0], column
    assert f"{result.files[1].path}: cannot be read" in unreadable.problems[0]


def _record_checksum(conn: psycopg.Connection, path: str, checksum: int) -> None:
    conn.execute(
        "UPDATE archive.files SET checksum = %s WHERE path = %s", (Decimal(checksum), path)
    )


class _Undo(Exception):
    """Rolls a test's change back."""


def test_a_month_archived_with_checksum_formula_1_still_verifies_and_is_dropped(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        first = archive_month(conn, store, "transactions", JANUARY, rows_per_file=2_000)
        # What a writer before migration 052 left: the same files, no checksum yet.
        conn.execute(
            "UPDATE archive.files SET checksum_version = 1, checksum = NULL, raw_checksum = NULL"
        )
        verification = verify_month(conn, store, "transactions", JANUARY)
        recorded = conn.execute("SELECT sum(checksum) FROM archive.files").fetchone()
        # Formula 1's row hash as documented (docs/archive.md), one NULL test per column:
        # the cheaper SQL the archive runs must give the very same number.
        columns = raw_columns(conn, "transactions")
        fields = ", ".join(f"coalesce('=' || {_documented_text(c)}, '~')" for c in columns)
        documented = conn.execute(
            f"SELECT sum(('x' || left(md5(concat_ws(chr(31), {fields})), 15))::bit(60)::int8)"
            " FROM raw.transactions WHERE occurred_at < %s",
            (FEB_START,),
        ).fetchone()
        with pytest.raises(_Undo), conn.transaction():
            conn.execute(
                "UPDATE raw.transactions SET amount = amount + 0.01 WHERE event_id = ("
                " SELECT event_id FROM raw.transactions WHERE occurred_at < %s LIMIT 1)",
                (FEB_START,),
            )
            changed = verify_month(conn, store, "transactions", JANUARY)
            raise _Undo
        assert verify_month(conn, store, "transactions", JANUARY).ok
        dropped = apply_retention(conn, "transactions", LATER, RETENTION_DAYS).dropped_months

        # Late rows: archived with formula 2 beside the formula 1 file, both verified.
        _load_late_january_transactions(history.database_url)
        archive_month(conn, store, "transactions", JANUARY)
        mixed = verify_month(conn, store, "transactions", JANUARY)
        versions = conn.execute(
            "SELECT checksum_version, raw_dropped_at IS NULL, count(*) FROM archive.files"
            " GROUP BY 1, 2 ORDER BY 1"
        ).fetchall()
        again = apply_retention(conn, "transactions", LATER, RETENTION_DAYS).dropped_months

    assert verification.ok
    assert recorded is not None and documented is not None
    assert recorded[0] == verification.raw.checksum == documented[0] != 0
    assert not changed.ok and "changed since it was archived" in changed.problems[0]
    assert dropped == (JANUARY,)
    assert mixed.ok, mixed.problems
    assert versions == [(1, False, len(first.files)), (2, True, 1)]
    assert again == (JANUARY,)


def _documented_text(column: RawColumn) -> str:
    name = f'"{column.name}"'
    if column.is_time:
        return f"(extract(epoch FROM {name}) * 1000000)::int8::text"
    if column.is_numeric:
        return f"{name}::numeric(38, 18)::text || '/' || scale({name})"
    return f"{name}::text"


def test_retention_drops_a_month_only_after_its_archive_is_verified_and_keeps_an_unarchived_one(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        january_rows = len(_raw_transactions(conn, JAN_START, FEB_START))
        february_rows = len(_raw_transactions(conn, FEB_START, MAR_START))

        # Past retention, archived but not yet verified: kept.
        archive_month(conn, store, "transactions", JANUARY)
        conn.execute("UPDATE archive.months SET verified_at = NULL")
        unverified = apply_retention(conn, "transactions", LATER, RETENTION_DAYS)
        assert unverified.dropped_months == ()
        assert "not verified" in unverified.held[0].reason
        assert len(_raw_transactions(conn, JAN_START, FEB_START)) == january_rows

        # Verified: January goes; February, never archived, stays and is reported.
        assert verify_month(conn, store, "transactions", JANUARY).ok
        result = apply_retention(conn, "transactions", LATER, RETENTION_DAYS)
        assert result.dropped_months == (JANUARY,)
        assert [(h.month, h.reason.split(" (")[0]) for h in result.held] == [
            (FEBRUARY, "it has not been archived")
        ]
        assert _raw_transactions(conn, JAN_START, FEB_START) == []
        assert len(_raw_transactions(conn, FEB_START, MAR_START)) == february_rows
        warnings = retention_warnings(conn, LATER, RETENTION_DAYS)
        assert "raw.transactions 2024-02 is past RAW_RETENTION_DAYS=30 but kept" in warnings[0]

        # The dropped month is still all there, in the archive.
        streamed = sum(
            f.height for f in stream_archived_transactions(conn, store, JAN_START, FEB_START)
        )
        assert streamed == january_rows


def test_retention_keeps_a_verified_month_that_changed_before_the_drop(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        archive_month(conn, store, "transactions", JANUARY)
        assert verify_month(conn, store, "transactions", JANUARY).ok
        # A change that ingestion did not record (so only the final checksum can see it).
        conn.execute(
            "DELETE FROM raw.transactions WHERE event_id = ("
            " SELECT event_id FROM raw.transactions WHERE occurred_at < %s LIMIT 1)",
            (FEB_START,),
        )
        result = apply_retention(conn, "transactions", LATER, RETENTION_DAYS)
        assert result.dropped_months == ()
        assert "no longer equals its verified archive" in result.held[0].reason
        assert _raw_transactions(conn, JAN_START, FEB_START) != []


def test_late_rows_in_a_dropped_month_are_archived_beside_its_files_and_dropped_again(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        first = archive_month(conn, store, "transactions", JANUARY)
        verify_month(conn, store, "transactions", JANUARY)
        apply_retention(conn, "transactions", LATER, RETENTION_DAYS)
        due = [(d.table, d.month) for d in due_months(conn, LATER, timedelta(0))]
        assert ("transactions", JANUARY) not in due

        _load_late_january_transactions(history.database_url)
        late_rows = len(_raw_transactions(conn, JAN_START, FEB_START))
        due = [d for d in due_months(conn, LATER, timedelta(0)) if d.table == "transactions"]
        assert (due[0].month, due[0].reason) == (
            JANUARY,
            f"{late_rows} rows ingested since it was archived",
        )

        second = archive_month(conn, store, "transactions", JANUARY)
        assert late_rows > 0 and second.rows == late_rows and second.replaced == ()
        assert verify_month(conn, store, "transactions", JANUARY).ok
        assert apply_retention(conn, "transactions", LATER, RETENTION_DAYS).dropped_months == (
            JANUARY,
        )
        archived = query_archive(
            conn, store, "SELECT count(*) FROM transactions WHERE occurred_at < '2024-02-01'"
        )
    assert archived.rows == [(first.rows + late_rows,)]


@pytest.mark.parametrize("family", [TRANSACTIONS, WEBHOOKS], ids=lambda f: f.name)
def test_a_rollup_month_rematerialized_from_the_archive_equals_the_one_from_raw(
    history: Settings, store: LocalArchiveStore, family
) -> None:
    marts = [Mart(family, Grain.MONTHLY), Mart(family, Grain.DAILY)]
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        from_raw = {}
        for mart in marts:
            materialize_window(conn, mart, JAN_START, FEB_START, "UTC")
            from_raw[mart] = _mart_rows(conn, mart, JAN_START, FEB_START)
        table = family.raw_table.removeprefix("raw.")
        archive_month(conn, store, table, JANUARY)
        assert verify_month(conn, store, table, JANUARY).ok
        assert apply_retention(conn, table, LATER, RETENTION_DAYS).dropped_months == (JANUARY,)

        for mart in marts:
            _, restored = rematerialize_from_archive(conn, store, mart, JAN_START, FEB_START, "UTC")
            assert restored > 0
            assert _mart_rows(conn, mart, JAN_START, FEB_START) == from_raw[mart]
        leftover = conn.execute(
            f"SELECT count(*) FROM {family.raw_table} WHERE occurred_at < %s",
            (FEB_START,),
        ).fetchone()
    assert from_raw[marts[0]], "the month had mart rows to compare"
    assert leftover == (0,), "the restored rows are gone again after the run"


def test_archive_due_archives_and_verifies_every_ended_month_once(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        done = archive_due(conn, store, LATER)
        again = archive_due(conn, store, LATER)
        by_month = query_archive(
            conn,
            store,
            "SELECT strftime(occurred_at, '%Y-%m') AS month, currency, status, sum(amount),"
            " count(*) FROM transactions GROUP BY ALL ORDER BY ALL",
        )
        raw = conn.execute(
            "SELECT to_char(occurred_at, 'YYYY-MM'), currency, status, sum(amount), count(*)"
            " FROM raw.transactions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
    assert {(r.table, r.month) for r, _ in done} == {
        (t, m) for t in ("transactions", "webhook_deliveries") for m in (JANUARY, FEBRUARY)
    }
    assert all(v.ok for _, v in done)
    assert again == []
    assert by_month.rows == raw


def test_a_month_with_money_finer_than_the_archive_keeps_is_refused_and_leaves_nothing(
    history: Settings, store: LocalArchiveStore
) -> None:
    with psycopg.connect(history.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE raw.transactions SET amount = 1.0000000000000000001 WHERE event_id = ("
            " SELECT event_id FROM raw.transactions WHERE occurred_at < %s"
            " ORDER BY occurred_at DESC LIMIT 1)",
            (FEB_START,),
        )
        with pytest.raises(UnsupportedColumnError, match="more than 18 fractional digits"):
            archive_month(conn, store, "transactions", JANUARY, rows_per_file=1_000)
        recorded = conn.execute("SELECT count(*) FROM archive.files").fetchone()
    assert recorded == (0,)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def _load_late_january_transactions(database_url: str) -> None:
    """Fifty transactions of 25 January that arrive after the month was archived."""
    late = GeneratorConfig(
        seed=99,
        days=1,
        events_per_day=50,
        start=datetime(2024, 1, 25, tzinfo=UTC),
        malformed_fraction=0.0,
    )
    load_generated_rows(database_url, late, FEB_START, ZoneInfo("UTC"), topics=("transactions",))
