"""Service processes: start each service as its own process, keep it running, stop them all.

Every child gets its own process group, so stopping one stops whatever it started too; ``stop``
sends SIGTERM (the services drain and exit), waits, then SIGKILLs any straggler.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.events.health import RESTARTS_VARIABLE

from .restarts import RestartPolicy

SERVICES = ("gateway", "agents", "workspace", "archive")


@dataclass
class ServiceProcess:
    service: str
    env: Mapping[str, str]
    log_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def module(self) -> str:
        return f"orchestrator.{self.service}"

    def start(self) -> ServiceProcess:
        out = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        return self._process.poll() if self._process else None

    def signal(self, sig: int) -> None:
        if self._process is not None and self._process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group: the service and anything it started."""
        self.signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait()

    def wait(self, timeout: float) -> bool:
        if self._process is None:
            return True
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        self.terminate()
        if not self.wait(timeout):
            self.kill()
        # the group may still hold children the service failed to reap
        self.signal(signal.SIGKILL)


def stop_all(processes: list[ServiceProcess], timeout: float = 15.0) -> None:
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        if not process.wait(max(0.0, deadline - time.monotonic())):
            process.kill()
        process.signal(signal.SIGKILL)


@dataclass
class SupervisedService:
    """One service kept running: restarted with back-off when it dies, given up on after the
    policy's bound. Each restart is told its number (``ORCHESTRATOR_RESTARTS``), which its
    heartbeats carry to ``GET /api/health``; the launcher itself can write nothing there."""

    process: ServiceProcess
    policy: RestartPolicy
    restarts: int = 0
    given_up: bool = False
    restart_at: float | None = None
    last_exit: int | None = None

    @property
    def service(self) -> str:
        return self.process.service

    def check(self, now: float) -> str | None:
        """Restart the service when its back-off is over, notice when it died; what to print."""
        if self.given_up:
            return None
        if self.restart_at is not None:
            if now < self.restart_at:
                return None
            self.restart_at = None
            self.restarts += 1
            env = {**self.process.env, RESTARTS_VARIABLE: str(self.restarts)}
            self.process = ServiceProcess(self.service, env, self.process.log_file).start()
            return f"restarted {self.service} (restart {self.restarts}, pid {self.process.pid})"
        if self.process.running():
            return None
        self.last_exit = self.process.returncode()
        delay = self.policy.crashed(now)
        if delay is None:
            self.given_up = True
            return (
                f"error: {self.service} exited ({_exit(self.last_exit)}) "
                f"{self.policy.recent_crashes} times within {self.policy.window:g}s: "
                "giving up on it, not restarting it again"
            )
        self.restart_at = now + delay
        return f"{self.service} exited ({_exit(self.last_exit)}); restarting it in {delay:g}s"


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
