"""Compiled inner loops of ingestion: plain JSON events -> PostgreSQL binary COPY rows.

Decoding each message into Python objects and formatting them for COPY cost about 10 us
per transaction event on this machine, twice what a 2-core box can spend next to the
database; these loops (numba, no Python objects per message) take about 1 us.

They are a *recognizer*, not a JSON library: a message is encoded here only if it is in
a plain form whose meaning is certain (see `encode_rows`); anything else, valid or not,
is left to the event contract's msgspec decoder (`events.EventDecoder`), which stays the
one judge of validity and the author of every dead-letter reason. The field tables the
loops read are built from the contract in `copy_layout.py`.

No recursion anywhere: numba's on-disk cache crashed the process when it loaded a
recursive function compiled in an earlier run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Field kinds (column KIND of the field table).
UUID = 1
TIMESTAMP = 2
DECIMAL = 3
TEXT = 4
INT = 5
ENUM = 6
OBJECT = 7

# Columns of the field table, one row per field of the event schema.
KIND = 0
FLAGS = 1
DEFAULT = 2
MIN = 3  # text: fewest code points; int: smallest value
MAX = 4
WIDTH = 5  # int: bytes of the PostgreSQL integer type (2, 4, 8)
ENUM_FIRST = 6
ENUM_COUNT = 7
KEY_FIRST = 8
KEY_LEN = 9
FIELD_COLUMNS = 10

# FLAGS bits.
NULLABLE = 1
REQUIRED = 2
HAS_DEFAULT = 4
UPPER_ASCII = 8  # text must be exactly MIN characters A-Z (patterns like ^[A-Z]{3}$)
POSITIVE = 16  # decimal must be > 0

# Output columns that do not come from the event.
SOURCE_PARTITION = -1
SOURCE_OFFSET = -2

# Per-message outcome in `status`.
FALLBACK = 0
ENCODED = 1

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, PostgreSQL's timestamp origin
_MAX_DEPTH = 32  # nesting accepted inside object fields
_MAX_INT_DIGITS = 18  # int64 without overflow checks
_MAX_DECIMAL_DIGITS = 15  # integer digits: every contract amount is below 1e15
_MAX_SCALE = 16  # fractional digits: four base-10000 NUMERIC groups

# Byte classes inside a JSON string: 0 plain ASCII, 1 closing quote, 2 something this
# recognizer does not take (escape or control character), 3 start of a UTF-8 sequence.
_STRING_CLASS = np.zeros(256, np.uint8)
_STRING_CLASS[:32] = 2
_STRING_CLASS[ord('"')] = 1
_STRING_CLASS[ord("\\")] = 2
_STRING_CLASS[128:] = 3


@njit(cache=True, nogil=True, inline="always")
def _skip_ws(buf: np.ndarray, p: int, e: int) -> int:
    if p < e and buf[p] > 32:
        return p
    while p < e:
        c = buf[p]
        if c == 32 or c == 10 or c == 13 or c == 9:
            p += 1
        else:
            break
    return p


@njit(cache=True, nogil=True)
def _scan_string(buf: np.ndarray, p: int, e: int) -> tuple[int, int]:
    """A string starting at the quote `p`: (index after its closing quote, code points),
    or (-1, 0) if it holds an escape, a control character or invalid UTF-8.

    Escapes are refused rather than decoded: they are rare in events, and refusing them
    keeps the bytes between the quotes equal to the string's value.
    """
    p += 1
    first = p
    continuation = 0
    # Unsigned positions spare numba's negative-index check on every byte.
    q = np.uint64(p)
    end = np.uint64(e)
    one = np.uint64(1)
    while q < end and _STRING_CLASS[buf[q]] == 0:
        q += one
    p = np.int64(q)
    while p < e:
        c = buf[p]
        k = _STRING_CLASS[c]
        if k == 0:
            p += 1
            continue
        if k == 1:
            return p + 1, p - first - continuation
        if k == 2 or c < 0xC2 or c > 0xF4:
            return -1, 0
        # UTF-8 as Python's strict decoder reads it: no overlong forms, no surrogates,
        # nothing above U+10FFFF.
        if c < 0xE0:
            n = 1
        elif c < 0xF0:
            n = 2
        else:
            n = 3
        if p + n >= e:
            return -1, 0
        for k2 in range(1, n + 1):
            if (buf[p + k2] & 0xC0) != 0x80:
                return -1, 0
        c1 = buf[p + 1]
        if (
            (c == 0xE0 and c1 < 0xA0)
            or (c == 0xED and c1 >= 0xA0)
            or (c == 0xF0 and c1 < 0x90)
            or (c == 0xF4 and c1 >= 0x90)
        ):
            return -1, 0
        p += n + 1
        continuation += n
    return -1, 0


@njit(cache=True, nogil=True)
def _scan_int(buf: np.ndarray, p: int, e: int) -> tuple[int, int]:
    """A JSON integer (no fraction, no exponent, at most 18 digits): (end, value) or (-1, 0)."""
    negative = p < e and buf[p] == 45
    if negative:
        p += 1
    if p >= e or buf[p] < 48 or buf[p] > 57:
        return -1, 0
    if buf[p] == 48 and p + 1 < e and 48 <= buf[p + 1] <= 57:
        return -1, 0  # leading zero: not JSON
    value = 0
    digits = 0
    while p < e and 48 <= buf[p] <= 57:
        value = value * 10 + (buf[p] - 48)
        p += 1
        digits += 1
        if digits > _MAX_INT_DIGITS:
            return -1, 0
    if p < e and (buf[p] == 46 or buf[p] == 101 or buf[p] == 69):
        return -1, 0
    return p, -value if negative else value


@njit(cache=True, nogil=True)
def _skip_scalar(buf: np.ndarray, p: int, e: int) -> int:
    """A string, an integer other than -0, true, false or null: its end, or -1."""
    c = buf[p]
    if c == 34:
        q, _ = _scan_string(buf, p, e)
        return q
    if c == 116:
        ok = p + 4 <= e and buf[p + 1] == 114 and buf[p + 2] == 117 and buf[p + 3] == 101
        return p + 4 if ok else -1
    if c == 102:
        ok = (
            p + 5 <= e
            and buf[p + 1] == 97
            and buf[p + 2] == 108
            and buf[p + 3] == 115
            and buf[p + 4] == 101
        )
        return p + 5 if ok else -1
    if c == 110:
        ok = p + 4 <= e and buf[p + 1] == 117 and buf[p + 2] == 108 and buf[p + 3] == 108
        return p + 4 if ok else -1
    q, value = _scan_int(buf, p, e)
    # Floats and -0 would come back from msgspec re-encoded differently (1.10 -> 1.1).
    if q < 0 or (value == 0 and c == 45):
        return -1
    return q


@njit(cache=True, nogil=True)
def _skip_value(buf: np.ndarray, p: int, e: int, stack: np.ndarray) -> int:
    """A JSON value made of objects, arrays and what `_skip_scalar` takes: its end, or -1."""
    depth = 0
    while True:
        p = _skip_ws(buf, p, e)
        if p >= e:
            return -1
        c = buf[p]
        if c == 123 or c == 91:  # { or [
            if depth >= stack.shape[0]:
                return -1
            stack[depth] = c
            depth += 1
            p = _skip_ws(buf, p + 1, e)
            if p >= e:
                return -1
            if buf[p] == c + 2:  # } or ]: empty
                depth -= 1
                p += 1
            elif c == 123:
                if buf[p] != 34:
                    return -1
                p, _ = _scan_string(buf, p, e)
                if p < 0:
                    return -1
                p = _skip_ws(buf, p, e)
                if p >= e or buf[p] != 58:
                    return -1
                p += 1
                continue
            else:
                continue
        else:
            p = _skip_scalar(buf, p, e)
            if p < 0:
                return -1
        # After a value: close containers, or step to the next element.
        while True:
            if depth == 0:
                return p
            p = _skip_ws(buf, p, e)
            if p >= e:
                return -1
            c = buf[p]
            top = stack[depth - 1]
            if c == top + 2:
                depth -= 1
                p += 1
                continue
            if c != 44:
                return -1
            p = _skip_ws(buf, p + 1, e)
            if top == 123:
                if p >= e or buf[p] != 34:
                    return -1
                p, _ = _scan_string(buf, p, e)
                if p < 0:
                    return -1
                p = _skip_ws(buf, p, e)
                if p >= e or buf[p] != 58:
                    return -1
                p += 1
            break


@njit(cache=True, nogil=True)
def _digits(buf: np.ndarray, p: int, n: int) -> int:
    value = 0
    for k in range(n):
        c = buf[p + k]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (c - 48)
    return value


@njit(cache=True, nogil=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True)
def _parse_timestamp(buf: np.ndarray, s: int, e: int) -> tuple[bool, int]:
    """`YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)` -> (ok, microseconds since 1970 UTC).

    The forms msgspec also accepts but that are taken here only through it (lower-case
    or space separators, offsets without a colon, more than 6 fractional digits, which
    it rounds) fall back.
    """
    if e - s < 20:
        return False, 0
    if buf[s + 4] != 45 or buf[s + 7] != 45 or buf[s + 10] != 84:
        return False, 0
    if buf[s + 13] != 58 or buf[s + 16] != 58:
        return False, 0
    year = _digits(buf, s, 4)
    month = _digits(buf, s + 5, 2)
    day = _digits(buf, s + 8, 2)
    hour = _digits(buf, s + 11, 2)
    minute = _digits(buf, s + 14, 2)
    second = _digits(buf, s + 17, 2)
    if year < 1 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23:
        return False, 0
    if minute < 0 or minute > 59 or second < 0 or second > 59:
        return False, 0
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        month_days = 29 if leap else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        month_days = 30
    else:
        month_days = 31
    if day > month_days:
        return False, 0
    p = s + 19
    micros = 0
    if buf[p] == 46:
        p += 1
        n = 0
        while p < e and 48 <= buf[p] <= 57:
            micros = micros * 10 + (buf[p] - 48)
            n += 1
            p += 1
        if n == 0 or n > 6:
            return False, 0
        for _ in range(6 - n):
            micros *= 10
    offset = 0
    if p + 1 == e and buf[p] == 90:
        p += 1
    elif p + 6 == e and (buf[p] == 43 or buf[p] == 45) and buf[p + 3] == 58:
        oh = _digits(buf, p + 1, 2)
        om = _digits(buf, p + 4, 2)
        if oh < 0 or oh > 23 or om < 0 or om > 59:
            return False, 0
        offset = (oh * 60 + om) * 60
        if buf[p] == 45:
            offset = -offset
        p += 6
    else:
        return False, 0
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return True, (seconds - offset) * 1_000_000 + micros


@njit(cache=True, nogil=True)
def _parse_decimal(buf: np.ndarray, s: int, e: int) -> tuple[bool, bool, int, int, int]:
    """`-?digits(.digits)?` -> (ok, negative, integer part, fraction digits, scale).

    At most 15 significant integer digits and 16 fractional ones; the caller has
    checked that a bare JSON number has no leading zero.
    """
    p = s
    negative = p < e and buf[p] == 45
    if negative:
        p += 1
    whole = 0
    digits = 0
    significant = 0
    while p < e and 48 <= buf[p] <= 57:
        whole = whole * 10 + (buf[p] - 48)
        if whole > 0:
            significant += 1
        digits += 1
        p += 1
    if digits == 0 or significant > _MAX_DECIMAL_DIGITS:
        return False, False, 0, 0, 0
    fraction = 0
    scale = 0
    if p < e and buf[p] == 46:
        p += 1
        while p < e and 48 <= buf[p] <= 57:
            fraction = fraction * 10 + (buf[p] - 48)
            scale += 1
            p += 1
            if scale > _MAX_SCALE:
                return False, False, 0, 0, 0
        if scale == 0:
            return False, False, 0, 0, 0
    if p != e:
        return False, False, 0, 0, 0
    return True, negative, whole, fraction, scale


@njit(cache=True, nogil=True)
def _put16(out: np.ndarray, o: int, v: int) -> None:
    out[o] = (v >> 8) & 0xFF
    out[o + 1] = v & 0xFF


@njit(cache=True, nogil=True)
def _put32(out: np.ndarray, o: int, v: int) -> None:
    out[o] = (v >> 24) & 0xFF
    out[o + 1] = (v >> 16) & 0xFF
    out[o + 2] = (v >> 8) & 0xFF
    out[o + 3] = v & 0xFF


@njit(cache=True, nogil=True)
def _put64(out: np.ndarray, o: int, v: int) -> None:
    for k in range(8):
        out[o + k] = (v >> (56 - 8 * k)) & 0xFF


@njit(cache=True, nogil=True)
def _hex(c: int) -> int:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@njit(cache=True, nogil=True)
def _parse_uuid(buf: np.ndarray, a: int, b: int) -> tuple[bool, np.uint64, np.uint64]:
    """36-character hyphenated or 32-character hex UUID, either case -> (ok, high, low)."""
    length = b - a
    hyphens = length == 36
    if hyphens:
        if buf[a + 8] != 45 or buf[a + 13] != 45 or buf[a + 18] != 45 or buf[a + 23] != 45:
            return False, np.uint64(0), np.uint64(0)
    elif length != 32:
        return False, np.uint64(0), np.uint64(0)
    high = np.uint64(0)
    low = np.uint64(0)
    n = 0
    for k in range(length):
        if hyphens and (k == 8 or k == 13 or k == 18 or k == 23):
            continue
        h = _hex(buf[a + k])
        if h < 0:
            return False, np.uint64(0), np.uint64(0)
        if n < 16:
            high = (high << np.uint64(4)) | np.uint64(h)
        else:
            low = (low << np.uint64(4)) | np.uint64(h)
        n += 1
    return True, high, low


@njit(cache=True, nogil=True)
def _same(buf: np.ndarray, a: int, other: np.ndarray, b: int, n: int) -> bool:
    """buf[a:a+n] == other[b:b+n]."""
    a_ = np.uint64(a)
    b_ = np.uint64(b)
    for k in range(np.uint64(n)):  # noqa: SIM110 - numba compiles no generator expressions
        if buf[a_ + k] != other[b_ + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _copy(out: np.ndarray, o: int, buf: np.ndarray, a: int, n: int) -> None:
    """out[o:o+n] = buf[a:a+n]. Unsigned indices spare numba's negative-index check,
    which otherwise keeps the loop from being vectorized (3x slower here)."""
    o_ = np.uint64(o)
    a_ = np.uint64(a)
    for k in range(np.uint64(n)):
        out[o_ + k] = buf[a_ + k]


@njit(cache=True, nogil=True)
def _find_field(
    buf: np.ndarray, ks: int, klen: int, fields: np.ndarray, keys: np.ndarray, guess: int
) -> int:
    """Index of the field named buf[ks:ks+klen], or -1; tries `guess` first, since
    producers write the fields of every event in the same order."""
    count = fields.shape[0]
    for step in range(count):
        f = guess + step
        if f >= count:
            f -= count
        if fields[f, KEY_LEN] == klen and _same(buf, ks, keys, fields[f, KEY_FIRST], klen):
            return f
    return -1


@njit(cache=True, nogil=True)
def encode_rows(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    partitions: np.ndarray,
    offsets: np.ndarray,
    fields: np.ndarray,
    keys: np.ndarray,
    enum_bytes: np.ndarray,
    enum_bounds: np.ndarray,
    rules: np.ndarray,
    columns: np.ndarray,
    id_field: int,
    time_field: int,
    not_before: int,
    until: int,
    out: np.ndarray,
    out_start: int,
    status: np.ndarray,
    row_start: np.ndarray,
    row_end: np.ndarray,
    id_high: np.ndarray,
    id_low: np.ndarray,
    micros: np.ndarray,
) -> int:
    """Encode each message buf[starts[i]:ends[i]] that is a plain event as one binary
    COPY row at `out[out_start:]`; returns where the output ends.

    A message is encoded (status ENCODED, row in out[row_start:row_end], its event key in
    id_high/id_low/micros) only when all of this holds, else status is FALLBACK:
    one JSON object, optionally surrounded by whitespace; keys without escapes, each
    field of the schema at most once; field values of the schema's type in these forms:
    UUID as above, timestamps as in `_parse_timestamp` within [not_before, until]
    (microseconds since 1970 UTC), decimals as a string or JSON number `-?d+(.d+)?`
    (no exponent), strings without escapes in valid UTF-8 within the length bounds,
    integers within bounds, enum strings among the allowed values, objects made of
    strings, integers (not -0), booleans, null, objects and arrays; unknown fields with
    values of those same forms; required fields present; the cross-field `rules`
    (rows of [field, when_field, enum index]: field must be non-null when when_field
    has that value) and POSITIVE decimals satisfied.

    `out` must have `row_capacity(...)` bytes from `out_start` on.
    """
    count = fields.shape[0]
    state = np.zeros(count, np.int8)  # 0 absent, 1 null, 2 value
    value_start = np.zeros(count, np.int64)
    value_end = np.zeros(count, np.int64)
    number = np.zeros(count, np.int64)  # int value or enum index
    negative = np.zeros(count, np.bool_)
    whole = np.zeros(count, np.int64)
    fraction = np.zeros(count, np.int64)
    scale = np.zeros(count, np.int64)
    stack = np.zeros(_MAX_DEPTH, np.uint8)
    o = out_start
    ncolumns = columns.shape[0]
    for i in range(starts.shape[0]):
        status[i] = FALLBACK
        s = starts[i]
        e = ends[i]
        for f in range(count):
            state[f] = 0
        p = _skip_ws(buf, s, e)
        if p >= e or buf[p] != 123:
            continue
        p = _skip_ws(buf, p + 1, e)
        good = p < e
        closed = good and buf[p] == 125
        if closed:
            p += 1
        guess = 0
        while good and not closed:
            if buf[p] != 34:
                good = False
                break
            # Producers write every event's fields in the same order: try the field
            # after the previous one in place before scanning the key as a string.
            f = -1
            if guess < count:
                n = fields[guess, KEY_LEN]
                q = p + n + 2
                if (
                    q <= e
                    and buf[q - 1] == 34
                    and _same(buf, p + 1, keys, fields[guess, KEY_FIRST], n)
                ):
                    f = guess
            if f < 0:
                q, _ = _scan_string(buf, p, e)
                if q < 0:
                    good = False
                    break
                f = _find_field(buf, p + 1, q - p - 2, fields, keys, guess)
            p = _skip_ws(buf, q, e)
            if p >= e or buf[p] != 58:
                good = False
                break
            p = _skip_ws(buf, p + 1, e)
            if p >= e:
                good = False
                break
            if f < 0:
                p = _skip_value(buf, p, e, stack)
                if p < 0:
                    good = False
                    break
            else:
                guess = f + 1
                if state[f] != 0:
                    good = False  # a repeated field: msgspec keeps the last one
                    break
                c = buf[p]
                kind = fields[f, KIND]
                if c == 110:  # null
                    if (fields[f, FLAGS] & NULLABLE) == 0 or p + 4 > e:
                        good = False
                        break
                    if buf[p + 1] != 117 or buf[p + 2] != 108 or buf[p + 3] != 108:
                        good = False
                        break
                    state[f] = 1
                    p += 4
                elif kind == INT:
                    q, v = _scan_int(buf, p, e)
                    if q < 0 or v < fields[f, MIN] or v > fields[f, MAX]:
                        good = False
                        break
                    number[f] = v
                    state[f] = 2
                    p = q
                elif kind == OBJECT:
                    if c != 123:
                        good = False
                        break
                    q = _skip_value(buf, p, e, stack)
                    if q < 0:
                        good = False
                        break
                    value_start[f] = p
                    value_end[f] = q
                    state[f] = 2
                    p = q
                elif kind == DECIMAL and c != 34:
                    q = p + 1 if c == 45 else p
                    if q + 1 < e and buf[q] == 48 and 48 <= buf[q + 1] <= 57:
                        good = False  # leading zero: not JSON
                        break
                    while q < e and (48 <= buf[q] <= 57 or buf[q] == 46 or buf[q] == 45):
                        q += 1
                    ok, neg, w, fr, sc = _parse_decimal(buf, p, q)
                    if not ok:
                        good = False
                        break
                    negative[f] = neg
                    whole[f] = w
                    fraction[f] = fr
                    scale[f] = sc
                    state[f] = 2
                    p = q
                else:
                    if c != 34:
                        good = False
                        break
                    a = p + 1
                    if kind == TEXT:
                        q, chars = _scan_string(buf, p, e)
                        if q < 0 or chars < fields[f, MIN] or chars > fields[f, MAX]:
                            good = False
                            break
                        b = q - 1
                        if (fields[f, FLAGS] & UPPER_ASCII) != 0:
                            for k in range(a, b):
                                if buf[k] < 65 or buf[k] > 90:
                                    good = False
                            if not good:
                                break
                    else:
                        # Valid values of the other kinds are plain ASCII, which their
                        # parsers check byte by byte: a quote found early (an escaped
                        # one) leaves a backslash before it, which none of them accepts.
                        b = a
                        while b < e and buf[b] != 34:
                            b += 1
                        if b >= e:
                            good = False
                            break
                        q = b + 1
                    if kind == ENUM:
                        found = -1
                        first = fields[f, ENUM_FIRST]
                        for j in range(first, first + fields[f, ENUM_COUNT]):
                            lo = enum_bounds[j]
                            if enum_bounds[j + 1] - lo == b - a and _same(
                                buf, a, enum_bytes, lo, b - a
                            ):
                                found = j
                                break
                        if found < 0:
                            good = False
                            break
                        number[f] = found
                    elif kind == UUID:
                        ok, high, low = _parse_uuid(buf, a, b)
                        if not ok:
                            good = False
                            break
                        if f == id_field:
                            id_high[i] = high
                            id_low[i] = low
                    elif kind == TIMESTAMP:
                        ok, t = _parse_timestamp(buf, a, b)
                        if not ok or t < not_before or t > until:
                            good = False
                            break
                        number[f] = t
                        if f == time_field:
                            micros[i] = t
                    elif kind == DECIMAL:
                        ok, neg, w, fr, sc = _parse_decimal(buf, a, b)
                        if not ok:
                            good = False
                            break
                        negative[f] = neg
                        whole[f] = w
                        fraction[f] = fr
                        scale[f] = sc
                    value_start[f] = a
                    value_end[f] = b
                    state[f] = 2
                    p = q
            p = _skip_ws(buf, p, e)
            if p >= e:
                good = False
                break
            if buf[p] == 44:
                p = _skip_ws(buf, p + 1, e)
                if p >= e:
                    good = False
                continue
            if buf[p] != 125:
                good = False
                break
            p += 1
            closed = True
        if not good or _skip_ws(buf, p, e) != e:
            continue
        for f in range(count):
            flags = fields[f, FLAGS]
            if state[f] == 0:
                if (flags & REQUIRED) != 0:
                    good = False
                    break
                if (flags & HAS_DEFAULT) != 0:
                    number[f] = fields[f, DEFAULT]
                    state[f] = 2
                else:
                    state[f] = 1
            elif state[f] == 2 and fields[f, KIND] == DECIMAL:
                zero = whole[f] == 0 and fraction[f] == 0
                if negative[f] and zero:
                    good = False  # -0: left to msgspec and the database
                    break
                if (flags & POSITIVE) != 0 and (negative[f] or zero):
                    good = False
                    break
        if not good:
            continue
        for r in range(rules.shape[0]):
            when = rules[r, 1]
            if state[when] == 2 and number[when] == rules[r, 2] and state[rules[r, 0]] != 2:
                good = False
        if not good:
            continue

        row_start[i] = o
        _put16(out, o, ncolumns)
        o += 2
        for col in range(ncolumns):
            f = columns[col]
            if f == SOURCE_PARTITION:
                _put32(out, o, 4)
                _put32(out, o + 4, partitions[i])
                o += 8
                continue
            if f == SOURCE_OFFSET:
                _put32(out, o, 8)
                _put64(out, o + 4, offsets[i])
                o += 12
                continue
            if state[f] == 1:
                _put32(out, o, -1)
                o += 4
                continue
            kind = fields[f, KIND]
            if kind == UUID:
                _put32(out, o, 16)
                _put64(out, o + 4, np.int64(id_high[i]))
                _put64(out, o + 12, np.int64(id_low[i]))
                o += 20
            elif kind == TIMESTAMP:
                _put32(out, o, 8)
                _put64(out, o + 4, number[f] - _PG_EPOCH_US)
                o += 12
            elif kind == INT:
                width = fields[f, WIDTH]
                _put32(out, o, width)
                if width == 2:
                    _put16(out, o + 4, number[f])
                elif width == 4:
                    _put32(out, o + 4, number[f])
                else:
                    _put64(out, o + 4, number[f])
                o += 4 + width
            elif kind == DECIMAL:
                # NUMERIC: 8 base-10000 digits, 4 before the point (weight 3) and 4 after;
                # the server strips the zero ones, as it does for any client's value.
                _put32(out, o, 24)
                _put16(out, o + 4, 8)
                _put16(out, o + 6, 3)
                _put16(out, o + 8, 0x4000 if negative[f] else 0)
                _put16(out, o + 10, scale[f])
                o += 12
                w = whole[f]
                for k in range(3, -1, -1):
                    _put16(out, o + 2 * k, w % 10000)
                    w //= 10000
                fr = fraction[f]
                for _ in range(_MAX_SCALE - scale[f]):
                    fr *= 10
                for k in range(7, 3, -1):
                    _put16(out, o + 2 * k, fr % 10000)
                    fr //= 10000
                o += 16
            else:
                # Text, enum text and jsonb (version byte 1, then the JSON text).
                a = value_start[f]
                n = value_end[f] - a
                if kind == OBJECT:
                    _put32(out, o, n + 1)
                    out[o + 4] = 1
                    o += 5
                else:
                    _put32(out, o, n)
                    o += 4
                _copy(out, o, buf, a, n)
                o += n
        row_end[i] = o
        status[i] = ENCODED
    return o


def row_capacity(message_bytes: int, messages: int, ncolumns: int) -> int:
    """Output bytes `encode_rows` may need: every value takes at most its JSON text plus
    a 4-byte length, except a decimal or integer, which may grow to 24 or 8 bytes."""
    return message_bytes + messages * (2 + ncolumns * 28)


@njit(cache=True, nogil=True)
def check_offsets(partitions: np.ndarray, offsets: np.ndarray, next_offset: np.ndarray) -> int:
    """First index whose offset does not follow its partition's previous message, or -1.

    `next_offset` (one slot per partition number, filled with -1) receives each
    partition's next offset after the batch.
    """
    for i in range(partitions.shape[0]):
        p = partitions[i]
        if next_offset[p] != -1 and offsets[i] != next_offset[p]:
            return i
        next_offset[p] = offsets[i] + 1
    return -1
