"""What a workspace file is for (script, web server, tests), worked out from its content.

A pure function shared so the command the gateway's file list shows is exactly the command the
workspace service runs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Runnable:
    """How a file runs: the command, the port it serves on (if a server), how long it takes."""

    runnable: bool
    kind: str  # "script" | "server" | "tests" | "none"
    command: str | None = None
    port: int | None = None
    estimated_startup: str | None = None

    def metadata(self) -> dict[str, object]:
        return {
            "command": self.command,
            "port": self.port,
            "estimated_startup": self.estimated_startup,
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


def _port(text: str, default: int) -> int:
    for pattern in (_PORT_KW, _HTTP_SERVER_PORT, _PORT_CONST):
        match = pattern.search(text)
        if match and 0 < int(match.group(1)) < 65536:
            return int(match.group(1))
    return default


def inspect_file(path: str, content: bytes) -> Runnable:  # noqa: PLR0911 (one answer per kind)
    """What ``path`` with ``content`` is: decided from the code itself, the name only picks the
    language. A test module runs under pytest; a module that starts uvicorn, Flask or http.server
    is a server on the port it names; a module with a ``__main__`` guard is a script."""
    name = PurePosixPath(path).name
    if name.endswith(".sh"):
        text = content.decode("utf-8", errors="replace")
        if _SHEBANG_SH.match(text) or text.strip():
            return Runnable(True, "script", f"sh {name}", None, "1s")
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
        return Runnable(True, "tests", f"python -m pytest -q {name}", None, "3s")
    if _UVICORN_RUN.search(text) or (has_main and _FASTAPI.search(text)):
        return Runnable(True, "server", f"python {name}", _port(text, 8000), "2s")
    if _FLASK.search(text) and _FLASK_RUN.search(text):
        return Runnable(True, "server", f"python {name}", _port(text, 5000), "2s")
    if _HTTP_SERVER.search(text):
        return Runnable(True, "server", f"python {name}", _port(text, 8000), "1s")
    app = _FASTAPI_APP.search(text)
    if app and not has_main:
        # An app module without its own server start: run it under uvicorn.
        module = name.removesuffix(".py")
        return Runnable(
            True,
            "server",
            f"python -m uvicorn {module}:{app.group(1)} --host 127.0.0.1 --port 8000",
            8000,
            "2s",
        )
    if has_main or _has_top_level_effects(tree):
        return Runnable(True, "script", f"python {name}", None, "1s")
    return NOT_RUNNABLE


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
