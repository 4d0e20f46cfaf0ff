"""``make run``: an embedded NATS server, the four services, the gateway at :8100.

A service that dies is restarted with back-off and one that keeps dying is given up on (see
:mod:`.restarts`); the others go on either way. Ctrl-C (or SIGTERM) stops the services first, so
they drain into a live NATS, then NATS.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from pydantic import ValidationError

from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.service import describe_settings_error

from .cluster import LocalCluster
from .nats_server import NatsServer, NatsServerError, port_is_free
from .restarts import RestartPolicy
from .settings import LauncherSettings
from .supervisor import SERVICES, ServiceProcess, SupervisedService, stop_all


def main(argv: list[str] | None = None) -> int:
    """``make run`` (one NATS, one process per service) or, with ``--cluster``, ``make
    cluster`` (three NATS nodes, ``REPLICAS`` processes per service)."""
    cluster = "--cluster" in (sys.argv[1:] if argv is None else argv)
    try:
        settings = LauncherSettings()
        NatsSettings()  # what every service reads too: fail here once, not in four logs
    except ValidationError as exc:
        print(f"error: invalid settings:\n{describe_settings_error(exc)}", file=sys.stderr)
        return 2
    replicas = settings.replicas if cluster else 1
    layout = _Layout(settings, cluster, [settings.gateway_port + i for i in range(replicas)])
    busy = [p for p in layout.gateway_ports if not port_is_free(p, settings.gateway_host)]
    if busy:
        print(
            f"error: gateway port {busy[0]} is already in use: stop whatever "
            "holds it, or choose another port (GATEWAY_PORT)",
            file=sys.stderr,
        )
        return 1
    layout.logs.mkdir(parents=True, exist_ok=True)
    stop = _StopSignal()
    try:
        nats_url, stop_nats = _start_nats(layout)
    except NatsServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    supervised = [layout.supervise(name, i, nats_url) for name in SERVICES for i in range(replicas)]
    bases = [f"http://{settings.gateway_host}:{port}" for port in layout.gateway_ports]
    try:
        return _watch(supervised, bases, layout.logs, stop)
    finally:
        stop_all([s.process for s in supervised])
        stop_nats()


@dataclass(frozen=True)
class _Layout:
    """Where everything of one run goes: data, logs, the gateways' ports, each replica's own
    environment."""

    settings: LauncherSettings
    cluster: bool
    gateway_ports: list[int]

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    def supervise(self, name: str, i: int, nats_url: str) -> SupervisedService:
        """Replica ``i`` of service ``name``, started, with its restart policy."""
        settings = self.settings
        env = {"NATS_URL": nats_url, "DATA_DIR": str(self.data_dir)}
        env["GATEWAY_HOST"] = settings.gateway_host
        log = self.logs / f"{name}.log"
        if name == "gateway":
            env["GATEWAY_PORT"] = str(self.gateway_ports[i])
        if self.cluster:
            env["NATS_REPLICAS"] = "3"
            env["DATA_DIR"] = str(self.data_dir / "replicas" / f"{name}-{i + 1}")
            log = self.logs / f"{name}-{i + 1}.log"
        return SupervisedService(
            ServiceProcess(name, env, log_file=log).start(),
            RestartPolicy(
                max_restarts=settings.launcher_max_restarts,
                window=settings.launcher_restart_window,
                initial=settings.launcher_backoff_initial,
                maximum=settings.launcher_backoff_max,
            ),
        )


def _start_nats(layout: _Layout) -> tuple[str, Callable[[], None]]:
    """The NATS of the run (the three local nodes of ``--cluster``, else one), its URL and how
    to stop it."""
    if layout.cluster:
        local = LocalCluster(layout.settings.nats_config_dir, layout.data_dir, layout.logs)
        nats_url = ",".join(local.start().urls)
        print(f"3-node NATS cluster at {nats_url} (R3 streams)")
        return nats_url, local.stop
    nats, nats_url = _nats(layout.settings, layout.data_dir, layout.logs)
    return nats_url, nats.stop if nats is not None else lambda: None


class _StopSignal:
    """Ctrl-C or SIGTERM, noted (the loop stops the services in order) instead of raised."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def _nats(settings: LauncherSettings, data_dir: Path, logs: Path) -> tuple[NatsServer | None, str]:
    """The NATS the services use: ``NATS_URL``'s, or an embedded server started here."""
    if settings.nats_url:
        print(f"using NATS at {settings.nats_url} (NATS_URL); no embedded server")
        return None, settings.nats_url
    nats = NatsServer(
        store_dir=data_dir / "nats",
        port=settings.nats_port,
        monitor_port=settings.nats_monitor_port,
        log_file=logs / "nats-server.log",
    )
    nats.start()
    print(f"embedded NATS at {nats.url} (store {nats.store_dir})")
    return nats, nats.url


def _watch(
    supervised: list[SupervisedService], bases: list[str], logs: Path, stop: _StopSignal
) -> int:
    """Until Ctrl-C: keep the services running, say when everything is up (again)."""
    ready = False
    announced = False
    while not stop.requested:
        for service in supervised:
            news = service.check(time.monotonic())
            if news is None:
                continue
            ready = False
            print(news, file=sys.stderr if news.startswith("error") else sys.stdout, flush=True)
            if service.given_up:
                log = service.process.log_file
                print(f"last lines of {service.service}'s log:", file=sys.stderr)
                print(_tail(log) if log else "(no log)", file=sys.stderr)
                print(f"(all logs in {logs})", file=sys.stderr, flush=True)
        if not ready:
            reports = [_health(base) for base in bases]
            if all(r is not None and _restarts_seen(r, supervised) for r in reports):
                ready = True
                health = reports[0] or {}
                print(
                    _banner(bases, logs, health) if not announced else "every service is up again",
                    flush=True,
                )
                announced = True
        time.sleep(0.2)
    print("stopping", flush=True)
    return 0


def _restarts_seen(health: dict[str, Any], supervised: list[SupervisedService]) -> bool:
    """Whether every replica is heard from and every restarted service is up as its new
    process (its heartbeat counts the restart), not merely still shown up by the last beats of
    the process that died."""
    services = health.get("services", {})
    running = [s for s in supervised if not s.given_up]
    replicas = Counter(s.service for s in running)
    return all(
        services.get(name, {}).get("instances", 0) >= count for name, count in replicas.items()
    ) and all(
        s.restart_at is None and services.get(s.service, {}).get("restarts", 0) >= s.restarts
        for s in running
    )


def _banner(bases: list[str], logs: Path, health: dict[str, Any]) -> str:
    sandbox = health.get("sandbox") or {}
    mode = sandbox.get("mode", "unknown")
    return (
        f"Orchestrator is up at {', '.join(bases)} (logs in {logs}); Ctrl-C stops it\n"
        f"  generated code runs sandboxed: {mode} "
        f"({', '.join(sandbox.get('active', [])) or 'no isolation layer'})"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _health(base: str) -> dict[str, Any] | None:
    """The health report once every service has reported in (not merely the gateway), else
    None."""
    try:
        response = httpx.get(f"{base}/api/health", timeout=1.0)
        health: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return health if response.status_code == 200 and health.get("status") == "ok" else None


if __name__ == "__main__":
    raise SystemExit(main())
