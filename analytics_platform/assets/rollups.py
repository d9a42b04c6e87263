"""The rollup marts as Dagster assets: one per metric family and grain (24 in all).

Each asset is a thin shell: take the partition time window (a range, for a single-run
backfill), hand it to `rollups.runner.materialize_window`, run the checks over the same
window, and report rows, window, duration and a preview. No IO manager: the table is the
output, so a range run needs nothing persisted per partition.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation of the
# asset function, which must be the class itself, not a string.
import warnings
from datetime import timedelta

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    TimeWindowPartitionsDefinition,
    asset,
)

from analytics_platform.archive.restore import mart_reads_restored
from analytics_platform.archive.store import open_store
from analytics_platform.assets.checks import (
    mart_asset_key,
    rollup_check_results,
    rollup_check_specs,
)
from analytics_platform.partitions import (
    daily_partitions,
    hourly_partitions,
    monthly_partitions,
    weekly_partitions,
)
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.checks import run_checks
from analytics_platform.rollups.families import MARTS, Grain, Mart
from analytics_platform.rollups.runner import as_metadata, materialize_window, preview
from analytics_platform.settings import load_settings

PARTITIONS: dict[Grain, TimeWindowPartitionsDefinition] = {
    Grain.HOURLY: hourly_partitions,
    Grain.DAILY: daily_partitions,
    Grain.WEEKLY: weekly_partitions,
    Grain.MONTHLY: monthly_partitions,
}

# A mart fails freshness when its newest materialization is older than one bucket plus
# the time the automation may wait for lateness and finer grains (generous: a failure
# here means the automation stopped, not that it is a few minutes late).
FRESHNESS_FAIL_WINDOW: dict[Grain, timedelta] = {
    Grain.HOURLY: timedelta(hours=3),
    Grain.DAILY: timedelta(days=1, hours=6),
    Grain.WEEKLY: timedelta(days=7, hours=12),
    Grain.MONTHLY: timedelta(days=32),
}

OWNERS = ["team:data-engineering"]


def raw_asset_key_of(mart: Mart) -> AssetKey:
    return AssetKey(mart.family.raw_table.split("."))


def column_schema(mart: Mart) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                c.name,
                c.type,
                ("key: " if c.key else "") + c.description,
                TableColumnConstraints(nullable=c.nullable),
            )
            for c in mart.family.columns
        ]
    )


def description(mart: Mart) -> str:
    key = ", ".join(mart.family.key)
    return (
        f"`{mart.table}`: {mart.family.description}\n\n"
        f"Grain: {mart.grain} buckets ({mart.grain.unit}s) cut in the reporting time zone "
        f"({PARTITIONS[mart.grain].timezone}); weeks start on Monday. Key: ({key}); '' in a "
        "key column is the total over it.\n\n"
        f"Computed from `{mart.family.raw_table}` for the partition window (distinct counts "
        "and percentiles exact at every grain); each run replaces its window in one "
        "transaction, and a backfill range is a single run."
    )


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no rows in the window)"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row[n] for n in names) + " |" for row in rows]
    return "\n".join(lines)


def rollup_asset(mart: Mart) -> AssetsDefinition:
    partitions_def = PARTITIONS[mart.grain]
    deps = [AssetDep(raw_asset_key_of(mart))]
    if mart.finer is not None:
        # Lineage of the reconciliation check (and the order inside a backfill): the mart
        # itself is computed from raw, never from the finer mart.
        deps.append(AssetDep(mart_asset_key(mart.finer)))

    @asset(
        key=mart_asset_key(mart),
        description=description(mart),
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=deps,
        group_name="rollups",
        kinds={"postgres"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(mart),
            "dagster/table_name": mart.table,
            "grain": mart.grain.value,
            "key": ", ".join(mart.family.key),
        },
        check_specs=rollup_check_specs(mart),
        freshness_policy=FreshnessPolicy.time_window(fail_window=FRESHNESS_FAIL_WINDOW[mart.grain]),
    )
    def _rollup(context: AssetExecutionContext) -> MaterializeResult:
        window = context.partition_time_window
        tz = partitions_def.timezone
        settings = load_settings()
        with (
            connect(settings.database_url, autocommit=True) as conn,
            # Raw rows retention dropped come back from the archive for the run, its
            # preview and its checks: otherwise the run would replace the mart's rows
            # with those of an empty raw month.
            mart_reads_restored(
                conn, open_store(settings.archive_url), mart, window.start, window.end
            ) as restored,
        ):
            result = materialize_window(conn, mart, window.start, window.end, tz)
            first_rows = preview(conn, mart, window.start, window.end)
            outcomes = run_checks(conn, mart, window.start, window.end, tz)
        facts = as_metadata(result)
        context.log.info(f"{mart.name}: {facts}")
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(result.rows_inserted),
                "rows_replaced": MetadataValue.int(result.rows_deleted),
                "buckets": MetadataValue.int(len(result.buckets)),
                "window": MetadataValue.text(f"[{facts['window_start']}, {facts['window_end']})"),
                "duration_seconds": MetadataValue.float(result.seconds),
                "raw_rows_restored_from_archive": MetadataValue.int(restored),
                "preview": MetadataValue.md(_markdown_table(first_rows)),
            },
            check_results=rollup_check_results(mart, outcomes),
        )

    return _rollup


with warnings.catch_warnings():
    # Single-run backfills are "beta" in Dagster 1.13; we rely on them knowingly (a range
    # is one SQL statement), so the warning would only repeat itself 24 times per import.
    warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")
    rollup_assets: list[AssetsDefinition] = [rollup_asset(mart) for mart in MARTS]
