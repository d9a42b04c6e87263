"""The user x item matrix of NEW_FEATURE and PROMOTION: what each user did, as counts.

Items are of three kinds (see `sql/ml/next_purchase_interactions.sql`): merchants paid
(PROMOTION's candidates), and payment methods and transaction types used (NEW_FEATURE's
candidates). An item's key is `kind:value` (`merchant:m-0042`, `payment_method:QRIS`,
`transaction_type:TOPUP`), so that kinds never collide. Users and items are sorted by
key, so the same events give the same matrix on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg
import scipy.sparse as sp

from analytics_platform.resources.warehouse import run_sql_file

MERCHANT = "merchant"
PAYMENT_METHOD = "payment_method"
TRANSACTION_TYPE = "transaction_type"
KINDS: tuple[str, ...] = (MERCHANT, PAYMENT_METHOD, TRANSACTION_TYPE)


@dataclass(frozen=True)
class Interactions:
    """Counts of successful transactions per (user, item) over some days."""

    user_ids: np.ndarray  # str, sorted
    items: np.ndarray  # str `kind:value`, sorted
    labels: np.ndarray  # str per item: a merchant's category, else the value itself
    counts: sp.csr_matrix  # (users, items) int32

    def kind_mask(self, kinds: tuple[str, ...]) -> np.ndarray:
        """Which items are of one of `kinds`."""
        prefixes = tuple(f"{kind}:" for kind in kinds)
        return np.array([item.startswith(prefixes) for item in self.items], dtype=bool)

    def user_index(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each of `user_ids` (-1: the user has no row)."""
        return positions(self.user_ids, user_ids)


def positions(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each of `keys` in `sorted_keys` (-1: absent); any shape."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[position] == keys, position, -1)


def item_key(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def from_rows(rows: list[tuple[str, str, str, str, int]]) -> Interactions:
    """The matrix of (user_id, kind, item, label, count) rows (any order)."""
    if not rows:
        empty = np.array([], dtype=object)
        return Interactions(empty, empty, empty, sp.csr_matrix((0, 0), dtype=np.int32))
    users, kinds, values, labels, counts = zip(*rows, strict=True)
    keys = np.array([f"{k}:{v}" for k, v in zip(kinds, values, strict=True)], dtype=object)
    user_ids, rows_index = np.unique(np.array(users, dtype=object), return_inverse=True)
    items, first, columns = np.unique(keys, return_index=True, return_inverse=True)
    matrix = sp.csr_matrix(
        (np.array(counts, dtype=np.int32), (rows_index, columns)),
        shape=(len(user_ids), len(items)),
    )
    matrix.sum_duplicates()
    label_array = np.array(labels, dtype=object)[first]
    return Interactions(user_ids, items, label_array, matrix)


def read(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> Interactions:
    """The interactions of the local days [first_day, last_day] in `tz`."""
    rows = run_sql_file(
        conn,
        "ml/next_purchase_interactions.sql",
        {"first_day": first_day, "last_day": last_day, "tz": tz},
    ).fetchall()
    return from_rows(rows)


def aligned(interactions: Interactions, items: np.ndarray) -> sp.csr_matrix:
    """`interactions.counts` with its columns moved to the order of `items` (a sorted
    vocabulary, e.g. a model's); items outside it are dropped, missing ones are zero."""
    position = positions(items, interactions.items)
    keep = np.flatnonzero(position >= 0)
    selector = sp.csr_matrix(
        (np.ones(len(keep), dtype=np.int32), (keep, position[keep])),
        shape=(len(interactions.items), len(items)),
    )
    return (interactions.counts @ selector).tocsr()
