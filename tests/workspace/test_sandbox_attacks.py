"""The attack battery, run as executed code through the real API against every sandbox mode
this machine offers (a system per mode): each attack is contained and the service stays healthy.
The scripts live in ``attacks/``; each prints ``BLOCKED ...`` for a contained attempt and
``LEAK ...`` for one that got through."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from tests.harness import System, eventually

from .conftest import (
    CANARY,
    SANDBOX_MODES,
    api,
    run_output,
    sandbox_processes,
    start_run,
    system_in_mode,
    wait_finished,
    workspace_dir,
)

ATTACKS = Path(__file__).parent / "attacks"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=SANDBOX_MODES)
def ws_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    yield from system_in_mode(request, tmp_path_factory)


async def test_the_system_runs_in_the_mode_asked_for(
    ws_system: System, request: pytest.FixtureRequest
) -> None:
    sandbox = (await api(ws_system, "GET", "/api/health")).json()["sandbox"]
    mode = request.node.callspec.params["ws_system"]
    assert sandbox["mode"] == {"bwrap": "bubblewrap", "landlock": "landlock"}[mode]
    for layer in (
        "filesystem_confined",
        "network_namespace",
        "pid_namespace",
        "seccomp",
        "separate_uid",
        "cgroups",
    ):
        assert sandbox["layers"][layer] is True, (layer, sandbox)


def attack(system: System, name: str, extra: dict[str, str] | None = None) -> bytes:
    assert system.nats is not None
    text = (ATTACKS / name).read_text()
    for key, value in {
        "__DATA_DIR__": str(system.data_dir),
        "__REPO__": str(REPO),
        "__CANARY__": CANARY,
        "__GATEWAY_PORT__": str(system.gateway_port),
        "__NATS_PORT__": system.nats.url.rsplit(":", 1)[1],
        **(extra or {}),
    }.items():
        text = text.replace(key, value)
    return text.encode()


async def run_attack(
    system: System,
    js: JetStreamContext,
    name: str,
    timeout: float = 60,
    extra: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    body = await start_run(system, js, f"implementation/{name}", attack(system, name, extra))
    record = await wait_finished(system, body["execution_id"], timeout=timeout)
    lines, final = await run_output(system, body["execution_id"])
    assert not [line for line in lines if "LEAK" in line], lines
    assert CANARY not in "\n".join(lines)
    return lines, final, record


async def assert_service_unharmed(system: System, js: JetStreamContext) -> None:
    await eventually(lambda: not sandbox_processes(), timeout=15, what="no sandbox process left")
    health = (await api(system, "GET", "/api/health")).json()
    assert health["services"]["workspace"]["status"] == "up"
    body = await start_run(
        system, js, "implementation/still_ok.py", b'if __name__ == "__main__":\n    print("ok")\n'
    )
    record = await wait_finished(system, body["execution_id"])
    assert record["status"] == "completed"


async def test_reading_outside_the_workspace_finds_nothing(
    ws_system: System, wjs: JetStreamContext
) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "read_outside.py")
    blocked = [line for line in lines if line.startswith("BLOCKED read")]
    assert len(blocked) == 8, lines
    assert any(line.startswith("BLOCKED write workspace") for line in lines), lines
    assert "wrote own copy: into its own copy" in lines
    visible = next(line for line in lines if line.startswith("visible root:"))
    assert "root" not in visible.split(":", 1)[1] and "home" not in visible
    uid_line = next(line for line in lines if line.startswith("uid"))
    assert uid_line != "uid 0 euid 0"
    assert final["exit_code"] == 0
    assert not (workspace_dir(ws_system) / "implementation/written.txt").exists()


async def test_filling_shm_the_root_and_every_writable_mount_stops_at_its_cap(
    ws_system: System, wjs: JetStreamContext
) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "fill_mounts.py")
    fills = [line for line in lines if line.startswith("BLOCKED fill")]
    assert len(fills) == 5, lines
    for line in fills:
        written = int(line.split(" after ")[1].split(" MiB")[0])
        assert written <= 16, line  # SANDBOX_{SHM,TMP,WORK}_BYTES=16 MiB in these tests
    assert lines[-1] == "done" and final["exit_code"] == 0
    assert not list(workspace_dir(ws_system).rglob("fill-*"))


async def test_the_servers_environment_is_unreachable_through_proc(
    ws_system: System, wjs: JetStreamContext
) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "proc_environ.py")
    env_keys = next(line for line in lines if line.startswith("env keys:"))
    assert "API_KEY" not in env_keys and "NATS_URL" not in env_keys
    assert any(line.startswith("BLOCKED ptrace") for line in lines), lines
    assert any(line.startswith("BLOCKED unshare") for line in lines), lines
    assert lines[-1] == "done" and final["exit_code"] == 0


async def test_connecting_out_fails(ws_system: System, wjs: JetStreamContext) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "connect_out.py")
    assert sum(line.startswith("BLOCKED tcp") for line in lines) == 4, lines
    assert any(line.startswith("BLOCKED udp") for line in lines), lines
    assert any(line.startswith("BLOCKED dns") for line in lines), lines
    assert final["exit_code"] == 0


async def test_a_fork_bomb_is_capped_and_cleaned_up(
    ws_system: System, wjs: JetStreamContext
) -> None:
    started = time.monotonic()
    lines, _final, record = await run_attack(ws_system, wjs, "fork_bomb.py")
    forked = next(line for line in lines if line.startswith("forked"))
    count = int(forked.split()[1])
    assert count < 48, forked  # SANDBOX_PROCESSES=48 in these tests
    assert "BlockingIOError" in forked or "OSError" in forked, forked
    assert record["status"] == "timed_out"  # it sleeps past EXEC_TIMEOUT=10
    assert time.monotonic() - started < 40
    await assert_service_unharmed(ws_system, wjs)


async def test_a_memory_hog_gets_memory_errors(ws_system: System, wjs: JetStreamContext) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "memory_hog.py")
    assert lines[0] == "BLOCKED MemoryError", lines
    assert lines[1].startswith("BLOCKED MemoryError after"), lines
    assert final["exit_code"] == 0


async def test_a_cpu_loop_is_killed_by_its_cpu_limit(
    ws_system: System, wjs: JetStreamContext
) -> None:
    lines, _final, record = await run_attack(ws_system, wjs, "cpu_loop.py")
    assert lines[:1] == ["spinning"]
    assert record["status"] == "failed"  # killed by RLIMIT_CPU=3 before EXEC_TIMEOUT=10
    assert record["exit_code"] != 0
    assert record["duration_s"] < 9
    await assert_service_unharmed(ws_system, wjs)


async def test_a_process_ignoring_sigterm_and_its_daemon_are_stopped(
    ws_system: System, wjs: JetStreamContext
) -> None:
    body = await start_run(
        ws_system, wjs, "implementation/ignore_sigterm.py", attack(ws_system, "ignore_sigterm.py")
    )
    await eventually(
        lambda: len(sandbox_processes()) >= 2, timeout=15, what="the daemon to be running"
    )

    async def printed_ready() -> bool:
        path = f"/api/workspace/executions/{body['execution_id']}"
        return bool((await api(ws_system, "GET", path)).json()["output_lines"] >= 1)

    await eventually(printed_ready, timeout=15, what="ready printed")
    stopped = await api(ws_system, "POST", f"/api/workspace/executions/{body['execution_id']}/stop")
    assert stopped.json()["status"] == "stopped"
    lines, final = await run_output(ws_system, body["execution_id"])
    assert lines == ["ready"]
    assert final["status"] == "stopped"
    await assert_service_unharmed(ws_system, wjs)


async def test_planted_symlinks_lead_nowhere(ws_system: System, wjs: JetStreamContext) -> None:
    lines, final, _ = await run_attack(ws_system, wjs, "symlink_escape.py")
    assert sum(line.startswith("BLOCKED read through") for line in lines) == 4, lines
    root = workspace_dir(ws_system)
    assert not [p for p in root.rglob("*") if p.is_symlink()]
    assert final["exit_code"] == 0


@dataclass
class HostSockets:
    """A stream and a datagram UNIX socket of the host, served from a directory every mode shows
    the code read-only (bubblewrap binds ``/usr``; the Landlock mode sees the host's tree), each
    open to any uid as a system bus's is. What reached them is kept."""

    folder: Path
    received: list[bytes] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return str(self.folder / "stream.sock")

    @property
    def datagram(self) -> str:
        return str(self.folder / "datagram.sock")


@contextmanager
def host_sockets() -> Iterator[HostSockets]:
    parent = Path("/usr/local/share")
    if not os.access(parent, os.W_OK):
        pytest.skip(f"{parent} is not writable here (root is needed to serve a socket from it)")
    sockets = HostSockets(Path(tempfile.mkdtemp(prefix="orchestrator-attack-", dir=parent)))
    sockets.folder.chmod(0o755)
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stream.bind(sockets.stream)
    datagram.bind(sockets.datagram)
    for path in (sockets.stream, sockets.datagram):
        os.chmod(path, 0o777)  # any uid may connect: only the sandbox may stop it
    stream.listen(8)
    stream.settimeout(0.2)
    datagram.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            for sock in (stream, datagram):
                with suppress(TimeoutError, OSError):
                    if sock is stream:
                        conn, _ = stream.accept()
                        with conn:
                            conn.settimeout(2)
                            sockets.received.append(b"connected:" + conn.recv(1024))
                    else:
                        sockets.received.append(b"datagram:" + datagram.recv(1024))

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield sockets
    finally:
        done.set()
        server.join(timeout=5)
        stream.close()
        datagram.close()
        shutil.rmtree(sockets.folder, ignore_errors=True)


async def test_unix_sockets_of_the_host_are_unreachable(
    ws_system: System, wjs: JetStreamContext
) -> None:
    with host_sockets() as sockets:
        extra = {"__STREAM_SOCKET__": sockets.stream, "__DATAGRAM_SOCKET__": sockets.datagram}
        lines, final, _ = await run_attack(ws_system, wjs, "unix_connect.py", extra=extra)
        await asyncio.sleep(0.5)  # what is in flight is served before the server stops
    assert sockets.received == [], lines
    assert sum(line.startswith("BLOCKED stream") for line in lines) == 4, lines
    assert sum(line.startswith("BLOCKED datagram") for line in lines) == 3, lines
    assert f"BLOCKED stream {sockets.stream}: PermissionError" in lines, lines
    assert "socketpair: ping" in lines and "asyncio: ran" in lines, lines
    assert lines[-1] == "done" and final["exit_code"] == 0


MARK = "SECRET-OF-ANOTHER-RUN-7f3c"
HOLDER = f"""import time

if __name__ == "__main__":
    with open("secret-copy.txt", "w") as f:
        f.write("{MARK}")
    print("holding", flush=True)
    time.sleep(45)
""".encode()


def run_directory(system: System, execution_id: str) -> Path:
    """Where the service keeps a run's snapshot and copy: under DATA_DIR, or in the temp dir
    when the sandbox uid cannot reach DATA_DIR (a test's tmp_path)."""
    found = [
        path
        for path in (
            system.data_dir / "sandbox" / "runs" / execution_id,
            *Path(tempfile.gettempdir()).glob(f"orchestrator-runs-*/{execution_id}"),
        )
        if path.is_dir()
    ]
    assert len(found) == 1, found
    return found[0]


def process_holding_copy(marked: str) -> tuple[int, str]:
    """The sandboxed process whose working directory (its run's copy) holds ``marked``, and
    that directory as the process sees it."""
    for pid in sandbox_processes():
        with suppress(OSError):
            if (Path(f"/proc/{pid}/cwd") / marked).read_text() == MARK:
                return pid, os.readlink(f"/proc/{pid}/cwd")
    raise AssertionError(f"no sandboxed process holds {marked}")


async def test_another_runs_snapshot_and_copy_are_out_of_reach_while_it_runs(
    ws_system: System, wjs: JetStreamContext
) -> None:
    holder = await start_run(ws_system, wjs, "implementation/holder.py", HOLDER)
    path = f"/api/workspace/executions/{holder['execution_id']}"

    async def holding() -> bool:
        return bool((await api(ws_system, "GET", path)).json()["output_lines"] >= 1)

    await eventually(holding, timeout=20, what="the holder to write its copy")
    stage = run_directory(ws_system, holder["execution_id"])
    assert MARK in (stage / "project" / "implementation" / "holder.py").read_text()
    pid, cwd = process_holding_copy("secret-copy.txt")
    extra = {"__OTHER_STAGE__": str(stage), "__OTHER_PID__": str(pid), "__OTHER_CWD__": cwd}
    lines, final, _ = await run_attack(ws_system, wjs, "other_runs.py", extra=extra)
    assert sum(line.startswith("BLOCKED read") for line in lines) == 5, lines
    assert sum(line.startswith("BLOCKED list") for line in lines) == 4, lines
    assert MARK not in "\n".join(lines)
    assert lines[-1] == "done" and final["exit_code"] == 0
    # The holder and its copy were there all along: it is still running, its copy intact.
    assert (await api(ws_system, "GET", path)).json()["status"] == "running"
    assert (Path(f"/proc/{pid}/cwd") / "secret-copy.txt").read_text() == MARK
    assert (stage / "project" / "implementation" / "holder.py").is_file()
    stopped = await api(ws_system, "POST", f"{path}/stop")
    assert stopped.json()["status"] == "stopped"
    await eventually(lambda: not sandbox_processes(), timeout=15, what="no sandbox process left")
