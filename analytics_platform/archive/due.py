"""Which months need archiving: ended, with rows ingestion recorded, and never archived or
changed since (late events, a dead-letter replay: ingest.touched_hours says so)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from analytics_platform.archive.months import month_end
from analytics_platform.archive.retention import month_records
from analytics_platform.archive.store import ArchiveStore
from analytics_platform.archive.verification import Verification, verify_month
from analytics_platform.archive.writer import ArchiveResult, archive_month
from analytics_platform.ingestion.raw_storage import raw_table_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueMonth:
    table: str
    month: date
    source_rows: int
    reason: str


def due_months(conn: psycopg.Connection, now: datetime, grace: timedelta) -> list[DueMonth]:
    """Months of every raw table to (re-)archive: ended at least `grace` before `now`."""
    due: list[DueMonth] = []
    for table in raw_table_names():
        for record in month_records(conn, table):
            if month_end(record.month) + grace > now:
                continue
            if record.archived_at is None:
                due.append(DueMonth(table, record.month, record.source_rows, "never archived"))
            elif record.archived_source_rows != record.source_rows:
                changed = record.source_rows - (record.archived_source_rows or 0)
                reason = f"{changed} rows ingested since it was archived"
                due.append(DueMonth(table, record.month, record.source_rows, reason))
    return due


def archive_due(
    conn: psycopg.Connection,
    store: ArchiveStore,
    now: datetime,
    grace: timedelta = timedelta(0),
    progress: Callable[[str], None] = log.info,
) -> list[tuple[ArchiveResult, Verification]]:
    """Archive and verify every due month (what the sensor would request), in order.

    For a history loaded at once (the demo, a first deployment): `make demo` calls this
    to show the archive of its history months.
    """
    done = []
    for month in due_months(conn, now, grace):
        result = archive_month(conn, store, month.table, month.month, progress=progress)
        done.append((result, verify_month(conn, store, month.table, month.month)))
    return done
