"""Verifying an archived month: only a verified month counts as archived.

Every file of the month is read back and must give the row count and checksum the
manifest recorded for it; and the raw month must equal the files that still mirror it
(those whose raw rows retention has not dropped). How depends on the files' checksum
formula (checksums.py):

- formula 2: DuckDB re-reads all the files in one multi-threaded pass (each file's
  `checksum`) while PostgreSQL hashes the raw month on its parallel workers, to compare
  with the `raw_checksum`s the export took; neither side builds a text per row. Those
  checksums never compare a file's values with raw's across the engines, so a sample of
  each file that still mirrors raw rows is compared with raw row by row, column by
  column (spot_check.py).
- formula 1 (files written before migration 052): both sides compute the md5 checksum of
  the canonical row text; the first verification that finds them equal records the
  checksum of each file it read, so later verifications (after retention dropped the raw
  rows) still prove every file.

The outcome is recorded on the month (`verified_at`, or `verification_problem`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb
import psycopg

from analytics_platform.archive.checksums import (
    CHECKSUM_VERSION,
    Content,
    file_checksums,
    parquet_content,
    raw_month_content,
)
from analytics_platform.archive.columns import RawColumn, raw_columns
from analytics_platform.archive.manifest import (
    ArchivedFile,
    month_files,
    month_params,
    month_state,
)
from analytics_platform.archive.spot_check import spot_check_files
from analytics_platform.archive.store import ArchiveStore
from analytics_platform.resources.warehouse import read_sql


class MonthNotArchivedError(LookupError):
    """A month with no record in the manifest was asked to be verified."""


@dataclass(frozen=True)
class Verification:
    table: str
    month: date
    # The raw month, in the checksum formula of the files that mirror it.
    raw: Content
    # What the manifest says those files hold, in the same formula.
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
    live_versions = {f.checksum_version for f in files if f.raw_dropped_at is None}
    if len(live_versions) > 1:
        problems.append(
            f"raw.{table} {month:%Y-%m}: the files that mirror raw rows mix checksum formulas "
            f"{sorted(live_versions)}, which one export never writes; archive the month again"
        )
    version = min(live_versions, default=CHECKSUM_VERSION)
    # PostgreSQL checksums the raw month while DuckDB re-reads the files: two processes,
    # both off the GIL, so on two cores the two passes take the time of the longer one.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-verify") as pool:
        raw_future = pool.submit(raw_month_content, conn, table, columns, month, version)
        read = _check_files(store, files, columns, problems)
        raw = raw_future.result()
    live = read.live_v2 if version == 2 else read.live_v1
    if (raw.rows, raw.checksum) != live:
        problems.append(
            f"raw.{table} {month:%Y-%m} has {raw.rows} rows with checksum {raw.checksum}, its "
            f"archive {live[0]} rows with checksum {live[1]}: the month changed since it was "
            "archived (archive it again)"
        )
    # After the raw checksum (the spot check queries the same connection), and its problems
    # after the month's: a changed raw month differs from its files' samples too.
    sampled = [
        f
        for f in files
        if f.checksum_version == 2 and f.raw_dropped_at is None and f.path not in read.unreadable
    ]
    problems.extend(spot_check_files(conn, store, table, month, columns, sampled))
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
    return Verification(table, month, raw, live[0], live[1], tuple(problems))


@dataclass(frozen=True)
class _FilesRead:
    """What re-reading a month's files gave, for the files that still mirror raw rows:
    (rows, checksum) comparable with the raw month in formula 2 (the recorded
    `raw_checksum`s) and in formula 1; and the formula 1 checksums found for files that
    had none recorded (path -> sum); and the files that could not be read."""

    live_v2: tuple[int, int]
    live_v1: tuple[int, int]
    unrecorded: dict[str, int]
    unreadable: frozenset[str]


def _check_files(
    store: ArchiveStore, files: list[ArchivedFile], columns: list[RawColumn], problems: list[str]
) -> _FilesRead:
    """Re-read every file against its manifest entry (problems appended)."""
    v2_rows = v2_checksum = v1_rows = v1_checksum = 0
    unrecorded: dict[str, int] = {}
    unreadable: set[str] = set()
    read_v2 = _read_v2_files(store, [f for f in files if f.checksum_version == 2], columns)
    for f in files:
        if f.checksum_version == 2:
            content = read_v2[f.path]
            if isinstance(content, str):
                problems.append(f"{f.path}: cannot be read ({content})")
                unreadable.add(f.path)
                continue
            rows, checksum = content
        else:
            try:
                v1 = parquet_content([store.read_location(f.path)], columns)
            except (duckdb.Error, OSError) as exc:
                problems.append(f"{f.path}: cannot be read ({type(exc).__name__}: {exc})")
                unreadable.add(f.path)
                continue
            rows, checksum = v1.rows, v1.checksum
        if rows != f.rows:
            problems.append(f"{f.path}: holds {rows} rows, the manifest says {f.rows}")
        if f.checksum is None:
            if f.raw_dropped_at is not None:
                # Cannot happen through this code (a drop needs a verification, which
                # records the checksums); said loudly should the manifest be edited.
                problems.append(
                    f"{f.path}: its raw rows were dropped but no checksum was ever recorded "
                    "for it, so nothing proves its content"
                )
            unrecorded[f.path] = checksum
        elif checksum != f.checksum:
            problems.append(
                f"{f.path}: holds rows with checksum {checksum}, the manifest says {f.checksum}"
            )
        if f.raw_dropped_at is None:
            if f.checksum_version == 2:
                v2_rows += f.rows
                v2_checksum += f.raw_checksum or 0
            else:
                v1_rows += f.rows
                v1_checksum += checksum if f.checksum is None else f.checksum
    return _FilesRead(
        (v2_rows, v2_checksum), (v1_rows, v1_checksum), unrecorded, frozenset(unreadable)
    )


def _read_v2_files(
    store: ArchiveStore, files: list[ArchivedFile], columns: list[RawColumn]
) -> dict[str, tuple[int, int] | str]:
    """(rows, checksum) of each formula 2 file, or why it cannot be read. All files in one
    DuckDB pass; should that fail, file by file, to say which one is unreadable."""
    locations = {f.path: store.read_location(f.path) for f in files}
    with duckdb.connect() as con:
        try:
            found = file_checksums(con, list(locations.values()), columns)
            return {path: found.get(location, (0, 0)) for path, location in locations.items()}
        except (duckdb.Error, OSError):
            pass
        answers: dict[str, tuple[int, int] | str] = {}
        for path, location in locations.items():
            try:
                answers[path] = file_checksums(con, [location], columns).get(location, (0, 0))
            except (duckdb.Error, OSError) as exc:
                answers[path] = f"{type(exc).__name__}: {exc}"
        return answers
