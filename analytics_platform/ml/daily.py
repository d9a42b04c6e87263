"""recommendations/daily: every recommendation type of one day, each type replacing its
own rows of the day in its own transaction (so one type's failure or re-run leaves the
others alone). The Dagster asset and the demo both call `recommend_day`."""

from __future__ import annotations

from datetime import date

import psycopg

from analytics_platform.ml import budget_alerts, features, rules, scoring
from analytics_platform.ml.scoring import ScoringReport


def recommend_day(conn: psycopg.Connection, day: date, tz: str) -> dict[str, ScoringReport]:
    """Build the day's features if missing, then write each type's rows; reports by type."""
    features.build_missing_days(conn, day, day, tz)
    return {
        scoring.INACTIVITY_TYPE: scoring.score_inactivity(conn, day, tz),
        **rules.score_rules(conn, day, tz),
        budget_alerts.BUDGET_TYPE: budget_alerts.score_budget_alerts(conn, day, tz),
    }
