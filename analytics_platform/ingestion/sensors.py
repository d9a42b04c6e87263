"""One sensor per topic: inline micro-batches in steady state, a catch-up run for lags.

The decisions are made on numbers from the database and Kafka (stored offsets,
watermarks); the sensor cursor only records the last tick's summary for the UI, which
also shows each tick's outcome as its skip reason and log line (see `TickOutcome`).
"""

from __future__ import annotations

import time

from dagster import (
    AssetMaterialization,
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from analytics_platform.events import TOPICS, topic_spec
from analytics_platform.ingestion.asset_events import (
    TickOutcome,
    catch_up_requested_outcome,
    catch_up_running_outcome,
    hour_materializations,
    idle_outcome,
    ingested_outcome,
    lag_observation,
)
from analytics_platform.ingestion.jobs import TOPIC_TAG, ingest_catch_up
from analytics_platform.ingestion.reader import TopicReader
from analytics_platform.ingestion.runner import (
    ingest_topic,
    loader_for,
    read_state,
    recording_run,
)
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import load_settings

# The daemon evaluates sensors in a loop that comes round every 5 s and starts a
# sensor's next tick only at an iteration after the previous tick returned. A tick that
# returns just after an iteration leaves the topic unread for almost 5 s more, so a
# following tick stops this long before its budget (counted from the evaluation's
# start) is up, leaving room for its own wind-down (~0.5-1.5 s) and landing just before
# an iteration: gaps between ticks of 1.6-1.8 s and p95 latency 2.5-3.1 s at 5k events/s,
# against gaps of 3.5-5.1 s and p95 3.4-9.8 s with the budget counted from the start of
# ingest_topic (benchmarks/ingest_latency.py).
_TICK_END_MARGIN_SECONDS = 2.5

_ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def sensor_name(short_name: str) -> str:
    return "ingest_" + topic_spec(short_name).table.removeprefix("raw.")


def evaluate_ingest_tick(context: SensorEvaluationContext, short_name: str) -> SensorResult:
    """One tick; every outcome says what it did in the tick's log, its cursor and, for
    ticks without a run request (shown as SKIPPED), its skip reason."""
    started = time.monotonic()
    settings = load_settings()
    active = context.instance.get_run_records(
        RunsFilter(tags={TOPIC_TAG: short_name}, statuses=_ACTIVE), limit=1
    )
    if active:
        outcome = catch_up_running_outcome(short_name, active[0].dagster_run.run_id)
        return _skipped(context, outcome)
    loader = loader_for(settings, short_name)
    with connect(settings.database_url, autocommit=True) as conn:
        reader = TopicReader(settings, loader.topic)
        try:
            # A readable topic is a success too: an idle topic must not stay "failing".
            with recording_run(settings, loader):
                state = read_state(conn, reader, loader)
        finally:
            reader.close()
        if state.lag > settings.ingest_catchup_threshold:
            end = {str(p): o for p, o in state.end.items()}
            run_key = f"{short_name}:" + ",".join(f"{p}={o}" for p, o in end.items())
            outcome = catch_up_requested_outcome(
                short_name, state, settings.ingest_catchup_threshold, run_key
            )
            context.log.info(outcome.message)
            return SensorResult(
                run_requests=[
                    RunRequest(
                        run_key=run_key,
                        run_config={
                            "ops": {
                                "ingest_offset_ranges": {
                                    "config": {"topic": short_name, "end_offsets": end}
                                }
                            }
                        },
                        tags={TOPIC_TAG: short_name},
                    )
                ],
                asset_events=[lag_observation(short_name, state)],
                cursor=outcome.cursor,
            )
        if state.lag == 0:
            return _skipped(
                context, idle_outcome(short_name, state), [lag_observation(short_name, state)]
            )
        report = ingest_topic(
            settings,
            short_name,
            follow=True,
            time_budget=max(
                1.0,
                settings.ingest_tick_budget_seconds
                - _TICK_END_MARGIN_SECONDS
                - (time.monotonic() - started),
            ),
            batch_size=settings.ingest_batch_size,
            conn=conn,
        )
    return _skipped(
        context,
        ingested_outcome(short_name, report),
        [
            *hour_materializations(short_name, report.result),
            lag_observation(short_name, report.state, after=report.remaining),
        ],
    )


def _skipped(
    context: SensorEvaluationContext,
    outcome: TickOutcome,
    asset_events: list[AssetMaterialization | AssetObservation] | None = None,
) -> SensorResult:
    # Without a run request Dagster records the tick as SKIPPED ("0 runs requested");
    # the skip reason is the one line of text the tick history shows for it (tooltip and
    # tick details), and the log line is what "View logs" shows.
    context.log.info(outcome.message)
    return SensorResult(
        skip_reason=SkipReason(outcome.message),
        asset_events=asset_events or [],
        cursor=outcome.cursor,
    )


def build_ingest_sensor(short_name: str) -> SensorDefinition:
    spec = topic_spec(short_name)
    settings = load_settings()

    @sensor(
        name=sensor_name(short_name),
        minimum_interval_seconds=settings.ingest_sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        job=ingest_catch_up,
        description=(
            f"Ingests Kafka topic `{settings.kafka_topic_prefix}{short_name}` into "
            f"`{spec.table}`: inline micro-batches for up to "
            f"{settings.ingest_tick_budget_seconds} s per tick, or a catch-up run when the "
            f"lag exceeds {settings.ingest_catchup_threshold:,} messages."
        ),
    )
    def _ingest(context: SensorEvaluationContext) -> SensorResult:
        return evaluate_ingest_tick(context, short_name)

    return _ingest


ingest_sensors = [build_ingest_sensor(name) for name in TOPICS]
