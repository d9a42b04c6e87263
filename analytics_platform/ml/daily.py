"""recommendations/daily: every recommendation type of one day, each type replacing its
own rows of the day in its own transaction (so one type's failure or re-run leaves the
others alone). The Dagster asset and the demo both call `recommend_day`.

The types read nothing another type of the day writes, so given a second connection the
day runs as two lanes at once, one PostgreSQL backend each (most of the day's CPU is
theirs): features, INACTIVITY_REMINDER and the rules on one; PROMOTION, NEW_FEATURE and
BUDGET_ALERT on the other (the two lanes cost about the same; issue 14's benchmark).
The rows written are the same either way.

The day's plans run without parallel workers (`serial_plans`): the two lanes already keep
both cores busy, and the workers only added CPU (22 % of the partition's at 20,000 users,
the same rows; docs/recommendations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import psycopg

from analytics_platform.ml import budget_alerts, features, next_purchase_scoring, rules, scoring
from analytics_platform.ml.scoring import ScoringReport


@dataclass(frozen=True)
class DayReport:
    """What one day's recommendations wrote: a report per type, and PROMOTION and
    NEW_FEATURE's together (one ranking writes both)."""

    by_type: dict[str, ScoringReport]
    next_purchase: next_purchase_scoring.ScoringReport

    @property
    def written(self) -> int:
        return (
            sum(r.written for r in self.by_type.values())
            + self.next_purchase.promotions
            + self.next_purchase.new_features
        )

    def types(self) -> list[tuple[str, int, str]]:
        """(type, rows written, the model or rule that wrote them), in writing order."""
        rows = [(kind, r.written, r.model_name) for kind, r in self.by_type.items()]
        ranked = self.next_purchase
        promotion, new_feature = (
            next_purchase_scoring.PROMOTION_TYPE,
            next_purchase_scoring.NEW_FEATURE_TYPE,
        )
        rows.append((promotion, ranked.promotions, ranked.model_name))
        rows.append((new_feature, ranked.new_features, ranked.new_feature_model_name))
        return rows


# The one planner setting the day changes, restored after: a caller's session is its own.
_PARALLEL_SETTING = "max_parallel_workers_per_gather"


@contextmanager
def serial_plans(*conns: psycopg.Connection) -> Iterator[None]:
    """Plan without parallel workers on `conns` (autocommit sessions) for the block, then
    give each session back the value it had."""
    previous = [
        str(c.execute("SELECT current_setting(%s)", (_PARALLEL_SETTING,)).fetchone()[0])  # type: ignore[index]
        for c in conns
    ]
    for c in conns:
        c.execute("SELECT set_config(%s, '0', false)", (_PARALLEL_SETTING,))
    try:
        yield
    finally:
        for c, value in zip(conns, previous, strict=True):
            c.execute("SELECT set_config(%s, %s, false)", (_PARALLEL_SETTING, value))


def recommend_day(
    conn: psycopg.Connection, day: date, tz: str, second: psycopg.Connection | None = None
) -> DayReport:
    """Build the day's features if missing, then write each type's rows; with `second`
    (another autocommit connection to the same database), PROMOTION, NEW_FEATURE and
    BUDGET_ALERT are written on it in a thread meanwhile."""

    def other_lane(
        lane: psycopg.Connection,
    ) -> tuple[ScoringReport, next_purchase_scoring.ScoringReport]:
        ranked = next_purchase_scoring.score_next_purchase(lane, day, tz)
        return budget_alerts.score_budget_alerts(lane, day, tz), ranked

    lanes = (conn,) if second is None else (conn, second)
    with serial_plans(*lanes), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(other_lane, second) if second is not None else None
        features.build_missing_days(conn, day, day, tz)
        by_type = {
            scoring.INACTIVITY_TYPE: scoring.score_inactivity(conn, day, tz),
            **rules.score_rules(conn, day, tz),
        }
        budget_report, ranked = pending.result() if pending is not None else other_lane(conn)
    by_type[budget_alerts.BUDGET_TYPE] = budget_report
    return DayReport(by_type, ranked)
