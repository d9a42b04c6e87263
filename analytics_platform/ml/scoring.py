"""recommendations/daily, INACTIVITY_REMINDER rows: every eligible user of a day scored.

Eligible: every user with a feature row on the day. With a champion in ml.models the
score is its calibrated probability of going quiet; without one (no model has beaten
recency yet) the baseline rule scores instead: recency / (2 x horizon), capped at 1,
so a user silent for the whole horizon scores 0.5. A user is reminded when the score is
at least `REMIND_THRESHOLD`. Deterministic for a fixed model and day: ids derive from
(day, user, type), `created_at` is the end of the day, and rows are written in user order;
a re-run deletes the day's rows of these types and writes them again in one transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from analytics_platform.ml import features, inactivity, model_store
from analytics_platform.resources.warehouse import run_sql_file

INACTIVITY_TYPE = "INACTIVITY_REMINDER"
REMIND_THRESHOLD = 0.5
VALID_DAYS = 7
BASELINE_MODEL_NAME = "baseline:recency"
ID_NAMESPACE = uuid.UUID("6f1d3c2e-14a1-4e0b-9d7e-5c1f0a8b7e14")
_COLUMN = {name: index for index, name in enumerate(features.FEATURE_NAMES)}


@dataclass(frozen=True)
class ScoringReport:
    """What a day's scoring used and wrote (the asset's metadata)."""

    scored: int
    written: int
    model_name: str
    model_version: int | None
    fallback: str  # why the baseline rule scored, or ""


def recommendation_id(day: date, user_id: str, kind: str) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, f"{day.isoformat()}/{user_id}/{kind}")


def baseline_scores(values: np.ndarray, horizon_days: int) -> np.ndarray:
    return np.minimum(1.0, values[:, _COLUMN["recency_days"]] / (2.0 * horizon_days))


def _priority(score: float) -> int:
    return 1 + min(4, int(score * 5))


def _row(
    day: date, user_id: str, values: np.ndarray, score: float, model: tuple[str, int | None]
) -> dict[str, object]:
    recency = float(values[_COLUMN["recency_days"]])
    last_week, week_before = (int(values[_COLUMN[n]]) for n in ("tx_7d", "tx_prev_7d"))
    failed = int(values[_COLUMN["failed_7d"]])
    description = (
        f"Your last payment was {recency:.0f} days ago; you made {last_week} payments in "
        f"the last 7 days against {week_before} the week before."
    )
    if failed:
        description += f" {failed} of your payments failed this week: we can help."
    return {
        "user_id": user_id,
        "type": INACTIVITY_TYPE,
        "title": "We miss you",
        "description": description,
        "action_url": "/wallet/home",
        "priority": _priority(score),
        "score": round(score, 6),
        "reason": json.dumps(
            {
                "probability_quiet": round(score, 6),
                "recency_days": round(recency, 2),
                "tx_7d": last_week,
                "tx_prev_7d": week_before,
                "failed_7d": failed,
            }
        ),
        "model_name": model[0],
        "model_version": model[1],
    }


def score_inactivity(conn: psycopg.Connection, day: date, tz: str) -> ScoringReport:
    """Replace the day's INACTIVITY_REMINDER rows (features of the day must exist)."""
    frame = features.read_days(conn, day, day)
    champion = model_store.champion(conn, inactivity.MODEL_NAME)
    if champion is not None:
        scores = inactivity.predict_quiet(champion.estimator(), frame.values)
        model: tuple[str, int | None] = (inactivity.MODEL_NAME, champion.version)
        fallback = ""
    else:
        scores = baseline_scores(frame.values, inactivity.HORIZON_DAYS)
        model = (BASELINE_MODEL_NAME, None)
        fallback = "no accepted inactivity model: the recency rule scored"
    created = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
    rows = [
        {
            **_row(day, user, values, float(score), model),
            "id": recommendation_id(day, user, INACTIVITY_TYPE),
            "day": day,
            "created_at": created,
            "expires_at": created + timedelta(days=VALID_DAYS),
        }
        for user, values, score in zip(frame.user_ids, frame.values, scores, strict=True)
        if score >= REMIND_THRESHOLD
    ]
    # Imported here: recommendation_writes imports this module's ids and validity.
    from analytics_platform.ml.recommendation_writes import copy_rows

    with conn.transaction(), conn.cursor() as cursor:
        run_sql_file(
            conn, "ml/recommendations_delete_day.sql", {"day": day, "types": [INACTIVITY_TYPE]}
        )
        # By COPY, as the other types: a statement per row cost more than the scoring.
        copy_rows(cursor, rows)
    return ScoringReport(len(frame), len(rows), model[0], model[1], fallback)
