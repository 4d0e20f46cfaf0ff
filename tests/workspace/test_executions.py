"""Running workspace files: live output over WebSockets, late clients, previews, bounds."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import websockets
from nats.js import JetStreamContext

from tests.harness import System, eventually

from .conftest import (
    HELLO_API,
    api,
    collect_stream,
    requires_bwrap,
    run_output,
    sandbox_processes,
    start_run,
    wait_finished,
    wait_listed,
    write_file,
)

pytestmark = requires_bwrap

COUNTING = b"""import sys, time
if __name__ == "__main__":
    for i in range(1, 301):
        print(f"line {i}")
        if i % 50 == 0:
            time.sleep(0.2)
    print("to stderr", file=sys.stderr)
    sys.exit(3)
"""


FLOOD = b"""import sys
if __name__ == "__main__":
    out = sys.stdout.buffer
    chunk = bytes(range(256)) * 4096  # 1 MiB, binary, newlines rare
    for _ in range(200):              # 200 MiB
        out.write(chunk.replace(b"\\n", b"x"))
    out.write(b"\\n" * 100000)
    for i in range(100000):
        out.write(b"short line %d\\n" % i)
    out.flush()
"""


async def test_script_output_arrives_in_order_with_its_exit_code_on_both_streams(
    ws_system: System, wjs: JetStreamContext
) -> None:
    digest = await write_file(wjs, "implementation/counting.py", COUNTING)
    await wait_listed(ws_system, "workspace/implementation/counting.py", digest)
    hub_frames: list[dict[str, Any]] = []

    async with websockets.connect(f"{ws_system.ws_url}/ws") as hub:
        started = await api(ws_system, "POST", "/api/workspace/run/counting.py")
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["status"] == "running"
        assert body["execution_id"].startswith("exec_")
        assert isinstance(body["process_id"], int) and body["process_id"] > 0
        assert body["output_stream"] == (
            f"ws://127.0.0.1:{ws_system.gateway_port}/ws/execution/{body['execution_id']}"
        )
        frames = await collect_stream(body["output_stream"])

        async def hub_has_all() -> bool:
            while True:
                frame = json.loads(await hub.recv())
                if frame.get("execution_id") == body["execution_id"]:
                    hub_frames.append(frame)
                    if frame["type"] == "execution_finished":
                        return True

        await asyncio.wait_for(hub_has_all(), 30)

    lines = [f["output"] for f in frames if f["type"] == "execution_output"]
    expected = [f"line {i}" for i in range(1, 301)] + ["to stderr"]
    assert lines == expected
    assert [f["line"] for f in frames if f["type"] == "execution_output"] == list(range(1, 302))
    final = frames[-1]
    assert final["type"] == "execution_finished"
    assert final["exit_code"] == 3
    assert final["status"] == "failed"
    for frame in frames:
        if frame["type"] == "execution_output":
            assert set(frame) >= {"type", "execution_id", "output", "timestamp"}

    hub_lines = [f["output"] for f in hub_frames if f["type"] == "execution_output"]
    assert hub_lines == expected

    record = await wait_finished(ws_system, body["execution_id"])
    assert record["exit_code"] == 3
    assert record["duration_s"] > 0
    assert record["truncated"] is False
    listing = (await api(ws_system, "GET", "/api/workspace/executions")).json()
    assert body["execution_id"] in {e["execution_id"] for e in listing["executions"]}


async def test_a_client_connecting_after_the_run_finished_gets_every_line(
    ws_system: System, wjs: JetStreamContext
) -> None:
    body = await start_run(
        ws_system,
        wjs,
        "implementation/quick.py",
        b'if __name__ == "__main__":\n    for i in range(50):\n        print("q", i)\n',
    )
    record = await wait_finished(ws_system, body["execution_id"])
    assert record["status"] == "completed" and record["exit_code"] == 0
    lines, final = await run_output(ws_system, body["execution_id"])
    assert lines == [f"q {i}" for i in range(50)]
    assert final["type"] == "execution_finished" and final["exit_code"] == 0
    # And again: the stream is replayable any number of times.
    again, _ = await run_output(ws_system, body["execution_id"])
    assert again == lines


async def test_unknown_missing_and_non_runnable_files_are_clear_errors(
    ws_system: System, wjs: JetStreamContext
) -> None:
    missing = await api(ws_system, "POST", "/api/workspace/run/not_there.py")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "FILE_NOT_FOUND"
    digest = await write_file(wjs, "implementation/just_defs.py", b"def f():\n    return 1\n")
    await wait_listed(ws_system, "workspace/implementation/just_defs.py", digest)
    refused = await api(ws_system, "POST", "/api/workspace/run/just_defs.py")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "EXECUTION_FAILED"
    unknown = await api(ws_system, "GET", "/api/workspace/executions/exec_nope")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "EXECUTION_NOT_FOUND"


def port_free(port: int) -> bool:
    """Nothing listens on ``port`` and a server could bind it (as servers do, SO_REUSEADDR:
    connections the relay served may linger in TIME_WAIT, which is not a listener)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_fastapi_hello_world_is_reachable_while_it_runs_and_stop_frees_its_port(
    ws_system: System, wjs: JetStreamContext
) -> None:
    body = await start_run(ws_system, wjs, "implementation/hello_world.py", HELLO_API)
    assert body["port"] == 8000
    preview = body["preview_url"]
    assert preview and preview.startswith("http://127.0.0.1:")
    port = int(preview.rsplit(":", 1)[1].strip("/"))

    async def hello() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(preview)
        return response.status_code == 200 and response.json() == {"message": "Hello World"}

    await eventually(hello, timeout=40, interval=0.3, what="Hello World from the preview")
    async with httpx.AsyncClient(timeout=5) as client:
        rebound = await client.get(preview, headers={"Host": f"evil.example:{port}"})
        local = await client.get(preview, headers={"Host": f"localhost:{port}"})
    assert rebound.status_code == 403  # DNS rebinding: a foreign Host never reaches the app
    assert local.json() == {"message": "Hello World"}
    record = (
        await api(ws_system, "GET", f"/api/workspace/executions/{body['execution_id']}")
    ).json()
    assert record["status"] == "running"

    stopped = await api(ws_system, "POST", f"/api/workspace/executions/{body['execution_id']}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    await eventually(lambda: port_free(port), timeout=15, what="preview port freed")
    lines, final = await run_output(ws_system, body["execution_id"])
    assert "Starting server on port 8000..." in lines
    assert final["status"] == "stopped"
    await eventually(lambda: not sandbox_processes(), timeout=10, what="no sandbox process left")


async def test_a_flood_of_binary_output_is_bounded_and_marked_truncated(
    ws_system: System, wjs: JetStreamContext
) -> None:
    body = await start_run(ws_system, wjs, "implementation/flood.py", FLOOD)
    record = await wait_finished(ws_system, body["execution_id"], timeout=90)
    assert record["truncated"] is True
    lines, final = await run_output(ws_system, body["execution_id"])
    assert final["truncated"] is True
    assert sum(len(line.encode()) for line in lines) < 400_000  # EXEC_MAX_OUTPUT_BYTES=200000
    assert len(lines) <= 2001
    assert lines[-1].startswith("[output truncated:")
    health = (await api(ws_system, "GET", "/api/health")).json()
    assert health["services"]["workspace"]["status"] == "up"


async def test_health_reports_the_sandbox_layers(ws_system: System) -> None:
    health = (await api(ws_system, "GET", "/api/health")).json()
    sandbox = health["sandbox"]
    assert sandbox["mode"] == "bubblewrap"
    for layer in (
        "bubblewrap",
        "separate_uid",
        "rlimits",
        "network_namespace",
        "filesystem_confined",
        "scrubbed_env",
    ):
        assert sandbox["layers"][layer] is True, layer
    # pyseccomp binds libseccomp.so.2, which every Debian has: no python3-seccomp needed.
    assert sandbox["layers"]["seccomp"] is True
    assert sandbox["layers"]["cgroups"] is (sandbox["cgroups"] is not None)


async def test_a_test_file_runs_under_pytest_and_a_nested_script_imports_its_siblings(
    ws_system: System, wjs: JetStreamContext
) -> None:
    tests = (
        b"def test_adds():\n    assert 1 + 1 == 2\n\n\ndef test_fails():\n    assert 2 + 2 == 5\n"
    )
    body = await start_run(ws_system, wjs, "implementation/checks/test_sums.py", tests)
    assert body["command"] == "python -m pytest -q test_sums.py"
    record = await wait_finished(ws_system, body["execution_id"], timeout=60)
    lines, _ = await run_output(ws_system, body["execution_id"])
    assert record["status"] == "failed" and record["exit_code"] == 1
    assert any("1 failed, 1 passed" in line for line in lines), lines

    await write_file(
        wjs, "implementation/app/helpers.py", b"def greet():\n    return 'hi from helper'\n"
    )
    body = await start_run(
        ws_system,
        wjs,
        "implementation/app/main.py",
        b'from helpers import greet\n\nif __name__ == "__main__":\n    print(greet())\n',
    )
    lines, final = await run_output(ws_system, body["execution_id"])
    assert lines == ["hi from helper"]
    assert final["exit_code"] == 0
