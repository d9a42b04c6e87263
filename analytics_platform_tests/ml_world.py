"""Small generated worlds in a migrated database, for the recommendation tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.migrations import migrate

from .conftest import PostgresCluster, settings_for

# A zone east of UTC, so that local days and UTC days differ.
TZ = "Asia/Jakarta"
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
