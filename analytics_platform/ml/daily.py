"""recommendations/daily: every recommendation type of one day, each type replacing its
own rows of the day in its own transaction (so one type's failure or re-run leaves the
others alone). The Dagster asset and the demo both call `recommend_day`.

The types read nothing another type of the day writes, so given a second connection the
day runs as two lanes at once, one PostgreSQL backend each (most of the day's CPU is
theirs). The lanes are not fixed: each takes the next step of `STEPS`, longest first,
as soon as it is free (the first lane rebuilds the day's ledger aggregates first, and
the three rules, which read them, wait for that), so that the two finish close together
whatever each step costs on the day (a fixed split left one lane about 30 % longer at
20,000 users; issue 14's benchmark). The rows written are the same either way.

The day's plans run without parallel workers (`serial_plans`): the two lanes already keep
both cores busy, and the workers only added CPU (22 % of the partition's at 20,000 users,
the same rows; docs/recommendations.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import cast

import psycopg

from analytics_platform.ml import (
    budget_alerts,
    features,
    idle_balance,
    next_purchase_scoring,
    rules,
    scoring,
    spending_trend,
    surplus,
)
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


# A step of the day: (connection, day, tz) -> its report.
Step = Callable[[psycopg.Connection, date, str], object]


def _features_and_inactivity(conn: psycopg.Connection, day: date, tz: str) -> ScoringReport:
    # INACTIVITY_REMINDER reads the day's features: one step, in this order.
    features.build_missing_days(conn, day, day, tz)
    return scoring.score_inactivity(conn, day, tz)


# The day's steps by name, longest first (CPU µs per user at 200,000 users, each step
# alone the day after the previous day's, issue 14's benchmark: features and
# INACTIVITY_REMINDER 112, SPENDING_TREND 97 from its carried cells, BUDGET_ALERT 42 on a
# month's last day and 81 on a day with alerts, PROMOTION and NEW_FEATURE 52 from the
# carried interaction window, INVESTMENT 34, SAVINGS_GOAL 17): each lane takes the next
# one when it is free (longest processing time first).
STEPS: dict[str, Step] = {
    scoring.INACTIVITY_TYPE: _features_and_inactivity,
    spending_trend.TYPE: spending_trend.score_spending_trend,
    budget_alerts.BUDGET_TYPE: budget_alerts.score_budget_alerts,
    next_purchase_scoring.PROMOTION_TYPE: next_purchase_scoring.score_next_purchase,
    idle_balance.TYPE: idle_balance.score_investment,
    surplus.TYPE: surplus.score_savings_goal,
}
# The order of DayReport.by_type (the asset's metadata), as before the lanes were dynamic.
_REPORT_ORDER = (
    scoring.INACTIVITY_TYPE,
    spending_trend.TYPE,
    surplus.TYPE,
    idle_balance.TYPE,
    budget_alerts.BUDGET_TYPE,
)


def recommend_day(
    conn: psycopg.Connection, day: date, tz: str, second: psycopg.Connection | None = None
) -> DayReport:
    """Build the day's features if missing, then write each type's rows; with `second`
    (another autocommit connection to the same database), the steps are shared between
    the two connections, each taking the next one of `STEPS` when free."""
    lanes = (conn,) if second is None else (conn, second)
    pending = iter(list(STEPS.items()))
    taking = threading.Lock()
    reports: dict[str, object] = {}
    # The rules wait for the day's ledger aggregates (the first lane builds them first);
    # the other lane starts at once.
    ledger = threading.Event()
    ledger_failed: list[BaseException] = []

    def lane(lane_conn: psycopg.Connection) -> None:
        while True:
            with taking:
                name, step = next(pending, (None, None))
            if name is None or step is None:
                return
            if name in rules.RULE_TYPES:
                ledger.wait()
                if ledger_failed:
                    raise RuntimeError(
                        f"{name} of {day} not written: the day's ledger aggregates failed "
                        f"({ledger_failed[0]!r}); run the day again"
                    )
            reports[name] = step(lane_conn, day, tz)

    with serial_plans(*lanes), ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(lane, second) if second is not None else None
        try:
            try:
                rules.refresh_day(conn, day, tz)
            except BaseException as error:
                ledger_failed.append(error)
                raise
            finally:
                ledger.set()
            lane(conn)
        finally:
            # The other lane's steps finish (or fail) before the sessions are given back.
            if other is not None:
                other.result()
    by_type = {kind: cast(ScoringReport, reports[kind]) for kind in _REPORT_ORDER}
    ranked = reports[next_purchase_scoring.PROMOTION_TYPE]
    return DayReport(by_type, cast(next_purchase_scoring.ScoringReport, ranked))
