"""Dismissals as negative feedback for training: what users turned down, as of a day.

The API writes `recommendations.dismissals` (migration 072: the dismissed recommendation,
its user, type, day, model name and version, when, and by which key). A training reads
them here with the same "as of the end of the day" rule as the features, so a label
window never leaks into its inputs. Not a model feature yet (docs/recommendations.md says
why: the generated world has no dismissals, so no evaluation could show one earning its
place, and the stored champions were fitted on the current feature columns).
"""

from __future__ import annotations

from datetime import date

import psycopg

from analytics_platform.resources.warehouse import run_sql_file

WINDOW_DAYS = 30


def dismissals_as_of(
    conn: psycopg.Connection, day: date, tz: str, window_days: int = WINDOW_DAYS
) -> dict[tuple[str, str], int]:
    """(user_id, type) -> dismissals in the `window_days` days before the end of `day`."""
    rows = run_sql_file(
        conn,
        "ml/dismissals_as_of_day.sql",
        {"day": day, "tz": tz, "window_days": window_days},
    ).fetchall()
    return {(user, kind): count for user, kind, count in rows}
