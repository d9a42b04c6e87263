"""ml/user_features: behaviour features per user as of the end of a day, built in SQL.

Grain: one row per (day, user_id) for every user with a successful transaction in the
90 days before the end of the day in REPORTING_TIMEZONE. Every value reads only events
before that instant, so a model trained on day D's row never sees D+1. A re-run of a
day deletes and rewrites it in one transaction (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import psycopg

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
    with conn.transaction():
        run_sql_file(conn, "ml/features_delete_day.sql", {"day": day})
        return run_sql_file(conn, "ml/features_insert_day.sql", {"day": day, "tz": tz}).rowcount


def build_missing_days(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> int:
    """Build the days of [first_day, last_day] that have no rows yet; returns how many."""
    present = {
        row[0]
        for row in run_sql_file(
            conn, "ml/features_days_present.sql", {"first_day": first_day, "last_day": last_day}
        )
    }
    built, day = 0, first_day
    while day <= last_day:
        if day not in present:
            build_day(conn, day, tz)
            built += 1
        day += timedelta(days=1)
    return built


def read_days(conn: psycopg.Connection, first_day: date, last_day: date) -> FeatureFrame:
    """The feature rows of the days in [first_day, last_day]."""
    rows = run_sql_file(
        conn, "ml/features_read_days.sql", {"first_day": first_day, "last_day": last_day}
    ).fetchall()
    values = np.array([row[2:] for row in rows], dtype=np.float64).reshape(
        len(rows), len(FEATURE_NAMES)
    )
    return FeatureFrame([row[0] for row in rows], [row[1] for row in rows], values)
