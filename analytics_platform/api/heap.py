"""The API server's garbage collector settings: fewer, cheaper collections under load.

After startup the process holds some 100,000 long-lived objects (modules, FastAPI's
routes and models, pydantic's schemas) that every full collection walks again; under the
mix one took 60-160 ms on the shared 2-core machine, a pause every request in flight
waits out. `gc.freeze()` moves them to a generation no collection walks. CPython's
first-generation threshold (700 allocations) makes an uncached answer, which allocates
thousands of objects (rows, models), trigger several collections; a higher one lets most
of a request's objects die by reference counting before a collection looks at them.
Cyclic garbage is still collected: later, in larger batches.
"""

from __future__ import annotations

import gc

# Allocations (net of deallocations) between first-generation collections; CPython's
# default is 700. Older generations keep their default ratios (10, 10).
GEN0_THRESHOLD = 10_000


def settle() -> None:
    """Collect what startup left, exempt the survivors from later collections, and
    raise the first-generation threshold. For the server process only: a test process
    creating many apps would keep the garbage cycles of each frozen."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)
