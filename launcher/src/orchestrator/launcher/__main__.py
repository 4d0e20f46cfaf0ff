"""``make run``: an embedded NATS server, the four services, the gateway at :8100.

Ctrl-C (or SIGTERM) stops the services first, so they drain into a live NATS, then NATS.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import httpx
from pydantic import ValidationError

from orchestrator.events.service import describe_settings_error
from orchestrator.events.settings import NatsSettings

from .nats_server import NatsServer, NatsServerError, port_is_free
from .settings import LauncherSettings
from .supervisor import SERVICES, ServiceProcess, stop_all


def main() -> int:
    try:
        settings = LauncherSettings()
        NatsSettings()  # what every service reads too: fail here once, not in four logs
    except ValidationError as exc:
        print(f"error: invalid settings:\n{describe_settings_error(exc)}", file=sys.stderr)
        return 2
    if not port_is_free(settings.gateway_port, settings.gateway_host):
        print(
            f"error: gateway port {settings.gateway_port} is already in use: stop whatever "
            "holds it, or choose another port (GATEWAY_PORT)",
            file=sys.stderr,
        )
        return 1
    data_dir = settings.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    nats: NatsServer | None = None
    if settings.nats_url:
        nats_url = settings.nats_url
        print(f"using NATS at {nats_url} (NATS_URL); no embedded server")
    else:
        nats = NatsServer(
            store_dir=data_dir / "nats",
            port=settings.nats_port,
            monitor_port=settings.nats_monitor_port,
            log_file=logs / "nats-server.log",
        )
        try:
            nats.start()
        except NatsServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        nats_url = nats.url
        print(f"embedded NATS at {nats_url} (store {nats.store_dir})")

    env = {
        "NATS_URL": nats_url,
        "DATA_DIR": str(data_dir),
        "GATEWAY_HOST": settings.gateway_host,
        "GATEWAY_PORT": str(settings.gateway_port),
    }
    processes = [
        ServiceProcess(name, env, log_file=logs / f"{name}.log").start() for name in SERVICES
    ]
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    try:
        ready = False
        while not stopping:
            dead = [p.service for p in processes if not p.running()]
            if dead:
                for name in dead:
                    print(f"error: {name} exited; last lines of its log:", file=sys.stderr)
                    print(_tail(logs / f"{name}.log"), file=sys.stderr)
                print(f"(all logs in {logs})", file=sys.stderr)
                return 1
            if not ready and _healthy(base):
                ready = True
                print(f"Orchestrator is up at {base} (logs in {logs}); Ctrl-C stops it")
            time.sleep(0.2)
        print("stopping")
        return 0
    finally:
        stop_all(processes)
        if nats is not None:
            nats.stop()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _healthy(base: str) -> bool:
    """Up means every service has reported in, not merely that the gateway answers."""
    try:
        response = httpx.get(f"{base}/api/health", timeout=1.0)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
