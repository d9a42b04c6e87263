"""recommendations/daily: every recommendation type of one day, each type replacing its
own rows of the day in its own transaction (so one type's failure or re-run leaves the
others alone). The Dagster asset and the demo both call `recommend_day`."""

from __future__ import annotations

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


def recommend_day(conn: psycopg.Connection, day: date, tz: str) -> DayReport:
    """Build the day's features if missing, then write each type's rows."""
    features.build_missing_days(conn, day, day, tz)
    by_type = {
        scoring.INACTIVITY_TYPE: scoring.score_inactivity(conn, day, tz),
        **rules.score_rules(conn, day, tz),
        budget_alerts.BUDGET_TYPE: budget_alerts.score_budget_alerts(conn, day, tz),
    }
    return DayReport(by_type, next_purchase_scoring.score_next_purchase(conn, day, tz))
