"""The time zones a request may name: those both Python and PostgreSQL know.

A zone is used twice, by `zoneinfo` (windows, the times shown) and by PostgreSQL
(`AT TIME ZONE`, hour-of-day buckets), and the two databases differ: Python opens any
file under the zone directory (`posixrules`; a directory such as `Europe` fails with
IsADirectoryError, an over-long name with ENAMETOOLONG), PostgreSQL has names Python
lacks. Only a name in both sets is accepted, by set membership, so no request can make
either library touch the file system with a name it chose.

The set is read from `pg_timezone_names` once per process (at startup, or at the first
request that needs it when the database was down then) and kept: it changes only with a
PostgreSQL upgrade, which restarts the API anyway.
"""

from __future__ import annotations

import asyncio
import zoneinfo
from zoneinfo import ZoneInfo

from analytics_platform.api.db import Database
from analytics_platform.api.errors import echo, invalid

# No IANA name is longer (the longest is 32 characters); anything longer is refused
# before it is even looked up.
MAX_ZONE_NAME = 64


class Zones:
    """The accepted zone names of one API process."""

    def __init__(self) -> None:
        self._names: frozenset[str] | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._names is not None

    async def load(self, db: Database) -> None:
        """Read PostgreSQL's zone names (once; later calls return at once)."""
        if self._names is not None:
            return
        async with self._lock:
            if self._names is not None:
                return
            async with db.unscoped() as conn:
                cursor = await conn.execute("SELECT name FROM pg_timezone_names")
                postgres = {name for (name,) in await cursor.fetchall()}
            self._names = frozenset(postgres & zoneinfo.available_timezones())

    def accepted(self, name: str) -> bool:
        if self._names is None:
            raise RuntimeError("Zones.load() must run before zones are checked")
        return name in self._names

    def zone(self, name: str, parameter: str = "timezone") -> ZoneInfo:
        """The zone called `name`, or ANA_VAL_004 naming the parameter."""
        if len(name) > MAX_ZONE_NAME or not self.accepted(name):
            raise invalid(
                parameter,
                f"unknown IANA time zone {echo(name)} (e.g. UTC, Europe/Paris, Asia/Jakarta)",
                "ANA_VAL_004",
            )
        return ZoneInfo(name)
