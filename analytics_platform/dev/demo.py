"""`analytics-platform demo`: the whole platform on one machine, nothing installed.

Starts the embedded PostgreSQL and Kafka in this process, migrates, produces a seeded
event history into Kafka, then runs the Dagster webserver and daemon (`dagster dev`) as
a child process group pointed at those services, until Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from analytics_platform.dev.event_sinks import produce_to_kafka, summarize_counts
from analytics_platform.dev.generator import (
    GeneratorConfig,
    estimate_total_events,
    generate_events,
)
from analytics_platform.dev.services import install_stop_handlers, start_dev_services
from analytics_platform.migrations import migrate
from analytics_platform.resources.kafka import producer_config
from analytics_platform.settings import REPO_ROOT, Settings, load_settings

DAGSTER_PORT = 3000


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def prepare_dagster_home(settings: Settings) -> None:
    """DAGSTER_HOME with the repository's dagster.yaml (storage in PostgreSQL)."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", settings.dagster_home / "dagster.yaml")


def _wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"dagster dev exited with code {process.returncode}; see its output")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise DemoError(f"{url} did not answer within {timeout:.0f} s")


def run_demo(settings: Settings, days: int, events_per_day: int) -> int:
    demo_dir = REPO_ROOT / ".demo"
    _step("starting embedded PostgreSQL and Kafka")
    services = start_dev_services(settings, demo_dir)
    dagster: subprocess.Popen[bytes] | None = None
    try:
        environment = {
            **os.environ,
            **services.environment(),
            "DAGSTER_HOME": str(demo_dir / "dagster_home"),
        }
        settings = load_settings(environment)
        _step("migrating the database")
        report = migrate(settings)
        print(f"    {len(report.applied)} migrations applied")

        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=days
        )
        _step(f"producing {days} day(s) of events ({events_per_day:,} transactions/day)")
        config = GeneratorConfig(seed=42, days=days, events_per_day=events_per_day, start=start)
        counts = produce_to_kafka(
            generate_events(config),
            producer_config(settings),
            settings.kafka_topic_prefix,
            total=estimate_total_events(config),
            progress=True,
        )
        print(summarize_counts(counts))

        _step("starting the Dagster webserver and daemon")
        prepare_dagster_home(settings)
        dagster = subprocess.Popen(
            [
                sys.executable, "-m", "dagster", "dev",
                "-w", str(REPO_ROOT / "workspace.yaml"),
                "-h", "127.0.0.1", "-p", str(DAGSTER_PORT),
            ],
            cwd=REPO_ROOT,
            env=environment,
            start_new_session=True,
        )  # fmt: skip
        _wait_for_http(f"http://127.0.0.1:{DAGSTER_PORT}/server_info", dagster, timeout=120)
        print()
        print(f"  Dagster UI:               http://127.0.0.1:{DAGSTER_PORT}")
        print(f"  DATABASE_URL={services.database_url}")
        print(f"  KAFKA_BOOTSTRAP_SERVERS={services.kafka_bootstrap_servers}")
        # Until here Ctrl-C raises KeyboardInterrupt mid-step; the finally block cleans up.
        stop = install_stop_handlers()
        print("  Ctrl-C stops everything.", flush=True)
        stop.wait()
        return 0
    finally:
        if dagster is not None and dagster.poll() is None:
            _step("stopping Dagster")
            os.killpg(dagster.pid, signal.SIGINT)
            try:
                dagster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(dagster.pid, signal.SIGKILL)
        _step("stopping embedded services")
        services.stop()
