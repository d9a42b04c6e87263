"""What `demo --once` prints at the end: events per topic, partitions, customer segments and
the archive, API answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from analytics_platform.dev.demo_api import ApiAnswer
from analytics_platform.dev.history_rollups import MaterializedSpan
from analytics_platform.events import TOPICS
from analytics_platform.ingestion.runner import IngestReport
from analytics_platform.rollups.families import Grain


@dataclass(frozen=True)
class TopicLine:
    topic: str
    produced: int
    ingested: int
    duplicates: int
    dead_letters: int
    lag: int
    hours: int


@dataclass(frozen=True)
class GrainLine:
    grain: Grain
    marts: int
    partitions: int
    first_key: str
    last_key: str
    checks_passed: int
    checks_failed: int


@dataclass(frozen=True)
class DemoSummary:
    topics: list[TopicLine]
    grains: list[GrainLine]
    answers: list[ApiAnswer]
    api_note: str | None = None
    # Lines about the customer tables and the archive (dev/history_customers.py).
    customers: list[str] = field(default_factory=list)

    @property
    def checks_failed(self) -> int:
        return sum(g.checks_failed for g in self.grains)


def topic_lines(
    produced: Mapping[str, int], reports: Mapping[str, IngestReport]
) -> list[TopicLine]:
    lines = []
    for name in TOPICS:
        result = reports[name].result
        lines.append(
            TopicLine(
                topic=name,
                produced=produced.get(name, 0),
                ingested=result.rows_inserted,
                duplicates=result.duplicates,
                dead_letters=result.dead_letters,
                lag=reports[name].remaining,
                hours=len(result.hours),
            )
        )
    return lines


def grain_lines(spans: Sequence[MaterializedSpan]) -> list[GrainLine]:
    lines = []
    for grain in Grain:
        done = [s for s in spans if s.mart.grain is grain]
        if not done:
            continue
        lines.append(
            GrainLine(
                grain=grain,
                marts=len(done),
                partitions=sum(s.partitions for s in done),
                first_key=done[0].span.first_key,
                last_key=done[0].span.last_key,
                checks_passed=sum(s.checks_passed for s in done),
                checks_failed=sum(s.checks_failed for s in done),
            )
        )
    return lines


def format_summary(summary: DemoSummary) -> str:
    head = (
        f"{'topic':<20} {'produced':>10} {'ingested':>10} {'duplicates':>10} "
        f"{'dead-lettered':>13} {'lag':>6} {'hours':>6}"
    )
    out = ["", "Events per topic (ingested = rows written to raw.*)", head]
    for t in summary.topics:
        out.append(
            f"{t.topic:<20} {t.produced:>10,} {t.ingested:>10,} {t.duplicates:>10,} "
            f"{t.dead_letters:>13,} {t.lag:>6,} {t.hours:>6,}"
        )
    totals = [sum(getattr(t, f) for t in summary.topics) for f in ("produced", "ingested")]
    dead = sum(t.dead_letters for t in summary.topics)
    duplicates = sum(t.duplicates for t in summary.topics)
    out.append(f"{'total':<20} {totals[0]:>10,} {totals[1]:>10,} {duplicates:>10,} {dead:>13,}")
    out += ["", "Rollup partitions materialized (Dagster asset partitions, all marts of a grain)"]
    out.append(f"{'grain':<8} {'marts':>5} {'partitions':>10}  {'range':<40} {'checks':>14}")
    for g in summary.grains:
        checks = f"{g.checks_passed} ok, {g.checks_failed} failed"
        span = f"{g.first_key} .. {g.last_key}"
        out.append(f"{g.grain:<8} {g.marts:>5} {g.partitions:>10,}  {span:<40} {checks:>14}")
    if not summary.grains:
        out.append("(no closed partition in the history)")
    if summary.customers:
        out += ["", *summary.customers]
    out += ["", "API answers (in process, demo admin key)"]
    if summary.api_note:
        out.append(summary.api_note)
    for answer in summary.answers:
        out.append(f"GET {answer.target} -> {answer.status}")
        out.append(f"    {answer.excerpt()}")
    return "\n".join(out)
