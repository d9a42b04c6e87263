import json
import re
from datetime import datetime, timedelta

import pytest
from dagster import AssetKey, AssetObservation, DagsterInstance, build_sensor_context

from analytics_platform.ingestion.jobs import TOPIC_TAG, ingest_catch_up
from analytics_platform.ingestion.sensors import build_ingest_sensor

from .factories import events, produce


@pytest.fixture
def sensor_env(settings, monkeypatch):
    """The sensors read settings from the environment at every tick, as in the daemon."""
    for key, value in {
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "INGEST_CATCHUP_THRESHOLD": "1000",
        "INGEST_BATCH_SIZE": "400",
        "INGEST_TICK_BUDGET_SECONDS": "6",
    }.items():
        monkeypatch.setenv(key, value)
    return settings


def raw_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]


def test_large_lag_launches_a_catch_up_run_and_small_lag_is_ingested_inline(sensor_env, conn):
    sensor = build_ingest_sensor("transactions")
    produce(sensor_env, "transactions", events("transactions", 2500))
    with DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        [request] = tick.run_requests
        assert request.tags[TOPIC_TAG] == "transactions"
        config = request.run_config["ops"]["ingest_offset_ranges"]["config"]
        assert sum(config["end_offsets"].values()) == 2500
        assert raw_count(conn) == 0, "a catch-up tick must not ingest inline"
        [lag] = [e for e in tick.asset_events if isinstance(e, AssetObservation)]
        assert lag.metadata["consumer_lag"].value == 2500
        requested = json.loads(tick.cursor)
        assert (requested["outcome"], requested["lag"]) == ("catch_up_requested", 2500)
        assert requested["run_key"] == request.run_key

        run = ingest_catch_up.execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        assert run.success
        assert raw_count(conn) == 2500
        hours = instance.get_materialized_partitions(AssetKey(["raw", "transactions"]))
        assert hours, "the catch-up run reports the hours it filled"

        # Re-running the same catch-up run (a retry) ingests nothing twice.
        again = ingest_catch_up.execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        assert again.success and raw_count(conn) == 2500

        produce(sensor_env, "transactions", events("transactions", 120))
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert not tick.run_requests
        assert raw_count(conn) == 2620
        summary = json.loads(tick.cursor)
        assert (summary["messages"], summary["rows"], summary["lag"]) == (120, 120, 0)
        materialized = [e for e in tick.asset_events if not isinstance(e, AssetObservation)]
        assert sum(e.metadata["rows"].value for e in materialized) == 120
        assert summary["hours_touched"] == len(materialized)
        hours = f"{len(materialized)} hour{'' if len(materialized) == 1 else 's'}"
        assert tick.skip_message.startswith(
            f"ingested 120 rows into {hours} of raw.transactions from 120 messages: "
            "0 duplicates dropped, 0 dead letters; latest event "
        )
        assert re.search(r"; lag 0 after \d+\.\d s \((drained|time budget)\)$", tick.skip_message)


def test_inline_ingestion_pauses_while_a_catch_up_run_is_active(sensor_env, conn):
    sensor = build_ingest_sensor("transactions")
    produce(sensor_env, "transactions", events("transactions", 10))
    with DagsterInstance.ephemeral() as instance:
        active = instance.create_run_for_job(
            ingest_catch_up,
            run_config={
                "ops": {
                    "ingest_offset_ranges": {
                        "config": {"topic": "transactions", "end_offsets": {"0": 1}}
                    }
                }
            },
            tags={TOPIC_TAG: "transactions"},
        )
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert tick.skip_message == (
            f"catch-up run {active.run_id} is ingesting transactions; "
            "inline ingestion resumes when it ends"
        )
        assert json.loads(tick.cursor) == {
            "outcome": "catch_up_running",
            "topic": "transactions",
            "messages": 0,
            "rows": 0,
            "duplicates": 0,
            "dead_letters": 0,
            "hours_touched": 0,
            "run_id": active.run_id,
        }
        assert raw_count(conn) == 0
        instance.delete_run(active.run_id)
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert raw_count(conn) == 10


def test_idle_topic_skips_with_a_reason_and_still_records_lag(sensor_env):
    sensor = build_ingest_sensor("user-lifecycle")
    with DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
    [lag] = tick.asset_events
    partitions = lag.metadata["partitions"].value
    assert tick.skip_message == (
        f"user-lifecycle: no new messages (lag 0 over {partitions} partitions)"
    )
    assert lag.metadata["consumer_lag"].value == 0
    summary = json.loads(tick.cursor)
    assert (summary["outcome"], summary["messages"], summary["lag"]) == ("idle", 0, 0)


def test_inline_tick_reports_duplicates_and_dead_letters_in_its_skip_reason_and_cursor(
    sensor_env, conn
):
    sensor = build_ingest_sensor("webhook-deliveries")
    batch = events("webhook-deliveries", 5, step=timedelta(minutes=40))
    produce(sensor_env, "webhook-deliveries", [*batch, batch[0], b"{not json"])
    with DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert not tick.run_requests
    summary = json.loads(tick.cursor)
    hours = summary.pop("hours_touched")
    latest = summary.pop("max_event_time")
    assert summary.pop("seconds") >= 0
    assert summary == {
        "outcome": "ingested",
        "topic": "webhook-deliveries",
        "messages": 7,
        "rows": 5,
        "duplicates": 1,
        "dead_letters": 1,
        "lag": 0,
    }
    materialized = [e for e in tick.asset_events if not isinstance(e, AssetObservation)]
    assert hours == len(materialized) > 1, "five events 40 minutes apart span several hours"
    assert datetime.fromisoformat(latest) == datetime.fromisoformat(batch[-1]["occurred_at"])
    assert tick.skip_message.startswith(
        f"ingested 5 rows into {hours} hours of raw.webhook_deliveries from 7 messages: "
        f"1 duplicate dropped, 1 dead letter; latest event {latest[:19]}"
    )
    assert "; lag 0 after " in tick.skip_message


def test_a_followed_topic_reports_its_known_lag_before_the_first_fetch_answers(settings):
    """An inline tick whose budget ends before the consumer's first fetch response (a
    loaded machine) must not report the topic as caught up."""
    from analytics_platform.ingestion.reader import TopicReader
    from analytics_platform.resources.kafka import topic_name

    produce(settings, "transactions", events("transactions", 30))
    reader = TopicReader(settings, topic_name(settings, "transactions"))
    try:
        marks = reader.watermarks(reader.partitions())
        ends = {p: high for p, (_, high) in marks.items()}
        reader.assign(dict.fromkeys(ends, 0), None, known_end=ends)
        assert reader.remaining == 30
    finally:
        reader.close()
