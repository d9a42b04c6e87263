"""Real services for the tests: the embedded PostgreSQL and Kafka, or the ones that
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point at."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from analytics_platform.dev.kafka import EmbeddedKafka
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.events import TOPICS
from analytics_platform.migrations import migrate
from analytics_platform.resources.kafka import topic_name
from analytics_platform.resources.warehouse import SESSION_OPTIONS
from analytics_platform.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from .api_world import World


# ---------------------------------------------------------------- storage kinds
# Raw tables are native daily range partitions on plain PostgreSQL (the embedded server
# in CI) and hypertables where TimescaleDB is preloaded (migration 001 decides the same
# way). A test of one of them says so with `@pytest.mark.storage("native")` or
# `@pytest.mark.storage("timescaledb", license="timescale")` (license: compression and
# policies); on the other storage it is skipped with the reason, and its counterpart runs.


@dataclass(frozen=True)
class ServerStorage:
    kind: str  # "native" or "timescaledb"
    license: str | None  # timescaledb.license, when kind is "timescaledb"

    def covers(self, kind: str, license: str | None) -> bool:
        return kind == self.kind and (license is None or license == self.license)


def server_storage() -> ServerStorage:
    """What the test server's raw tables will be: the embedded PostgreSQL has no
    TimescaleDB; a DATABASE_URL server has it when the library is preloaded."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return ServerStorage("native", None)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb') "
            "AND 'timescaledb' = ANY (string_to_array("
            "replace(current_setting('shared_preload_libraries'), ' ', ''), ',')), "
            "current_setting('timescaledb.license', true)"
        ).fetchone()
    if row is None or not row[0]:
        return ServerStorage("native", None)
    return ServerStorage("timescaledb", row[1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "storage(kind, license=None): the test covers raw tables of this storage only "
        "('native' partitions or 'timescaledb' hypertables, optionally of one license)",
    )


# Modules whose tests start Dagster processes (webserver, daemon, run workers) or
# Chromium: each takes a core or two for minutes, and two of them side by side made both
# time out on a loaded host. Under pytest-xdist (`make test`: --dist loadgroup) they share
# one worker and run one after another; every other module is a group of its own, so its
# module-scoped fixtures are built once.
_PROCESS_HEAVY_MODULES = frozenset(
    {"test_ui.py", "test_ingest_daemon.py", "test_demo.py", "test_reports.py"}
)


def _xdist_groups(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.name
        group = "process-heavy" if module in _PROCESS_HEAVY_MODULES else module
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        _xdist_groups(items)
    marked = [(item, item.get_closest_marker("storage")) for item in items]
    marked = [(item, marker) for item, marker in marked if marker is not None]
    if not marked:
        return
    storage = server_storage()
    for item, marker in marked:
        kind = marker.args[0]
        license = marker.kwargs.get("license")
        if not storage.covers(kind, license):
            wanted = kind + (f" (license {license})" if license else "")
            actual = storage.kind + (f" (license {storage.license})" if storage.license else "")
            item.add_marker(
                pytest.mark.skip(
                    reason=f"covers {wanted} raw storage; this server has {actual}; "
                    "its counterpart for this storage runs instead"
                )
            )


@pytest.fixture(scope="session")
def raw_storage() -> ServerStorage:
    return server_storage()


def database_url(server_url: str, database: str) -> str:
    """`server_url` pointing at another database, kept in URL form when it is a URL
    (SQLAlchemy, hence Dagster's storage, only takes URLs)."""
    if "://" not in server_url:
        return psycopg.conninfo.make_conninfo(server_url, dbname=database)
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class PostgresCluster:
    """Hands out fresh databases on one server, so tests never see each other's rows."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return database_url(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    if url := os.environ.get("DATABASE_URL"):
        yield PostgresCluster(url)
        return
    # Not under pytest's basetemp: another pytest run on the machine prunes old basetemp
    # directories, which would delete the data directory under a running server.
    root = Path(tempfile.mkdtemp(prefix="analytics-platform-test-pg-"))
    server = EmbeddedPostgres(root / "data", databases=()).start()
    try:
        yield PostgresCluster(server.admin_url)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def empty_database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)


class KafkaCluster:
    """The test Kafka: the embedded mock, or real brokers (topics made by the admin API)."""

    def __init__(self, bootstrap_servers: str, embedded: EmbeddedKafka | None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.embedded = embedded

    def create_topics(self, names: list[str], partitions: int) -> None:
        if self.embedded is not None:
            self.embedded.create_topics(names, partitions)
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        for future in futures.values():
            future.result(timeout=30)

    def delete_records(self, topic: str, partition: int, before_offset: int) -> None:
        """Move a partition's low watermark, as retention would."""
        if self.embedded is not None:
            self.embedded.delete_records(topic, partition, before_offset)
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        futures = admin.delete_records([TopicPartition(topic, partition, before_offset)])
        for future in futures.values():
            future.result(timeout=30)


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaCluster]:
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield KafkaCluster(servers, None)
        return
    with EmbeddedKafka() as embedded:
        yield KafkaCluster(embedded.bootstrap_servers, embedded)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: KafkaCluster) -> str:
    return kafka.bootstrap_servers


@pytest.fixture(scope="session")
def world(postgres_cluster: PostgresCluster) -> Iterator[World]:
    """The API tests' data (api_world.py), built once per session: generating, ingesting
    and rolling it up is most of their time, and no test changes what another reads."""
    # Imported here: api_world builds on this module's fixtures and helpers.
    from .api_world import api_world

    with api_world(postgres_cluster) as built:
        yield built


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    """A client of the API app over `world`, sending the admin key."""
    with world.client() as test_client:
        test_client.headers["X-API-Key"] = world.admin_key
        yield test_client


def settings_for(**environment: str | Path) -> Settings:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_PG_URL")}
    return load_settings({**base, **{k.upper(): str(v) for k, v in environment.items()}})


TEST_TOPIC_PARTITIONS = 4


@pytest.fixture
def settings(empty_database_url: str, kafka: KafkaCluster) -> Settings:
    """Settings pointing at a fresh, migrated database and the test Kafka, with the five
    topics under a prefix of their own so tests never share topics."""
    result = settings_for(
        database_url=empty_database_url,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        kafka_topic_partitions=TEST_TOPIC_PARTITIONS,
    )
    migrate(result)
    kafka.create_topics(
        [topic_name(result, name) for name in TOPICS], result.kafka_topic_partitions
    )
    return result


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    # The platform's own session options (UTC, no JIT), so a test sees the plans and
    # costs production sees; on a server with LLVM a default session JIT-compiles some
    # statements for seconds.
    with psycopg.connect(
        settings.database_url, autocommit=True, options=SESSION_OPTIONS
    ) as connection:
        yield connection
