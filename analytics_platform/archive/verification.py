"""Verifying an archived month: only a verified month counts as archived.

Every file of the month is read back and must give the row count and checksum the
manifest recorded for it, and the raw month must equal the files that still mirror it
(those whose raw rows retention has not dropped). The outcome is recorded on the month
(`verified_at`, or `verification_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import psycopg

from analytics_platform.archive.checksums import Content, parquet_content, raw_month_content
from analytics_platform.archive.columns import raw_columns
from analytics_platform.archive.manifest import month_files, month_params, month_state
from analytics_platform.archive.store import ArchiveStore
from analytics_platform.resources.warehouse import read_sql


class MonthNotArchivedError(LookupError):
    """A month with no record in the manifest was asked to be verified."""


@dataclass(frozen=True)
class Verification:
    table: str
    month: date
    raw: Content
    archived_rows: int
    archived_checksum: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_month(
    conn: psycopg.Connection, store: ArchiveStore, table: str, month: date
) -> Verification:
    """Re-read the month's files, compare them with the manifest and raw; record it."""
    state = month_state(conn, table, month)
    if state is None:
        raise MonthNotArchivedError(
            f"raw.{table} {month:%Y-%m} has not been archived; materialize "
            f"archive/raw_{table} for it first"
        )
    columns = raw_columns(conn, table)
    problems: list[str] = []
    live_rows = live_checksum = 0
    for f in month_files(conn, table, month):
        try:
            content = parquet_content([store.read_location(f.path)], columns)
        except (duckdb.Error, OSError) as exc:
            problems.append(f"{f.path}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        if (content.rows, content.checksum) != (f.rows, f.checksum):
            problems.append(
                f"{f.path}: holds {content.rows} rows with checksum {content.checksum}, the "
                f"manifest says {f.rows} rows with checksum {f.checksum}"
            )
        if f.raw_dropped_at is None:
            live_rows += f.rows
            live_checksum += f.checksum
    raw = raw_month_content(conn, table, columns, month)
    if (raw.rows, raw.checksum) != (live_rows, live_checksum):
        problems.append(
            f"raw.{table} {month:%Y-%m} has {raw.rows} rows with checksum {raw.checksum}, its "
            f"archive {live_rows} rows with checksum {live_checksum}: the month changed "
            "since it was archived (archive it again)"
        )
    with conn.transaction():
        conn.execute(
            read_sql("archive/record_verification.sql"),
            {
                **month_params(table, month),
                "archived_at": state.archived_at,
                "problem": "; ".join(problems) or None,
            },
        )
    return Verification(table, month, raw, live_rows, live_checksum, tuple(problems))
