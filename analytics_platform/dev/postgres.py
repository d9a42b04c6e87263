"""The embedded PostgreSQL: a real server from the `pgserver` wheel, nothing to install.

Used by `analytics-platform dev-services`, `make demo` and the test fixtures when
DATABASE_URL does not point at a real server. pgserver listens on a Unix socket in its
data directory; the URLs it hands out carry `host=<socket dir>`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql


def _pgserver() -> Any:
    """pgserver, imported on first use: production images may leave it out."""
    # It asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (CI,
    # containers) that warns, and the fallback under /tmp is what we want anyway.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    return pgserver


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not start or be prepared."""


class EmbeddedPostgres:
    """A pgserver instance with the platform's databases created in it."""

    def __init__(
        self, data_dir: Path, databases: tuple[str, ...] = ("analytics", "dagster")
    ) -> None:
        self.data_dir = data_dir
        self.databases = databases
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # "stop": the server stops when the last process holding it exits or calls
            # stop(), so neither Ctrl-C nor a crashed test leaves a postmaster behind.
            self._server = _pgserver().get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare Exceptions on init/start failures
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL failed to start in {self.data_dir}: {exc}. "
                "Delete that directory if it is left over from an older version."
            ) from exc
        for name in self.databases:
            self.create_database(name)
        return self

    @property
    def admin_url(self) -> str:
        if self._server is None:
            raise EmbeddedPostgresError("embedded PostgreSQL is not started")
        return self._server.get_uri()

    def url(self, database: str) -> str:
        """URL of one database; pgserver's URI is `postgresql://postgres:@/postgres?host=...`."""
        return self._server.get_uri(database) if self._server else self.admin_url

    def create_database(self, name: str) -> str:
        """Create `name` if missing and return its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
