"""The export's hand-over from its worker threads to the response (api/threaded_stream.py):
parts in turn, bounded, unwinding the producers when the reader leaves, and passing a
producer's errors on. The export through it is tested in test_reports.py and
test_export_archive.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator

import pytest

from analytics_platform.api.threaded_stream import PART_END, PartEnd, threaded_stream


class Producer:
    """Counts the chunks it made and whether its generator was closed (its with-blocks,
    e.g. a COPY and a connection, ended)."""

    def __init__(self, total: int | None = None) -> None:
        self.made = 0
        self.total = total
        self.closed = threading.Event()
        self.thread: str | None = None

    def __call__(self) -> Generator[bytes]:
        self.thread = threading.current_thread().name
        try:
            while self.total is None or self.made < self.total:
                self.made += 1
                yield b"row\n" * 10
        finally:
            self.closed.set()


def test_the_stream_yields_every_chunk_of_the_producer_made_in_another_thread() -> None:
    producer = Producer(total=50)

    async def read() -> list[bytes]:
        return [chunk async for chunk in threaded_stream([producer], depth=2, name="producer")]

    chunks = asyncio.run(read())
    assert len(chunks) == 50 and b"".join(chunks) == b"row\n" * 500
    assert producer.thread == "producer-0" != threading.current_thread().name
    assert producer.closed.is_set()


def test_a_reader_that_leaves_early_stops_the_producer_which_runs_at_most_depth_ahead() -> None:
    producer = Producer()  # endless: only the reader leaving can stop it

    async def read_three() -> int:
        stream = threaded_stream([producer], depth=4)
        read = 0
        async for _ in stream:
            read += 1
            if read == 3:
                break
        await asyncio.sleep(0.2)  # the producer had time to run ahead, if it could
        ahead = producer.made - read
        await stream.aclose()
        return ahead

    ahead = asyncio.run(read_three())
    assert ahead <= 4 + 1  # `depth` handed over and unread, plus the one waiting for room
    assert producer.closed.wait(timeout=5)


def test_an_error_of_the_producer_reaches_the_reader_after_the_chunks_before_it() -> None:
    def failing() -> Generator[bytes]:
        yield b"first\n"
        raise LookupError("archive file missing")

    async def read() -> list[bytes]:
        got = []
        async for chunk in threaded_stream([failing]):
            got.append(chunk)
        return got

    with pytest.raises(LookupError, match="archive file missing"):
        asyncio.run(read())


def test_producers_take_turns_part_by_part_whatever_their_speed() -> None:
    """Parts 0..6 dealt round robin to three producers, one of them slow: the stream is
    the parts in order, each whole, and ends after the last part."""

    def parts_of(turn: int, slow: bool) -> Generator[bytes | PartEnd]:
        for part in range(turn, 7, 3):
            for line in range(3):
                if slow:
                    threading.Event().wait(0.01)
                yield f"{part}.{line}\n".encode()
            yield PART_END

    async def read() -> bytes:
        producers = [lambda t=t: parts_of(t, slow=t == 1) for t in range(3)]
        return b"".join([chunk async for chunk in threaded_stream(producers, depth=2)])

    expected = "".join(f"{part}.{line}\n" for part in range(7) for line in range(3))
    assert asyncio.run(read()).decode() == expected
