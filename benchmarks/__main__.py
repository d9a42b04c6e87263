"""`make bench`: run every benchmark module, print one table, write results/latest.json.

A benchmark module exposes `run() -> dict[str, {"value", "unit", "target"}]`; targets are
documented, never asserted (a slow machine must not fail a build). Run one alone with
`python -m benchmarks NAME [NAME...]`.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from benchmarks.machine import machine_info

MODULES = [
    "decode",
    "generate",
    "kafka_retention",
    "ingest",
    "ingest_latency",
    "rollups",
    "backfill",
    "customers",
    "merchant_rfm",
    "customer_profiles",
    "archive",
    "api_load",
    "reports",
    "recommendations",
    "reco_rules",
]
RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def print_table(metrics: dict[str, dict], machine: dict[str, str]) -> None:
    rows = [("metric", "value", "unit", "target")] + [
        (name, _fmt(m["value"]), m["unit"], _fmt(m.get("target"))) for name, m in metrics.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))


def main(names: list[str]) -> int:
    metrics: dict[str, dict] = {}
    for name in names or MODULES:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        metrics.update(importlib.import_module(f"benchmarks.{name}").run())
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    machine = machine_info()
    print_table(metrics, machine)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps({**metrics, "_machine": machine}, indent=2, default=str) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
