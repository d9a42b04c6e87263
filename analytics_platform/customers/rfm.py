"""RFM scores of a range of days: purchases per day, the look-back state, the scores.

Each day D means "as of the end of D in the reporting zone" over the look-back window
(D - lookback, D]; nothing reads the clock. A run replaces its days in ONE transaction
(purchases of its days, state, scores, breakpoints): re-running a day writes the same rows.

The cost of a day does not grow with the look-back: the per-user state of D (purchases,
amount and last purchase day per user and currency) is the state of D - 1 plus D's
purchases minus those of the day leaving the window. The full computation over the
window's daily purchases is kept as the reference (a test holds the two equal) and is the
path taken when no trustworthy previous state exists: the first day, a changed look-back,
or a previous state whose window totals no longer match the daily purchases (a day was
recomputed after a late event and the days after it have not been re-run yet).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from analytics_platform.customers.segments import SegmentRule, cell_params
from analytics_platform.resources.warehouse import read_sql

DEFAULT_LOOKBACK_DAYS = 365
# Sorting and hashing a million users per day: the default 4 MB spills to disk.
RFM_WORK_MEM = "256MB"


class RfmSettingsError(ValueError):
    """RFM_LOOKBACK_DAYS holds a value the scores cannot use."""


class InvalidDayRangeError(ValueError):
    """A range of days that ends before it starts."""


def lookback_days_from_env(env: Mapping[str, str] | None = None) -> int:
    """RFM_LOOKBACK_DAYS (default 365): days of purchases each day's scores look back over."""
    raw = (os.environ if env is None else env).get("RFM_LOOKBACK_DAYS") or str(
        DEFAULT_LOOKBACK_DAYS
    )
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 3660:
        raise RfmSettingsError(
            f"RFM_LOOKBACK_DAYS={raw!r}: expected a whole number of days from 1 to 3660"
        )
    return value


@dataclass(frozen=True)
class RfmDay:
    day: date
    # How the state was built: 'incremental' or 'full' (see the module docstring).
    method: str
    users: int


@dataclass(frozen=True)
class RfmResult:
    first_day: date
    last_day: date
    lookback_days: int
    days: tuple[RfmDay, ...]
    # Days of purchases computed by the run: its own days plus missing ones of the window.
    purchase_days_computed: int
    seconds: float


def days_of(first_day: date, last_day: date) -> list[date]:
    if last_day < first_day:
        raise InvalidDayRangeError(
            f"day range [{first_day}, {last_day}] ends before it starts; pass the first "
            "and last day of the partition range"
        )
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous [first, last] ranges."""
    ranges: list[tuple[date, date]] = []
    for day in days:
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _summarize_raw(conn: psycopg.Connection, first: date, last: date, tz: str) -> None:
    conn.execute(
        read_sql("customers/rfm_summarize_raw_index.sql"),
        {"first_day": first, "last_day": last, "tz": tz},
    )


def _compute_purchases(conn: psycopg.Connection, first: date, last: date, tz: str) -> int:
    params = {"first_day": first, "last_day": last, "tz": tz}
    conn.execute(read_sql("customers/rfm_purchases_delete.sql"), params)
    conn.execute(read_sql("customers/rfm_purchase_days_delete.sql"), params)
    conn.execute(read_sql("customers/rfm_purchases_insert.sql"), params)
    conn.execute(read_sql("customers/rfm_purchase_days_record.sql"), params)
    return (last - first).days + 1


def _state(conn: psycopg.Connection, day: date, lookback_days: int, incremental: bool) -> str:
    params: dict[str, Any] = {
        "day": day,
        "previous_day": day - timedelta(days=1),
        "leaving_day": day - timedelta(days=lookback_days),
        "lookback_days": lookback_days,
    }
    totals = conn.execute(read_sql("customers/rfm_window_totals.sql"), params).fetchone()
    payments, amount = totals if totals else (0, 0)
    method = "full"
    if incremental:
        # The previous state is usable when it covered the same days with the same rows:
        # its window totals must equal today's window minus today plus the leaving day.
        previous = conn.execute(
            read_sql("customers/rfm_state_of_previous_day.sql"), params
        ).fetchone()
        expected = conn.execute(
            read_sql("customers/rfm_window_totals.sql"),
            {"day": params["previous_day"], "leaving_day": params["leaving_day"] - timedelta(1)},
        ).fetchone()
        if previous is not None and tuple(previous) == tuple(expected or ()):
            method = "incremental"
    conn.execute(read_sql("customers/rfm_state_clear_day.sql"), params)
    conn.execute(read_sql(f"customers/rfm_state_{method}.sql"), params)
    conn.execute(read_sql("customers/rfm_state_analyze.sql"), params)
    conn.execute(
        read_sql("customers/rfm_state_record.sql"),
        {**params, "payments": payments, "amount": amount, "method": method},
    )
    return method


def _scores(conn: psycopg.Connection, day: date, lookback_days: int, cells: dict[str, list]) -> int:
    params = {"day": day, "lookback_days": lookback_days}
    conn.execute(read_sql("customers/rfm_scores_clear_day.sql"), params)
    conn.execute(read_sql("customers/rfm_breakpoints_delete.sql"), params)
    conn.execute(read_sql("customers/rfm_scores_per_user_drop.sql"))
    defaults = conn.execute(read_sql("customers/rfm_parallel_on.sql")).fetchone()
    conn.execute(read_sql("customers/rfm_scores_per_user.sql"), params)
    if defaults is not None:
        conn.execute(
            read_sql("customers/rfm_parallel_off.sql"),
            {"setup_cost": defaults[0], "tuple_cost": defaults[1]},
        )
    users = conn.execute(read_sql("customers/rfm_scores_insert.sql"), {**params, **cells}).rowcount
    conn.execute(read_sql("customers/rfm_scores_per_user_drop.sql"))
    conn.execute(read_sql("customers/rfm_score_days_record.sql"), {**params, "users": users})
    return users


def materialize_rfm(
    conn: psycopg.Connection,
    first_day: date,
    last_day: date,
    tz: str,
    lookback_days: int,
    rules: tuple[SegmentRule, ...],
    *,
    incremental: bool = True,
) -> RfmResult:
    """Recompute the RFM scores of the days [first_day, last_day] in one transaction.

    The days' purchases are always recomputed from raw (a re-run after late events picks
    them up); purchases of earlier days of the window are computed only if missing.
    `incremental=False` builds every state from the daily purchases (the reference).
    Concurrent runs queue behind a transaction-scoped advisory lock.
    """
    started = time.perf_counter()
    days = days_of(first_day, last_day)
    cells = cell_params(rules)
    window_first = first_day - timedelta(days=lookback_days - 1)
    # Its own short transaction, over the run's days only (the window's earlier days are
    # read from raw only when missing, below): summarizing locks raw partitions.
    with conn.transaction():
        _summarize_raw(conn, first_day, last_day, tz)
    with conn.transaction():
        run_days = {"first_day": first_day, "last_day": last_day}
        conn.execute(read_sql("customers/rfm_day_partitions.sql"), run_days)
        logged = conn.execute(
            read_sql("customers/rfm_state_logged_partitions.sql"), run_days
        ).fetchall()
        for schema, name in logged:
            conn.execute(
                sql.SQL("ALTER TABLE {} SET UNLOGGED").format(sql.Identifier(schema, name))
            )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('customers:rfm_scores'))")
        conn.execute("SELECT set_config('work_mem', %s, true)", (RFM_WORK_MEM,))
        # The state's full join against the day's few changed users is a hash join over a
        # seq scan; with a fresh partition's estimates the planner would sort a million
        # rows for a merge join instead. No JIT, which a disabled join's plan cost would
        # trigger in a session without the platform's jit=off (see cohorts_plan.sql).
        conn.execute(
            "SELECT set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true)"
        )
        computed = _compute_purchases(conn, first_day, last_day, tz)
        missing = [
            row[0]
            for row in conn.execute(
                read_sql("customers/rfm_purchase_days_missing.sql"),
                {"first_day": window_first, "last_day": first_day - timedelta(days=1)},
            )
        ]
        for first, last in _ranges(missing):
            _summarize_raw(conn, first, last, tz)
            computed += _compute_purchases(conn, first, last, tz)
        done = []
        for day in days:
            method = _state(conn, day, lookback_days, incremental)
            done.append(RfmDay(day, method, _scores(conn, day, lookback_days, cells)))
    return RfmResult(
        first_day=first_day,
        last_day=last_day,
        lookback_days=lookback_days,
        days=tuple(done),
        purchase_days_computed=computed,
        seconds=time.perf_counter() - started,
    )
