"""Asset checks of the rollup marts: specs and results around `rollups.checks`.

The checks run inside each materialization, over exactly the window it wrote (one
partition, or the range of a single-run backfill), so a result always describes the
partitions of that run. The SQL and the comparisons live in `analytics_platform.rollups`.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
)

from analytics_platform.rollups.checks import CheckOutcome, check_descriptions
from analytics_platform.rollups.families import Mart


def mart_asset_key(mart: Mart) -> AssetKey:
    return AssetKey(list(mart.schema_table))


def rollup_check_specs(mart: Mart) -> list[AssetCheckSpec]:
    """One spec per check the mart's runs evaluate (hourly marts have no finer grain)."""
    key = mart_asset_key(mart)
    return [
        AssetCheckSpec(name, asset=key, description=description)
        for name, description in check_descriptions(mart).items()
    ]


def _metadata_value(value: object) -> MetadataValue:
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    return MetadataValue.text(str(value))


def rollup_check_results(mart: Mart, outcomes: Sequence[CheckOutcome]) -> list[AssetCheckResult]:
    key = mart_asset_key(mart)
    return [
        AssetCheckResult(
            asset_key=key,
            check_name=outcome.name,
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR,
            description=outcome.description,
            metadata={k: _metadata_value(v) for k, v in outcome.metadata.items()},
        )
        for outcome in outcomes
    ]
