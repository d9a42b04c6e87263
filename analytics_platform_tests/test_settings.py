from pathlib import Path

import pytest

from analytics_platform.settings import KNOBS, SettingsError, load_settings


def test_defaults_apply_when_environment_is_empty():
    settings = load_settings({})
    assert settings.reporting_timezone == "UTC"
    assert settings.kafka_topic_prefix == "analytics."
    assert settings.dagster_pg_url == settings.database_url
    assert settings.start_date.isoformat() == "2024-01-01"
    assert settings.sql_dir == Path(__file__).resolve().parents[1] / "sql"


def test_dagster_pg_url_defaults_to_database_url_but_can_differ():
    url = "postgresql://u:p@db:5432/analytics"
    assert load_settings({"DATABASE_URL": url}).dagster_pg_url == url
    other = "postgresql://u:p@db:5432/dagster"
    assert load_settings({"DATABASE_URL": url, "DAGSTER_PG_URL": other}).dagster_pg_url == other


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("REPORTING_TIMEZONE", "Mars/Olympus", "unknown IANA time zone"),
        ("REPORTING_TIMEZONE", "Europe", "unknown IANA time zone"),
        ("REPORTING_TIMEZONE", "x" * 300, "unknown IANA time zone"),
        ("API_RATE_LIMIT_PER_MINUTE", "-1", "must be at least 0"),
        ("API_RATE_LIMIT_BURST", "0", "must be at least 1"),
        ("DATABASE_URL", "mysql://u@h/db", "expected a postgresql:// URL"),
        ("DATABASE_URL", "host=a port", "malformed connection string"),
        ("DAGSTER_PG_URL", "http://example", "expected a postgresql:// URL"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost", "expected host:port"),
        ("PARTITIONS_START_DATE", "2024/01/01", "expected a date as YYYY-MM-DD"),
        ("KAFKA_TOPIC_PARTITIONS", "many", "expected a whole number"),
        ("KAFKA_TOPIC_PARTITIONS", "0", "must be at least 1"),
        ("EVENT_MAX_FUTURE_SKEW_SECONDS", "-5", "must be at least 0"),
    ],
)
def test_bad_value_fails_naming_the_variable(variable, value, problem):
    with pytest.raises(SettingsError) as error:
        load_settings({variable: value})
    assert error.value.variable == variable
    assert str(error.value).startswith(f"{variable}=")
    assert problem in str(error.value)


def test_half_hour_zone_and_several_brokers_are_accepted():
    settings = load_settings(
        {"REPORTING_TIMEZONE": "Asia/Kolkata", "KAFKA_BOOTSTRAP_SERVERS": "a:9092, b:9093"}
    )
    assert settings.tz.key == "Asia/Kolkata"
    assert settings.kafka_bootstrap_servers == "a:9092,b:9093"


def test_every_knob_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [k.variable for k in KNOBS if f"`{k.variable}`" not in readme]
    assert missing == []


def test_an_archive_url_the_platform_cannot_write_is_refused_at_start():
    with pytest.raises(SettingsError, match="ARCHIVE_URL='s3://bucket/raw'"):
        load_settings({"ARCHIVE_URL": "s3://bucket/raw"})
    assert load_settings({"ARCHIVE_URL": "file:///srv/archive"}).archive_url.startswith("file:")
