"""The `analytics-platform` command.

Each subcommand is a few lines around a plain function; errors the user can fix are
printed as one line naming what was wrong (exit 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics_platform.settings import Settings, SettingsError, load_settings


class UsageError(ValueError):
    """A command-line argument the command cannot use."""


def _utc_datetime(text: str) -> datetime:
    """`YYYY-MM-DD` or an ISO 8601 time; without an offset it means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1)")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.migrations import migrate

    report = migrate(settings)
    for label in report.applied:
        print(f"applied   {label}")
    print(
        f"schema up to date: {len(report.applied)} applied, {report.already_applied} already "
        f"applied; TimescaleDB {'on' if report.timescaledb else 'off'}; "
        f"{report.partitions_created} raw partitions created ahead"
    )
    for line in report.storage:
        print(f"storage   {line}")
    return 0


def cmd_dev_services(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.dev.services import (
        install_stop_handlers,
        start_dev_services,
        write_env_file,
    )

    stop = install_stop_handlers()
    services = start_dev_services(settings, settings.dev_data_dir, keep_data=args.keep_data)
    try:
        environment = services.environment()
        if args.migrate:
            cmd_migrate(args, _with(settings, environment))
        for key, value in environment.items():
            print(f"{key}={value}")
        # Written last: its existence tells scripts the services are ready.
        if args.env_file:
            write_env_file(args.env_file, environment)
        print(
            f"# embedded PostgreSQL and Kafka are running ({settings.kafka_topic_partitions} "
            "partitions per topic); Ctrl-C stops both",
            flush=True,
        )
        stop.wait()
    finally:
        services.stop()
        if args.env_file:
            args.env_file.unlink(missing_ok=True)
    return 0


def _with(settings: Settings, environment: dict[str, str]) -> Settings:
    import os

    return load_settings({**os.environ, **environment})


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.dev.event_sinks import produce_to_kafka, summarize_counts, write_jsonl
    from analytics_platform.dev.generator import GeneratorConfig, generate_events
    from analytics_platform.resources.kafka import producer_config

    start = args.start or (
        datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        - timedelta(days=args.days)
    )
    config = GeneratorConfig(
        seed=args.seed,
        days=args.days,
        events_per_day=args.events_per_day,
        start=start,
        late_fraction=args.late_fraction,
        duplicate_fraction=args.duplicate_fraction,
        malformed_fraction=args.malformed_fraction,
    )
    events = generate_events(config)
    if args.jsonl is not None:
        counts = write_jsonl(events, args.jsonl)
        print(f"wrote JSONL files to {args.jsonl}")
    else:
        counts = produce_to_kafka(
            events,
            producer_config(settings),
            settings.kafka_topic_prefix,
            total=None,
            progress=not args.no_progress,
        )
        print(f"produced to Kafka at {settings.kafka_bootstrap_servers}")
    print(summarize_counts(counts))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.dev.demo import run_demo

    return run_demo(settings, days=args.days, events_per_day=args.events_per_day)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-platform",
        description="Dagster-orchestrated analytics platform for a payments business.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser(
        "migrate", help="apply the SQL migrations to DATABASE_URL (idempotent, concurrency-safe)"
    )
    migrate.set_defaults(handler=cmd_migrate)

    dev = commands.add_parser(
        "dev-services",
        help="run the embedded PostgreSQL and Kafka until Ctrl-C; prints their URLs",
    )
    dev.add_argument(
        "--env-file", type=Path, help="also write the URLs to this file as KEY=value lines"
    )
    dev.add_argument(
        "--keep-data",
        action="store_true",
        help="reuse the PostgreSQL data of the last run (the embedded Kafka is always empty)",
    )
    dev.add_argument("--migrate", action="store_true", help="apply the migrations once started")
    dev.set_defaults(handler=cmd_dev_services)

    gen = commands.add_parser(
        "generate", help="produce a realistic, seeded payments event history to Kafka or JSONL"
    )
    gen.add_argument("--seed", type=int, default=42, help="same seed, same events (default 42)")
    gen.add_argument("--days", type=_positive_int, default=1, help="days of history (default 1)")
    gen.add_argument(
        "--events-per-day",
        type=_positive_int,
        default=20_000,
        help="transactions per day; the other topics scale with it (default 20000)",
    )
    gen.add_argument(
        "--start",
        type=_utc_datetime,
        help="first day (YYYY-MM-DD or ISO time, UTC if no offset; default: --days ago)",
    )
    gen.add_argument("--late-fraction", type=_fraction, default=0.01, help="default 0.01")
    gen.add_argument("--duplicate-fraction", type=_fraction, default=0.005, help="default 0.005")
    gen.add_argument("--malformed-fraction", type=_fraction, default=0.001, help="default 0.001")
    gen.add_argument(
        "--jsonl", type=Path, metavar="DIR", help="write <topic>.jsonl files instead of Kafka"
    )
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(handler=cmd_generate)

    demo = commands.add_parser(
        "demo",
        help="start everything locally: embedded services, events, Dagster UI (Ctrl-C stops)",
    )
    demo.add_argument("--days", type=_positive_int, default=1, help="days of history (default 1)")
    demo.add_argument("--events-per-day", type=_positive_int, default=20_000, help="default 20000")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    from analytics_platform.dev.postgres import EmbeddedPostgresError
    from analytics_platform.migrations import MigrationError
    from analytics_platform.resources.kafka import KafkaAccessError
    from analytics_platform.resources.warehouse import WarehouseUnavailableError

    return (
        SettingsError,
        UsageError,
        MigrationError,
        WarehouseUnavailableError,
        KafkaAccessError,
        EmbeddedPostgresError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = load_settings()
        return handler(args, settings)
    except _known_errors() as exc:
        print(f"analytics-platform {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
