"""The `customers` asset group: user profiles, spending and cohorts as daily partitions,
and the automation of the whole group.

The assets are thin shells around `analytics_platform.customers` (plain functions and
SQL): take the partition time window (a range, for a single-run backfill), write its
days in one transaction, run the checks over the same days, report rows, window,
duration and a preview. The automation (`customers_automation`, running by default)
requests runs of every asset of the group (selected by group, so assets other modules
add to `customers` come along) for the days whose daily rollups are in, and re-runs the
days late events reached together with every later day (profiles carry state).
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation.
import json
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    BackfillPolicy,
    BetaWarning,
    DefaultSensorStatus,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableColumn,
    TableSchema,
    asset,
    define_asset_job,
    sensor,
)
from psycopg import sql

from analytics_platform.automation.sensors import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    collect_due,
    runs_to_wait_for,
)
from analytics_platform.customers import cohorts, profiles, spending
from analytics_platform.customers.days import DayCheck, WindowStats, due_days, plan_range
from analytics_platform.partitions import daily_partitions
from analytics_platform.resources.warehouse import connect, read_sql
from analytics_platform.rollups.families import MARTS, Grain
from analytics_platform.settings import load_settings

GROUP = "customers"
OWNERS = ["team:data-engineering"]
SENSOR_NAME = "customers_automation"
AUTOMATION_TAG = "customers/automation"
REASON_TAG = "customers/reason"
# The rollups a customer day waits for: those of the raw tables the assets read (the
# cohort check reconciles with user_lifecycle_daily).
ROLLUP_FAMILIES = ("transactions", "activity", "user_lifecycle")
DAILY_ROLLUPS = [m for m in MARTS if m.family.name in ROLLUP_FAMILIES and m.grain is Grain.DAILY]
HOURLY_ROLLUPS = [m for m in MARTS if m.family.name in ROLLUP_FAMILIES and m.grain is Grain.HOURLY]
RAW_KEYS = [AssetKey(["raw", t]) for t in ("transactions", "user_activity", "user_events")]


def _schema(*columns: tuple[str, str, str]) -> TableSchema:
    return TableSchema(columns=[TableColumn(n, t, d) for n, t, d in columns])


_VERSION = ("valid_from", "date", "key: first day this version is valid on")
COLUMNS = {
    "marts.customer_profiles": _schema(
        ("user_id", "text", "key"),
        _VERSION,
        ("valid_to", "date", "next version's valid_from (exclusive); NULL: current"),
        ("first_seen_at", "timestamptz", "the user's first event of any kind"),
        ("last_activity_at", "timestamptz", "the user's latest event of any kind"),
        ("registered_at", "timestamptz", "first user.registered"),
        ("country", "text", "of that registration"),
        ("kyc_status", "text", "none, pending, verified, rejected: the latest KYC event"),
        ("kyc_event_at", "timestamptz", "time of that event"),
        ("kyc_level", "smallint", "of the latest lifecycle event with a level"),
        ("kyc_level_at", "timestamptz", "time of that event"),
        ("first_success_at", "timestamptz", "first successful transaction"),
        ("last_success_at", "timestamptz", "latest successful transaction"),
        ("success_count", "bigint", "successful transactions"),
        ("main_currency", "text", "currency of most successful transactions"),
    ),
    "marts.customer_spending": _schema(
        ("user_id", "text", "key"),
        ("month", "date", "key: first day of the calendar month"),
        ("currency", "text", "key"),
        ("category", "text", "key: '' = all categories"),
        _VERSION,
        ("spend", "numeric", "month to date"),
        ("transactions", "bigint", "month to date"),
        ("previous_spend", "numeric", "previous month over the same days; NULL: none"),
        ("change_amount", "numeric", "spend - previous_spend"),
        ("change_percent", "numeric", "change against previous_spend, percent"),
        ("top_merchants", "jsonb", "at most 5: merchant_id, spend, transactions"),
    ),
    "marts.customer_cohorts": _schema(
        ("cohort_grain", "text", "key: week or month"),
        ("cohort_start", "date", "key: local week (Monday) or month of registration"),
        ("period", "integer", "key: weeks or months since cohort_start"),
        ("currency", "text", "key: '' = payers in any currency"),
        _VERSION,
        ("cohort_size", "bigint", "users registered in the cohort"),
        ("active_users", "bigint", "users with any event in the period"),
        ("paying_users", "bigint", "users with successful spending in the period"),
        ("revenue", "numeric", "their spending in the currency; NULL for ''"),
        ("retention_rate", "numeric", "active_users / cohort_size"),
    ),
}

Materialize = Callable[[psycopg.Connection, datetime, datetime, ZoneInfo], WindowStats]
Check = Callable[[psycopg.Connection, datetime, datetime, ZoneInfo], list[DayCheck]]


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no rows written in the window)"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row[n] for n in names) + " |" for row in rows]
    return "\n".join(lines)


def _preview(conn: psycopg.Connection, table: str, first: date, last: date) -> list[dict[str, str]]:
    statement = sql.SQL(read_sql("customers/profiles_preview.sql")).format(
        table=sql.Identifier(*table.split("."))
    )
    cursor = conn.execute(statement, {"first": first, "last": last})
    names = [d.name for d in cursor.description or ()]
    return [
        {n: "" if v is None else str(v) for n, v in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def customer_asset(
    name: str,
    table: str,
    description: str,
    materialize: Materialize,
    check: Check,
    checks: dict[str, str],
    deps: list[AssetKey],
) -> AssetsDefinition:
    key = AssetKey([GROUP, name])

    @asset(
        key=key,
        description=description,
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[AssetDep(d) for d in deps],
        group_name=GROUP,
        kinds={"postgres"},
        owners=OWNERS,
        # Not dagster/table_name: the UI's catalog takes that for the asset key's path,
        # and the key (customers/...) is not the table's name.
        metadata={"table": table, "dagster/column_schema": COLUMNS[table]},
        check_specs=[
            AssetCheckSpec(check_name, asset=key, description=text)
            for check_name, text in checks.items()
        ],
        freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(days=1, hours=6)),
    )
    def _customer(context: AssetExecutionContext) -> MaterializeResult:
        window = context.partition_time_window
        tz = ZoneInfo(daily_partitions.timezone)
        with connect(load_settings().database_url, autocommit=True) as conn:
            stats = materialize(conn, window.start, window.end, tz)
            first, last = stats.days[0].day, stats.days[-1].day
            rows = _preview(conn, table, first, last)
            outcomes = check(conn, window.start, window.end, tz)
        context.log.info(f"{key.to_user_string()}: {stats.rows} rows over {len(stats.days)} days")
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(stats.rows),
                "days": MetadataValue.int(len(stats.days)),
                "window": MetadataValue.text(
                    f"[{window.start.isoformat()}, {window.end.isoformat()})"
                ),
                "duration_seconds": MetadataValue.float(stats.seconds),
                "slowest_day_seconds": MetadataValue.float(max(d.seconds for d in stats.days)),
                "preview": MetadataValue.md(_markdown_table(rows)),
            },
            check_results=[
                AssetCheckResult(
                    check_name=o.name,
                    asset_key=key,
                    passed=o.passed,
                    severity=AssetCheckSeverity.ERROR,
                    description=o.description,
                    metadata={
                        "failing_days": MetadataValue.text(
                            ", ".join(d.isoformat() for d in o.failing_days) or "none"
                        ),
                        "figures": MetadataValue.json(
                            {k: None if v is None else str(v) for k, v in o.figures.items()}
                        ),
                    },
                )
                for o in outcomes
            ],
        )

    return _customer


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")
    user_profiles = customer_asset(
        "user_profiles",
        "marts.customer_profiles",
        "Every user seen so far, as of the end of the partition's day: first seen, "
        "registration time and country, KYC status and level (the latest KYC event), "
        "first and last successful transaction, last activity, success count and main "
        "currency; lifetime totals per currency in `marts.customer_profile_currencies`.\n\n"
        "Grain: one row per user as of a day. Stored as versions, key (user_id, "
        "valid_from): a day writes a version only for the users with an event that day "
        "(the previous version merged with the day), and the profile as of D is the "
        "version with valid_from <= D < valid_to. Account age is computed on read. A day "
        "builds on the day before; a range backfill is one run, oldest day first.",
        profiles.materialize_user_profiles,
        profiles.check_user_profiles,
        {
            "one_version_per_user": "Every user with an event in the day has exactly one "
            "version valid on it.",
            "totals_match_currencies": "Success counts equal the per-currency totals.",
        },
        RAW_KEYS,
    )
    customer_spending = customer_asset(
        "spending",
        "marts.customer_spending",
        "Spending (successful PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT) per user, "
        "calendar month, currency and category (category '' = all), month to date as of "
        "the day: spend, count, share of the month, the previous month over the same "
        "days (the whole previous month once the month is complete), the change "
        "(absolute and percent, NULL without previous spend) and the top 5 merchants.\n\n"
        "Grain: one row per user, month, currency and category as of a day. Stored as "
        "versions, key (user_id, month, currency, category, valid_from): a day writes "
        "the cells that were paid that day or whose comparison moved, and their users' "
        "all-categories rows (the share is computed on read); computed from raw (no "
        "state carried), but the month as of a day needs its earlier days: a day after a "
        "month's 1st whose day before was never materialized fails the run "
        "(SpendingMonthIncompleteError); backfill a month from its 1st, as one range. "
        "Served by POST /api/v1/analytics/spending/trends.",
        spending.materialize_spending,
        spending.check_spending,
        {"categories_add_up": "Categories add up to the all-categories row; shares in [0, 1]."},
        [AssetKey(["raw", "transactions"])],
    )
    customer_cohorts = customer_asset(
        "cohorts",
        "marts.customer_cohorts",
        "Registration cohorts (the local week, Monday start, or month of a user's first "
        "user.registered) by period since registration: cohort size, active users (any "
        "event), paying users and revenue (successful spending, per currency; currency "
        "'' = payers in any currency, revenue NULL), retention rate = active / size.\n\n"
        "Grain: one row per cohort grain, cohort start, period and currency as of a day. "
        "Stored as versions, key (cohort_grain, cohort_start, period, currency, "
        "valid_from): a day writes the cells of the periods that hold it, from the day "
        "before's cells and the day's users (customers.cohort_registrations, "
        "customers.cohort_user_days), or from raw when the day before has no state. "
        "Served by GET /api/v1/analytics/cohort and /retention.",
        cohorts.materialize_cohorts,
        cohorts.check_cohorts,
        {
            "sizes_match_registrations": "Cohort sizes equal the registrations of "
            "marts.user_lifecycle_daily over the cohort's days."
        },
        [*RAW_KEYS, AssetKey(["marts", "user_lifecycle_daily"])],
    )

customer_assets: list[AssetsDefinition] = [user_profiles, customer_spending, customer_cohorts]
# The assets whose records in marts.customer_days tell the automation what is due.
RECORDED_ASSETS = [profiles.ASSET, spending.ASSET, cohorts.ASSET]

customers_job = define_asset_job(
    "customers_daily",
    selection=AssetSelection.groups(GROUP),
    description="Every asset of the customers group, for one day or a range of days (one run).",
)


def ready_days(conn: psycopg.Connection, now: datetime, grace: timedelta, tz: str) -> list[date]:
    """The days a customer run may cover: closed for `grace`, from the first day ingestion
    wrote, up to (not including) the first day whose hourly or daily rollups are due
    (missing or stale, as the rollup automation judges them), so days only run in order
    and after their rollups."""
    closed_before = now - grace
    rows = conn.execute(
        read_sql("customers/profiles_ready_days.sql"), {"tz": tz, "closed_before": closed_before}
    ).fetchall()
    zone = ZoneInfo(tz)
    rollups_due = {
        b.start.astimezone(zone).date()
        for b in collect_due(now, grace, [*DAILY_ROLLUPS, *HOURLY_ROLLUPS])
    }
    ready = []
    for (day,) in rows:
        if day in rollups_due:
            break
        ready.append(day)
    return ready


def _partition_key(day: date) -> str:
    return day.isoformat()


def evaluate_customers_tick(
    context: SensorEvaluationContext,
    grace: timedelta,
    retry_after: timedelta,
    now: datetime | None = None,
) -> SensorResult:
    now = now or datetime.now(UTC)
    tz = daily_partitions.timezone
    busy = [
        run
        for run in runs_to_wait_for(context.instance, now - retry_after)
        if run.job_name == customers_job.name
    ]
    if busy:
        return SensorResult(
            skip_reason=SkipReason(
                f"run {busy[0].run_id} of {customers_job.name} is in flight or failed recently"
            )
        )
    with connect(load_settings().database_url, autocommit=True) as conn:
        ready = ready_days(conn, now, grace, tz)
        due = due_days(conn, ready, ZoneInfo(tz), RECORDED_ASSETS)
    planned = plan_range([d for d, _ in due], ready)
    summary = {"ready_days": len(ready), "due_days": len(due)}
    if planned is None:
        return SensorResult(
            skip_reason=SkipReason("every ready day is materialized and up to date"),
            cursor=json.dumps(summary),
        )
    first, last = planned
    reasons = ",".join(sorted({reason for d, reason in due if first <= d <= last}))
    tags = {AUTOMATION_TAG: SENSOR_NAME, REASON_TAG: reasons}
    context.log.info(f"customers: days {first}..{last} ({reasons})")
    if first == last:
        request = RunRequest(
            job_name=customers_job.name, partition_key=_partition_key(first), tags=tags
        )
    else:
        request = RunRequest(
            job_name=customers_job.name,
            tags={
                **tags,
                ASSET_PARTITION_RANGE_START_TAG: _partition_key(first),
                ASSET_PARTITION_RANGE_END_TAG: _partition_key(last),
            },
        )
    return SensorResult(run_requests=[request], cursor=json.dumps(summary))


def build_customers_sensor(
    grace: timedelta,
    minimum_interval_seconds: int = 60,
    retry_after: timedelta = timedelta(minutes=15),
) -> SensorDefinition:
    """The automation of the customers group, running by default."""

    @sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        jobs=[customers_job],
        description=(
            "Runs every asset of the customers group for each day once the day has closed "
            f"plus {grace.total_seconds() / 60:g} minutes and its daily rollups "
            "(transactions, activity, user lifecycle) are in; re-runs a day that late "
            "events reached together with every later day (user profiles carry state "
            "forward), as one range run of at most 31 days."
        ),
    )
    def _customers(context: SensorEvaluationContext) -> SensorResult:
        return evaluate_customers_tick(context, grace, retry_after)

    return _customers
