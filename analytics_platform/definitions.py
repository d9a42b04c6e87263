"""The single Dagster Definitions of the platform (workspace.yaml points here)."""

from __future__ import annotations

from dagster import Definitions

from analytics_platform.assets.raw import raw_assets
from analytics_platform.ingestion.jobs import ingest_catch_up
from analytics_platform.ingestion.sensors import ingest_sensors

defs = Definitions(assets=[*raw_assets], jobs=[ingest_catch_up], sensors=[*ingest_sensors])
