"""The real system, started for a test: a nats-server on free ports and service processes.

Nothing here is a fake: the same launcher code ``make run`` uses starts the same binaries and
modules, each in its own temporary directory, so tests can kill, restart and race them.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats.errors

from orchestrator.launcher.nats_server import NatsServer, free_port
from orchestrator.launcher.supervisor import ServiceProcess, stop_all

TRANSIENT: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    OSError,
    KeyError,
    AssertionError,
    TimeoutError,
    nats.errors.Error,
)
"""What a check may raise while the system is still getting there (a service restarting, a file
not written yet): the check is tried again instead of failing the test."""


Described = str | Callable[[], str]
"""What a wait is for: said when it times out."""


class _Poll:
    """The rule both waits share: until ``timeout``, keep the last answer (or transient error),
    done at the first truthy answer; past it, fail naming what was awaited and the last answer."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.last: Any = None

    def open(self) -> bool:
        return time.monotonic() < self.deadline

    def accepts(self, answer: Any) -> bool:
        self.last = answer
        return bool(answer)

    def timed_out(self, what: Described, check: object) -> AssertionError:
        said = what() if callable(what) else what or check
        waited = f"{self.timeout:g}s"
        return AssertionError(f"timed out after {waited} waiting for {said}: {self.last!r}")


def wait_until(
    check: Callable[[], Any], what: Described = "", *, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail naming ``what``
    (a function of no arguments is asked only then, e.g. for the logs at that moment)."""
    poll = _Poll(timeout)
    while poll.open():
        try:
            if poll.accepts(check()):
                return poll.last
        except TRANSIENT as exc:
            poll.last = exc
        time.sleep(interval)
    raise poll.timed_out(what, check)


async def eventually(
    check: Callable[[], Any], what: Described = "", *, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """:func:`wait_until` for async tests: ``check`` may be sync or return an awaitable."""
    poll = _Poll(timeout)
    while poll.open():
        try:
            answer = check()
            if poll.accepts(await answer if inspect.isawaitable(answer) else answer):
                return poll.last
        except TRANSIENT as exc:
            poll.last = exc
        await asyncio.sleep(interval)
    raise poll.timed_out(what, check)


def within_one_minute(seconds: float = 15.0) -> None:
    """Wait, if need be, until the next ``seconds`` fall inside one minute of the gateway's
    rate-limit windows (minutes aligned on the epoch): past a boundary the previous minute's
    count starts to fade, and a test counting exactly to a limit would see one more admitted."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.2)


@dataclass
class System:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    gateway_port: int = field(default_factory=free_port)
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        path = self.root / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}"

    def start_nats(self) -> NatsServer:
        if self.nats is None:
            self.nats = NatsServer(
                store_dir=self.root / "nats",
                port=free_port(),
                monitor_port=free_port(),
                log_file=self.logs / "nats-server.log",
            )
        self.nats.start()
        return self.nats

    def service_env(self, **extra: str) -> dict[str, str]:
        assert self.nats is not None, "start_nats() first"
        return {
            "NATS_URL": self.nats.url,
            "DATA_DIR": str(self.data_dir),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "LOG_LEVEL": "INFO",
            **self.env,
            **extra,
        }

    def start(self, service: str, *, log_name: str | None = None, **env: str) -> ServiceProcess:
        name = log_name or service
        process = ServiceProcess(
            service, self.service_env(**env), log_file=self.logs / f"{name}.log"
        ).start()
        self.processes.append(process)
        return process

    def start_all(
        self, services: Iterable[str] = ("gateway", "agents", "workspace", "archive"), **env: str
    ) -> dict[str, ServiceProcess]:
        started = {service: self.start(service, **env) for service in services}
        self.wait_ready(started)
        return started

    def wait_ready(
        self, started: dict[str, ServiceProcess], timeout: float = 30.0, *, token: str = ""
    ) -> None:
        """Wait until the gateway reports every started service up (asked with ``token``, the
        guarded gateway's); a started process that exits fails at once."""
        wanted = set(started)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        last: object = None

        def ready() -> bool:
            nonlocal last
            for name, process in started.items():
                if not process.running():
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
            if "gateway" not in wanted:
                time.sleep(0.5)
                return True
            try:
                last = httpx.get(f"{self.base_url}/api/health", headers=headers, timeout=2).json()
            except ValueError:
                return False
            services = last["services"]  # type: ignore[index]
            return all(services[s]["status"] == "up" for s in wanted)

        wait_until(ready, lambda: f"system ready: {last}\n{self.all_logs()}", timeout=timeout)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{self.log(p.stem)}" for p in sorted(self.logs.glob("*.log"))
        )

    def stop(self) -> None:
        stop_all(list(reversed(self.processes)), timeout=10)  # drained side by side
        if self.nats is not None:
            self.nats.stop()


@contextmanager
def paused(processes: Iterable[ServiceProcess]) -> Iterator[None]:
    """The processes stopped (SIGSTOP) inside the block, running again after it."""
    pids = [p.pid for p in processes if p.pid is not None]
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


@contextmanager
def running(
    root: Path, services: Iterable[str], env: dict[str, str] | None = None
) -> Iterator[System]:
    """A system of its own NATS and ``services``, all stopped on exit."""
    system = System(root=root, env=dict(env or {}))
    system.start_nats()
    try:
        system.start_all(tuple(services))
        yield system
    finally:
        system.stop()
