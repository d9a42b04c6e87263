"""The demo's history, second half: the customer tables of every closed day of the history
and the Parquet archive of its raw months, computed with the same plain functions the
Dagster assets call (one range run each), so the demo's first page already has customers,
segments and an archive, and the daemon's automation finds those days done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics_platform.archive.due import archive_due
from analytics_platform.archive.store import open_store
from analytics_platform.customers import cohorts, profiles, spending
from analytics_platform.customers.rfm import lookback_days_from_env, materialize_rfm
from analytics_platform.customers.segments import load_rules
from analytics_platform.customers.transitions import materialize_transitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import Settings


@dataclass(frozen=True)
class HistoryCustomers:
    """What the demo prints about the customer tables it computed."""

    first_day: date
    last_day: date
    # (segment, users) on last_day, largest first.
    segments: list[tuple[str, int]]
    archived_months: list[str]


def closed_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date] | None:
    """The local days of [start, end) that have ended, as (first, last); None when there is
    none. The first day counts although the history starts within it: nothing happened
    before, so the end of that day is a complete "as of" (and the days carrying state
    need it as their first day)."""
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date() - timedelta(days=1)
    return (first, last) if first <= last else None


def compute_customers(
    settings: Settings,
    start: datetime,
    end: datetime,
    progress: Callable[[str], None] = print,
) -> HistoryCustomers | None:
    """Materialize the customers group over the closed days of [start, end) and archive the
    raw months that are due; None when the history holds no closed day."""
    tz = settings.tz
    days = closed_days(start, end, tz)
    if days is None:
        return None
    first, last = days
    window = (
        datetime.combine(first, time(), tz),
        datetime.combine(last + timedelta(1), time(), tz),
    )
    rules = load_rules()
    with connect(settings.database_url, autocommit=True) as conn:
        for name, materialize in (
            ("user profiles", profiles.materialize_user_profiles),
            ("spending", spending.materialize_spending),
            ("cohorts", cohorts.materialize_cohorts),
        ):
            progress(f"    customers/{name}: {first} .. {last}")
            materialize(conn, *window, tz)
        progress(f"    customers/rfm_scores and segment_transitions: {first} .. {last}")
        materialize_rfm(
            conn, first, last, settings.reporting_timezone, lookback_days_from_env(), rules
        )
        materialize_transitions(conn, first, last, settings.start_date)
        segments = [
            (segment, users)
            for segment, users in conn.execute(
                "SELECT segment, count(*) FROM customers.rfm_scores WHERE day = %s "
                "GROUP BY segment ORDER BY count(*) DESC, segment",
                (last,),
            ).fetchall()
        ]
        progress("    archive: raw months due (docs/archive.md)")
        archived = archive_due(
            conn, open_store(settings.archive_url), datetime.now(UTC), progress=progress
        )
    months = sorted({f"raw.{r.table} {r.month:%Y-%m}" for r, _ in archived})
    return HistoryCustomers(first, last, segments, months)


def format_customers(result: HistoryCustomers | None) -> list[str]:
    """Summary lines for the demo."""
    if result is None:
        return ["customers: the history has no closed day yet"]
    lines = [f"customers (RFM segments on {result.last_day}, docs/customer-scores.md):"]
    lines += [f"    {segment:<20} {users:>7,}" for segment, users in result.segments]
    lines.append(
        "archive: "
        + (", ".join(result.archived_months) if result.archived_months else "no month due yet")
        + " (analytics-platform archive list)"
    )
    return lines
