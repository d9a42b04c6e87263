"""The cold archive as Dagster assets: one per raw table (UTC months), and raw retention.

Thin shells around `analytics_platform/archive/`: a month's run writes the Parquet files,
records them and verifies them (the `verified` check); the retention asset drops the raw
months that the archive allows and fails its check for a month past retention that it
must keep. Declared in code and running by default: a monthly schedule for the month just
ended, a sensor for months never archived or changed since (late events, replays), and a
daily retention schedule.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation.
from datetime import UTC, date, datetime, timedelta

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    sensor,
)

from analytics_platform.archive.due import due_months
from analytics_platform.archive.months import month_end, parse_month
from analytics_platform.archive.retention import apply_retention, retention_warnings
from analytics_platform.archive.store import open_store
from analytics_platform.archive.verification import verify_month
from analytics_platform.archive.writer import archive_month
from analytics_platform.ingestion.raw_storage import raw_table_names
from analytics_platform.partitions import archive_monthly_partitions, raw_hourly_partitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import load_settings

OWNERS = ["team:data-engineering"]
VERIFIED_CHECK = "verified"
RETENTION_CHECK = "nothing_unarchived_past_retention"
RETENTION_KEY = AssetKey(["archive", "raw_retention"])
# A month is archived this long after it ended, so the events of its last minutes are in.
ARCHIVE_GRACE = timedelta(hours=2)
SENSOR_INTERVAL_SECONDS = 300


def archive_asset_key(table: str) -> AssetKey:
    return AssetKey(["archive", f"raw_{table}"])


def _raw_dependency(table: str) -> AssetDep:
    """The raw table a month is archived from. Dagster maps time partitions only within one
    time zone: when the reporting zone (the raw assets' hours) is UTC, a month maps to its
    hours; otherwise the edge stays for lineage with every hour upstream of every month."""
    raw = AssetKey(["raw", table])
    if raw_hourly_partitions.timezone == archive_monthly_partitions.timezone:
        return AssetDep(raw)
    return AssetDep(raw, partition_mapping=AllPartitionMapping())


def _archive_asset(table: str) -> AssetsDefinition:
    key = archive_asset_key(table)

    @asset(
        key=key,
        description=(
            f"`raw.{table}` archived as Parquet, one partition per UTC month (UTC whatever "
            "REPORTING_TIMEZONE: raw partitions are UTC days, so a month is whole partitions "
            "retention can drop). Grain: one row per raw event; key (event_id, occurred_at). "
            f"Files: `<ARCHIVE_URL>/raw-utc/table={table}/year=YYYY/month=MM/part-*.parquet` "
            "(zstd, row groups up to 500k rows, money DECIMAL(38,18), times UTC), recorded "
            "in `archive.files`; `archive.months` says whether the month is verified. "
            "Re-running a month replaces the files that mirror raw rows."
        ),
        partitions_def=archive_monthly_partitions,
        deps=[_raw_dependency(table)],
        group_name="archive",
        kinds={"parquet", "duckdb", "postgres"},
        owners=OWNERS,
        metadata={"raw_table": f"raw.{table}", "months": "UTC"},
        check_specs=[
            AssetCheckSpec(
                VERIFIED_CHECK,
                asset=key,
                description=(
                    "Every file of the month re-read with DuckDB gives the row count and "
                    "checksum the manifest holds, and the raw month equals the files that "
                    "still mirror it (PostgreSQL's checksum of the raw rows against the one "
                    "the export took; files from before checksum formula 2 get theirs "
                    "recorded by their first passing check). Only a verified month may be "
                    "dropped by retention."
                ),
            )
        ],
    )
    def _archive(context: AssetExecutionContext) -> MaterializeResult:
        month = parse_month(context.partition_key)
        settings = load_settings()
        store = open_store(settings.archive_url)
        with connect(settings.database_url, autocommit=True) as conn:
            result = archive_month(conn, store, table, month, progress=context.log.info)
            verification = verify_month(conn, store, table, month)
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(result.rows),
                "bytes": MetadataValue.int(result.bytes),
                "files": MetadataValue.int(len(result.files)),
                # The raw rows' checksum the export took (formula 2, archive/checksums.py).
                "checksum": MetadataValue.text(str(verification.archived_checksum)),
                "duration_seconds": MetadataValue.float(result.seconds),
                "rows_per_second": MetadataValue.float(result.rows / max(result.seconds, 1e-9)),
                "month_utc": MetadataValue.text(
                    f"[{month.isoformat()}, {month_end(month).date().isoformat()})"
                ),
                "paths": MetadataValue.md("\n".join(f"- `{f.path}`" for f in result.files)),
                "archive": MetadataValue.path(settings.archive_url),
            },
            check_results=[
                AssetCheckResult(
                    check_name=VERIFIED_CHECK,
                    asset_key=key,
                    passed=verification.ok,
                    severity=AssetCheckSeverity.ERROR,
                    description="; ".join(verification.problems) or None,
                    metadata={
                        "raw_rows": verification.raw.rows,
                        "archived_rows": verification.archived_rows,
                        "raw_checksum": str(verification.raw.checksum),
                        "archived_checksum": str(verification.archived_checksum),
                    },
                )
            ],
        )

    return _archive


archive_assets: list[AssetsDefinition] = [_archive_asset(t) for t in raw_table_names()]


@asset(
    key=RETENTION_KEY,
    description=(
        "Raw retention over every raw table, on every storage (native partitions, "
        "TimescaleDB under either license): drops the UTC months that ended more than "
        "RAW_RETENTION_DAYS ago and whose archive is verified and still equal to them, "
        "oldest first, through `ingest.drop_raw_data_before`. A month past retention that "
        "is not archived, not verified or changed since is kept and fails the check. "
        "Grain: one materialization per run; the metadata lists what was dropped and kept."
    ),
    deps=[AssetDep(k) for k in (archive_asset_key(t) for t in raw_table_names())],
    group_name="archive",
    kinds={"postgres"},
    owners=OWNERS,
    check_specs=[
        AssetCheckSpec(
            RETENTION_CHECK,
            asset=RETENTION_KEY,
            description=(
                "No raw month past RAW_RETENTION_DAYS is held back because its archive is "
                "missing, unverified or out of date."
            ),
        )
    ],
)
def raw_retention(context: AssetExecutionContext) -> MaterializeResult:
    settings = load_settings()
    now = datetime.now(UTC)
    dropped: list[str] = []
    relations = 0
    with connect(settings.database_url, autocommit=True) as conn:
        for table in raw_table_names():
            result = apply_retention(conn, table, now, settings.raw_retention_days)
            dropped += [f"raw.{table} {m:%Y-%m}" for m in result.dropped_months]
            relations += len(result.dropped_relations)
            context.log.info(
                f"raw.{table}: dropped {len(result.dropped_months)} month(s), "
                f"{len(result.dropped_relations)} partition(s)/chunk(s); kept "
                f"{len(result.held)} month(s) past retention"
            )
        warnings = retention_warnings(conn, now, settings.raw_retention_days)
    for line in warnings:
        context.log.warning(line)
    return MaterializeResult(
        metadata={
            "retention_days": MetadataValue.int(settings.raw_retention_days),
            "months_dropped": MetadataValue.int(len(dropped)),
            "relations_dropped": MetadataValue.int(relations),
            "dropped": MetadataValue.md("\n".join(f"- {d}" for d in dropped) or "(none)"),
            "kept_past_retention": MetadataValue.md(
                "\n".join(f"- {w}" for w in warnings) or "(none)"
            ),
        },
        check_results=[
            AssetCheckResult(
                check_name=RETENTION_CHECK,
                asset_key=RETENTION_KEY,
                passed=not warnings,
                severity=AssetCheckSeverity.ERROR,
                description="\n".join(warnings) or None,
                metadata={"months_kept_past_retention": len(warnings)},
            )
        ],
    )


archive_job = define_asset_job(
    "archive_raw_months",
    selection=AssetSelection.assets(*archive_assets),
    description="Archive (and verify) one UTC month of the raw tables as Parquet.",
)
retention_job = define_asset_job(
    "raw_retention",
    selection=AssetSelection.assets(RETENTION_KEY),
    description="Drop the raw months past RAW_RETENTION_DAYS whose archive is verified.",
)

archive_schedule = build_schedule_from_partitioned_job(
    archive_job,
    name="archive_monthly",
    hour_of_day=ARCHIVE_GRACE.seconds // 3600,
    default_status=DefaultScheduleStatus.RUNNING,
    description="On the 1st, archive the UTC month that just ended.",
)
retention_schedule = ScheduleDefinition(
    name="raw_retention_daily",
    job=retention_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily raw retention (after the archive schedule on the 1st).",
)


@sensor(
    name="archive_changed_months",
    job=archive_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Archives months never archived (a history loaded at once) and months ingestion "
        "wrote to after they were archived (late events, dead-letter replays), from "
        "ingest.touched_hours."
    ),
)
def archive_changed_months(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    now = datetime.now(UTC)
    with connect(load_settings().database_url, autocommit=True) as conn:
        due = due_months(conn, now, ARCHIVE_GRACE)
    first = archive_monthly_partitions.get_first_partition_key()
    first_month = date.fromisoformat(first) if first else None
    requests = [
        RunRequest(
            # The row sum in the key: the same change is requested once, a new one again.
            run_key=f"{d.table}:{d.month.isoformat()}:{d.source_rows}",
            partition_key=d.month.isoformat(),
            asset_selection=[archive_asset_key(d.table)],
            tags={"archive/reason": d.reason},
        )
        for d in due
        if first_month is not None and d.month >= first_month
    ]
    if not requests:
        return SkipReason("no month to archive")
    return SensorResult(run_requests=requests)


archive_schedules = [archive_schedule, retention_schedule]
archive_sensors: list[SensorDefinition] = [archive_changed_months]
archive_jobs = [archive_job, retention_job]
