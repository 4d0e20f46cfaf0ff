"""The service's own lifecycle: stopping it (SIGTERM, as `make run` Ctrl-C does) or killing it
leaves no sandboxed process and no preview port behind, and the next start removes the run
directories a killed one left on disk; without bubblewrap it comes up in the Landlock mode, and
where the mode asked for does not work it refuses to run code unless weak mode is chosen."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from orchestrator.workspace.sandbox.probe import stage_root_for
from orchestrator.workspace.sandboxed_run import sweep_stage_root
from orchestrator.workspace.settings import WorkspaceSettings
from tests.harness import System, eventually, wait_until

from .conftest import (
    HELLO_API,
    SANDBOX_MODES,
    SANDBOX_UID,
    TEST_ENV,
    api,
    requires_bwrap,
    requires_landlock,
    sandbox_processes,
    start_run,
    wait_finished,
    wait_listed,
    write_file,
)

LONG = b"""import time

if __name__ == "__main__":
    print("tick", flush=True)
    time.sleep(120)
"""
SERVER = b"""from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 8000), SimpleHTTPRequestHandler).serve_forever()
"""


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(system: System, **env: str) -> None:
    system.env.update(TEST_ENV)
    system.start_all(("gateway", "workspace"), **env)


@requires_bwrap
async def test_sigterm_stops_every_run_records_it_and_frees_the_preview_port(
    system: System, js: JetStreamContext
) -> None:
    start(system)
    script = await start_run(system, js, "implementation/long.py", LONG)
    server = await start_run(system, js, "implementation/serve.py", SERVER)
    assert server["port"] == 8000
    port = int(server["preview_url"].rsplit(":", 1)[1].strip("/"))
    await eventually(lambda: listening(port), timeout=20, what="preview listening")
    assert sandbox_processes()

    workspace = next(p for p in system.processes if p.service == "workspace")
    workspace.terminate()
    assert workspace.wait(20), "the workspace service did not stop on SIGTERM"
    assert workspace.returncode() == 0

    await eventually(lambda: not sandbox_processes(), timeout=10, what="sandbox processes gone")
    assert not listening(port)
    for body in (script, server):
        record = await wait_finished(system, body["execution_id"], timeout=20)
        assert record["status"] == "stopped"
        assert record["reason"] == "workspace service stopping"


@requires_bwrap
async def test_a_killed_service_takes_its_runs_with_it_and_the_next_one_records_their_end(
    system: System, js: JetStreamContext
) -> None:
    start(system)
    script = await start_run(system, js, "implementation/long.py", LONG)
    server = await start_run(system, js, "implementation/serve.py", SERVER)
    port = int(server["preview_url"].rsplit(":", 1)[1].strip("/"))
    await eventually(lambda: listening(port), timeout=20, what="preview listening")

    workspace = next(p for p in system.processes if p.service == "workspace")
    assert workspace.pid is not None
    os.kill(workspace.pid, signal.SIGKILL)  # the process only, not its group: like an OOM kill
    assert workspace.wait(10)

    await eventually(lambda: not sandbox_processes(), timeout=10, what="sandbox processes gone")
    await eventually(lambda: not listening(port), timeout=10, what="relay gone")
    # Killed outright, it removed none of its runs' directories: the next start does.
    stage_root = stage_root_for(WorkspaceSettings(data_dir=system.data_dir))
    left = [stage_root / body["execution_id"] for body in (script, server)]
    assert all(path.is_dir() for path in left), sorted(os.listdir(stage_root))

    system.start("workspace", log_name="workspace-2")
    for body in (script, server):
        record = await wait_finished(system, body["execution_id"], timeout=30)
        assert record["status"] == "failed"
        assert "died" in record["reason"]
    assert not any(path.exists() for path in left)


async def test_without_isolation_runs_are_refused_unless_weak_mode_is_chosen(
    system: System, js: JetStreamContext, tmp_path: Path
) -> None:
    start(system, SANDBOX_MODE="bwrap", SANDBOX_BWRAP="/nonexistent/bwrap")
    health = (await api(system, "GET", "/api/health")).json()
    assert health["sandbox"]["mode"] == "refused"
    assert health["sandbox"]["layers"]["bubblewrap"] is False
    assert "not found" in health["sandbox"]["notes"]["bubblewrap"]
    digest = await write_file(js, "implementation/hi.py", b'print("hi")\n')
    await wait_listed(system, "workspace/implementation/hi.py", digest)
    refused = await api(system, "POST", "/api/workspace/run/hi.py")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "EXECUTION_FAILED"
    assert "sandbox" in refused.json()["error"]["message"]

    workspace = next(p for p in system.processes if p.service == "workspace")
    workspace.stop()
    system.start(
        "workspace",
        log_name="workspace-weak",
        SANDBOX_MODE="weak",
    )

    async def weak() -> bool:
        body = (await api(system, "GET", "/api/health")).json()
        return bool(body["sandbox"].get("mode") == "weak")

    await eventually(weak, timeout=30, what="weak mode reported")
    ran = await api(system, "POST", "/api/workspace/run/hi.py")
    assert ran.status_code == 200, ran.text
    record = await wait_finished(system, ran.json()["execution_id"])
    assert record["status"] == "completed"


@requires_landlock
async def test_without_bubblewrap_auto_mode_is_landlock_and_hello_world_answers_its_preview(
    system: System, js: JetStreamContext
) -> None:
    start(system, SANDBOX_MODE="auto", SANDBOX_BWRAP="/nonexistent/bwrap")
    sandbox = (await api(system, "GET", "/api/health")).json()["sandbox"]
    assert sandbox["mode"] == "landlock", sandbox
    assert sandbox["layers"]["landlock"] and sandbox["layers"]["network_namespace"]
    assert "not found" in sandbox["notes"]["bubblewrap"]
    body = await start_run(system, js, "implementation/hello_world.py", HELLO_API)
    preview = body["preview_url"]

    async def hello() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(preview)
        return response.status_code == 200 and response.json() == {"message": "Hello World"}

    await eventually(hello, timeout=40, interval=0.3, what="Hello World from the preview")
    stopped = await api(system, "POST", f"/api/workspace/executions/{body['execution_id']}/stop")
    assert stopped.json()["status"] == "stopped"
    await eventually(lambda: not sandbox_processes(), timeout=10, what="sandbox processes gone")


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_a_run_whose_service_dies_as_it_lets_it_through_the_gate_does_not_outlive_it(
    mode: str, tmp_path: Path
) -> None:
    """The service SIGKILLed a moment after starting a run: the sandbox is still being set up,
    and bubblewrap's --die-with-parent alone (PDEATHSIG asked for after the parent had died)
    left such a run going, parented to pid 1. The run's lifeline (its stdin, closed by the
    service's death) kills it from inside; Landlock's entry point sees its parent gone."""
    # A uid of this test's alone, so its processes are the runs': outside the 62000-64999 of
    # every session's SANDBOX_UID (the other pytest worker's pid, so its uid, is often ours + 1).
    uid = SANDBOX_UID + 4000
    env = {**os.environ, **TEST_ENV, "SANDBOX_UID": str(uid), "SANDBOX_GID": str(uid)}
    env["DATA_DIR"] = str(tmp_path)  # where the Landlock mode stages its runs
    stages = []
    try:
        for n in range(5):  # the race is the point: five services that die at once
            started = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.workspace.orphaned_run",
                    mode,
                    f"orphan-{tmp_path.name}-{n}",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert started.returncode == 0, started.stderr[-2000:]
            stages.append(Path(started.stdout.strip()))
        wait_until(
            lambda: not sandbox_processes(uid),
            lambda: f"no process left as uid {uid}: {command_lines(sandbox_processes(uid))}",
            timeout=10,
        )
    finally:
        for pid in sandbox_processes(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)


def command_lines(pids: list[int]) -> list[str]:
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):  # gone meanwhile
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200])
    return [line.decode(errors="replace") for line in lines]


def test_the_sweep_removes_every_directory_runs_left_read_only_ones_included(
    tmp_path: Path,
) -> None:
    """Where the service is not root, code runs as its uid and may take write permission away
    from a directory of its copy; the sweep gives it back to remove it. (As root, as in CI,
    permission bits do not stop the removal: the case the hook handles shows only as a user.)"""
    root = tmp_path / "runs"
    locked = root / "exec_1" / "project" / "locked"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "out.txt").write_text("x")
    (locked / "inner").chmod(0o500)
    locked.chmod(0o500)
    (root / "probe-open").mkdir()
    (root / "stray").write_text("a file")
    assert sweep_stage_root(root) == 3
    assert root.is_dir() and list(root.iterdir()) == []
    assert sweep_stage_root(tmp_path / "missing") == 0
