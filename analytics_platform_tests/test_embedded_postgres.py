"""The embedded PostgreSQL: started with its own settings, once per data directory."""

from __future__ import annotations

import psycopg

from analytics_platform.dev.postgres import EmbeddedPostgres, server_settings


def size_bytes(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("SELECT pg_size_bytes(current_setting(%s))", (name,)).fetchone()[0]


def test_the_server_runs_with_its_settings_and_keeps_them_across_restarts(tmp_path):
    wanted = server_settings()
    assert set(wanted) == {"shared_buffers", "max_wal_size"}
    server = EmbeddedPostgres(tmp_path / "data", databases=("analytics",))
    for _ in range(2):
        server.start()
        try:
            with psycopg.connect(server.url("analytics")) as conn:
                for name, value in wanted.items():
                    expected = conn.execute("SELECT pg_size_bytes(%s)", (value,)).fetchone()[0]
                    assert size_bytes(conn, name) == expected, name
        finally:
            server.stop()
    assert "shared_buffers" in (tmp_path / "data" / "postgresql.auto.conf").read_text()
