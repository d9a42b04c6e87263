"""The embedded Kafka and the platform's Kafka access, against the real mock cluster.

Everything here talks the Kafka protocol over loopback to librdkafka's mock broker:
producers, consumers and a second OS process, no test doubles.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from analytics_platform.dev.kafka import (
    MOCK_PARTITION_MAX_BYTES,
    EmbeddedKafka,
    EmbeddedKafkaError,
    TopicConflictError,
)
from analytics_platform.resources.kafka import (
    KafkaUnavailableError,
    OffsetTruncatedError,
    TopicNotFoundError,
    admin_config,
    check_not_truncated,
    check_reachable,
    consumer_config,
    find_truncations,
    get_watermarks,
    list_partitions,
    producer_config,
    topic_name,
)
from analytics_platform.settings import Settings, load_settings


@pytest.fixture(scope="module")
def kafka() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka() as embedded:
        yield embedded


@pytest.fixture(scope="module")
def settings(kafka: EmbeddedKafka) -> Settings:
    return dataclasses.replace(load_settings({}), kafka_bootstrap_servers=kafka.bootstrap_servers)


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    # One cluster serves the module, so every test writes to a topic of its own.
    return f"{request.node.name[:80]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def consumer(settings: Settings) -> Iterator[Consumer]:
    client = Consumer(consumer_config(settings))
    yield client
    client.close()


@pytest.fixture
def admin(settings: Settings) -> AdminClient:
    return AdminClient(admin_config(settings))


def produce(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]], **kw) -> None:
    producer = Producer(producer_config(settings, **kw))
    for key, value in messages:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0, "messages left undelivered"


def consume_all(
    consumer: Consumer, topic: str, starts: dict[int, int], timeout: float = 10.0
) -> list[tuple[int, int, bytes, bytes]]:
    """(partition, offset, key, value) from each partition's start offset to its end."""
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
    pending = set(starts)
    received: list[tuple[int, int, bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while pending:
        assert time.monotonic() < deadline, f"partitions {sorted(pending)} never reached EOF"
        for message in consumer.consume(1000, timeout=0.5):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
                continue
            assert error is None, error
            received.append((message.partition(), message.offset(), message.key(), message.value()))
    return received


def test_keyed_messages_round_trip_through_every_partition(kafka, settings, topic, consumer, admin):
    kafka.create_topic(topic, 4)
    messages = [(f"user-{i % 50}".encode(), f'{{"n": {i}}}'.encode()) for i in range(2_000)]
    produce(settings, topic, messages)

    received = consume_all(consumer, topic, {p: 0 for p in range(4)})

    assert sorted((k, v) for _, _, k, v in received) == sorted(messages)
    per_partition = Counter(p for p, _, _, _ in received)
    watermarks = get_watermarks(admin, topic, range(4), timeout=5)
    assert {p: (0, n) for p, n in per_partition.items()} == watermarks
    assert len(per_partition) == 4, "50 keys should spread over all 4 partitions"
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for partition, _, key, _ in received:
        partitions_of_key[key].add(partition)
    assert all(len(ps) == 1 for ps in partitions_of_key.values()), "a key changed partition"
    offsets = defaultdict(list)
    for partition, offset, _, _ in received:
        offsets[partition].append(offset)
    assert all(o == list(range(len(o))) for o in offsets.values()), "offsets not contiguous"


def test_created_topics_have_the_requested_partition_count(kafka, topic, consumer):
    names = [f"{topic}-a", f"{topic}-b"]
    kafka.create_topics(names, 7)
    kafka.create_topic(topic, 64)

    assert list_partitions(consumer, names[0], timeout=5) == list(range(7))
    assert list_partitions(consumer, names[1], timeout=5) == list(range(7))
    assert list_partitions(consumer, topic, timeout=5) == list(range(64))


def test_recreating_a_topic_is_a_noop_but_another_partition_count_conflicts(kafka, topic):
    kafka.create_topic(topic, 3)
    kafka.create_topic(topic, 3)

    with pytest.raises(TopicConflictError, match="already exists with 3 partitions, not 5"):
        kafka.create_topic(topic, 5)


def test_another_process_can_produce_to_it(kafka, settings, topic, consumer):
    kafka.create_topic(topic, 2)
    script = textwrap.dedent(
        """
        import os, sys
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": os.environ["BOOTSTRAP"]})
        for i in range(100):
            producer.produce(sys.argv[1], f"from-child-{i}".encode(), partition=i % 2)
        sys.exit(producer.flush(20))
        """
    )
    env = {**os.environ, "BOOTSTRAP": kafka.bootstrap_servers}
    child = subprocess.run(
        [sys.executable, "-c", script, topic], env=env, capture_output=True, timeout=60
    )

    assert child.returncode == 0, child.stderr.decode()
    assert get_watermarks(consumer, topic, [0, 1], timeout=5) == {0: (0, 50), 1: (0, 50)}
    values = {v for _, _, _, v in consume_all(consumer, topic, {0: 0, 1: 0})}
    assert values == {f"from-child-{i}".encode() for i in range(100)}


def test_watermarks_count_what_was_produced_per_partition(kafka, settings, topic, consumer, admin):
    kafka.create_topic(topic, 3)
    producer = Producer(producer_config(settings))
    for partition, count in ((0, 10), (2, 25)):
        for i in range(count):
            producer.produce(topic, b"x", partition=partition, key=str(i).encode())
    assert producer.flush(10) == 0

    expected = {0: (0, 10), 1: (0, 0), 2: (0, 25)}
    assert get_watermarks(consumer, topic, [0, 1, 2], timeout=5) == expected
    assert get_watermarks(admin, topic, [0, 1, 2], timeout=5) == expected


def test_admin_watermarks_stay_fast_while_a_consumer_is_fetching(
    kafka, settings, topic, consumer, admin
):
    kafka.create_topic(topic, 64)
    produce(settings, topic, [(str(i).encode(), b"v") for i in range(640)])
    # Leaves the consumer long-polling all 64 partitions, as the ingest loop would.
    consume_all(consumer, topic, {p: 0 for p in range(64)})

    started = time.monotonic()
    watermarks = get_watermarks(admin, topic, range(64), timeout=5)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0, f"{elapsed:.2f} s for 64 partitions"
    assert sum(high for _, high in watermarks.values()) == 640
    assert all(low == 0 for low, _ in watermarks.values())


def _overflow_one_partition(kafka: EmbeddedKafka, settings: Settings, topic: str) -> int:
    """Produce 1.5x the mock's per-partition cap into partition 0; returns the count."""
    kafka.create_topic(topic, 1)
    value = b"p" * 300
    count = int(1.5 * MOCK_PARTITION_MAX_BYTES / len(value))
    # Uncompressed, so the log grows by the payload size and retention must kick in.
    produce(settings, topic, [(b"k", value)] * count, **{"compression.type": "none"})
    return count


def test_low_watermark_past_stored_offset_raises_with_lost_range(kafka, settings, topic, admin):
    produced = _overflow_one_partition(kafka, settings, topic)
    low, high = get_watermarks(admin, topic, [0], timeout=5)[0]
    assert high == produced
    assert 0 < low < high, "the mock's retention should have dropped the oldest batches"

    with pytest.raises(OffsetTruncatedError) as caught:
        check_not_truncated(topic, 0, stored_offset=0, low_watermark=low)

    error = caught.value
    assert (error.topic, error.partition, error.lost_from, error.lost_to) == (topic, 0, 0, low)
    assert error.lost_count == low
    assert f"[0, {low})" in str(error)
    assert f"analytics-platform ingest acknowledge-gap --topic {topic} --partition 0" in str(error)


def test_consumer_at_a_deleted_offset_gets_an_error_instead_of_skipping_ahead(
    kafka, settings, topic, consumer
):
    _overflow_one_partition(kafka, settings, topic)
    consumer.assign([TopicPartition(topic, 0, 0)])

    deadline = time.monotonic() + 10
    first = None
    while first is None and time.monotonic() < deadline:
        batch = consumer.consume(1, timeout=0.5)
        first = batch[0] if batch else None

    assert first is not None, "neither a message nor an error arrived"
    assert first.error() is not None, f"silently resumed at offset {first.offset()}"
    assert first.error().code() == KafkaError._AUTO_OFFSET_RESET


def test_stored_offset_at_or_past_low_watermark_is_not_truncated():
    check_not_truncated("t", 0, stored_offset=500, low_watermark=500)
    check_not_truncated("t", 0, stored_offset=900, low_watermark=500)
    check_not_truncated("t", 0, stored_offset=0, low_watermark=0)


def test_find_truncations_names_only_partitions_whose_offsets_were_deleted(
    kafka, settings, topic, admin
):
    kafka.create_topic(topic, 3)
    producer = Producer(producer_config(settings))
    for partition in range(3):
        for _ in range(100):
            producer.produce(topic, b"v", partition=partition)
    assert producer.flush(10) == 0
    kafka.delete_records(topic, 1, 40)
    kafka.delete_records(topic, 2, 10)
    watermarks = get_watermarks(admin, topic, range(3), timeout=5)

    truncations = find_truncations(topic, {0: 0, 1: 25, 2: 10}, watermarks)

    assert watermarks == {0: (0, 100), 1: (40, 100), 2: (10, 100)}
    assert [(t.partition, t.lost_from, t.lost_to) for t in truncations] == [(1, 25, 40)]


def test_find_truncations_refuses_stored_partitions_without_watermarks():
    with pytest.raises(ValueError, match=r"no watermarks for partitions \[3\]"):
        find_truncations("t", {0: 1, 3: 1}, {0: (0, 5)})


def test_truncation_error_keeps_its_range_across_pickling():
    error = pickle.loads(pickle.dumps(OffsetTruncatedError("t", 2, 10, 70)))

    assert (error.topic, error.partition, error.lost_from, error.lost_to) == ("t", 2, 10, 70)
    assert "[10, 70)" in str(error)


def test_deleting_records_beyond_the_log_is_refused(kafka, topic):
    kafka.create_topic(topic, 1)

    with pytest.raises(EmbeddedKafkaError, match="before offset 5 failed"):
        kafka.delete_records(topic, 0, 5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_broker_raises_kafka_unavailable_naming_bootstrap_servers():
    address = f"127.0.0.1:{_closed_port()}"
    settings = dataclasses.replace(load_settings({}), kafka_bootstrap_servers=address)

    with pytest.raises(KafkaUnavailableError) as caught:
        check_reachable(settings, timeout=0.5)

    assert address in str(caught.value)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(caught.value)


def test_metadata_and_watermarks_from_an_unreachable_broker_raise_kafka_unavailable():
    settings = dataclasses.replace(
        load_settings({}), kafka_bootstrap_servers=f"127.0.0.1:{_closed_port()}"
    )
    client = Consumer(consumer_config(settings))
    try:
        with pytest.raises(KafkaUnavailableError, match="KAFKA_BOOTSTRAP_SERVERS"):
            list_partitions(client, "analytics.transactions", timeout=0.5)
        with pytest.raises(KafkaUnavailableError, match=r"within 0\.5 s"):
            get_watermarks(client, "analytics.transactions", [0], timeout=0.5)
    finally:
        client.close()
    admin = AdminClient(admin_config(settings, logger=logging.getLogger("unreachable")))
    with pytest.raises(KafkaUnavailableError, match=r"within 0\.5 s"):
        get_watermarks(admin, "analytics.transactions", [0], timeout=0.5)


def test_reachable_embedded_kafka_passes_the_reachability_check(settings):
    check_reachable(settings, timeout=5)


def test_unknown_topic_raises_topic_not_found(consumer):
    with pytest.raises(TopicNotFoundError, match="topic 'does-not-exist' does not exist"):
        list_partitions(consumer, "does-not-exist", timeout=5)
    with pytest.raises(TopicNotFoundError, match="'does-not-exist' or its partition 0 does not"):
        get_watermarks(consumer, "does-not-exist", [0], timeout=5)


def test_watermarks_of_a_missing_partition_name_the_partition(kafka, topic, consumer, admin):
    kafka.create_topic(topic, 2)

    for client in (consumer, admin):
        with pytest.raises(TopicNotFoundError, match=f"'{topic}' or its partition 5 does not"):
            get_watermarks(client, topic, [0, 5], timeout=5)
    with pytest.raises(TopicNotFoundError, match="'does-not-exist' or its partition 0"):
        get_watermarks(admin, "does-not-exist", [0], timeout=5)


def test_platform_clients_never_auto_create_a_misspelt_topic(settings, topic, consumer):
    producer = Producer(producer_config(settings))

    # A metadata request is what would create it on a broker that allows auto-creation.
    with pytest.raises(TopicNotFoundError):
        list_partitions(producer, topic, timeout=5)
    with pytest.raises(TopicNotFoundError):
        list_partitions(AdminClient(admin_config(settings)), topic, timeout=5)
    with pytest.raises(TopicNotFoundError):
        list_partitions(consumer, topic, timeout=5)


def test_topic_name_prepends_the_configured_prefix():
    settings = load_settings({})

    assert topic_name(settings, "transactions") == "analytics.transactions"
    assert topic_name(settings, "wallet-balances") == "analytics.wallet-balances"
    with pytest.raises(ValueError, match="not a valid Kafka topic name"):
        topic_name(settings, "bad name")


def test_client_configs_follow_settings_and_accept_overrides(settings):
    consumer = consumer_config(settings, **{"group.id": "other"})
    producer = producer_config(settings, **{"linger.ms": 0})

    assert consumer["bootstrap.servers"] == settings.kafka_bootstrap_servers
    assert consumer["group.id"] == "other"
    assert consumer["enable.auto.commit"] is False
    assert consumer["fetch.queue.backoff.ms"] == 10
    assert producer["compression.type"] == "lz4"
    assert producer["acks"] == "all"
    assert producer["linger.ms"] == 0


def test_stopped_embedded_kafka_has_no_bootstrap_servers():
    embedded = EmbeddedKafka()
    with pytest.raises(EmbeddedKafkaError, match="not running"):
        _ = embedded.bootstrap_servers
    servers = embedded.start()
    assert servers.startswith("127.0.0.1:")
    assert embedded.start() == servers, "start() is idempotent"
    embedded.stop()
    embedded.stop()
    with pytest.raises(EmbeddedKafkaError, match="not running"):
        embedded.create_topic("t", 1)


def test_group_subscriber_joins_without_the_brokers_initial_rebalance_delay(kafka, settings, topic):
    kafka.create_topic(topic, 2)
    produce(settings, topic, [(b"k", b"v")])
    subscriber = Consumer(consumer_config(settings, **{"auto.offset.reset": "earliest"}))
    try:
        started = time.monotonic()
        subscriber.subscribe([topic])
        message = None
        while message is None and time.monotonic() - started < 10:
            message = subscriber.poll(0.1)
            if message is not None and message.error() is not None:
                message = None
        elapsed = time.monotonic() - started
    finally:
        subscriber.close()

    assert message is not None and message.value() == b"v"
    # Kafka's default group.initial.rebalance.delay.ms alone would cost 3 s.
    assert elapsed < 2.0, f"joining the group took {elapsed:.2f} s"
