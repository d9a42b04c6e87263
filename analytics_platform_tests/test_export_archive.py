"""The itemized export over months whose raw rows retention dropped: served from the
archive, byte for byte what it gave before the drop, in the key's scope, and each
transaction once when late rows of a dropped month are in raw and archived again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient

from analytics_platform.api.app import create_app
from analytics_platform.api.keys import create_api_key
from analytics_platform.archive.retention import apply_retention
from analytics_platform.archive.store import LocalArchiveStore
from analytics_platform.archive.verification import verify_month
from analytics_platform.archive.writer import archive_month
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.settings import Settings

from .conftest import settings_for

JANUARY = date(2024, 1, 1)
JAN_START = datetime(2024, 1, 1, tzinfo=UTC)
FEB_START = datetime(2024, 2, 1, tzinfo=UTC)
MAR_START = datetime(2024, 3, 1, tzinfo=UTC)
LATER = datetime(2024, 6, 1, tzinfo=UTC)
RETENTION_DAYS = 30
EXPORT = "/api/v1/analytics/exports/transactions"
# From a dropped January into a live February.
WINDOW = {"start": "2024-01-20", "end": "2024-02-10"}


def _load(url: str, seed: int, start: datetime, days: int) -> None:
    config = GeneratorConfig(
        seed=seed, days=days, events_per_day=300, start=start, malformed_fraction=0.0
    )
    load_generated_rows(url, config, MAR_START, ZoneInfo("UTC"), topics=("transactions",))


def _insert_awkward_rows(conn: psycopg.Connection, merchant: str) -> None:
    """January rows whose printing is easy to get wrong: money with trailing zeros, with
    no fraction and with 18 digits; times with a trimmed fraction; an empty string beside
    NULLs; CSV's delimiter, quote and a newline in a value; non-ASCII text."""
    conn.execute(
        "INSERT INTO raw.transactions (event_id, occurred_at, ingested_at, user_id,"
        " transaction_id, amount, currency, transaction_type, category, status,"
        " payment_method, retry_count, processing_ms, merchant_id, recipient_id,"
        " failure_reason, kafka_partition, kafka_offset) VALUES"
        " (gen_random_uuid(), '2024-01-25 10:00:00.5Z', '2024-01-25 10:00:01.250001Z',"
        "  'user-ü', 'awkward-1', 10.50, 'EUR', 'payment', 'a,b \"c\"' || chr(10) || 'd',"
        "  'failed', 'card', 2, 17, %(m)s, NULL, '', 9, 1),"
        " (gen_random_uuid(), '2024-01-26 00:00:00Z', '2024-01-26 00:00:00Z', 'user-2',"
        "  'awkward-2', 7, 'JPY', 'payment', '', 'completed', 'card', 0, 1, %(m)s, 'r-1',"
        "  NULL, 9, 2),"
        " (gen_random_uuid(), '2024-01-27 23:59:59.999999Z', '2024-01-28 00:00:00.000001Z',"
        "  'user-3', 'awkward-3', 0.000000000000000001, 'USD', 'payment', 'x', 'completed',"
        "  'card', 0, 1, %(m)s, NULL, NULL, 9, 3)",
        {"m": merchant},
    )


def _exports(client: TestClient, keys: dict[str, str]) -> dict[tuple[str, str], bytes]:
    """Every key's export of WINDOW in both formats."""
    result = {}
    for who, key in keys.items():
        for fmt in ("csv", "json"):
            answer = client.get(
                EXPORT, params={**WINDOW, "format": fmt}, headers={"X-API-Key": key}
            )
            assert answer.status_code == 200, answer.text
            result[who, fmt] = answer.content
    return result


def _drop_january(conn: psycopg.Connection, store: LocalArchiveStore) -> None:
    archive_month(conn, store, "transactions", JANUARY)
    assert verify_month(conn, store, "transactions", JANUARY).ok
    assert apply_retention(conn, "transactions", LATER, RETENTION_DAYS).dropped_months == (JANUARY,)


def test_an_export_over_a_dropped_month_equals_the_one_before_the_drop(
    settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    _load(url, seed=15, start=datetime(2024, 1, 24, tzinfo=UTC), days=14)
    archive = tmp_path / "archive"
    store = LocalArchiveStore(archive)
    with psycopg.connect(url, autocommit=True) as conn:
        (merchant,) = conn.execute(
            "SELECT merchant_id FROM raw.transactions WHERE merchant_id IS NOT NULL"
            " AND occurred_at < %s GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            (FEB_START,),
        ).fetchone()
        _insert_awkward_rows(conn, merchant)
        # An event of January kept aside, to be replayed into raw after the drop.
        conn.execute(
            "CREATE TABLE public.replayed AS SELECT * FROM raw.transactions"
            " WHERE occurred_at < %s AND merchant_id = %s ORDER BY occurred_at LIMIT 1",
            (FEB_START, merchant),
        )
        keys = {
            "admin": create_api_key(conn, name="admin", scope="admin"),
            "merchant": create_api_key(conn, name="merchant", scope=f"merchant:{merchant}"),
        }
        api = settings_for(database_url=url, archive_url=archive, api_rate_limit_per_minute="0")
        with TestClient(create_app(api)) as client:
            before = _exports(client, keys)
            _drop_january(conn, store)
            assert conn.execute(
                "SELECT count(*) FROM raw.transactions WHERE occurred_at < %s", (FEB_START,)
            ).fetchone() == (0,)
            after = _exports(client, keys)

            # The same event ingested again after its month was dropped: raw and the
            # archive both hold it, the export counts it once.
            ensure_raw_partitions(conn, "transactions", JAN_START, FEB_START)
            conn.execute("INSERT INTO raw.transactions SELECT * FROM public.replayed")
            replayed = _exports(client, keys)

            # Late rows of the dropped January land in raw, are archived beside its files
            # and dropped again: the export counts them once at every step.
            _load(url, seed=99, start=datetime(2024, 1, 25, tzinfo=UTC), days=1)
            with_late = _exports(client, keys)
            _drop_january(conn, store)
            late_dropped = _exports(client, keys)

    assert after == before
    assert replayed == before
    assert late_dropped == with_late != before
    csv_rows = before["admin", "csv"].decode().splitlines()
    assert csv_rows[0].startswith("transaction_id,event_id,occurred_at_utc,")
    assert any(row.split(",")[2].startswith("2024-01-2") for row in csv_rows[1:])
    assert any(row.split(",")[2].startswith("2024-02-0") for row in csv_rows[1:])
    assert len(with_late["admin", "csv"].splitlines()) > len(csv_rows)
    csv_text = before["merchant", "csv"].decode()
    assert ",2024-01-25 10:00:00.5," in csv_text and ",2024-01-25 10:00:01.250001," in csv_text
    assert ',"",' in csv_text and '"a,b ""c""\nd"' in csv_text and ",user-ü," in csv_text
    assert ",10.50,EUR," in csv_text and ",7,JPY," in csv_text
    assert ",0.000000000000000001,USD," in csv_text
    json_text = before["merchant", "json"].decode()
    assert '"amount":10.50,' in json_text and '"failure_reason":"",' in json_text
    merchant_rows = before["merchant", "json"].decode().splitlines()
    assert 0 < len(merchant_rows) < len(before["admin", "json"].splitlines())
    assert all(f'"merchant_id":"{merchant}"' in row for row in merchant_rows)
