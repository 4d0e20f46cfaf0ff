"""Dependencies and runtimes as a run meets them, through the real gateway and workspace service
(and a package index on loopback): the install streams as the run's output while it installs,
before the run's answer and the program's own lines; a package that cannot be had fails the run
with EXECUTION_FAILED naming it and why; and the workspace service's machine, not the gateway's,
decides whether a Node.js file can run (here it has no node, while the gateway's machine may)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from nats.js import JetStreamContext

from orchestrator.workspace.sandbox import landlock
from tests.harness import System, running

from .conftest import (
    TEST_ENV,
    api,
    collect_stream,
    start_run,
    wait_finished,
    wait_listed,
    write_file,
)
from .package_index import LocalIndex

WHEEL_DELAY = 2.0
MISSING_NODE = "/nonexistent/bin/node"


def a_sandbox_mode() -> str:
    if shutil.which("bwrap") is not None:
        return "bwrap"
    if landlock.abi_version() >= 1:
        return "landlock"
    pytest.skip("neither bubblewrap nor Landlock here: no sandbox mode can run code")


@pytest.fixture(scope="module")
def ws_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    index = LocalIndex(tmp_path_factory.mktemp("index"), file_delay=WHEEL_DELAY)
    index.wheel("slowdep", "1.0", "VALUE = 'slowdep imported'\n")
    with index.serving():
        env = {
            **TEST_ENV,
            "SANDBOX_MODE": a_sandbox_mode(),
            "PIP_INDEX_URL": index.url,
            "EXEC_NODE": MISSING_NODE,
        }
        with running(tmp_path_factory.mktemp("deps-runs"), ("gateway", "workspace"), env) as system:
            yield system


USES_SLOWDEP = b"""import slowdep

if __name__ == "__main__":
    print(slowdep.VALUE)
"""


async def project_using_slowdep(
    system: System, js: JetStreamContext, folder: str, requirements: bytes
) -> str:
    """``implementation/<folder>/``: the requirements and a program importing slowdep, listed."""
    await write_file(js, f"implementation/{folder}/requirements.txt", requirements)
    digest = await write_file(js, f"implementation/{folder}/use.py", USES_SLOWDEP)
    await wait_listed(system, f"workspace/implementation/{folder}/use.py", digest)
    return f"implementation/{folder}/use.py"


async def test_the_install_streams_as_the_runs_first_lines_while_it_installs(
    ws_system: System, wjs: JetStreamContext
) -> None:
    program = await project_using_slowdep(ws_system, wjs, "slow", b"slowdep\n")
    arrived: list[tuple[float, dict[str, Any]]] = []
    async with websockets.connect(f"{ws_system.ws_url}/ws", max_size=None) as ws:

        async def listen() -> None:
            async for message in ws:
                arrived.append((time.monotonic(), json.loads(message)))

        listener = asyncio.create_task(listen())
        response = await api(ws_system, "POST", f"/api/workspace/run/{program}")
        answered = time.monotonic()
        listener.cancel()
    assert response.status_code == 200, response.text
    execution_id = response.json()["execution_id"]
    install_lines = [
        (at, frame["output"])
        for at, frame in arrived
        if frame.get("type") == "execution_output" and frame.get("execution_id") == execution_id
    ]
    # Seen live, before the run was even answered: the wheel alone took WHEEL_DELAY to come.
    assert install_lines, [frame for _, frame in arrived]
    first_at, first = install_lines[0]
    assert first.startswith("[dependencies from implementation/slow/requirements.txt: installing")
    assert answered - first_at >= WHEEL_DELAY / 2, (answered - first_at, install_lines)

    await wait_finished(ws_system, execution_id)
    frames = await collect_stream(f"{ws_system.ws_url}/ws/execution/{execution_id}")
    kinds = [f["type"] for f in frames]
    lines = [f["output"] for f in frames if f["type"] == "execution_output"]
    started = kinds.index("execution_started")
    assert kinds[0] == "execution_output" and started > 1, kinds
    assert lines[0] == first and lines[-1] == "slowdep imported", lines
    said_by_installer = lines[1 : lines.index("slowdep imported")]
    assert any("slowdep==1.0" in line for line in said_by_installer), lines
    assert any(line.startswith("[installed in ") for line in said_by_installer), lines
    assert frames[-1]["status"] == "completed", frames[-1]


async def test_a_package_that_cannot_be_had_fails_the_run_naming_it(
    ws_system: System, wjs: JetStreamContext
) -> None:
    requirements = b"slowdep\nnosuchpkg>=1\n"
    program = await project_using_slowdep(ws_system, wjs, "missing", requirements)
    refused = await api(ws_system, "POST", f"/api/workspace/run/{program}")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "EXECUTION_FAILED"
    assert error["message"] == (
        "could not install the dependencies of implementation/missing/requirements.txt: "
        "nosuchpkg: no such package on the package index"
    )
    assert "Traceback" not in refused.text


NODE_SERVER = b"""require("http").createServer((req, res) => res.end("hi")).listen(3000);\n"""


async def test_node_is_what_the_workspace_machine_has_not_what_the_gateway_has(
    ws_system: System, wjs: JetStreamContext
) -> None:
    health = (await api(ws_system, "GET", "/api/health")).json()
    node = health["services"]["workspace"]["details"]["runtimes"]["node"]
    reason = f"Node.js ({MISSING_NODE}) is not installed on the machine that runs code"
    assert node == {"available": False, "version": None, "reason": reason}

    digest = await write_file(wjs, "implementation/web/server.js", NODE_SERVER)
    entry = await wait_listed(ws_system, "workspace/implementation/web/server.js", digest)
    assert entry["runnable"] is False
    assert entry["metadata"] == {
        "command": None,
        "port": 3000,
        "estimated_startup": None,
        "kind": "node_server",
        "reason": reason,
    }
    refused = await api(ws_system, "POST", "/api/workspace/run/implementation/web/server.js")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == {
        "code": "EXECUTION_FAILED",
        "message": f"implementation/web/server.js is not runnable: {reason}",
        "details": refused.json()["error"]["details"],
    }
    script = b'print("python needs nothing the machine may lack")\n'
    body = await start_run(ws_system, wjs, "implementation/web/tool.py", script)
    assert (await wait_finished(ws_system, body["execution_id"]))["status"] == "completed"
