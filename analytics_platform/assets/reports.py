"""reports/monthly: the platform's and every active merchant's monthly report, rendered
from the marts into reports.monthly_reports, with its tie-out check, the schedule that
renders last month once its rollups are in and the sensor that re-renders a month after
late data re-ran one of its days."""

# No `from __future__ import annotations`: Dagster checks the `context` annotation.
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    schedule,
    sensor,
)

from analytics_platform.assets.rollups import OWNERS
from analytics_platform.partitions import TIMEZONE, monthly_partitions
from analytics_platform.reports.build import PLATFORM_MARTS
from analytics_platform.reports.due import ROLLUPS_IN, due_months
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.reconciliation import verify_month
from analytics_platform.reports.store import render_month, stored_reports
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import load_settings

MONTHLY_REPORTS_KEY = AssetKey(["reports", "monthly"])
TIES_OUT_CHECK = "reports_tie_out"
REASON_TAG = "reports/reason"


def month_problems(database_url: str, month: ReportMonth) -> tuple[int, list[str]]:
    """The month's stored reports and what in them does not tie out."""
    with connect(database_url, autocommit=True) as conn:
        reports = stored_reports(conn, month)
        return len(reports), verify_month(conn, month, reports)


@asset(
    key=MONTHLY_REPORTS_KEY,
    description=(
        "Monthly reports (docs/reports.md): table `reports.monthly_reports`, one row per "
        "reporting-zone month and report, key (month, merchant_id); merchant_id '' is the "
        "platform's report, the others are the merchants with a transaction in the month. "
        "Each row holds the JSON document (report type monthly.summary.1) and its "
        "self-contained HTML, both built from the marts, with the mart materializations "
        "they read and a reconciliation block. Re-running a month replaces its reports."
    ),
    partitions_def=monthly_partitions,
    deps=[AssetDep(AssetKey(["marts", mart])) for mart in PLATFORM_MARTS],
    group_name="reports",
    kinds={"postgres", "html"},
    owners=OWNERS,
    check_specs=[
        AssetCheckSpec(
            TIES_OUT_CHECK,
            asset=MONTHLY_REPORTS_KEY,
            description=(
                "Every stored report of the month ties out: daily revenue rows sum to the "
                "summary's revenue and to the monthly mart, per currency; daily counts to "
                "the month's; wallets' opening + credits - debits = closing."
            ),
        )
    ],
)
def monthly_reports(context: AssetExecutionContext) -> MaterializeResult:
    settings = load_settings()
    month = ReportMonth.parse(context.partition_key[:7], settings.reporting_timezone)
    reason = context.run.tags.get(REASON_TAG, "manual")

    def progress(done: int, total: int, merchant: str | None) -> None:
        if done == total or done % 100 == 0:
            context.log.info(f"{month.label}: {done}/{total} reports ({merchant or 'platform'})")

    with connect(settings.database_url, autocommit=True) as conn:
        stored = render_month(conn, month, datetime.now(UTC), reason, progress=progress)
    count, problems = month_problems(settings.database_url, month)
    largest = max((len(s.html) for s in stored), default=0)
    return MaterializeResult(
        metadata={
            "dagster/row_count": MetadataValue.int(len(stored)),
            "merchants": MetadataValue.int(len(stored) - 1),
            "reason": MetadataValue.text(reason),
            "largest_html_bytes": MetadataValue.int(largest),
        },
        check_results=[
            AssetCheckResult(
                check_name=TIES_OUT_CHECK,
                asset_key=MONTHLY_REPORTS_KEY,
                passed=not problems,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(problems[:20]) or None,
                metadata={"reports": count, "problems": len(problems)},
            )
        ],
    )


reports_job = define_asset_job(
    "monthly_reports",
    selection=AssetSelection.assets(MONTHLY_REPORTS_KEY),
    description="Render one month's reports (platform and every active merchant).",
)


def _requests(now: datetime, *, late: bool) -> list[RunRequest]:
    settings = load_settings()
    with connect(settings.database_url, autocommit=True) as conn:
        due = due_months(conn, now, settings.reporting_timezone)
    first = monthly_partitions.get_first_partition_key()
    return [
        RunRequest(
            run_key=f"{d.month.isoformat()}:{d.reason}",
            partition_key=d.month.isoformat(),
            tags={REASON_TAG: "scheduled" if d.reason == ROLLUPS_IN else d.reason},
        )
        for d in due
        if (d.reason != ROLLUPS_IN) == late and first is not None and d.month.isoformat() >= first
    ]


@schedule(
    name="monthly_reports_schedule",
    job=reports_job,
    # Hourly over the first days of the month: the month renders at the first tick after
    # its daily rollups and the monthly mart are in (after the rollup automation's grace).
    cron_schedule="20 * 1-5 * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Renders last month's reports once its rollups are in (once per month).",
)
def monthly_reports_schedule(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    requests = _requests(now, late=False)
    return requests or SkipReason("no closed month whose rollups are in is without its reports")


@sensor(
    name="monthly_reports_late_data",
    job=reports_job,
    minimum_interval_seconds=600,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Re-renders a month whose marts were re-materialized after its reports (late data "
        "re-ran a day); the reports say when and why."
    ),
)
def monthly_reports_late_data(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    requests = _requests(datetime.now(UTC), late=True)
    if not requests:
        return SkipReason("no month's marts changed after its reports")
    return SensorResult(run_requests=requests)


report_assets = [monthly_reports]
report_jobs = [reports_job]
report_schedules = [monthly_reports_schedule]
report_sensors = [monthly_reports_late_data]
