"""More kinds of program than Python, in every sandbox mode: a static site and a Node.js server
are listed runnable (``metadata.kind`` says which) and answer through their preview."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from nats.js import JetStreamContext

from tests.harness import System

from .conftest import (
    SANDBOX_MODES,
    api,
    eventually,
    sandbox_processes,
    start_run,
    system_in_mode,
    wait_listed,
    write_file,
)

NODE_SERVER = b"""const http = require("http");
const port = 3000;
http.createServer((req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({ message: "Hello from Node" }));
}).listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
"""
requires_node = pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js (node) is not installed here"
)


@pytest.fixture(scope="module", params=SANDBOX_MODES)
def ws_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    yield from system_in_mode(request, tmp_path_factory)


async def answer_then_stop(system: System, body: dict[str, object], expect: str) -> None:
    preview = str(body["preview_url"])

    async def answered() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(preview)
        return response.status_code == 200 and expect in response.text

    await eventually(answered, timeout=40, interval=0.3, what=f"{expect!r} from the preview")
    stopped = await api(system, "POST", f"/api/workspace/executions/{body['execution_id']}/stop")
    assert stopped.json()["status"] == "stopped"
    await eventually(lambda: not sandbox_processes(), timeout=15, what="no sandbox process left")


async def test_a_static_site_is_listed_as_a_site_and_served_through_its_preview(
    ws_system: System, wjs: JetStreamContext
) -> None:
    await write_file(wjs, "site/style.css", b"h1 { color: teal; }\n")
    page = b"<!doctype html><title>t</title><h1>Static hello</h1>\n"
    digest = await write_file(wjs, "site/index.html", page)
    entry = await wait_listed(ws_system, "workspace/site/index.html", digest)
    assert entry["runnable"] is True and entry["metadata"]["kind"] == "site"
    assert entry["metadata"]["port"] == 8000
    body = await start_run(ws_system, wjs, "site/index.html", page)
    await answer_then_stop(ws_system, body, "Static hello")


@requires_node
async def test_a_node_server_is_listed_as_a_server_and_answers_through_its_preview(
    ws_system: System, wjs: JetStreamContext
) -> None:
    digest = await write_file(wjs, "implementation/server.js", NODE_SERVER)
    entry = await wait_listed(ws_system, "workspace/implementation/server.js", digest)
    assert entry["runnable"] is True, entry
    assert entry["metadata"]["kind"] == "server" and entry["metadata"]["port"] == 3000
    assert entry["metadata"]["command"] == "node server.js"
    body = await start_run(ws_system, wjs, "implementation/server.js", NODE_SERVER)
    await answer_then_stop(ws_system, body, "Hello from Node")
