"""The path policy: which names may stand for a file in the workspace (or an archive), once.

The gateway accepts, the agents store, the workspace service materialises and the archive
service writes exactly the paths :func:`safe_relative_path` lets through, so a path that one of
them refuses can never reach another by a different spelling.
"""

from __future__ import annotations

from pathlib import Path

MAX_PATH_CHARS = 512
_FORBIDDEN_CHARS = ("\x00", "\\", "%")


class UnsafePath(ValueError):
    """A path that could name something outside the workspace, or is not a plain relative path."""


def safe_relative_path(raw: str) -> str:
    """``raw`` as a normalised relative POSIX path inside the workspace, or :class:`UnsafePath`.

    Refused: empty, absolute, ``..`` or ``.`` segments, empty segments, backslashes, NUL, control
    characters, and ``%`` (a still-encoded traversal such as ``%2e%2e`` must never be decoded a
    second time further down).
    """
    if not raw or len(raw) > MAX_PATH_CHARS:
        raise UnsafePath("empty or overlong path")
    if any(ch in raw for ch in _FORBIDDEN_CHARS) or any(ord(ch) < 32 for ch in raw):
        raise UnsafePath("path contains a forbidden character")
    if raw.startswith("/") or raw.startswith("~"):
        raise UnsafePath("absolute paths are not allowed")
    parts = raw.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath("path segments must be plain names")
    return "/".join(parts)


def model_path(raw: str) -> str:
    """A path a model wrote (``./app.py``, ``app\\main.py``, `` app.py ``), tidied, then held to
    the same policy; a drive or scheme (``C:/x.py``) is refused too."""
    path = raw.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if ":" in path.split("/", 1)[0]:
        raise UnsafePath("drive letters and schemes are not paths in the project")
    return safe_relative_path(path)


def under(root: Path, raw: str) -> Path:
    """Where ``raw`` lands below ``root`` on disk; :class:`UnsafePath` if it would land elsewhere
    (a symlink on the way out of ``root`` included)."""
    target = root.joinpath(*safe_relative_path(raw).split("/"))
    if not target.resolve().is_relative_to(root.resolve()):
        raise UnsafePath("path leaves its root through a link")
    return target


__all__ = ["MAX_PATH_CHARS", "UnsafePath", "model_path", "safe_relative_path", "under"]
