"""Telling Dagster which raw hours the demo's history filled, in the background.

The ingest sensors report a materialization for every raw hour a tick touched; the
history was ingested before the daemon started, so nobody did for its hours. This thread
reports them exactly as a tick would (`ingestion.asset_events`), after the UI is up: a
Dagster event costs 5-15 ms and a month of history has 3,600 hours across the topics.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from analytics_platform.ingestion.runner import IngestReport


class RawHistoryReporter:
    """Reports the hours of `reports` to the instance in DAGSTER_HOME until done or stopped."""

    def __init__(self, reports: Mapping[str, IngestReport]) -> None:
        self._reports = dict(reports)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-history-events", daemon=True)
        self.reported = 0
        self.error: BaseException | None = None

    @property
    def total(self) -> int:
        return sum(len(r.result.hours) for r in self._reports.values())

    def start(self) -> RawHistoryReporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        # Imported here: they read PARTITIONS_START_DATE, which the demo sets first.
        from dagster import DagsterInstance

        from analytics_platform.ingestion.asset_events import (
            hour_materializations,
            lag_observation,
        )

        try:
            with DagsterInstance.get() as instance:
                for name, report in self._reports.items():
                    for event in hour_materializations(name, report.result):
                        if self._stop.is_set():
                            return
                        instance.report_runless_asset_event(event)
                        self.reported += 1
                    instance.report_runless_asset_event(
                        lag_observation(name, report.state, after=report.remaining)
                    )
        except BaseException as exc:  # reported by the demo; a thread cannot raise to it
            self.error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
