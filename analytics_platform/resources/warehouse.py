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

# Every session of the platform (ingestion, rollups, migrate, CLI, the API's pool):
# - UTC, so timestamps are rendered unambiguously; time zone logic lives in SQL
#   parameters, never in the session setting;
# - no JIT: where the server has LLVM (PostgreSQL's default, the TimescaleDB image) the
#   planner's 1,000-row guess for generate_series pushes a 30-row rollup over
#   jit_above_cost, and compiling it took 4.3 of 4.4 s. Nothing here runs long enough
#   for compiled expressions to pay back.
SESSION_OPTIONS = "-c TimeZone=UTC -c jit=off"


class WarehouseUnavailableError(ConnectionError):
    """The database cannot be reached; the message names DATABASE_URL and the cause."""


class SqlFileNotFoundError(FileNotFoundError):
    """A SQL file the code expects under SQL_DIR is missing."""


def connect(database_url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection with the session settings the platform relies on
    (SESSION_OPTIONS)."""
    try:
        return psycopg.connect(
            database_url, autocommit=autocommit, options=SESSION_OPTIONS, **kwargs
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
