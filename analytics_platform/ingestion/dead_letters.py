"""Inspecting and replaying dead letters: messages that broke the event contract.

Replay decodes each stored payload again with the current contract (say, after a fix
to a producer's data or to the contract itself) and writes the ones that now pass into
their raw table, in one transaction per chunk together with marking them replayed. A
replayed letter keeps its row for the record; replaying twice inserts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from analytics_platform.events import TOPICS, RejectedEvent
from analytics_platform.ingestion.runner import loader_for
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import Settings

CHUNK = 10_000


class UnknownDeadLetterTopicError(LookupError):
    """A topic filter that matches none of the contract's topics."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    topic: str
    partition: int
    offset: int
    reason: str
    received_at: datetime
    replayed_at: datetime | None
    payload: bytes


@dataclass
class ReplayReport:
    topic: str
    examined: int = 0
    replayed: int = 0
    duplicates: int = 0
    still_failing: int = 0


def list_dead_letters(
    conn: psycopg.Connection,
    topic: str | None = None,
    limit: int = 50,
    include_replayed: bool = False,
) -> list[DeadLetter]:
    rows = conn.execute(
        'SELECT id, topic, partition, "offset", reason, received_at, replayed_at, payload '
        "FROM ingest.dead_letters WHERE (%(topic)s::text IS NULL OR topic = %(topic)s) "
        "AND (%(all)s OR replayed_at IS NULL) ORDER BY id LIMIT %(limit)s",
        {"topic": topic, "all": include_replayed, "limit": limit},
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def replay_dead_letters(settings: Settings, short_name: str | None = None) -> list[ReplayReport]:
    """Re-ingest the pending dead letters of one topic (or all) that now decode."""
    if short_name is not None and short_name not in TOPICS:
        raise UnknownDeadLetterTopicError(
            f"unknown topic {short_name!r}; use one of: {', '.join(TOPICS)}"
        )
    names = [short_name] if short_name else list(TOPICS)
    reports = []
    with connect(settings.database_url, autocommit=True) as conn:
        for name in names:
            reports.append(_replay_topic(conn, settings, name))
    return reports


def _replay_topic(conn: psycopg.Connection, settings: Settings, short_name: str) -> ReplayReport:
    loader = loader_for(settings, short_name)
    report = ReplayReport(loader.topic)
    after_id = 0
    while True:
        letters = conn.execute(
            'SELECT id, partition, "offset", payload, reason FROM ingest.dead_letters '
            "WHERE topic = %s AND replayed_at IS NULL AND id > %s ORDER BY id LIMIT %s",
            (loader.topic, after_id, CHUNK),
        ).fetchall()
        if not letters:
            return report
        after_id = letters[-1][0]
        until = loader.decoder.accepted_until(datetime.now(UTC))
        rows, replayed_ids, new_reasons = [], [], []
        for letter_id, partition, offset, payload, reason in letters:
            try:
                row = loader.decoder.decode(bytes(payload), until)
            except RejectedEvent as rejected:
                if rejected.reason != reason:
                    new_reasons.append((rejected.reason, letter_id))
                continue
            rows.append((*row, partition, offset))
            replayed_ids.append(letter_id)
        if rows:
            loader.ensure_partitions(conn, rows)
        with conn.transaction():
            hours = loader.insert_rows(conn, rows)
            conn.execute(
                "UPDATE ingest.dead_letters SET replayed_at = now() WHERE id = ANY(%s)",
                (replayed_ids,),
            )
            if new_reasons:
                with conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE ingest.dead_letters SET reason = %s WHERE id = %s", new_reasons
                    )
        inserted = sum(h.rows for h in hours.values())
        report.examined += len(letters)
        report.replayed += inserted
        report.duplicates += len(rows) - inserted
        report.still_failing += len(letters) - len(rows)
