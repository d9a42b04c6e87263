"""The demo's second-half steps over a history that crosses a month: customer tables, the
archive of the closed month, the models against their baselines and the last day's
recommendations (`make demo` with its default 30 days always crosses a month)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg

from analytics_platform.dev.history_customers import compute_customers, format_customers
from analytics_platform.dev.history_recommendations import history_recommendations

from .conftest import PostgresCluster, settings_for
from .ml_world import START, TZ, generated_world

DAYS = 35


def test_a_history_across_a_month_gets_segments_an_archive_models_and_recommendations(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    with generated_world(postgres_cluster, DAYS, events_per_day=150, users=150) as url:
        settings = settings_for(
            database_url=url,
            archive_url=tmp_path / "archive",
            reporting_timezone=TZ,
            partitions_start_date=START.date().isoformat(),
        )
        end = START + timedelta(days=DAYS)
        progress: list[str] = []
        customers = format_customers(compute_customers(settings, START, end, progress.append))
        lines = history_recommendations(settings, START, end, progress.append)
        with psycopg.connect(url) as conn:
            by_type = dict(
                conn.execute("SELECT type, count(*) FROM recommendations.daily GROUP BY type")
            )
            segments = conn.execute(
                "SELECT count(*) FROM customers.rfm_scores WHERE day = %s",
                ((end - timedelta(days=1)).astimezone(settings.tz).date(),),
            ).fetchone()

    assert segments is not None and segments[0] > 0
    # January 2026 is long closed: its raw months are archived and listed.
    archive_line = next(line for line in customers if line.startswith("archive: "))
    assert "raw.transactions 2026-01" in archive_line
    # Each model says its verdict; a 35-day history is too short for the budget model.
    model_lines = lines[1 : lines.index(next(x for x in lines if x.startswith("recommend")))]
    assert [line.split()[0] for line in model_lines] == ["inactivity", "budget", "next_purchase"]
    assert "AUC" in model_lines[0] and "vs recency" in model_lines[0]
    assert "not trained" in model_lines[1]
    assert "NDCG@5" in model_lines[2]
    # The summary's row counts are the table's.
    written = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines[-7:]}
    assert written == {kind: by_type.get(kind, 0) for kind in written}
    assert written["INACTIVITY_REMINDER"] > 0 and written["PROMOTION"] > 0
