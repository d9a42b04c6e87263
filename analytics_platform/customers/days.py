"""Days of a customer asset's partition window, and the one way a day is replaced.

A partition window (one day, or a range for a single-run backfill) is cut into local days
of the reporting time zone; each day is written by delete + insert of exactly its rows,
and the whole window commits in one transaction, with a record per day in
`marts.customer_days` (rows, and the rows ingestion had committed into the day's hours,
read before writing: what the automation judges late events by).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.resources.warehouse import read_sql

# Large enough that a day's hash joins and sorts stay in memory; per transaction only.
CUSTOMERS_WORK_MEM = "256MB"


class DayWindowError(ValueError):
    """A window that is not made of whole local days of the reporting time zone."""


class PreviousDayMissingError(RuntimeError):
    """A day whose computation carries state from the day before, which was never run."""


@dataclass(frozen=True)
class Day:
    """One local day: its date and its bounds (23, 24 or 25 hours long)."""

    day: date
    start: datetime
    end: datetime

    @property
    def params(self) -> dict[str, Any]:
        # Bounds go over as UTC so a DST fall-back's repeated hour cannot be misread.
        return {
            "day": self.day,
            "window_start": self.start.astimezone(UTC),
            "window_end": self.end.astimezone(UTC),
        }


@dataclass(frozen=True)
class DayStats:
    day: date
    rows: int
    seconds: float


@dataclass(frozen=True)
class WindowStats:
    """What one materialization of a customer asset wrote."""

    asset: str
    start: datetime
    end: datetime
    days: tuple[DayStats, ...]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight starting `day` (a zone whose clocks jump at midnight starts the
    day at the first existing instant, as PostgreSQL does)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).astimezone(tz)


def day_of(day: date, tz: ZoneInfo) -> Day:
    return Day(day, midnight(day, tz), midnight(day + timedelta(days=1), tz))


def days_in(start: datetime, end: datetime, tz: ZoneInfo) -> list[Day]:
    """The local days making up [start, end); DayWindowError unless they fit exactly."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise DayWindowError(
            f"window [{start.isoformat()}, {end.isoformat()}) must be time-zone aware and "
            "non-empty; pass the partition's time window"
        )
    first = start.astimezone(tz).date()
    days = []
    current = day_of(first, tz)
    while current.start < end:
        days.append(current)
        current = day_of(current.day + timedelta(days=1), tz)
    if days[0].start != start or days[-1].end != end:
        raise DayWindowError(
            f"window [{start.isoformat()}, {end.isoformat()}) is not made of whole days in "
            f"{tz.key}; pass a daily partition's time window"
        )
    return days


def create_temp(conn: psycopg.Connection, name: str, relative: str, params: dict[str, Any]) -> int:
    """Run a `CREATE TEMP TABLE <name> AS ...` statement of sql/customers/; its rows.

    A range writes many days in one transaction, so the previous day's table is dropped
    first; the new one is analyzed (temp tables have no statistics otherwise, and the
    joins against the large tables need them).
    """
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(name)))
    rows = run(conn, relative, params)
    conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(sql.Identifier(name)))
    return rows


def run(conn: psycopg.Connection, relative: str, params: dict[str, Any]) -> int:
    """Execute one statement of sql/customers/; the rows it affected."""
    cursor = conn.execute(read_sql(f"customers/{relative}"), params)
    return max(cursor.rowcount, 0)


def previous_day_ready(conn: psycopg.Connection, asset: str, day: Day) -> bool:
    """Whether `asset` may build `day` on the day before: that day was materialized (its
    record in marts.customer_days), or ingestion wrote nothing before `day`."""
    row = conn.execute(
        read_sql("customers/profiles_previous_day_ready.sql"), {**day.params, "asset": asset}
    ).fetchone()
    return bool(row and row[0])


def replace_days(
    conn: psycopg.Connection,
    asset: str,
    table: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    write_day: Callable[[psycopg.Connection, Day], int],
    carries_state: bool = False,
    refuse_first_day: Callable[[psycopg.Connection, Day], None] | None = None,
) -> WindowStats:
    """Write every day of [start, end) with `write_day` (which deletes and inserts the
    day's rows and returns the rows inserted), oldest first, in ONE transaction.

    `carries_state`: the day builds on the day before (PreviousDayMissingError when that
    was never materialized and ingestion wrote anything earlier). `refuse_first_day`: an
    asset's own rule for that (spending: only within a month), called under the asset's
    lock before anything is written; it raises to refuse the window. Later days of the
    window follow the days before them in the same run, so only the first is judged.
    `table` (in schema marts) names the day's record in marts.rollup_buckets, which the
    API's freshness reads.
    """
    began = time.perf_counter()
    stats = []
    with conn.transaction():
        conn.execute("SELECT set_config('work_mem', %s, true)", (CUSTOMERS_WORK_MEM,))
        run(conn, "profiles_lock.sql", {"asset": asset})
        for index, day in enumerate(days_in(start, end, tz)):
            day_began = time.perf_counter()
            params = {**day.params, "asset": asset}
            if index == 0 and refuse_first_day is not None:
                refuse_first_day(conn, day)
            if carries_state and index == 0 and not previous_day_ready(conn, asset, day):
                raise PreviousDayMissingError(
                    f"{asset}: day {day.day} builds on {day.day - timedelta(days=1)}, "
                    "which was never materialized; backfill from the first missing day "
                    "(a range is one run)"
                )
            source = conn.execute(
                read_sql("customers/profiles_day_source_rows.sql"), params
            ).fetchone()
            rows = write_day(conn, day)
            record = {**params, "rows": rows, "source_rows": source[0] if source else 0}
            run(conn, "profiles_record_day.sql", record)
            run(conn, "profiles_record_bucket.sql", {**record, "mart": table})
            stats.append(DayStats(day.day, rows, time.perf_counter() - day_began))
    return WindowStats(asset, start, end, tuple(stats), time.perf_counter() - began)


def due_days(
    conn: psycopg.Connection, ready: list[date], tz: ZoneInfo, assets: list[str]
) -> list[tuple[date, str]]:
    """The ready days some of `assets` must (re)compute, oldest first, with the reason
    ('missing', 'stale', 'after_earlier'); see profiles_due_days.sql."""
    rows = conn.execute(
        read_sql("customers/profiles_due_days.sql"),
        {"ready_days": ready, "tz": tz.key, "assets": assets},
    ).fetchall()
    return [(day, reason) for day, reason in rows]


def plan_range(due: list[date], ready: list[date], max_days: int = 31) -> tuple[date, date] | None:
    """The one range of days to run next: from the oldest due day through the last ready
    day (user profiles carry state forward, so every later day follows the earliest one
    that changes), at most `max_days` long; the next tick continues after it."""
    if not due:
        return None
    first = min(due)
    later = [d for d in ready if d >= first]
    last = min(max(later), first + timedelta(days=max_days - 1))
    return first, last


@dataclass(frozen=True)
class DayCheck:
    """One check of one asset over the days of a window: passed when every day passed."""

    name: str
    description: str
    passed: bool
    failing_days: tuple[date, ...]
    # Per-day figures of the first failing day (or the last day): for the UI.
    figures: dict[str, Any]


@dataclass(frozen=True)
class Judgment:
    """One check judged from a check statement's figures of a day."""

    name: str
    description: str
    passes: Callable[[dict[str, Any]], bool]


def check_days(
    conn: psycopg.Connection,
    relative: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    judgments: list[Judgment],
) -> list[DayCheck]:
    """Run the check statement `relative` (one row of figures) once for every day of
    [start, end) and judge each day's figures with every judgment."""
    figures_by_day: list[tuple[date, dict[str, Any]]] = []
    for day in days_in(start, end, tz):
        cursor = conn.execute(read_sql(f"customers/{relative}"), {**day.params, "tz": tz.key})
        names = [d.name for d in cursor.description or ()]
        row = cursor.fetchone()
        figures_by_day.append((day.day, dict(zip(names, row or (), strict=True))))
    checks = []
    for judgment in judgments:
        failing = [d for d, figures in figures_by_day if not judgment.passes(figures)]
        shown_day = failing[0] if failing else figures_by_day[-1][0]
        shown = next(f for d, f in figures_by_day if d == shown_day)
        checks.append(
            DayCheck(
                judgment.name,
                judgment.description,
                not failing,
                tuple(failing),
                {"day": shown_day.isoformat(), **shown},
            )
        )
    return checks
