"""SPENDING_TREND, SAVINGS_GOAL and INVESTMENT on hand-built ledgers with known answers.

Every expected figure is recomputed here from the rows the test writes (medians, ratios,
rounding), not read back from the rules' code; the day under test is DAY in a zone east
of UTC, and each user's rows say which 30-day window they fall in.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics_platform.migrations import migrate
from analytics_platform.ml import (
    idle_balance,
    recommendation_writes,
    rules,
    spending_trend,
    surplus,
)
from analytics_platform.ml.amounts import round_down_significant

from .conftest import PostgresCluster, settings_for

TZ = "Asia/Jakarta"
DAY = date(2026, 6, 30)
D = Decimal


def local(days_before: int, hour: int = 12) -> datetime:
    """Noon (or `hour`) local time `days_before` days before DAY."""
    return datetime.combine(DAY - timedelta(days=days_before), time(hour), ZoneInfo(TZ))


def in_window(window: int, offset: int = 5) -> datetime:
    """A local instant inside 30-day window `window` (0 ends with DAY)."""
    return local(30 * window + offset)


@dataclass
class Ledger:
    """Raw rows to write: transactions, and wallet changes with running balances."""

    transactions: list[tuple] = field(default_factory=list)
    changes: list[tuple] = field(default_factory=list)
    balances: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    def tx(
        self, user: str, at: datetime, amount: str, currency: str, kind: str, category: str
    ) -> None:
        self.transactions.append(
            (uuid.uuid4(), at, user, uuid.uuid4().hex, D(amount), currency, kind, category)
        )

    def change(self, user: str, at: datetime, amount: str, currency: str, kind: str) -> None:
        """A wallet change (wallet `user`/`currency`), its balance the running sum."""
        key = (user, currency)
        signed = D(amount) if kind == "CREDIT" else -D(amount)
        self.balances[key] = self.balances.get(key, D(0)) + signed
        self.changes.append(
            (
                uuid.uuid4(),
                at,
                user,
                f"wal_{user}_{currency}",
                self.balances[key],
                currency,
                D(amount),
                kind,
            )
        )

    def write(self, conn: psycopg.Connection) -> None:
        times = [r[1] for r in self.transactions + self.changes]
        for table in ("transactions", "wallet_balances"):
            conn.execute(
                "SELECT ingest.ensure_raw_partitions(%s, %s, %s)",
                (table, min(times) - timedelta(days=1), max(times) + timedelta(days=1)),
            )
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id,"
                " amount, currency, transaction_type, category, status, payment_method,"
                " retry_count, processing_ms, kafka_partition, kafka_offset)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'SUCCESS', 'WALLET', 0, 100, 0, 0)",
                self.transactions,
            )
            cursor.executemany(
                "INSERT INTO raw.wallet_balances (event_id, occurred_at, user_id, wallet_id,"
                " balance, currency, change_amount, change_type, kafka_partition, kafka_offset)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, 0)",
                self.changes,
            )
        self.transactions.clear()
        self.changes.clear()


# --- SPENDING_TREND users -----------------------------------------------------------
# up: groceries 180 / 175 / 200 in windows 1-3 in eight purchases a month, then 412.50
# (450 paid, 37.50 refunded).
UP_HISTORY = ("180.00", "175.00", "200.00")
UP_PURCHASES = 8
# cross: PLN groceries 300 a month in 16 purchases, now 50 PLN and 250 EUR (summed: no
# change at all). short: one earlier month only. small: coffee (food_delivery) tripled
# in 15 purchases a month, immaterial beside 2,000 of rent. once: a once-a-month
# purchase doubled: one more purchase, not a trend.
CROSS_PURCHASES = 16


def split(total: str, count: int) -> list[Decimal]:
    """`count` amounts adding up to exactly `total` (the last takes the rounding)."""
    each = (D(total) / count).quantize(D("0.01"))
    return [each] * (count - 1) + [D(total) - each * (count - 1)]


def purchases(ledger: Ledger, user: str, window: int, total: str, count: int, currency: str,
              category: str) -> None:  # fmt: skip
    """`count` payments adding up to `total` in `window` (one a day from day 3 on)."""
    for n, amount in enumerate(split(total, count)):
        ledger.tx(user, in_window(window, 3 + n), f"{amount:.2f}", currency, "PAYMENT", category)


def spending_ledger(ledger: Ledger) -> None:
    for window, amount in enumerate(UP_HISTORY, start=1):
        purchases(ledger, "up", window, amount, UP_PURCHASES, "PLN", "groceries")
        ledger.tx("up", in_window(window, 1), "100.00", "PLN", "BILL_PAYMENT", "utilities")
    ledger.tx("up", in_window(0, 3), "450.00", "PLN", "PAYMENT", "groceries")
    ledger.tx("up", in_window(0, 1), "37.50", "PLN", "REFUND", "groceries")
    ledger.tx("up", in_window(0, 9), "100.00", "PLN", "BILL_PAYMENT", "utilities")
    for window in (1, 2, 3):
        purchases(ledger, "cross", window, "300.00", CROSS_PURCHASES, "PLN", "groceries")
    ledger.tx("cross", in_window(0), "50.00", "PLN", "PAYMENT", "groceries")
    ledger.tx("cross", in_window(0), "250.00", "EUR", "PAYMENT", "groceries")
    ledger.tx("short", in_window(1), "100.00", "PLN", "PAYMENT", "groceries")
    ledger.tx("short", in_window(0), "900.00", "PLN", "PAYMENT", "groceries")
    for window in (0, 1, 2):
        ledger.tx("small", in_window(window), "2000.00", "PLN", "BILL_PAYMENT", "utilities")
        count = 45 if window == 0 else 15
        purchases(ledger, "small", window, f"{2 * count}.00", count, "PLN", "food_delivery")
        ledger.tx("once", in_window(window), "100.00" if window else "200.00", "PLN",
                  "PAYMENT", "health")  # fmt: skip


def spread(usual: Decimal, history: list[Decimal], amounts: list[Decimal]) -> float:
    """The spread the rule documents, recomputed: the earlier windows' spend and every
    purchase amount in them (the same count each month here, so that is the usual)."""
    mad = statistics.median(abs(h - usual) for h in history)
    usual_purchases = len(amounts) / len(history)
    mean_square = float(sum(a * a for a in amounts) / len(amounts))
    chance = (usual_purchases * mean_square) ** 0.5
    return max(1.4826 * float(mad), 0.25 * float(usual), chance)


# --- SAVINGS_GOAL users -------------------------------------------------------------
# saver: IDR surplus per month (windows 0, 1, 2) after a first change in window 4.
SAVER_MONTHS = (("5000000", "3766000"), ("4500000", "3600000"), ("5000000", "3500000"))
# multi: USD steady, IDR losing money each month (summed, the IDR would hide the USD).
MULTI_USD = (("900", "600"), ("800", "550"), ("1000", "720"))
# fresh: steady months but no wallet before them; wobbly: one month negative.


def surplus_ledger(ledger: Ledger) -> None:
    ledger.change("saver", in_window(4), "1000000", "IDR", "CREDIT")
    ledger.change("multi", in_window(4), "100", "USD", "CREDIT")
    ledger.change("multi", in_window(4), "9000000", "IDR", "CREDIT")
    ledger.change("wobbly", in_window(4), "100", "USD", "CREDIT")
    for window in (2, 1, 0):
        credit, debit = SAVER_MONTHS[window]
        ledger.change("saver", in_window(window, 20), credit, "IDR", "CREDIT")
        ledger.change("saver", in_window(window, 10), debit, "IDR", "DEBIT")
        credit, debit = MULTI_USD[window]
        ledger.change("multi", in_window(window, 20), credit, "USD", "CREDIT")
        ledger.change("multi", in_window(window, 10), debit, "USD", "DEBIT")
        ledger.change("multi", in_window(window, 15), "2000000", "IDR", "DEBIT")
        ledger.change("fresh", in_window(window, 20), "500", "USD", "CREDIT")
        ledger.change("fresh", in_window(window, 10), "200", "USD", "DEBIT")
        ledger.change("wobbly", in_window(window, 20), "500", "USD", "CREDIT")
        ledger.change(
            "wobbly", in_window(window, 10), "800" if window == 1 else "200", "USD", "DEBIT"
        )


# --- INVESTMENT users ---------------------------------------------------------------
# idle: 10,000,000 IDR in window 3, then debits of these amounts in windows 2, 1, 0.
IDLE_DEBITS = ("900000", "1130000", "800000")
# still: no change at all in the last 30 days. dipped: a month-long balance except for
# one day it fell to 100. spendless: a balance and no spending.


def investment_ledger(ledger: Ledger) -> None:
    ledger.change("idle", in_window(3), "10000000", "IDR", "CREDIT")
    for window, amount in zip((2, 1, 0), IDLE_DEBITS, strict=True):
        ledger.change("idle", in_window(window, 10), amount, "IDR", "DEBIT")
    ledger.change("still", in_window(2), "5000", "SGD", "CREDIT")
    ledger.change("still", in_window(1, 20), "400", "SGD", "DEBIT")
    ledger.change("dipped", in_window(2), "5000", "SGD", "CREDIT")
    ledger.change("dipped", in_window(1, 20), "400", "SGD", "DEBIT")
    ledger.change("dipped", local(12), "4500", "SGD", "DEBIT")
    ledger.change("dipped", local(11), "4500", "SGD", "CREDIT")
    ledger.change("spendless", in_window(2), "5000", "SGD", "CREDIT")


@pytest.fixture(scope="module")
def url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.create_database()
    try:
        migrate(settings_for(database_url=url))
        ledger = Ledger()
        spending_ledger(ledger)
        surplus_ledger(ledger)
        investment_ledger(ledger)
        with psycopg.connect(url, autocommit=True) as conn:
            ledger.write(conn)
        yield url
    finally:
        postgres_cluster.drop_database(url)


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def stored(conn: psycopg.Connection, kind: str | None = None) -> dict[str, tuple]:
    """The day's rows of `kind` (or all), by user (user_id:type when all)."""
    rows = conn.execute(
        "SELECT user_id, type, id, title, description, action_url, priority, score, reason,"
        " model_name, model_version, created_at, expires_at FROM recommendations.daily"
        " WHERE day = %s AND (%s::text IS NULL OR type = %s) ORDER BY user_id, type",
        (DAY, kind, kind),
    ).fetchall()
    return {(r[0] if kind else f"{r[0]}:{r[1]}"): r[2:] for r in rows}


def test_spending_trend_compares_each_category_with_the_users_own_median(conn):
    report = spending_trend.score_spending_trend(conn, DAY, TZ)
    rows = stored(conn, spending_trend.TYPE)
    assert sorted(rows) == ["cross", "up"]
    assert report.written == 2 and report.model_name == "rule:spending_trend"

    _, title, description, url, priority, score, reason, model, version, *_ = rows["up"]
    current = D("450.00") - D("37.50")
    history = [D(a) for a in UP_HISTORY]
    usual = statistics.median(history)
    amounts = [a for total in UP_HISTORY for a in split(total, UP_PURCHASES)]
    z = float(current - usual) / spread(usual, history, amounts)
    assert description == (
        f"You spent {current:,.2f} PLN on groceries in the last 30 days, "
        f"{current / usual:.1f}x your usual {usual:,.2f} PLN."
    )
    assert description == (
        "You spent 412.50 PLN on groceries in the last 30 days, 2.3x your usual 180.00 PLN."
    )
    assert title == "Your groceries spending is up"
    assert url == "/wallet/insights/spending?category=groceries&currency=PLN"
    assert reason["robust_z"] == round(z, 4) and reason["direction"] == "up"
    assert reason["history_spend"] == list(UP_HISTORY)
    assert reason["usual_monthly_spend_all_categories"] == f"{usual + 100:.2f}"
    assert score == round(min(1.0, z / 6), 6) and priority == 1 + min(4, int(score * 5))
    assert (model, version) == ("rule:spending_trend", None)
    # All five pairs with a month before (EUR and short's have none) were judged.
    assert report.scored == 4


def test_spending_trend_never_adds_currencies_together(conn):
    spending_trend.score_spending_trend(conn, DAY, TZ)
    reason = stored(conn, spending_trend.TYPE)["cross"][6]
    # Per currency PLN fell from 300 to 50; summed with the 250 EUR nothing would change.
    z = (50 - 300) / spread(D(300), [D(300)] * 3, split("300.00", CROSS_PURCHASES) * 3)
    assert (reason["currency"], reason["current_spend"], reason["usual_spend"]) == (
        "PLN",
        "50.00",
        "300.00",
    )
    assert reason["direction"] == "down" and reason["robust_z"] == round(z, 4)
    assert reason["other_trends"] == []  # EUR has no earlier month to compare with


def test_savings_goal_suggests_half_the_median_surplus_rounded_down(conn):
    report = surplus.score_savings_goal(conn, DAY, TZ)
    rows = stored(conn, surplus.TYPE)
    assert sorted(rows) == ["multi", "saver"]  # fresh: no wallet before; wobbly: a loss
    assert report.written == 2

    surpluses = [D(c) - D(d) for c, d in SAVER_MONTHS]
    median = statistics.median(surpluses)
    suggested = round_down_significant(median / 2)
    _, _, description, url, priority, score, reason, model, *_ = rows["saver"]
    assert reason["surplus_by_month"] == [f"{s:.2f}" for s in surpluses]
    assert reason["suggested_monthly_amount"] == "610000.00" == f"{suggested:.2f}"
    assert url == "/wallet/savings/goals/new?amount=610000.00&currency=IDR"
    assert "Setting aside 610,000.00 IDR a month" in description
    assert score == round(float(min(surpluses) / median), 6)
    assert priority == 1 + min(4, int(score * 5)) and model == "rule:surplus"


def test_savings_goal_reads_each_currency_on_its_own(conn):
    surplus.score_savings_goal(conn, DAY, TZ)
    reason = stored(conn, surplus.TYPE)["multi"][6]
    usd = [D(c) - D(d) for c, d in MULTI_USD]
    assert reason["currency"] == "USD" and reason["other_currencies"] == []
    assert reason["surplus_by_month"] == [f"{s:.2f}" for s in usd]
    assert reason["median_surplus"] == f"{statistics.median(usd):.2f}"


def test_investment_suggests_the_idle_balance_above_a_two_month_cushion(conn):
    report = idle_balance.score_investment(conn, DAY, TZ)
    rows = stored(conn, idle_balance.TYPE)
    # dipped fell to 100 for a day this month; spendless spent nothing. fresh (of the
    # savings users) held 600 USD all month against 200 of spending: exactly 3x.
    assert sorted(rows) == ["fresh", "idle", "still"]
    assert report.written == 3
    assert stored(conn, idle_balance.TYPE)["fresh"][6]["suggested_amount"] == "200.00"

    held = D("10000000") - sum(D(a) for a in IDLE_DEBITS)  # the lowest since window 0's debit
    spend = max(D(a) for a in IDLE_DEBITS)
    suggested = round_down_significant(held - 2 * spend)
    _, _, description, url, priority, score, reason, model, *_ = rows["idle"]
    assert reason["held_balance"] == f"{held:.2f}" and reason["monthly_spend"] == f"{spend:.2f}"
    assert reason["debits_by_month"] == [f"{D(a):.2f}" for a in reversed(IDLE_DEBITS)]
    assert reason["suggested_amount"] == f"{suggested:.2f}" == "4900000.00"
    assert url == "/wallet/invest?amount=4900000.00&currency=IDR"
    assert score == round(min(1.0, float(held / spend) / 6), 6)
    assert priority == 1 + min(4, int(score * 5)) and model == "rule:idle_balance"
    assert "could invest 4,900,000.00 IDR" in description

    still = stored(conn, idle_balance.TYPE)["still"][6]
    # No change in the last 30 days: the balance after its last change is what was held.
    assert (still["held_balance"], still["monthly_spend"]) == ("4600.00", "400.00")


def test_a_rerun_writes_the_same_rows_and_leaves_other_types_alone(conn):
    other: dict[str, object] = {
        "user_id": "up",
        "type": "BUDGET_ALERT",
        "title": "t",
        "description": "d",
        "action_url": "/wallet/home",
        "priority": 1,
        "score": 0.1,
        "reason": "{}",
        "model_name": "someone else's",
        "model_version": None,
    }
    recommendation_writes.replace_day(conn, DAY, TZ, ["BUDGET_ALERT"], [other])
    first_reports = rules.score_rules(conn, DAY, TZ)
    first = stored(conn)
    second_reports = rules.score_rules(conn, DAY, TZ)
    assert stored(conn) == first and first_reports == second_reports
    assert "up:BUDGET_ALERT" in first
    assert sum(r.written for r in first_reports.values()) == len(first) - 1
    created = datetime.combine(DAY + timedelta(days=1), time(), ZoneInfo(TZ))
    assert {row[-2] for row in first.values()} == {created}
    assert {row[-1] for row in first.values()} == {created + timedelta(days=7)}
    conn.execute("DELETE FROM recommendations.daily WHERE type = 'BUDGET_ALERT'")
    with pytest.raises(ValueError, match="BUDGET_ALERT"):
        recommendation_writes.replace_day(conn, DAY, TZ, ["INVESTMENT"], [other])


def test_events_after_the_day_change_nothing(conn):
    rules.score_rules(conn, DAY, TZ)
    before = stored(conn)
    assert len(before) == 7
    end = datetime.combine(DAY + timedelta(days=1), time(), ZoneInfo(TZ))
    later = Ledger(balances=dict.fromkeys([("idle", "IDR"), ("saver", "IDR")], D(0)))
    for at in (end, end + timedelta(hours=5)):
        later.tx("up", at, "5000.00", "PLN", "PAYMENT", "groceries")
        later.tx("cross", at, "300.00", "PLN", "PAYMENT", "groceries")
        later.change("idle", at, "9000000", "IDR", "DEBIT")
        later.change("saver", at, "9000000", "IDR", "DEBIT")
    later.write(conn)
    rules.score_rules(conn, DAY, TZ)
    assert stored(conn) == before
    assert end.astimezone(UTC).date() == DAY  # the end of the local day is DAY in UTC
