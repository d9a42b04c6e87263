"""The generator's events of some topics in batches of one topic's UTC day, drawn in a
child process so that whoever loads them (decoding, COPY) works beside it on another core.

The simulation itself is one sequential stream (wallet balances, transfers between
users and the tastes' drift carry from event to event and day to day), so it runs in
one process whatever `processes` says: the events, their order and the batches are the
generator's, identical with 1 or 2 processes. What the second process buys is overlap:
the generator draws day N+1 while the caller decodes and writes day N.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from analytics_platform.dev import world as w
from analytics_platform.dev.generator import TOPICS, GeneratorConfig, generate_event_rows

# Batches the child may draw ahead of the caller: enough to keep both busy, few
# enough to bound memory (a topic's day at 200,000 users is about 150 MB).
_AHEAD = 3
_EPOCH_DAY = date(1970, 1, 1)


class DayBatch(NamedTuple):
    """The events of one topic dated in one UTC day, in the generator's order."""

    topic: str
    day: date
    keys: list[bytes]
    values: list[bytes]


class LateEventError(RuntimeError):
    """An event came after its topic's day was handed out (late_fraction must be 0)."""


def day_batches(
    config: GeneratorConfig, topics: Sequence[str], processes: int = 1
) -> Iterator[DayBatch]:
    """`config`'s events of `topics` dated inside its window, one batch per topic and
    UTC day, each handed out once the stream has moved two days past it (the generator
    dates nothing more than an hour back), topics in alphabetical order within a day.
    With `processes=2` the generator runs in a child process; the batches are the same."""
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:
        raise ValueError(f"unknown topics {unknown}: choose among {list(TOPICS)}")
    if processes == 1:
        return _batches(config, tuple(topics))
    if processes == 2:
        return _from_child(config, tuple(topics))
    raise ValueError(f"processes={processes}: 1 (inline) or 2 (generator in a child process)")


def _batches(config: GeneratorConfig, topics: tuple[str, ...]) -> Iterator[DayBatch]:
    wanted = {TOPICS.index(name): name for name in topics}
    start_day = config.window_start.date()
    end_us = (config.window_end - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    per_day = w.MICROS_PER_DAY
    # (topic index, days since the epoch) -> (keys, values)
    pending: dict[tuple[int, int], tuple[list[bytes], list[bytes]]] = {}
    handed_out = -1  # days since the epoch up to which every batch was handed out
    latest = (start_day - _EPOCH_DAY).days

    def batch(key: tuple[int, int]) -> DayBatch:
        keys, values = pending.pop(key)
        return DayBatch(wanted[key[0]], _EPOCH_DAY + timedelta(days=key[1]), keys, values)

    def order(key: tuple[int, int]) -> tuple[int, str]:
        return key[1], wanted[key[0]]

    for topic, key, value, micros in generate_event_rows(config):
        if topic not in wanted or micros >= end_us:
            continue
        day = micros // per_day
        lists = pending.get((topic, day))
        if lists is None:
            if day <= handed_out:
                raise LateEventError(
                    f"{TOPICS[topic]}: an event of {_EPOCH_DAY + timedelta(days=day)} came "
                    "after that day was handed out; the generator emitted it over a day "
                    "late (late_fraction must be 0)"
                )
            lists = pending[(topic, day)] = ([], [])
        lists[0].append(key)
        lists[1].append(value)
        if day > latest:
            latest = day
            handed_out = day - 2
            for done in sorted((k for k in pending if k[1] <= handed_out), key=order):
                yield batch(done)
    for done in sorted(pending, key=order):
        yield batch(done)


def _produce(config: GeneratorConfig, topics: tuple[str, ...], out: multiprocessing.Queue) -> None:
    """The child: every batch into `out`, then None; an error as its text."""
    try:
        for one in _batches(config, topics):
            out.put(one)
        out.put(None)
    except BaseException as exc:  # the parent raises it; a child cannot
        out.put(f"{type(exc).__name__}: {exc}")
        raise


def _from_child(config: GeneratorConfig, topics: tuple[str, ...]) -> Iterator[DayBatch]:
    # spawn, not fork: the caller may hold threads and connections a fork would copy.
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue(maxsize=_AHEAD)
    child = context.Process(
        target=_produce, args=(config, topics, out), name="generator-days", daemon=True
    )
    child.start()
    try:
        while True:
            try:
                item = out.get(timeout=5.0)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"the generator's process ended (exit code {child.exitcode}) "
                        "without finishing its batches"
                    ) from None
                continue
            if item is None:
                break
            if isinstance(item, str):
                raise RuntimeError(f"the generator's process failed: {item}")
            yield item
        child.join()
    finally:
        if child.is_alive():
            # The caller stopped early (or failed): nobody reads the rest.
            child.terminate()
            child.join()
        out.close()
