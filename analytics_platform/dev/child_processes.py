"""Servers the demo and the UI tests start: each in a process group of its own.

A child started in a new session does not see the terminal's Ctrl-C, so the parent
decides the order of shutdown, and stopping the group reaches every process the child
spawned (Dagster's webserver, daemon and code servers, uvicorn workers), not just the
one it started. Output goes to a log file the error messages point at.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

# Time a server gets to shut down after SIGINT before it is terminated. Dagster's code
# servers finish the sensor ticks in flight first, and an inline ingest tick runs for up
# to INGEST_TICK_BUDGET_SECONDS; cutting it short is safe (its transaction rolls back and
# the offsets stay where they were), so nobody waits 40 s for it.
STOP_GRACE_SECONDS = 10.0
_TERM_GRACE_SECONDS = 5.0


class ChildProcessError(RuntimeError):
    """A server the platform started exited early or never answered."""


class ChildProcess:
    """A command running in its own process group, with its output in `log_path`."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        cwd: Path,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self._env = dict(env)
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ChildProcessError(f"{self.name} was never started")
        return self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_http(self, url: str, timeout: float) -> None:
        """Return once `url` answers (any HTTP status); raise if the process exits or the
        deadline passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self._process.returncode if self._process else None
                raise ChildProcessError(
                    f"{self.name} exited with code {code} before {url} answered; its log "
                    f"{self.log_path} ends with:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
        raise ChildProcessError(
            f"{self.name} did not answer at {url} within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGINT to the whole group (what Ctrl-C would have sent), SIGTERM to what is left
        after `grace` seconds, SIGKILL after a few more. Idempotent."""
        if self._process is None:
            return
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, _TERM_GRACE_SECONDS)):
            if not self._group_alive():
                break
            _signal_group(self._process.pid, sig)
            deadline = time.monotonic() + wait
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.2)
        _signal_group(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)

    def _group_alive(self) -> bool:
        """Whether any process of the group is left; reaps the leader once it exited (an
        unreaped leader would count as alive)."""
        assert self._process is not None
        self._process.poll()
        try:
            os.killpg(self._process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)
