"""Rolling up the demo's history: which partitions, and two ways of materializing them.

- `compute_spans`: each mart's whole span in one SQL statement with the rollup runner
  (what one single-run backfill run does per mart). Seconds for 30 days, and it records
  the buckets in `marts.rollup_buckets`, so the rollup automation finds nothing of the
  history left to do when the daemon starts: the two never race over the same buckets.
- `materialize_spans`: the same spans through Dagster (`materialize` of the asset
  definitions, one range run per mart), so the instance records every partition and the
  asset checks run. Dagster writes a few events per partition, which makes this the
  slow part (about 14 ms of CPU per hourly partition and mart); `demo --once` uses it
  in process, and `make demo` has the daemon do it in the background through a backfill
  launched like the UI launches one (`dev/dagster_graphql.py`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    TimeWindowPartitionsDefinition,
    materialize,
)
from tqdm import tqdm

from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import MARTS, Grain, Mart
from analytics_platform.rollups.runner import RollupResult, materialize_window

# Dagster's run tags for a partition range (the rollup assets' single-run backfills read
# them); the same strings as dagster's own constants, which are not public.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The console logger of in-process runs prints every event (thousands per span); the
# progress bar says enough, and warnings and errors still show.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class PartitionSpan:
    """The closed partitions of one grain that overlap the history, first to last."""

    grain: Grain
    first_key: str
    last_key: str
    start: datetime
    end: datetime
    count: int


@dataclass(frozen=True)
class MaterializedSpan:
    """What one Dagster run over a mart's span recorded."""

    mart: Mart
    span: PartitionSpan
    partitions: int
    checks_passed: int
    checks_failed: int


def partition_spans(
    start: datetime,
    end: datetime,
    partitions: Mapping[Grain, TimeWindowPartitionsDefinition],
) -> list[PartitionSpan]:
    """Per grain, the partitions closed by `end` that hold any time of [start, end).

    A grain with no closed partition yet (a month in a short history) is left out.
    """
    spans = []
    for grain, definition in partitions.items():
        closed = definition.get_partition_keys(current_time=end)
        if not closed:
            continue
        at = max(start, definition.time_window_for_partition_key(closed[0]).start)
        first = definition.get_partition_key_for_timestamp(at.timestamp())
        # Keys of time partitions sort like their times (zero-padded dates).
        keys = closed[bisect.bisect_left(closed, first) :]
        if not keys:
            continue
        spans.append(
            PartitionSpan(
                grain=grain,
                first_key=keys[0],
                last_key=keys[-1],
                start=definition.time_window_for_partition_key(keys[0]).start,
                end=definition.time_window_for_partition_key(keys[-1]).end,
                count=len(keys),
            )
        )
    return spans


def _marts_in_order(spans: Sequence[PartitionSpan]) -> list[tuple[Mart, PartitionSpan]]:
    """Finer grains first: a day's reconciliation check reads its hours."""
    by_grain = {span.grain: span for span in spans}
    return [(m, by_grain[m.grain]) for g in Grain for m in MARTS if m.grain is g and g in by_grain]


def compute_spans(
    database_url: str, spans: Sequence[PartitionSpan], tz: str, progress: bool
) -> list[RollupResult]:
    """Every mart over its grain's span, one SQL statement each (see the module doc)."""
    work = _marts_in_order(spans)
    results = []
    with (
        connect(database_url, autocommit=True) as conn,
        tqdm(total=len(work), unit="mart", disable=not progress) as bar,
    ):
        for mart, span in work:
            bar.set_description(mart.name)
            results.append(materialize_window(conn, mart, span.start, span.end, tz))
            bar.update(1)
    return results


def materialize_spans(
    assets: Iterable[AssetsDefinition],
    spans: Sequence[PartitionSpan],
    instance: DagsterInstance,
    progress: bool,
) -> list[MaterializedSpan]:
    """Every mart over its grain's span through Dagster, one range run per mart.

    The asset functions read DATABASE_URL from the environment, as in a code server.
    """
    by_key: dict[AssetKey, AssetsDefinition] = {a.key: a for a in assets}
    work = _marts_in_order(spans)
    done = []
    with tqdm(total=sum(s.count for _, s in work), unit="partition", disable=not progress) as bar:
        for mart, span in work:
            bar.set_description(mart.name)
            key = AssetKey(list(mart.schema_table))
            result = materialize(
                [by_key[key]],
                instance=instance,
                tags={RANGE_START_TAG: span.first_key, RANGE_END_TAG: span.last_key},
                run_config=_QUIET,
                raise_on_error=True,
            )
            checks = result.get_asset_check_evaluations()
            done.append(
                MaterializedSpan(
                    mart=mart,
                    span=span,
                    partitions=len(result.get_asset_materialization_events()),
                    checks_passed=sum(1 for c in checks if c.passed),
                    checks_failed=sum(1 for c in checks if not c.passed),
                )
            )
            bar.update(span.count)
    return done
