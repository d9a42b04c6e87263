"""The warehouse: PostgreSQL/TimescaleDB connections and running the SQL files in `sql/`.

No Dagster imports: ingestion, assets, CLI and tests all come through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import psycopg

from analytics_platform.settings import load_settings


class WarehouseUnavailableError(ConnectionError):
    """The database cannot be reached; the message names DATABASE_URL and the cause."""


class SqlFileNotFoundError(FileNotFoundError):
    """A SQL file the code expects under SQL_DIR is missing."""


def connect(database_url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection with the reporting-independent defaults the platform relies on.

    Sessions run in UTC so timestamps are rendered unambiguously; time zone logic lives
    in SQL parameters, never in the session setting.
    """
    try:
        return psycopg.connect(
            database_url, autocommit=autocommit, options="-c TimeZone=UTC", **kwargs
        )
    except psycopg.OperationalError as exc:
        raise WarehouseUnavailableError(
            f"cannot connect to PostgreSQL (DATABASE_URL): {str(exc).strip()}. "
            "Start it (`analytics-platform dev-services` for the embedded one) or fix the URL."
        ) from exc


def sql_dir() -> Path:
    return load_settings().sql_dir


@cache
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SqlFileNotFoundError(
            f"SQL file {path} not found; check SQL_DIR (currently {path.parent})"
        ) from None


def read_sql(relative: str, base: Path | None = None) -> str:
    """The text of `sql/<relative>`; cached, since the files do not change while running."""
    return _read((base or sql_dir()) / relative)


def run_sql_file(
    conn: psycopg.Connection,
    relative: str,
    params: Mapping[str, Any] | None = None,
    base: Path | None = None,
) -> psycopg.Cursor:
    """Execute one SQL file with named parameters (`%(name)s`), never string formatting.

    A file of several statements must take no parameters (the simple query protocol).
    """
    return conn.execute(read_sql(relative, base), params)  # type: ignore[arg-type]
