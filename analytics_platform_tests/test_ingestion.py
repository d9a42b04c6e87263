import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from analytics_platform.events import TOPICS
from analytics_platform.ingestion import runner
from analytics_platform.ingestion.asset_events import hour_materializations
from analytics_platform.ingestion.gaps import NoGapError, acknowledge_gap
from analytics_platform.ingestion.runner import IngestionBlockedError, ingest_topic
from analytics_platform.resources.kafka import OffsetTruncatedError, topic_name

from .factories import BASE_TIME, event, events, produce


def ingest(settings, topic, batch_size=1000, **kwargs):
    return ingest_topic(settings, topic, batch_size=batch_size, **kwargs)


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def stored_offsets(conn, settings, topic) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM ingest.offsets WHERE topic = %s",
        (topic_name(settings, topic),),
    )
    return dict(rows.fetchall())


@pytest.mark.parametrize("topic", list(TOPICS))
def test_every_topic_round_trips_into_its_raw_table_with_provenance(settings, conn, topic):
    produced = events(topic, 300)
    produce(settings, topic, produced)
    report = ingest(settings, topic, batch_size=128)
    assert (report.result.rows_inserted, report.remaining) == (300, 0)
    table = TOPICS[topic].table
    rows = conn.execute(f"SELECT event_id::text, kafka_partition, kafka_offset FROM {table}")
    rows = rows.fetchall()
    assert sorted(r[0] for r in rows) == sorted(e["event_id"] for e in produced)
    assert len({(r[1], r[2]) for r in rows}) == 300
    assert stored_offsets(conn, settings, topic) == {p: o for p, o in report.state.end.items() if o}
    assert report.state.end and sum(report.state.end.values()) == 300


def test_money_and_json_survive_ingestion_exactly(settings, conn):
    produce(settings, "transactions", [event("transactions", amount="0.10", metadata={"a": [1]})])
    ingest(settings, "transactions")
    amount, metadata = conn.execute("SELECT amount, metadata FROM raw.transactions").fetchone()
    assert amount == Decimal("0.10") and metadata == {"a": [1]}


def test_duplicates_are_dropped_within_and_across_batches_and_processes(settings, conn):
    first = events("transactions", 100)
    produce(settings, "transactions", first + first[:10])
    report = ingest(settings, "transactions")
    assert (report.result.rows_inserted, report.result.duplicates) == (100, 10)

    produce(settings, "transactions", first[:20])
    report = ingest(settings, "transactions")
    assert (report.result.rows_inserted, report.result.duplicates) == (0, 20)

    # A new process has no memory of recent ids: the database's key drops them.
    runner._LOADERS.clear()
    fresh = events("transactions", 5)
    produce(settings, "transactions", first[20:30] + fresh)
    report = ingest(settings, "transactions")
    assert (report.result.rows_inserted, report.result.duplicates) == (5, 10)
    assert count(conn, "raw.transactions") == 105


def test_malformed_messages_become_dead_letters_and_offsets_still_advance(settings, conn):
    bad_amount = event("transactions", amount="-1")
    missing = event("transactions")
    del missing["user_id"]
    produce(
        settings,
        "transactions",
        [
            *events("transactions", 10),
            b"not json",
            missing,
            bad_amount,
            *events("transactions", 10),
        ],
    )
    report = ingest(settings, "transactions")
    assert (report.result.rows_inserted, report.result.dead_letters) == (20, 3)
    reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM ingest.dead_letters"))
    assert reasons[0].startswith("invalid JSON: JSON is malformed")
    assert reasons[1:] == [
        "missing field `user_id`",
        "non-positive `amount`: -1 (must be > 0)",
    ]
    stored = conn.execute(
        'SELECT payload, key, partition, "offset" FROM ingest.dead_letters '
        "WHERE reason LIKE 'invalid JSON%%'"
    ).fetchone()
    assert bytes(stored[0]) == b"not json" and bytes(stored[1]) == b"raw"
    assert sum(stored_offsets(conn, settings, "transactions").values()) == 23
    assert ingest(settings, "transactions").result.messages == 0


def test_crash_between_write_and_commit_loses_and_duplicates_nothing(settings, conn):
    conn.execute(
        "CREATE FUNCTION public.crash_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected crash at commit'; END $$"
    )
    # A deferred constraint trigger fires at COMMIT, after every row was written.
    conn.execute(
        "CREATE CONSTRAINT TRIGGER crash AFTER INSERT OR UPDATE ON ingest.offsets "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.crash_at_commit()"
    )
    produced = events("transactions", 500)
    produce(settings, "transactions", [*produced, b"{bad"])
    with pytest.raises(psycopg.errors.RaiseException, match="injected crash at commit"):
        ingest(settings, "transactions", batch_size=200)
    assert count(conn, "raw.transactions") == 0
    assert count(conn, "ingest.dead_letters") == 0
    assert stored_offsets(conn, settings, "transactions") == {}

    conn.execute("DROP TRIGGER crash ON ingest.offsets")
    report = ingest(settings, "transactions", batch_size=200)
    assert (report.result.rows_inserted, report.result.dead_letters) == (500, 1)
    assert count(conn, "raw.transactions") == 500
    assert ingest(settings, "transactions").result.messages == 0


def test_truncation_is_recorded_blocks_the_topic_and_resumes_when_acknowledged(
    settings, conn, kafka
):
    produce(settings, "transactions", events("transactions", 100))
    ingest(settings, "transactions")
    produce(
        settings, "transactions", events("transactions", 100, start=BASE_TIME + timedelta(hours=1))
    )
    topic = topic_name(settings, "transactions")
    stored = stored_offsets(conn, settings, "transactions")
    partition = max(stored)
    kafka.delete_records(topic, partition, stored[partition] + 3)

    with pytest.raises(OffsetTruncatedError) as lost:
        ingest(settings, "transactions")
    assert (lost.value.partition, lost.value.lost_from, lost.value.lost_to) == (
        partition,
        stored[partition],
        stored[partition] + 3,
    )
    with pytest.raises(IngestionBlockedError, match="acknowledge-gap"):
        ingest(settings, "transactions")
    assert count(conn, "raw.transactions") == 100

    assert acknowledge_gap(conn, settings.kafka_consumer_group, topic, partition) == [
        (stored[partition], stored[partition] + 3)
    ]
    with pytest.raises(NoGapError):
        acknowledge_gap(conn, settings.kafka_consumer_group, topic, partition)
    report = ingest(settings, "transactions")
    assert report.result.rows_inserted == 97
    assert count(conn, "raw.transactions") == 197


def test_late_events_are_reported_for_their_own_hours(settings, conn):
    produce(settings, "transactions", events("transactions", 50, start=BASE_TIME))
    ingest(settings, "transactions")
    late_hour = BASE_TIME.replace(hour=5)
    produce(
        settings,
        "transactions",
        events(
            "transactions", 3, start=late_hour + timedelta(minutes=10), step=timedelta(minutes=5)
        ),
    )
    report = ingest(settings, "transactions")
    assert list(report.result.hours) == [late_hour]
    assert report.result.hours[late_hour].rows == 3
    [materialization] = hour_materializations("transactions", report.result)
    assert materialization.partition == late_hour.strftime("%Y-%m-%d-05:00")
    assert materialization.metadata["rows"].value == 3
    touched = dict(
        conn.execute(
            "SELECT hour_start, rows_ingested FROM ingest.touched_hours "
            "WHERE raw_table = 'raw.transactions'"
        ).fetchall()
    )
    assert touched[late_hour] == 3 and touched[BASE_TIME] == 50


def test_hours_follow_the_reporting_time_zone_with_half_hour_offsets(settings):
    from .conftest import settings_for

    kolkata = settings_for(
        database_url=settings.database_url,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        kafka_topic_prefix=settings.kafka_topic_prefix,
        reporting_timezone="Asia/Kolkata",
    )
    runner._LOADERS.clear()
    # 10:20 and 10:40 UTC are 15:50 and 16:10 in Kolkata: two different local hours.
    produce(
        kolkata,
        "transactions",
        [event("transactions", BASE_TIME + timedelta(minutes=m)) for m in (20, 40)],
    )
    report = ingest(kolkata, "transactions")
    assert sorted(report.result.hours) == [
        BASE_TIME.replace(hour=9, minute=30),
        BASE_TIME.replace(hour=10, minute=30),
    ]
    runner._LOADERS.clear()


def test_events_outside_the_accepted_time_range_are_dead_letters_not_errors(settings, conn):
    produce(
        settings,
        "user-activity",
        [
            event("user-activity", datetime(2019, 1, 1, tzinfo=UTC)),
            event("user-activity", datetime.now(UTC) + timedelta(days=400)),
        ],
    )
    report = ingest(settings, "user-activity")
    assert (report.result.rows_inserted, report.result.dead_letters) == (0, 2)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM ingest.dead_letters ORDER BY id")]
    assert "before the accepted range" in reasons[0] and "in the future" in reasons[1]


def test_text_postgres_cannot_store_is_a_dead_letter_not_a_failed_batch(settings, conn):
    """A NUL character or bytes that are not UTF-8 would fail the COPY of every retry."""
    nul = json.dumps(event("user-activity", user_agent="a\x00b")).encode()
    latin1 = json.dumps(event("user-activity", user_agent="caf\u00e9")).encode()
    produce(
        settings,
        "user-activity",
        [*events("user-activity", 5), nul, latin1.replace(b"\\u00e9", b"\xe9")],
    )
    report = ingest(settings, "user-activity")
    assert (report.result.rows_inserted, report.result.dead_letters) == (5, 2)
    reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM ingest.dead_letters"))
    assert reasons[0].startswith("bad value for `user_agent`: contains the character U+0000")
    assert reasons[1].startswith("invalid UTF-8")


def test_a_batch_written_alongside_a_failing_one_rolls_back_with_it(settings, conn):
    # Every other COPY into the raw table takes 0.5 s, so a batch is still being written
    # when the next one is handed to the second connection, and that one, copied at
    # once, reaches the shared rows (offsets, touched hours) first.
    conn.execute("CREATE SEQUENCE public.copies")
    conn.execute(
        "CREATE FUNCTION public.slow_copy() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF nextval('public.copies') % 2 = 0 THEN PERFORM pg_sleep(0.5); END IF; "
        "RETURN NULL; END $$"
    )
    conn.execute(
        "CREATE TRIGGER slow AFTER INSERT ON raw.transactions "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.slow_copy()"
    )
    first = events("transactions", 300)
    produce(settings, "transactions", first)
    assert ingest(settings, "transactions", batch_size=100).result.rows_inserted == 300
    before = stored_offsets(conn, settings, "transactions")

    # The first batch of the next ingest fails at its commit (a sequence is not rolled
    # back, so only the first commit fails); the batch written alongside it must not
    # commit either, or its offsets would skip the failed batch's events.
    conn.execute("CREATE SEQUENCE public.commits")
    conn.execute(
        "CREATE FUNCTION public.fail_first_commit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF nextval('public.commits') = 1 THEN "
        "RAISE EXCEPTION 'injected failure at commit'; END IF; RETURN NULL; END $$"
    )
    conn.execute(
        "CREATE CONSTRAINT TRIGGER fail AFTER INSERT OR UPDATE ON ingest.offsets "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.fail_first_commit()"
    )
    second = events("transactions", 500)
    produce(settings, "transactions", second)
    with pytest.raises(psycopg.errors.RaiseException, match="injected failure at commit"):
        ingest(settings, "transactions", batch_size=100)
    assert count(conn, "raw.transactions") == 300
    assert stored_offsets(conn, settings, "transactions") == before

    conn.execute("DROP TRIGGER fail ON ingest.offsets")
    report = ingest(settings, "transactions", batch_size=100)
    assert (report.result.rows_inserted, report.result.duplicates) == (500, 0)
    assert report.batches == 5
    ids = {r[0] for r in conn.execute("SELECT event_id::text FROM raw.transactions")}
    assert ids == {e["event_id"] for e in first + second}
    assert sum(stored_offsets(conn, settings, "transactions").values()) == 800


@pytest.mark.storage("native")
def test_loading_an_old_day_makes_the_week_after_it_too(settings, conn):
    # Creating partitions makes a batch wait for the one before it; loading history a
    # week of days at a time keeps that to once a week.
    old = BASE_TIME - timedelta(days=30)
    produce(settings, "transactions", events("transactions", 5, start=old))
    assert ingest(settings, "transactions").result.rows_inserted == 5
    days = {
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'raw.transactions'::regclass"
        )
    }
    week = [f"transactions_p{(old + timedelta(days=i)):%Y%m%d}" for i in range(8)]
    assert set(week) <= days


@pytest.mark.storage("timescaledb")
def test_loading_an_old_day_into_a_hypertable_makes_its_chunk(settings, conn):
    old = BASE_TIME - timedelta(days=30)
    produce(settings, "transactions", events("transactions", 5, start=old))
    assert ingest(settings, "transactions").result.rows_inserted == 5
    (covering,) = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'raw' AND hypertable_name = 'transactions' "
        "AND range_start <= %s AND range_end > %s",
        (old, old),
    ).fetchone()
    assert covering == 1


def _fullest_partition(settings, kafka_topic: str) -> tuple[int, int]:
    """(partition, high watermark) of the topic's partition holding most messages."""
    from analytics_platform.ingestion.reader import TopicReader

    reader = TopicReader(settings, kafka_topic)
    try:
        marks = reader.watermarks(reader.partitions())
    finally:
        reader.close()
    partition = max(marks, key=lambda p: marks[p][1])
    return partition, marks[partition][1]


def test_events_deleted_before_the_first_ingest_are_a_recorded_blocking_gap(settings, conn, kafka):
    produce(settings, "transactions", events("transactions", 100))
    topic = topic_name(settings, "transactions")
    partition, high = _fullest_partition(settings, topic)
    kafka.delete_records(topic, partition, 5)  # retention, before anything was ingested

    with pytest.raises(OffsetTruncatedError) as lost:
        ingest(settings, "transactions")
    assert (lost.value.partition, lost.value.lost_from, lost.value.lost_to) == (partition, 0, 5)
    assert conn.execute(
        "SELECT partition, lost_from, lost_to, acknowledged_at FROM ingest.gaps WHERE topic = %s",
        (topic,),
    ).fetchall() == [(partition, 0, 5, None)]
    with pytest.raises(IngestionBlockedError, match="acknowledge-gap"):
        ingest(settings, "transactions")
    assert count(conn, "raw.transactions") == 0

    assert acknowledge_gap(conn, settings.kafka_consumer_group, topic, partition) == [(0, 5)]
    report = ingest(settings, "transactions")
    assert report.result.rows_inserted == 95
    assert stored_offsets(conn, settings, "transactions")[partition] == high


def test_first_start_latest_skips_history_as_an_acknowledged_gap(settings, conn):
    latest = replace(settings, ingest_first_start="latest")
    produce(settings, "transactions", events("transactions", 40))
    topic = topic_name(settings, "transactions")
    report = ingest(latest, "transactions")
    assert report.result.messages == 0
    gaps = conn.execute(
        "SELECT sum(lost_to - lost_from), bool_and(acknowledged_at IS NOT NULL), "
        "min(acknowledged_by) FROM ingest.gaps WHERE topic = %s",
        (topic,),
    ).fetchone()
    assert gaps == (40, True, "INGEST_FIRST_START=latest")

    later = events("transactions", 10, start=BASE_TIME + timedelta(hours=2))
    produce(settings, "transactions", later)
    assert ingest(latest, "transactions").result.rows_inserted == 10
    assert count(conn, "raw.transactions") == 10


def test_a_row_postgres_refuses_becomes_a_dead_letter_and_the_rest_of_the_batch_lands(
    settings, conn
):
    # A stand-in for any value the contract lets through but the database refuses
    # (a future constraint, a type the contract does not bound): raised by COPY itself.
    conn.execute(
        """
        CREATE FUNCTION raw.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.transaction_id LIKE 'poison%' THEN
                RAISE EXCEPTION 'value out of range for %', NEW.transaction_id
                    USING ERRCODE = 'numeric_value_out_of_range';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON raw.transactions
            FOR EACH ROW EXECUTE FUNCTION raw.refuse_poison();
        """
    )
    batch = events("transactions", 200)
    for i in (17, 150, 151):
        batch[i] = {**batch[i], "transaction_id": f"poison-{i}"}
    produce(settings, "transactions", batch)

    report = ingest(settings, "transactions", batch_size=64)
    assert (report.result.rows_inserted, report.result.dead_letters) == (197, 3)
    letters = conn.execute(
        'SELECT payload, reason FROM ingest.dead_letters ORDER BY partition, "offset"'
    ).fetchall()
    assert sorted(json.loads(bytes(p))["transaction_id"] for p, _ in letters) == [
        "poison-150",
        "poison-151",
        "poison-17",
    ]
    assert all(
        r.startswith("PostgreSQL refused the row (22003): value out of range") for _, r in letters
    )
    # Exactly once: offsets cover all 200, and a second run has nothing to do.
    assert sum(stored_offsets(conn, settings, "transactions").values()) == 200
    assert ingest(settings, "transactions").result.messages == 0
    assert count(conn, "raw.transactions") == 197


def test_poison_messages_from_the_issue_are_dead_letters_not_failed_runs(settings, conn):
    # A 1,000-deep `metadata` (json.dumps itself cannot write one).
    deep = json.dumps(event("transactions", metadata="DEEP")).encode()
    deep = deep.replace(b'"DEEP"', b'{"a":' * 1000 + b"null" + b"}" * 1000)
    poison = [
        deep,
        event("transactions", amount="1e-20000"),
        event("transactions", amount="1." + "1" * 40),
        b'{"event_id": "not-json"',
    ]
    produce(settings, "transactions", [*events("transactions", 20), *poison])
    report = ingest(settings, "transactions")
    assert (report.result.rows_inserted, report.result.dead_letters) == (20, 4)
    reasons = sorted(r for (r,) in conn.execute("SELECT reason FROM ingest.dead_letters"))
    assert reasons == [
        "bad event: JSON nested too deeply (at most 32 levels in a field)",
        "bad value for `amount`: 20000 digits after the decimal point (at most 16)",
        "bad value for `amount`: 40 digits after the decimal point (at most 16)",
        "invalid JSON: Input data was truncated",
    ]
    runs = conn.execute("SELECT failures, last_error FROM ingest.topic_runs").fetchall()
    assert runs == [(0, None)]


def test_a_topic_whose_runs_fail_shows_as_failing_with_the_error_until_one_succeeds(settings, conn):
    from analytics_platform.cli import STATUS_BLOCKED, STATUS_CAUGHT_UP, ingest_status

    # Not a data error (no row is at fault): the batch fails whole, nothing is bisected.
    conn.execute(
        """
        CREATE FUNCTION raw.broken() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk quota of the raw tablespace exceeded'; END $$;
        CREATE TRIGGER broken BEFORE INSERT ON raw.transactions
            FOR EACH ROW EXECUTE FUNCTION raw.broken();
        """
    )
    produce(settings, "transactions", events("transactions", 10))
    for _ in range(2):
        with pytest.raises(psycopg.errors.RaiseException):
            ingest(settings, "transactions")
    status = ingest_status(settings)
    [transactions] = [t for t in status["topics"] if t["topic"].endswith(".transactions")]
    assert transactions["state"] == "failing" and status["exit_code"] == STATUS_BLOCKED
    assert transactions["last_run"]["failures_since_success"] == 2
    assert "disk quota of the raw tablespace exceeded" in transactions["last_run"]["error"]
    assert count(conn, "ingest.dead_letters") == 0

    conn.execute("DROP TRIGGER broken ON raw.transactions")
    assert ingest(settings, "transactions").result.rows_inserted == 10
    assert ingest_status(settings)["exit_code"] == STATUS_CAUGHT_UP
