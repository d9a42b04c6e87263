"""Writing one kind of recommendation for a day: replace the day's rows of its types.

Each rule-based type builds its rows (user, type, title, description, action URL,
priority, score, reason, model) and hands them here; this adds the deterministic id
(`scoring.recommendation_id`: a UUIDv5 of day, user and type), the day, `created_at`
(the end of the day in the reporting time zone) and `expires_at` (VALID_DAYS later),
and deletes the day's rows of those types and inserts the new ones in one transaction,
so a re-run replaces the day and other types' rows are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from analytics_platform.ml.scoring import ID_NAMESPACE, VALID_DAYS, recommendation_id
from analytics_platform.resources.warehouse import read_sql, run_sql_file


def priority_of(score: float) -> int:
    """1-5 from a score in [0, 1], as INACTIVITY_REMINDER maps it (5 = most urgent)."""
    return 1 + min(4, int(score * 5))


def recommendation_ids(day: date, user_ids: Iterable[str], kind: str) -> list[str]:
    """`recommendation_id` of each user as 32 hex digits (PostgreSQL's uuid reads them so),
    for a type that writes every user of the day: uuid.uuid5 builds a UUID object per id,
    which cost more than the rest of writing the row (issue 14); this hashes as uuid5
    does (SHA-1 of namespace and name, version and variant bits set) over the whole day."""
    prefix = ID_NAMESPACE.bytes + f"{day.isoformat()}/".encode()
    suffix = f"/{kind}".encode()
    digests = b"".join(
        hashlib.sha1(prefix + user.encode() + suffix, usedforsecurity=False).digest()
        for user in user_ids
    )
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex()
    return [text[start : start + 32] for start in range(0, len(text), 32)]


# The columns of `sql/ml/recommendations_copy_rows.sql`, in its order.
COLUMNS = (
    "id",
    "day",
    "user_id",
    "type",
    "title",
    "description",
    "action_url",
    "priority",
    "score",
    "reason",
    "model_name",
    "model_version",
    "created_at",
    "expires_at",
)


def copy_rows(cursor: psycopg.Cursor, rows: Iterable[Mapping[str, object]]) -> None:
    """Write complete rows (every one of COLUMNS) by COPY, not a statement per row
    (BUDGET_ALERT writes about 8,000 a day at 20,000 users); the rows are the ones the
    former per-row INSERT wrote (the day's md5 was compared, docs/recommendations.md)."""
    with cursor.copy(read_sql("ml/recommendations_copy_rows.sql")) as copy:
        for row in rows:
            copy.write_row([row[column] for column in COLUMNS])


def replace_day(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    types: Sequence[str],
    rows: Sequence[Mapping[str, object]],
) -> int:
    """Replace the rows of `types` on `day` with `rows`; returns how many were written."""
    strays = sorted({str(row["type"]) for row in rows} - set(types))
    if strays:
        # Rows of a type the run does not delete first would collide with their own
        # (deterministic) ids on a re-run of the day.
        raise ValueError(
            f"rows of types {strays} given to replace only {list(types)}: pass every type "
            "the rows carry, so that a re-run of the day replaces them"
        )
    created = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
    stamped = [
        {
            **row,
            "id": recommendation_id(day, str(row["user_id"]), str(row["type"])),
            "day": day,
            "created_at": created,
            "expires_at": created + timedelta(days=VALID_DAYS),
        }
        for row in rows
    ]
    with conn.transaction(), conn.cursor() as cursor:
        run_sql_file(conn, "ml/recommendations_delete_day.sql", {"day": day, "types": list(types)})
        copy_rows(cursor, stamped)
    return len(stamped)
