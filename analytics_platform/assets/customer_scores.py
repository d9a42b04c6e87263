"""RFM scores and segment transitions as daily partitioned assets (group `customers`).

Thin shells: the partition range (one day, or a range for a single-run backfill) goes to
`customers.rfm.materialize_rfm` / `customers.transitions.materialize_transitions`, the
checks run over the same days, and the run reports rows, methods and seconds.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation.
import warnings
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from analytics_platform.customers.rfm import lookback_days_from_env, materialize_rfm
from analytics_platform.customers.score_checks import (
    RFM_CHECKS,
    TRANSITION_CHECKS,
    rfm_checks,
    transition_checks,
)
from analytics_platform.customers.segments import load_rules
from analytics_platform.customers.transitions import materialize_transitions
from analytics_platform.partitions import daily_partitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.checks import CheckOutcome
from analytics_platform.settings import load_settings

RFM_SCORES = AssetKey(["customers", "rfm_scores"])
SEGMENT_TRANSITIONS = AssetKey(["customers", "segment_transitions"])
RAW_TRANSACTIONS = AssetKey(["raw", "transactions"])
OWNERS = ["team:data-engineering"]

RFM_COLUMNS = TableSchema(
    columns=[
        TableColumn("day", "date", "key: the day the scores are as of (reporting zone)"),
        TableColumn("user_id", "text", "key: a user with a purchase in the look-back"),
        TableColumn("currency", "text", "the user's main currency (most purchases)"),
        TableColumn("recency_days", "integer", "days since the last purchase (0: that day)"),
        TableColumn("frequency", "integer", "successful purchases in the look-back"),
        TableColumn("monetary", "numeric", "amount of those purchases in the main currency"),
        TableColumn("last_purchase_day", "date", "the day of the last purchase"),
        TableColumn("r_score", "smallint", "1-5, 5 = most recent"),
        TableColumn("f_score", "smallint", "1-5, 5 = most frequent"),
        TableColumn("m_score", "smallint", "1-5 within the main currency, 5 = most spent"),
        TableColumn("segment", "text", "first matching rule of the segment table, else Others"),
    ]
)
TRANSITION_COLUMNS = TableSchema(
    columns=[
        TableColumn("day", "date", "key: the day"),
        TableColumn("since", "text", "key: previous_day or 30_days_before"),
        TableColumn("base_day", "date", "the day compared against"),
        TableColumn("from_segment", "text", "key: segment on the base day, '(none)' if unscored"),
        TableColumn("to_segment", "text", "key: segment on the day, '(none)' if unscored"),
        TableColumn("users", "integer", "users who moved so"),
    ]
)


def _days(context: AssetExecutionContext) -> tuple[date, date]:
    keys = context.partition_key_range
    return date.fromisoformat(keys.start), date.fromisoformat(keys.end)


def _results(key: AssetKey, outcomes: list[CheckOutcome]) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            asset_key=key,
            check_name=o.name,
            passed=o.passed,
            severity=AssetCheckSeverity.ERROR,
            description=o.description,
            metadata={k: MetadataValue.text(str(v)) for k, v in o.metadata.items()},
        )
        for o in outcomes
    ]


def _rfm_scores_asset() -> AssetsDefinition:
    @asset(
        key=RFM_SCORES,
        description=(
            "`customers.rfm_scores`: per user, as of the end of each day in the reporting zone, "
            "recency (days since the last purchase), frequency and monetary over the last "
            "RFM_LOOKBACK_DAYS days of successful purchases (PAYMENT, BILL_PAYMENT), their 1-5 "
            "scores by quantile breakpoints (equal values, equal scores; monetary within the "
            "user's main currency) and the segment from `sql/customers/segment_rules.csv`.\n\n"
            "Grain: one row per (day, user_id) for users with a purchase in the window. Built "
            "incrementally from the previous day's state (docs/customer-scores.md); each run "
            "replaces its days in one transaction, and a backfill range is a single run."
        ),
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[AssetDep(RAW_TRANSACTIONS)],
        group_name="customers",
        kinds={"postgres"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": RFM_COLUMNS,
            "dagster/table_name": "customers.rfm_scores",
            "key": "day, user_id",
        },
        check_specs=[
            AssetCheckSpec(n, asset=RFM_SCORES, description=d) for n, d in RFM_CHECKS.items()
        ],
    )
    def rfm_scores(context: AssetExecutionContext) -> MaterializeResult:
        first_day, last_day = _days(context)
        settings = load_settings()
        rules = load_rules()
        with connect(settings.database_url, autocommit=True) as conn:
            result = materialize_rfm(
                conn,
                first_day,
                last_day,
                settings.reporting_timezone,
                lookback_days_from_env(),
                rules,
            )
            outcomes = rfm_checks(conn, first_day, last_day, rules)
        methods = {d.method for d in result.days}
        context.log.info(f"rfm_scores [{first_day}, {last_day}]: {result}")
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(sum(d.users for d in result.days)),
                "users_last_day": MetadataValue.int(result.days[-1].users),
                "days": MetadataValue.int(len(result.days)),
                "lookback_days": MetadataValue.int(result.lookback_days),
                "state_methods": MetadataValue.text(", ".join(sorted(methods))),
                "purchase_days_computed": MetadataValue.int(result.purchase_days_computed),
                "duration_seconds": MetadataValue.float(result.seconds),
            },
            check_results=_results(RFM_SCORES, outcomes),
        )

    return rfm_scores


def _segment_transitions_asset() -> AssetsDefinition:
    @asset(
        key=SEGMENT_TRANSITIONS,
        description=(
            "`customers.segment_transitions`: per day, how many users moved from segment A "
            "(on the base day) to segment B (on the day), against the previous day and 30 days "
            "before; '(none)' is a user not scored on that day.\n\n"
            "Grain: one row per (day, since, from_segment, to_segment) with at least one user."
        ),
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[AssetDep(RFM_SCORES)],
        group_name="customers",
        kinds={"postgres"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": TRANSITION_COLUMNS,
            "dagster/table_name": "customers.segment_transitions",
            "key": "day, since, from_segment, to_segment",
        },
        check_specs=[
            AssetCheckSpec(n, asset=SEGMENT_TRANSITIONS, description=d)
            for n, d in TRANSITION_CHECKS.items()
        ],
    )
    def segment_transitions(context: AssetExecutionContext) -> MaterializeResult:
        first_day, last_day = _days(context)
        settings = load_settings()
        with connect(settings.database_url, autocommit=True) as conn:
            result = materialize_transitions(conn, first_day, last_day, settings.start_date)
            outcomes = transition_checks(conn, first_day, last_day)
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(result.rows),
                "skipped_base_days": MetadataValue.text(
                    ", ".join(f"{d} {s}" for d, s in result.skipped) or "none"
                ),
                "duration_seconds": MetadataValue.float(result.seconds),
            },
            check_results=_results(SEGMENT_TRANSITIONS, outcomes),
        )

    return segment_transitions


with warnings.catch_warnings():
    # Single-run backfills are beta in Dagster 1.13; relied on knowingly (as the rollups).
    warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")
    customer_score_assets: list[AssetsDefinition] = [
        _rfm_scores_asset(),
        _segment_transitions_asset(),
    ]
