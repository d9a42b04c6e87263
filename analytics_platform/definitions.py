"""The single Dagster Definitions of the platform (workspace.yaml points here)."""

from __future__ import annotations

from datetime import timedelta

from dagster import Definitions

from analytics_platform.assets.archive import (
    archive_assets,
    archive_jobs,
    archive_schedules,
    archive_sensors,
    raw_retention,
)
from analytics_platform.assets.customer_scores import customer_score_assets
from analytics_platform.assets.customers import (
    build_customers_sensor,
    customer_assets,
    customers_job,
)
from analytics_platform.assets.raw import raw_assets
from analytics_platform.assets.recommendations import (
    ml_assets,
    ml_training_job,
    ml_training_schedule,
    recommendations_job,
    recommendations_schedule,
)
from analytics_platform.assets.reports import (
    report_assets,
    report_jobs,
    report_schedules,
    report_sensors,
)
from analytics_platform.assets.rollups import rollup_assets
from analytics_platform.automation.sensors import build_rollup_sensor, rollup_jobs
from analytics_platform.ingestion.jobs import ingest_catch_up
from analytics_platform.ingestion.sensors import ingest_sensors
from analytics_platform.settings import load_settings

_settings = load_settings()

defs = Definitions(
    assets=[
        *raw_assets,
        *rollup_assets,
        *customer_assets,
        *customer_score_assets,
        *archive_assets,
        raw_retention,
        *report_assets,
        *ml_assets,
    ],
    jobs=[
        ingest_catch_up,
        *rollup_jobs.values(),
        customers_job,
        *archive_jobs,
        *report_jobs,
        ml_training_job,
        recommendations_job,
    ],
    schedules=[
        *archive_schedules,
        *report_schedules,
        ml_training_schedule,
        recommendations_schedule,
    ],
    sensors=[
        *archive_sensors,
        *report_sensors,
        *ingest_sensors,
        build_rollup_sensor(
            grace=timedelta(minutes=_settings.rollup_grace_minutes),
            minimum_interval_seconds=_settings.rollup_sensor_interval_seconds,
            retry_after=timedelta(minutes=_settings.rollup_retry_after_minutes),
        ),
        # Customer days wait for the same grace as the rollups, plus their daily rollups.
        build_customers_sensor(
            grace=timedelta(minutes=_settings.rollup_grace_minutes),
            minimum_interval_seconds=_settings.rollup_sensor_interval_seconds,
            retry_after=timedelta(minutes=_settings.rollup_retry_after_minutes),
        ),
    ],
)
