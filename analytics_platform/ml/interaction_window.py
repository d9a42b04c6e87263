"""The carried window of PROMOTION and NEW_FEATURE's interactions (ml.interaction_windows).

A day's user x item counts over the `history_days` local days ending with it are two
parts: the last `RECENT_DAYS` days, counted from their raw rows every day, and the days
before them (the settled window), carried from the previous day's settled window plus the
day entering it minus the day leaving it:
settled(d) = settled(d - 1) + day(d - RECENT_DAYS) - day(d - history_days).
Five days of raw.transactions are read instead of the whole window, whose count was about
190 of the step's 213 CPU us per user (issue 14's benchmark at 200,000 users). Each day's
settled window is stored (migration 078; its `day` is the settled window's last day) for
the next.

The full count (`interactions.read`, the raw rows of every day of the window) is the
reference (a test holds the two equal day after day) and the path taken whenever the
previous settled window cannot be trusted:
- it is missing: the first day, a crash emptied the UNLOGGED table, or the first day of a
  re-run of days older than the kept ones (`KEEP_DAYS`; the days after it are carried);
- it was cut in another time zone or over another number of days;
- late events before the recent days: ingestion recorded another number of rows
  (ingest.touched_hours) in the hours of its days than when it was built (the test of the
  daily aggregate tables, over the whole settled window). Late events in the recent days
  cost nothing: those days are counted afresh;
- carrying it gives a negative count (raw rows changed without ingestion's bookkeeping).

A merchant's label (its category) is the smallest category of the window's payments to it;
a minimum cannot be carried by subtraction, so the window also keeps the payments per
merchant and category, from which the labels follow.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import psycopg
import scipy.sparse as sp

from analytics_platform.ml import interactions as ia
from analytics_platform.resources.warehouse import run_sql_file

_log = logging.getLogger(__name__)

CARRIED = "carried"
FULL = "full"
# Windows kept besides the one just written: the newest day's is the one the next day
# carries; the two before it let a re-run of a recent day (yesterday's, the morning after)
# be carried too. A backfill of older days keeps the one it wrote last, and carries from it.
KEEP_DAYS = 3
# The last days of a window, counted from their raw rows every day; the stored window holds
# the days before them. Late events in these days (the generator's come up to two days
# late, and the day's partition runs the next morning) then cost no full count.
RECENT_DAYS = 3
# lz4 streams: 2.1 MB against 5.6 uncompressed (zstd 1.3) at 20,000 users, for 4 ms more
# CPU to write (zstd 12) and none to read.
_COMPRESSION = "lz4"
_MERCHANT_CATEGORIES = {"merchant_id": pl.String, "category": pl.String, "count": pl.Int64}
_MERCHANT_PREFIX = f"{ia.MERCHANT}:"


@dataclass(frozen=True)
class WindowCounts:
    """A window's interactions and its payments per merchant and category (count > 0)."""

    interactions: ia.Interactions
    merchant_categories: pl.DataFrame


@dataclass(frozen=True)
class Window:
    """A day's interactions, and how the stored part of them was built."""

    interactions: ia.Interactions
    method: str  # CARRIED or FULL


class CarryError(ValueError):
    """A carried window came out with a negative count: the previous window did not hold
    the days it was recorded with."""


def read(conn: psycopg.Connection, day: date, tz: str, history_days: int) -> Window:
    """The interactions of the `history_days` local days ending with `day` in `tz`: the
    stored window of the days before the last `RECENT_DAYS` (carried from the previous
    day's when it can be trusted, else counted in full, and stored for the next day), plus
    the last `RECENT_DAYS` days counted from their raw rows."""
    if history_days <= RECENT_DAYS:
        first_day = day - timedelta(days=history_days - 1)
        return Window(full(conn, first_day, day, tz).interactions, FULL)
    settled_day = day - timedelta(days=RECENT_DAYS)
    settled, method = _settled(conn, settled_day, tz, history_days - RECENT_DAYS)
    recent = ia.read_combinations(conn, settled_day + timedelta(days=1), day, tz)
    window = carried(settled, recent, pl.DataFrame(schema=ia.COMBINATIONS))
    return Window(window.interactions, method)


def _settled(
    conn: psycopg.Connection, day: date, tz: str, history_days: int
) -> tuple[WindowCounts, str]:
    """The window of the `history_days` days ending with `day`, carried or counted, and
    stored; with how it was built."""
    params = {"day": day, "tz": tz, "history_days": history_days}
    row = run_sql_file(conn, "ml/interaction_windows_source_rows.sql", params).fetchone()
    previous_rows, source_rows = (int(row[0]), int(row[1])) if row else (0, 0)
    counts: WindowCounts | None = None
    method = CARRIED
    stored = run_sql_file(
        conn,
        "ml/interaction_windows_previous.sql",
        {**params, "day": day - timedelta(days=1), "source_rows": previous_rows},
    ).fetchone()
    if stored is not None:
        added = ia.read_combinations(conn, day, day, tz)
        leaving = day - timedelta(days=history_days)
        removed = ia.read_combinations(conn, leaving, leaving, tz)
        try:
            counts = carried(decode(*stored), added, removed)
        except CarryError as error:
            _log.warning("interaction window of %s counted in full: %s", day, error)
    if counts is None:
        method = FULL
        counts = full(conn, day - timedelta(days=history_days - 1), day, tz)
    store(conn, day, tz, history_days, source_rows, method, counts)
    return counts, method


def full(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> WindowCounts:
    """The window [first_day, last_day] counted from its raw rows."""
    combinations = ia.read_combinations(conn, first_day, last_day, tz)
    return WindowCounts(ia.from_combinations(combinations), merchant_categories(combinations))


def merchant_categories(combinations: pl.DataFrame) -> pl.DataFrame:
    """Payments per merchant and category (a null category is one too) of
    `interactions.read_combinations` rows, sorted; pairs without a payment left out."""
    return _sorted(_per_merchant_category(combinations).filter(pl.col("count") > 0))


def _per_merchant_category(combinations: pl.DataFrame) -> pl.DataFrame:
    return (
        ia.merchant_payments(combinations)
        .group_by("merchant_id", "category")
        .agg(pl.col("count").cast(pl.Int64).sum())
    )


def _sorted(per_pair: pl.DataFrame) -> pl.DataFrame:
    return per_pair.select(
        pl.col(name).cast(dtype) for name, dtype in _MERCHANT_CATEGORIES.items()
    ).sort("merchant_id", "category", nulls_last=True)


def carried(previous: WindowCounts, added: pl.DataFrame, removed: pl.DataFrame) -> WindowCounts:
    """`previous` plus the `added` day's combinations minus the `removed` day's
    (`interactions.read_combinations` rows): the matrix the full count of the new window
    gives, entry for entry (users and items without a count left are dropped)."""
    day_change = pl.concat([added, removed.with_columns(-pl.col("count"))])
    delta = ia.from_combinations(day_change)
    categories = _carried_merchant_categories(
        previous.merchant_categories, _per_merchant_category(day_change)
    )
    before = previous.interactions
    users = (
        pl.concat(
            [
                pl.Series(before.user_ids, dtype=pl.String),
                pl.Series(delta.user_ids, dtype=pl.String),
            ]
        )
        .unique()
        .sort()
    )
    items = (
        pl.concat(
            [pl.Series(before.items, dtype=pl.String), pl.Series(delta.items, dtype=pl.String)]
        )
        .unique()
        .sort()
    )
    rows, columns, counts = [], [], []
    for part in (before, delta):
        coo = part.counts.tocoo()
        row_of = users.search_sorted(pl.Series(part.user_ids, dtype=pl.String)).to_numpy()
        column_of = items.search_sorted(pl.Series(part.items, dtype=pl.String)).to_numpy()
        rows.append(row_of[coo.row])
        columns.append(column_of[coo.col])
        counts.append(coo.data)
    summed = sp.csr_matrix(
        (np.concatenate(counts), (np.concatenate(rows), np.concatenate(columns))),
        shape=(len(users), len(items)),
        dtype=np.int32,
    )
    summed.sum_duplicates()
    summed.eliminate_zeros()
    if (summed.data < 0).any():
        raise CarryError("a carried interaction count is negative")
    # Users and items with nothing left leave the window, as the full count never has them.
    kept_rows = np.diff(summed.indptr) > 0
    kept_columns = np.bincount(summed.indices, minlength=len(items)) > 0
    new_column = (np.cumsum(kept_columns) - 1).astype(summed.indices.dtype)
    indptr = np.concatenate([[0], np.cumsum(np.diff(summed.indptr)[kept_rows])])
    matrix = sp.csr_matrix(
        (summed.data, new_column[summed.indices], indptr.astype(summed.indptr.dtype)),
        shape=(int(kept_rows.sum()), int(kept_columns.sum())),
    )
    kept_items = items.filter(pl.Series(kept_columns))
    return WindowCounts(
        ia.Interactions(
            users.filter(pl.Series(kept_rows)).to_numpy().astype(object),
            kept_items.to_numpy().astype(object),
            _labels(kept_items, categories),
            matrix,
        ),
        categories,
    )


def _carried_merchant_categories(previous: pl.DataFrame, change: pl.DataFrame) -> pl.DataFrame:
    summed = (
        pl.concat([previous, change]).group_by("merchant_id", "category").agg(pl.col("count").sum())
    )
    if summed.get_column("count").lt(0).any():
        raise CarryError("a carried merchant category count is negative")
    return summed.filter(pl.col("count") > 0).sort("merchant_id", "category", nulls_last=True)


def _labels(items: pl.Series, categories: pl.DataFrame) -> np.ndarray:
    """Each item's label as `interactions.read` gives it: a merchant's smallest category
    (code-point order, nulls skipped; null if it has none), else the item's value."""
    by_merchant = categories.group_by("merchant_id").agg(pl.col("category").min())
    frame = pl.DataFrame({"item": items}).with_columns(
        pl.col("item").str.splitn(":", 2).struct.field("field_1").alias("value"),
        pl.col("item").str.starts_with(_MERCHANT_PREFIX).alias("merchant"),
    )
    labelled = frame.join(
        by_merchant, left_on="value", right_on="merchant_id", how="left", maintain_order="left"
    )
    return (
        labelled.select(
            pl.when(pl.col("merchant")).then(pl.col("category")).otherwise(pl.col("value"))
        )
        .to_series()
        .to_numpy()
        .astype(object)
    )


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression=_COMPRESSION)
    return buffer.getvalue()


def encode(counts: WindowCounts) -> dict[str, bytes]:
    """The window as the Arrow IPC streams of ml.interaction_windows (migration 078)."""
    matrix = counts.interactions.counts
    return {
        "users": _ipc(
            pl.DataFrame(
                {
                    "user_id": pl.Series(counts.interactions.user_ids, dtype=pl.String),
                    "entries": np.diff(matrix.indptr).astype(np.int32),
                }
            )
        ),
        "items": _ipc(
            pl.DataFrame(
                {
                    "item": pl.Series(counts.interactions.items, dtype=pl.String),
                    "label": pl.Series(counts.interactions.labels, dtype=pl.String),
                }
            )
        ),
        "entries": _ipc(
            pl.DataFrame(
                {
                    "column": matrix.indices.astype(np.int32),
                    "count": matrix.data.astype(np.int32),
                }
            )
        ),
        "merchant_categories": _ipc(counts.merchant_categories),
    }


def decode(users: bytes, items: bytes, entries: bytes, merchant_categories: bytes) -> WindowCounts:
    """The window stored as `encode` wrote it."""
    user_frame = pl.read_ipc(io.BytesIO(users))
    item_frame = pl.read_ipc(io.BytesIO(items))
    entry_frame = pl.read_ipc(io.BytesIO(entries))
    indptr = np.concatenate([[0], np.cumsum(user_frame.get_column("entries").to_numpy())])
    matrix = sp.csr_matrix(
        (
            entry_frame.get_column("count").to_numpy(),
            entry_frame.get_column("column").to_numpy(),
            indptr.astype(np.int32),
        ),
        shape=(user_frame.height, item_frame.height),
    )
    return WindowCounts(
        ia.Interactions(
            user_frame.get_column("user_id").to_numpy().astype(object),
            item_frame.get_column("item").to_numpy().astype(object),
            item_frame.get_column("label").to_numpy().astype(object),
            matrix,
        ),
        pl.read_ipc(io.BytesIO(merchant_categories)).cast(_MERCHANT_CATEGORIES),  # type: ignore[arg-type]
    )


def store(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    history_days: int,
    source_rows: int,
    method: str,
    counts: WindowCounts,
) -> None:
    """Replace the stored window of `day` and drop the others but the kept days."""
    matrix = counts.interactions.counts
    params = {
        "day": day,
        "tz": tz,
        "history_days": history_days,
        "source_rows": source_rows,
        "method": method,
        "user_count": matrix.shape[0],
        "item_count": matrix.shape[1],
        "entry_count": matrix.nnz,
        **encode(counts),
    }
    with conn.transaction():
        run_sql_file(conn, "ml/interaction_windows_record.sql", params)
        run_sql_file(conn, "ml/interaction_windows_prune.sql", {"day": day, "keep": KEEP_DAYS})
