"""Independent checks of a mart window: plain functions returning outcomes, no Dagster.

- keys: no two rows share a key, and no key column is NULL;
- reconciliation with raw: per bucket, the mart's total count equals what raw holds for
  the same bucket (`sql/rollups/checks/<family>.sql` says which count that is);
- reconciliation with the finer grain: per bucket, the finer mart's buckets inside it add
  up to the same count (hours to days, days to weeks and months), which also catches a
  finer bucket that was not re-run after late events.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from analytics_platform.rollups.families import Mart
from analytics_platform.rollups.runner import (
    key_list,
    mart_identifier,
    render,
    window_buckets,
    window_params,
)

# How many mismatching buckets a failed check lists in its metadata.
_SHOWN = 10


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


UNIQUE_KEYS = "unique_keys"
NO_NULL_KEYS = "no_null_keys"
RECONCILES_WITH_RAW = "reconciles_with_raw"
RECONCILES_WITH_FINER = "reconciles_with_finer_grain"


def check_descriptions(mart: Mart) -> dict[str, str]:
    """What each check of the mart asserts, for the check specs."""
    key = ", ".join(mart.family.key)
    descriptions = {
        UNIQUE_KEYS: f"No two rows of the window share the key ({key}).",
        NO_NULL_KEYS: f"No key column ({key}) is NULL in the window.",
        RECONCILES_WITH_RAW: (
            f"Per bucket, the mart's total count equals the count of `{mart.family.raw_table}` "
            "rows in the same bucket."
        ),
    }
    finer = mart.finer
    if finer is not None:
        descriptions[RECONCILES_WITH_FINER] = (
            f"Per bucket, the totals of `{finer.table}` buckets inside it add up to this "
            "bucket's total."
        )
    return descriptions


def check_keys(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime
) -> list[CheckOutcome]:
    row = conn.execute(
        render("rollups/checks/keys.sql", table=mart_identifier(mart), key=key_list(mart)),
        {"window_start": start.astimezone(UTC), "window_end": end.astimezone(UTC)},
    ).fetchone()
    rows, duplicates, nulls = row if row else (0, 0, 0)
    descriptions = check_descriptions(mart)
    return [
        CheckOutcome(
            UNIQUE_KEYS,
            duplicates == 0,
            descriptions[UNIQUE_KEYS],
            {"rows": rows, "rows_with_duplicate_key": duplicates},
        ),
        CheckOutcome(
            NO_NULL_KEYS,
            nulls == 0,
            descriptions[NO_NULL_KEYS],
            {"rows": rows, "rows_with_null_key": nulls},
        ),
    ]


def _totals(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str, with_raw: bool
) -> tuple[dict[datetime, int], dict[datetime, int]]:
    """Per bucket start: the mart's totals and (with_raw) raw's counts."""
    params = {**window_params(mart, start, end, tz), "with_raw": with_raw}
    rows = conn.execute(
        render(
            mart.family.check_file,
            table=mart_identifier(mart),
            grain=sql.Literal(mart.grain.unit),
        ),
        params,
    ).fetchall()
    totals: dict[str, dict[datetime, int]] = {"mart": {}, "raw": {}}
    for source, bucket_start, total in rows:
        totals[source][bucket_start] = int(total)
    return totals["mart"], totals["raw"]


def _mismatches(
    starts: list[datetime], expected: Mapping[datetime, int], actual: Mapping[datetime, int]
) -> list[str]:
    return [
        f"{s.isoformat()}: {actual.get(s, 0)} != {expected.get(s, 0)}"
        for s in starts
        if actual.get(s, 0) != expected.get(s, 0)
    ]


def reconcile_with_raw(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str
) -> CheckOutcome:
    starts = [b.start for b in window_buckets(conn, mart, start, end, tz)]
    totals, raw = _totals(conn, mart, start, end, tz, with_raw=True)
    wrong = _mismatches(starts, raw, totals)
    return CheckOutcome(
        RECONCILES_WITH_RAW,
        not wrong,
        check_descriptions(mart)[RECONCILES_WITH_RAW],
        {
            "buckets": len(starts),
            "mart_total": sum(totals.values()),
            "raw_total": sum(raw.values()),
            "mismatched_buckets": len(wrong),
            "mismatches (mart != raw)": "; ".join(wrong[:_SHOWN]),
        },
    )


def reconcile_with_finer(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str
) -> CheckOutcome | None:
    """None for the hourly grain, which has nothing finer."""
    finer = mart.finer
    if finer is None:
        return None
    starts = [b.start for b in window_buckets(conn, mart, start, end, tz)]
    totals, _ = _totals(conn, mart, start, end, tz, with_raw=False)
    finer_totals, _ = _totals(conn, finer, start, end, tz, with_raw=False)
    summed: dict[datetime, int] = {}
    for finer_start, total in finer_totals.items():
        # The window is whole buckets of both grains, so every finer bucket lies in one.
        owner = starts[bisect.bisect_right(starts, finer_start) - 1]
        summed[owner] = summed.get(owner, 0) + total
    recorded = conn.execute(
        "SELECT count(*) FROM marts.rollup_buckets "
        "WHERE mart = %s AND bucket_start >= %s AND bucket_start < %s",
        (finer.name, start.astimezone(UTC), end.astimezone(UTC)),
    ).fetchone()
    wrong = _mismatches(starts, totals, summed)
    return CheckOutcome(
        RECONCILES_WITH_FINER,
        not wrong,
        check_descriptions(mart)[RECONCILES_WITH_FINER],
        {
            "buckets": len(starts),
            "finer_mart": finer.name,
            "finer_buckets_materialized": int(recorded[0]) if recorded else 0,
            "mismatched_buckets": len(wrong),
            "mismatches (finer sum != mart)": "; ".join(wrong[:_SHOWN]),
        },
    )


def run_checks(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str
) -> list[CheckOutcome]:
    """Every check of the mart over the window, in a stable order."""
    outcomes = [*check_keys(conn, mart, start, end), reconcile_with_raw(conn, mart, start, end, tz)]
    finer = reconcile_with_finer(conn, mart, start, end, tz)
    if finer is not None:
        outcomes.append(finer)
    return outcomes
