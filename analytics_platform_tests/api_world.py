"""The API tests' world: a month of synthetic events, ingested and rolled up for real.

The generator's events (several currencies, merchants, users, devices, countries) are
decoded and written by the ingestion loader, then every mart is materialized by the
rollup runner as the automation's planner asks, up to a fixed clock reading: hourly
buckets up to two hours before "now" (so the realtime tail spans raw hours), days, weeks
and months that have closed. The API then runs on that clock, so every window is known.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient

from analytics_platform.api.app import create_app
from analytics_platform.api.keys import create_api_key
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import Grain
from analytics_platform.settings import Settings

from .conftest import PostgresCluster, settings_for
from .rollup_reference import migrated_database, run_until_nothing_due

# A Wednesday afternoon: today, this week and this month all have closed hours, and the
# previous month is complete.
NOW = datetime(2026, 3, 18, 14, 25, tzinfo=UTC)
HISTORY_DAYS = 50
EVENTS_PER_DAY = 300
UTC_ZONE = ZoneInfo("UTC")


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_floor(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


MARTS_HOURS_UNTIL = hour_floor(NOW) - timedelta(hours=2)
TODAY = day_floor(NOW)


def load_events(url: str, now: datetime, days: int, events_per_day: int) -> dict[str, int]:
    """The generator's events of `days` days up to `now` into the raw tables, through the
    ingestion loader (duplicates dropped, touched hours recorded)."""
    config = GeneratorConfig(
        seed=7,
        days=days,
        events_per_day=events_per_day,
        start=day_floor(now) - timedelta(days=days - 1),
        late_fraction=0.0,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
    )
    return load_generated_rows(url, config, now, UTC_ZONE, consumer_group="api-tests")


def materialize(url: str, now: datetime, hours_until: datetime) -> None:
    """Every closed bucket, as the automation would run them (hours up to hours_until)."""
    closed = {
        Grain.HOURLY: hours_until,
        Grain.DAILY: day_floor(now),
        Grain.WEEKLY: day_floor(now) - timedelta(days=now.weekday()),
        Grain.MONTHLY: day_floor(now).replace(day=1),
    }
    with connect(url, autocommit=True) as conn:
        run_until_nothing_due(conn, "UTC", closed)


@dataclass
class World:
    url: str
    settings: Settings
    admin_key: str
    merchant: str
    merchant_key: str
    other_merchant: str
    user: str

    def client(self, **env: Any) -> contextlib.AbstractContextManager[TestClient]:
        if env:
            env = {"api_rate_limit_per_minute": "0", **env}
        settings = self.settings if not env else settings_for(database_url=self.url, **env)
        return TestClient(create_app(settings, clock=lambda: NOW))

    def query(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        """Rows as the migration owner sees them (no row-level security)."""
        with (
            psycopg.connect(self.url, autocommit=True) as conn,
            conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
        ):
            cur.execute(statement, params)
            return cur.fetchall()


@contextlib.contextmanager
def api_world(cluster: PostgresCluster) -> Iterator[World]:
    with migrated_database(cluster) as url:
        load_events(url, NOW, HISTORY_DAYS, EVENTS_PER_DAY)
        materialize(url, NOW, MARTS_HOURS_UNTIL)
        # No rate limit: one admin key makes hundreds of requests a second here (the
        # limit has tests of its own).
        settings = settings_for(database_url=url, api_rate_limit_per_minute="0")
        with psycopg.connect(url, autocommit=True) as conn:
            busiest = conn.execute(
                "SELECT merchant_id FROM raw.transactions WHERE merchant_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            ).fetchall()
            (user,) = conn.execute(
                "SELECT user_id FROM marts.cashflow_daily WHERE user_id <> '' "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ).fetchone()
            merchant, other = busiest[0][0], busiest[1][0]
            yield World(
                url=url,
                settings=settings,
                admin_key=create_api_key(conn, name="tests admin", scope="admin"),
                merchant=merchant,
                merchant_key=create_api_key(
                    conn, name="tests merchant", scope=f"merchant:{merchant}"
                ),
                other_merchant=other,
                user=user,
            )


def money(value: Any) -> Decimal:
    return Decimal(str(value))
