"""The production deployment: docker-compose.yml, Dockerfile and deploy/.

No Docker engine is needed. The compose file is read as YAML and checked for what the
stack relies on (health-gated start order, KRaft Kafka, TimescaleDB); the containers'
Dagster instance and workspace are validated with Dagster's own config schema; and
`config -q` runs when a compose CLI that works without an engine is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import ensure_workspace_config

from analytics_platform.events import TOPICS

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DEPLOY_DIR = REPO_ROOT / "deploy"

LONG_RUNNING = {
    "kafka",
    "timescaledb",
    "dagster-code-server",
    "dagster-webserver",
    "dagster-daemon",
    "api",
}
ONE_SHOT = {"kafka-init", "migrate", "event-generator"}
# What analytics_platform.settings reads; every app container must get the same values.
APP_KNOBS = {
    "DATABASE_URL",
    "DAGSTER_PG_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC_PREFIX",
    "KAFKA_CONSUMER_GROUP",
    "REPORTING_TIMEZONE",
    "PARTITIONS_START_DATE",
    "RAW_RETENTION_DAYS",
    "RAW_COMPRESS_AFTER_DAYS",
}


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2) or `docker-compose` (1.29) if one answers `version`."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        try:
            probe = subprocess.run([*cli, "version"], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return cli
    return None


COMPOSE_CLI = _compose_cli()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _command_text(service: dict) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def _env_references(node: object) -> set[str]:
    """Names of the `{env: NAME}` values in a Dagster YAML document."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_references(value) for value in node))
    return set()


def _app_services(compose: dict) -> dict[str, dict]:
    image = compose["x-app"]["image"]
    return {name: s for name, s in compose["services"].items() if s.get("image") == image}


def test_compose_defines_every_service_of_the_platform(services):
    assert set(services) == LONG_RUNNING | ONE_SHOT


def test_every_long_running_service_has_a_healthcheck_and_restarts(services):
    for name in LONG_RUNNING:
        service = services[name]
        check = service.get("healthcheck") or {}
        assert check.get("test") and check["test"] != ["NONE"], name
        assert not check.get("disable"), name
        assert service.get("restart") in {"unless-stopped", "always"}, name


def test_one_shot_services_run_once(services):
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", name


def test_dependencies_wait_for_health_or_completion(services):
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends_on.items():
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec == {"condition": expected}, f"{name} -> {target}"


def test_kafka_runs_in_kraft_mode_without_zookeeper(services):
    kafka = services["kafka"]
    env = _environment(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    assert env["KAFKA_LOG_DIRS"] in {volume.split(":")[1] for volume in kafka["volumes"]}, (
        "Kafka's log dirs must be on its volume"
    )
    for name, service in services.items():
        assert "zookeeper" not in name
        assert "zookeeper" not in str(service.get("image", "")).lower()
        assert not any("ZOOKEEPER" in key for key in _environment(service)), name


def test_kafka_init_creates_every_topic_of_the_event_contract(services):
    init = services["kafka-init"]
    script = _command_text(init)
    loop = re.search(r"for name in ([^;]+); do", script)
    assert loop, "kafka-init loops over the topic names"
    assert set(loop.group(1).split()) == set(TOPICS)
    assert "$${TOPIC_PREFIX}$${name}" in script
    assert "--partitions" in script
    assert _environment(init)["TOPIC_PARTITIONS"].startswith("${KAFKA_TOPIC_PARTITIONS:-")


def test_database_is_timescaledb_on_postgres_16_with_a_volume(compose, services):
    db = services["timescaledb"]
    image, _, tag = db["image"].partition(":")
    assert image == "timescale/timescaledb"
    assert tag.endswith("pg16")
    data_volumes = [v for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert data_volumes and data_volumes[0].split(":")[0] in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_database_init_script_is_mounted_as_a_file(services):
    # Mounting a directory over /docker-entrypoint-initdb.d would hide the image's own
    # scripts, which install the timescaledb extension and tune the server.
    mounts = [v for v in services["timescaledb"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mounts
    for mount in mounts:
        source, target = mount.split(":")[:2]
        assert target.rstrip("/") != "/docker-entrypoint-initdb.d"
        assert target.endswith(".sh")
        script = REPO_ROOT / source
        assert script.is_file(), source
        assert script.stat().st_mode & 0o111, f"{source} should be executable"


def test_named_volumes_are_declared(compose, services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: {source}"


def test_app_services_share_one_environment(compose):
    shared = compose["x-app-environment"]
    assert set(shared) >= APP_KNOBS
    apps = _app_services(compose)
    assert set(apps) == {
        "migrate",
        "dagster-code-server",
        "dagster-webserver",
        "dagster-daemon",
        "api",
        "event-generator",
    }
    for name, service in apps.items():
        env = service["environment"]
        if name == "api":  # the API connects as its read-only role, nothing else differs
            assert {k: v for k, v in env.items() if k != "DATABASE_URL"} == {
                k: v for k, v in shared.items() if k != "DATABASE_URL"
            }
            assert "API_PG_USER" in env["DATABASE_URL"]
        else:
            assert env == shared, name


def test_dagster_containers_get_every_variable_their_instance_reads(compose):
    instance = yaml.safe_load((DEPLOY_DIR / "dagster.yaml").read_text())
    needed = _env_references(instance)
    assert needed
    for name in ("migrate", "dagster-code-server", "dagster-webserver", "dagster-daemon"):
        assert needed <= set(compose["services"][name]["environment"]), name


def test_ports_and_health_endpoints(services):
    def container_ports(name: str) -> set[str]:
        return {port.rsplit(":", 1)[1] for port in services[name].get("ports", [])}

    assert container_ports("dagster-webserver") == {"3000"}
    assert container_ports("api") == {"8000"}
    assert "/health/live" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/server_info" in " ".join(services["dagster-webserver"]["healthcheck"]["test"])


def test_event_generator_runs_only_under_its_profile(services):
    generator = services["event-generator"]
    assert generator["profiles"] == ["generator"]
    assert _command_text(generator).startswith("analytics-platform generate")
    assert not any(s.get("profiles") for n, s in services.items() if n != "event-generator")


def test_webserver_and_daemon_load_code_from_the_code_server(services):
    workspace = yaml.safe_load((DEPLOY_DIR / "workspace.yaml").read_text())
    ensure_workspace_config(workspace, str(DEPLOY_DIR / "workspace.yaml"))
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    command = services["dagster-code-server"]["command"]
    assert server["host"] == "dagster-code-server"
    assert str(server["port"]) == command[command.index("-p") + 1]
    assert server["location_name"] == command[command.index("--location-name") + 1]
    assert command[command.index("-m") + 1] == "analytics_platform.definitions"
    assert command[command.index("-h") + 1] == "0.0.0.0"


def test_container_dagster_instance_config_is_valid(monkeypatch):
    instance = yaml.safe_load((DEPLOY_DIR / "dagster.yaml").read_text())
    for name in _env_references(instance):
        monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else "placeholder")
    config, instance_class = dagster_instance_config(str(DEPLOY_DIR))
    assert instance_class is None
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_retries"]["enabled"] is True


def test_container_dagster_storage_uses_psycopg2():
    # dagster-postgres is written for psycopg2; SQLAlchemy 2.1 maps a bare postgresql://
    # URL to psycopg 3, under which Dagster's `NOTIFY run_events, :id` is a syntax error.
    storage = yaml.safe_load((DEPLOY_DIR / "dagster.yaml").read_text())["storage"]["postgres"]
    assert storage["postgres_db"]["scheme"] == "postgresql+psycopg2"


@pytest.mark.skipif(
    not (REPO_ROOT / "dagster.yaml").exists(), reason="no repository dagster.yaml to compare"
)
def test_container_instance_keeps_the_repository_run_tag_limits():
    def limited_keys(path: Path) -> set[str]:
        config = yaml.safe_load(path.read_text()) or {}
        limits = config.get("concurrency", {}).get("runs", {}).get("tag_concurrency_limits")
        return {limit["key"] for limit in limits or []}

    missing = limited_keys(REPO_ROOT / "dagster.yaml") - limited_keys(DEPLOY_DIR / "dagster.yaml")
    assert not missing, f"deploy/dagster.yaml lacks the tag limits {missing}"


def test_dockerfile_builds_a_cached_non_root_image():
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)", text, re.MULTILINE)
    assert bases and bases[0].startswith("python:3.11-slim")
    assert re.search(r"^ARG UV_VERSION=\d+\.\d+\.\d+$", text, re.MULTILINE), "pin uv"
    assert not re.search(r"curl[^\n]*\|\s*(ba)?sh", text)
    # The lock is installed before the source is copied, so code edits reuse that layer.
    assert text.index("COPY pyproject.toml uv.lock") < text.index("COPY analytics_platform")
    assert text.index("--no-install-project") < text.index("COPY analytics_platform")
    syncs = [line for line in text.splitlines() if line.startswith("RUN uv sync")]
    assert syncs and all("--frozen" in line and "--no-dev" in line for line in syncs)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^ENV[^\n]*(\n\s+[^\n]*)*DAGSTER_HOME=", text, re.MULTILINE)
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in text
    assert re.search(r"^COPY sql ", text, re.MULTILINE)


def test_dockerignore_keeps_what_the_image_copies():
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", ".env"} <= ignored
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    for sources in copied:
        for source in sources.split():
            assert source not in ignored, source


@pytest.mark.skipif(
    COMPOSE_CLI is None,
    reason="neither `docker compose` nor `docker-compose` is installed (apt: docker-compose)",
)
def test_compose_config_validates():
    assert COMPOSE_CLI is not None
    result = subprocess.run(
        [*COMPOSE_CLI, "-f", str(COMPOSE_FILE), "--profile", "generator", "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_api_container_runs_the_platform_api_command_on_its_published_port(services):
    from analytics_platform.cli import build_parser

    command = services["api"]["command"]
    assert command[0] == "analytics-platform"
    args = build_parser().parse_args(command[1:])  # the flags exist
    assert args.command == "api"
    assert (args.host, str(args.port)) == ("0.0.0.0", "8000")


def test_the_archive_outlives_the_containers_that_write_and_read_it(compose, services):
    """Retention drops raw months once they are archived: an archive inside a container
    would be lost with it."""
    path = compose["x-app-environment"]["ARCHIVE_URL"].split(":-")[-1].rstrip("}")
    for name in ("dagster-code-server", "dagster-daemon", "api"):
        mounts = [v.split(":") for v in services[name].get("volumes", [])]
        assert any(m[0] in compose["volumes"] and m[1] == path for m in mounts), name
