"""The Dagster UI and the API docs in a real browser, and a backfill launched the way the
UI launches one.

One Dagster webserver and daemon (storage in PostgreSQL, as in production) serve the
whole module. Pages are rendered by headless Chromium (Debian's `chromium`; no browser
is ever downloaded) and saved as screenshots under `artifacts/ui/`.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from analytics_platform.dev.dagster_graphql import (
    AssetPartitionRange,
    graphql,
    launch_backfill,
    wait_for_backfill,
)
from analytics_platform.dev.dagster_processes import (
    STARTUP_TIMEOUT_SECONDS,
    dagster_daemon,
    dagster_webserver,
    prepare_dagster_home,
    server_info_url,
)
from analytics_platform.dev.demo_api import api_available, api_process
from analytics_platform.events import TOPICS
from analytics_platform.migrations import migrate
from analytics_platform.partitions import hourly_partitions
from analytics_platform.resources.kafka import topic_name
from analytics_platform.rollups.families import MARTS
from analytics_platform.settings import Settings

from .conftest import TEST_TOPIC_PARTITIONS, settings_for
from .factories import BASE_TIME, events, produce

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
# Headless flags that work as root and without a desktop session (FACTS.md).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1000",
    # Virtual time runs ahead while the page waits for nothing but timers, and pauses
    # while requests are in flight: long enough for the UI's GraphQL round trips.
    "--virtual-time-budget=20000",
)
LOCATION = "analytics_platform.definitions"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL | re.IGNORECASE)
    # Swagger UI breaks long paths with <wbr> and zero-width spaces after each slash.
    html = re.sub(r"<wbr\s*/?>|\u200b", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def render(url: str, name: str, profile: Path) -> str:
    """Load `url` in headless Chromium: its rendered DOM as text, and a screenshot saved
    as artifacts/ui/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    dom = subprocess.run(
        [
            str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
            "--dump-dom", f"--screenshot={screenshot}", url,
        ],
        capture_output=True,
        text=True,
        # Chromium's own virtual-time budget is 20 s; a loaded 2-core host took over 120.
        timeout=300,
        check=True,
    ).stdout  # fmt: skip
    assert screenshot.stat().st_size > 10_000, f"{screenshot} is (nearly) empty"
    return visible_text(dom)


@dataclass
class DagsterUi:
    url: str
    settings: Settings
    environment: dict[str, str]
    logs: Path


@pytest.fixture(scope="module")
def ui_settings(postgres_cluster, kafka):
    url = postgres_cluster.create_database()
    settings = settings_for(
        database_url=url,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        kafka_topic_prefix=f"u{uuid.uuid4().hex[:8]}.",
        kafka_topic_partitions=TEST_TOPIC_PARTITIONS,
    )
    migrate(settings)
    kafka.create_topics([topic_name(settings, n) for n in TOPICS], TEST_TOPIC_PARTITIONS)
    yield settings
    postgres_cluster.drop_database(url)


@pytest.fixture(scope="module")
def dagster_ui(ui_settings, postgres_cluster, tmp_path_factory):
    storage = postgres_cluster.create_database()
    home = prepare_dagster_home(tmp_path_factory.mktemp("dagster_home"))
    # What the UI's "Skip" on its community dialog records, so screenshots show the page.
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    logs = tmp_path_factory.mktemp("dagster_logs")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": storage,
        "DATABASE_URL": ui_settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": ui_settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": ui_settings.kafka_topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(TEST_TOPIC_PARTITIONS),
        # The test's events lie two days back: a grace longer than that keeps the rollup
        # automation from materializing them, so only the backfills below do.
        "ROLLUP_GRACE_MINUTES": str(int(timedelta(days=14).total_seconds() // 60)),
        # Short inline ticks: their summaries show up sooner, and they stop sooner.
        "INGEST_TICK_BUDGET_SECONDS": "8",
    }
    port = free_port()
    webserver = dagster_webserver(environment, "127.0.0.1", port, logs / "webserver.log")
    daemon = dagster_daemon(environment, logs / "daemon.log")
    with webserver, daemon:
        webserver.wait_for_http(server_info_url("127.0.0.1", port), STARTUP_TIMEOUT_SECONDS)
        yield DagsterUi(f"http://127.0.0.1:{port}", ui_settings, environment, logs)
    postgres_cluster.drop_database(storage)


def test_asset_lineage_page_shows_both_asset_groups(dagster_ui, tmp_path):
    text = render(f"{dagster_ui.url}/asset-groups", "asset-lineage", tmp_path)
    assert "Global asset lineage" in text
    assert re.search(r"\bingestion\b.*\b5\b", text), text[:2000]
    # The group's count of assets in the graph: one per mart and grain.
    assert re.search(rf"\brollups\b.*\b{len(MARTS)}\b", text), text[:2000]


def test_rollups_group_graph_renders_the_marts_with_kinds_and_partitions(dagster_ui, tmp_path):
    text = render(
        f"{dagster_ui.url}/locations/{LOCATION}/asset-groups/rollups/lineage",
        "rollups-group",
        tmp_path,
    )
    marts = set(re.findall(r"\b(\w+_(?:hourly|daily|weekly|monthly))\b", text))
    # The graph draws the nodes in view; a wide window shows a good part of them.
    assert len(marts) >= 6, text[:2000]
    assert "Postgres" in text  # the kind tag
    assert "partitions" in text


def test_raw_asset_page_shows_its_column_schema(dagster_ui, tmp_path):
    text = render(f"{dagster_ui.url}/assets/raw/transactions", "raw-transactions", tmp_path)
    for column in ("event_id", "occurred_at", "amount", "kafka_offset"):
        assert column in text, column


def test_sensors_are_listed_running_on_the_automation_page(dagster_ui, tmp_path):
    text = render(f"{dagster_ui.url}/automation", "automation", tmp_path)
    for name in TOPICS.values():
        assert "ingest_" + name.table.removeprefix("raw.") in text
    assert "rollup_automation" in text


@pytest.fixture(scope="module")
def api_server(ui_settings, dagster_ui, tmp_path_factory):
    port = free_port()
    server = api_process(
        dagster_ui.environment,
        "127.0.0.1",
        port,
        tmp_path_factory.mktemp("api_logs") / "api.log",
    )
    with server:
        server.wait_for_http(f"http://127.0.0.1:{port}/health/live", STARTUP_TIMEOUT_SECONDS)
        yield f"http://127.0.0.1:{port}"


@pytest.mark.skipif(not api_available(), reason="analytics_platform.api.app is not in this tree")
def test_api_docs_page_renders_the_endpoints(api_server, tmp_path):
    with urllib.request.urlopen(f"{api_server}/docs", timeout=30) as response:
        page = response.read().decode()
    # CI and many production networks reach no CDN: the page must bring its own files.
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets and not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    text = render(f"{api_server}/docs", "api-docs", tmp_path)
    for path in ("/api/v1/analytics/dashboard", "/api/v1/analytics/revenue", "/health/live"):
        assert path in text, path


# ---------------------------------------------------------------- backfill through GraphQL

PARTITION_STATS = """
query Stats($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { partitionStats { numMaterialized numFailed } }
  }
}
"""


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 50) { status cursor } } }
  }
}
"""


def _ingest_tick_summaries(url: str, timeout: float) -> list[dict]:
    """The summaries of ingest_transactions' finished ticks that wrote rows."""
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": "ingest_transactions",
    }
    deadline = time.monotonic() + timeout
    while True:
        state = graphql(url, SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]
        assert state["status"] == "RUNNING"
        # A tick without run requests counts as SKIPPED even when it ingested; a tick that
        # sets no cursor keeps the previous one.
        cursors = [t["cursor"] for t in state["ticks"] if t["status"] != "STARTED" and t["cursor"]]
        busy = [summary for summary in map(json.loads, cursors) if summary["rows"]]
        if busy or time.monotonic() > deadline:
            assert busy, state
            return busy
        time.sleep(2)


def _wait_for_raw(settings: Settings, expected: int, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    found = -1
    while time.monotonic() < deadline:
        with psycopg.connect(settings.database_url) as conn:
            found = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
        if found >= expected:
            return
        time.sleep(1)
    daemon_log = (logs / "daemon.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"raw.transactions has {found} rows, not {expected}:\n{daemon_log}")


def _hourly_counts(settings: Settings) -> dict[str, int]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT bucket_start, transaction_count FROM marts.transactions_hourly "
            "WHERE dimension = 'platform' AND currency = '' ORDER BY 1"
        ).fetchall()
    return {
        hourly_partitions.get_partition_key_for_timestamp(start.timestamp()): count
        for start, count in rows
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_backfill_launched_like_the_ui_completes_and_a_partition_rerun_replaces_it(dagster_ui):
    settings = dagster_ui.settings
    first_hour = hourly_partitions.get_partition_key_for_timestamp(BASE_TIME.timestamp())
    second_hour = hourly_partitions.get_partition_key_for_timestamp(
        (BASE_TIME + timedelta(hours=1)).timestamp()
    )
    # 240 events 20 s apart: 180 in the first hour, 60 in the second. The daemon's ingest
    # sensor writes them, as in production.
    produce(settings, "transactions", events("transactions", 240, step=timedelta(seconds=20)))
    _wait_for_raw(settings, 240, 120, dagster_ui.logs)
    # What the sensor's tick history in the UI shows: each tick's summary as its cursor,
    # once the tick ends (an inline tick keeps reading for its whole time budget).
    busy = _ingest_tick_summaries(dagster_ui.url, timeout=120)
    assert {"messages", "rows", "dead_letters", "lag"} <= set(busy[0])
    assert all(0 < summary["rows"] <= 240 for summary in busy)

    backfill = launch_backfill(
        dagster_ui.url,
        [AssetPartitionRange(["marts", "transactions_hourly"], first_hour, second_hour)],
        title="test: two hours",
    )
    wait_for_backfill(dagster_ui.url, backfill, timeout=300)
    assert _hourly_counts(settings) == {first_hour: 180, second_hour: 60}
    stats = graphql(
        dagster_ui.url, PARTITION_STATS, {"key": {"path": ["marts", "transactions_hourly"]}}
    )
    assert stats["assetNodeOrError"]["partitionStats"] == {"numMaterialized": 2, "numFailed": 0}

    # Late events land in the second hour; re-running that one partition replaces its rows.
    late = events("transactions", 25, start=BASE_TIME + timedelta(hours=1, minutes=30))
    produce(settings, "transactions", late)
    _wait_for_raw(settings, 265, 120, dagster_ui.logs)
    rerun = launch_backfill(
        dagster_ui.url,
        [AssetPartitionRange(["marts", "transactions_hourly"], second_hour, second_hour)],
        title="test: re-run one hour",
    )
    wait_for_backfill(dagster_ui.url, rerun, timeout=300)
    assert _hourly_counts(settings) == {first_hour: 180, second_hour: 85}
    stats = graphql(
        dagster_ui.url, PARTITION_STATS, {"key": {"path": ["marts", "transactions_hourly"]}}
    )
    assert stats["assetNodeOrError"]["partitionStats"]["numMaterialized"] == 2


# ---------------------------------------------------------------- backfill from the command line


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_backfill_command_runs_the_grains_in_order_through_dagster_and_waits(dagster_ui):
    day = (BASE_TIME - timedelta(days=1)).date()
    done = subprocess.run(
        [
            sys.executable, "-m", "analytics_platform.cli", "backfill",
            "--start", day.isoformat(), "--end", day.isoformat(), "--grain", "all",
            "--dagster-url", dagster_ui.url, "--timeout", "300",
        ],
        env=dagster_ui.environment,
        capture_output=True,
        text=True,
        timeout=500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    launched = re.findall(
        r"^(hourly|daily|weekly|monthly): partitions (\S+) \.\. (\S+)", done.stdout, re.M
    )
    assert [g for g, *_ in launched][:2] == ["hourly", "daily"]
    assert launched[0][1:] == (f"{day}-00:00", f"{day}-23:00")
    assert "backfill done" in done.stdout
    for asset, expected in (
        (["marts", "transactions_hourly"], 24),
        (["marts", "transactions_daily"], 1),
    ):
        stats = graphql(dagster_ui.url, PARTITION_STATS, {"key": {"path": asset}})
        assert stats["assetNodeOrError"]["partitionStats"]["numMaterialized"] >= expected
