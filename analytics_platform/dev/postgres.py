"""The embedded PostgreSQL: a real server from the `pgserver` wheel, nothing to install.

Used by `analytics-platform dev-services`, `make demo` and the test fixtures when
DATABASE_URL does not point at a real server. pgserver listens on a Unix socket in its
data directory; the URLs it hands out carry `host=<socket dir>`.
"""

from __future__ import annotations

import os
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


def server_settings() -> dict[str, str]:
    """Settings the embedded server runs with instead of PostgreSQL's defaults.

    The defaults (128 MB of shared buffers, a checkpoint every 1 GB of WAL) are sized
    for a small shared host: loading a million events evicted dirty pages that backends
    then wrote out themselves, and forced checkpoints mid-load. An eighth of the memory
    (at most 1 GB) and 4 GB of WAL between checkpoints took end-to-end ingestion here
    from 125-170k to 190-200k events/s (benchmarks/ingest.py). Production's TimescaleDB
    image sizes itself the same way (timescaledb-tune, a quarter of the memory).
    """
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    shared_mb = max(128, min(1024, memory // 8 // (1 << 20)))
    return {"shared_buffers": f"{shared_mb}MB", "max_wal_size": "4GB"}


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
        self._launch()
        if self._configure():
            # shared_buffers applies only at server start; the data directory keeps the
            # settings, so this restart happens once per directory.
            self.stop()
            self._launch()
        for name in self.databases:
            self.create_database(name)
        return self

    def _launch(self) -> None:
        try:
            # "stop": the server stops when the last process holding it exits or calls
            # stop(), so neither Ctrl-C nor a crashed test leaves a postmaster behind.
            self._server = _pgserver().get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare Exceptions on init/start failures
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL failed to start in {self.data_dir}: {exc}. "
                "Delete that directory if it is left over from an older version."
            ) from exc

    def _configure(self) -> bool:
        """Store `server_settings()` where they differ; True if a restart is needed."""
        changed = False
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name, value in server_settings().items():
                same = conn.execute(
                    "SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)", (name, value)
                ).fetchone()
                if same is None or not same[0]:
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(
                            sql.Identifier(name), sql.Literal(value)
                        )
                    )
                    changed = True
        return changed

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
