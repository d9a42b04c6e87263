"""The `analytics-platform` command.

Each subcommand is a few lines around a plain function; errors the user can fix are
printed as one line naming what was wrong (exit 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics_platform.settings import REPO_ROOT, Settings, SettingsError, load_settings


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
    for notice in report.notices:
        print(f"server    {notice}")
    return 0


def cmd_dev_services(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.dev.dagster_processes import dagster_environment, prepare_dagster_home
    from analytics_platform.dev.services import (
        install_stop_handlers,
        start_dev_services,
        write_env_file,
    )

    stop = install_stop_handlers()
    # A `dagster` command run beside the services without this home would use a
    # throwaway instance: run history and check results lost.
    home = prepare_dagster_home(settings.dagster_home)
    services = start_dev_services(settings, settings.dev_data_dir, keep_data=args.keep_data)
    try:
        environment = {**services.environment(), **dagster_environment(home)}
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
    from analytics_platform.dev.generator import (
        GeneratorConfig,
        estimate_total_events,
        generate_events,
    )
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
            total=estimate_total_events(config),
            progress=not args.no_progress,
        )
        print(f"produced to Kafka at {settings.kafka_bootstrap_servers}")
    print(summarize_counts(counts))
    return 0


def _short_topic(settings: Settings, text: str) -> str:
    from analytics_platform.events import TOPICS

    name = text.removeprefix(settings.kafka_topic_prefix)
    if name not in TOPICS:
        raise UsageError(
            f"unknown topic {text!r}; use one of {', '.join(TOPICS)} "
            f"(with or without the prefix {settings.kafka_topic_prefix!r})"
        )
    return name


def cmd_ingest_run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.events import TOPICS
    from analytics_platform.ingestion.runner import ingest_topic

    names = [_short_topic(settings, args.topic)] if args.topic else list(TOPICS)
    failed = 0
    for name in names:
        # Each topic stands alone: a gap or a broker error on one must not keep the
        # others from being ingested.
        try:
            report = ingest_topic(
                settings, name, time_budget=args.budget, batch_size=settings.ingest_batch_size
            )
        except _known_errors() as exc:
            failed += 1
            print(f"analytics-platform ingest run: {name}: error: {exc}", file=sys.stderr)
            continue
        r = report.result
        print(
            f"{report.topic}: {r.messages:,} messages -> {r.rows_inserted:,} rows, "
            f"{r.duplicates:,} duplicates, {r.dead_letters:,} dead letters, "
            f"{len(r.hours)} hours touched in {report.seconds:.1f} s; lag left {report.remaining:,}"
        )
    return STATUS_BLOCKED if failed else 0


# `ingest status` exit codes (docs/ingest-operations.md); 2 is every command's error code.
STATUS_CAUGHT_UP = 0
STATUS_BEHIND = 1
STATUS_BLOCKED = 3


def ingest_status(settings: Settings) -> dict[str, Any]:
    """Every topic's state as `ingest status --json` prints it (see its help)."""
    from analytics_platform.archive.retention import retention_warnings
    from analytics_platform.events import TOPICS
    from analytics_platform.ingestion.gaps import list_gaps
    from analytics_platform.ingestion.reader import TopicReader
    from analytics_platform.ingestion.runner import last_runs, loader_for, read_state
    from analytics_platform.resources.warehouse import connect

    topics: list[dict[str, Any]] = []
    with connect(settings.database_url, autocommit=True) as conn:
        runs = last_runs(conn, settings.kafka_consumer_group)
        for name in TOPICS:
            loader = loader_for(settings, name)
            entry: dict[str, Any] = {"topic": loader.topic, "partitions": None, "lag": None}
            reader = TopicReader(settings, loader.topic)
            try:
                state = read_state(conn, reader, loader)
                entry.update(
                    partitions=len(state.watermarks),
                    lag=state.lag,
                    state="caught_up" if state.lag == 0 else "behind",
                    error=None,
                )
            except Exception as exc:  # status reports every topic, whatever one says
                entry.update(state="blocked", error=f"{type(exc).__name__}: {exc}")
            finally:
                reader.close()
            succeeded, failed_at, failures, error = runs.get(loader.topic, (None, None, 0, None))
            entry["last_run"] = {
                "succeeded_at": succeeded and succeeded.isoformat(),
                "failed_at": failed_at and failed_at.isoformat(),
                "failures_since_success": failures,
                "error": error,
            }
            if failures and entry["state"] != "blocked":
                entry["state"] = "failing"
            topics.append(entry)
        gaps = [
            {
                "topic": topic,
                "partition": partition,
                "lost_from": lo,
                "lost_to": hi,
                "detected_at": detected.isoformat(),
            }
            for topic, partition, lo, hi, detected, *_ in list_gaps(
                conn, settings.kafka_consumer_group
            )
        ]
        # Raw months past RAW_RETENTION_DAYS that retention keeps (not archived and
        # verified): loud here, so nobody learns of them from a full disk.
        held = retention_warnings(conn, datetime.now(UTC), settings.raw_retention_days)
    states = {t["state"] for t in topics}
    code = (
        STATUS_BLOCKED
        if states & {"blocked", "failing"} or gaps
        else STATUS_BEHIND
        if "behind" in states
        else STATUS_CAUGHT_UP
    )
    return {
        "exit_code": code,
        "ok": code == STATUS_CAUGHT_UP,
        "topics": topics,
        "gaps": gaps,
        "retention_held": held,
    }


def cmd_ingest_status(args: argparse.Namespace, settings: Settings) -> int:
    status = ingest_status(settings)
    if args.json:
        print(json.dumps(status, indent=2))
        return status["exit_code"]
    print(f"{'topic':40} {'partitions':>10} {'lag':>12}  state")
    for topic in status["topics"]:
        shown = {"caught_up": "ok", "behind": "behind"}.get(topic["state"], topic["state"])
        detail = topic["error"] or topic["last_run"]["error"]
        if topic["state"] == "failing":
            failures = topic["last_run"]["failures_since_success"]
            shown = f"failing ({failures} runs since the last success): {detail}"
        elif topic["state"] == "blocked":
            shown = f"blocked: {detail}"
        partitions = "" if topic["partitions"] is None else f"{topic['partitions']:,}"
        lag = "" if topic["lag"] is None else f"{topic['lag']:,}"
        print(f"{topic['topic']:40} {partitions:>10} {lag:>12}  {shown}")
    for gap in status["gaps"]:
        print(
            f"gap: {gap['topic']} [{gap['partition']}] offsets {gap['lost_from']}.."
            f"{gap['lost_to'] - 1} lost (detected {gap['detected_at']})"
        )
    for warning in status["retention_held"]:
        print(f"retention: {warning}")
    return status["exit_code"]


def cmd_ingest_acknowledge_gap(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.ingestion.gaps import acknowledge_gap
    from analytics_platform.resources.kafka import topic_name
    from analytics_platform.resources.warehouse import connect

    topic = topic_name(settings, _short_topic(settings, args.topic))
    with connect(settings.database_url, autocommit=True) as conn:
        ranges = acknowledge_gap(conn, settings.kafka_consumer_group, topic, args.partition)
    for lo, hi in ranges:
        print(f"acknowledged: {topic} [{args.partition}] offsets {lo}..{hi - 1} ({hi - lo:,} lost)")
    print(f"ingestion of {topic} [{args.partition}] resumes at offset {ranges[-1][1]}")
    return 0


def cmd_dead_letters_list(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.ingestion.dead_letters import list_dead_letters
    from analytics_platform.resources.kafka import topic_name
    from analytics_platform.resources.warehouse import connect

    topic = topic_name(settings, _short_topic(settings, args.topic)) if args.topic else None
    with connect(settings.database_url, autocommit=True) as conn:
        letters = list_dead_letters(conn, topic, args.limit, args.all)
    for letter in letters:
        state = f"replayed {letter.replayed_at:%Y-%m-%d %H:%M}" if letter.replayed_at else "pending"
        preview = bytes(letter.payload[:80]).decode("utf-8", "replace")
        print(
            f"#{letter.id} {letter.topic} [{letter.partition}]@{letter.offset} {state}: "
            f"{letter.reason}\n    {preview}"
        )
    print(f"{len(letters)} dead letter(s) shown")
    return 0


def cmd_dead_letters_replay(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.ingestion.dead_letters import replay_dead_letters

    short = _short_topic(settings, args.topic) if args.topic else None
    for report in replay_dead_letters(settings, short):
        print(
            f"{report.topic}: {report.examined:,} examined, {report.replayed:,} replayed, "
            f"{report.duplicates:,} already present, {report.still_failing:,} still failing"
        )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.dev.demo import DemoOptions, run_demo, run_demo_once

    options = DemoOptions(
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
        data_dir=args.data_dir,
        host=args.host,
        dagster_port=args.dagster_port,
        api_port=args.api_port,
        live_events_per_second=args.live_rate,
        progress=not args.no_progress,
    )
    return run_demo_once(settings, options) if args.once else run_demo(settings, options)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    import urllib.error

    from analytics_platform.assets.rollups import PARTITIONS
    from analytics_platform.automation.backfill import plan_backfill, run_backfill
    from analytics_platform.rollups.families import Grain

    grains = list(Grain) if args.grain == "all" else [Grain(args.grain)]
    plans = plan_backfill(args.start, args.end, grains, PARTITIONS, datetime.now(UTC), _say)
    try:
        run_backfill(
            args.dagster_url, plans, args.timeout, say=lambda line: print(line, flush=True)
        )
    except urllib.error.URLError as exc:
        raise UsageError(
            f"cannot reach the Dagster webserver at {args.dagster_url} ({exc.reason}); start it "
            "(make demo, or dagster-webserver and dagster-daemon) or give --dagster-url"
        ) from None
    return 0


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import tempfile

    import uvicorn

    from analytics_platform.api.observability import uvicorn_log_config

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    workers = args.workers or settings.api_workers
    shown = f"[{host}]" if ":" in host else host
    print(f"analytics API on http://{shown}:{port}  (docs: http://{shown}:{port}/docs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="analytics-api-metrics-") as metrics_dir:
        if workers > 1:
            # Each worker counts requests in its own process; Prometheus' multiprocess
            # mode adds them up for /metrics.
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        uvicorn.run(
            "analytics_platform.api.app:create_server_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_config=uvicorn_log_config(),
            access_log=False,
            server_header=False,
        )
    return 0


def cmd_api_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.api.keys import create_api_key

    key = create_api_key(settings.database_url, name=args.name, scope=args.scope)
    print(key)
    print(
        f"# API key {key.split('_')[1]} ({args.scope}) created; it is shown only now. "
        "Send it as the X-API-Key header.",
        file=sys.stderr,
    )
    return 0


def cmd_api_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.api.keys import revoke_api_key

    key = revoke_api_key(settings.database_url, args.key)
    print(
        f"revoked API key {key.id} {key.prefix} ({key.name}, {key.scope_text}) at "
        f"{key.revoked_at:%Y-%m-%d %H:%M:%S %Z}; running APIs stop accepting it within "
        f"{settings.api_key_cache_seconds} s"
    )
    return 0


def cmd_api_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.api.keys import list_api_keys

    keys = list_api_keys(settings.database_url)
    print(f"{'id':>5}  {'prefix':8}  {'scope':24}  {'state':8}  {'last used':16}  name")
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(f"{key.id:>5}  {key.prefix:8}  {key.scope_text:24}  {state:8}  {used:16}  {key.name}")
    print(f"{len(keys)} key(s)")
    return 0


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
        help="run the embedded PostgreSQL and Kafka until Ctrl-C; prints their URLs and "
        "DAGSTER_HOME (created with the repository's dagster.yaml)",
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

    ingest = commands.add_parser("ingest", help="run, inspect and unblock Kafka ingestion")
    ingest_commands = ingest.add_subparsers(dest="ingest_command", required=True, metavar="ACTION")
    run = ingest_commands.add_parser(
        "run", help="ingest now, outside Dagster (same function as the sensors)"
    )
    run.add_argument("--topic", help="one topic (default: all five)")
    run.add_argument(
        "--budget", type=float, help="stop after this many seconds (default: until caught up)"
    )
    run.set_defaults(handler=cmd_ingest_run)
    status = ingest_commands.add_parser(
        "status",
        help="lag per topic, unacknowledged gaps and failing topics",
        description="Exit status: 0 every topic caught up (no lag) and unblocked; "
        "1 some topic behind (lag) but none blocked or failing; 3 some topic blocked (an "
        "unacknowledged gap, Kafka or the topic unreadable) or its last ingestion runs "
        "failed; 2 the command itself failed (settings, database).",
    )
    status.add_argument(
        "--json", action="store_true", help="print the status as JSON (same exit status)"
    )
    status.set_defaults(handler=cmd_ingest_status)
    ack = ingest_commands.add_parser(
        "acknowledge-gap",
        help="accept that Kafka deleted offsets before they were ingested, and resume",
    )
    ack.add_argument("--topic", required=True, help="topic, with or without the prefix")
    ack.add_argument("--partition", required=True, type=int)
    ack.set_defaults(handler=cmd_ingest_acknowledge_gap)

    letters = commands.add_parser("dead-letters", help="inspect and replay rejected messages")
    letters_commands = letters.add_subparsers(
        dest="dead_letters_command", required=True, metavar="ACTION"
    )
    listing = letters_commands.add_parser("list", help="show dead letters with their reasons")
    listing.add_argument("--topic", help="only this topic")
    listing.add_argument("--limit", type=_positive_int, default=50, help="default 50")
    listing.add_argument("--all", action="store_true", help="include replayed ones")
    listing.set_defaults(handler=cmd_dead_letters_list)
    replay = letters_commands.add_parser(
        "replay", help="re-ingest the dead letters that decode with the current contract"
    )
    replay.add_argument("--topic", help="only this topic")
    replay.set_defaults(handler=cmd_dead_letters_replay)

    demo = commands.add_parser(
        "demo",
        help="everything locally: embedded services, a month of events, Dagster UI, API, a "
        "live stream (Ctrl-C stops); --once: the same in process, a summary, then exit",
    )
    demo.add_argument(
        "--once",
        action="store_true",
        help="no servers, no live stream: materialize in process, print a summary, exit",
    )
    demo.add_argument("--days", type=_positive_int, default=30, help="days of history (default 30)")
    demo.add_argument(
        "--events-per-day",
        type=_positive_int,
        default=10_000,
        help="transactions a day, rows of raw.transactions (default 10000)",
    )
    demo.add_argument("--seed", type=int, default=42, help="history seed (default 42)")
    demo.add_argument(
        "--live-rate",
        type=float,
        default=3.0,
        help="live stream, events per second across topics (default 3; 0: none)",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address the servers listen on")
    demo.add_argument("--dagster-port", type=_positive_int, default=3000, help="default 3000")
    demo.add_argument("--api-port", type=_positive_int, default=8000, help="default 8000")
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT / ".demo",
        help="embedded PostgreSQL, Dagster home and logs (default .demo; emptied at start)",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(handler=cmd_demo)

    backfill = commands.add_parser(
        "backfill",
        help="recompute the rollup marts over a range of days through Dagster (hourly, then "
        "daily, weekly, monthly), waiting for each; needs a running webserver and daemon",
    )
    backfill.add_argument("--start", required=True, type=_day, help="first day (YYYY-MM-DD)")
    backfill.add_argument("--end", required=True, type=_day, help="last day, included")
    backfill.add_argument(
        "--grain",
        choices=["hourly", "daily", "weekly", "monthly", "all"],
        default="all",
        help="one grain, or all four in order (default all)",
    )
    backfill.add_argument(
        "--dagster-url",
        default="http://127.0.0.1:3000",
        help="the Dagster webserver (default http://127.0.0.1:3000, as make demo serves it)",
    )
    backfill.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait per grain (default 3600)"
    )
    backfill.set_defaults(handler=cmd_backfill)

    api = commands.add_parser(
        "api", help="serve the read API (uvicorn) on API_HOST:API_PORT; prints the docs URL"
    )
    api.add_argument("--host", help="listen address (default: API_HOST)")
    api.add_argument("--port", type=_positive_int, help="listen port (default: API_PORT)")
    api.add_argument(
        "--workers", type=_positive_int, help="worker processes (default: API_WORKERS)"
    )
    api.set_defaults(handler=cmd_api)

    api_key = commands.add_parser("api-key", help="create, revoke and list API keys")
    api_key_commands = api_key.add_subparsers(
        dest="api_key_command", required=True, metavar="ACTION"
    )
    create = api_key_commands.add_parser(
        "create", help="create a key and print it (shown only once)"
    )
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope", required=True, help="admin, or merchant:<merchant_id> for one merchant's data"
    )
    create.set_defaults(handler=cmd_api_key_create)
    revoke = api_key_commands.add_parser(
        "revoke", help="revoke a key (by id, prefix or the key itself)"
    )
    revoke.add_argument("key", help="the key's id, its 8-digit prefix, or the key")
    revoke.set_defaults(handler=cmd_api_key_revoke)
    listing_keys = api_key_commands.add_parser("list", help="list keys (never their secret)")
    listing_keys.set_defaults(handler=cmd_api_key_list)

    from analytics_platform.archive.commands import add_archive_commands

    add_archive_commands(commands)
    from analytics_platform.reports.commands import add_report_commands

    add_report_commands(commands)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    from analytics_platform.api.keys import ApiKeyError, ApiKeyNotFoundError
    from analytics_platform.archive.commands import archive_errors
    from analytics_platform.automation.backfill import BackfillRangeError
    from analytics_platform.dev.dagster_graphql import BackfillFailedError, GraphQLError
    from analytics_platform.dev.demo import DemoError
    from analytics_platform.dev.history import HistoryTooLargeError
    from analytics_platform.dev.postgres import EmbeddedPostgresError
    from analytics_platform.ingestion.gaps import NoGapError
    from analytics_platform.ingestion.runner import IngestionBlockedError, OffsetBeyondEndError
    from analytics_platform.migrations import MigrationError
    from analytics_platform.reports.commands import report_errors
    from analytics_platform.resources.kafka import KafkaAccessError
    from analytics_platform.resources.warehouse import WarehouseUnavailableError

    return (
        SettingsError,
        UsageError,
        MigrationError,
        WarehouseUnavailableError,
        KafkaAccessError,
        EmbeddedPostgresError,
        NoGapError,
        IngestionBlockedError,
        OffsetBeyondEndError,
        ApiKeyError,
        ApiKeyNotFoundError,
        DemoError,
        HistoryTooLargeError,
        BackfillRangeError,
        BackfillFailedError,
        GraphQLError,
        *archive_errors(),
        *report_errors(),
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
