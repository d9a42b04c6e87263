"""Segment transitions of a range of days: users per (segment then, segment on the day),
against the previous day and 30 days before, from customers.rfm_scores.

A base day before the first partition counts as a day without scored users (everyone
comes from '(none)'); a base day that should have scores but has none is skipped and
reported (its row set would be wrong, and the check "rows add up" would not hold).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

from analytics_platform.customers.rfm import days_of
from analytics_platform.resources.warehouse import read_sql

# (name stored in the `since` column, days back)
BASES: tuple[tuple[str, int], ...] = (("previous_day", 1), ("30_days_before", 30))


class ScoresMissingError(LookupError):
    """Transitions were asked for a day whose RFM scores are not materialized."""


@dataclass(frozen=True)
class TransitionsResult:
    first_day: date
    last_day: date
    rows: int
    # (day, since) pairs left out because the base day has no scores yet.
    skipped: tuple[tuple[date, str], ...]
    seconds: float


def _scored_days(conn: psycopg.Connection, days: list[date]) -> set[date]:
    rows = conn.execute(read_sql("customers/rfm_score_days_present.sql"), {"days": days})
    return {row[0] for row in rows}


def materialize_transitions(
    conn: psycopg.Connection, first_day: date, last_day: date, start_date: date
) -> TransitionsResult:
    """Replace the transitions of [first_day, last_day] in one transaction."""
    started = time.perf_counter()
    days = days_of(first_day, last_day)
    rows = 0
    skipped: list[tuple[date, str]] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('customers:segment_transitions'))")
        conn.execute("SELECT set_config('work_mem', '256MB', true)")
        wanted = days + [d - timedelta(days=back) for d in days for _, back in BASES]
        scored = _scored_days(conn, wanted)
        unscored = [d for d in days if d not in scored]
        if unscored:
            raise ScoresMissingError(
                f"customers/rfm_scores has no rows for {', '.join(map(str, unscored))}: "
                "materialize those partitions of customers/rfm_scores first"
            )
        for day in days:
            conn.execute(read_sql("customers/segment_transitions_delete.sql"), {"day": day})
            day_rows = 0
            for since, back in BASES:
                base_day = day - timedelta(days=back)
                if base_day >= start_date and base_day not in scored:
                    skipped.append((day, since))
                    continue
                day_rows += conn.execute(
                    read_sql("customers/segment_transitions_insert.sql"),
                    {"day": day, "since": since, "base_day": base_day},
                ).rowcount
            conn.execute(
                read_sql("customers/segment_transition_days_record.sql"),
                {"day": day, "rows": day_rows},
            )
            rows += day_rows
    return TransitionsResult(
        first_day, last_day, rows, tuple(skipped), time.perf_counter() - started
    )
