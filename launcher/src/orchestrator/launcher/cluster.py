"""``make cluster``: the compose topology on one machine, for tests and demos.

Three ``nats-server`` nodes run from ``deploy/nats/n*.conf`` (the configs the containers use,
with addresses, ports and store directories rewritten for loopback, ``sync_interval: always``
kept), streams with three replicas, and ``REPLICAS`` processes of every service; gateway ``i``
listens on ``GATEWAY_PORT + i``. Every replica has its own log and data directory.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .nats_server import NatsServerError, find_binary, free_port

NODES = ("n1", "n2", "n3")


def local_config(text: str, node: str, ports: dict[str, tuple[int, int, int]], store: Path) -> str:
    """A node's deploy config for loopback: ``ports`` maps each node to (client, monitor,
    route)."""
    client, monitor, route = ports[node]
    if "sync_interval: always" not in text:
        raise NatsServerError(f"{node}.conf must keep sync_interval: always")
    text = text.replace("0.0.0.0:4222", f"127.0.0.1:{client}")
    text = text.replace("0.0.0.0:8222", f"127.0.0.1:{monitor}")
    text = text.replace("0.0.0.0:6222", f"127.0.0.1:{route}")
    text = re.sub(
        r"nats-route://(n\d):6222",
        lambda m: f"nats-route://127.0.0.1:{ports[m.group(1)][2]}",
        text,
    )
    return text.replace("store_dir: /data", f'store_dir: "{store}"')


@dataclass
class LocalCluster:
    config_dir: Path
    data_dir: Path
    logs: Path
    ports: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    _nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{self.ports[n][0]}" for n in NODES]

    def start(self, timeout: float = 30.0) -> LocalCluster:
        self.ports = {n: (free_port(), free_port(), free_port()) for n in NODES}
        for node in NODES:
            source = self.config_dir / f"{node}.conf"
            try:
                text = source.read_text()
            except OSError as exc:
                raise NatsServerError(f"cannot read {source}: {exc}") from None
            store = self._store(node)
            store.mkdir(parents=True, exist_ok=True)
            (store / "nats-server.conf").write_text(local_config(text, node, self.ports, store))
            self._nodes.append(self._spawn(node))
        for node in NODES:
            self._wait_healthy(node, timeout)
        return self

    def kill(self, node: str) -> None:
        """SIGKILL one node (its store stays): what a crash or a power cut does to it."""
        process = self._nodes[NODES.index(node)]
        process.kill()
        process.wait()

    def restart(self, node: str, timeout: float = 30.0) -> None:
        """Start a stopped node again on its ports and store; it rejoins the cluster."""
        index = NODES.index(node)
        if self._nodes[index].poll() is None:
            raise NatsServerError(f"NATS node {node} is still running")
        self._nodes[index] = self._spawn(node)
        self._wait_healthy(node, timeout)

    def _store(self, node: str) -> Path:
        return self.data_dir / "nats" / node

    def _spawn(self, node: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"nats-{node}.log").open("ab") as log:  # the child keeps its copy
            return subprocess.Popen(
                [find_binary(), "-c", str(self._store(node) / "nats-server.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_healthy(self, node: str, timeout: float) -> None:
        if not wait_healthz(f"http://127.0.0.1:{self.ports[node][1]}/healthz", timeout):
            self.stop()
            raise NatsServerError(f"NATS node {node} not healthy; see {self.logs}/nats-{node}.log")

    def stop(self, timeout: float = 10.0) -> None:
        for process in self._nodes:
            process.terminate()
        for process in self._nodes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthz(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
