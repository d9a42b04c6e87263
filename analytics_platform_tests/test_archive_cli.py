"""`analytics-platform archive list|verify|query|run`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics_platform.cli import main
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.settings import Settings


@pytest.fixture
def archived_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = GeneratorConfig(
        seed=5,
        days=4,
        events_per_day=100,
        start=datetime(2024, 1, 30, tzinfo=UTC),
        malformed_fraction=0.0,
    )
    load_generated_rows(
        settings.database_url,
        config,
        datetime(2024, 3, 1, tzinfo=UTC),
        ZoneInfo("UTC"),
        ("transactions",),
    )
    archive = tmp_path / "archive"
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARCHIVE_URL", str(archive))
    return archive


def test_run_list_verify_and_query_the_archive(
    archived_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "run"]) == 0
    assert "2 month(s) archived, 2 verified" in capsys.readouterr().out

    assert main(["archive", "list"]) == 0
    listing = capsys.readouterr().out
    assert "transactions         2024-01" in listing and "verified" in listing

    assert main(["archive", "verify", "--month", "2024-02"]) == 0
    assert "1 month(s) verified, 0 failed" in capsys.readouterr().out

    assert (
        main(
            [
                "archive",
                "query",
                "SELECT strftime(occurred_at, '%Y-%m') AS month, count(*) AS n"
                " FROM transactions GROUP BY ALL ORDER BY ALL",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "month\tn"
    assert [line.split("\t")[0] for line in lines[1:3]] == ["2024-01", "2024-02"]


def test_verify_exits_non_zero_when_a_file_is_damaged(
    archived_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "run"]) == 0
    damaged = next(archived_env.rglob("part-*.parquet"))
    damaged.write_bytes(b"not parquet")
    capsys.readouterr()

    assert main(["archive", "verify"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_an_object_store_url_is_refused_in_one_line(
    archived_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCHIVE_URL", "s3://bucket/archive")
    assert main(["archive", "query", "SELECT 1"]) == 2
    assert "only a local folder or a file:// URL" in capsys.readouterr().err
