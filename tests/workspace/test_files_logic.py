"""Runnable metadata, shared by the gateway and the workspace service (pure)."""

from __future__ import annotations

from orchestrator.events.runnables import KINDS, Runtimes, inspect_file


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
        "python_server",
        "python api.py",
        8123,
    )


def test_a_fastapi_module_without_a_server_start_runs_under_uvicorn() -> None:
    found = inspect_file("main.py", b"from fastapi import FastAPI\napi = FastAPI()\n")
    assert found.kind == "python_server"
    assert found.command == "python -m uvicorn main:api --host 127.0.0.1 --port 8000"


def test_flask_and_http_server_are_servers() -> None:
    flask = b"from flask import Flask\napp = Flask(__name__)\napp.run(port=5001)\n"
    assert inspect_file("f.py", flask).port == 5001
    http = b"import http.server\nPORT = 9000\nhttp.server.HTTPServer(('', PORT), None)\n"
    found = inspect_file("h.py", http)
    assert (found.kind, found.port) == ("python_server", 9000)


def test_scripts_tests_and_libraries_are_told_apart_by_content() -> None:
    assert inspect_file("s.py", b'print("hello")\n').kind == "python_script"
    main = b'if __name__ == "__main__":\n    main()\n'
    assert inspect_file("s.py", main).kind == "python_script"
    tests = inspect_file("check_things.py", b"def test_x():\n    assert True\n")
    assert tests.kind == "python_tests" and tests.command == "python -m pytest -q check_things.py"
    assert not inspect_file("lib.py", b'"""doc"""\nimport os\nX = 1\ndef f():\n    pass\n').runnable
    # The name alone decides nothing: a "test_" file without tests that prints is a script.
    assert inspect_file("test_run.py", b'print("x")\n').kind == "python_script"


def test_broken_binary_and_unknown_files_are_not_runnable() -> None:
    assert not inspect_file("bad.py", b"def (:\n").runnable
    assert not inspect_file("bin.py", b"\xff\xfe\x00").runnable
    assert not inspect_file("notes.md", b"# hi").runnable
    shell = inspect_file("go.sh", b"#!/bin/sh\necho hi\n")
    assert (shell.kind, shell.command) == ("shell_script", "sh go.sh")


def test_an_index_html_is_a_static_site_served_from_its_folder() -> None:
    found = inspect_file("site/index.html", b"<h1>hi</h1>")
    assert found.runnable and found.kind == "static_site" and found.serves
    assert found.command == "python -m http.server 8000 --bind 127.0.0.1" and found.port == 8000
    assert found.metadata()["kind"] == "static_site"


def test_node_programs_are_runnable_only_where_node_is() -> None:
    server = b'const http = require("http");\nhttp.createServer(() => {}).listen(4100);\n'
    found = inspect_file("srv.js", server, runtimes=Runtimes())
    assert (found.kind, found.command, found.port) == ("node_server", "node srv.js", 4100)
    assert inspect_file("s.mjs", b"console.log(1)\n", runtimes=Runtimes()).kind == "node_script"
    lacking = Runtimes({"node": "Node.js (node) is not installed on the machine that runs code"})
    missing = inspect_file("srv.js", server, runtimes=lacking)
    assert not missing.runnable and missing.kind == "node_server" and missing.command is None
    assert missing.reason == lacking.missing["node"]
    # Python and sh never depend on what the machine lacks.
    assert inspect_file("s.py", b'print("x")\n', runtimes=lacking).runnable


KIND_EXAMPLES = {
    "python_script": ("tool.py", b'print("hello")\n'),
    "python_server": (
        "api.py",
        b"import uvicorn\nfrom fastapi import FastAPI\nuvicorn.run(FastAPI())\n",
    ),
    "python_tests": ("test_math.py", b"def test_add():\n    assert 1 + 1 == 2\n"),
    "shell_script": ("build.sh", b"echo building\n"),
    "static_site": ("site/index.html", b"<h1>hi</h1>"),
    "node_script": ("tool.js", b"console.log('hello')\n"),
    "node_server": ("srv.js", b"require('http').createServer(() => {}).listen(3000)\n"),
    "none": ("notes.md", b"# notes"),
}
LANGUAGES = {"python": "python", "shell": "shell", "static": "html", "node": "node", "none": None}


def test_every_kind_names_its_language_and_role() -> None:
    assert set(KIND_EXAMPLES) == set(KINDS)
    for kind, (path, content) in KIND_EXAMPLES.items():
        found = inspect_file(path, content, runtimes=Runtimes())
        assert found.kind == kind, path
        assert found.metadata()["kind"] == kind
        head, _, role = kind.partition("_")
        assert (found.language, found.role) == (LANGUAGES[head], role or "none"), kind
        assert found.runnable is (kind != "none")
        assert found.serves is (role in ("server", "site"))
