import json

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
        "INGEST_TICK_BUDGET_SECONDS": "2",
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
        assert active.run_id in (tick.skip_message or "")
        assert raw_count(conn) == 0
        instance.delete_run(active.run_id)
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert raw_count(conn) == 10


def test_idle_topic_skips_with_a_reason_and_still_records_lag(sensor_env):
    sensor = build_ingest_sensor("user-lifecycle")
    with DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert tick.skip_message == "user-lifecycle: no new messages"
    [lag] = tick.asset_events
    assert lag.metadata["consumer_lag"].value == 0
