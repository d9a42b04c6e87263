"""`analytics-platform archive list|verify|query|run`: the archive from a shell.

Registered by cli.py (`add_archive_commands`); each handler is a few lines around the
archive's plain functions.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from analytics_platform.settings import Settings

# The archive's modules (polars, DuckDB) are imported inside the handlers: building the
# parser must stay cheap for every other command.


def archive_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can fix: printed as one line by cli.main, never as a traceback."""
    from analytics_platform.archive.columns import RawTableNotFoundError, UnsupportedColumnError
    from analytics_platform.archive.months import NotAMonthError
    from analytics_platform.archive.reader import EmptyArchiveError
    from analytics_platform.archive.store import ArchiveLocationError
    from analytics_platform.archive.verification import MonthNotArchivedError

    return (
        ArchiveLocationError,
        EmptyArchiveError,
        MonthNotArchivedError,
        NotAMonthError,
        RawTableNotFoundError,
        UnsupportedColumnError,
    )


def cmd_archive_list(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.archive.manifest import months
    from analytics_platform.resources.warehouse import connect

    with connect(settings.database_url, autocommit=True) as conn:
        states = months(conn)
    header = f"{'table':20} {'month':7} {'files':>5} {'rows':>12} {'bytes':>14}"
    print(f"{header}  state")
    for m in states:
        if m.verified_at is not None:
            state = f"verified {m.verified_at:%Y-%m-%d %H:%M}"
        else:
            state = f"NOT VERIFIED{': ' + m.verification_problem if m.verification_problem else ''}"
        if m.raw_dropped_at is not None:
            state += f", raw dropped {m.raw_dropped_at:%Y-%m-%d}"
        line = f"{m.raw_table:20} {m.month:%Y-%m} {m.files:>5} {m.rows:>12,} {m.bytes:>14,}"
        print(f"{line}  {state}")
    print(f"{len(states)} archived month(s) in {settings.archive_url}")
    return 0


def cmd_archive_verify(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.archive.manifest import months
    from analytics_platform.archive.months import parse_month
    from analytics_platform.archive.store import open_store
    from analytics_platform.archive.verification import verify_month
    from analytics_platform.resources.warehouse import connect

    store = open_store(settings.archive_url)
    month = parse_month(args.month) if args.month else None
    failed = 0
    with connect(settings.database_url, autocommit=True) as conn:
        chosen = [
            m
            for m in months(conn)
            if (args.table is None or m.raw_table == args.table)
            and (month is None or m.month == month)
        ]
        for m in chosen:
            result = verify_month(conn, store, m.raw_table, m.month)
            failed += not result.ok
            verdict = "ok" if result.ok else "FAILED: " + "; ".join(result.problems)
            print(f"{m.raw_table:20} {m.month:%Y-%m} {result.raw.rows:>12,} raw rows  {verdict}")
    print(f"{len(chosen)} month(s) verified, {failed} failed")
    return 1 if failed else 0


def cmd_archive_query(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.archive.reader import query_archive
    from analytics_platform.archive.store import open_store
    from analytics_platform.resources.warehouse import connect

    with connect(settings.database_url, autocommit=True) as conn:
        result = query_archive(conn, open_store(settings.archive_url), args.sql)
    print("\t".join(result.columns))
    for row in result.rows:
        print("\t".join(_text(v) for v in row))
    print(f"({len(result.rows)} row(s))")
    return 0


def cmd_archive_run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.archive.due import archive_due
    from analytics_platform.archive.store import open_store
    from analytics_platform.resources.warehouse import connect

    store = open_store(settings.archive_url)
    with connect(settings.database_url, autocommit=True) as conn:
        done = archive_due(conn, store, datetime.now(UTC), progress=print)
    failed = [v for _, v in done if not v.ok]
    for v in failed:
        print(f"raw.{v.table} {v.month:%Y-%m}: verification FAILED: {'; '.join(v.problems)}")
    print(f"{len(done)} month(s) archived, {len(done) - len(failed)} verified")
    return 1 if failed else 0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def add_archive_commands(commands: Any) -> None:
    """Register `archive ...` on the CLI's subcommand parsers."""
    archive = commands.add_parser(
        "archive", help="the Parquet archive of raw months: list, verify, query, run"
    )
    actions = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="archived months, their files and state")
    listing.set_defaults(handler=cmd_archive_list)
    verify = actions.add_parser(
        "verify", help="re-read every file and compare it with the manifest and raw"
    )
    verify.add_argument("--table", help="only this raw table (e.g. transactions)")
    verify.add_argument("--month", help="only this UTC month (YYYY-MM)")
    verify.set_defaults(handler=cmd_archive_verify)
    query = actions.add_parser(
        "query",
        help="DuckDB SQL over the archive; views are named like the raw tables",
        description='e.g. archive query "SELECT currency, sum(amount) FROM transactions '
        "WHERE status = 'SUCCESS' GROUP BY ALL\"",
    )
    query.add_argument("sql", help="one DuckDB SQL statement")
    query.set_defaults(handler=cmd_archive_query)
    run = actions.add_parser(
        "run", help="archive and verify every ended month never archived or changed since"
    )
    run.set_defaults(handler=cmd_archive_run)
