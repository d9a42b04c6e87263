"""A live event stream for the demo: the generator's events, sent when their time comes.

The generator simulates whole days at a time; the stream simulates the day starting now
at a volume that makes about `events_per_second` events (all topics), and produces each
event once the clock reaches its `occurred_at`. Late and duplicate events keep their
place in the generated order, so they arrive late, as in production. A new day is
simulated (with a new seed, so event ids never repeat) when one runs out.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from confluent_kafka import Producer

from analytics_platform.dev.generator import GeneratedEvent, GeneratorConfig, generate_events
from analytics_platform.resources.kafka import producer_config
from analytics_platform.settings import Settings

# Events of all topics per transaction with the generator's default shape (measured:
# 5.47-5.58 for 10k-40k transactions a day).
EVENTS_PER_TRANSACTION = 5.5
SECONDS_PER_DAY = 86_400
# How often a waiting stream wakes up to see whether it was told to stop.
_STOP_CHECK_SECONDS = 0.5


def transactions_per_day(events_per_second: float) -> int:
    """Generator volume (transactions per day) that averages `events_per_second`."""
    return max(1, round(events_per_second * SECONDS_PER_DAY / EVENTS_PER_TRANSACTION))


def live_events(events_per_second: float, seed: int, start: datetime) -> Iterator[GeneratedEvent]:
    """Day after day of generated events from `start`, in the order they are sent."""
    day = 0
    while True:
        config = GeneratorConfig(
            seed=seed + day,
            days=1,
            events_per_day=transactions_per_day(events_per_second),
            start=start,
        )
        yield from generate_events(config)
        start = config.window_end
        day += 1


class LiveStream:
    """A thread producing `live_events` to Kafka in real time until `stop()`."""

    def __init__(
        self,
        settings: Settings,
        events_per_second: float,
        seed: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._events_per_second = events_per_second
        self._seed = seed
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-stream", daemon=True)
        self.produced: Counter[str] = Counter()
        self.error: BaseException | None = None

    def start(self) -> LiveStream:
        self._thread.start()
        return self

    def _wait_until(self, moment: datetime) -> bool:
        """Sleep until `moment`; False if told to stop first."""
        while True:
            left = (moment - self._clock()).total_seconds()
            if left <= 0:
                return not self._stop.is_set()
            if self._stop.wait(min(left, _STOP_CHECK_SECONDS)):
                return False

    def _run(self) -> None:
        producer = Producer(producer_config(self._settings))
        prefix = self._settings.kafka_topic_prefix
        try:
            for event in live_events(self._events_per_second, self._seed, self._clock()):
                if not self._wait_until(event.occurred_at):
                    break
                producer.produce(prefix + event.topic, value=event.value, key=event.key)
                producer.poll(0)
                self.produced[event.topic] += 1
        except BaseException as exc:  # reported by stop(); a thread cannot raise to its owner
            self.error = exc
        finally:
            producer.flush(10)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
