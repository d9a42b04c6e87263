"""The catch-up job: the same ingest function over explicit offset ranges, as a run.

Launched by a topic's sensor when its lag is more than one tick can absorb (first load,
after downtime). Runs carry the tag `ingest/topic`, limited to one at a time per topic
in dagster.yaml; a retried or re-executed run resumes from the stored offsets, so it
never ingests an event twice.
"""

# No `from __future__ import annotations`: Dagster reads the op signature's Config type.

from dagster import Backoff, Config, OpExecutionContext, RetryPolicy, job, op

from analytics_platform.ingestion.asset_events import hour_materializations
from analytics_platform.ingestion.loader import BatchResult
from analytics_platform.ingestion.runner import ingest_topic
from analytics_platform.settings import load_settings

TOPIC_TAG = "ingest/topic"


class CatchUpConfig(Config):
    topic: str
    """Short topic name of the event contract, e.g. `transactions`."""
    end_offsets: dict[str, int]
    """Partition -> offset to stop before (the high watermarks when the run was planned)."""


@op(
    retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
    tags={"kind": "kafka"},
)
def ingest_offset_ranges(context: OpExecutionContext, config: CatchUpConfig) -> None:
    """Ingest the topic from its stored offsets up to `end_offsets`, batch by batch."""
    settings = load_settings()
    end = {int(p): o for p, o in config.end_offsets.items()}
    total = None
    done = 0

    def progress(result: BatchResult, remaining: int) -> None:
        nonlocal total, done
        done += result.messages
        total = total or done + remaining
        context.log.info(
            f"{config.topic}: {done:,}/{total:,} messages ({done / total:.0%}); batch of "
            f"{result.messages:,}: {result.rows_inserted:,} rows, {result.duplicates:,} "
            f"duplicates, {result.dead_letters:,} dead letters"
        )
        for event in hour_materializations(config.topic, result):
            context.log_event(event)

    report = ingest_topic(
        settings,
        config.topic,
        end_offsets=end,
        batch_size=settings.ingest_batch_size,
        on_batch=progress,
    )
    context.log.info(
        f"{config.topic}: caught up {report.result.messages:,} messages in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f}/s); "
        "inline ingestion resumes from the stored offsets"
    )


@job(
    description=(
        "Catch-up ingestion of one Kafka topic over explicit offset ranges (launched by "
        "the ingest sensors when the lag is larger than a tick can absorb)."
    ),
)
def ingest_catch_up() -> None:
    ingest_offset_ranges()
