"""Both embedded services together, as `dev-services`, `make demo` and the tests use them.

The embedded Kafka keeps its log in memory, so its topics are empty at every start; the
embedded PostgreSQL is therefore started fresh by default as well, or stored offsets
would point past the end of the new, empty topics.
"""

from __future__ import annotations

import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from analytics_platform.dev.kafka import EmbeddedKafka
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.events import TOPICS
from analytics_platform.resources.kafka import topic_name
from analytics_platform.settings import Settings


@dataclass
class DevServices:
    postgres: EmbeddedPostgres
    kafka: EmbeddedKafka
    database_url: str
    dagster_pg_url: str
    kafka_bootstrap_servers: str

    def environment(self) -> dict[str, str]:
        """The variables that point every other command at these services."""
        return {
            "DATABASE_URL": self.database_url,
            "DAGSTER_PG_URL": self.dagster_pg_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
        }

    def stop(self) -> None:
        self.kafka.stop()
        self.postgres.stop()


def start_dev_services(settings: Settings, data_dir: Path, keep_data: bool = False) -> DevServices:
    """Start PostgreSQL (databases `analytics`, `dagster`) and Kafka with the five topics."""
    pg_dir = data_dir / "pg"
    if not keep_data and pg_dir.exists():
        shutil.rmtree(pg_dir)
    postgres = EmbeddedPostgres(pg_dir).start()
    kafka = EmbeddedKafka()
    try:
        bootstrap = kafka.start()
        kafka.create_topics(
            [topic_name(settings, name) for name in TOPICS], settings.kafka_topic_partitions
        )
    except BaseException:
        kafka.stop()
        postgres.stop()
        raise
    return DevServices(
        postgres=postgres,
        kafka=kafka,
        database_url=postgres.url("analytics"),
        dagster_pg_url=postgres.url("dagster"),
        kafka_bootstrap_servers=bootstrap,
    )


def write_env_file(path: Path, environment: dict[str, str]) -> None:
    """A `KEY=value` file other shells can `source` (values carry no spaces)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in environment.items()), encoding="utf-8")


def install_stop_handlers() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM. Installed before services start, so a stop
    request during start-up still shuts them down through the callers' finally blocks."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
