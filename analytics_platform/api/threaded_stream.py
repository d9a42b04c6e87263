"""Synchronous producers of byte chunks, each run in a thread of its own, as one async
iterator for a streaming response.

The transaction export reads PostgreSQL's COPY a row per call; psycopg's asynchronous
COPY costs about 2.5-3 us of the event loop's CPU a row, the synchronous one about a third
of that, and threads keep the loop free for other requests meanwhile. The output is a
sequence of parts (the export's: an hour of rows each); the producers take turns, part
`p` coming from producer `p % n`, and mark the end of each of their parts with PART_END.
So while one producer's part streams, the next producer already runs its part's query
(on its own connection: another PostgreSQL backend, another core).

Each producer's chunks cross to the event loop through a bounded hand-over (`depth`
chunks in flight), so a slow client holds the producers back instead of letting chunks
pile up in memory. When the response stops early (the client went away), the producers
are told to stop at their next chunk, and closing their generators runs their `with`
blocks (a COPY cancelled, a connection closed).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator, Sequence

# Seconds a blocked producer waits for room before it looks whether the consumer left.
_POLL_SECONDS = 0.25


class PartEnd:
    """Yielded by a producer after each of its parts."""


PART_END = PartEnd()


class _End:
    """The producer finished: it has no more parts."""


class _Abandoned(Exception):
    """The consumer stopped reading; the producer unwinds."""


Producer = Callable[[], Generator[bytes | PartEnd]]
_Item = bytes | PartEnd | _End | BaseException


class _Hand:
    """One producer's side: its thread, its queue on the loop and the room left in it."""

    def __init__(
        self,
        produce: Producer,
        loop: asyncio.AbstractEventLoop,
        depth: int,
        abandoned: threading.Event,
    ) -> None:
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.room = threading.Semaphore(depth)
        self._produce = produce
        self._loop = loop
        self._abandoned = abandoned

    def _hand(self, item: _Item) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is left to read it
            self._abandoned.set()

    def run(self) -> None:
        try:
            chunks = self._produce()
            try:
                for chunk in chunks:
                    # Part ends take no room: they are a few per part, and tiny.
                    if not isinstance(chunk, PartEnd):
                        while not self.room.acquire(timeout=_POLL_SECONDS):
                            if self._abandoned.is_set():
                                raise _Abandoned
                    if self._abandoned.is_set():
                        raise _Abandoned
                    self._hand(chunk)
            finally:
                chunks.close()
            self._hand(_End())
        except _Abandoned:
            pass
        except BaseException as exc:
            self._hand(exc)


async def threaded_stream(
    producers: Sequence[Producer], depth: int = 4, name: str = "stream"
) -> AsyncIterator[bytes]:
    """The producers' chunks, part by part in turn, each producer in a thread of its own
    with at most `depth` chunks waiting for the consumer; a producer's exception is
    raised here. A single producer's parts are simply its chunks in order."""
    loop = asyncio.get_running_loop()
    abandoned = threading.Event()
    hands = [_Hand(produce, loop, depth, abandoned) for produce in producers]
    for index, hand in enumerate(hands):
        threading.Thread(target=hand.run, name=f"{name}-{index}", daemon=True).start()
    try:
        turn = 0
        while True:
            hand = hands[turn]
            item = await hand.queue.get()
            if isinstance(item, _End):
                # Parts go round: the producer whose turn it is has no part left, so no
                # part follows at all.
                return
            if isinstance(item, PartEnd):
                turn = (turn + 1) % len(hands)
                continue
            if isinstance(item, BaseException):
                raise item
            hand.room.release()
            yield item
    finally:
        abandoned.set()
