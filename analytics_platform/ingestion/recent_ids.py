"""Bounded memory of the event keys a loader has written lately, for dropping duplicates.

A duplicate that reaches the raw table makes the batch's COPY fail on the primary key
and sends the whole batch down the slower staging path, so redeliveries (the generator
re-emits 0.5% of events up to 6 h later) are better caught here. The key is the primary
key's: (event_id, occurred_at as an instant), held as three unsigned 64-bit numbers.

Two generations of open-addressing hash tables instead of an LRU: O(1) per key and a hard
size bound, at the price of forgetting a key somewhere between `capacity/2` and
`capacity` inserts later (which only sends a rare late duplicate down the slower path).
The tables are numpy arrays probed by compiled loops; a one-byte tag per slot keeps most
probes inside a table a tenth the size of the keys.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MIN_SLOTS = 1 << 16  # a 50k-message batch fits without rehashing
_MAX_LOAD = 0.5


@njit(cache=True, nogil=True)
def _hash(high: np.uint64, low: np.uint64, micros: np.uint64) -> np.uint64:
    h = high * np.uint64(0x9E3779B97F4A7C15)
    h ^= low * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= micros * np.uint64(0x165667B19E3779F9)
    return h ^ (h >> np.uint64(31))


@njit(cache=True, nogil=True)
def _find(tags: np.ndarray, keys: np.ndarray, h: np.uint64, key: np.ndarray) -> int:
    """Slot of `key`, or -(empty slot + 1) where it would go."""
    mask = np.uint64(tags.shape[0] - 1)
    tag = np.uint8((h >> np.uint64(56)) | np.uint64(1))
    j = np.int64(h & mask)
    while True:
        t = tags[j]
        if t == 0:
            return -(j + 1)
        if t == tag and keys[j, 0] == key[0] and keys[j, 1] == key[1] and keys[j, 2] == key[2]:
            return j
        j = np.int64((np.uint64(j) + np.uint64(1)) & mask)


@njit(cache=True, nogil=True)
def _admit(
    candidate: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    micros: np.ndarray,
    keep: np.ndarray,
    tags: np.ndarray,
    keys: np.ndarray,
    old_tags: np.ndarray,
    old_keys: np.ndarray,
) -> int:
    """For each candidate in order: keep[i] = key not seen before (then remembered)."""
    key = np.empty(3, np.uint64)
    added = 0
    for i in range(candidate.shape[0]):
        if not candidate[i]:
            continue
        key[0] = high[i]
        key[1] = low[i]
        key[2] = np.uint64(micros[i])
        h = _hash(key[0], key[1], key[2])
        if old_tags.shape[0] > 0 and _find(old_tags, old_keys, h, key) >= 0:
            keep[i] = False
            continue
        slot = _find(tags, keys, h, key)
        if slot >= 0:
            keep[i] = False
            continue
        slot = -slot - 1
        tags[slot] = np.uint8((h >> np.uint64(56)) | np.uint64(1))
        keys[slot, 0] = key[0]
        keys[slot, 1] = key[1]
        keys[slot, 2] = key[2]
        keep[i] = True
        added += 1
    return added


@njit(cache=True, nogil=True)
def _rehash(tags: np.ndarray, keys: np.ndarray, new_tags: np.ndarray, new_keys: np.ndarray) -> None:
    for j in range(tags.shape[0]):
        if tags[j] == 0:
            continue
        h = _hash(keys[j, 0], keys[j, 1], keys[j, 2])
        slot = -_find(new_tags, new_keys, h, keys[j]) - 1
        new_tags[slot] = tags[j]
        new_keys[slot] = keys[j]


class _Table:
    def __init__(self, slots: int) -> None:
        self.tags = np.zeros(slots, np.uint8)
        self.keys = np.zeros((slots, 3), np.uint64)
        self.count = 0

    def make_room(self, more: int) -> None:
        needed = self.count + more
        if needed <= self.tags.shape[0] * _MAX_LOAD:
            return
        slots = self.tags.shape[0]
        while needed > slots * _MAX_LOAD:
            slots *= 2
        bigger = _Table(slots)
        _rehash(self.tags, self.keys, bigger.tags, bigger.keys)
        self.tags, self.keys = bigger.tags, bigger.keys


_EMPTY = _Table(0)


class RecentIds:
    """Event keys admitted lately; see the module docstring."""

    def __init__(self, capacity: int) -> None:
        self._half = max(1, capacity // 2)
        self.clear()

    def clear(self) -> None:
        """Forget everything (after a failed batch: its keys were never stored)."""
        self._current = _Table(_MIN_SLOTS)
        self._previous = _EMPTY

    def admit(
        self,
        candidate: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        micros: np.ndarray,
        keep: np.ndarray,
    ) -> int:
        """Set keep[i] for every candidate i, in order: True for a key neither remembered
        nor seen earlier in these arrays (it is remembered from now on), False for a
        duplicate. Returns how many were kept.

        Keys are remembered before their batch is committed, so that the next batch,
        prepared while this one is written, sees them; a caller whose batch fails must
        `clear()`.
        """
        if self._current.count >= self._half:
            self._previous, self._current = self._current, _Table(_MIN_SLOTS)
        self._current.make_room(int(np.count_nonzero(candidate)))
        added = _admit(
            candidate,
            high,
            low,
            micros,
            keep,
            self._current.tags,
            self._current.keys,
            self._previous.tags,
            self._previous.keys,
        )
        self._current.count += added
        return added
