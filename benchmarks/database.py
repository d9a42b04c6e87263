"""The database a benchmark runs on: a fresh embedded PostgreSQL, migrated, removed after."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.migrations import migrate
from analytics_platform.settings import load_settings


@contextmanager
def migrated_database(
    name: str, data_dir: Path | None = None, **environment: str
) -> Iterator[tuple[str, Path]]:
    """(DATABASE_URL, a scratch folder beside it) for benchmark `name`; `environment`
    adds settings the migration must see (e.g. REPORTING_TIMEZONE). With `data_dir` the
    server lives there and is kept after (a benchmark whose load takes minutes reuses
    it); otherwise in a temporary folder removed after."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        server = EmbeddedPostgres(data_dir or Path(tmp) / "pg", databases=("bench",)).start()
        try:
            settings = load_settings({"DATABASE_URL": server.url("bench"), **environment})
            migrate(settings)
            yield settings.database_url, Path(tmp)
        finally:
            server.stop()
