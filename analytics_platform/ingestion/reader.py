"""Reading explicit offset ranges of one topic: `assign()`, never a group rebalance.

The consumer is positioned from the offsets stored in the database and reads up to an
end offset per partition (the high watermark when the read began, or what a catch-up
run was given), so every read is a bounded, repeatable range.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from analytics_platform.resources.kafka import (
    KafkaStalledError,
    admin_config,
    consumer_config,
    get_watermarks,
    list_partitions,
    with_retries,
)
from analytics_platform.settings import Settings

# How long a following reader waits for more before writing what it has.
_FOLLOW_SLICE_SECONDS = 0.2
# librdkafka's close can wait without end for a coordinator that went away with the
# brokers (seen: 16 minutes with every mock broker down). The database holds the offsets,
# so nothing is lost by not waiting for the consumer to say goodbye.
_CLOSE_WAIT_SECONDS = 2.0

log = logging.getLogger(__name__)


class KafkaReadError(RuntimeError):
    """The broker reported an error for a partition being read."""


@dataclass
class MessageBatch:
    """Messages read, with each one's partition and offset."""

    messages: list[Message]
    partitions: list[int]
    offsets: list[int]
    values: list[bytes | None]


class TopicReader:
    """A consumer over one topic, assigned at explicit offsets. Close it when done."""

    def __init__(self, settings: Settings, topic: str, **overrides: Any) -> None:
        self.topic = topic
        self.settings = settings
        self.consumer = Consumer(
            consumer_config(settings, **{"error_cb": self._on_error, **overrides})
        )
        self._admin: AdminClient | None = None
        self._position: dict[int, int] = {}
        self._end: dict[int, int] = {}
        self._following = False
        self._stall_seconds = float(settings.ingest_stall_seconds)
        self._last_progress = time.monotonic()
        self._broker_error: KafkaError | None = None

    def _on_error(self, error: KafkaError) -> None:
        # librdkafka reports lost connections here (and keeps retrying on its own): a
        # read that then gets nothing knows why, and says so instead of waiting quietly.
        self._broker_error = error

    @property
    def admin(self) -> AdminClient:
        """Metadata and watermarks for all partitions in one request per broker (a
        consumer asks one partition at a time, behind its pending fetches)."""
        if self._admin is None:
            self._admin = AdminClient(admin_config(self.settings))
        return self._admin

    def partitions(self, timeout: float = 10.0) -> list[int]:
        return with_retries(
            lambda: list_partitions(self.admin, self.topic, timeout),
            f"{self.topic}: reading partitions",
            self.settings.kafka_retry_seconds,
        )

    def watermarks(
        self, partitions: list[int], timeout: float = 10.0
    ) -> dict[int, tuple[int, int]]:
        return with_retries(
            lambda: get_watermarks(self.admin, self.topic, partitions, timeout),
            f"{self.topic}: reading watermarks",
            self.settings.kafka_retry_seconds,
        )

    def assign(
        self,
        start: Mapping[int, int],
        end: Mapping[int, int] | None,
        known_end: Mapping[int, int] | None = None,
    ) -> None:
        """Read [start[p], end[p]) of every partition that has something to read, or,
        with `end=None`, follow every partition from `start` as messages arrive
        (`known_end`: the high watermarks read before, the lag until a fetch says more)."""
        if end is None:
            self._position = dict(start)
            self._end = dict(known_end or {})
        else:
            self._position = {p: start[p] for p in start if start[p] < end.get(p, start[p])}
            self._end = {p: end[p] for p in self._position}
        self._following = end is None
        self._last_progress = time.monotonic()
        self.consumer.assign(
            [TopicPartition(self.topic, p, offset) for p, offset in self._position.items()]
        )

    @property
    def remaining(self) -> int:
        """Messages left to read: in the assigned ranges, or (following) up to the high
        watermarks of the latest fetch responses, which cost no broker round trip."""
        if not self._following:
            return sum(self._end[p] - self._position[p] for p in self._position)
        lag = 0
        for partition, position in self._position.items():
            marks = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), cached=True
            )
            # Before the partition's first fetch response the cache knows nothing (-1001):
            # the watermark read at assign time still holds, not "nothing left".
            high = marks[1] if marks is not None and marks[1] >= 0 else -1
            lag += max(0, max(high, self._end.get(partition, position)) - position)
        return lag

    @property
    def done(self) -> bool:
        return not self._following and self.remaining <= 0

    def read_batch(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to `max_messages` in offset order per partition, none past the end offsets."""
        return self.read(max_messages, timeout).messages

    def read(self, max_messages: int, timeout: float) -> MessageBatch:
        """Up to `max_messages` in offset order per partition, none past the end offsets,
        with their partitions and offsets (which the loader needs too).

        Bounded ranges return early once drained; a following reader returns as soon as
        it has caught up with what the broker holds (or after `timeout`), so fresh
        events are written within a fraction of a second.
        """
        batch = MessageBatch([], [], [], [])
        deadline = time.monotonic() + timeout
        while not self.done and len(batch.messages) < max_messages:
            wait = deadline - time.monotonic()
            if wait <= 0:
                break
            # consume() waits until it has `num` messages or the timeout passes: a bounded
            # read never asks for more than its ranges hold; a following one polls in short
            # slices and stops at the first slice that comes back short.
            if self._following:
                wanted = min(max_messages - len(batch.messages), 10_000)
                wait = min(wait, _FOLLOW_SLICE_SECONDS)
            else:
                wanted = min(max_messages - len(batch.messages), self.remaining, 10_000)
            messages = self.consumer.consume(wanted, wait)
            if messages:
                self._last_progress = time.monotonic()
                self._broker_error = None
            else:
                self._check_stalled()
            self._take(messages, batch)
            if self._following and batch.messages and len(messages) < wanted:
                break
        return batch

    def _check_stalled(self) -> None:
        """Raise KafkaStalledError once nothing has arrived for `INGEST_STALL_SECONDS`
        while messages remain to read or while the brokers are reported unreachable
        (a following read with no error simply has nothing new)."""
        silent = time.monotonic() - self._last_progress
        if silent < self._stall_seconds:
            return
        error = self._broker_error
        waiting = not self._following and self.remaining > 0
        if error is None and not waiting:
            return
        what = f"{self.remaining:,} messages remain to read" if waiting else "following"
        cause = (
            f"the last broker error was {error.name()}: {error.str()}"
            if error is not None
            else "no broker error was reported"
        )
        if not waiting:
            # A quiet topic is normal when following, and librdkafka also reports
            # transient errors (an idle connection closed) that it recovers from: ask the
            # cluster before calling it a stall.
            try:
                self.consumer.list_topics(self.topic, timeout=min(5.0, self._stall_seconds))
            except KafkaException as exc:
                cause += f"; asking for the topic's metadata failed too ({exc})"
            else:
                self._broker_error = None
                self._last_progress = time.monotonic()
                return
        raise KafkaStalledError(
            f"{self.topic}: nothing received from Kafka for {silent:.0f} s while {what}; "
            f"{cause}. Check that the brokers at {self.settings.kafka_bootstrap_servers} are "
            "up and lead these partitions; the next run resumes from the stored offsets "
            "(INGEST_STALL_SECONDS sets how long a read waits)."
        )

    def _take(self, messages: list[Message], batch: MessageBatch) -> None:
        """Append the messages inside the read ranges to `batch`, advancing positions.

        Whole-list operations rather than a Python loop over messages: at 150k
        messages/s every bytecode per message costs about 1% of a core.
        """
        # Identity, not `==`: KafkaError.__eq__(None) leaves a TypeError pending
        # (confluent-kafka 2.16), which the next call then raises as a SystemError.
        if any(e is not None for e in map(Message.error, messages)):
            messages = [m for m in messages if self._not_eof(m)]
        partitions = list(map(Message.partition, messages))
        offsets = list(map(Message.offset, messages))
        # Offsets grow within a partition, so dict() keeps each partition's last one.
        last = dict(zip(partitions, offsets, strict=True))
        ends = self._end
        if not self._following and any(o >= ends.get(p, -1) for p, o in last.items()):
            inside = [o < ends.get(p, -1) for p, o in zip(partitions, offsets, strict=True)]
            # Past its end offset a partition is drained: stop fetching it.
            for partition in {p for p, k in zip(partitions, inside, strict=True) if not k}:
                if partition in ends:
                    self._pause(partition)
            messages = [m for m, k in zip(messages, inside, strict=True) if k]
            partitions = [p for p, k in zip(partitions, inside, strict=True) if k]
            offsets = [o for o, k in zip(offsets, inside, strict=True) if k]
            last = dict(zip(partitions, offsets, strict=True))
        for partition, offset in last.items():
            self._position[partition] = offset + 1
            if not self._following and offset + 1 >= ends[partition]:
                self._pause(partition)
        batch.messages.extend(messages)
        batch.partitions.extend(partitions)
        batch.offsets.extend(offsets)
        # Now, while the messages are still in the CPU cache.
        batch.values.extend(map(Message.value, messages))

    def _not_eof(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        raise KafkaReadError(f"{self.topic} [{message.partition()}] read failed: {error.str()}")

    def _pause(self, partition: int) -> None:
        # A drained partition keeps fetching (and buffering) past the end otherwise.
        self.consumer.pause([TopicPartition(self.topic, partition)])

    def commit_async(self, next_offsets: Mapping[int, int]) -> None:
        """Mirror stored offsets to Kafka so standard lag tools see the group (a hint only)."""
        if not next_offsets:
            return
        # The database holds the truth; a failed hint is simply sent again next batch.
        with contextlib.suppress(KafkaException):
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in next_offsets.items()],
                asynchronous=True,
            )

    def close(self) -> None:
        closer = threading.Thread(
            target=self.consumer.close, name=f"close consumer of {self.topic}", daemon=True
        )
        closer.start()
        closer.join(_CLOSE_WAIT_SECONDS)
        if closer.is_alive():
            log.warning(
                "%s: the Kafka consumer did not close within %.0f s (brokers unreachable?); "
                "left closing in the background",
                self.topic,
                _CLOSE_WAIT_SECONDS,
            )
        # An admin client left to the garbage collector keeps reconnecting meanwhile.
        self._admin = None
