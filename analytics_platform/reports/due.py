"""Which months' reports to render: closed months whose rollups are in and that have no
report, and months whose marts were re-materialized after their report (late data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.reports.build import PLATFORM_MARTS
from analytics_platform.resources.warehouse import read_sql

ROLLUPS_IN = "rollups in"


@dataclass(frozen=True)
class DueMonth:
    month: date
    reason: str


def due_months(conn: psycopg.Connection, now: datetime, timezone: str) -> list[DueMonth]:
    rows = conn.execute(
        read_sql("reports/due_months.sql"),
        {"now": now, "tz": timezone, "marts": list(PLATFORM_MARTS)},
    ).fetchall()
    return [DueMonth(start.astimezone(ZoneInfo(timezone)).date(), reason) for start, reason in rows]
