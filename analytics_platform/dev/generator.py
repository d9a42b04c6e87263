"""Synthetic event stream: a realistic payments world, byte-for-byte deterministic per seed.

`generate_events(GeneratorConfig(seed=..., days=..., events_per_day=...))` yields
`GeneratedEvent`s for the five topics of the event contract (DESIGN.md), in roughly
event-time order, exactly as a producer would send them (key and value bytes);
`generate_event_rows` yields the same stream without a datetime per event (a bulk loader).

What the stream contains, per simulated day:
- transactions: `events_per_day` on average, shaped by the hour of day, the day of the
  week and paydays; types, methods, retries, statuses and failure reasons drawn from
  the catalogue in `world.py`; processing latency log-normal (median ~400 ms);
- wallet-balances: one per SUCCESS transaction, in step with a running balance per
  wallet that never goes below zero. A debit larger than the balance either triggers
  a top-up just before it (metadata `{"trigger": "insufficient_balance"}`) or fails
  with INSUFFICIENT_FUNDS. A successful TRANSFER_OUT also credits its recipient (a
  user of the same currency) with a TRANSFER_IN whose metadata names the sender;
- user-activity: app sessions around some user-initiated transactions (login,
  view_screen..., payment_started, logout) and browsing sessions without a payment;
- user-lifecycle: registration and KYC (submitted, then verified or rejected, some
  rejected users resubmit) for users who sign up inside the window;
- webhook-deliveries: for every merchant transaction that settles (not PENDING), one
  event per delivery attempt, retried with back-off up to 5 attempts.

Ground truth (what the recommendation models may learn, documented in dev/tastes.py,
dev/segments.py and docs/recommendations.md; with `tastes=False` none of it): users
belong to taste segments, communities that share category tilts, a set of merchants,
payment methods and debit types, each user mostly acting from a primary segment and
sometimes from a secondary one; favourite merchants come mostly from the segment, and
the rest of a user's payments reach new merchants, mostly the segment's, so one user's
next first-time merchant is predictable from what similar users paid. Engagement
drifts, churn follows failed payments met and low activity, favourites change and
users move between segments (drift), and the monthly rhythm per category
(`monthly_habits`). The platform never reads any of this: only the events it causes.

Faults, each drawn per valid event and relative to the number of valid events:
- `late_fraction`: emitted 1 minute to 2 days after its event time;
- `duplicate_fraction`: the identical bytes (same event_id) re-emitted 1 s to 6 h later;
- `malformed_fraction`: an extra broken message next to a valid one (its own event_id):
  not JSON, truncated JSON, a required field missing, an unknown enum value, a
  non-positive amount, a timestamp without offset, or a field of the wrong type.

Nothing is dated outside the window [start, start + days): sessions cut by its edges
lose the events beyond them, KYC decisions and webhook retries after its end have not
happened yet. Consumers must order by `occurred_at`, not by arrival (late events).

Determinism: every draw comes from a numpy `Generator` and a `random.Random` seeded
from `config.seed` (UUIDs too), and nothing depends on wall-clock time except the
default `start`; pass `start` explicitly for reproducible bytes across days.
Speed (about 120k events/s on one core): draws are vectorized with numpy per day;
the per-event Python work is a msgspec Struct, its encoding and a cached timestamp
format; the day's events are put in order with one stable numpy sort.
"""

from __future__ import annotations

import gc
import itertools
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import numpy as np

from analytics_platform.dev import world as w
from analytics_platform.dev.tastes import Tastes

TOPICS: tuple[str, ...] = (
    "transactions",
    "wallet-balances",
    "user-activity",
    "user-lifecycle",
    "webhook-deliveries",
)
_TX, _WALLET, _ACTIVITY, _LIFECYCLE, _WEBHOOK = range(5)

SCHEMA_VERSION = 1
STATUSES: tuple[str, ...] = ("SUCCESS", "FAILED", "EXPIRED", "PENDING", "REFUNDED")
_SUCCESS, _FAILED, _EXPIRED, _PENDING, _REFUNDED = range(5)
LIFECYCLE_EVENT_TYPES: tuple[str, ...] = (
    "user.registered",
    "user.kyc_submitted",
    "user.kyc_verified",
    "user.kyc_rejected",
)
_REGISTERED, _SUBMITTED, _VERIFIED, _REJECTED = range(4)

# Events are produced per day but may be dated up to this long before the day starts
# (a session's login before its payment, a top-up just before a debit); holding back
# that much of the previous day keeps the output in event-time order.
_LOOKBACK_US = w.MICROS_PER_HOUR
_MAX_SESSION_LEAD_US = 45 * 60 * w.MICROS_PER_SECOND
# The end of a continued simulation (`continue_after_window`): none.
_NO_END_US = np.iinfo(np.int64).max

# Fault shapes: delays are log-uniform within these bounds.
_LATE_DELAY_US = (60 * w.MICROS_PER_SECOND, 2 * w.MICROS_PER_DAY)
_DUPLICATE_DELAY_US = (w.MICROS_PER_SECOND, 6 * w.MICROS_PER_HOUR)
_MALFORMED_DELAY_US = 2 * w.MICROS_PER_SECOND

# Behaviour not in the world catalogue because it is about the event stream itself.
AUTO_TOPUP_PROBABILITY = 0.8  # when a debit exceeds the balance; else INSUFFICIENT_FUNDS
SESSION_PROBABILITY_BY_TYPE = (0.35, 0.30, 0.40, 0.0, 0.30, 0.35, 0.0)
BROWSE_SESSIONS_PER_TRANSACTION = 0.12
PREFERRED_DEVICE_PROBABILITY = 0.85
HOME_IP_PROBABILITY = 0.8
FULL_REFUND_PROBABILITY = 0.7
PROCESSING_MS_MEDIAN = 400.0
PROCESSING_MS_SIGMA = 0.6
TIMEOUT_PROCESSING_MS = 30_000
WEBHOOK_MAX_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = (30, 120, 600, 3_600)
WEBHOOK_TIMEOUT_MS = 10_000
WEBHOOK_LATENCY_MEDIAN_MS = 180.0
WEBHOOK_LATENCY_SIGMA = 0.7
_FAILING_ENDPOINT_SLOWDOWN = math.exp(0.5)
# KYC lifecycle of users who sign up inside the window.
KYC_SUBMIT_PROBABILITY = 0.85
KYC_LEVEL_WEIGHTS = np.array([0.5, 0.35, 0.15])
KYC_SUBMIT_DELAY = (3 * w.MICROS_PER_HOUR, 1.5)  # log-normal median, sigma
KYC_DECISION_DELAY = (4 * w.MICROS_PER_HOUR, 1.2)
KYC_VERIFY_PROBABILITY_BY_LEVEL = np.array([0.92, 0.90, 0.80])
KYC_RESUBMIT_PROBABILITY = 0.4
KYC_RESUBMIT_DELAY = (w.MICROS_PER_DAY, 0.8)
# Average events per transaction, measured on the default shape; only for progress bars.
_EVENTS_PER_TRANSACTION_ESTIMATE = 5.1

_SCREENS: tuple[str, ...] = (
    "home",
    "promotions",
    "history",
    "merchant_detail",
    "scan_qr",
    "topup",
    "transfer",
    "bills",
)
# The screen a user-initiated transaction of each type starts from.
_SCREEN_BY_TYPE = ("scan_qr", "topup", "transfer", "home", "history", "bills", "history")
_SCREEN_METADATA = {screen: {"screen": screen} for screen in _SCREENS}
_LOGIN_METADATA = ({"method": "biometric"}, {"method": "pin"}, {"method": "password"})
_GENERIC_USER_AGENTS = (
    "PayApp/5.12.1 (Linux; Android 14; SM-A155F) okhttp/4.12.0",
    "PayApp/5.12.1 (iPhone15,2; iOS 17.6; Scale/3.00)",
    w.WEB_AGENTS[0],
)
_AUTO_TOPUP_METADATA = {"trigger": "insufficient_balance"}
_EXTERNAL_TRANSFER_METADATA = {"source": "bank_transfer"}
_WEBHOOK_FAILURE_STATUSES = (500, 503, None)
# Webhook event type per (transaction type, status); None: no webhook.
_WEBHOOK_EVENT_TYPES: dict[tuple[int, int], str] = {
    **{
        (t, s): name
        for t in (w.PAYMENT, w.BILL_PAYMENT)
        for s, name in (
            (_SUCCESS, "payment.succeeded"),
            (_FAILED, "payment.failed"),
            (_EXPIRED, "payment.expired"),
            (_REFUNDED, "payment.refunded"),
        )
    },
    (w.REFUND, _SUCCESS): "refund.created",
    (w.REFUND, _FAILED): "refund.failed",
    (w.REFUND, _EXPIRED): "refund.failed",
}
_IS_DEBIT = tuple(t in w.DEBIT_TYPES for t in range(len(w.TRANSACTION_TYPES)))
_HAS_MERCHANT = tuple(
    t in (w.PAYMENT, w.BILL_PAYMENT, w.REFUND) for t in range(len(w.TRANSACTION_TYPES))
)
# Auto top-ups: rounded up to this step (minor units) per currency, plus a margin.
_TOPUP_STEP = (50_000 * 100, 500, 500)
_TOPUP_MARGIN_STEPS = (0, 1, 2, 4, 10)
_AUTO_TOPUP_METHODS = (w.VIRTUAL_ACCOUNT, w.BANK_TRANSFER, w.CARD)
# Timing within flows, as (low, high) microsecond bounds drawn uniformly.
_AUTO_TOPUP_LEAD_US = (30 * w.MICROS_PER_SECOND, 600 * w.MICROS_PER_SECOND)
_WEBHOOK_FIRST_DELAY_US = (200_000, 3 * w.MICROS_PER_SECOND)
_PAYMENT_PREPARATION_US = (2 * w.MICROS_PER_SECOND, 20 * w.MICROS_PER_SECOND)
_LOGIN_TO_SCREEN_US = (1 * w.MICROS_PER_SECOND, 8 * w.MICROS_PER_SECOND)
_PAYMENT_TO_LOGOUT_US = (5 * w.MICROS_PER_SECOND, 90 * w.MICROS_PER_SECOND)
_DWELL_LOGNORMAL = (2.4, 0.8)  # seconds on a screen: median ~11 s
_MAX_DWELL_SECONDS = 600


class GeneratorConfigError(ValueError):
    """A GeneratorConfig field holds a value the generator cannot use."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What to simulate. `start`, `users` and `merchants` default from the others.

    `start` (tz-aware) defaults to midnight UTC `days` days before today, so the
    window ends at today's midnight and nothing lies in the future. `users` defaults
    to about one user per daily transaction, `merchants` to one per 10.
    """

    seed: int = 0
    days: int = 7
    events_per_day: int = 10_000
    start: datetime | None = None
    late_fraction: float = 0.01
    duplicate_fraction: float = 0.005
    malformed_fraction: float = 0.002
    users: int | None = None
    merchants: int | None = None
    # Persistent tastes, drift and churn (dev/tastes.py); False: a world without signal.
    tastes: bool = True
    # The tastes' monthly rhythm per shop category (dev/tastes.py; only with tastes).
    monthly_habits: bool = True
    # Taste segments shared between users (dev/segments.py; only with tastes): what
    # collaborative filtering can learn. False: the tastes of before them.
    taste_segments: bool = True

    def __post_init__(self) -> None:
        if self.days < 1:
            raise GeneratorConfigError(f"days={self.days}: simulate at least 1 day")
        if self.events_per_day < 1:
            raise GeneratorConfigError(
                f"events_per_day={self.events_per_day}: ask for at least 1 transaction per day"
            )
        for name in ("late_fraction", "duplicate_fraction", "malformed_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise GeneratorConfigError(
                    f"{name}={value}: expected a share in [0, 1) (e.g. 0.01 for 1 %)"
                )
        start = self.start
        if start is None:
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = today - timedelta(days=self.days)
        elif start.tzinfo is None or start.utcoffset() is None:
            raise GeneratorConfigError(
                f"start={start.isoformat()}: give a time-zone aware datetime "
                "(e.g. datetime(2026, 1, 1, tzinfo=UTC))"
            )
        # A frozen dataclass resolves its defaults through object.__setattr__.
        object.__setattr__(self, "start", start.astimezone(UTC))
        users = w.default_user_count(self.events_per_day) if self.users is None else self.users
        if users < 2:
            raise GeneratorConfigError(f"users={users}: at least 2 users are needed")
        merchants = (
            w.default_merchant_count(self.events_per_day)
            if self.merchants is None
            else self.merchants
        )
        if merchants < len(w.CATEGORIES):
            raise GeneratorConfigError(
                f"merchants={merchants}: at least {len(w.CATEGORIES)} are needed (one per category)"
            )
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "merchants", merchants)

    @property
    def window_start(self) -> datetime:
        """The resolved start (always set after construction)."""
        assert self.start is not None  # resolved in __post_init__
        return self.start

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(days=self.days)


class GeneratedEvent(NamedTuple):
    """One message as a producer sends it; `topic` is the short name (no prefix)."""

    topic: str
    key: bytes
    value: bytes
    occurred_at: datetime


# One event as `generate_event_rows` yields it: (topic's index in TOPICS, key, value,
# occurred_at in µs since the epoch): a GeneratedEvent without its per-event datetime.
EventRow = tuple[int, bytes, bytes, int]


def estimate_total_events(config: GeneratorConfig) -> int:
    """A rough count of the events `generate_events(config)` yields (for progress bars)."""
    valid = config.days * config.events_per_day * _EVENTS_PER_TRANSACTION_ESTIMATE
    faults = 1.0 + config.duplicate_fraction + config.malformed_fraction
    return round(valid * faults)


def generate_events(config: GeneratorConfig) -> Iterator[GeneratedEvent]:
    """Yield the simulated stream for `config`: same config, same bytes, same order."""
    return Simulation(config).run()


def generate_event_rows(config: GeneratorConfig) -> Iterator[EventRow]:
    """`generate_events(config)`'s stream as `EventRow`s: the same events in the same
    order, without building a datetime per event (a loader that needs only the day of
    each saves about a fifth of the generator's time)."""
    return Simulation(config).run_rows()


# Payload layouts: field names and order are the event contract. `occurred_at` is
# filled in by `Simulation._emit`, which formats every timestamp the same way.
class _Transaction(msgspec.Struct, gc=False):
    event_id: str
    occurred_at: str
    schema_version: int
    user_id: str
    transaction_id: str
    amount: str
    currency: str
    transaction_type: str
    category: str
    status: str
    merchant_id: str | None
    recipient_id: str | None
    payment_method: str
    failure_reason: str | None
    retry_count: int
    processing_ms: int
    metadata: dict[str, Any] | None


class _WalletBalance(msgspec.Struct, gc=False):
    event_id: str
    occurred_at: str
    schema_version: int
    user_id: str
    wallet_id: str
    balance: str
    currency: str
    change_amount: str
    change_type: str


class _UserActivity(msgspec.Struct, gc=False):
    event_id: str
    occurred_at: str
    schema_version: int
    user_id: str
    activity_type: str
    session_id: str | None
    device_type: str | None
    ip_address: str | None
    user_agent: str | None
    duration_seconds: int | None
    metadata: dict[str, Any] | None


class _UserLifecycle(msgspec.Struct, gc=False):
    event_id: str
    occurred_at: str
    schema_version: int
    user_id: str
    event_type: str
    kyc_level: int | None
    country: str | None


class _WebhookDelivery(msgspec.Struct, gc=False):
    event_id: str
    occurred_at: str
    schema_version: int
    merchant_id: str
    webhook_event_type: str
    status: str
    attempt: int
    http_status: int | None
    latency_ms: int


_Payload = _Transaction | _WalletBalance | _UserActivity | _UserLifecycle | _WebhookDelivery
# One user-activity event of a session: (occurred_at µs, activity_type, duration, metadata).
_Step = tuple[int, str, int | None, dict[str, Any] | None]

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_BLOCK = 1 << 16
_POOL = 1 << 14  # draws per block of a pooled scalar draw


def _uuid_blocks(rng: np.random.Generator) -> Iterator[list[str]]:
    """Blocks of random (version 4) UUID strings drawn from `rng`, formatted vectorized."""
    while True:
        raw = rng.integers(0, 256, size=(_UUID_BLOCK, 16), dtype=np.uint8)
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        digits = np.empty((_UUID_BLOCK, 32), dtype=np.uint8)
        digits[:, 0::2] = _HEX_DIGITS[raw >> 4]
        digits[:, 1::2] = _HEX_DIGITS[raw & 0x0F]
        text = np.full((_UUID_BLOCK, 36), ord("-"), dtype=np.uint8)
        for (src_from, src_to), dst_from in zip(
            ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), (0, 9, 14, 19, 24), strict=True
        ):
            text[:, dst_from : dst_from + src_to - src_from] = digits[:, src_from:src_to]
        joined = text.tobytes().decode("ascii")
        yield [joined[i : i + 36] for i in range(0, len(joined), 36)]


def _uuid_source(rng: np.random.Generator) -> Callable[[], str]:
    """A function returning the next UUID string; C-level iteration keeps it cheap."""
    return itertools.chain.from_iterable(_uuid_blocks(rng)).__next__


def _pooled(draw_block: Callable[[], list[Any]]) -> Callable[[], Any]:
    """A function returning draws one by one from blocks drawn vectorized on demand.

    Scalar draws in the per-event loops (dwell times, latencies) then cost a C-level
    `next` instead of a Python-level random.lognormvariate, about 10 times less.
    """
    return itertools.chain.from_iterable(iter(draw_block, None)).__next__


def _money(minor: int) -> str:
    """Minor units as the contract's exact decimal string ("125400.00")."""
    return "%d.%02d" % divmod(minor, 100)  # noqa: UP031 (twice as fast as an f-string here)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a day is built.

    A day allocates millions of small objects and no reference cycles; the collector's
    repeated passes over them made the whole run about 25 % slower (measured: 101k
    against 127k events/s). The previous state is restored on exit, and the generator
    never yields while paused, so the consumer's code always runs with it as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _between(draw: Callable[[], float], low: int, high: int) -> int:
    """A uniform integer in [low, high); random.randrange costs several times more."""
    return low + int(draw() * (high - low))


def _log_uniform(rng: np.random.Generator, bounds: tuple[int, int], size: int) -> np.ndarray:
    low, high = bounds
    return np.exp(rng.uniform(math.log(low), math.log(high), size)).astype(np.int64)


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities, last column exactly 1 (for vectorized choice)."""
    cum = np.cumsum(weights / weights.sum(axis=-1, keepdims=True), axis=-1)
    cum[..., -1] = 1.0
    return cum


def _choose_rows(rng: np.random.Generator, cumulative_rows: np.ndarray) -> np.ndarray:
    """One category index per row of cumulative probabilities."""
    draws = rng.random(len(cumulative_rows))
    return (draws[:, None] >= cumulative_rows).sum(axis=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS = tuple(f"{second:02d}." for second in range(60))
_new_tuple = tuple.__new__
_from_timestamp = datetime.fromtimestamp
_METHOD_CUM = _cumulative(w.METHOD_WEIGHTS_BY_TYPE)
_REASON_CUM = _cumulative(w.FAILURE_REASON_WEIGHTS_BY_METHOD)


def _as_events(days: Iterator[list[EventRow]]) -> Iterator[GeneratedEvent]:
    """Each day's `EventRow`s as GeneratedEvents, built a day at a time."""
    new, names, stamp = _new_tuple, TOPICS, _from_timestamp
    for rows in days:
        # tuple.__new__ skips the NamedTuple's Python-level constructor (a third of its
        # cost); µs / 1e6 is exact to the microsecond until the 22nd century.
        yield from [
            new(GeneratedEvent, (names[topic], key, value, stamp(micros / 1e6, UTC)))
            for topic, key, value, micros in rows
        ]


class _DayDraws(NamedTuple):
    """The day's transactions as parallel lists, in time order (drawn vectorized)."""

    times: list[int]
    users: list[int]
    types: list[int]
    categories: list[int]
    merchants: list[int]
    amounts: list[int]
    methods: list[int]
    statuses: list[int]
    reasons: list[int]
    retries: list[int]
    processing_ms: list[int]
    with_session: list[bool]
    recipients: list[int]


class Simulation:
    """One run: the world, the RNGs, wallet balances, and events not yet emitted.

    `run()` yields the window; `continue_after_window()` then carries the same world on
    past it (the demo's live stream after its history).

    Events are encoded as soon as they are created (while their payload is still in
    the CPU cache) into two parallel lists, emission times and events; each day they
    are merged with what earlier days left pending and put in order with a stable
    numpy sort, so ties keep creation order (which keeps a wallet's same-instant
    events in balance order).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        seeds = np.random.SeedSequence(config.seed).spawn(4)
        world_rng, self.rng, uuid_rng = (np.random.default_rng(s) for s in seeds[:3])
        # Scalar draws inside the per-event loops are much cheaper from random.Random.
        self.py = random.Random(int.from_bytes(seeds[3].generate_state(4).tobytes(), "little"))
        self.uuid = _uuid_source(uuid_rng)
        start = config.window_start
        self.start_us = (start - _EPOCH) // timedelta(microseconds=1)
        self.end_us = self.start_us + config.days * w.MICROS_PER_DAY
        self.events_per_day = config.events_per_day
        self.window_done = False
        assert config.users is not None and config.merchants is not None  # set by the config
        self.world = w.build_world(
            world_rng, config.users, config.merchants, self.start_us, self.end_us
        )
        users = self.world.users
        self.balances: list[int] = users.opening_balance.tolist()
        # Nothing happens to a wallet before the window or before its owner signed up.
        self.last_wallet_us: list[int] = np.maximum(users.signup_us, self.start_us).tolist()
        # Per user: the last successful payment not yet refunded, for REFUNDs to refer to:
        # (merchant, category, amount, method, transaction_id).
        self.last_payment: dict[int, tuple[int, int, int, int, str]] = {}
        self.user_country = [w.COUNTRIES[c] for c in users.country.tolist()]
        self.user_currency: list[int] = users.currency.tolist()
        self.user_device: list[int] = users.device.tolist()
        self.merchant_failure: list[float] = self.world.merchants.webhook_failure_rate.tolist()
        self.currency_groups = [
            np.flatnonzero(users.currency == c) for c in range(len(w.CURRENCIES))
        ]
        self.lifecycle = self._plan_lifecycle()
        self.tastes = Tastes(
            self.world, config.seed, config.tastes, config.monthly_habits, config.taste_segments
        )
        self.encode = msgspec.json.Encoder().encode
        rng = self.rng
        self.next_dwell_seconds: Callable[[], int] = _pooled(
            lambda: (
                np.minimum(_MAX_DWELL_SECONDS, 1 + rng.lognormal(*_DWELL_LOGNORMAL, _POOL))
                .astype(np.int64)
                .tolist()
            )
        )
        self.next_webhook_latency_ms: Callable[[], float] = _pooled(
            lambda: rng.lognormal(
                math.log(WEBHOOK_LATENCY_MEDIAN_MS), WEBHOOK_LATENCY_SIGMA, _POOL
            ).tolist()
        )
        # RFC 3339 text of minutes ("2026-01-05T14:03:"), cleared every simulated day.
        self.minute_prefixes: dict[int, str] = {}
        # The day being built: emission time (µs) and event, in creation order.
        self.emit_us: list[int] = []
        self.events: list[EventRow] = []
        self.append_emit_us, self.append_event = self.emit_us.append, self.events.append

    # ----------------------------------------------------------------- the run
    def run(self) -> Iterator[GeneratedEvent]:
        """The window's days; the last one also releases everything still held back."""
        return _as_events(self._days(self.start_us, self.config.days))

    def run_rows(self) -> Iterator[EventRow]:
        """`run()` as `EventRow`s (`generate_event_rows`)."""
        return itertools.chain.from_iterable(self._days(self.start_us, self.config.days))

    def continue_after_window(self, events_per_day: int) -> Iterator[GeneratedEvent]:
        """Day after day from the window's end, endlessly, at `events_per_day`: the same
        users, merchants, tastes and wallet balances as the window (a live stream that
        carries on a history). Call it once `run()` is exhausted. The world admits no new
        users after the window, and the lifecycle plan ends with it."""
        if not self.window_done:
            raise RuntimeError("continue_after_window() needs the window's run() exhausted first")
        if events_per_day < 1:
            raise GeneratorConfigError(
                f"events_per_day={events_per_day}: ask for at least 1 transaction per day"
            )
        self.events_per_day = events_per_day
        first = self.end_us
        # Nothing after the window is cut off any more: retries and sessions that run
        # into the next day wait in the held-back part of the day.
        self.end_us = _NO_END_US
        return _as_events(self._days(first, None))

    def _days(self, first_start: int, days: int | None) -> Iterator[list[EventRow]]:
        """`days` days (None: endlessly) from `first_start`, in emission order: the
        events ready after each simulated day, as one list."""
        pending_us = np.empty(0, dtype=np.int64)
        pending: list[EventRow] = []
        for day in itertools.count() if days is None else range(days):
            day_start = first_start + day * w.MICROS_PER_DAY
            with _collection_paused():
                self.minute_prefixes.clear()
                self._simulate_day(day_start)
                emit_us = np.concatenate([pending_us, self._with_faults()])
                events = pending + self.events
                self.emit_us.clear()
                self.events.clear()
                order = np.argsort(emit_us, kind="stable")
                emit_us = emit_us[order]
                events = [events[i] for i in order.tolist()]
                if days is None or day + 1 < days:
                    # Later days date nothing before their start minus the lookback.
                    cutoff = day_start + w.MICROS_PER_DAY - _LOOKBACK_US
                    split = int(np.searchsorted(emit_us, cutoff, side="left"))
                else:
                    split = len(events)
                ready, pending, pending_us = events[:split], events[split:], emit_us[split:]
            yield ready
        self.window_done = True

    def _emit(self, micros: int, topic: int, key: bytes, payload: _Payload) -> None:
        """Encode one event now (its payload is still in the CPU cache), due at its event time.

        The hottest function of the generator, hence the inlined RFC 3339 formatting:
        the minute's prefix is cached, so a call costs a fraction of datetime.isoformat.
        """
        minute, rest = divmod(micros, 60_000_000)
        prefix = self.minute_prefixes.get(minute)
        if prefix is None:
            moment = datetime.fromtimestamp(minute * 60, UTC)
            prefix = self.minute_prefixes[minute] = moment.strftime("%Y-%m-%dT%H:%M:")
        payload.occurred_at = f"{prefix}{_SECONDS[rest // 1_000_000]}{rest % 1_000_000:06d}+00:00"
        self.append_emit_us(micros)
        self.append_event((topic, key, self.encode(payload), micros))

    def _with_faults(self) -> np.ndarray:
        """Delay some of the day's events (late), add duplicates and malformed siblings.

        Returns the emission times, extended like `self.events`.
        """
        config, rng, events = self.config, self.rng, self.events
        emit_us = np.array(self.emit_us, dtype=np.int64)
        count = len(events)
        late = np.flatnonzero(rng.random(count) < config.late_fraction)
        emit_us[late] += _log_uniform(rng, _LATE_DELAY_US, len(late))
        extra_us: list[int] = []
        duplicated = np.flatnonzero(rng.random(count) < config.duplicate_fraction)
        delays = _log_uniform(rng, _DUPLICATE_DELAY_US, len(duplicated))
        extra_us.extend((emit_us[duplicated] + delays).tolist())
        events.extend(events[i] for i in duplicated.tolist())
        malformed = np.flatnonzero(rng.random(count) < config.malformed_fraction)
        delays = rng.integers(0, _MALFORMED_DELAY_US, len(malformed))
        extra_us.extend((emit_us[malformed] + delays).tolist())
        for index in malformed.tolist():
            topic, key, value, micros = events[index]
            events.append((topic, key, self._corrupt(topic, value), micros))
        return np.concatenate([emit_us, np.array(extra_us, dtype=np.int64)])

    # ------------------------------------------------------------ user choice
    def _pick_users(self, times: np.ndarray) -> np.ndarray:
        """Users by activity weight among those already signed up at each time."""
        users = self.world.users
        registered = np.searchsorted(users.signup_us, times, side="right")
        # Activity weights as the day's tastes left them (engagement, churn).
        weights_cumsum = self.tastes.weights_cumsum
        totals = weights_cumsum[registered - 1]
        draws = self.rng.random(len(times)) * totals
        picked = np.searchsorted(weights_cumsum, draws, side="right")
        return np.minimum(picked, registered - 1)

    def _pick_recipients(
        self, senders: np.ndarray, times: np.ndarray, currencies: np.ndarray
    ) -> np.ndarray:
        """A registered user of the sender's currency other than the sender; -1 if none."""
        users = self.world.users
        recipients = np.full(len(senders), -1, dtype=np.int64)
        for currency, members in enumerate(self.currency_groups):
            rows = np.flatnonzero(currencies == currency)
            if len(rows) == 0 or len(members) < 2:
                continue
            registered = np.searchsorted(users.signup_us[members], times[rows], side="right")
            cumsum = np.cumsum(users.activity[members])
            limit = np.maximum(registered, 1)
            draws = self.rng.random(len(rows)) * cumsum[limit - 1]
            position = np.minimum(np.searchsorted(cumsum, draws, side="right"), limit - 1)
            is_self = members[position] == senders[rows]
            position = np.where(is_self, (position + 1) % limit, position)
            recipients[rows] = np.where(registered >= 2, members[position], -1)
        return recipients

    # ---------------------------------------------------------------- the day
    def _simulate_day(self, day_start: int) -> None:
        self.tastes.start_day(day_start)
        draws = self._draw_day(day_start)
        self._transactions(draws)
        self.tastes.end_day(
            np.array(draws.users, dtype=np.int64), np.array(draws.statuses) == _FAILED
        )
        self._browse_sessions(day_start, len(draws.times))
        self._lifecycle_events(day_start)

    def _draw_day(self, day_start: int) -> _DayDraws:
        """Every per-transaction draw of the day that does not depend on balances."""
        rng = self.rng
        users, merchants = self.world.users, self.world.merchants
        count = int(rng.poisson(self.events_per_day * w.day_volume_factor(day_start)))
        times = w.draw_times_in_day(rng, day_start, count)
        who = self._pick_users(times)
        # With taste segments, each transaction follows its user's segment's types and
        # methods (same number of draws from `rng` either way).
        segments = self.tastes.transaction_segments(who)
        if segments is None:
            types = rng.choice(len(w.TRANSACTION_TYPES), size=count, p=w.TRANSACTION_TYPE_WEIGHTS)
        else:
            assert self.tastes.segments is not None
            types = _choose_rows(rng, self.tastes.segments.type_cum[segments])
        currencies = users.currency[who]

        # Transfers need a peer in the same currency; without one, money leaves to a bank.
        recipients = np.full(count, -1, dtype=np.int64)
        transfer_rows = np.flatnonzero(types == w.TRANSFER_OUT)
        recipients[transfer_rows] = self._pick_recipients(
            who[transfer_rows], times[transfer_rows], currencies[transfer_rows]
        )
        types[transfer_rows[recipients[transfer_rows] < 0]] = w.WITHDRAWAL

        if segments is None:
            methods = _choose_rows(rng, _METHOD_CUM[types])
        else:
            assert self.tastes.segments is not None
            methods = _choose_rows(rng, self.tastes.segments.method_cum[segments, types])
        categories = np.full(count, w.TOPUP_CATEGORY_INDEX, dtype=np.int64)
        categories[(types == w.TRANSFER_OUT) | (types == w.TRANSFER_IN)] = w.TRANSFER_CATEGORY_INDEX
        categories[types == w.WITHDRAWAL] = w.WITHDRAWAL_CATEGORY_INDEX
        shop_rows = np.flatnonzero((types == w.PAYMENT) | (types == w.REFUND))
        shop_choice = _choose_rows(rng, self.tastes.taste_cumsum[who[shop_rows]])
        categories[shop_rows] = np.array(w.SHOP_CATEGORIES)[shop_choice]
        bill_rows = np.flatnonzero(types == w.BILL_PAYMENT)
        categories[bill_rows] = rng.choice(
            w.BILLER_CATEGORIES,
            size=len(bill_rows),
            p=w.BILLER_CATEGORY_SHARES / w.BILLER_CATEGORY_SHARES.sum(),
        )
        chosen_merchants = np.full(count, -1, dtype=np.int64)
        for category in range(len(w.CATEGORIES)):
            rows = np.flatnonzero(categories == category)
            cumsum = merchants.popularity_cumsum_by_category[category]
            position = np.searchsorted(cumsum, rng.random(len(rows)) * cumsum[-1], side="right")
            chosen_merchants[rows] = merchants.by_category[category][
                np.minimum(position, len(cumsum) - 1)
            ]

        chosen_merchants = self.tastes.choose_merchants(who, categories, chosen_merchants, segments)
        amounts = self._draw_amounts(categories, currencies)
        retries = rng.choice(w.RETRY_COUNTS, size=count, p=w.RETRY_WEIGHTS)
        statuses = self._draw_statuses(types, methods, retries)
        reasons = np.where(statuses == _FAILED, _choose_rows(rng, _REASON_CUM[methods]), -1)
        processing = rng.lognormal(math.log(PROCESSING_MS_MEDIAN), PROCESSING_MS_SIGMA, count)
        # Each retry waits for a timeout or a back-off before trying again.
        processing += retries * rng.uniform(800.0, 2_500.0, count)
        processing = processing.astype(np.int64)
        timed_out = reasons == w.TIMEOUT
        processing[timed_out] = TIMEOUT_PROCESSING_MS + rng.integers(0, 2_000, timed_out.sum())
        with_session = rng.random(count) < np.array(SESSION_PROBABILITY_BY_TYPE)[types]
        return _DayDraws(
            times.tolist(),
            who.tolist(),
            types.tolist(),
            categories.tolist(),
            chosen_merchants.tolist(),
            amounts.tolist(),
            methods.tolist(),
            statuses.tolist(),
            reasons.tolist(),
            retries.tolist(),
            processing.tolist(),
            with_session.tolist(),
            recipients.tolist(),
        )

    def _draw_amounts(self, categories: np.ndarray, currencies: np.ndarray) -> np.ndarray:
        """Minor units: log-normal in IDR per category, rounded like real price tags."""
        profiles = np.array(w.AMOUNT_PROFILES, dtype=np.float64)
        median, sigma, step = (profiles[categories, i] for i in range(3))
        idr = median * np.exp(sigma * self.rng.standard_normal(len(categories)))
        idr_rounded = np.maximum(step, np.round(idr / step) * step)
        foreign = np.maximum(100.0, np.round(idr / w.IDR_PER_UNIT[currencies] * 100))
        return np.where(currencies == w.IDR, idr_rounded * 100, foreign).astype(np.int64)

    def _draw_statuses(
        self, types: np.ndarray, methods: np.ndarray, retries: np.ndarray
    ) -> np.ndarray:
        """Statuses before balances are known (those can still turn a SUCCESS into FAILED)."""
        failure = w.BASE_FAILURE_BY_METHOD[methods] * (1.0 + w.FAILURE_PER_RETRY * retries)
        payer_acts = (types == w.PAYMENT) | (types == w.TOPUP) | (types == w.BILL_PAYMENT)
        expiry = np.where(payer_acts, w.EXPIRY_BY_METHOD[methods], 0.0)
        refunded = np.where(types == w.PAYMENT, w.REFUNDED_PROBABILITY, 0.0)
        pending = np.full(len(types), w.PENDING_PROBABILITY)
        bounds = np.cumsum(np.stack([failure, expiry, pending, refunded]), axis=0)
        draws = self.rng.random(len(types))
        statuses = np.full(len(types), _SUCCESS, dtype=np.int64)
        # Widest band first, so each narrower one overwrites its share of it.
        for status, upper in zip(
            (_REFUNDED, _PENDING, _EXPIRED, _FAILED), bounds[::-1], strict=True
        ):
            statuses[draws < upper] = status
        return statuses

    # ------------------------------------------------------------ transactions
    def _transactions(self, draws: _DayDraws) -> None:
        """Walk the day's transactions in time order, keeping every wallet consistent."""
        users, merchant_ids = self.world.users, self.world.merchants.ids
        user_ids, user_keys, wallet_ids = users.ids, users.keys, users.wallet_ids
        balances, last_wallet, last_payment = self.balances, self.last_wallet_us, self.last_payment
        user_currency, uuid, draw, emit = self.user_currency, self.uuid, self.py.random, self._emit
        for t, u, kind, category, merchant, amount, method, status, reason, retry, ms, *rest in zip(
            *draws, strict=True
        ):
            session, peer = rest
            metadata: dict[str, Any] | None = None
            if kind == w.REFUND:
                refunded = last_payment.pop(u, None)
                if refunded is None:
                    kind = w.PAYMENT  # nothing to refund yet: an ordinary payment
                else:
                    merchant, category, paid, method, original_id = refunded
                    if draw() >= FULL_REFUND_PROBABILITY:
                        paid = max(1, paid * (20 + int(draw() * 70)) // 100)
                    amount = paid
                    metadata = {"original_transaction_id": original_id}
            elif kind == w.TRANSFER_IN:
                metadata = _EXTERNAL_TRANSFER_METADATA
            if t <= last_wallet[u]:
                # A wallet's events get distinct, increasing instants (even after a top-up
                # or an incoming transfer just now), so ordering by time gives its balances.
                t = last_wallet[u] + 1
            is_debit = _IS_DEBIT[kind]
            currency_index = user_currency[u]
            if status == _SUCCESS and is_debit and balances[u] < amount:
                if kind == w.WITHDRAWAL:
                    # People withdraw what they have, in round amounts, if they have any.
                    step = _TOPUP_STEP[currency_index]
                    available = balances[u] // step * step
                    if available > 0:
                        amount = available
                    else:
                        status, reason, ms = _FAILED, w.INSUFFICIENT_FUNDS, ms // 4 + 20
                elif draw() < AUTO_TOPUP_PROBABILITY:
                    topped_up_at = self._auto_topup(u, t, amount - balances[u])
                    t = max(t, topped_up_at + 1)
                else:
                    status, reason, ms = _FAILED, w.INSUFFICIENT_FUNDS, ms // 4 + 20
            currency = w.CURRENCIES[currency_index]
            transaction_id = uuid()
            merchant_id = merchant_ids[merchant] if _HAS_MERCHANT[kind] else None
            if kind == w.TRANSFER_OUT:
                recipient_id: str | None = user_ids[peer]
            elif kind == w.TRANSFER_IN:
                recipient_id = user_ids[u]
            else:
                recipient_id = None
            money = _money(amount)
            payload = _Transaction(
                uuid(),
                "",
                SCHEMA_VERSION,
                user_ids[u],
                transaction_id,
                money,
                currency,
                w.TRANSACTION_TYPES[kind],
                w.ALL_CATEGORIES[category],
                STATUSES[status],
                merchant_id,
                recipient_id,
                w.PAYMENT_METHODS[method],
                w.FAILURE_REASONS[reason] if status == _FAILED else None,
                retry,
                ms,
                metadata,
            )
            emit(t, _TX, user_keys[u], payload)
            if status == _SUCCESS:
                balance = balances[u] - amount if is_debit else balances[u] + amount
                balances[u] = balance
                last_wallet[u] = t
                wallet = _WalletBalance(
                    uuid(),
                    "",
                    SCHEMA_VERSION,
                    user_ids[u],
                    wallet_ids[u],
                    _money(balance),
                    currency,
                    money,
                    "DEBIT" if is_debit else "CREDIT",
                )
                emit(t, _WALLET, user_keys[u], wallet)
                if kind == w.PAYMENT:
                    last_payment[u] = (merchant, category, amount, method, transaction_id)
                elif kind == w.TRANSFER_OUT:
                    self._transfer_in(peer, u, t, amount, ms)
            if merchant_id is not None and status != _PENDING:
                self._webhooks(merchant, kind, status, t)
            if session:
                self._session(u, t, kind, ms, transaction_id)

    def _credit(self, u: int, t: int, amount: int, currency: str) -> None:
        users = self.world.users
        balance = self.balances[u] + amount
        self.balances[u] = balance
        self.last_wallet_us[u] = t
        payload = _WalletBalance(
            self.uuid(),
            "",
            SCHEMA_VERSION,
            users.ids[u],
            users.wallet_ids[u],
            _money(balance),
            currency,
            _money(amount),
            "CREDIT",
        )
        self._emit(t, _WALLET, users.keys[u], payload)

    def _auto_topup(self, u: int, t: int, shortfall: int) -> int:
        """A top-up just before a debit the balance cannot cover; returns its time.

        It lands strictly between the wallet's previous event and the debit when there
        is room, else right after the previous event (the caller then delays the debit).
        """
        users, draw = self.world.users, self.py.random
        currency_index = self.user_currency[u]
        step = _TOPUP_STEP[currency_index]
        margin = _TOPUP_MARGIN_STEPS[int(draw() * len(_TOPUP_MARGIN_STEPS))]
        amount = (-(-shortfall // step) + margin) * step
        lead = _between(draw, *_AUTO_TOPUP_LEAD_US)
        when = max(self.last_wallet_us[u] + 1, t - lead, self.start_us)
        method = _AUTO_TOPUP_METHODS[int(draw() * len(_AUTO_TOPUP_METHODS))]
        currency = w.CURRENCIES[currency_index]
        # Top-ups are processed like any transaction: typical latency, around the median.
        ms = int(PROCESSING_MS_MEDIAN * (0.5 + draw()))
        payload = _Transaction(
            self.uuid(),
            "",
            SCHEMA_VERSION,
            users.ids[u],
            self.uuid(),
            _money(amount),
            currency,
            "TOPUP",
            w.TOPUP_CATEGORY,
            "SUCCESS",
            None,
            None,
            w.PAYMENT_METHODS[method],
            None,
            0,
            ms,
            _AUTO_TOPUP_METADATA,
        )
        self._emit(when, _TX, users.keys[u], payload)
        self._credit(u, when, amount, currency)
        return when

    def _transfer_in(self, recipient: int, sender: int, t: int, amount: int, ms: int) -> None:
        """The recipient's side of a successful transfer between users, at the same instant."""
        users = self.world.users
        t = max(t, self.last_wallet_us[recipient] + 1)
        currency = w.CURRENCIES[self.user_currency[recipient]]
        payload = _Transaction(
            self.uuid(),
            "",
            SCHEMA_VERSION,
            users.ids[recipient],
            self.uuid(),
            _money(amount),
            currency,
            "TRANSFER_IN",
            w.TRANSFER_CATEGORY,
            "SUCCESS",
            None,
            users.ids[recipient],
            "WALLET",
            None,
            0,
            ms,
            {"sender_id": users.ids[sender]},
        )
        self._emit(t, _TX, users.keys[recipient], payload)
        self._credit(recipient, t, amount, currency)

    # ---------------------------------------------------------------- webhooks
    def _webhooks(self, merchant: int, kind: int, status: int, t: int) -> None:
        """Delivery attempts to the merchant's endpoint until one succeeds or 5 fail."""
        event_type = _WEBHOOK_EVENT_TYPES.get((kind, status))
        if event_type is None:
            return
        draw, next_latency = self.py.random, self.next_webhook_latency_ms
        merchant_id = self.world.merchants.ids[merchant]
        key = self.world.merchants.keys[merchant]
        failure = self.merchant_failure[merchant]
        when = t + _between(draw, *_WEBHOOK_FIRST_DELAY_US)
        for attempt in range(1, WEBHOOK_MAX_ATTEMPTS + 1):
            if when >= self.end_us:
                return  # later attempts have not happened yet
            if draw() >= failure:
                latency = int(next_latency())
                payload = _WebhookDelivery(
                    self.uuid(),
                    "",
                    SCHEMA_VERSION,
                    merchant_id,
                    event_type,
                    "DELIVERED",
                    attempt,
                    200,
                    latency,
                )
                self._emit(when, _WEBHOOK, key, payload)
                return
            http_status = _WEBHOOK_FAILURE_STATUSES[int(draw() * len(_WEBHOOK_FAILURE_STATUSES))]
            if http_status is None:
                latency = WEBHOOK_TIMEOUT_MS
            else:
                # Failing endpoints are slower than healthy ones.
                latency = int(next_latency() * _FAILING_ENDPOINT_SLOWDOWN)
            final = attempt == WEBHOOK_MAX_ATTEMPTS
            payload = _WebhookDelivery(
                self.uuid(),
                "",
                SCHEMA_VERSION,
                merchant_id,
                event_type,
                "FAILED" if final else "RETRYING",
                attempt,
                http_status,
                latency,
            )
            self._emit(when, _WEBHOOK, key, payload)
            if not final:
                backoff_us = WEBHOOK_BACKOFF_S[attempt - 1] * w.MICROS_PER_SECOND
                when += latency * 1_000 + int(backoff_us * (0.8 + 0.4 * draw()))

    # ---------------------------------------------------------------- sessions
    def _session(self, u: int, t: int, kind: int, ms: int, transaction_id: str) -> None:
        """An app session around a transaction: login, screens, payment_started, logout."""
        draw = self.py.random
        started = t - ms * 1_000 - _between(draw, *_PAYMENT_PREPARATION_US)
        screens = [_SCREENS[int(draw() * len(_SCREENS))] for _ in range(int(draw() * 3))]
        screens.append(_SCREEN_BY_TYPE[kind])
        steps: list[_Step] = []
        when = started
        for screen in reversed(screens):
            seconds = self.next_dwell_seconds()
            if when - seconds * w.MICROS_PER_SECOND < t - _MAX_SESSION_LEAD_US:
                break  # keeps a session within the lookback of the day it belongs to
            when -= seconds * w.MICROS_PER_SECOND
            steps.append((when, "view_screen", seconds, _SCREEN_METADATA[screen]))
        steps.reverse()
        login = when - _between(draw, *_LOGIN_TO_SCREEN_US)
        end = t + _between(draw, *_PAYMENT_TO_LOGOUT_US)
        started_metadata = {
            "transaction_id": transaction_id,
            "transaction_type": w.TRANSACTION_TYPES[kind],
        }
        self._stage_session(
            u,
            [
                (login, "login", None, _LOGIN_METADATA[int(draw() * len(_LOGIN_METADATA))]),
                *steps,
                (started, "payment_started", None, started_metadata),
                (end, "logout", (end - login) // w.MICROS_PER_SECOND, None),
            ],
        )

    def _browse_sessions(self, day_start: int, transactions: int) -> None:
        """Sessions without a payment: what turns payment_started into a conversion rate."""
        rng, draw = self.rng, self.py.random
        count = int(rng.poisson(transactions * BROWSE_SESSIONS_PER_TRANSACTION))
        times = w.draw_times_in_day(rng, day_start, count)
        for u, login in zip(self._pick_users(times).tolist(), times.tolist(), strict=True):
            when = login + _between(draw, *_LOGIN_TO_SCREEN_US)
            steps: list[_Step] = [
                (login, "login", None, _LOGIN_METADATA[int(draw() * len(_LOGIN_METADATA))])
            ]
            for _ in range(1 + int(draw() * 5)):
                seconds = self.next_dwell_seconds()
                screen = _SCREENS[int(draw() * len(_SCREENS))]
                steps.append((when, "view_screen", seconds, _SCREEN_METADATA[screen]))
                when += seconds * w.MICROS_PER_SECOND
            end = when + _between(draw, *_LOGIN_TO_SCREEN_US)
            steps.append((end, "logout", (end - login) // w.MICROS_PER_SECOND, None))
            self._stage_session(u, steps)

    def _stage_session(self, u: int, steps: list[_Step]) -> None:
        """Emit a session's events on one device and address; drop those outside the window."""
        draw, users, uuid = self.py.random, self.world.users, self.uuid
        preferred = self.user_device[u]
        if draw() < PREFERRED_DEVICE_PROBABILITY:
            device, agent = preferred, users.user_agents[u]
        else:
            device = (preferred + 1 + int(draw() * 2)) % 3
            agent = _GENERIC_USER_AGENTS[device]
        home = draw() < HOME_IP_PROBABILITY
        ip = users.ip_addresses[u] if home else users.mobile_ip_addresses[u]
        session_id, device_type = uuid(), w.DEVICE_TYPES[device]
        user_id, key = users.ids[u], users.keys[u]
        # A session that began while its user was still signing up shows only from signup on.
        start, end = max(self.start_us, int(users.signup_us[u])), self.end_us
        for when, activity, duration, metadata in steps:
            if start <= when < end:
                payload = _UserActivity(
                    uuid(),
                    "",
                    SCHEMA_VERSION,
                    user_id,
                    activity,
                    session_id,
                    device_type,
                    ip,
                    agent,
                    duration,
                    metadata,
                )
                self._emit(when, _ACTIVITY, key, payload)

    # --------------------------------------------------------------- lifecycle
    def _plan_lifecycle(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Registration and KYC of users signing up in the window: (time, user, type, level)."""
        rng, users = self.rng, self.world.users
        new = np.flatnonzero(users.is_new)
        count = len(new)

        def delay(shape: tuple[int, float]) -> np.ndarray:
            median, sigma = shape
            return rng.lognormal(math.log(median), sigma, count).astype(np.int64)

        registered = users.signup_us[new]
        submits = rng.random(count) < KYC_SUBMIT_PROBABILITY
        level = rng.choice(3, size=count, p=KYC_LEVEL_WEIGHTS) + 1
        submitted = registered + delay(KYC_SUBMIT_DELAY)
        decided = submitted + delay(KYC_DECISION_DELAY)
        verified = rng.random(count) < KYC_VERIFY_PROBABILITY_BY_LEVEL[level - 1]
        resubmits = submits & ~verified & (rng.random(count) < KYC_RESUBMIT_PROBABILITY)
        resubmitted = decided + delay(KYC_RESUBMIT_DELAY)
        redecided = resubmitted + delay(KYC_DECISION_DELAY)
        reverified = rng.random(count) < KYC_VERIFY_PROBABILITY_BY_LEVEL[level - 1]

        def step(times: np.ndarray, rows: np.ndarray, kinds: np.ndarray | int) -> tuple:
            return times[rows], new[rows], np.broadcast_to(kinds, rows.shape)[rows], level[rows]

        everyone = np.ones(count, dtype=bool)
        parts = [
            step(registered, everyone, _REGISTERED),
            step(submitted, submits, _SUBMITTED),
            step(decided, submits, np.where(verified, _VERIFIED, _REJECTED)),
            step(resubmitted, resubmits, _SUBMITTED),
            step(redecided, resubmits, np.where(reverified, _VERIFIED, _REJECTED)),
        ]
        times, who, kinds, levels = (np.concatenate([p[i] for p in parts]) for i in range(4))
        keep = times < self.end_us
        times, who, kinds, levels = times[keep], who[keep], kinds[keep], levels[keep]
        # Stable: a user's steps at the same instant keep their lifecycle order.
        order = np.argsort(times, kind="stable")
        return times[order], who[order], kinds[order], levels[order]

    def _lifecycle_events(self, day_start: int) -> None:
        times, who, kinds, levels = self.lifecycle
        first, last = np.searchsorted(times, [day_start, day_start + w.MICROS_PER_DAY])
        users = self.world.users
        for t, u, kind, level in zip(
            times[first:last].tolist(),
            who[first:last].tolist(),
            kinds[first:last].tolist(),
            levels[first:last].tolist(),
            strict=True,
        ):
            payload = _UserLifecycle(
                self.uuid(),
                "",
                SCHEMA_VERSION,
                users.ids[u],
                LIFECYCLE_EVENT_TYPES[kind],
                level if kind != _REGISTERED else None,
                self.user_country[u],
            )
            self._emit(t, _LIFECYCLE, users.keys[u], payload)

    # ---------------------------------------------------------------- faults
    def _corrupt(self, topic: int, value: bytes) -> bytes:
        """A broken variant of a valid message, of one of the kinds dead letters must catch."""
        draw = self.py.random
        document = msgspec.json.decode(value)
        document["event_id"] = self.uuid()
        kinds = _CORRUPTIONS_BY_TOPIC[topic]
        kind = kinds[int(draw() * len(kinds))]
        if kind == "not_json":
            variant = int(draw() * 4)
            if variant == 0:
                return b"<html><head><title>502 Bad Gateway</title></head></html>"
            if variant == 1:
                return repr(document).encode()  # a Python dict: single quotes, None
            if variant == 2:
                return self.encode(document).decode().encode("utf-16")  # not UTF-8
            return self.encode(document) + b"\n" + self.encode(document)  # two documents
        if kind == "truncated":
            text = self.encode(document)
            return text[: _between(draw, 1, len(text) - 1)]
        if kind == "missing_field":
            fields = _REQUIRED_FIELDS[topic]
            del document[fields[int(draw() * len(fields))]]
        elif kind == "unknown_enum":
            options = _UNKNOWN_ENUM_VALUES[topic]
            field, bad = options[int(draw() * len(options))]
            document[field] = bad
        elif kind == "non_positive_amount":
            field = "amount" if topic == _TX else "change_amount"
            document[field] = "0.00" if draw() < 0.5 else "-" + document[field]
        elif kind == "naive_timestamp":
            document["occurred_at"] = document["occurred_at"].removesuffix("+00:00")
        else:
            options = _WRONG_TYPES[topic]
            field, bad = options[int(draw() * len(options))]
            document[field] = bad
        return self.encode(document)


_CORRUPTIONS_BY_TOPIC: tuple[tuple[str, ...], ...] = (
    (
        "not_json",
        "truncated",
        "missing_field",
        "unknown_enum",
        "non_positive_amount",
        "naive_timestamp",
        "wrong_type",
    ),
    (
        "not_json",
        "truncated",
        "missing_field",
        "unknown_enum",
        "non_positive_amount",
        "naive_timestamp",
        "wrong_type",
    ),
    # user-activity has no enum and no amount.
    ("not_json", "truncated", "missing_field", "naive_timestamp", "wrong_type"),
    ("not_json", "truncated", "missing_field", "unknown_enum", "naive_timestamp", "wrong_type"),
    ("not_json", "truncated", "missing_field", "unknown_enum", "naive_timestamp", "wrong_type"),
)
_REQUIRED_FIELDS: tuple[tuple[str, ...], ...] = (
    ("event_id", "occurred_at", "user_id", "amount", "currency", "transaction_type", "status"),
    ("event_id", "occurred_at", "user_id", "wallet_id", "balance", "change_amount", "change_type"),
    ("event_id", "occurred_at", "user_id", "activity_type"),
    ("event_id", "occurred_at", "user_id", "event_type"),
    ("event_id", "occurred_at", "merchant_id", "status", "attempt", "latency_ms"),
)
_UNKNOWN_ENUM_VALUES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("transaction_type", "CASHBACK"), ("status", "SUCCEEDED"), ("status", "CHARGEBACK")),
    (("change_type", "HOLD"),),
    (),
    (("event_type", "user.deleted"), ("event_type", "user.kyc_pending")),
    (("status", "BOUNCED"), ("status", "QUEUED")),
)
_WRONG_TYPES: tuple[tuple[tuple[str, Any], ...], ...] = (
    (("user_id", 12345), ("retry_count", "two"), ("processing_ms", [412])),
    (("user_id", 12345), ("wallet_id", {"id": 7})),
    (("user_id", 12345), ("duration_seconds", "long"), ("metadata", "screen=home")),
    (("user_id", 98765), ("kyc_level", "gold")),
    (("attempt", "first"), ("latency_ms", "slow"), ("merchant_id", 42)),
)
