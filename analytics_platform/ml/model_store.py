"""The model store: ml.models, one row per trained model version.

Artifacts are serialized with pickle (the standard library's; joblib adds nothing for
models this small). Unpickling runs code, which is acceptable
only because ml.models is written by the platform's own training assets and by no role
an API client can reach (migration 070 grants nothing on schema `ml`; the API's one
write goes to its own dismissals table). Never point `load` at bytes from elsewhere.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from analytics_platform.resources.warehouse import run_sql_file


@dataclass(frozen=True)
class ModelRecord:
    """One trained version as stored (the artifact still serialized)."""

    name: str
    version: int
    train_first_day: date
    train_last_day: date
    holdout_first_day: date
    holdout_last_day: date
    parameters: dict[str, Any]
    metrics: dict[str, float]
    data_seen: dict[str, Any]
    accepted: bool
    artifact: bytes

    def estimator(self) -> Any:
        """The fitted estimator (see the module docstring on why unpickling is safe here)."""
        return pickle.loads(self.artifact)


def serialize(estimator: Any) -> bytes:
    return pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)


def save(
    conn: psycopg.Connection,
    name: str,
    estimator: Any,
    windows: tuple[date, date, date, date],
    parameters: dict[str, Any],
    metrics: dict[str, float],
    data_seen: dict[str, Any],
    accepted: bool,
) -> int:
    """Store a new version of model `name`; returns its version number."""
    train_first, train_last, holdout_first, holdout_last = windows
    row = run_sql_file(
        conn,
        "ml/models_insert.sql",
        {
            "name": name,
            "train_first_day": train_first,
            "train_last_day": train_last,
            "holdout_first_day": holdout_first,
            "holdout_last_day": holdout_last,
            "parameters": json.dumps(parameters),
            "metrics": json.dumps(metrics),
            "data_seen": json.dumps(data_seen),
            "artifact": serialize(estimator),
            "accepted": accepted,
        },
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING
    return int(row[0])


def _record(row: tuple) -> ModelRecord:
    return ModelRecord(*row[:10], artifact=bytes(row[10]))


def latest(conn: psycopg.Connection, name: str) -> ModelRecord | None:
    """The newest version of `name`, accepted or not."""
    row = run_sql_file(conn, "ml/models_latest.sql", {"name": name}).fetchone()
    return _record(row) if row else None


def champion(conn: psycopg.Connection, name: str) -> ModelRecord | None:
    """The newest accepted version of `name` (None: no model has beaten the baseline)."""
    row = run_sql_file(conn, "ml/models_champion.sql", {"name": name}).fetchone()
    return _record(row) if row else None
