"""Per-key rate limits: a token bucket per API key, in this process.

Each key may make API_RATE_LIMIT_PER_MINUTE requests a minute on average and up to
API_RATE_LIMIT_BURST at once; a request beyond that is answered 429 with Retry-After
(the seconds until the bucket holds a token again). The buckets live in the API process:
with API_WORKERS=N (or N replicas) a key's effective budget is up to N times the
setting, as with the key cache (docs/api-limits.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by key id; `per_minute=0` disables the limit."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_minute / 60.0
        # A burst below one request would refuse everything.
        self.capacity = float(max(burst, 1))
        self.clock = clock
        # key id -> (tokens, when they were counted); one entry per key that called,
        # so bounded by the number of keys in api.api_keys.
        self._buckets: dict[int, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key_id: int) -> int | None:
        """Spend one token of `key_id`: None when allowed, else the whole seconds to
        wait before a token is there (the Retry-After)."""
        if self.per_second <= 0:
            return None
        now = self.clock()
        tokens, then = self._buckets.get(key_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.per_second)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return None
        self._buckets[key_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.per_second))
