"""The demo's event history: which window, producing it to Kafka, ingesting it.

The history ends now, so the hourly rollups, the realtime endpoints and the live stream
that follows all join up. It is produced in full and then ingested with the very
function the ingest sensors call (`ingestion.runner.ingest_topic`), before any server
starts: the demo's first screen already holds 30 days of data, and the embedded Kafka
(about 5 MiB per partition, see dev/kafka.py) never has to hold more than the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tqdm import tqdm

from analytics_platform.dev.event_sinks import produce_to_kafka
from analytics_platform.dev.generator import (
    GeneratorConfig,
    Simulation,
    estimate_total_events,
)
from analytics_platform.events import TOPICS
from analytics_platform.ingestion.runner import IngestReport, ingest_topic
from analytics_platform.resources.kafka import producer_config
from analytics_platform.settings import Settings

# What the embedded Kafka keeps per topic with the default 64 partitions and lz4 is about
# 2.4 million events (docs/ingestion.md, "The embedded Kafka's retention"); the busiest topic
# (user-activity) carries about 2.3 events per transaction.
EMBEDDED_KAFKA_TOPIC_CAPACITY = 2_400_000
BUSIEST_TOPIC_EVENTS_PER_TRANSACTION = 2.3
# The generator's `events_per_day` counts the transactions users start; each brings
# about 0.17 more rows of raw.transactions (the receiving side of transfers between
# users, automatic top-ups before a debit). Measured: 1.168 at 2,000 and 1.180 at
# 10,000 a day over a week without paydays; paydays add about 2 % over a month.
TRANSACTION_ROWS_PER_STARTED = 1.19


class HistoryTooLargeError(ValueError):
    """The requested history would not fit in the embedded Kafka before it is ingested."""


@dataclass(frozen=True)
class HistoryWindow:
    """[start, end) of the history's event times; `end` is when the demo started."""

    start: datetime
    end: datetime
    days: int

    @property
    def partitions_start_date(self) -> date:
        """First day of the partitioned assets: the first of the month holding the Monday
        that starts the history's first week, so that week and every month of the
        history are whole partitions (a history starting on Wednesday 1 July needs the
        week of Monday 29 June, hence June)."""
        first_day = self.start.date()
        return (first_day - timedelta(days=first_day.weekday())).replace(day=1)


def history_window(days: int, now: datetime, tz: ZoneInfo) -> HistoryWindow:
    """The `days` days up to `now` (to the minute), in the reporting time zone."""
    end = now.astimezone(tz).replace(second=0, microsecond=0)
    return HistoryWindow(start=end - timedelta(days=days), end=end, days=days)


def check_fits_embedded_kafka(days: int, events_per_day: int, partitions: int) -> None:
    """Refuse a history the embedded Kafka would truncate before ingestion reads it."""
    busiest = days * events_per_day * BUSIEST_TOPIC_EVENTS_PER_TRANSACTION
    capacity = EMBEDDED_KAFKA_TOPIC_CAPACITY * partitions / 64
    if busiest > capacity:
        most = int(capacity / (days * BUSIEST_TOPIC_EVENTS_PER_TRANSACTION))
        raise HistoryTooLargeError(
            f"{days} days of {events_per_day:,} transactions make about {busiest:,.0f} "
            f"events on the busiest topic, more than the embedded Kafka keeps with "
            f"{partitions} partitions per topic (about {capacity:,.0f}); ask for at most "
            f"{most:,} transactions per day, fewer days, or raise KAFKA_TOPIC_PARTITIONS"
        )


def history_config(window: HistoryWindow, transactions_per_day: int, seed: int) -> GeneratorConfig:
    """The generator's settings for about `transactions_per_day` rows of raw.transactions
    a day over the window (what the demo says it makes, and what the marts count)."""
    started = max(1, round(transactions_per_day / TRANSACTION_ROWS_PER_STARTED))
    return GeneratorConfig(seed=seed, days=window.days, events_per_day=started, start=window.start)


def produce_history(settings: Settings, history: Simulation, progress: bool) -> dict[str, int]:
    """Every event of the history's window into Kafka; the count per topic (short names).

    `history` then holds the world as the window left it, for the live stream to carry on.
    """
    config = history.config
    return produce_to_kafka(
        history.run(),
        producer_config(settings),
        settings.kafka_topic_prefix,
        total=estimate_total_events(config),
        progress=progress,
    )


def ingest_history(
    settings: Settings, expected: Mapping[str, int], progress: bool
) -> dict[str, IngestReport]:
    """Ingest every topic up to its end, as the sensors would; reports per topic.

    `expected` (messages per topic) only sizes the progress bar.
    """
    reports: dict[str, IngestReport] = {}
    with tqdm(
        total=sum(expected.values()), unit="ev", unit_scale=True, disable=not progress
    ) as bar:
        for name in TOPICS:
            bar.set_description(name)
            reports[name] = ingest_topic(
                settings,
                name,
                batch_size=settings.ingest_batch_size,
                on_batch=lambda result, _remaining: bar.update(result.messages),
            )
    return reports
