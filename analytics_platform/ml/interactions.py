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
import polars as pl
import psycopg
import scipy.sparse as sp

from analytics_platform.resources.warehouse import read_sql

MERCHANT = "merchant"
PAYMENT_METHOD = "payment_method"
TRANSACTION_TYPE = "transaction_type"
KINDS: tuple[str, ...] = (MERCHANT, PAYMENT_METHOD, TRANSACTION_TYPE)
# Transaction types whose merchant is an item (the merchant paid).
MERCHANT_TYPES: tuple[str, ...] = ("PAYMENT", "BILL_PAYMENT")


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


_COLUMNS = {"user_id": pl.String, "item": pl.String, "label": pl.String, "count": pl.Int32}


def from_frame(frame: pl.DataFrame) -> Interactions:
    """The matrix of a frame of (user_id, item key, label, count) rows, in any order."""
    if frame.height == 0:
        empty = np.array([], dtype=object)
        return Interactions(empty, empty, empty, sp.csr_matrix((0, 0), dtype=np.int32))
    # Dense ranks of the sorted distinct keys: the matrix's rows and columns (polars sorts
    # strings by UTF-8 bytes, which is Python's code-point order, as `positions` expects).
    coded = frame.select(
        (pl.col("user_id").rank("dense") - 1).cast(pl.Int64).alias("row"),
        (pl.col("item").rank("dense") - 1).cast(pl.Int64).alias("column"),
        pl.col("count"),
    )
    users = frame.get_column("user_id").unique().sort()
    items = frame.group_by("item").agg(pl.col("label").min()).sort("item")
    matrix = sp.csr_matrix(
        (
            coded.get_column("count").to_numpy(),
            (coded.get_column("row").to_numpy(), coded.get_column("column").to_numpy()),
        ),
        shape=(len(users), items.height),
    )
    matrix.sum_duplicates()
    return Interactions(
        users.to_numpy().astype(object),
        items.get_column("item").to_numpy().astype(object),
        items.get_column("label").to_numpy().astype(object),
        matrix,
    )


def from_rows(rows: list[tuple[str, str, str, str, int]]) -> Interactions:
    """The matrix of (user_id, kind, value, label, count) rows (tests build worlds so)."""
    return from_frame(
        pl.DataFrame(
            [
                (user, item_key(kind, value), label, count)
                for user, kind, value, label, count in rows
            ],
            schema=_COLUMNS,
            orient="row",
        )
    )


# Rows the read's CSV text comes in (sql/ml/next_purchase_interactions.sql): few enough
# that their messages cost nothing, many enough that each stays far below PostgreSQL's
# 1 GB limit on a value (about 400 MB of text in all at 200,000 users).
READ_BUCKETS = 64


def read(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> Interactions:
    """The interactions of the local days [first_day, last_day] in `tz`, counted from the
    raw rows (the reference the carried window of `interaction_window.py` equals)."""
    return from_combinations(read_combinations(conn, first_day, last_day, tz))


_COMBINATION_TEXTS = ["user_id", "transaction_type", "payment_method", "merchant_id", "category"]
# The columns of `read_combinations`.
COMBINATIONS = {**dict.fromkeys(_COMBINATION_TEXTS, pl.String), "count": pl.Int32}


def read_combinations(
    conn: psycopg.Connection, first_day: date, last_day: date, tz: str
) -> pl.DataFrame:
    """Per (user_id, transaction_type, payment_method, merchant_id, category): the count of
    the local days [first_day, last_day] in `tz` (sql/ml/next_purchase_interactions.sql),
    read as CSV text into polars: at 200,000 users over 90 days they number millions."""
    params = {"first_day": first_day, "last_day": last_day, "tz": tz, "buckets": READ_BUCKETS}
    rows = conn.execute(read_sql("ml/next_purchase_interactions.sql"), params).fetchall()
    data = "\n".join(row[0] for row in rows if row[0]).encode()
    if not data:
        return pl.DataFrame(schema=COMBINATIONS)
    return pl.read_csv(
        data,
        has_header=False,
        new_columns=list(COMBINATIONS),
        schema_overrides=COMBINATIONS,
    )


def merchant_payments(combinations: pl.DataFrame) -> pl.DataFrame:
    """The rows of `combinations` whose merchant is an item (the merchant paid)."""
    return combinations.filter(
        pl.col("transaction_type").is_in(MERCHANT_TYPES) & pl.col("merchant_id").is_not_null()
    )


def from_combinations(combinations: pl.DataFrame) -> Interactions:
    """The matrix of `read_combinations` rows (counts may be negative: a difference of
    days, whose labels then mean nothing)."""
    if combinations.height == 0:
        return from_frame(pl.DataFrame(schema=_COLUMNS))
    users = combinations.get_column("user_id").unique().sort()
    return _expanded(
        users,
        combinations.with_columns(
            users.search_sorted(combinations.get_column("user_id")).alias("row")
        ),
    )


def _expanded(users: pl.Series, combos: pl.DataFrame) -> Interactions:
    """The matrix of per-user (transaction_type, payment_method, merchant_id, category,
    count) combinations (`row`: the user's index in the sorted `users`); a merchant's label
    is its smallest category (code-point order, nulls skipped). Items are coded by binary
    search in each kind's sorted values, not by hashing strings (which cost most of the
    time at 200,000 users); keys sort as `merchant:` < `payment_method:` <
    `transaction_type:`, so the kinds' blocks in that order are the sorted vocabulary."""
    paid = merchant_payments(combos)
    rows, columns, counts, keys, labels = [], [], [], [], []
    offset = 0
    for kind, part, value, label in (
        (MERCHANT, paid, "merchant_id", "category"),
        (PAYMENT_METHOD, combos, "payment_method", "payment_method"),
        (TRANSACTION_TYPE, combos, "transaction_type", "transaction_type"),
    ):
        values = part.get_column(value).unique().sort()
        code = values.search_sorted(part.get_column(value)).alias("code")
        per_value = (
            part.select(code, pl.col(label)).group_by("code").agg(pl.col(label).min()).sort("code")
        )
        rows.append(part.get_column("row").to_numpy())
        columns.append(offset + code.to_numpy())
        counts.append(part.get_column("count").to_numpy())
        keys.append((f"{kind}:" + values).to_numpy())
        labels.append(per_value.get_column(label).to_numpy())
        offset += len(values)
    matrix = sp.csr_matrix(
        (np.concatenate(counts), (np.concatenate(rows), np.concatenate(columns))),
        shape=(len(users), offset),
        dtype=np.int32,
    )
    matrix.sum_duplicates()
    return Interactions(
        users.to_numpy().astype(object),
        np.concatenate(keys).astype(object),
        np.concatenate(labels).astype(object),
        matrix,
    )


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
