"""The editable segment table: RFM score ranges -> segment name, first match wins.

The table is `sql/customers/segment_rules.csv` (one rule a line, in match order; ranges
inclusive, scores 1-5); a user matching no rule is `Others`. Since scores take only
5 x 5 x 5 values, the rules are turned into the map of all 125 score cells once per run
and the SQL joins on it (docs/customer-scores.md has the shipped table and its source).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from analytics_platform.resources.warehouse import sql_dir

OTHERS = "Others"
SCORES = range(1, 6)
RULES_FILE = "customers/segment_rules.csv"
_COLUMNS = ["segment", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max"]


class SegmentRulesError(ValueError):
    """The segment table cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class SegmentRule:
    segment: str
    r: tuple[int, int]
    f: tuple[int, int]
    m: tuple[int, int]

    def matches(self, r: int, f: int, m: int) -> bool:
        return (
            self.r[0] <= r <= self.r[1]
            and self.f[0] <= f <= self.f[1]
            and self.m[0] <= m <= self.m[1]
        )


def parse_rules(text: str, source: str = RULES_FILE) -> tuple[SegmentRule, ...]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != _COLUMNS:
        raise SegmentRulesError(
            f"{source}: header must be {','.join(_COLUMNS)}, got {reader.fieldnames}"
        )
    rules = []
    for line, row in enumerate(reader, start=2):
        try:
            bounds = [int(row[c]) for c in _COLUMNS[1:]]
        except (TypeError, ValueError):
            raise SegmentRulesError(
                f"{source} line {line}: score bounds must be integers"
            ) from None
        pairs = [(bounds[i], bounds[i + 1]) for i in (0, 2, 4)]
        if any(not (1 <= low <= high <= 5) for low, high in pairs):
            raise SegmentRulesError(
                f"{source} line {line}: each range must satisfy 1 <= min <= max <= 5, got {bounds}"
            )
        name = (row["segment"] or "").strip()
        if not name or name == OTHERS:
            raise SegmentRulesError(
                f"{source} line {line}: a segment needs a name other than {OTHERS!r} "
                "(the name of users matching no rule)"
            )
        rules.append(SegmentRule(name, *pairs))
    return tuple(rules)


def load_rules(path: Path | None = None) -> tuple[SegmentRule, ...]:
    path = path or sql_dir() / RULES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SegmentRulesError(f"segment table {path} not found; check SQL_DIR") from None
    return parse_rules(text, str(path))


def segment_of(rules: tuple[SegmentRule, ...], r: int, f: int, m: int) -> str:
    """The first rule's segment that contains (r, f, m), else `Others`."""
    return next((rule.segment for rule in rules if rule.matches(r, f, m)), OTHERS)


def cell_map(rules: tuple[SegmentRule, ...]) -> dict[tuple[int, int, int], str]:
    return {(r, f, m): segment_of(rules, r, f, m) for r in SCORES for f in SCORES for m in SCORES}


def cell_params(rules: tuple[SegmentRule, ...]) -> dict[str, list]:
    """The cell map as parameters of the SQL: `cell_segments` in (r, f, m) order, so the
    segment of (r, f, m) is element (r - 1) * 25 + (f - 1) * 5 + m (1-based); and the
    cells as four arrays for the check that joins on them."""
    cells = cell_map(rules)
    return {
        "cell_segments": [cells[(r, f, m)] for r in SCORES for f in SCORES for m in SCORES],
        "cell_r": [k[0] for k in cells],
        "cell_f": [k[1] for k in cells],
        "cell_m": [k[2] for k in cells],
        "cell_segment": list(cells.values()),
    }


def segment_names(rules: tuple[SegmentRule, ...]) -> list[str]:
    """Every segment a user can be in, in table order, `Others` last."""
    return [*dict.fromkeys(rule.segment for rule in rules), OTHERS]
