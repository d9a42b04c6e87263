"""The rollup automation sensor: due buckets in, partition (range) run requests out.

Why a sensor and not `AutomationCondition.eager()`/`on_cron()`: those only look at the
latest time window, and late events must re-run old partitions too. Each tick:

1. asks the database which buckets of every mart are due (`rollups.bookkeeping`):
   closed for longer than the grace period and never materialized, or written to by
   ingestion after their last run read them;
2. asks the Dagster instance which mart windows runs are busy with (queued or running)
   or failed on within `retry_after` (so a failing partition is retried, not hammered);
3. lets `automation.planner.plan_runs` decide, and requests one run per planned range:
   a single partition key, or a range through the `dagster/asset_partition_range_*` tags
   (the assets' single-run backfill policy makes a range one SQL run per mart).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetSelection,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    sensor,
)

from analytics_platform.assets.checks import mart_asset_key
from analytics_platform.assets.rollups import PARTITIONS
from analytics_platform.automation.planner import Busy, PlannedRun, plan_runs
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.bookkeeping import DueBucket, due_buckets
from analytics_platform.rollups.families import MARTS, Grain, Mart
from analytics_platform.settings import load_settings

SENSOR_NAME = "rollup_automation"
# Dagster's run tags for a partition and a partition range (not exported publicly; a test
# holds them equal to dagster's own constants).
PARTITION_NAME_TAG = "dagster/partition"
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
REASON_TAG = "rollups/reason"
AUTOMATION_TAG = "rollups/automation"

_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
_FAILED = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
# Runs inspected per status group and tick; far above what the automation keeps in flight.
_RUN_LOOKUP_LIMIT = 500

_MART_BY_KEY = {mart_asset_key(m): m for m in MARTS}

# One job per grain: a run's assets must share one partitions definition.
rollup_jobs = {
    grain: define_asset_job(
        f"rollups_{grain}",
        selection=AssetSelection.assets(*(mart_asset_key(m) for m in MARTS if m.grain == grain)),
        description=f"The {grain} rollup marts, for one partition or a range (one run).",
    )
    for grain in Grain
}


class PartitionWindowMismatchError(RuntimeError):
    """A bucket of the database does not line up with a Dagster partition."""


def _run_window(
    run: DagsterRun, partitions_def: TimeWindowPartitionsDefinition
) -> tuple[datetime, datetime] | None:
    tags = run.tags
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        first = partitions_def.time_window_for_partition_key(tags[ASSET_PARTITION_RANGE_START_TAG])
        last = partitions_def.time_window_for_partition_key(tags[ASSET_PARTITION_RANGE_END_TAG])
        return first.start, last.end
    if PARTITION_NAME_TAG in tags:
        window = partitions_def.time_window_for_partition_key(tags[PARTITION_NAME_TAG])
        return window.start, window.end
    return None


def busy_windows(runs: Iterable[DagsterRun]) -> list[Busy]:
    """The mart windows these runs cover (runs of other assets, or unpartitioned, add none)."""
    busy = []
    for run in runs:
        for key in run.asset_selection or ():
            mart = _MART_BY_KEY.get(key)
            if mart is None:
                continue
            window = _run_window(run, PARTITIONS[mart.grain])
            if window is not None:
                busy.append(Busy(mart.name, *window))
    return busy


def runs_to_wait_for(instance: DagsterInstance, failed_since: datetime) -> list[DagsterRun]:
    in_flight = instance.get_run_records(RunsFilter(statuses=_IN_FLIGHT), limit=_RUN_LOOKUP_LIMIT)
    failed = instance.get_run_records(
        RunsFilter(statuses=_FAILED, updated_after=failed_since), limit=_RUN_LOOKUP_LIMIT
    )
    return [record.dagster_run for record in [*in_flight, *failed]]


def _partition_key(mart: Mart, start: datetime, end: datetime) -> str:
    partitions_def = PARTITIONS[mart.grain]
    key = partitions_def.get_partition_key_for_timestamp(start.timestamp())
    window = partitions_def.time_window_for_partition_key(key)
    if window.start != start or window.end != end:
        raise PartitionWindowMismatchError(
            f"{mart.name}: bucket [{start.isoformat()}, {end.isoformat()}) is not partition "
            f"{key} [{window.start.isoformat()}, {window.end.isoformat()}); PostgreSQL and "
            f"Python disagree about time zone {partitions_def.timezone} (update tzdata on "
            "one of them)."
        )
    return key


def run_request(planned: PlannedRun) -> RunRequest:
    mart = planned.marts[0]
    first = _partition_key(mart, *planned.buckets[0])
    last = _partition_key(mart, *planned.buckets[-1])
    tags = {
        REASON_TAG: ",".join(sorted(planned.reasons)),
        AUTOMATION_TAG: SENSOR_NAME,
    }
    keys = [mart_asset_key(m) for m in planned.marts]
    job_name = rollup_jobs[planned.grain].name
    if first == last:
        return RunRequest(job_name=job_name, asset_selection=keys, partition_key=first, tags=tags)
    return RunRequest(
        job_name=job_name,
        asset_selection=keys,
        tags={
            **tags,
            ASSET_PARTITION_RANGE_START_TAG: first,
            ASSET_PARTITION_RANGE_END_TAG: last,
        },
    )


def collect_due(now: datetime, grace: timedelta, marts: Sequence[Mart] = MARTS) -> list[DueBucket]:
    settings = load_settings()
    closed_before = now - grace
    with connect(settings.database_url, autocommit=True) as conn:
        return [
            bucket
            for mart in marts
            for bucket in due_buckets(conn, mart, PARTITIONS[mart.grain].timezone, closed_before)
        ]


def evaluate_rollup_tick(
    context: SensorEvaluationContext,
    grace: timedelta,
    retry_after: timedelta,
    now: datetime | None = None,
) -> SensorResult:
    now = now or datetime.now(UTC)
    due = collect_due(now, grace)
    busy = busy_windows(runs_to_wait_for(context.instance, now - retry_after))
    planned = plan_runs(due, busy)
    summary = {
        "due_buckets": len(due),
        "busy_windows": len(busy),
        "runs_requested": len(planned),
    }
    if not planned:
        reason = (
            f"{len(due)} due buckets, all waiting for busy runs or finer grains"
            if due
            else "every closed bucket is materialized and up to date"
        )
        return SensorResult(skip_reason=SkipReason(reason), cursor=json.dumps(summary))
    for run in planned:
        context.log.info(
            f"{run.grain} {', '.join(m.name for m in run.marts)}: "
            f"[{run.start.isoformat()}, {run.end.isoformat()}) "
            f"({len(run.buckets)} buckets; {', '.join(sorted(run.reasons))})"
        )
    return SensorResult(
        run_requests=[run_request(run) for run in planned], cursor=json.dumps(summary)
    )


def build_rollup_sensor(
    grace: timedelta,
    minimum_interval_seconds: int = 60,
    retry_after: timedelta = timedelta(minutes=15),
) -> SensorDefinition:
    """The automation of every rollup mart, running by default.

    `grace` is how long after a bucket closes its events may still be arriving (ingestion
    lag) before the first run; late events after that re-run the bucket anyway.
    """

    @sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        jobs=list(rollup_jobs.values()),
        description=(
            "Materializes every rollup bucket once it has closed plus "
            f"{grace.total_seconds() / 60:g} minutes, a day/week/month once its finer "
            "buckets are in, and re-runs buckets (of any age, at every grain above) that "
            "ingestion wrote late events into. Ranges of buckets become single runs."
        ),
    )
    def _rollups(context: SensorEvaluationContext) -> SensorResult:
        return evaluate_rollup_tick(context, grace, retry_after)

    return _rollups
