"""All configuration, read from the environment, each knob with a default.

`load_settings()` validates everything at start so a bad value fails loudly with the
name of the variable, instead of surfacing later as an obscure driver error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg.conninfo

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """An environment variable holds a value the platform cannot use."""

    def __init__(self, variable: str, value: str, problem: str) -> None:
        super().__init__(f"{variable}={value!r}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Field docs double as the README configuration table."""

    database_url: str
    kafka_bootstrap_servers: str
    kafka_topic_prefix: str
    kafka_consumer_group: str
    kafka_topic_partitions: int
    reporting_timezone: str
    partitions_start_date: str
    dagster_home: Path
    dagster_pg_url: str
    event_max_future_skew_seconds: int
    raw_partitions_ahead_days: int
    raw_retention_days: int
    raw_compress_after_days: int
    raw_chunk_interval_days: int
    dev_data_dir: Path
    sql_dir: Path
    ingest_sensor_interval_seconds: int
    ingest_tick_budget_seconds: int
    ingest_batch_size: int
    ingest_catchup_threshold: int
    rollup_grace_minutes: int
    rollup_sensor_interval_seconds: int
    rollup_retry_after_minutes: int
    api_host: str
    api_port: int
    api_workers: int
    api_pool_size: int
    api_db_role: str
    api_key_cache_seconds: int
    api_ready_max_lag_minutes: int
    api_statement_timeout_ms: int
    api_rate_limit_per_minute: int
    api_rate_limit_burst: int
    archive_url: str
    # Ingestion's defences (docs/event-contract.md, docs/ingest-operations.md); defaults
    # here too so that code building a Settings by hand keeps working.
    ingest_first_start: str = "earliest"
    ingest_max_message_bytes: int = 1_048_576
    kafka_retry_seconds: int = 30
    ingest_stall_seconds: int = 30
    # Recommendations API (docs/recommendations.md): a dismissed type stays hidden for the
    # user this many days. Read from RECOMMENDATION_DISMISS_COOLDOWN_DAYS.
    recommendation_dismiss_cooldown_days: int = 30

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.reporting_timezone)

    @property
    def start_date(self) -> date:
        return date.fromisoformat(self.partitions_start_date)


@dataclass(frozen=True)
class Knob:
    """One environment variable: its default and what it means (for the README)."""

    variable: str
    default: str
    meaning: str


KNOBS: tuple[Knob, ...] = (
    Knob(
        "DATABASE_URL",
        "postgresql://analytics:analytics@localhost:5432/analytics",
        "PostgreSQL/TimescaleDB holding raw, ingest, marts and api schemas.",
    ),
    Knob(
        "KAFKA_BOOTSTRAP_SERVERS",
        "localhost:9092",
        "Kafka brokers, `host:port[,host:port]`.",
    ),
    Knob(
        "KAFKA_TOPIC_PREFIX",
        "analytics.",
        "Prefix of the five event topics (`analytics.transactions`, ...).",
    ),
    Knob(
        "KAFKA_CONSUMER_GROUP",
        "analytics-platform",
        "Group id under which offsets are also committed to Kafka (for lag tools).",
    ),
    Knob(
        "KAFKA_TOPIC_PARTITIONS",
        "64",
        "Partitions per topic created by the embedded Kafka (its retention is per partition).",
    ),
    Knob(
        "REPORTING_TIMEZONE",
        "UTC",
        "IANA zone in which hours, days, weeks (Monday) and months are cut.",
    ),
    Knob(
        "PARTITIONS_START_DATE",
        "2024-01-01",
        "First day of every partitioned asset (`YYYY-MM-DD`); older events are rejected.",
    ),
    Knob(
        "DAGSTER_HOME",
        str(REPO_ROOT / ".dagster"),
        "Directory with `dagster.yaml` for the Dagster instance.",
    ),
    Knob(
        "DAGSTER_PG_URL",
        "(DATABASE_URL)",
        "PostgreSQL for Dagster's run/event/schedule storage.",
    ),
    Knob(
        "EVENT_MAX_FUTURE_SKEW_SECONDS",
        "300",
        "Events stamped further than this in the future are dead-lettered.",
    ),
    Knob(
        "RAW_PARTITIONS_AHEAD_DAYS",
        "7",
        "Without TimescaleDB: daily raw partitions created this many days ahead.",
    ),
    Knob(
        "RAW_RETENTION_DAYS",
        "730",
        "Raw UTC months that ended longer ago than this are dropped once their Parquet "
        "archive is verified; unarchived ones are kept and reported (0 keeps all).",
    ),
    Knob(
        "RAW_COMPRESS_AFTER_DAYS",
        "7",
        "TimescaleDB (timescale license): compress raw chunks older than this.",
    ),
    Knob("RAW_CHUNK_INTERVAL_DAYS", "1", "TimescaleDB chunk interval of the raw hypertables."),
    Knob(
        "DEV_DATA_DIR",
        str(REPO_ROOT / ".dev-data"),
        "Where the embedded PostgreSQL keeps its files.",
    ),
    Knob("SQL_DIR", str(REPO_ROOT / "sql"), "Directory of the SQL files (migrations, rollups)."),
    Knob(
        "INGEST_SENSOR_INTERVAL_SECONDS",
        "5",
        "Minimum interval between ingest sensor ticks (the daemon's floor is 5 s).",
    ),
    Knob(
        "INGEST_TICK_BUDGET_SECONDS",
        "40",
        "How long one sensor tick ingests inline (well inside the 60 s tick timeout).",
    ),
    Knob("INGEST_BATCH_SIZE", "50000", "Messages per ingest transaction."),
    Knob(
        "INGEST_CATCHUP_THRESHOLD",
        "500000",
        "Lag (messages) above which a sensor launches a catch-up run instead of ingesting inline.",
    ),
    Knob(
        "ROLLUP_GRACE_MINUTES",
        "5",
        "Minutes after a bucket closes before the automation first materializes it "
        "(events later than that re-run it anyway).",
    ),
    Knob(
        "ROLLUP_SENSOR_INTERVAL_SECONDS",
        "60",
        "Minimum interval between ticks of the rollup automation sensor.",
    ),
    Knob(
        "ROLLUP_RETRY_AFTER_MINUTES",
        "15",
        "A rollup partition whose run failed is requested again after this long.",
    ),
    Knob("API_HOST", "127.0.0.1", "Address `analytics-platform api` listens on."),
    Knob("API_PORT", "8000", "Port `analytics-platform api` listens on."),
    Knob("API_WORKERS", "1", "uvicorn worker processes of `analytics-platform api`."),
    Knob("API_POOL_SIZE", "10", "PostgreSQL connections per API worker (psycopg pool)."),
    Knob(
        "API_DB_ROLE",
        "analytics_api",
        "Role the API's queries run as (`SET ROLE`); row-level security applies to it. "
        "Empty: the login role of DATABASE_URL, which must then not bypass RLS.",
    ),
    Knob(
        "API_KEY_CACHE_SECONDS",
        "10",
        "How long a verified API key is trusted without asking the database: a revoked "
        "key stops working within this time.",
    ),
    Knob(
        "API_READY_MAX_LAG_MINUTES",
        "180",
        "`/health/ready` fails when the newest hourly rollup ended longer ago than this "
        "(0: no freshness check).",
    ),
    Knob(
        "API_STATEMENT_TIMEOUT_MS",
        "5000",
        "PostgreSQL statement_timeout of the API's queries.",
    ),
    Knob(
        "INGEST_FIRST_START",
        "earliest",
        "Where a topic never ingested starts: `earliest` reads from offset 0 and records "
        "offsets Kafka already deleted as a blocking gap; `latest` starts at the end and "
        "records the skipped history as an acknowledged gap.",
    ),
    Knob(
        "INGEST_MAX_MESSAGE_BYTES",
        "1048576",
        "Larger Kafka messages are dead-lettered (Kafka's own default message limit).",
    ),
    Knob(
        "KAFKA_RETRY_SECONDS",
        "30",
        "How long retriable broker errors (timeouts, leader elections) are retried with "
        "back-off before ingestion of a topic gives up for this run.",
    ),
    Knob(
        "INGEST_STALL_SECONDS",
        "30",
        "A read that gets nothing from Kafka for this long while the broker is "
        "unreachable (or while messages remain to read) fails with the broker's error.",
    ),
    Knob(
        "API_RATE_LIMIT_PER_MINUTE",
        "600",
        "Requests a minute one API key may make on average, per API process (0: no "
        "limit); beyond it: 429 with Retry-After. See docs/api-limits.md.",
    ),
    Knob(
        "API_RATE_LIMIT_BURST",
        "100",
        "Requests one API key may make at once before API_RATE_LIMIT_PER_MINUTE paces it.",
    ),
    Knob(
        "ARCHIVE_URL",
        str(REPO_ROOT / ".archive"),
        "Where raw months are archived as Parquet (a local folder or file:// URL); "
        "retention drops only months verified there (docs/archive.md).",
    ),
    Knob(
        "RFM_LOOKBACK_DAYS",
        "365",
        "Days of successful purchases each day's RFM scores look back over "
        "(docs/customer-scores.md).",
    ),
    Knob(
        "RECOMMENDATION_DISMISS_COOLDOWN_DAYS",
        "30",
        "Days a dismissed recommendation type stays hidden for that user, across re-runs "
        "of the day (docs/recommendations.md).",
    ),
)

_FIRST_STARTS = ("earliest", "latest")
_URL_SCHEMES = ("postgresql://", "postgres://")


def _archive_url(value: str) -> str:
    # Checked here, not when a rollup run first opens the archive: a typo would otherwise
    # fail every rollup run (they all look for archived rows of dropped months).
    scheme = urlsplit(value).scheme
    if scheme not in ("", "file"):
        raise SettingsError(
            "ARCHIVE_URL",
            value,
            "only a local folder or a file:// URL is supported (an object store needs an "
            "ArchiveStore in analytics_platform/archive/store.py)",
        )
    return value


_KAFKA_SERVER = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def _int(env: Mapping[str, str], variable: str, default: str, minimum: int = 0) -> int:
    raw = env.get(variable, default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(variable, raw, "expected a whole number") from None
    if value < minimum:
        raise SettingsError(variable, raw, f"must be at least {minimum}")
    return value


def _cooldown_days(env: Mapping[str, str], default: str) -> int:
    variable = "RECOMMENDATION_DISMISS_COOLDOWN_DAYS"
    value = _int(env, variable, default, 1)
    if value > 3660:
        raise SettingsError(variable, str(value), "expected at most 3660 days (ten years)")
    return value


def _postgres_url(variable: str, raw: str) -> str:
    if "://" in raw and not raw.startswith(_URL_SCHEMES):
        raise SettingsError(variable, raw, "expected a postgresql:// URL or libpq key=value string")
    try:
        psycopg.conninfo.conninfo_to_dict(raw)
    except psycopg.ProgrammingError as exc:
        raise SettingsError(variable, raw, f"malformed connection string ({exc})") from None
    return raw


def _kafka_servers(variable: str, raw: str) -> str:
    servers = [s.strip() for s in raw.split(",") if s.strip()]
    if not servers or not all(_KAFKA_SERVER.match(s) for s in servers):
        raise SettingsError(variable, raw, "expected host:port[,host:port...]")
    return ",".join(servers)


def _timezone(variable: str, raw: str) -> str:
    try:
        ZoneInfo(raw)
    # OSError: a directory of the zone database (`Europe`), a name too long for a path.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SettingsError(
            variable, raw, "unknown IANA time zone (e.g. UTC, Europe/Paris)"
        ) from None
    return raw


def _iso_date(variable: str, raw: str) -> str:
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(variable, raw, "expected a date as YYYY-MM-DD") from None
    if len(raw) != 10:
        raise SettingsError(variable, raw, "expected a date as YYYY-MM-DD")
    return raw


def _role(variable: str, raw: str) -> str:
    if raw and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", raw):
        raise SettingsError(variable, raw, "expected a PostgreSQL role name (or empty)")
    return raw


def _first_start(variable: str, raw: str) -> str:
    if raw not in _FIRST_STARTS:
        raise SettingsError(variable, raw, f"expected one of {', '.join(_FIRST_STARTS)}")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every knob; raises SettingsError naming the first bad variable."""
    env = os.environ if env is None else env
    default = {k.variable: k.default for k in KNOBS}

    def get(variable: str) -> str:
        return env.get(variable) or default[variable]

    database_url = _postgres_url("DATABASE_URL", get("DATABASE_URL"))
    dagster_pg_url = env.get("DAGSTER_PG_URL") or database_url
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=_kafka_servers(
            "KAFKA_BOOTSTRAP_SERVERS", get("KAFKA_BOOTSTRAP_SERVERS")
        ),
        kafka_topic_prefix=env.get("KAFKA_TOPIC_PREFIX", default["KAFKA_TOPIC_PREFIX"]),
        kafka_consumer_group=get("KAFKA_CONSUMER_GROUP"),
        kafka_topic_partitions=_int(
            env, "KAFKA_TOPIC_PARTITIONS", default["KAFKA_TOPIC_PARTITIONS"], 1
        ),
        reporting_timezone=_timezone("REPORTING_TIMEZONE", get("REPORTING_TIMEZONE")),
        partitions_start_date=_iso_date("PARTITIONS_START_DATE", get("PARTITIONS_START_DATE")),
        dagster_home=Path(get("DAGSTER_HOME")),
        dagster_pg_url=_postgres_url("DAGSTER_PG_URL", dagster_pg_url),
        event_max_future_skew_seconds=_int(
            env, "EVENT_MAX_FUTURE_SKEW_SECONDS", default["EVENT_MAX_FUTURE_SKEW_SECONDS"]
        ),
        raw_partitions_ahead_days=_int(
            env, "RAW_PARTITIONS_AHEAD_DAYS", default["RAW_PARTITIONS_AHEAD_DAYS"]
        ),
        raw_retention_days=_int(env, "RAW_RETENTION_DAYS", default["RAW_RETENTION_DAYS"]),
        raw_compress_after_days=_int(
            env, "RAW_COMPRESS_AFTER_DAYS", default["RAW_COMPRESS_AFTER_DAYS"], 1
        ),
        raw_chunk_interval_days=_int(
            env, "RAW_CHUNK_INTERVAL_DAYS", default["RAW_CHUNK_INTERVAL_DAYS"], 1
        ),
        dev_data_dir=Path(get("DEV_DATA_DIR")),
        sql_dir=Path(get("SQL_DIR")),
        ingest_sensor_interval_seconds=_int(
            env, "INGEST_SENSOR_INTERVAL_SECONDS", default["INGEST_SENSOR_INTERVAL_SECONDS"], 1
        ),
        ingest_tick_budget_seconds=_int(
            env, "INGEST_TICK_BUDGET_SECONDS", default["INGEST_TICK_BUDGET_SECONDS"], 1
        ),
        ingest_batch_size=_int(env, "INGEST_BATCH_SIZE", default["INGEST_BATCH_SIZE"], 1),
        ingest_catchup_threshold=_int(
            env, "INGEST_CATCHUP_THRESHOLD", default["INGEST_CATCHUP_THRESHOLD"], 1
        ),
        rollup_grace_minutes=_int(env, "ROLLUP_GRACE_MINUTES", default["ROLLUP_GRACE_MINUTES"]),
        rollup_sensor_interval_seconds=_int(
            env, "ROLLUP_SENSOR_INTERVAL_SECONDS", default["ROLLUP_SENSOR_INTERVAL_SECONDS"], 1
        ),
        rollup_retry_after_minutes=_int(
            env, "ROLLUP_RETRY_AFTER_MINUTES", default["ROLLUP_RETRY_AFTER_MINUTES"], 1
        ),
        api_host=get("API_HOST"),
        api_port=_int(env, "API_PORT", default["API_PORT"], 1),
        api_workers=_int(env, "API_WORKERS", default["API_WORKERS"], 1),
        api_pool_size=_int(env, "API_POOL_SIZE", default["API_POOL_SIZE"], 1),
        # Empty is meaningful here (no SET ROLE), so it is not replaced by the default.
        api_db_role=_role("API_DB_ROLE", env.get("API_DB_ROLE", default["API_DB_ROLE"])),
        api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", default["API_KEY_CACHE_SECONDS"]),
        api_ready_max_lag_minutes=_int(
            env, "API_READY_MAX_LAG_MINUTES", default["API_READY_MAX_LAG_MINUTES"]
        ),
        api_statement_timeout_ms=_int(
            env, "API_STATEMENT_TIMEOUT_MS", default["API_STATEMENT_TIMEOUT_MS"], 1
        ),
        ingest_first_start=_first_start("INGEST_FIRST_START", get("INGEST_FIRST_START")),
        ingest_max_message_bytes=_int(
            env, "INGEST_MAX_MESSAGE_BYTES", default["INGEST_MAX_MESSAGE_BYTES"], 1024
        ),
        kafka_retry_seconds=_int(env, "KAFKA_RETRY_SECONDS", default["KAFKA_RETRY_SECONDS"]),
        ingest_stall_seconds=_int(env, "INGEST_STALL_SECONDS", default["INGEST_STALL_SECONDS"], 1),
        api_rate_limit_per_minute=_int(
            env, "API_RATE_LIMIT_PER_MINUTE", default["API_RATE_LIMIT_PER_MINUTE"]
        ),
        api_rate_limit_burst=_int(env, "API_RATE_LIMIT_BURST", default["API_RATE_LIMIT_BURST"], 1),
        archive_url=_archive_url(get("ARCHIVE_URL")),
        recommendation_dismiss_cooldown_days=_cooldown_days(
            env, default["RECOMMENDATION_DISMISS_COOLDOWN_DAYS"]
        ),
    )
