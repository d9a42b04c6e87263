"""Recommendations: a user's active ones from recommendations.daily, and dismissing one
into recommendations.dismissals (the API's one write). Row-level security limits both
tables to admin scope; the routes refuse merchant keys before asking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from analytics_platform.api.errors import ApiError, echo
from analytics_platform.api.queries.common import Ask
from analytics_platform.api.schemas import Dismissal, Recommendation, Recommendations


def _recommendation(ask: Ask, row: dict[str, Any]) -> Recommendation:
    return Recommendation(
        recommendation_id=row["id"],
        recommendation_type=row["type"],
        title=row["title"],
        description=row["description"],
        action_url=row["action_url"],
        priority=row["priority"],
        score=row["score"],
        reason=row["reason"],
        model_name=row["model_name"],
        model_version=row["model_version"],
        day=row["day"],
        created_at=ask.at(row["created_at"]),
        expires_at=ask.at(row["expires_at"]),
    )


async def active(ask: Ask, user_id: str, cooldown_days: int) -> Recommendations:
    """Not expired, not of a type the user dismissed within the cool-down; one per type
    (the newest day's), highest priority first. A user without any: an empty list."""
    rows = await ask.rows(
        "api/recommendations_active.sql",
        {"user_id": user_id, "now": ask.now, "cooldown_days": cooldown_days},
    )
    items = [_recommendation(ask, row) for row in rows]
    return Recommendations(user_id=user_id, recommendations=items, count=len(items))


async def dismiss(
    ask: Ask, user_id: str, recommendation_id: UUID, key_id: int, cooldown_days: int
) -> Dismissal:
    """Record the dismissal (once per user and type within the cool-down); ANA_REC_001
    when the id is not one of this user's recommendations."""
    rows = await ask.rows(
        "api/recommendation_dismiss.sql",
        {
            "id": recommendation_id,
            "user_id": user_id,
            "now": ask.now,
            "key_id": key_id,
            "cooldown_days": cooldown_days,
        },
    )
    if not rows:
        raise ApiError(
            "ANA_REC_001",
            f"user {echo(user_id)} has no recommendation {recommendation_id}; the ids are "
            "those of GET .../user/{user_id}/recommendations",
        )
    row = rows[0]
    dismissed_at: datetime = row["dismissed_at"]
    return Dismissal(
        recommendation_id=recommendation_id,
        recommendation_type=row["type"],
        dismissed_at=ask.at(dismissed_at),
        hidden_until=ask.at(dismissed_at + timedelta(days=cooldown_days)),
        already_dismissed=not row["created"],
    )
