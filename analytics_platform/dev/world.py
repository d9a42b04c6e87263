"""The simulated payments world: who exists, and the habits the generator draws from.

A `World` holds the population (users, merchants) as column arrays, built once from a
seeded `numpy.random.Generator`, plus the fixed catalogue every draw refers to:
categories with their amount distributions, payment methods, currencies, failure
reasons and the daily and weekly rhythm of activity.

Realism is in the shapes, not in the names:
- activity and popularity are heavy-tailed (log-normal users, Pareto merchants), so a
  few users and merchants dominate volumes, as in every real payments book;
- amounts are log-normal per category (a ride is cheap, a flight is not), in IDR and
  converted for the few USD/SGD wallets;
- most users (the "existing" ones) signed up before the simulated window; the others
  sign up inside it, and only they produce user-lifecycle (registration, KYC) events,
  because the stream starts at the window and cannot replay a history before it.

Users are stored in signup order, so "users registered by time t" is always a prefix
of the arrays; the generator relies on that to pick only users who already exist.
All amounts are integers in minor units (1/100 of the currency unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3_600 * MICROS_PER_SECOND
MICROS_PER_DAY = 24 * MICROS_PER_HOUR

# Merchant categories. Shops take PAYMENTs; billers take BILL_PAYMENTs.
CATEGORIES: tuple[str, ...] = (
    "groceries",
    "food_delivery",
    "transport",
    "utilities",
    "entertainment",
    "shopping",
    "health",
    "travel",
    "education",
    "telecom",
)
BILLER_CATEGORIES: tuple[int, ...] = (3, 8, 9)  # utilities, education, telecom
SHOP_CATEGORIES: tuple[int, ...] = (0, 1, 2, 4, 5, 6, 7)
# Typical share of a user's shop spending by count, before per-user taste.
SHOP_CATEGORY_SHARES = np.array([0.24, 0.26, 0.20, 0.08, 0.12, 0.06, 0.04])
BILLER_CATEGORY_SHARES = np.array([0.50, 0.15, 0.35])
# Dirichlet concentration of a user's taste around the shares: lower = more idiosyncratic.
TASTE_CONCENTRATION = 6.0

# Categories of transactions that involve no merchant.
TOPUP_CATEGORY = "topup"
TRANSFER_CATEGORY = "transfer"
WITHDRAWAL_CATEGORY = "withdrawal"
ALL_CATEGORIES: tuple[str, ...] = (
    *CATEGORIES,
    TOPUP_CATEGORY,
    TRANSFER_CATEGORY,
    WITHDRAWAL_CATEGORY,
)
TOPUP_CATEGORY_INDEX = len(CATEGORIES)
TRANSFER_CATEGORY_INDEX = len(CATEGORIES) + 1
WITHDRAWAL_CATEGORY_INDEX = len(CATEGORIES) + 2

# Per category of ALL_CATEGORIES: (median in IDR, log-normal sigma, rounding step in IDR).
# Rounding steps mimic price tags: rides to 500, top-ups and withdrawals to 50k.
AMOUNT_PROFILES: tuple[tuple[int, float, int], ...] = (
    (85_000, 0.70, 100),  # groceries
    (62_000, 0.45, 100),  # food_delivery
    (28_000, 0.60, 500),  # transport
    (320_000, 0.55, 100),  # utilities
    (90_000, 0.60, 1_000),  # entertainment
    (175_000, 0.90, 100),  # shopping
    (130_000, 0.80, 100),  # health
    (1_350_000, 0.70, 1_000),  # travel
    (850_000, 0.60, 5_000),  # education
    (100_000, 0.45, 5_000),  # telecom
    (600_000, 0.70, 50_000),  # topup
    (250_000, 1.00, 1_000),  # transfer
    (600_000, 0.70, 50_000),  # withdrawal
)

TRANSACTION_TYPES: tuple[str, ...] = (
    "PAYMENT",
    "TOPUP",
    "TRANSFER_OUT",
    "TRANSFER_IN",
    "WITHDRAWAL",
    "BILL_PAYMENT",
    "REFUND",
)
PAYMENT, TOPUP, TRANSFER_OUT, TRANSFER_IN, WITHDRAWAL, BILL_PAYMENT, REFUND = range(7)
# TRANSFER_IN here is money arriving from outside (a bank); transfers between users
# add a TRANSFER_IN for the recipient of every successful TRANSFER_OUT on top.
# Top-ups and inbound transfers roughly fund the debits on average, so balances
# wander instead of draining; shortfalls still happen (see the generator).
TRANSACTION_TYPE_WEIGHTS = np.array([0.515, 0.20, 0.08, 0.03, 0.035, 0.125, 0.015])
CREDIT_TYPES = frozenset({TOPUP, TRANSFER_IN, REFUND})
DEBIT_TYPES = frozenset({PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT})

PAYMENT_METHODS: tuple[str, ...] = ("CARD", "WALLET", "BANK_TRANSFER", "VIRTUAL_ACCOUNT", "QRIS")
CARD, WALLET, BANK_TRANSFER, VIRTUAL_ACCOUNT, QRIS = range(5)
# Rows: transaction type (TRANSACTION_TYPES order); columns: PAYMENT_METHODS.
METHOD_WEIGHTS_BY_TYPE = np.array(
    [
        [0.14, 0.38, 0.03, 0.07, 0.38],  # PAYMENT: QR codes and the wallet dominate
        [0.18, 0.00, 0.30, 0.47, 0.05],  # TOPUP: mostly virtual accounts at banks
        [0.00, 0.75, 0.25, 0.00, 0.00],  # TRANSFER_OUT
        [0.00, 0.10, 0.90, 0.00, 0.00],  # TRANSFER_IN from outside
        [0.00, 0.00, 1.00, 0.00, 0.00],  # WITHDRAWAL to a bank account
        [0.12, 0.55, 0.05, 0.28, 0.00],  # BILL_PAYMENT
        [0.20, 0.80, 0.00, 0.00, 0.00],  # REFUND (replaced by the refunded payment's)
    ]
)
# Probability that a first attempt fails for reasons other than the wallet's balance.
BASE_FAILURE_BY_METHOD = np.array([0.040, 0.011, 0.028, 0.018, 0.020])
# Each retry multiplies failure odds: retried payments are the troubled ones.
FAILURE_PER_RETRY = 1.3
# Methods where the payer must act (pay a VA, scan a QR, send a transfer) can lapse.
EXPIRY_BY_METHOD = np.array([0.0, 0.0, 0.012, 0.020, 0.010])
PENDING_PROBABILITY = 0.006
REFUNDED_PROBABILITY = 0.012  # PAYMENTs only

RETRY_COUNTS = np.array([0, 1, 2, 3])
RETRY_WEIGHTS = np.array([0.86, 0.09, 0.035, 0.015])

FAILURE_REASONS: tuple[str, ...] = (
    "INSUFFICIENT_FUNDS",
    "CARD_DECLINED",
    "TIMEOUT",
    "FRAUD_SUSPECTED",
    "INVALID_ACCOUNT",
    "LIMIT_EXCEEDED",
    "NETWORK_ERROR",
)
INSUFFICIENT_FUNDS, CARD_DECLINED, TIMEOUT, FRAUD_SUSPECTED = range(4)
INVALID_ACCOUNT, LIMIT_EXCEEDED, NETWORK_ERROR = range(4, 7)
# Rows: payment method; columns: FAILURE_REASONS. A wallet's own shortfall is not
# drawn here: it follows from the running balance.
FAILURE_REASON_WEIGHTS_BY_METHOD = np.array(
    [
        [0.18, 0.42, 0.10, 0.12, 0.00, 0.10, 0.08],  # CARD
        [0.00, 0.00, 0.25, 0.15, 0.00, 0.35, 0.25],  # WALLET
        [0.00, 0.00, 0.25, 0.00, 0.35, 0.20, 0.20],  # BANK_TRANSFER
        [0.00, 0.00, 0.45, 0.00, 0.20, 0.00, 0.35],  # VIRTUAL_ACCOUNT
        [0.00, 0.00, 0.35, 0.15, 0.00, 0.15, 0.35],  # QRIS
    ]
)

CURRENCIES: tuple[str, ...] = ("IDR", "USD", "SGD")
IDR, USD, SGD = range(3)
IDR_PER_UNIT = np.array([1.0, 16_000.0, 12_000.0])

COUNTRIES: tuple[str, ...] = ("ID", "SG", "MY", "US", "AU", "JP")
COUNTRY_WEIGHTS = np.array([0.90, 0.04, 0.025, 0.015, 0.01, 0.01])
CURRENCY_BY_COUNTRY = np.array([IDR, SGD, IDR, USD, USD, USD])
# First octets of consumer and mobile carrier address blocks, per country.
IP_FIRST_OCTETS: tuple[tuple[int, ...], ...] = (
    (36, 39, 103, 110, 112, 114, 120, 125, 180, 182, 202),
    (42, 101, 116, 175),
    (60, 115, 175),
    (24, 67, 73, 98),
    (1, 49, 101),
    (60, 126, 153),
)

DEVICE_TYPES: tuple[str, ...] = ("android", "ios", "web")
DEVICE_WEIGHTS = np.array([0.68, 0.22, 0.10])
APP_VERSIONS: tuple[str, ...] = ("5.9.2", "5.10.0", "5.10.1", "5.11.0", "5.12.1")
ANDROID_MODELS: tuple[str, ...] = (
    "SM-A546E",
    "SM-A155F",
    "Redmi Note 13",
    "CPH2591",
    "V2318",
    "Pixel 8",
    "RMX3834",
)
ANDROID_VERSIONS: tuple[str, ...] = ("11", "12", "13", "14", "15")
IPHONE_MODELS: tuple[str, ...] = ("iPhone13,2", "iPhone14,5", "iPhone15,2", "iPhone16,1")
IOS_VERSIONS: tuple[str, ...] = ("16.7", "17.4", "17.6", "18.1")
WEB_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.0.0",
)

# Relative activity per hour of the day (reporting time): quiet nights, a late-morning
# peak and a bigger evening one; weekends start later and stay busy into the night.
HOURLY_WEIGHTS_WEEKDAY = np.array(
    [
        *(0.9, 0.5, 0.3, 0.25, 0.3, 0.7, 1.8, 3.2, 4.2, 4.6, 5.0, 5.8),
        *(6.3, 5.6, 4.8, 4.6, 4.8, 5.4, 6.0, 6.6, 6.8, 5.8, 4.0, 2.2),
    ]
)
HOURLY_WEIGHTS_WEEKEND = np.array(
    [
        *(1.4, 0.9, 0.5, 0.3, 0.3, 0.4, 0.7, 1.2, 2.2, 3.8, 5.2, 6.2),
        *(6.6, 6.3, 5.8, 5.6, 5.7, 6.0, 6.5, 7.0, 7.2, 6.4, 4.8, 3.0),
    ]
)
# Monday..Sunday volume factors (mean 1): Friday and Saturday are the shopping days.
WEEKDAY_FACTORS = np.array([0.94, 0.93, 0.95, 0.97, 1.06, 1.12, 1.03])
# Salaries land at month end (25th onwards, and the 1st): a little more of everything.
PAYDAY_FACTOR = 1.08

# Share of users who sign up inside the window grows with its length, within bounds.
NEW_USER_SHARE_PER_DAY = 0.015
NEW_USER_SHARE_BOUNDS = (0.05, 0.5)
EXISTING_USER_MAX_AGE_DAYS = 730
OPENING_BALANCE_MEDIAN_IDR = 300_000
OPENING_BALANCE_SIGMA = 1.0
USER_ACTIVITY_SIGMA = 1.3
MERCHANT_POPULARITY_PARETO_SHAPE = 1.2
# Beta(a, b) of a merchant endpoint's webhook failure rate: most near 1-2 %, a few flaky;
# and a few endpoints are broken outright, so retries also run out (status FAILED).
WEBHOOK_FAILURE_BETA = (0.6, 30.0)
BROKEN_ENDPOINT_SHARE = 0.03
BROKEN_ENDPOINT_FAILURE_RANGE = (0.5, 0.95)


class WorldConfigError(ValueError):
    """The population asked for cannot be built (too few users or merchants)."""


@dataclass(frozen=True)
class Users:
    """All users, in signup order (index = rank by signup time)."""

    ids: list[str]
    keys: list[bytes]  # ids as Kafka message keys
    wallet_ids: list[str]
    signup_us: np.ndarray  # int64 microseconds since the epoch, ascending
    is_new: np.ndarray  # bool: signed up inside the window
    country: np.ndarray  # int index into COUNTRIES
    currency: np.ndarray  # int index into CURRENCIES (one wallet per user)
    device: np.ndarray  # int index into DEVICE_TYPES: the preferred device
    user_agents: list[str]  # on the preferred device
    ip_addresses: list[str]  # the usual (home) address
    mobile_ip_addresses: list[str]  # the address away from home
    activity: np.ndarray  # float weight, heavy-tailed
    activity_cumsum: np.ndarray  # float, cumulative activity in signup order
    taste_cumsum: np.ndarray  # (n, len(SHOP_CATEGORIES)) cumulative shop-category taste
    opening_balance: np.ndarray  # int64 minor units at the window start

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Merchants:
    """All merchants, with a category each and a heavy-tailed popularity."""

    ids: list[str]
    keys: list[bytes]
    category: np.ndarray  # int index into CATEGORIES
    popularity: np.ndarray  # float weight
    webhook_failure_rate: np.ndarray  # float probability an attempt fails
    # Per category index: the merchant indices of that category and their popularity cumsum.
    by_category: tuple[np.ndarray, ...]
    popularity_cumsum_by_category: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class World:
    """The population of one simulation and its window [start_us, end_us)."""

    users: Users
    merchants: Merchants
    start_us: int
    end_us: int


def default_user_count(events_per_day: int) -> int:
    """About one transaction per user per day on average (heavy-tailed around it)."""
    return max(50, events_per_day)


def default_merchant_count(events_per_day: int) -> int:
    """Enough merchants for the popularity tail to show in every category."""
    return max(len(CATEGORIES) * 2, events_per_day // 10)


def new_user_share(days: int) -> float:
    """Share of users who sign up inside a window of `days` days."""
    low, high = NEW_USER_SHARE_BOUNDS
    return float(min(high, max(low, NEW_USER_SHARE_PER_DAY * days)))


def _midday(day_start_us: int) -> np.datetime64:
    """The UTC date at the middle of the 24 hours from `day_start_us` (the day they mostly are)."""
    return np.datetime64((day_start_us + MICROS_PER_DAY // 2) // MICROS_PER_DAY, "D")


def is_weekend(day_start_us: int) -> bool:
    """Whether the 24 hours from `day_start_us` are mostly a Saturday or Sunday (UTC)."""
    return _midday(day_start_us).astype(object).weekday() >= 5


def day_volume_factor(day_start_us: int) -> float:
    """Relative transaction volume of the 24 hours from `day_start_us` (mean about 1)."""
    day = _midday(day_start_us).astype(object)
    factor = float(WEEKDAY_FACTORS[day.weekday()])
    if day.day >= 25 or day.day == 1:
        factor *= PAYDAY_FACTOR
    return factor


def draw_times_in_day(rng: np.random.Generator, day_start_us: int, count: int) -> np.ndarray:
    """`count` sorted microsecond timestamps in the 24 hours from `day_start_us`.

    The hourly rhythm follows the clock (UTC), so a window that does not start at
    midnight still has its quiet hours at night.
    """
    weights = HOURLY_WEIGHTS_WEEKEND if is_weekend(day_start_us) else HOURLY_WEIGHTS_WEEKDAY
    weights = np.roll(weights, -((day_start_us // MICROS_PER_HOUR) % 24))
    hours = rng.choice(24, size=count, p=weights / weights.sum())
    offsets = hours.astype(np.int64) * MICROS_PER_HOUR + rng.integers(
        0, MICROS_PER_HOUR, size=count, dtype=np.int64
    )
    offsets.sort()
    return offsets + day_start_us


def _hex_ids(rng: np.random.Generator, prefix: str, count: int, digits: int) -> list[str]:
    """Distinct `prefix` + `digits` hex characters, drawn from `rng`."""
    space = 16**digits
    values = np.unique(rng.integers(0, space, size=count, dtype=np.int64))
    while len(values) < count:
        extra = rng.integers(0, space, size=count - len(values), dtype=np.int64)
        values = np.unique(np.concatenate([values, extra]))
    values = rng.permutation(values)
    return [f"{prefix}{value:0{digits}x}" for value in values.tolist()]


def _pick(rng: np.random.Generator, options: tuple[str, ...], count: int) -> list[str]:
    return [options[i] for i in rng.integers(len(options), size=count).tolist()]


def _user_agents(rng: np.random.Generator, device: np.ndarray) -> list[str]:
    """An app (or browser) user agent per user for the preferred device."""
    count = len(device)
    versions = _pick(rng, APP_VERSIONS, count)
    android = zip(
        _pick(rng, ANDROID_VERSIONS, count), _pick(rng, ANDROID_MODELS, count), strict=True
    )
    iphone = zip(_pick(rng, IOS_VERSIONS, count), _pick(rng, IPHONE_MODELS, count), strict=True)
    web = _pick(rng, WEB_AGENTS, count)
    agents = []
    for kind, version, (os_version, model), (ios, iphone_model), browser in zip(
        device.tolist(), versions, android, iphone, web, strict=True
    ):
        if kind == 0:
            agents.append(f"PayApp/{version} (Linux; Android {os_version}; {model}) okhttp/4.12.0")
        elif kind == 1:
            agents.append(f"PayApp/{version} ({iphone_model}; iOS {ios}; Scale/3.00)")
        else:
            agents.append(browser)
    return agents


def _ip_addresses(rng: np.random.Generator, country: np.ndarray) -> list[str]:
    """An IPv4 address per user inside an address block of the user's country."""
    first = np.zeros(len(country), dtype=np.int64)
    for index, octets in enumerate(IP_FIRST_OCTETS):
        rows = np.flatnonzero(country == index)
        first[rows] = np.array(octets)[rng.integers(len(octets), size=len(rows))]
    rest = rng.integers(1, 255, size=(len(country), 3)).tolist()
    return [f"{a}.{b}.{c}.{d}" for a, (b, c, d) in zip(first.tolist(), rest, strict=True)]


def build_users(rng: np.random.Generator, count: int, start_us: int, end_us: int) -> Users:
    if count < 2:
        raise WorldConfigError(
            f"users={count}: at least 2 users are needed (transfers go between users)"
        )
    days = max(1, (end_us - start_us) // MICROS_PER_DAY)
    new_count = min(count - 2, round(count * new_user_share(days)))
    existing_count = count - new_count

    oldest_us = start_us - EXISTING_USER_MAX_AGE_DAYS * MICROS_PER_DAY
    existing = rng.integers(oldest_us, start_us - MICROS_PER_HOUR, size=existing_count)
    # New users arrive with the same daily rhythm as payments.
    new_days = rng.integers(0, days, size=new_count)
    new_parts = [
        draw_times_in_day(rng, start_us + day * MICROS_PER_DAY, int((new_days == day).sum()))
        for day in range(days)
    ]
    new = np.concatenate([existing[:0], *new_parts])
    signup_us = np.concatenate([np.sort(existing), np.sort(new)]).astype(np.int64)
    is_new = np.arange(count) >= existing_count

    ids = _hex_ids(rng, "usr_", count, 12)
    wallet_ids = _hex_ids(rng, "wal_", count, 12)
    country = rng.choice(len(COUNTRIES), size=count, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    currency = CURRENCY_BY_COUNTRY[country]
    device = rng.choice(len(DEVICE_TYPES), size=count, p=DEVICE_WEIGHTS / DEVICE_WEIGHTS.sum())
    activity = rng.lognormal(0.0, USER_ACTIVITY_SIGMA, size=count)
    taste = rng.dirichlet(SHOP_CATEGORY_SHARES * TASTE_CONCENTRATION, size=count)
    taste_cumsum = np.cumsum(taste, axis=1)
    taste_cumsum[:, -1] = 1.0  # guards the last bucket against rounding below 1

    opening_idr = rng.lognormal(np.log(OPENING_BALANCE_MEDIAN_IDR), OPENING_BALANCE_SIGMA, count)
    # Rupiah balances are whole rupiah, like every rupiah amount here.
    opening_units = np.where(
        currency == IDR, np.round(opening_idr), np.round(opening_idr / IDR_PER_UNIT[currency], 2)
    )
    opening = np.round(opening_units * 100).astype(np.int64)
    opening[is_new] = 0

    return Users(
        ids=ids,
        keys=[user_id.encode() for user_id in ids],
        wallet_ids=wallet_ids,
        signup_us=signup_us,
        is_new=is_new,
        country=country,
        currency=currency,
        device=device,
        user_agents=_user_agents(rng, device),
        ip_addresses=_ip_addresses(rng, country),
        mobile_ip_addresses=_ip_addresses(rng, country),
        activity=activity,
        activity_cumsum=np.cumsum(activity),
        taste_cumsum=taste_cumsum,
        opening_balance=opening,
    )


def build_merchants(rng: np.random.Generator, count: int) -> Merchants:
    if count < len(CATEGORIES):
        raise WorldConfigError(
            f"merchants={count}: at least {len(CATEGORIES)} merchants are needed, one per "
            f"category ({', '.join(CATEGORIES)})"
        )
    ids = _hex_ids(rng, "mch_", count, 10)
    shares = np.zeros(len(CATEGORIES))
    shares[list(SHOP_CATEGORIES)] = SHOP_CATEGORY_SHARES * 0.85
    shares[list(BILLER_CATEGORIES)] = BILLER_CATEGORY_SHARES * 0.15
    # The first merchants cover every category once; the rest follow the spending shares.
    category = np.concatenate(
        [
            np.arange(len(CATEGORIES)),
            rng.choice(len(CATEGORIES), size=count - len(CATEGORIES), p=shares / shares.sum()),
        ]
    )
    popularity = rng.pareto(MERCHANT_POPULARITY_PARETO_SHAPE, size=count) + 1.0
    webhook_failure_rate = rng.beta(*WEBHOOK_FAILURE_BETA, size=count)
    broken = rng.random(count) < BROKEN_ENDPOINT_SHARE
    webhook_failure_rate[broken] = rng.uniform(*BROKEN_ENDPOINT_FAILURE_RANGE, size=broken.sum())
    by_category = tuple(np.flatnonzero(category == c) for c in range(len(CATEGORIES)))
    return Merchants(
        ids=ids,
        keys=[merchant_id.encode() for merchant_id in ids],
        category=category,
        popularity=popularity,
        webhook_failure_rate=webhook_failure_rate,
        by_category=by_category,
        popularity_cumsum_by_category=tuple(np.cumsum(popularity[idx]) for idx in by_category),
    )


def build_world(
    rng: np.random.Generator, users: int, merchants: int, start_us: int, end_us: int
) -> World:
    """The population for the window [start_us, end_us), drawn from `rng`."""
    return World(
        users=build_users(rng, users, start_us, end_us),
        merchants=build_merchants(rng, merchants),
        start_us=start_us,
        end_us=end_us,
    )
