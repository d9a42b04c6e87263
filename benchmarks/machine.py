"""What machine a benchmark ran on, so two result tables can be compared side by side."""

from __future__ import annotations

import os
import platform
import subprocess

import confluent_kafka


def postgres_version() -> str:
    """The embedded server's version, or the one DATABASE_URL points at."""
    if url := os.environ.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0]}" if row else "unknown"
    from analytics_platform.dev.postgres import _pgserver

    bin_path = _pgserver().postgres_server.POSTGRES_BIN_PATH
    out = subprocess.run([str(bin_path / "postgres"), "--version"], capture_output=True, text=True)
    return out.stdout.strip().replace("postgres (PostgreSQL)", "PostgreSQL") or "unknown"


def machine_info() -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "postgres": postgres_version(),
        "librdkafka": confluent_kafka.libversion()[0],
    }
