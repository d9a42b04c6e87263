"""A merchant key's RFM page scored on demand (sql/customers/rfm_merchant_page.sql).

The customers benchmark's history (`benchmarks.customers.load_history`: skewed users,
2,000 merchants with heavy-tailed popularity, a year of purchases loaded with COPY) at
`MERCHANT_RFM_BENCH_SCALE` (default 0.1: 100,000 users, 2M purchases; 1.0 is the issue's
1M users and 20M purchases). Then, for the median, the 99th-percentile and the largest
merchant by customers in day D's 365-day window, the first page (100 users) as the API
asks for it: as `analytics_api` in the merchant's scope, through api.raw_transactions.
Each page is measured twice (the second run reads cached pages; the figure to compare),
then once more without parallel workers (`_serial`: the backend's CPU is then the whole
server CPU of the page; with workers it is only the leader's); wall seconds, the
backend's CPU seconds, and server CPU per purchase of the window (the query reads every
purchase of the window, whoever it went to: raw.transactions has no merchant index, see
003_raw_tables.sql).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import psycopg

from analytics_platform.customers.segments import cell_params, load_rules
from analytics_platform.resources.warehouse import read_sql
from benchmarks.customers import (
    FIRST_DAY,
    HISTORY_DAYS,
    MERCHANTS,
    TRANSACTIONS,
    TZ,
    USERS,
    Report,
    load_history,
    measure,
)
from benchmarks.database import migrated_database

DEFAULT_SCALE = 0.1
LOOKBACK_DAYS = 365
PAGE = 100


def _scale() -> float:
    return float(os.environ.get("MERCHANT_RFM_BENCH_SCALE", str(DEFAULT_SCALE)))


def run() -> dict[str, dict]:
    with migrated_database("merchant_rfm") as (url, _):
        return _measure(url)


def _page_params(merchant: str, day: Any) -> dict[str, Any]:
    return {
        "merchant_id": merchant,
        "day": day,
        "lookback_days": LOOKBACK_DAYS,
        "tz": TZ,
        "cell_segments": cell_params(load_rules())["cell_segments"],
        "after": "",
        "segment": None,
        "currency": None,
        "min_r": 1,
        "max_r": 5,
        "min_f": 1,
        "max_f": 5,
        "min_m": 1,
        "max_m": 5,
        "limit": PAGE + 1,
    }


def _measure(url: str) -> dict[str, dict]:
    scale = _scale()
    users, per_day = int(USERS * scale), int(TRANSACTIONS * scale) // HISTORY_DAYS
    report = Report()
    report.add("merchant_rfm_scale", scale, unit="x")
    report.add("merchant_rfm_users", users, unit="users")
    report.add("merchant_rfm_machine_load_1min_before", os.getloadavg()[0], unit="load")
    load_history(url, users, per_day, HISTORY_DAYS + 1)
    day = FIRST_DAY + timedelta(days=HISTORY_DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE raw.transactions")
        # Customers per merchant in the window, largest first.
        sizes = conn.execute(
            "SELECT merchant_id, count(DISTINCT user_id) FROM raw.transactions"
            " WHERE occurred_at >= %s::date - 364 AND occurred_at < %s::date + 1"
            " GROUP BY 1 ORDER BY 2 DESC, 1",
            (day, day),
        ).fetchall()
        window = conn.execute(
            "SELECT count(*) FROM raw.transactions"
            " WHERE occurred_at >= %s::date - 364 AND occurred_at < %s::date + 1",
            (day, day),
        ).fetchone()
    purchases = int(window[0]) if window else 0
    report.add("merchant_rfm_merchants", len(sizes), unit=f"of {MERCHANTS}")
    report.add("merchant_rfm_window_purchases", purchases, unit="rows")
    picks = {
        "median": sizes[len(sizes) // 2],
        "p99": sizes[len(sizes) // 100],
        "largest": sizes[0],
    }
    page_sql = read_sql("customers/rfm_merchant_page.sql")
    for name, (merchant, customers) in picks.items():
        report.add(f"merchant_rfm_{name}_customers", customers, unit="users")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET ROLE analytics_api")
            conn.execute(
                "SELECT set_config('app.scope', 'merchant', false),"
                " set_config('app.merchant_id', %s, false)",
                (merchant,),
            )
            params = _page_params(merchant, day)
            for _ in range(2):
                figures = measure(conn, lambda c, p=params: c.execute(page_sql, p).fetchall())
                rows = len(figures.result)
            report.add(f"merchant_rfm_{name}_page_rows", rows, unit="rows")
            report.timed(f"merchant_rfm_{name}_page", figures)
            # Parallel workers' CPU is not the backend's: the same page without them
            # gives the whole CPU cost in one process.
            conn.execute("SET max_parallel_workers_per_gather = 0")
            serial = measure(conn, lambda c, p=params: c.execute(page_sql, p).fetchall())
            report.timed(f"merchant_rfm_{name}_page_serial", serial)
            if serial.server_cpu is not None and purchases:
                report.add(
                    f"merchant_rfm_{name}_serial_server_cpu_us_per_window_purchase",
                    serial.server_cpu / purchases * 1e6,
                    unit="cpu us",
                )
    return report.metrics


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
