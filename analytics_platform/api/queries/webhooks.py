"""Webhook delivery figures from the webhooks marts."""

from __future__ import annotations

from typing import Any

from analytics_platform.api.periods import Window
from analytics_platform.api.queries.common import Ask, Freshness, percent, rounded
from analytics_platform.api.schemas import WebhookEventType, WebhookMetrics

DAILY = "webhooks_daily"


def _figures(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {
        "deliveries": 0,
        "delivered": 0,
        "failed": 0,
        "retrying": 0,
        "retry_attempts": 0,
        "latency_ms_total": 0.0,
    }
    deliveries = row["deliveries"]
    return {
        "deliveries": deliveries,
        "successful": row["delivered"],
        "failed": row["failed"],
        "pending": row["retrying"],
        "success_rate": percent(row["delivered"], row["delivered"] + row["failed"]),
        "retry_attempts": row["retry_attempts"],
        "average_latency_ms": rounded(row["latency_ms_total"] / deliveries) if deliveries else None,
    }


async def webhook_metrics(ask: Ask, days: int, window: Window) -> tuple[WebhookMetrics, Freshness]:
    """The last `days` complete days (`window`, `periods.last_days` of them): the
    merchant's deliveries (a merchant key's own; all merchants for the platform), in
    total and per webhook event type."""
    start, end = window.utc
    params = {"merchant_id": ask.subject.dimension_value, "window_start": start, "window_end": end}
    (rows,), fresh = await ask.last_reads([("api/webhooks.sql", params, DAILY)], [DAILY], window)
    total = next((r for r in rows if r["event_type"] == ""), None)
    model = WebhookMetrics(
        days=days,
        window=ask.window(window),
        **_figures(total),
        by_event_type=[
            WebhookEventType(event_type=r["event_type"], **_figures(r))
            for r in rows
            if r["event_type"] != ""
        ],
    )
    return model, fresh
