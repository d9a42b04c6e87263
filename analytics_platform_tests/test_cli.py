import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "analytics_platform.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_migrate_command_brings_a_fresh_database_up_to_date_and_is_repeatable(
    empty_database_url,
):
    first = cli("migrate", env={"DATABASE_URL": empty_database_url})
    assert first.returncode == 0, first.stderr
    assert "applied   001_schemas" in first.stdout
    again = cli("migrate", env={"DATABASE_URL": empty_database_url})
    assert again.returncode == 0, again.stderr
    assert "0 applied" in again.stdout


def test_migrate_command_shows_the_servers_warnings(empty_database_url, tmp_path):
    sql_copy = tmp_path / "sql"
    shutil.copytree(ROOT / "sql", sql_copy)
    (sql_copy / "migrations" / "999_warns.sql").write_text(
        "DO $$ BEGIN RAISE WARNING 'policy left as it was' USING HINT = 'change it'; END $$;\n"
    )
    result = cli("migrate", env={"DATABASE_URL": empty_database_url, "SQL_DIR": str(sql_copy)})
    assert result.returncode == 0, result.stderr
    assert "server    999_warns: WARNING: policy left as it was (hint: change it)" in result.stdout


def test_bad_setting_stops_the_command_naming_the_variable():
    result = cli("migrate", env={"REPORTING_TIMEZONE": "Atlantis/Lost"})
    assert result.returncode == 2
    assert "REPORTING_TIMEZONE='Atlantis/Lost': unknown IANA time zone" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_reported_without_a_traceback():
    result = cli(
        "migrate", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"}
    )
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL (DATABASE_URL)" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_writes_jsonl_files_with_counts_per_topic(tmp_path):
    result = cli(
        "generate", "--days", "1", "--events-per-day", "500", "--start", "2025-03-01",
        "--jsonl", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = {p.stem: p for p in tmp_path.glob("*.jsonl")}
    assert set(files) == {
        "transactions",
        "wallet-balances",
        "user-activity",
        "user-lifecycle",
        "webhook-deliveries",
    }
    lines = files["transactions"].read_text().splitlines()
    assert len(lines) >= 500
    assert all("value" in json.loads(line) for line in lines[:50])
    for topic in files:
        assert topic in result.stdout


def test_generate_rejects_a_bad_fraction_with_usage_help():
    result = cli("generate", "--late-fraction", "1.5", "--jsonl", "/tmp/x")
    assert result.returncode == 2
    assert "--late-fraction: 1.5 must be in [0, 1)" in result.stderr


@pytest.mark.slow
def test_dev_services_run_until_interrupted_and_print_working_urls_and_a_dagster_home(tmp_path):
    env_file = tmp_path / "services.env"
    home = tmp_path / "dagster-home"
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics_platform.cli", "dev-services", "--migrate",
         "--env-file", str(env_file)],
        cwd=ROOT,
        env={**os.environ, "DEV_DATA_DIR": str(tmp_path / "data"), "KAFKA_TOPIC_PARTITIONS": "8",
             "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.2)
        environment = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
        )
        assert {"DATABASE_URL", "DAGSTER_PG_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= set(environment)
        # The instance a `dagster` command run beside the services uses: the repository's.
        assert environment["DAGSTER_HOME"] == str(home)
        assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(environment["DATABASE_URL"]) as conn:
                if conn.execute("SELECT to_regclass('raw.transactions')").fetchone()[0]:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("dev-services --migrate did not create raw.transactions")
        admin = AdminClient({"bootstrap.servers": environment["KAFKA_BOOTSTRAP_SERVERS"]})
        topics = admin.list_topics(timeout=10).topics
        assert len(topics["analytics.transactions"].partitions) == 8
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "DATABASE_URL=" in stdout and "KAFKA_BOOTSTRAP_SERVERS=" in stdout
    assert f"DAGSTER_HOME={home}" in stdout
    assert not env_file.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(environment["DATABASE_URL"], connect_timeout=2)


def test_backfill_without_a_dagster_webserver_exits_non_zero_saying_what_to_start():
    done = cli(
        "backfill", "--start", "2026-01-05", "--end", "2026-01-06", "--grain", "daily",
        "--dagster-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot reach the Dagster webserver at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_backfill_of_days_before_the_first_partition_is_refused():
    done = cli(
        "backfill", "--start", "2020-01-01", "--end", "2020-01-02",
        env={"PARTITIONS_START_DATE": "2024-01-01"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "no closed hourly partition overlaps 2020-01-01..2020-01-02" in done.stderr
