"""Recommendations (PayU's endpoint): a user's active recommendations, and dismissing one,
the API's one write (recommendations.dismissals, migration 072).

Recommendations are rows of one wallet user, platform-wide data like the customers
endpoints: admin keys only, merchant keys get 403 `ANA_AUTH_003` (no recommendation type
is a merchant's yet; docs/recommendations.md says when that would change). Unhandled
errors answer `ANA_SYS_004`, PayU's code for this endpoint.

Not served from the response cache: a dismissal must hide its recommendation at once,
and a re-run of a day must show at once, while the cache follows only the marts'
watermarks. Each answer is one indexed query for one user.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from analytics_platform.api.deps import Auth, TimezoneParam, context
from analytics_platform.api.errors import error_responses
from analytics_platform.api.export import JSON, require_json
from analytics_platform.api.queries import recommendations
from analytics_platform.api.queries.common import Ask
from analytics_platform.api.schemas import Dismissal, Recommendations

router = APIRouter(tags=["recommendations"])

WHAT = "user recommendations"
_ERRORS = error_responses(
    "ANA_VAL_002", "ANA_VAL_004", "ANA_VAL_006", "ANA_AUTH_003", internal="ANA_SYS_004"
)
_DISMISS_ERRORS = error_responses(
    "ANA_VAL_002", "ANA_VAL_004", "ANA_AUTH_003", "ANA_REC_001", internal="ANA_SYS_004"
)
UserIdParam = Annotated[
    str, Path(description="The user id of the events.", min_length=1, max_length=200)
]


def _respond(body: Recommendations | Dismissal) -> Response:
    return Response(
        body.model_dump_json(by_alias=True),
        media_type=JSON,
        # Per user and changed by every dismissal: never reused from a cache.
        headers={"Cache-Control": "private, no-store", "Vary": "X-API-Key"},
    )


@router.get(
    "/user/{user_id}/recommendations",
    response_model=Recommendations,
    responses=_ERRORS,
    summary="A user's active recommendations",
)
async def user_recommendations(
    request: Request, principal: Auth, user_id: UserIdParam, timezone: TimezoneParam = None
) -> Response:
    """The user's recommendations that have not expired, one per type (the newest day's),
    without the types the user dismissed within the last
    RECOMMENDATION_DISMISS_COOLDOWN_DAYS days; highest priority first, then score. A user
    without any gets an empty list."""
    ctx = context(request, principal, timezone, platform_only=WHAT)
    require_json(request.headers.get("accept"))
    state = ctx.state
    async with state.db.scoped(principal.scope) as conn:
        ask = Ask(state.db, conn, ctx.subject, ctx.tz, state.settings.tz, ctx.now)
        body = await recommendations.active(
            ask, user_id, state.settings.recommendation_dismiss_cooldown_days
        )
    return _respond(body)


@router.post(
    "/user/{user_id}/recommendations/{recommendation_id}/dismiss",
    response_model=Dismissal,
    responses=_DISMISS_ERRORS,
    summary="Dismiss one of a user's recommendations",
)
async def dismiss_recommendation(
    request: Request,
    principal: Auth,
    user_id: UserIdParam,
    recommendation_id: Annotated[
        UUID, Path(description="`recommendationId` of one of the user's recommendations.")
    ],
    timezone: TimezoneParam = None,
) -> Response:
    """Hides the recommendation's type for the user for RECOMMENDATION_DISMISS_COOLDOWN_DAYS
    days (also across re-runs of its day and the next days' recommendations) and records
    the dismissal as negative feedback for the next training. Idempotent: dismissing a type
    already dismissed within the cool-down records nothing and returns that dismissal.
    `ANA_REC_001` (404) when the id is not one of this user's recommendations."""
    ctx = context(request, principal, timezone, platform_only=WHAT)
    state = ctx.state
    async with state.db.scoped(principal.scope) as conn:
        ask = Ask(state.db, conn, ctx.subject, ctx.tz, state.settings.tz, ctx.now)
        body = await recommendations.dismiss(
            ask,
            user_id,
            recommendation_id,
            principal.key_id,
            state.settings.recommendation_dismiss_cooldown_days,
        )
    return _respond(body)
