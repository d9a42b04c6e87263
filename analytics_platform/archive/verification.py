"""Verifying an archived month: only a verified month counts as archived.

Every file of the month is read back and must give the row count the manifest recorded
for it and, once one is recorded, its checksum; and the raw month must equal the files
that still mirror it (those whose raw rows retention has not dropped). The first
verification that finds them equal records the checksum of each file it read (the writer
leaves it to this re-read, see writer.py), so later verifications (after retention
dropped the raw rows) still prove every file. The outcome is recorded on the month
(`verified_at`, or `verification_problem`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb
import psycopg

from analytics_platform.archive.checksums import Content, parquet_content, raw_month_content
from analytics_platform.archive.columns import RawColumn, raw_columns
from analytics_platform.archive.manifest import (
    ArchivedFile,
    month_files,
    month_params,
    month_state,
)
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
    files = month_files(conn, table, month)
    problems: list[str] = []
    # PostgreSQL checksums the raw month while DuckDB re-reads the files: two processes,
    # both off the GIL, so on two cores the two passes take the time of the longer one.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-verify") as pool:
        raw_future = pool.submit(raw_month_content, conn, table, columns, month)
        read = _check_files(store, files, columns, problems)
        raw = raw_future.result()
    if (raw.rows, raw.checksum) != (read.live_rows, read.live_checksum):
        problems.append(
            f"raw.{table} {month:%Y-%m} has {raw.rows} rows with checksum {raw.checksum}, its "
            f"archive {read.live_rows} rows with checksum {read.live_checksum}: the month "
            "changed since it was archived (archive it again)"
        )
    problem = "; ".join(problems) or None
    params = month_params(table, month)
    with conn.transaction():
        recorded = conn.execute(
            read_sql("archive/record_verification.sql"),
            {**params, "archived_at": state.archived_at, "problem": problem},
        ).rowcount
        # Only for the export that was checked: a month archived again meanwhile has other
        # files (and the update above changed nothing).
        if recorded and problem is None:
            for path, checksum in read.unrecorded.items():
                conn.execute(
                    read_sql("archive/record_file_checksum.sql"),
                    {**params, "path": path, "checksum": Decimal(checksum)},
                )
    return Verification(table, month, raw, read.live_rows, read.live_checksum, tuple(problems))


@dataclass(frozen=True)
class _FilesRead:
    """What re-reading a month's files gave: rows and checksum of those that still mirror
    raw rows, and the checksums found for files that had none recorded (path -> sum)."""

    live_rows: int
    live_checksum: int
    unrecorded: dict[str, int]


def _check_files(
    store: ArchiveStore, files: list[ArchivedFile], columns: list[RawColumn], problems: list[str]
) -> _FilesRead:
    """Re-read every file against its manifest entry (problems appended)."""
    live_rows = live_checksum = 0
    unrecorded: dict[str, int] = {}
    for f in files:
        try:
            content = parquet_content([store.read_location(f.path)], columns)
        except (duckdb.Error, OSError) as exc:
            problems.append(f"{f.path}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        if content.rows != f.rows:
            problems.append(f"{f.path}: holds {content.rows} rows, the manifest says {f.rows}")
        if f.checksum is None:
            if f.raw_dropped_at is not None:
                # Cannot happen through this code (a drop needs a verification, which
                # records the checksums); said loudly should the manifest be edited.
                problems.append(
                    f"{f.path}: its raw rows were dropped but no checksum was ever recorded "
                    "for it, so nothing proves its content"
                )
            unrecorded[f.path] = content.checksum
        elif content.checksum != f.checksum:
            problems.append(
                f"{f.path}: holds rows with checksum {content.checksum}, the manifest says "
                f"{f.checksum}"
            )
        if f.raw_dropped_at is None:
            live_rows += f.rows
            live_checksum += content.checksum if f.checksum is None else f.checksum
    return _FilesRead(live_rows, live_checksum, unrecorded)
