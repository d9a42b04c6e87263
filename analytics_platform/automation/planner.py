"""Deciding which rollup runs to request, from due buckets and the runs already busy.

Plain Python (no Dagster) so the rules are tested directly:

1. A bucket is due when it closed (plus the grace period) and was never materialized, or
   when ingestion wrote into its hours after its last run read them (late events, at any
   age); `rollups.bookkeeping.due_buckets` finds those.
2. A bucket some run is already working on, or failed on recently, is left alone (the
   run finishes it, or the bucket is retried once the failure is old enough).
3. A bucket waits while the finer grain it reconciles with still has due or busy buckets
   inside it (days wait for their hours; weeks and months for their days), so a late event
   re-runs its hour, then its day, then its week and month, and each run's reconciliation
   check sees finished inputs.
4. Contiguous buckets of a mart go in one run (a partition range, one SQL statement), at
   most `MAX_BUCKETS_PER_RUN` of them, and marts of a grain with the same range share it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from analytics_platform.rollups.bookkeeping import DueBucket, Reason
from analytics_platform.rollups.families import Grain, Mart

# Bounds one run's transaction and memory: a week of hours, a month of days. A catch-up
# over a longer history becomes several runs, each still one SQL statement per mart.
MAX_BUCKETS_PER_RUN: Mapping[Grain, int] = {
    Grain.HOURLY: 24 * 7,
    Grain.DAILY: 31,
    Grain.WEEKLY: 5,
    Grain.MONTHLY: 2,
}


@dataclass(frozen=True)
class Busy:
    """A window of a mart that a run is working on (or recently failed on)."""

    mart: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PlannedRun:
    """One run to request: these marts over these contiguous buckets of one grain."""

    grain: Grain
    marts: tuple[Mart, ...]
    buckets: tuple[tuple[datetime, datetime], ...]
    reasons: frozenset[Reason]

    @property
    def start(self) -> datetime:
        return self.buckets[0][0]

    @property
    def end(self) -> datetime:
        return self.buckets[-1][1]


def _overlaps(start: datetime, end: datetime, windows: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < w_end and w_start < end for w_start, w_end in windows)


def _chunks(buckets: list[DueBucket], limit: int) -> list[list[DueBucket]]:
    """Runs of contiguous buckets (each starting where the previous ended), at most `limit`
    long; `buckets` sorted by start."""
    chunks: list[list[DueBucket]] = []
    for bucket in buckets:
        current = chunks[-1] if chunks else None
        if current and current[-1].end == bucket.start and len(current) < limit:
            current.append(bucket)
        else:
            chunks.append([bucket])
    return chunks


def plan_runs(
    due: Iterable[DueBucket],
    busy: Iterable[Busy],
    max_buckets: Mapping[Grain, int] = MAX_BUCKETS_PER_RUN,
) -> list[PlannedRun]:
    """The runs to request now; see the module docstring for the rules."""
    busy_windows: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for window in busy:
        busy_windows[window.mart].append((window.start, window.end))
    due_by_mart: dict[str, list[DueBucket]] = defaultdict(list)
    for bucket in due:
        due_by_mart[bucket.mart.name].append(bucket)

    ready: dict[Mart, list[DueBucket]] = {}
    for name, buckets in due_by_mart.items():
        mart = buckets[0].mart
        finer = mart.finer
        unfinished = (
            [(b.start, b.end) for b in due_by_mart.get(finer.name, [])]
            + busy_windows.get(finer.name, [])
            if finer is not None
            else []
        )
        mine = busy_windows.get(name, [])
        ready[mart] = sorted(
            (
                b
                for b in buckets
                if not _overlaps(b.start, b.end, mine) and not _overlaps(b.start, b.end, unfinished)
            ),
            key=lambda b: b.start,
        )

    grouped: dict[tuple[Grain, tuple[tuple[datetime, datetime], ...]], list[Mart]] = defaultdict(
        list
    )
    reasons: dict[tuple[Grain, tuple[tuple[datetime, datetime], ...]], set[Reason]] = defaultdict(
        set
    )
    for mart, buckets in ready.items():
        for chunk in _chunks(buckets, max_buckets[mart.grain]):
            key = (mart.grain, tuple((b.start, b.end) for b in chunk))
            grouped[key].append(mart)
            reasons[key].update(b.reason for b in chunk)
    runs = [
        PlannedRun(
            grain,
            tuple(sorted(marts, key=lambda m: m.name)),
            buckets,
            frozenset(reasons[(grain, buckets)]),
        )
        for (grain, buckets), marts in grouped.items()
    ]
    # Finest grain first, then oldest: the order the runs are best launched in.
    order = list(Grain)
    return sorted(runs, key=lambda r: (order.index(r.grain), r.start, [m.name for m in r.marts]))
