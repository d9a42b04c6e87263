"""The Dagster processes of the demo and the UI tests, pointed at the platform's services.

`dagster dev` (webserver + daemon, as `make demo` runs it), or the webserver and the
daemon separately (as production runs them, and the tests that need one without the
other). All load the repository's workspace.yaml, with the instance in DAGSTER_HOME
(the repository's dagster.yaml: storage in PostgreSQL via DAGSTER_PG_URL). They run
inside DAGSTER_HOME: started in the repository, `dagster dev` would find the
repository's own dagster.yaml beside it and warn that it is ignored.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from analytics_platform.dev.child_processes import ChildProcess
from analytics_platform.settings import REPO_ROOT

WORKSPACE = REPO_ROOT / "workspace.yaml"
# Loading the definitions in a fresh code server takes 5-15 s here; on a busy 2-core
# machine, with a webserver and a daemon starting at once, much longer.
STARTUP_TIMEOUT_SECONDS = 180.0
# What a Dagster process waits for an answer from a code server (Dagster's default: 60 s,
# which a loaded 2-core machine has exceeded while runs were launched).
GRPC_TIMEOUT_SECONDS = 180


def dagster_environment(home: Path) -> dict[str, str]:
    """The variables every Dagster process of the platform gets beside the services'."""
    return {"DAGSTER_HOME": str(home), "DAGSTER_GRPC_TIMEOUT_SECONDS": str(GRPC_TIMEOUT_SECONDS)}


def prepare_dagster_home(home: Path) -> Path:
    """`home` (created if missing) holding the repository's dagster.yaml (storage in
    PostgreSQL), copied over whatever an older one holds."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _scripts_dir() -> Path:
    return Path(sys.executable).parent


def _home(env: Mapping[str, str]) -> Path:
    """Where a Dagster process runs: DAGSTER_HOME (see the module docstring)."""
    return Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else REPO_ROOT


def dagster_dev(env: Mapping[str, str], host: str, port: int, log_path: Path) -> ChildProcess:
    """Webserver and daemon together; the daemon runs the sensors, backfills and queue."""
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(WORKSPACE), "-h", host, "-p", str(port), "--log-level", "info",
    ]  # fmt: skip
    return ChildProcess("dagster dev", command, log_path=log_path, env=env, cwd=_home(env))


def dagster_webserver(env: Mapping[str, str], host: str, port: int, log_path: Path) -> ChildProcess:
    command = [
        str(_scripts_dir() / "dagster-webserver"),
        "-w", str(WORKSPACE), "-h", host, "-p", str(port),
    ]  # fmt: skip
    return ChildProcess("dagster-webserver", command, log_path=log_path, env=env, cwd=_home(env))


def dagster_daemon(env: Mapping[str, str], log_path: Path) -> ChildProcess:
    command = [str(_scripts_dir() / "dagster-daemon"), "run", "-w", str(WORKSPACE)]
    return ChildProcess("dagster-daemon", command, log_path=log_path, env=env, cwd=_home(env))


def server_info_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/server_info"
