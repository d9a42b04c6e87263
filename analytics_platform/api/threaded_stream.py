"""A synchronous producer of byte chunks, run in a thread of its own, as an async iterator
for a streaming response.

The transaction export reads PostgreSQL's COPY a row per call; psycopg's asynchronous
COPY costs about 2.5-3 us of the event loop's CPU a row, the synchronous one about a third
of that, and a thread keeps the loop free for other requests meanwhile. The producer's
chunks cross to the loop through a bounded hand-over (`depth` chunks in flight), so a slow
client holds the producer back instead of letting chunks pile up in memory. When the
response stops early (the client went away), the producer is told to stop at its next
chunk, and closing its generator runs its `with` blocks (a COPY cancelled, a connection
closed).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator

# Seconds a blocked producer waits for room before it looks whether the consumer left.
_POLL_SECONDS = 0.25


class _End:
    """The producer finished: nothing follows."""


class _Abandoned(Exception):
    """The consumer stopped reading; the producer unwinds."""


async def threaded_stream(
    produce: Callable[[], Generator[bytes]], depth: int = 4, name: str = "stream"
) -> AsyncIterator[bytes]:
    """The chunks `produce()` yields, produced in a thread of its own, at most `depth`
    of them waiting for the consumer; an exception of the producer is raised here."""
    loop = asyncio.get_running_loop()
    handed: asyncio.Queue[bytes | BaseException | _End] = asyncio.Queue()
    room = threading.Semaphore(depth)
    abandoned = threading.Event()

    def hand(item: bytes | BaseException | _End) -> None:
        try:
            loop.call_soon_threadsafe(handed.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is left to read it
            abandoned.set()

    def run() -> None:
        try:
            chunks = produce()
            try:
                for chunk in chunks:
                    while not room.acquire(timeout=_POLL_SECONDS):
                        if abandoned.is_set():
                            raise _Abandoned
                    if abandoned.is_set():
                        raise _Abandoned
                    hand(chunk)
            finally:
                chunks.close()
            hand(_End())
        except _Abandoned:
            pass
        except BaseException as exc:
            hand(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        while True:
            item = await handed.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        abandoned.set()
