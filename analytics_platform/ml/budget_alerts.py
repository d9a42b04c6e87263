"""recommendations/daily, BUDGET_ALERT rows: month-end forecasts as of the end of a day.

Eligible: every (user, category, currency) with a habit (see budget.py) as of the end of
the day, before the month's last day. With a champion in ml.models its regressor
forecasts; without one the baseline rule does (linear extrapolation of the month so
far, `model_name = 'baseline:linear_extrapolation'`), with the pace weights fitted in
the newest training (read from its JSON parameters, nothing unpickled), or the plain
month-so-far pace when no training has run; the report's `fallback` says which. An
alert is a forecast above the usual month by the margin the model was evaluated with.
One row per user (the grain of recommendations.daily): the category with the largest
overshoot, the others named in the description and the reason. Currencies are never
summed. Deterministic for a fixed model and day; a re-run replaces the day's
BUDGET_ALERT rows (and no others) in one transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from analytics_platform.ml import budget, budget_day_spend, model_store
from analytics_platform.ml.recommendation_writes import copy_rows, recommendation_ids
from analytics_platform.ml.scoring import VALID_DAYS, ScoringReport
from analytics_platform.resources.warehouse import run_sql_file

BUDGET_TYPE = "BUDGET_ALERT"


def _priority(overshoot: float, margin: float) -> int:
    """2 at the margin, one more per further margin's worth of overshoot, at most 5."""
    return 1 + min(4, int(overshoot / margin)) if margin > 0 else 5


# The frame's columns an alert's text and reason show.
_SHOWN = ("usual", "spent_so_far", "days_elapsed", "days_in_month")


def _alert_row(
    frame: budget.BudgetFrame,
    rows: list[int],
    figures: dict[str, list[float]],
    margin: float,
    model: tuple[str, int | None],
) -> dict[str, object]:
    """The user's recommendation: `rows` are their alerts, largest overshoot first;
    `figures` the frame's _SHOWN columns and the forecast as Python floats (read per row,
    numpy's scalars cost more than the row's text)."""
    top = rows[0]
    forecast = figures["forecast"][top]
    usual = figures["usual"][top]
    so_far = figures["spent_so_far"][top]
    overshoot = forecast / usual - 1.0
    category, currency = frame.categories[top], frame.currencies[top]
    elapsed, days = (int(figures[n][top]) for n in ("days_elapsed", "days_in_month"))
    others = [f"{frame.categories[r]} ({frame.currencies[r]})" for r in rows[1:]]
    description = (
        f"At your pace you will spend about {currency} {forecast:,.0f} on {category} "
        f"this month, {overshoot:.0%} more than your usual {currency} {usual:,.0f} "
        f"({currency} {so_far:,.0f} so far, day {elapsed} of {days})."
    )
    if others:
        description += f" Also above your usual: {', '.join(others)}."
    return {
        "user_id": frame.user_ids[top],
        "type": BUDGET_TYPE,
        "title": f"Your {category} spending is running high",
        "description": description,
        "action_url": f"/wallet/budgets?category={category}",
        "priority": _priority(overshoot, margin),
        "score": round(overshoot, 6),
        "reason": json.dumps(
            {
                "category": category,
                "currency": currency,
                "forecast": round(forecast, 2),
                "usual": round(usual, 2),
                "spent_so_far": round(so_far, 2),
                "days_elapsed": elapsed,
                "days_in_month": days,
                "margin": margin,
                "also_above_usual": others,
            }
        ),
        "model_name": model[0],
        "model_version": model[1],
    }


def score_budget_alerts(conn: psycopg.Connection, day: date, tz: str) -> ScoringReport:
    """Replace the day's BUDGET_ALERT rows (features as of the day's end: from
    ml.budget_day_spend, or from raw.transactions where the daily rows cannot be exact)."""
    champion = model_store.champion(conn, budget.MODEL_NAME)
    source = champion or model_store.latest(conn, budget.MODEL_NAME)
    parameters = source.parameters if source else {}
    history = int(parameters.get("history_months", budget.HISTORY_MONTHS))
    habit = int(parameters.get("min_habit_months", budget.MIN_HABIT_MONTHS))
    margin = float(parameters.get("alert_margin", budget.ALERT_MARGIN))
    frame = budget_day_spend.read_features(conn, day, tz, history, habit)
    values = frame.values
    if champion is not None:
        forecast = budget.predict(champion.estimator().model, values)
        model: tuple[str, int | None] = (budget.MODEL_NAME, champion.version)
        fallback = ""
    else:
        coefficients = tuple(parameters.get("baseline_coefficients", budget.NAIVE_COEFFICIENTS))
        forecast = budget.baseline_forecast(values, coefficients)
        model = (budget.BASELINE_MODEL_NAME, None)
        fallback = (
            f"no accepted budget model: linear extrapolation scored, pace weights fitted "
            f"in version {source.version}"
            if source
            else "no budget model trained yet: the plain month-so-far extrapolation scored"
        )
    # On the month's last day the month is complete: nothing is left to forecast.
    open_month = frame.column("days_elapsed") < frame.column("days_in_month")
    alerting = open_month & budget.alerts(values, forecast, margin)
    by_user: dict[str, list[int]] = {}
    ratio = (forecast / np.where(alerting, frame.column("usual"), 1.0)).tolist()
    for index in np.flatnonzero(alerting).tolist():
        by_user.setdefault(frame.user_ids[index], []).append(index)
    figures = {name: frame.column(name).tolist() for name in _SHOWN}
    figures["forecast"] = forecast.tolist()
    users = sorted(by_user)
    created = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
    rows = [
        {
            **_alert_row(
                frame,
                sorted(
                    by_user[user],
                    key=lambda i: (-ratio[i], frame.categories[i], frame.currencies[i]),
                ),
                figures,
                margin,
                model,
            ),
            "id": row_id,
            "day": day,
            "created_at": created,
            "expires_at": created + timedelta(days=VALID_DAYS),
        }
        for user, row_id in zip(users, recommendation_ids(day, users, BUDGET_TYPE), strict=True)
    ]
    with conn.transaction(), conn.cursor() as cursor:
        run_sql_file(
            conn, "ml/recommendations_delete_day.sql", {"day": day, "types": [BUDGET_TYPE]}
        )
        copy_rows(cursor, rows)
    return ScoringReport(len(frame), len(rows), model[0], model[1], fallback)
