"""``make run``: ``python -m orchestrator.launcher`` started as a user would, then Ctrl-C.

The launcher runs in its own session so a failing test can still clean up after it; what it
started is found through psutil (its descendants and their process groups), not trusted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from orchestrator.launcher.nats_server import NatsServer, free_port, port_is_free
from tests.harness import wait_until

SERVICES = ("gateway", "agents", "workspace", "archive")


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    output: Path
    gateway_port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []


def launch(tmp_path: Path, *args: str, **env: str) -> Launched:
    output = tmp_path / "launcher.out"
    gateway_port = int(env.get("GATEWAY_PORT") or free_port())
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "GATEWAY_", "DATA_DIR"))
    }
    environment.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "NATS_PORT": str(free_port()),
            "NATS_MONITOR_PORT": str(free_port()),
            "GATEWAY_PORT": str(gateway_port),
            **env,
        }
    )
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.launcher", *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Launched(process, output, gateway_port)


@pytest.fixture
def launched() -> Iterator[list[Launched]]:
    """Whatever a test launches is killed afterwards, group by group, if it is still there."""
    started: list[Launched] = []
    yield started
    for item in started:
        kill_launched(item)


def kill_launched(item: Launched) -> None:
    """SIGKILL a launcher and every process group under it, if still there."""
    groups = {g for g in (_pgid(p) for p in item.descendants()) if g is not None}
    for group in groups | {item.process.pid}:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    if item.process.poll() is None:
        item.process.kill()
    item.process.wait(10)


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def still_running(item: Launched) -> None:
    """A launcher that exited will not get there: fail at once (not a wait's transient error)."""
    if item.process.poll() is not None:
        raise RuntimeError(f"launcher exited {item.process.returncode}:\n{item.text()}")


def wait_healthy(item: Launched, timeout: float = 90.0) -> dict[str, Any]:
    last: Any = None

    def healthy() -> dict[str, Any] | None:
        nonlocal last
        still_running(item)
        try:
            last = httpx.get(f"{item.base_url}/api/health", timeout=2).json()
        except ValueError:
            return None
        return dict(last) if last.get("status") == "ok" else None

    report: dict[str, Any] = wait_until(
        healthy, lambda: f"health ok: {last}\n{item.text()}", timeout=timeout, interval=0.2
    )
    return report


def interrupt_and_check_nothing_left(item: Launched) -> None:
    children = item.descendants()
    pids = {p.pid for p in children}
    groups = {g for g in (_pgid(p) for p in children) if g is not None}
    assert pids, "the launcher started no process"

    item.process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
    item.process.wait(30)
    assert item.process.returncode == 0, item.text()

    alive = [pid for pid in pids if psutil.pid_exists(pid) and not _is_zombie(pid)]
    assert alive == [], f"processes left behind: {alive}"
    leftovers = [
        p.pid for p in psutil.process_iter() if p.pid != os.getpid() and _pgid(p) in groups
    ]
    assert leftovers == [], f"processes left in the launcher's groups: {leftovers}"


def _is_zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def service_of(process: psutil.Process) -> str | None:
    try:
        cmdline = process.cmdline()
    except psutil.NoSuchProcess:
        return None
    if Path(cmdline[0]).name == "nats-server":
        return "nats-server"
    for service in SERVICES:
        if f"orchestrator.{service}" in cmdline:
            return service
    return None


def test_make_run_serves_health_with_every_service_up_and_ctrl_c_leaves_nothing(
    tmp_path: Path, launched: list[Launched]
) -> None:
    item = launch(tmp_path)
    launched.append(item)

    report = wait_healthy(item)
    assert report["nats"]["status"] == "up"
    assert {name: s["status"] for name, s in report["services"].items()} == dict.fromkeys(
        SERVICES, "up"
    )
    started = sorted(filter(None, (service_of(p) for p in item.descendants())))
    assert started == sorted([*SERVICES, "nats-server"])
    conf = (tmp_path / "data" / "nats" / "nats-server.conf").read_text()
    assert "sync_interval: always" in conf
    assert "http: 127.0.0.1:" in conf

    # The banner follows the launcher's own health poll, a moment after ours can see "ok".
    wait_for_output(item, "Orchestrator is up at", timeout=10)
    interrupt_and_check_nothing_left(item)


def test_a_nats_port_already_in_use_is_a_clear_error_not_a_hang(
    tmp_path: Path, launched: list[Launched]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        item = launch(tmp_path, NATS_PORT=str(port))
        launched.append(item)
        started = time.monotonic()
        item.process.wait(20)
    assert item.process.returncode != 0
    assert time.monotonic() - started < 20
    assert f"port {port} is already in use" in item.text()
    assert "Traceback" not in item.text()
    assert item.descendants() == []


def test_free_ports_are_outside_the_ephemeral_range_and_bindable() -> None:
    """A port from the ephemeral range can be taken, while its server restarts, by the local end
    of any outgoing connection; free_port never hands one out."""
    low, high = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert not [port for port in ports if low <= port <= high]
    assert all(port_is_free(port) for port in ports)


def test_with_nats_url_set_the_launcher_starts_no_nats_server(
    tmp_path: Path, nats_server: NatsServer, launched: list[Launched]
) -> None:
    item = launch(tmp_path, NATS_URL=nats_server.url)
    launched.append(item)

    report = wait_healthy(item)
    assert report["status"] == "ok"
    assert report["nats"]["server"] == f"127.0.0.1:{nats_server.port}"
    services = [service_of(p) for p in item.descendants()]
    assert "nats-server" not in services
    assert sorted(filter(None, services)) == sorted(SERVICES)
    assert not (tmp_path / "data" / "nats").exists()

    interrupt_and_check_nothing_left(item)
    assert nats_server.running(), "the launcher must leave a NATS it did not start alone"


def test_bad_launcher_settings_exit_at_once_with_the_variable_named(tmp_path: Path) -> None:
    for env, named in (({"NATS_URL": "http://x"}, "NATS_URL"), ({"GATEWAY_PORT": "0"}, "PORT")):
        item = launch(tmp_path, **env)
        item.process.wait(20)
        assert item.process.returncode == 2, item.text()
        assert named in item.text() and "Traceback" not in item.text()


def wait_for_output(item: Launched, text: str, timeout: float = 60.0) -> str:
    def printed() -> str | None:
        output = item.text()
        if text in output:
            return output
        still_running(item)
        return None

    output: str = wait_until(
        printed, lambda: f"{text!r} printed:\n{item.text()}", timeout=timeout, interval=0.1
    )
    return output


def processes_of(item: Launched, service: str) -> list[psutil.Process]:
    return [p for p in item.descendants() if service_of(p) == service]


def test_a_service_killed_is_restarted_with_its_restart_counted_in_health(
    tmp_path: Path, launched: list[Launched]
) -> None:
    item = launch(tmp_path, LAUNCHER_BACKOFF_INITIAL="0.2")
    launched.append(item)
    wait_healthy(item)
    wait_for_output(item, "Orchestrator is up at")
    [agents] = processes_of(item, "agents")

    os.killpg(agents.pid, signal.SIGKILL)  # the service and anything it started

    output = wait_for_output(item, "restarted agents (restart 1")
    assert "agents exited (killed by SIGKILL); restarting it in 0.2s" in output
    wait_for_output(item, "every service is up again")
    report = wait_healthy(item)
    assert report["services"]["agents"]["restarts"] == 1
    assert report["services"]["gateway"]["restarts"] == 0
    # The killed process's last heartbeats count until they are stale (3 intervals), then not.
    report = wait_until(
        lambda: (r := wait_healthy(item))["services"]["agents"]["instances"] == 1 and r,
        "one agents instance counted",
        timeout=15,
        interval=0.5,
    )
    [again] = processes_of(item, "agents")
    assert again.pid != agents.pid
    interrupt_and_check_nothing_left(item)


def test_a_service_that_fails_at_every_start_is_given_up_after_the_bound(
    tmp_path: Path, launched: list[Launched]
) -> None:
    # A setting only the archive service reads, refused at its start (exit code 2) every time.
    item = launch(
        tmp_path,
        ARCHIVE_MAX_ATTEMPTS="0",
        LAUNCHER_MAX_RESTARTS="2",
        LAUNCHER_BACKOFF_INITIAL="0.1",
    )
    launched.append(item)

    output = wait_for_output(item, "giving up on it")
    assert "error: archive exited (exit code 2) 3 times within 60s" in output
    assert "restarted archive (restart 2" in output
    assert "restarted archive (restart 3" not in output
    assert "ARCHIVE_MAX_ATTEMPTS" in output  # the tail of its log names the bad variable
    report: dict[str, Any] = {}

    def archive_alone_down() -> bool:
        nonlocal report
        with suppress(ValueError):
            report = httpx.get(f"{item.base_url}/api/health", timeout=2).json()
        states = {name: s["status"] for name, s in report.get("services", {}).items()}
        return states == {**dict.fromkeys(SERVICES, "up"), "archive": "down"}

    with suppress(AssertionError):  # the assertions below say what differs
        wait_until(archive_alone_down, "every service up but archive", timeout=60, interval=0.2)
    assert report["status"] == "degraded"
    assert report["services"]["archive"]["status"] == "down"
    assert {n: s["status"] for n, s in report["services"].items() if n != "archive"} == (
        dict.fromkeys(("gateway", "agents", "workspace"), "up")
    )
    assert processes_of(item, "archive") == []
    interrupt_and_check_nothing_left(item)


def launch_cluster(tmp_path: Path, **env: str) -> tuple[Launched, int]:
    """``make cluster`` from the deploy NATS configs, its gateways on two consecutive free ports;
    and the first of them."""
    base = free_port()
    while not port_is_free(base + 1):
        base = free_port()
    deploy = Path(__file__).resolve().parent.parent / "deploy" / "nats"
    item = launch(tmp_path, "--cluster", GATEWAY_PORT=str(base), NATS_CONFIG_DIR=str(deploy), **env)
    return item, base


def test_make_cluster_runs_three_nats_nodes_and_two_of_every_service_each_gateway_healthy(
    tmp_path: Path, launched: list[Launched]
) -> None:
    item, base = launch_cluster(tmp_path)
    launched.append(item)

    wait_for_output(item, "Orchestrator is up at", timeout=150)
    for port in (base, base + 1):
        report = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json()
        assert report["status"] == "ok", report
        assert {n: s["instances"] for n, s in report["services"].items()} == dict.fromkeys(
            SERVICES, 2
        )
    started = [service_of(p) for p in item.descendants()]
    assert sorted(filter(None, started)) == sorted([*SERVICES, *SERVICES, *["nats-server"] * 3])
    for node in ("n1", "n2", "n3"):
        conf = (tmp_path / "data" / "nats" / node / "nats-server.conf").read_text()
        assert "sync_interval: always" in conf and "0.0.0.0" not in conf
    interrupt_and_check_nothing_left(item)
