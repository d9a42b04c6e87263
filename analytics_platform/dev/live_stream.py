"""A live event stream for the demo: the history's world carried on, each event sent when
its time comes.

The stream continues the very simulation that made the demo's history
(`Simulation.continue_after_window`): the same users and merchants, their tastes and
their wallet balances, so a user or merchant seen in `/realtime` has a history too. It
simulates a day at a time from the history's end, at a volume that makes about
`events_per_second` events (all topics), and produces each event once the clock
reaches its `occurred_at`; the minutes between the history's end and the stream's
start are sent at once. Late and duplicate events keep their place in the generated
order, so they arrive late, as in production.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from confluent_kafka import Producer

from analytics_platform.dev.generator import GeneratedEvent, Simulation
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


def live_events(history: Simulation, events_per_second: float) -> Iterator[GeneratedEvent]:
    """Day after day of events after `history`'s window (its `run()` exhausted), in the
    order they are sent."""
    return history.continue_after_window(transactions_per_day(events_per_second))


class LiveStream:
    """A thread producing `events` (`live_events`) to Kafka in real time until `stop()`."""

    def __init__(
        self,
        settings: Settings,
        events: Iterator[GeneratedEvent],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._events = events
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
            for event in self._events:
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
