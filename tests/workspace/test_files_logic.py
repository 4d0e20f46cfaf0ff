"""Runnable metadata, shared by the gateway and the workspace service (pure)."""

from __future__ import annotations

from orchestrator.events.runnables import inspect_file


def test_a_fastapi_app_with_uvicorn_run_is_a_server_on_its_port() -> None:
    code = b"""from fastapi import FastAPI
import uvicorn
app = FastAPI()
if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=8123)
"""
    found = inspect_file("implementation/api.py", code)
    assert (found.runnable, found.kind, found.command, found.port) == (
        True,
        "server",
        "python api.py",
        8123,
    )


def test_a_fastapi_module_without_a_server_start_runs_under_uvicorn() -> None:
    found = inspect_file("main.py", b"from fastapi import FastAPI\napi = FastAPI()\n")
    assert found.kind == "server"
    assert found.command == "python -m uvicorn main:api --host 127.0.0.1 --port 8000"


def test_flask_and_http_server_are_servers() -> None:
    flask = b"from flask import Flask\napp = Flask(__name__)\napp.run(port=5001)\n"
    assert inspect_file("f.py", flask).port == 5001
    http = b"import http.server\nPORT = 9000\nhttp.server.HTTPServer(('', PORT), None)\n"
    found = inspect_file("h.py", http)
    assert (found.kind, found.port) == ("server", 9000)


def test_scripts_tests_and_libraries_are_told_apart_by_content() -> None:
    assert inspect_file("s.py", b'print("hello")\n').kind == "script"
    assert inspect_file("s.py", b'if __name__ == "__main__":\n    main()\n').kind == "script"
    tests = inspect_file("check_things.py", b"def test_x():\n    assert True\n")
    assert tests.kind == "tests" and tests.command == "python -m pytest -q check_things.py"
    assert not inspect_file("lib.py", b'"""doc"""\nimport os\nX = 1\ndef f():\n    pass\n').runnable
    # The name alone decides nothing: a "test_" file without tests that prints is a script.
    assert inspect_file("test_run.py", b'print("x")\n').kind == "script"


def test_broken_binary_and_unknown_files_are_not_runnable() -> None:
    assert not inspect_file("bad.py", b"def (:\n").runnable
    assert not inspect_file("bin.py", b"\xff\xfe\x00").runnable
    assert not inspect_file("notes.md", b"# hi").runnable
    assert inspect_file("go.sh", b"#!/bin/sh\necho hi\n").command == "sh go.sh"


def test_an_index_html_is_a_static_site_served_from_its_folder() -> None:
    found = inspect_file("site/index.html", b"<h1>hi</h1>")
    assert found.runnable and found.kind == "site" and found.serves
    assert found.command == "python -m http.server 8000 --bind 127.0.0.1" and found.port == 8000
    assert found.metadata()["kind"] == "site"


def test_node_programs_are_runnable_only_where_node_is() -> None:
    server = b'const http = require("http");\nhttp.createServer(() => {}).listen(4100);\n'
    found = inspect_file("srv.js", server, node=True)
    assert (found.kind, found.command, found.port) == ("server", "node srv.js", 4100)
    assert inspect_file("s.mjs", b"console.log(1)\n", node=True).kind == "script"
    missing = inspect_file("srv.js", server, node=False)
    assert not missing.runnable and missing.kind == "server"
    assert missing.reason is not None and "node" in missing.reason
