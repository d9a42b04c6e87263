"""What one API process holds: settings, pool, key verifier, caches, metrics, clock,
the accepted time zones and the per-key rate limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from analytics_platform.api.auth import KeyVerifier
from analytics_platform.api.cache import FreshnessMemo, ResponseCache, Watermarks
from analytics_platform.api.db import Database
from analytics_platform.api.fast_path import Shortcuts
from analytics_platform.api.observability import Metrics
from analytics_platform.api.rate_limit import RateLimiter
from analytics_platform.api.zones import Zones
from analytics_platform.settings import Settings


@dataclass
class ApiState:
    settings: Settings
    db: Database
    keys: KeyVerifier
    watermarks: Watermarks
    cache: ResponseCache
    freshness: FreshnessMemo
    metrics: Metrics
    shortcuts: Shortcuts
    clock: Callable[[], datetime]
    zones: Zones
    limiter: RateLimiter
