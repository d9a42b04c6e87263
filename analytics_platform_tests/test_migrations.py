import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from analytics_platform.events import TOPICS
from analytics_platform.ingestion.raw_storage import drop_raw_data_before, ensure_raw_partitions
from analytics_platform.migrations import MigrationError, discover, migrate

from .conftest import settings_for


def _tables(conn: psycopg.Connection, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
        (schema,),
    )
    return {r[0] for r in rows}


def test_migrate_twice_on_a_fresh_database_applies_once(empty_database_url):
    settings = settings_for(database_url=empty_database_url)
    first = migrate(settings)
    second = migrate(settings)
    expected = [f"{m.version:03d}_{m.name}" for m in discover(settings.sql_dir / "migrations")]
    assert first.applied == expected
    assert second.applied == [] and second.already_applied == len(expected)
    with psycopg.connect(empty_database_url) as conn:
        assert _tables(conn, "raw") == {s.table.removeprefix("raw.") for s in TOPICS.values()}
        assert _tables(conn, "ingest") == {
            "offsets",
            "dead_letters",
            "touched_hours",
            "gaps",
            "topic_runs",
        }
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        assert {"raw", "ingest", "marts", "api", "customers", "archive", "reports", "ml"} <= schemas
        (count,) = conn.execute("SELECT count(*) FROM public.schema_migrations").fetchone()
        assert count == len(expected)


def test_concurrent_migrations_all_succeed_and_record_each_file_once(empty_database_url):
    settings = settings_for(database_url=empty_database_url)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda _: migrate(settings), range(4)))
    applied = [label for report in reports for label in report.applied]
    assert sorted(applied) == sorted(set(applied))
    assert len(applied) == len(discover(settings.sql_dir / "migrations"))


def test_money_is_numeric_and_times_are_timestamptz(empty_database_url):
    migrate(settings_for(database_url=empty_database_url))
    with psycopg.connect(empty_database_url) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type "
                "FROM information_schema.columns WHERE table_schema = 'raw' AND column_name IN "
                "('amount', 'balance', 'change_amount', 'occurred_at')"
            ).fetchall()
        )
    assert types["transactions.amount"] == "numeric"
    assert types["wallet_balances.balance"] == "numeric"
    assert types["wallet_balances.change_amount"] == "numeric"
    assert {t for k, t in types.items() if k.endswith("occurred_at")} == {
        "timestamp with time zone"
    }


def test_primary_keys_include_the_time_column(empty_database_url):
    migrate(settings_for(database_url=empty_database_url))
    with psycopg.connect(empty_database_url) as conn:
        keys = conn.execute(
            "SELECT c.conrelid::regclass::text, array_agg(a.attname ORDER BY a.attname) "
            "FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
            "WHERE c.contype = 'p' AND c.connamespace = 'raw'::regnamespace "
            "AND NOT c.conrelid::regclass::text LIKE '%%\\_p2%%' GROUP BY 1"
        ).fetchall()
    assert {table: cols for table, cols in keys} == {
        spec.table: ["event_id", "occurred_at"] for spec in TOPICS.values()
    }


def test_changed_migration_file_is_refused(empty_database_url, tmp_path):
    settings = settings_for(database_url=empty_database_url)
    migrate(settings)
    sql_copy = tmp_path / "sql"
    shutil.copytree(settings.sql_dir, sql_copy)
    first = sorted((sql_copy / "migrations").glob("001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(settings_for(database_url=empty_database_url, sql_dir=sql_copy))


def test_failed_migration_leaves_nothing_half_applied(empty_database_url, tmp_path):
    sql_copy = tmp_path / "sql"
    shutil.copytree(settings_for().sql_dir, sql_copy)
    (sql_copy / "migrations" / "999_broken.sql").write_text(
        "CREATE TABLE marts.half_done (x int);\nSELECT no_such_function();\n"
    )
    settings = settings_for(database_url=empty_database_url, sql_dir=sql_copy)
    with pytest.raises(MigrationError, match="999_broken failed"):
        migrate(settings)
    with psycopg.connect(empty_database_url) as conn:
        assert "half_done" not in _tables(conn, "marts")
        versions = {r[0] for r in conn.execute("SELECT version FROM public.schema_migrations")}
    assert 999 not in versions and 1 in versions


def test_a_failed_migration_names_the_warnings_the_server_gave_before(empty_database_url, tmp_path):
    sql_copy = tmp_path / "sql"
    shutil.copytree(settings_for().sql_dir, sql_copy)
    (sql_copy / "migrations" / "999_broken.sql").write_text(
        "DO $$ BEGIN RAISE WARNING 'role missing, ask a DBA'; END $$;\nSELECT no_such_function();\n"
    )
    settings = settings_for(database_url=empty_database_url, sql_dir=sql_copy)
    with pytest.raises(MigrationError) as failure:
        migrate(settings)
    assert "migration 999_broken failed: function no_such_function() does not exist" in str(
        failure.value
    )
    assert "999_broken: WARNING: role missing, ask a DBA" in str(failure.value)


@pytest.mark.storage("native")
def test_partition_function_creates_each_missing_day_once(empty_database_url):
    migrate(settings_for(database_url=empty_database_url))
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        start = datetime(2024, 3, 9, 23, tzinfo=UTC)
        end = datetime(2024, 3, 11, 1, tzinfo=UTC)
        assert ensure_raw_partitions(conn, "transactions", start, end) == 3
        assert ensure_raw_partitions(conn, "transactions", start, end) == 0
        conn.execute(
            "INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id, "
            "amount, currency, transaction_type, category, status, payment_method, retry_count, "
            "processing_ms, kafka_partition, kafka_offset) VALUES (gen_random_uuid(), "
            "'2024-03-10 12:00+00', 'u', 't', 1.5, 'IDR', 'PAYMENT', 'food', 'SUCCESS', "
            "'CARD', 0, 10, 0, 0)"
        )
        dropped = drop_raw_data_before(conn, "transactions", datetime(2024, 3, 11, tzinfo=UTC))
        assert sorted(dropped) == ["transactions_p20240309", "transactions_p20240310"]
        (rows,) = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()
        assert rows == 0


@pytest.mark.storage("native")
def test_insert_without_a_partition_fails_and_the_function_fixes_it(empty_database_url):
    migrate(settings_for(database_url=empty_database_url))
    insert = (
        "INSERT INTO raw.user_events (event_id, occurred_at, user_id, event_type, "
        "kafka_partition, kafka_offset) "
        "VALUES (gen_random_uuid(), %s, 'u', 'user.registered', 0, 0)"
    )
    when = datetime(2025, 6, 1, 5, tzinfo=UTC)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(insert, (when,))
        ensure_raw_partitions(conn, "user_events", when, when)
        conn.execute(insert, (when,))


def test_api_role_can_read_marts_but_not_write(empty_database_url):
    migrate(settings_for(database_url=empty_database_url))
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("SET ROLE analytics_reader")
        conn.execute("SELECT count(*) FROM marts.transactions_daily")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM marts.transactions_daily")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM ingest.offsets")


_TRANSACTION = (
    "INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id, "
    "amount, currency, transaction_type, category, status, payment_method, retry_count, "
    "processing_ms, merchant_id, kafka_partition, kafka_offset) VALUES (gen_random_uuid(), "
    "%s, 'u', 't', 1.5, 'IDR', 'PAYMENT', 'food', 'SUCCESS', 'CARD', 0, 10, 'm1', 0, 0)"
)


@pytest.mark.parametrize("role", ["analytics_api", "analytics_reader"])
def test_api_roles_cannot_read_raw_tables_their_partitions_or_chunks(empty_database_url, role):
    """Raw rows have no row-level security (TimescaleDB cannot compress a table that has
    it): the API's roles reach them only through api.raw_transactions, which applies the
    request's scope."""
    migrate(settings_for(database_url=empty_database_url))
    when = datetime(2024, 3, 10, 12, tzinfo=UTC)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        ensure_raw_partitions(conn, "transactions", when, when)
        conn.execute(_TRANSACTION, (when,))
        children = [
            sql.Identifier(*r)
            for r in conn.execute(
                "SELECT n.nspname, c.relname FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE i.inhparent = ANY (SELECT oid FROM pg_class "
                "WHERE relnamespace = 'raw'::regnamespace AND relkind IN ('r', 'p'))"
            )
        ]
        assert children, "no partition or chunk was created"
        tables = [sql.Identifier(*spec.table.split(".")) for spec in TOPICS.values()]
        for table in tables + children:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            conn.execute("SELECT set_config('app.scope', 'merchant', true)")
            conn.execute("SELECT set_config('app.merchant_id', 'm2', true)")
            (other,) = conn.execute("SELECT count(*) FROM api.raw_transactions").fetchone()
            conn.execute("SELECT set_config('app.merchant_id', 'm1', true)")
            (own,) = conn.execute("SELECT count(*) FROM api.raw_transactions").fetchone()
        assert (other, own) == (0, 1)


@pytest.mark.storage("timescaledb")
def test_hypertables_make_chunks_on_insert_and_drop_whole_old_chunks(empty_database_url):
    migrate(settings_for(database_url=empty_database_url, raw_chunk_interval_days="1"))
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        start = datetime(2024, 3, 9, 23, tzinfo=UTC)
        end = datetime(2024, 3, 11, 1, tzinfo=UTC)
        # Nothing to create ahead: the insert makes its chunk.
        assert ensure_raw_partitions(conn, "transactions", start, end) == 0
        for when in (start, datetime(2024, 3, 10, 12, tzinfo=UTC), end):
            conn.execute(_TRANSACTION, (when,))
        (chunks,) = conn.execute("SELECT count(*) FROM show_chunks('raw.transactions')").fetchone()
        assert chunks == 3
        dropped = drop_raw_data_before(conn, "transactions", datetime(2024, 3, 11, tzinfo=UTC))
        assert len(dropped) == 2
        remaining = conn.execute("SELECT occurred_at FROM raw.transactions").fetchall()
        assert remaining == [(end,)]


@pytest.mark.storage("timescaledb", license="timescale")
def test_a_changed_compress_after_replaces_the_policy_and_retention_policies_go(
    empty_database_url,
):
    migrate(settings_for(database_url=empty_database_url, raw_compress_after_days="7"))
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        # What migrate before migration 014 left: a retention policy by age alone.
        conn.execute("SELECT add_retention_policy('raw.transactions', interval '30 days')")
        report = migrate(settings_for(database_url=empty_database_url, raw_compress_after_days="3"))
        jobs = conn.execute(
            "SELECT hypertable_name, proc_name, config->>'compress_after' "
            "FROM timescaledb_information.jobs WHERE hypertable_schema = 'raw'"
        ).fetchall()
    assert sorted(jobs) == sorted(
        (spec.table.removeprefix("raw."), "policy_compression", "3 days")
        for spec in TOPICS.values()
    )
    transactions = next(line for line in report.storage if line.startswith("raw.transactions:"))
    assert "compression after 3 days (policy changed from 7 days)" in transactions
    assert "TimescaleDB retention policy removed" in transactions
    assert not report.notices, report.notices
