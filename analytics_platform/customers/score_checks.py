"""Checks of RFM scores and segment transitions over the days a run wrote: plain
functions returning `CheckOutcome`s (the rollups' type), no Dagster."""

from __future__ import annotations

from datetime import date

import psycopg

from analytics_platform.customers.segments import SegmentRule, cell_params
from analytics_platform.resources.warehouse import read_sql
from analytics_platform.rollups.checks import CheckOutcome

ONE_ROW_PER_USER = "one_row_per_user"
SCORES_IN_RANGE = "scores_in_1_to_5"
ONE_SEGMENT_PER_USER = "one_segment_per_user"
SEGMENT_COUNTS_ADD_UP = "segment_counts_add_up"
TRANSITIONS_ADD_UP = "transitions_add_up"

RFM_CHECKS = {
    ONE_ROW_PER_USER: "Every day of the run has its scores recorded and no user twice.",
    SCORES_IN_RANGE: "R, F and M scores are all between 1 and 5.",
    ONE_SEGMENT_PER_USER: (
        "Every user is in exactly one segment: the first rule of the segment table "
        "matching their scores, else Others."
    ),
    SEGMENT_COUNTS_ADD_UP: "Per day, the users per segment add up to the users scored.",
}
TRANSITION_CHECKS = {
    TRANSITIONS_ADD_UP: (
        "Per day and base day, the rows add up to the users scored on either day; rows "
        "into a segment to the day's users, rows out of one to the base day's."
    ),
}
_SHOWN = 10


def rfm_checks(
    conn: psycopg.Connection, first_day: date, last_day: date, rules: tuple[SegmentRule, ...]
) -> list[CheckOutcome]:
    days = {"first_day": first_day, "last_day": last_day}
    per_day = conn.execute(read_sql("customers/rfm_check_one_row_per_user.sql"), days).fetchall()
    bad_days = [str(d) for d, duplicates, recorded in per_day if duplicates or not recorded]
    (out_of_range,) = conn.execute(
        read_sql("customers/rfm_check_scores_in_range.sql"), days
    ).fetchone() or (0,)
    (wrong_segment,) = conn.execute(
        read_sql("customers/rfm_check_one_segment.sql"), {**days, **cell_params(rules)}
    ).fetchone() or (0,)
    uneven = conn.execute(read_sql("customers/rfm_check_segment_counts.sql"), days).fetchall()
    return [
        CheckOutcome(
            ONE_ROW_PER_USER,
            not bad_days,
            RFM_CHECKS[ONE_ROW_PER_USER],
            {"days_checked": len(per_day), "failing_days": ", ".join(bad_days[:_SHOWN])},
        ),
        CheckOutcome(
            SCORES_IN_RANGE,
            out_of_range == 0,
            RFM_CHECKS[SCORES_IN_RANGE],
            {"rows_out_of_range": out_of_range},
        ),
        CheckOutcome(
            ONE_SEGMENT_PER_USER,
            wrong_segment == 0,
            RFM_CHECKS[ONE_SEGMENT_PER_USER],
            {"rows_in_wrong_segment": wrong_segment},
        ),
        CheckOutcome(
            SEGMENT_COUNTS_ADD_UP,
            not uneven,
            RFM_CHECKS[SEGMENT_COUNTS_ADD_UP],
            {"failing_days": ", ".join(f"{d}: {u} != {s}" for d, u, s in uneven[:_SHOWN])},
        ),
    ]


def transition_checks(
    conn: psycopg.Connection, first_day: date, last_day: date
) -> list[CheckOutcome]:
    rows = conn.execute(
        read_sql("customers/segment_check_transitions_add_up.sql"),
        {"first_day": first_day, "last_day": last_day},
    ).fetchall()
    failing = [
        f"{day} {since}"
        for day, since, total, into, out, day_users, base_users, both in rows
        if total != both or into != day_users or out != base_users
    ]
    return [
        CheckOutcome(
            TRANSITIONS_ADD_UP,
            not failing,
            TRANSITION_CHECKS[TRANSITIONS_ADD_UP],
            {"pairs_checked": len(rows), "failing": ", ".join(failing[:_SHOWN])},
        )
    ]
