"""ml/user_features: behaviour features per user as of the end of a day, built in SQL.

Grain: one row per (day, user_id) for every user with a successful transaction in the
90 days before the end of the day in REPORTING_TIMEZONE. Every value reads only events
before that instant, so a model trained on day D's row never sees D+1. A re-run of a
day deletes and rewrites it in one transaction (idempotent).

The values are defined by sql/ml/features_insert_day_from_raw.sql (the raw rows). So that
a day costs what changed, they are computed from ml.user_day_stats (user_day_stats.py:
per user and local day, each raw day read once) whenever the windows are whole local
days, which they are except across a DST change of the zone: such days read the raw rows.
Before a day is computed, the stats of its 90 days that late events touched are rebuilt,
and the day's own stats always are (its raw rows are re-read on every run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import psycopg

from analytics_platform.ml import user_day_stats
from analytics_platform.resources.warehouse import run_sql_file

LOOKBACK_DAYS = 90

# (column, type, meaning): the table's column schema, also shown in Dagster.
FEATURE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("recency_days", "double", "days since the last successful transaction"),
    ("first_seen_days", "double", "days since the first transaction in the 90-day look-back"),
    ("tx_7d", "integer", "successful transactions in the last 7 days"),
    ("tx_prev_7d", "integer", "successful transactions 8-14 days ago"),
    ("tx_30d", "integer", "successful transactions in the last 30 days"),
    ("active_days_30d", "integer", "local days with a successful transaction, last 30 days"),
    ("failed_7d", "integer", "failed transactions in the last 7 days"),
    ("failed_30d", "integer", "failed transactions in the last 30 days"),
    ("merchants_30d", "integer", "distinct merchants paid in the last 30 days"),
    ("sessions_14d", "integer", "distinct app sessions in the last 14 days"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in FEATURE_COLUMNS)


@dataclass(frozen=True)
class FeatureFrame:
    """Feature rows of some days: parallel arrays, ordered by (day, user_id)."""

    days: list[date]
    user_ids: list[str]
    values: np.ndarray  # float64, (rows, len(FEATURE_NAMES))

    def __len__(self) -> int:
        return len(self.user_ids)


def build_day(conn: psycopg.Connection, day: date, tz: str) -> int:
    """Replace the feature rows of `day`; returns the rows written."""
    from_stats = windows_aligned(conn, day, tz)
    if from_stats:
        user_day_stats.refresh(conn, _look_back(day), tz, rebuild=[day])
    return _write_day(conn, day, tz, from_stats)


def build_missing_days(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> int:
    """Build the days of [first_day, last_day] that have no rows yet; returns how many.

    The stats of every local day their windows need are refreshed first, once each, so
    a backfill reads each raw day once whatever the number of feature days."""
    present = {
        row[0]
        for row in run_sql_file(
            conn, "ml/features_days_present.sql", {"first_day": first_day, "last_day": last_day}
        )
    }
    missing = [
        first_day + timedelta(days=offset)
        for offset in range((last_day - first_day).days + 1)
        if first_day + timedelta(days=offset) not in present
    ]
    from_stats = {day for day in missing if windows_aligned(conn, day, tz)}
    if from_stats:
        user_day_stats.refresh(conn, {d for day in from_stats for d in _look_back(day)}, tz)
    for day in missing:
        _write_day(conn, day, tz, day in from_stats)
    return len(missing)


def windows_aligned(conn: psycopg.Connection, day: date, tz: str) -> bool:
    """Whether `day`'s feature windows are whole local days in `tz` (no DST change in
    them), so that ml.user_day_stats gives exactly the raw rows' values."""
    row = run_sql_file(conn, "ml/features_windows_aligned.sql", {"day": day, "tz": tz}).fetchone()
    return bool(row and row[0])


def _look_back(day: date) -> list[date]:
    return [day - timedelta(days=offset) for offset in range(LOOKBACK_DAYS)]


def _write_day(conn: psycopg.Connection, day: date, tz: str, from_stats: bool) -> int:
    insert = "ml/features_insert_day.sql" if from_stats else "ml/features_insert_day_from_raw.sql"
    with conn.transaction():
        run_sql_file(conn, "ml/features_delete_day.sql", {"day": day})
        return run_sql_file(conn, insert, {"day": day, "tz": tz}).rowcount


def read_days(
    conn: psycopg.Connection, first_day: date, last_day: date, day_step: int = 1
) -> FeatureFrame:
    """The feature rows of the days in [first_day, last_day] that are a multiple of
    `day_step` days before `last_day` (1: every day)."""
    rows = run_sql_file(
        conn,
        "ml/features_read_days.sql",
        {"first_day": first_day, "last_day": last_day, "day_step": day_step},
    ).fetchall()
    values = np.array([row[2:] for row in rows], dtype=np.float64).reshape(
        len(rows), len(FEATURE_NAMES)
    )
    return FeatureFrame([row[0] for row in rows], [row[1] for row in rows], values)
