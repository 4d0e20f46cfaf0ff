"""What a workspace file is (a Python script, server or tests, a shell script, a static site,
a Node.js script or server: its ``kind``), worked out from its content.

Pure and shared, so the command the gateway's file list shows is exactly the command the
workspace service runs. Whether a program can run also depends on the machine that runs code:
the workspace service finds which runtimes it lacks and says so in its heartbeat
(:class:`Runtimes`); :func:`on_machine` applies that to what the content says.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal, get_args

Kind = Literal[
    "python_script",
    "python_server",
    "python_tests",
    "shell_script",
    "static_site",
    "node_script",
    "node_server",
    "none",
]
"""What a file is: ``<language>_<role>``, the language saying what runs it (``static_site``: a
folder with an ``index.html``, served by Python's ``http.server``)."""
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class Runtimes:
    """Which runtimes besides Python and ``sh`` the machine that runs code lacks, and why: as
    that machine's workspace service found them (its heartbeat says), never guessed elsewhere."""

    missing: Mapping[str, str] = field(default_factory=dict)

    def why_not(self, runtime: str) -> str | None:
        return self.missing.get(runtime)


@dataclass(frozen=True)
class Runnable:
    """How a file runs: the command, the port it serves on (if a server), how long it takes."""

    runnable: bool
    kind: Kind
    command: str | None = None
    port: int | None = None
    estimated_startup: str | None = None
    reason: str | None = None  # why a program is not runnable here (its runtime is missing)

    @property
    def language(self) -> str | None:
        """``python``, ``shell``, ``node``, or ``html`` (a static site); None when not a program."""
        head = self.kind.split("_", 1)[0]
        return {"none": None, "static": "html"}.get(head, head)

    @property
    def role(self) -> str:
        """``script``, ``server``, ``tests``, ``site`` or ``none``."""
        return self.kind.rsplit("_", 1)[-1]

    @property
    def serves(self) -> bool:
        """It listens on ``port`` until stopped (a web server or a static site)."""
        return self.role in ("server", "site")

    def metadata(self) -> dict[str, object]:
        return {
            "command": self.command,
            "port": self.port,
            "estimated_startup": self.estimated_startup,
            "kind": self.kind,
            "reason": self.reason,
        }


NOT_RUNNABLE = Runnable(runnable=False, kind="none")

_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]\s*:""", re.MULTILINE)
_PORT_KW = re.compile(r"\bport\s*=\s*(\d{2,5})\b")
_UVICORN_RUN = re.compile(r"\buvicorn\.run\s*\(")
_FLASK_RUN = re.compile(r"\b\w+\.run\s*\(")
_HTTP_SERVER = re.compile(r"\b(HTTPServer|ThreadingHTTPServer|TCPServer|serve_forever)\b")
_HTTP_SERVER_PORT = re.compile(
    r"(?:HTTPServer|TCPServer)\s*\(\s*\(\s*['\"][^'\"]*['\"]\s*,\s*(\d{2,5})"
)
_PORT_CONST = re.compile(r"^\s*PORT\s*=\s*(\d{2,5})\b", re.MULTILINE)
_TEST_FUNC = re.compile(r"^\s*(async\s+)?def\s+test_\w*\s*\(", re.MULTILINE)
_FASTAPI = re.compile(r"\bFastAPI\s*\(")
_FLASK = re.compile(r"\bFlask\s*\(")
_FASTAPI_APP = re.compile(r"^(\w+)\s*(?::\s*\w+\s*)?=\s*FastAPI\s*\(", re.MULTILINE)
_SHEBANG_SH = re.compile(r"^#!\s*/(usr/)?bin/(env\s+)?(ba)?sh\b")
_NODE_SERVER = re.compile(r"\b(createServer|express\s*\(|fastify\s*\(|Koa\s*\()|\.listen\s*\(")
_NODE_PORT = re.compile(
    r"(?:\.listen\s*\(\s*|\b(?:PORT|port)\s*(?:=|\|\|)\s*(?:process\.env\.PORT\s*\|\|\s*)?)(\d{2,5})\b"
)
NODE_EXTENSIONS = (".js", ".mjs", ".cjs")
OPTIONAL_RUNTIMES = ("node",)
"""Runtimes a machine may lack (a program's ``language`` names its runtime)."""
STATIC_SITE_PORT = 8000


def _port(text: str, default: int) -> int:
    for pattern in (_PORT_KW, _HTTP_SERVER_PORT, _PORT_CONST):
        match = pattern.search(text)
        if match and 0 < int(match.group(1)) < 65536:
            return int(match.group(1))
    return default


def inspect_file(  # noqa: PLR0911 (one answer per kind)
    path: str, content: bytes, *, runtimes: Runtimes | None = None
) -> Runnable:
    """What ``path`` with ``content`` is: decided from the code itself, the name only picks the
    language. A test module runs under pytest; a module that starts uvicorn, Flask or http.server
    is a server on the port it names; a module with a ``__main__`` guard is a script. An
    ``index.html`` makes its folder a static site, served by ``http.server``. A Node.js file is a
    server when it listens, else a script; runnable only where the machine that runs code has
    ``node`` (``runtimes``: what it lacks; not given, nothing is known to be missing)."""
    name = PurePosixPath(path).name
    if name == "index.html":
        command = f"python -m http.server {STATIC_SITE_PORT} --bind 127.0.0.1"
        return Runnable(True, "static_site", command, STATIC_SITE_PORT, "1s")
    if name.endswith(NODE_EXTENSIONS):
        return on_machine(_node_program(name, content), runtimes or Runtimes())
    if name.endswith(".sh"):
        text = content.decode("utf-8", errors="replace")
        if _SHEBANG_SH.match(text) or text.strip():
            return Runnable(True, "shell_script", f"sh {name}", None, "1s")
        return NOT_RUNNABLE
    if not name.endswith(".py"):
        return NOT_RUNNABLE
    try:
        text = content.decode("utf-8")
        tree = ast.parse(text)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return NOT_RUNNABLE
    has_main = bool(_MAIN_GUARD.search(text))
    if _TEST_FUNC.search(text) and not has_main:
        return Runnable(True, "python_tests", f"python -m pytest -q {name}", None, "3s")
    if _UVICORN_RUN.search(text) or (has_main and _FASTAPI.search(text)):
        return Runnable(True, "python_server", f"python {name}", _port(text, 8000), "2s")
    if _FLASK.search(text) and _FLASK_RUN.search(text):
        return Runnable(True, "python_server", f"python {name}", _port(text, 5000), "2s")
    if _HTTP_SERVER.search(text):
        return Runnable(True, "python_server", f"python {name}", _port(text, 8000), "1s")
    app = _FASTAPI_APP.search(text)
    if app and not has_main:
        # An app module without its own server start: run it under uvicorn.
        module = name.removesuffix(".py")
        return Runnable(
            True,
            "python_server",
            f"python -m uvicorn {module}:{app.group(1)} --host 127.0.0.1 --port 8000",
            8000,
            "2s",
        )
    if has_main or _has_top_level_effects(tree):
        return Runnable(True, "python_script", f"python {name}", None, "1s")
    return NOT_RUNNABLE


def on_machine(found: Runnable, runtimes: Runtimes) -> Runnable:
    """``found`` as the machine that runs code can run it: not runnable, with the reason, when
    it lacks the program's runtime (Python and ``sh`` are always there)."""
    language = found.language
    missing = runtimes.why_not(language) if language in OPTIONAL_RUNTIMES and language else None
    if missing is None or not found.runnable:
        return found
    return Runnable(False, found.kind, None, found.port, None, missing)


def _node_program(name: str, content: bytes) -> Runnable:
    text = content.decode("utf-8", errors="replace")
    if not text.strip():
        return NOT_RUNNABLE
    if _NODE_SERVER.search(text):
        match = _NODE_PORT.search(text)
        port = int(match.group(1)) if match and 0 < int(match.group(1)) < 65536 else 3000
        return Runnable(True, "node_server", f"node {name}", port, "1s")
    return Runnable(True, "node_script", f"node {name}", None, "1s")


_DECLARATIONS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def _has_top_level_effects(tree: ast.Module) -> bool:
    """True when the module does something when run, beyond defining names (a docstring or a
    constant expression does not count)."""
    for node in tree.body:
        if isinstance(node, _DECLARATIONS):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        return True
    return False
