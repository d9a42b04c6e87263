"""Ingestion meets broker trouble: retried, reported within bounded time, never a stall.

Each test runs its own embedded Kafka (librdkafka's mock cluster), whose fault controls
inject what a real cluster does in a bad hour: request errors during a leader election,
a broker that goes away, a distant broker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from confluent_kafka import KafkaError

from analytics_platform.dev.kafka import LIST_OFFSETS, EmbeddedKafka
from analytics_platform.events import TOPICS
from analytics_platform.ingestion.reader import TopicReader
from analytics_platform.ingestion.runner import ingest_topic, last_runs
from analytics_platform.resources.kafka import (
    KafkaRetriesExhaustedError,
    KafkaStalledError,
    topic_name,
)
from analytics_platform.settings import Settings

from .factories import events, produce


@pytest.fixture
def cluster() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka(num_brokers=3) as kafka:
        yield kafka


def on_cluster(
    settings: Settings, kafka: EmbeddedKafka, partitions: int = 4, **changes
) -> Settings:
    """`settings` pointed at `kafka`, with the five topics created there."""
    moved = replace(settings, kafka_bootstrap_servers=kafka.bootstrap_servers, **changes)
    kafka.create_topics([topic_name(moved, name) for name in TOPICS], partitions)
    return moved


def rows(settings: Settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]


def test_list_offsets_errors_during_a_leader_election_are_retried(settings, cluster, caplog):
    settings = on_cluster(settings, cluster)
    produce(settings, "transactions", events("transactions", 30))
    errors = [KafkaError.LEADER_NOT_AVAILABLE, KafkaError.REQUEST_TIMED_OUT] * 2
    cluster.push_request_errors(LIST_OFFSETS, errors)
    with caplog.at_level(logging.WARNING, "analytics_platform.resources.kafka"):
        report = ingest_topic(settings, "transactions")
    assert report.result.rows_inserted == 30
    assert "reading watermarks" in caplog.text and "retrying in" in caplog.text


def test_broker_errors_that_persist_end_the_run_with_a_clear_message(settings, cluster):
    settings = on_cluster(settings, cluster, kafka_retry_seconds=1)
    produce(settings, "transactions", events("transactions", 5))
    cluster.push_request_errors(LIST_OFFSETS, [KafkaError.LEADER_NOT_AVAILABLE] * 200)
    started = time.monotonic()
    with pytest.raises(KafkaRetriesExhaustedError, match="LEADER_NOT_AVAILABLE") as failed:
        ingest_topic(settings, "transactions")
    assert time.monotonic() - started < 5
    assert "KAFKA_RETRY_SECONDS" in str(failed.value)
    with psycopg.connect(settings.database_url) as conn:
        failures, error = last_runs(conn, settings.kafka_consumer_group)[
            topic_name(settings, "transactions")
        ][2:]
    assert failures == 1 and "LEADER_NOT_AVAILABLE" in error


def test_one_broker_of_three_down_is_waited_out_until_leaders_move(settings, cluster):
    settings = on_cluster(settings, cluster)
    produce(settings, "transactions", events("transactions", 40))
    topic = topic_name(settings, "transactions")
    cluster.broker_set_down(2)

    def elect() -> None:  # what the controller of a real cluster does after a few seconds
        for partition in range(4):
            cluster.partition_set_leader(topic, partition, 1)

    election = threading.Timer(0.5, elect)
    election.start()
    try:
        report = ingest_topic(settings, "transactions")
    finally:
        election.join()
    assert report.result.rows_inserted == 40 and rows(settings) == 40


def test_a_200_ms_broker_round_trip_still_reads_64_partitions(settings, cluster):
    settings = on_cluster(settings, cluster, partitions=64)
    produce(settings, "transactions", events("transactions", 100))
    for broker in (1, 2, 3):
        cluster.broker_set_rtt(broker, 200)
    report = ingest_topic(settings, "transactions")
    assert report.result.rows_inserted == 100


def test_a_broker_gone_in_the_middle_of_a_read_is_reported_not_waited_out(settings, cluster):
    settings = on_cluster(settings, cluster, ingest_stall_seconds=1)
    produce(settings, "transactions", events("transactions", 10))

    def broker_dies(*_: object) -> None:
        for broker in (1, 2, 3):
            cluster.broker_set_down(broker)

    started = time.monotonic()
    with pytest.raises(KafkaStalledError, match="nothing received from Kafka"):
        ingest_topic(settings, "transactions", follow=True, time_budget=30, on_batch=broker_dies)
    assert time.monotonic() - started < 15
    assert rows(settings) == 10


def test_a_bounded_read_from_an_unreachable_broker_fails_within_the_stall_limit(settings, cluster):
    settings = on_cluster(settings, cluster, ingest_stall_seconds=1)
    produce(settings, "transactions", events("transactions", 10))
    reader = TopicReader(settings, topic_name(settings, "transactions"))
    try:
        marks = reader.watermarks(reader.partitions())
        reader.assign({p: 0 for p in marks}, {p: high for p, (_, high) in marks.items()})
        for broker in (1, 2, 3):
            cluster.broker_set_down(broker)
        started = time.monotonic()
        with pytest.raises(KafkaStalledError, match="10 messages remain"):
            while True:
                reader.read(100, timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        reader.close()


def test_a_quiet_topic_after_a_transient_broker_error_is_not_a_stall(settings, cluster):
    settings = on_cluster(settings, cluster, ingest_stall_seconds=1)
    produce(settings, "transactions", events("transactions", 5))

    def broker_restarts(*_: object) -> None:  # librdkafka reports it, then reconnects
        for broker in (1, 2, 3):
            cluster.broker_set_down(broker)
        time.sleep(0.3)
        for broker in (1, 2, 3):
            cluster.broker_set_up(broker)

    report = ingest_topic(
        settings, "transactions", follow=True, time_budget=5, on_batch=broker_restarts
    )
    assert report.result.rows_inserted == 5 and report.stopped_because == "time budget"
