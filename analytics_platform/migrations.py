"""Applying `sql/migrations/NNN_name.sql` in order, once each, recorded in schema_migrations.

Safe to run from several processes at once: a session-level advisory lock serializes
them, and each file runs in its own transaction together with its record, so a failed
file leaves nothing half-applied. A file that changed after it was applied is refused
(fix forward with a new file instead). The storage policies are re-applied on every run
with the current settings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from analytics_platform.ingestion.raw_storage import ensure_partitions_ahead
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import Settings

_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every migrating process.
_LOCK_KEY = 7_316_240_001


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree, or one failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0
    storage: list[str] = field(default_factory=list)
    timescaledb: bool = False
    partitions_created: int = 0
    # The server's WARNINGs and NOTICEs, "<step>: <SEVERITY>: <message>", in order: a
    # policy the server refused to change or a role it could not create shows up here.
    notices: list[str] = field(default_factory=list)
    step: str = "connect"

    def record_notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        message = f"{self.step}: {diagnostic.severity}: {diagnostic.message_primary}"
        if diagnostic.message_hint:
            message += f" (hint: {diagnostic.message_hint})"
        self.notices.append(message)


def discover(migrations_dir: Path) -> list[Migration]:
    """The migration files in version order; rejects names that would sort ambiguously."""
    if not migrations_dir.is_dir():
        raise MigrationError(f"no migrations directory at {migrations_dir}; check SQL_DIR")
    found: dict[int, Migration] = {}
    for path in sorted(migrations_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files must be named NNN_lowercase_name.sql"
            )
        version = int(match["version"])
        if version in found:
            raise MigrationError(
                f"{path.name} and {found[version].path.name} share version {version}"
            )
        found[version] = Migration(version, match["name"], path)
    return [found[v] for v in sorted(found)]


_CREATE_RECORD = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(settings: Settings) -> MigrationReport:
    """Bring the database at settings.database_url up to date; see the module docstring."""
    migrations = discover(settings.sql_dir / "migrations")
    report = MigrationReport()
    with connect(settings.database_url, autocommit=True) as conn:
        conn.add_notice_handler(report.record_notice)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            # Not IF NOT EXISTS alone: its "already exists, skipping" NOTICE on every run
            # would bury the notices that matter.
            if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone() == (None,):
                conn.execute(_CREATE_RECORD)
            recorded = {
                version: (name, checksum)
                for version, name, checksum in conn.execute(
                    "SELECT version, name, checksum FROM public.schema_migrations"
                )
            }
            for migration in migrations:
                _apply(conn, migration, recorded.get(migration.version), report)
            report.step = "configure_raw_storage"
            try:
                report.storage = [
                    line
                    for (line,) in conn.execute(
                        "SELECT * FROM ingest.configure_raw_storage(%s, %s, %s)",
                        (
                            settings.raw_retention_days,
                            settings.raw_compress_after_days,
                            settings.raw_chunk_interval_days,
                        ),
                    )
                ]
            except psycopg.Error as exc:
                raise MigrationError(_failure(report, exc)) from exc
            row = conn.execute("SELECT ingest.has_timescaledb()").fetchone()
            report.timescaledb = bool(row and row[0])
            report.step = "partitions ahead"
            report.partitions_created = ensure_partitions_ahead(
                conn, datetime.now(UTC), settings.raw_partitions_ahead_days
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return report


def _apply(
    conn: psycopg.Connection,
    migration: Migration,
    recorded: tuple[str, str] | None,
    report: MigrationReport,
) -> None:
    label = f"{migration.version:03d}_{migration.name}"
    report.step = label
    if recorded is not None:
        if recorded[1] != migration.checksum:
            raise MigrationError(
                f"migration {label} changed after it was applied; "
                "restore the original file and add a new migration for the change"
            )
        report.already_applied += 1
        return
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO public.schema_migrations (version, name, checksum) "
                "VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(_failure(report, exc)) from exc
    report.applied.append(label)


def _failure(report: MigrationReport, exc: psycopg.Error) -> str:
    """What failed, with the server's notices of that step (often the reason)."""
    notices = "".join(f"\n  {n}" for n in report.notices if n.startswith(f"{report.step}: "))
    what = f"migration {report.step}" if report.step[:3].isdigit() else report.step
    return f"{what} failed: {str(exc).strip()}{notices}"
