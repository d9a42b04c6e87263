"""Small generated worlds in a migrated database, for the recommendation tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.migrations import migrate

from .conftest import PostgresCluster, settings_for
from .rollup_reference import RawLoaders, transaction

# A zone east of UTC, so that local days and UTC days differ.
TZ = "Asia/Jakarta"
# A zone whose offset is not whole hours (+05:30): its midnights fall inside UTC hours.
KOLKATA = "Asia/Kolkata"
START = datetime(2026, 1, 1, tzinfo=UTC)


def day_of(offset: int) -> date:
    """The local date `offset` days after the world's start."""
    return (START + timedelta(days=offset)).date()


@contextmanager
def generated_world(
    cluster: PostgresCluster,
    days: int,
    events_per_day: int,
    users: int,
    tastes: bool = True,
    topics: tuple[str, ...] = ("transactions", "wallet-balances", "user-activity"),
    monthly_habits: bool = False,
    taste_segments: bool = True,
) -> Iterator[str]:
    """A migrated database holding `days` days of the generator's `topics` (by default
        transactions, balances and app activity; no faults: the tests are about models, not
        ingestion). `monthly_habits` (the tastes' monthly rhythm, for BUDGET_ALERT) is off
        by default: it changes the realization of every later draw, and the inactivity tests
        keep the world they were measured on. `taste_segments=False` leaves out the segments
    users share (the world before them, for comparisons)."""
    url = cluster.create_database()
    try:
        migrate(settings_for(database_url=url))
        config = GeneratorConfig(
            seed=7,
            days=days,
            events_per_day=events_per_day,
            users=users,
            start=START,
            late_fraction=0.0,
            duplicate_fraction=0.0,
            malformed_fraction=0.0,
            tastes=tastes,
            monthly_habits=monthly_habits,
            taste_segments=taste_segments,
        )
        load_generated_rows(
            url,
            config,
            START + timedelta(days=days),
            ZoneInfo(TZ),
            topics,
            consumer_group="ml-tests",
        )
        yield url
    finally:
        cluster.drop_database(url)


def ingest_payment(
    conn: psycopg.Connection, at: datetime, user: str, amount: Decimal, hours_in: str
) -> None:
    """A successful payment of `user` at `at`, written by ingestion's loader, which records
    it in ingest.touched_hours in the hour it falls in in zone `hours_in` (its
    REPORTING_TIMEZONE)."""
    payment = transaction(
        at,
        user_id=user,
        transaction_id=f"tx-{user}",
        amount=amount,
        processing_ms=10,
        merchant_id="m-late",
    )
    RawLoaders(ZoneInfo(hours_in)).insert(conn, "raw.transactions", [payment])


def insert_late_payment(
    conn: psycopg.Connection,
    at: datetime,
    user: str,
    amount: Decimal,
    *,
    currency: str = "IDR",
    category: str,
    merchant: str | None = None,
    method: str = "CARD",
) -> None:
    """A successful payment of `user` at `at` written by ingestion's loader with its hour
    recorded in ingest.touched_hours at the whole UTC hour (as ingestion records it in a
    whole-hour zone such as the world's): a late event for the day stats."""
    late = transaction(
        at,
        user_id=user,
        transaction_id=f"tx-late-{uuid.uuid4()}",
        amount=amount,
        currency=currency,
        category=category,
        payment_method=method,
        merchant_id=merchant,
        processing_ms=1,
    )
    RawLoaders(ZoneInfo("UTC")).insert(conn, "raw.transactions", [late])
