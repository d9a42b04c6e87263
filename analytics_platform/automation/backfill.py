"""`analytics-platform backfill`: the rollup marts over a range of days, through Dagster.

One run of the grain's job (`rollups_hourly`, ...) per grain over the whole partition
range, launched through the webserver's GraphQL API (so it is queued, recorded and
shown like any run, with its asset checks), finer grains first and each waited for
before the next starts: a day's reconciliation check reads its hours, a week's its
days. Each mart's range is one SQL statement (the marts' single-run backfill policy),
and the run executes its marts in process: a long range costs four runs, not one per
partition, and no backfill-daemon loop.

A grain covers the partitions that overlap the days asked for and have closed by now,
so a week or month is recomputed whole. Keys are those of the partitions definitions
(analytics_platform/partitions.py), in REPORTING_TIMEZONE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dagster import TimeWindowPartitionsDefinition

from analytics_platform.dev.dagster_graphql import (
    IN_PROCESS,
    AssetPartitionRange,
    launch_run,
    run_url,
    wait_for_run,
)
from analytics_platform.rollups.families import MARTS, Grain

# Groups one command's runs in the UI (Runs, filter by tag).
BACKFILL_TAG = "analytics/backfill"


class BackfillRangeError(ValueError):
    """The days asked for hold no closed partition of a grain, or are the wrong way round."""


@dataclass(frozen=True)
class GrainRange:
    """One grain's partitions to backfill, first to last key (both included)."""

    grain: Grain
    first_key: str
    last_key: str

    def ranges(self) -> list[AssetPartitionRange]:
        """The range for every mart of the grain."""
        return [
            AssetPartitionRange(list(m.schema_table), self.first_key, self.last_key)
            for m in MARTS
            if m.grain is self.grain
        ]


def plan_backfill(
    start: date,
    end: date,
    grains: Sequence[Grain],
    partitions: Mapping[Grain, TimeWindowPartitionsDefinition],
    now: datetime,
    say: Callable[[str], None] = print,
) -> list[GrainRange]:
    """Per grain (finer first), the closed partitions overlapping the days start..end.

    A grain without one is left out with a note when others have some (the current week
    and month of a recent range are still open); alone, it is an error."""
    if end < start:
        raise BackfillRangeError(f"--end {end} is before --start {start}")
    plans: list[GrainRange] = []
    problems: list[str] = []
    for grain in sorted(grains, key=list(Grain).index):
        try:
            plans.append(_grain_range(start, end, grain, partitions[grain], now))
        except BackfillRangeError as exc:
            problems.append(str(exc))
    if not plans:
        raise BackfillRangeError("; ".join(problems))
    for problem in problems:
        say(f"skipped: {problem}")
    return plans


def _grain_range(
    start: date, end: date, grain: Grain, definition: TimeWindowPartitionsDefinition, now: datetime
) -> GrainRange:
    """The closed partitions of `grain` overlapping the days start..end."""
    tz = ZoneInfo(definition.timezone or "UTC")
    begin = datetime.combine(start, time(), tz)
    finish = datetime.combine(end + timedelta(days=1), time(), tz)
    closed = definition.get_partition_keys(current_time=now)
    if not closed:
        raise BackfillRangeError(f"no {grain} partition has closed yet")
    opening = definition.time_window_for_partition_key(closed[0]).start
    closing = definition.time_window_for_partition_key(closed[-1]).end
    if finish <= opening or begin >= closing:
        raise BackfillRangeError(
            f"no closed {grain} partition overlaps {start}..{end}: they run from "
            f"{opening:%Y-%m-%d %H:%M} (PARTITIONS_START_DATE) to {closing:%Y-%m-%d %H:%M} "
            f"{tz.key}"
        )
    first = definition.get_partition_key_for_timestamp(max(begin, opening).timestamp())
    last_moment = min(finish, closing) - timedelta(seconds=1)
    last = definition.get_partition_key_for_timestamp(last_moment.timestamp())
    return GrainRange(grain, first, last)


def run_backfill(
    dagster_url: str,
    plans: Sequence[GrainRange],
    timeout: float,
    say: Callable[[str], None] = print,
) -> None:
    """Launch the plans one grain after the other, each waited for; raises
    BackfillFailedError (with the failed steps) on the first grain that fails."""
    # Imported here: the sensors module reads the settings at import, and the command
    # line imports this module's errors even when the settings are what went wrong.
    from analytics_platform.automation.sensors import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        rollup_jobs,
    )

    label = f"{plans[0].first_key}..{plans[-1].last_key}" if plans else ""
    for plan in plans:
        marts = len(plan.ranges())
        run_id = launch_run(
            dagster_url,
            rollup_jobs[plan.grain].name,
            {
                ASSET_PARTITION_RANGE_START_TAG: plan.first_key,
                ASSET_PARTITION_RANGE_END_TAG: plan.last_key,
                BACKFILL_TAG: label,
            },
            IN_PROCESS,
        )
        say(
            f"{plan.grain}: partitions {plan.first_key} .. {plan.last_key} of {marts} marts; "
            f"run {run_url(dagster_url, run_id)}"
        )
        shown = ""

        def progress(status: str) -> None:
            nonlocal shown
            if status != shown:
                say(f"    {status}")
                shown = status

        wait_for_run(dagster_url, run_id, timeout, on_poll=progress)
    say(f"backfill done: {', '.join(str(p.grain) for p in plans)}")
