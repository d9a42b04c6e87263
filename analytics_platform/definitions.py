"""The single Dagster Definitions of the platform (workspace.yaml points here)."""

from __future__ import annotations

from dagster import Definitions

from analytics_platform.assets.raw import raw_assets

defs = Definitions(assets=[*raw_assets])
