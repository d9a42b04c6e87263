"""Kafka access for the platform: client settings, topic names, partitions, watermarks.

Plain functions over confluent-kafka clients (no Dagster here), so ingestion can be
tested against the embedded Kafka without an orchestrator.

The platform consumes by explicit `assign()` at offsets read from `ingest.offsets`:
the database is the only truth about what was ingested. The danger that follows is
retention: if Kafka deleted messages the platform never ingested, the partition's low
watermark has moved past the stored offset. That must stop ingestion loudly
(`OffsetTruncatedError`), never skip ahead silently; an operator acknowledges the gap.

Metadata and watermarks are best asked of an admin client (`admin_config`): it batches
all partitions in one request and never queues behind a consumer's long-poll fetch.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from analytics_platform.settings import Settings

CLIENT_ID = "analytics-platform"
_T = TypeVar("_T")
_LOG = logging.getLogger(__name__)

# Kafka's own rule for topic names (kafka.common.internals.Topic).
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

# Client-side codes librdkafka uses when no broker answered in time.
_UNREACHABLE_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
    }
)
_UNKNOWN_TOPIC_CODES = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        # The admin client's "no partition leaders found" for a topic it cannot see.
        KafkaError._NOENT,
    }
)


# Broker answers that mean "not now" (a leader election, a broker restarting, a slow
# request): asked again a moment later they usually succeed. librdkafka flags most as
# retriable itself; these are the ones ingestion's own calls meet.
_RETRIABLE_CODES = frozenset(
    {
        *_UNREACHABLE_CODES,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError._WAIT_COORD,
        KafkaError._NOT_IMPLEMENTED,
    }
)
_FIRST_RETRY_SECONDS = 0.2
_LONGEST_RETRY_SECONDS = 5.0


class KafkaAccessError(Exception):
    """Base of the errors this module raises about Kafka."""


class KafkaUnavailableError(KafkaAccessError, ConnectionError):
    """No broker answered within the timeout."""

    def __init__(self, timeout: float, detail: str, bootstrap_servers: str | None = None) -> None:
        where = f"at {bootstrap_servers}" if bootstrap_servers else "(KAFKA_BOOTSTRAP_SERVERS)"
        super().__init__(
            f"Kafka {where} did not answer within {timeout:g} s: {detail}. Check that "
            "KAFKA_BOOTSTRAP_SERVERS lists running brokers reachable from this host (for "
            "the embedded Kafka: that the process which started it is still running)."
        )
        self.timeout = timeout
        self.bootstrap_servers = bootstrap_servers


class KafkaRetriesExhaustedError(KafkaAccessError, ConnectionError):
    """A retriable broker error persisted through every retry within the budget."""


class KafkaStalledError(KafkaAccessError, ConnectionError):
    """A read got nothing from Kafka for too long while the brokers were in trouble."""


class TopicNotFoundError(KafkaAccessError, LookupError):
    """The broker does not know the topic (or that partition of it)."""

    def __init__(self, topic: str, partition: int | None = None) -> None:
        # The broker answers the same code for both, so a partition lookup cannot tell.
        what = f"topic {topic!r}" + ("" if partition is None else f" or its partition {partition}")
        super().__init__(
            f"{what} does not exist on the Kafka cluster. Create the topic with the "
            "partitions the platform expects (the embedded Kafka does so at start with "
            "KAFKA_TOPIC_PARTITIONS; on a real cluster use kafka-topics.sh --create), or "
            "check KAFKA_TOPIC_PREFIX."
        )
        self.topic = topic
        self.partition = partition


class OffsetTruncatedError(KafkaAccessError):
    """Retention deleted messages of a partition before the platform ingested them.

    `lost_from` is the stored next offset and `lost_to` the partition's low watermark:
    offsets in [lost_from, lost_to) are gone from Kafka and were never ingested.
    """

    def __init__(self, topic: str, partition: int, lost_from: int, lost_to: int) -> None:
        self.topic = topic
        self.partition = partition
        self.lost_from = lost_from
        self.lost_to = lost_to
        super().__init__(
            f"{topic} [{partition}]: Kafka no longer holds offsets [{lost_from}, {lost_to}) "
            f"({self.lost_count} messages): retention deleted them before they were "
            f"ingested (stored next offset {lost_from}, low watermark {lost_to}). Ingestion "
            "of this partition is stopped rather than skipping them silently. Re-publish "
            "the lost events from their source if you can, then have an operator "
            "acknowledge the gap so ingestion resumes at the low watermark: "
            f"`analytics-platform ingest acknowledge-gap --topic {topic} "
            f"--partition {partition}`."
        )

    @property
    def lost_count(self) -> int:
        return self.lost_to - self.lost_from

    def __reduce__(self) -> tuple[type[OffsetTruncatedError], tuple[str, int, int, int]]:
        # Keeps the attributes when the error crosses a process boundary (Dagster runs).
        return (type(self), (self.topic, self.partition, self.lost_from, self.lost_to))


class MetadataClient(Protocol):
    """What Consumer, Producer and AdminClient have in common for metadata."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any: ...


def topic_name(settings: Settings, short_name: str) -> str:
    """The full topic name: `KAFKA_TOPIC_PREFIX` + short name ("analytics.transactions")."""
    name = settings.kafka_topic_prefix + short_name
    if not short_name or not _TOPIC_NAME.match(name):
        raise ValueError(
            f"{name!r} (KAFKA_TOPIC_PREFIX={settings.kafka_topic_prefix!r} + "
            f"{short_name!r}) is not a valid Kafka topic name: use 1-249 characters "
            "among letters, digits, '.', '_' and '-'"
        )
    return name


def consumer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings for the platform's consumers; `overrides` win.

    Keys of `overrides` are librdkafka property names as they are, so dotted names go
    through a dict: `consumer_config(settings, **{"group.id": "other"})`.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": CLIENT_ID,
        # Offsets are committed to Kafka only after the database transaction that
        # stored them, and only so that lag tools can see progress.
        "group.id": settings.kafka_consumer_group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # An assigned offset outside the log means data was lost or the topic was
        # recreated: report it as an error instead of jumping to earliest/latest.
        "auto.offset.reset": "error",
        # Bounded reads (up to a high watermark, within a sensor tick) learn that a
        # partition is drained at once instead of waiting out a poll timeout.
        "enable.partition.eof": True,
        # Default backoff (1 s) caps a consumer at ~150-280k msgs/s; 10 ms gives ~1.2M/s.
        "fetch.queue.backoff.ms": 10,
        # The platform assigns partitions and never joins the group, so this only bounds
        # how long close() waits for the last offset hint when the group coordinator is
        # unreachable: 45 s by default (measured with one broker of three down), for a
        # hint the database does not need.
        "session.timeout.ms": 2000,
    }
    config.update(overrides)
    return config


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings for producers (the generator, the demo, replays); `overrides` win."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": CLIENT_ID,
        "acks": "all",
        # A misspelt topic must fail, not silently appear with the broker's default
        # partition count (4 on the embedded Kafka, whose retention is per partition).
        "allow.auto.create.topics": False,
        # Retries never duplicate or reorder a partition's events.
        "enable.idempotence": True,
        # JSON events compress well, and the embedded Kafka's per-partition retention
        # counts compressed batch bytes, so lz4 also multiplies what it keeps.
        "compression.type": "lz4",
        # Fuller batches compress better; 20 ms is invisible next to ingestion ticks.
        "linger.ms": 20,
    }
    config.update(overrides)
    return config


def admin_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings for the admin client (metadata, watermarks); `overrides` win."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": CLIENT_ID,
        # Admin clients are producers inside librdkafka and would inherit its default
        # (true): asking for a missing topic's metadata would create it.
        "allow.auto.create.topics": False,
    }
    config.update(overrides)
    return config


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def _raise_for(
    exc: KafkaException, topic: str, timeout: float, partition: int | None = None
) -> None:
    """Re-raise the failures callers can act on as this module's errors."""
    error = _kafka_error(exc)
    if error is None:
        return
    if error.code() in _UNREACHABLE_CODES:
        raise KafkaUnavailableError(timeout, error.str()) from exc
    if error.code() in _UNKNOWN_TOPIC_CODES:
        raise TopicNotFoundError(topic, partition) from exc


def is_retriable(exc: BaseException) -> bool:
    """Whether asking again later may succeed: no broker answered in time, or it said so."""
    if isinstance(exc, KafkaUnavailableError):
        return True
    if isinstance(exc, KafkaException):
        error = _kafka_error(exc)
        return error is not None and (error.retriable() or error.code() in _RETRIABLE_CODES)
    return False


def _detail(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and (error := _kafka_error(exc)) is not None:
        return f"{error.name()}: {error.str()}"
    return str(exc)


def with_retries(call: Callable[[], _T], what: str, budget_seconds: float) -> _T:
    """`call()`, asked again with exponential back-off (0.2 s doubling up to 5 s) while it
    fails with a retriable broker error (`is_retriable`) and `budget_seconds` last.

    Each retry is logged with the error; when the budget is spent the last error is
    raised as KafkaRetriesExhaustedError, which says what was tried and for how long.
    """
    started = time.monotonic()
    delay = _FIRST_RETRY_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            return call()
        except (KafkaException, KafkaUnavailableError) as exc:
            if not is_retriable(exc):
                raise
            spent = time.monotonic() - started
            if spent + delay > budget_seconds:
                raise KafkaRetriesExhaustedError(
                    f"{what} failed {attempts} times over {spent:.1f} s with retriable "
                    f"broker errors, the last: {_detail(exc)}. The brokers may be restarting "
                    "or electing leaders: the next run tries again (KAFKA_RETRY_SECONDS "
                    "sets how long one run keeps trying)."
                ) from exc
            _LOG.warning(
                "%s: %s (attempt %d); retrying in %.1f s", what, _detail(exc), attempts, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, _LONGEST_RETRY_SECONDS)


def list_partitions(client: MetadataClient, topic: str, timeout: float) -> list[int]:
    """The topic's partition ids, sorted, from broker metadata.

    Raises KafkaUnavailableError if no broker answers within `timeout` seconds and
    TopicNotFoundError if the topic does not exist. Pass a consumer, or a producer or
    admin client built with `allow.auto.create.topics=false`: with librdkafka's default
    for those (true) the metadata request itself creates a missing topic on brokers that
    allow it, the embedded Kafka included, with its default of 4 partitions.
    """
    try:
        metadata = client.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        _raise_for(exc, topic, timeout)
        raise
    found = metadata.topics.get(topic)
    if found is None:
        raise TopicNotFoundError(topic)
    if found.error is not None:
        if found.error.code() in _UNKNOWN_TOPIC_CODES:
            raise TopicNotFoundError(topic)
        raise KafkaException(found.error)
    return sorted(found.partitions)


def get_watermarks(
    client: Consumer | AdminClient, topic: str, partitions: Iterable[int], timeout: float
) -> dict[int, tuple[int, int]]:
    """`{partition: (low, high)}` as the partition leaders report them now.

    `low` is the oldest offset still held (retention moves it), `high` the offset the
    next message will get. `timeout` bounds the whole call, not each partition.

    Prefer an AdminClient (`admin_config`): one batched request for all partitions. A
    Consumer costs one round trip per partition and, once it has an assignment and is
    fetching, each of those waits behind its pending long-poll fetch
    (`fetch.wait.max.ms`, 500 ms): 64 partitions took 26 s that way, 3 ms via admin.
    """
    wanted = list(partitions)
    if not wanted:
        return {}
    if isinstance(client, AdminClient):
        return _admin_watermarks(client, topic, wanted, timeout)
    deadline = time.monotonic() + timeout
    watermarks: dict[int, tuple[int, int]] = {}
    for partition in wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KafkaUnavailableError(
                timeout,
                f"watermarks of {topic} were fetched for {len(watermarks)} of "
                f"{len(wanted)} partitions only",
            )
        try:
            offsets = client.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=remaining, cached=False
            )
        except KafkaException as exc:
            _raise_for(exc, topic, timeout, partition)
            raise
        if offsets is None:
            raise KafkaUnavailableError(
                timeout, f"no watermarks returned for {topic} [{partition}]"
            )
        watermarks[partition] = (offsets[0], offsets[1])
    return watermarks


def _admin_watermarks(
    admin: AdminClient, topic: str, partitions: list[int], timeout: float
) -> dict[int, tuple[int, int]]:
    deadline = time.monotonic() + timeout
    # Read-uncommitted "latest" is the high watermark, as a consumer reports it.
    requests = {
        bound: admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions},
            isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=timeout,
        )
        for bound, spec in (("low", OffsetSpec.earliest()), ("high", OffsetSpec.latest()))
    }
    offsets: dict[str, dict[int, int]] = {"low": {}, "high": {}}
    for bound, futures in requests.items():
        for tp, future in futures.items():
            try:
                offsets[bound][tp.partition] = future.result(
                    timeout=max(deadline - time.monotonic(), 0.001)
                ).offset
            except FutureTimeoutError:
                raise KafkaUnavailableError(
                    timeout, f"no offsets for {topic} [{tp.partition}] in time"
                ) from None
            except KafkaException as exc:
                _raise_for(exc, topic, timeout, tp.partition)
                raise
    return {p: (offsets["low"][p], offsets["high"][p]) for p in partitions}


def check_not_truncated(topic: str, partition: int, stored_offset: int, low_watermark: int) -> None:
    """Raise OffsetTruncatedError if retention deleted offsets not yet ingested.

    `stored_offset` is the next offset to ingest (from `ingest.offsets`). Equal to the
    low watermark is fine: nothing before it was needed.
    """
    if stored_offset < low_watermark:
        raise OffsetTruncatedError(topic, partition, stored_offset, low_watermark)


def find_truncations(
    topic: str, stored: Mapping[int, int], watermarks: Mapping[int, tuple[int, int]]
) -> list[OffsetTruncatedError]:
    """Every partition of `stored` whose next offset retention has already deleted.

    Returned rather than raised, so one report can name all the gaps of a topic.
    Partitions without a stored offset are not judged: where a new partition starts is
    the caller's policy.
    """
    missing = sorted(set(stored) - set(watermarks))
    if missing:
        raise ValueError(
            f"{topic}: no watermarks for partitions {missing} that have stored offsets; "
            "fetch watermarks for every stored partition (get_watermarks)"
        )
    truncations: list[OffsetTruncatedError] = []
    for partition in sorted(stored):
        try:
            check_not_truncated(topic, partition, stored[partition], watermarks[partition][0])
        except OffsetTruncatedError as exc:
            truncations.append(exc)
    return truncations


def check_reachable(settings: Settings, timeout: float) -> None:
    """Raise KafkaUnavailableError, naming the servers, unless a broker answers in time."""
    # The probe's connection-refused retries would print to stderr every 50 ms;
    # the error raised below says it once.
    consumer = Consumer(consumer_config(settings, logger=_LOG))
    try:
        consumer.list_topics(timeout=timeout)
    except KafkaException as exc:
        error = _kafka_error(exc)
        detail = error.str() if error is not None else str(exc)
        raise KafkaUnavailableError(timeout, detail, settings.kafka_bootstrap_servers) from exc
    finally:
        consumer.close()
