"""Where generated events go: JSON Lines files or Kafka topics, plus a count summary.

JSON Lines format (`write_jsonl` / `read_jsonl`): one file per topic, `<topic>.jsonl`,
one message per line, each line a JSON object holding the message exactly:

    {"key": "usr_3f9a0c1d2e4b", "value": "{\"event_id\":\"...\", ...}"}

`value` is the raw message text as a JSON string, so a message that is itself broken
JSON, or contains newlines, still takes exactly one line. A message (or key) that is
not valid UTF-8 is written as `value_base64` (or `key_base64`) instead; a missing
key is `"key": null`. Reading a file back yields the original bytes.

Kafka (`produce_to_kafka`): every event goes to `topic_prefix + topic`, keyed by its
entity id, and is never dropped: a full local queue is drained by polling and the
event retried, and any delivery failure makes the call raise after flushing.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import msgspec
from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from analytics_platform.dev.generator import TOPICS, GeneratedEvent

JSONL_SUFFIX = ".jsonl"
# Serving delivery callbacks this often keeps librdkafka's queue from filling up.
_POLL_EVERY = 1_000
_PROGRESS_EVERY = 10_000
_BUFFER_FULL_POLL_SECONDS = 0.1
_DEFAULT_FLUSH_TIMEOUT_SECONDS = 60.0
_ERRORS_KEPT = 5


class JsonlFormatError(ValueError):
    """A line of a generated JSON Lines file is not in the format `write_jsonl` writes."""


class KafkaDeliveryError(RuntimeError):
    """Some produced events were not acknowledged by Kafka."""


class _Line(msgspec.Struct, omit_defaults=True):
    key: str | None = None
    value: str | None = None
    key_base64: str | None = None
    value_base64: str | None = None


def _line(key: bytes | None, value: bytes) -> _Line:
    line = _Line()
    try:
        line.value = value.decode("utf-8")
    except UnicodeDecodeError:
        line.value_base64 = base64.b64encode(value).decode("ascii")
    if key is not None:
        try:
            line.key = key.decode("utf-8")
        except UnicodeDecodeError:
            line.key_base64 = base64.b64encode(key).decode("ascii")
    return line


def write_jsonl(events: Iterable[GeneratedEvent], directory: Path) -> dict[str, int]:
    """Write `events` to `<directory>/<topic>.jsonl` (replacing those files); count per topic.

    Only topics that occur get a file. See the module docstring for the line format.
    """
    directory.mkdir(parents=True, exist_ok=True)
    encoder = msgspec.json.Encoder()
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        files: dict[str, IO[bytes]] = {}
        for event in events:
            handle = files.get(event.topic)
            if handle is None:
                path = directory / f"{event.topic}{JSONL_SUFFIX}"
                handle = files[event.topic] = stack.enter_context(path.open("wb"))
            handle.write(encoder.encode(_line(event.key, event.value)) + b"\n")
            counts[event.topic] += 1
    return dict(counts)


def read_jsonl(path: Path) -> Iterator[tuple[bytes | None, bytes]]:
    """The (key, value) messages of a file written by `write_jsonl`, byte for byte."""
    decoder = msgspec.json.Decoder(_Line)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise JsonlFormatError(
                    f"{path}:{number}: not a generated JSON Lines record ({exc}); expected "
                    '{"key": ..., "value": ...} per line as written by write_jsonl'
                ) from None
            if line.value is not None:
                value = line.value.encode("utf-8")
            elif line.value_base64 is not None:
                value = base64.b64decode(line.value_base64)
            else:
                raise JsonlFormatError(
                    f"{path}:{number}: the record has neither 'value' nor 'value_base64'"
                )
            if line.key is not None:
                key: bytes | None = line.key.encode("utf-8")
            elif line.key_base64 is not None:
                key = base64.b64decode(line.key_base64)
            else:
                key = None
            yield key, value


class _DeliveryReport:
    """Collects failed deliveries reported by librdkafka (successes are not reported)."""

    def __init__(self) -> None:
        self.failed = 0
        self.examples: list[str] = []

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        self.failed += 1
        example = f"{message.topic()}: {error.str()}"
        if len(self.examples) < _ERRORS_KEPT and example not in self.examples:
            self.examples.append(example)

    def raise_if_failed(self, produced: int) -> None:
        if self.failed:
            raise KafkaDeliveryError(
                f"{self.failed} of {produced} events were not delivered to Kafka (e.g. "
                f"{'; '.join(self.examples)}); check that the brokers are reachable and the "
                "topics exist, then produce again (duplicates are dropped on ingest by event_id)"
            )


def produce_to_kafka(
    events: Iterable[GeneratedEvent],
    producer_config: dict[str, Any],
    topic_prefix: str,
    total: int | None,
    progress: bool = True,
    flush_timeout: float = _DEFAULT_FLUSH_TIMEOUT_SECONDS,
) -> dict[str, int]:
    """Produce every event to `topic_prefix + event.topic`; returns the count per topic.

    Raises KafkaDeliveryError if any event was not acknowledged, or if some were still
    in flight after `flush_timeout` seconds. `total` only sizes the progress bar.
    """
    report = _DeliveryReport()
    # Successes need no callback; only failures are reported, which keeps the
    # per-message overhead of delivery reports out of the hot loop.
    producer = Producer(
        {**producer_config, "on_delivery": report, "delivery.report.only.error": True}
    )
    counts: Counter[str] = Counter()
    topic_names = {topic: topic_prefix + topic for topic in TOPICS}
    produced = 0
    with tqdm(total=total, unit="ev", unit_scale=True, disable=not progress) as bar:
        for event in events:
            topic = topic_names.get(event.topic) or topic_prefix + event.topic
            while True:
                try:
                    producer.produce(topic, value=event.value, key=event.key)
                    break
                except BufferError:
                    # The local queue is full: let librdkafka send some, then retry this event.
                    producer.poll(_BUFFER_FULL_POLL_SECONDS)
                    # A broker that fails every delivery would otherwise be fed for ever.
                    report.raise_if_failed(produced)
            counts[event.topic] += 1
            produced += 1
            if produced % _POLL_EVERY == 0:
                producer.poll(0)
                if produced % _PROGRESS_EVERY == 0:
                    bar.update(_PROGRESS_EVERY)
        bar.update(produced % _PROGRESS_EVERY)
        remaining = producer.flush(flush_timeout)
    report.raise_if_failed(produced)
    if remaining:
        raise KafkaDeliveryError(
            f"{remaining} of {produced} events were still unacknowledged after "
            f"{flush_timeout:g} s; check that the brokers are reachable, or allow a "
            "longer flush_timeout"
        )
    return dict(counts)


def summarize_counts(counts: Mapping[str, int]) -> str:
    """A small table of events per topic (contract topics first), with shares and a total."""
    known = [topic for topic in TOPICS if topic in counts]
    rows = known + sorted(topic for topic in counts if topic not in TOPICS)
    total = sum(counts.values())
    width = max([len("topic"), len("total"), *(len(topic) for topic in rows)])
    numbers = max(len(f"{total:,}"), len("events"))
    lines = [f"{'topic':<{width}}  {'events':>{numbers}}  {'share':>6}"]
    for topic in rows:
        share = counts[topic] / total if total else 0.0
        lines.append(f"{topic:<{width}}  {counts[topic]:>{numbers},}  {share:>6.1%}")
    lines.append(f"{'total':<{width}}  {total:>{numbers},}  {1.0 if total else 0.0:>6.1%}")
    return "\n".join(lines)
