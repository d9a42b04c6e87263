"""Retention that loses nothing: a raw month past RAW_RETENTION_DAYS is dropped only when
its archive is verified and still equal to it.

This is the only retention on every storage (native partitions, TimescaleDB under either
license): it calls `ingest.drop_raw_data_before` (sql/migrations/002), which drops whole
partitions or chunks, for one whole UTC month at a time, oldest first. Since that drops
everything before a cutoff, the first month that may not go holds every later one too.

A month may go when (1) it ended at least RAW_RETENTION_DAYS ago, (2) it was archived
after the last rows ingestion recorded for it, (3) a verification since found every file
and the raw month equal, and (4) under a lock that keeps ingestion out, the raw month
still has that checksum and nothing older is left in the table. A month past retention
that fails any of these is kept and reported (`retention_warnings`, the retention
asset's check), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg
from psycopg import sql

from analytics_platform.archive.checksums import CHECKSUM_VERSION, raw_month_content
from analytics_platform.archive.columns import raw_columns
from analytics_platform.archive.manifest import (
    ArchivedFile,
    lock_table_archive,
    month_files,
    month_params,
)
from analytics_platform.archive.months import month_end, month_start
from analytics_platform.ingestion.raw_storage import drop_raw_data_before, raw_table_names
from analytics_platform.resources.warehouse import read_sql


@dataclass(frozen=True)
class MonthRecord:
    """What ingestion and the archive know of one month of a raw table."""

    month: date
    source_rows: int
    archived_at: datetime | None
    archived_source_rows: int | None
    verified_at: datetime | None
    raw_dropped_at: datetime | None

    @property
    def dropped(self) -> bool:
        """Dropped, and nothing ingested into it since."""
        return self.raw_dropped_at is not None and self.archived_source_rows == self.source_rows


@dataclass(frozen=True)
class HeldMonth:
    table: str
    month: date
    reason: str

    def warning(self, retention_days: int) -> str:
        return (
            f"raw.{self.table} {self.month:%Y-%m} is past RAW_RETENTION_DAYS={retention_days} "
            f"but kept: {self.reason}"
        )


@dataclass(frozen=True)
class RetentionResult:
    table: str
    cutoff: datetime | None
    dropped_months: tuple[date, ...]
    dropped_relations: tuple[str, ...]
    held: tuple[HeldMonth, ...]


def retention_cutoff(now: datetime, retention_days: int) -> datetime | None:
    """Raw rows before this instant are past retention (None: RAW_RETENTION_DAYS=0 keeps all)."""
    return None if retention_days == 0 else now - timedelta(days=retention_days)


def month_records(conn: psycopg.Connection, table: str) -> list[MonthRecord]:
    """The months ingestion recorded rows in, oldest first, with their archive state."""
    rows = conn.execute(
        read_sql("archive/months_with_raw_data.sql"),
        {"raw_table": table, "qualified_table": f"raw.{table}"},
    )
    return [MonthRecord(*row) for row in rows.fetchall()]


def hold_reason(record: MonthRecord) -> str | None:
    """Why the archive does not (yet) allow dropping the month; None when it does."""
    if record.archived_at is None:
        return "it has not been archived (materialize its archive/raw_<table> partition)"
    assert record.archived_source_rows is not None
    if record.archived_source_rows != record.source_rows:
        return (
            f"{record.source_rows - record.archived_source_rows} rows arrived after it was "
            "archived (the archive sensor archives it again)"
        )
    if record.verified_at is None:
        return "its archive is not verified (see the archive/raw_<table> verified check)"
    return None


def past_retention(records: list[MonthRecord], cutoff: datetime) -> list[MonthRecord]:
    return [r for r in records if month_end(r.month) <= cutoff and not r.dropped]


def retention_warnings(conn: psycopg.Connection, now: datetime, retention_days: int) -> list[str]:
    """One line per raw month past retention that retention may not drop, and why.

    Cheap (no table scans): for `ingest status` and the retention check. A month that
    may go but has not yet (retention has not run since) is no warning.
    """
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return []
    warnings = []
    for table in raw_table_names():
        for held in _held(table, past_retention(month_records(conn, table), cutoff)):
            warnings.append(held.warning(retention_days))
    return warnings


def _held(table: str, records: list[MonthRecord]) -> list[HeldMonth]:
    held: list[HeldMonth] = []
    for record in records:
        reason = hold_reason(record)
        if reason is None and held:
            reason = f"an older month ({held[0].month:%Y-%m}) is kept, and drops go oldest first"
        if reason is not None:
            held.append(HeldMonth(table, record.month, reason))
    return held


def apply_retention(
    conn: psycopg.Connection, table: str, now: datetime, retention_days: int
) -> RetentionResult:
    """Drop the raw months of `table` past retention whose archive allows it (see module)."""
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return RetentionResult(table, None, (), (), ())
    candidates = past_retention(month_records(conn, table), cutoff)
    dropped_months: list[date] = []
    relations: list[str] = []
    for index, record in enumerate(candidates):
        reason = hold_reason(record) or _drop_month(conn, table, record.month, relations)
        if reason is not None:
            held = [HeldMonth(table, record.month, reason)] + [
                HeldMonth(table, r.month, f"an older month ({record.month:%Y-%m}) is kept")
                for r in candidates[index + 1 :]
            ]
            return RetentionResult(
                table, cutoff, tuple(dropped_months), tuple(relations), tuple(held)
            )
        dropped_months.append(record.month)
    return RetentionResult(table, cutoff, tuple(dropped_months), tuple(relations), ())


def _drop_month(
    conn: psycopg.Connection, table: str, month: date, relations: list[str]
) -> str | None:
    """Drop the month in one locked transaction; a reason instead when it must stay."""
    identifier = sql.Identifier("raw", table)
    with conn.transaction():
        lock_table_archive(conn, table)
        conn.execute(sql.SQL(read_sql("archive/lock_raw_table.sql")).format(table=identifier))
        older = conn.execute(
            sql.SQL(read_sql("archive/raw_rows_before.sql")).format(table=identifier),
            {"before": month_start(month)},
        ).fetchone()
        if older and older[0]:
            return (
                f"raw.{table} holds rows before {month:%Y-%m} that ingestion never recorded "
                "(ingest.touched_hours), so they were never archived"
            )
        live = [f for f in month_files(conn, table, month) if f.raw_dropped_at is None]
        # The files of one export share a checksum formula (verification refuses others).
        version = min((f.checksum_version for f in live), default=CHECKSUM_VERSION)
        raw = raw_month_content(conn, table, raw_columns(conn, table), month, version)
        expected = (sum(f.rows for f in live), sum(_raw_side(f) or 0 for f in live))
        # A file without a recorded checksum was never verified (defensive: hold_reason
        # already keeps months that are not verified).
        if (raw.rows, raw.checksum) != expected or any(
            _raw_side(f) is None or f.checksum_version != version for f in live
        ):
            return (
                f"the raw month ({raw.rows} rows) no longer equals its verified archive "
                f"({expected[0]} rows); it is archived again when ingestion records the change"
            )
        relations.extend(drop_raw_data_before(conn, table, month_end(month)))
        conn.execute(read_sql("archive/mark_dropped.sql"), month_params(table, month))
    return None


def _raw_side(f: ArchivedFile) -> int | None:
    """The file's checksum comparable with the raw month's (in its formula)."""
    return f.raw_checksum if f.checksum_version == 2 else f.checksum
