"""Launching and following a backfill through the webserver's GraphQL API, as the UI does.

The UI's "Materialize" dialog on partitioned assets sends the `launchPartitionBackfill`
mutation; the daemon then turns the backfill into runs (one per range for assets with
a single-run backfill policy) and the UI polls `partitionBackfillOrError`. Used by
`make demo` to backfill the history's partitions and by the tests of that path.

A job run over a partition range (`launchRun` with Dagster's range tags) skips the
backfill daemon, whose loop adds tens of seconds before and after each backfill:
`analytics-platform backfill` launches its runs that way.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { id status numPartitions error { message } }
    ... on Error { message }
  }
}
"""

BACKFILL_RUNS = """
query BackfillRuns($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill { runs(limit: 500) { runId status tags { key value } } }
  }
}
"""

STEP_FAILURES = """
query StepFailures($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    ... on EventConnection {
      events {
        ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } }
      }
    }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""

# The code location and repository of workspace.yaml's one module.
LOCATION = "analytics_platform.definitions"
REPOSITORY = "__repository__"
# How long a launch may take to answer: a launchRun over a month of hours took over 60 s
# with the load average at 16 on 2 cores.
LAUNCH_TIMEOUT = 300.0
RUN_FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
# A run's steps one after the other in its own process: the rollups are SQL statements
# waiting on PostgreSQL, and a process per step costs seconds of start-up each.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}

# Terminal states of a backfill (BulkActionStatus); COMPLETED is the pre-1.9 spelling.
SUCCEEDED = frozenset({"COMPLETED_SUCCESS", "COMPLETED"})
FINISHED = SUCCEEDED | {"COMPLETED_FAILED", "FAILED", "CANCELED"}


# The tag Dagster's run retries (dagster.yaml `run_retries`) put on a re-execution.
RETRY_NUMBER_TAG = "dagster/retry_number"


class GraphQLError(RuntimeError):
    """The webserver rejected a query or answered with an error type."""


class BackfillFailedError(RuntimeError):
    """A backfill ended in a state other than success, or did not end in time."""


@dataclass(frozen=True)
class AssetPartitionRange:
    """One asset's partitions from `start` to `end` (keys, both included)."""

    asset_key: Sequence[str]
    start: str
    end: str


@dataclass(frozen=True)
class BackfillRuns:
    """The runs of a backfill by outcome; `retried`: re-executions of failed runs."""

    total: int
    succeeded: int
    failed: int
    in_flight: int
    retried: int

    def describe(self) -> str:
        """`18 runs: 16 succeeded, 2 failed, 2 re-executed` (zero counts left out)."""
        parts = [f"{self.succeeded} succeeded"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.in_flight:
            parts.append(f"{self.in_flight} queued or running")
        if self.retried:
            parts.append(f"{self.retried} re-executed after a failure")
        return f"{self.total} run{'s' if self.total != 1 else ''}: {', '.join(parts)}"


def graphql(base_url: str, query: str, variables: dict[str, Any], timeout: float = 60) -> Any:
    """POST one operation to `<base_url>/graphql`; returns its `data`."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        raise GraphQLError(
            f"{base_url}/graphql answered HTTP {exc.code}: {exc.read()[:500]!r}"
        ) from None
    if answer.get("errors"):
        raise GraphQLError(f"{base_url}/graphql: {answer['errors']}")
    return answer["data"]


def launch_backfill(
    base_url: str,
    ranges: Sequence[AssetPartitionRange],
    title: str,
    run_config: dict[str, Any] | None = None,
) -> str:
    """Launch one asset backfill of every range (its runs with `run_config`); returns the
    backfill id."""
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": list(r.asset_key)},
                "partitions": {"range": {"start": r.start, "end": r.end}},
            }
            for r in ranges
        ],
        "title": title,
    }
    if run_config is not None:
        params["runConfigData"] = run_config
    result = graphql(base_url, LAUNCH_BACKFILL, {"backfillParams": params}, timeout=LAUNCH_TIMEOUT)[
        "launchPartitionBackfill"
    ]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"launchPartitionBackfill answered {result}")
    return str(result["backfillId"])


def backfill_status(base_url: str, backfill_id: str) -> str:
    result = graphql(base_url, BACKFILL_STATUS, {"backfillId": backfill_id})[
        "partitionBackfillOrError"
    ]
    if result["__typename"] != "PartitionBackfill":
        raise GraphQLError(f"backfill {backfill_id}: {result}")
    if result.get("error"):
        raise BackfillFailedError(f"backfill {backfill_id}: {result['error']['message']}")
    return str(result["status"])


def backfill_runs(base_url: str, backfill_id: str) -> BackfillRuns:
    result = graphql(base_url, BACKFILL_RUNS, {"backfillId": backfill_id})
    runs = (result["partitionBackfillOrError"] or {}).get("runs") or []
    statuses = [run["status"] for run in runs]
    return BackfillRuns(
        total=len(runs),
        succeeded=statuses.count("SUCCESS"),
        failed=sum(1 for s in statuses if s in {"FAILURE", "CANCELED"}),
        in_flight=sum(1 for s in statuses if s not in {"SUCCESS", "FAILURE", "CANCELED"}),
        retried=sum(
            1 for run in runs if any(t["key"] == RETRY_NUMBER_TAG for t in run.get("tags") or [])
        ),
    )


def wait_for_backfill(
    base_url: str,
    backfill_id: str,
    timeout: float,
    poll_seconds: float = 2.0,
    on_poll: Callable[[str], None] | None = None,
) -> str:
    """Poll until the backfill finishes; returns its final status, raising unless it
    succeeded. `on_poll` gets the status at every poll (for progress)."""
    deadline = time.monotonic() + timeout
    status = "REQUESTED"
    while time.monotonic() < deadline:
        status = backfill_status(base_url, backfill_id)
        if on_poll is not None:
            on_poll(status)
        if status in FINISHED:
            if status not in SUCCEEDED:
                reasons = "; ".join(backfill_failures(base_url, backfill_id)) or "no step failed"
                raise BackfillFailedError(
                    f"backfill {backfill_id} ended {status} ({reasons}); see "
                    f"{backfill_url(base_url, backfill_id)}"
                )
            return status
        time.sleep(poll_seconds)
    raise BackfillFailedError(
        f"backfill {backfill_id} still {status} after {timeout:.0f} s; see "
        f"{backfill_url(base_url, backfill_id)}"
    )


def backfill_failures(base_url: str, backfill_id: str, limit: int = 3) -> list[str]:
    """`step: first line of its error` for the failed steps of the backfill's failed runs,
    each distinct failure once."""
    result = graphql(base_url, BACKFILL_RUNS, {"backfillId": backfill_id})
    runs = (result["partitionBackfillOrError"] or {}).get("runs") or []
    failures: list[str] = []
    for run in runs:
        if run["status"] == "FAILURE":
            failures += run_failures(base_url, run["runId"])
    # Retried runs fail the same way: each failure once.
    return list(dict.fromkeys(failures))[:limit]


def launch_run(
    base_url: str, job_name: str, tags: dict[str, str], run_config: dict[str, Any]
) -> str:
    """Launch one run of `job_name` (of workspace.yaml's location); returns its run id.
    The run goes through the run queue like any other."""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": job_name,
        },
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    # The webserver plans the run with the code server first: minutes on a loaded machine.
    result = graphql(base_url, LAUNCH_RUN, {"executionParams": params}, timeout=LAUNCH_TIMEOUT)[
        "launchRun"
    ]
    if result["__typename"] != "LaunchRunSuccess":
        raise GraphQLError(f"launchRun of {job_name} answered {result}")
    return str(result["run"]["runId"])


def wait_for_run(
    base_url: str,
    run_id: str,
    timeout: float,
    poll_seconds: float = 1.0,
    on_poll: Callable[[str], None] | None = None,
) -> None:
    """Poll until the run finishes; raises BackfillFailedError (with its failed steps)
    unless it succeeded."""
    deadline = time.monotonic() + timeout
    status = "QUEUED"
    while time.monotonic() < deadline:
        result = graphql(base_url, RUN_STATUS, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise GraphQLError(f"run {run_id}: {result}")
        status = result["status"]
        if on_poll is not None:
            on_poll(status)
        if status == "SUCCESS":
            return
        if status in RUN_FINISHED:
            reasons = "; ".join(run_failures(base_url, run_id)) or "no step failed"
            raise BackfillFailedError(
                f"run {run_id} ended {status} ({reasons}); see {run_url(base_url, run_id)}"
            )
        time.sleep(poll_seconds)
    raise BackfillFailedError(
        f"run {run_id} still {status} after {timeout:.0f} s; see {run_url(base_url, run_id)}"
    )


def run_failures(base_url: str, run_id: str) -> list[str]:
    """`step: first line of its error` for each failed step of the run."""
    logs = graphql(base_url, STEP_FAILURES, {"runId": run_id})["logsForRun"]
    failures = []
    for event in (logs or {}).get("events") or []:
        if error := event.get("error"):
            # The cause (the SQL error, say) says more than Dagster's wrapper around it.
            innermost = (error.get("causes") or [error])[-1]["message"].strip()
            failures.append(f"{event['stepKey']}: {innermost.splitlines()[0]}")
    return failures


def run_url(base_url: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/runs/{run_id}"


def backfill_url(base_url: str, backfill_id: str) -> str:
    """The backfill's page in the UI."""
    return f"{base_url.rstrip('/')}/runs/b/{backfill_id}"
