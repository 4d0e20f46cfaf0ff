"""What a task changed against the project it started from: added, modified, deleted, with a
unified diff for text files. Pure: contents are passed in by digest."""

from __future__ import annotations

import difflib
from typing import Any

from orchestrator.events.catalog import FileRef
from orchestrator.events.workspace_files import in_workspace

MAX_DIFF_CHARS = 200_000


def needed(
    base: tuple[FileRef, ...], writes: tuple[FileRef, ...], deletes: tuple[str, ...]
) -> set[str]:
    """The digests whose contents :func:`changes` reads: both sides of a changed file, and what
    a deleted file held (its diff is its removed lines)."""
    found = {ref.path: ref.digest for ref in base}
    digests = set()
    for ref in writes:
        if found.get(ref.path) != ref.digest:
            digests.add(ref.digest)
            if ref.path in found:
                digests.add(found[ref.path])
    digests.update(found[path] for path in deletes if path in found)
    return digests


def changes(
    base: tuple[FileRef, ...],
    writes: tuple[FileRef, ...],
    deletes: tuple[str, ...],
    contents: dict[str, bytes],
) -> list[dict[str, Any]]:
    """Each changed file (workspace path), in path order; a write of identical bytes is none."""
    found = {ref.path: ref for ref in base}
    out: list[dict[str, Any]] = []
    for ref in sorted(writes, key=lambda r: r.path):
        before = found.get(ref.path)
        if before is not None and before.digest == ref.digest:
            continue
        old = contents.get(before.digest, b"") if before is not None else b""
        kind = "modified" if before is not None else "added"
        out.append(_entry(ref.path, kind, old, contents.get(ref.digest, b"")))
    for path in sorted(deletes):
        before = found.get(path)
        old = contents.get(before.digest, b"") if before is not None else b""
        out.append(_entry(path, "deleted", old, b""))
    return sorted(out, key=lambda c: str(c["path"]))


def _entry(path: str, kind: str, old: bytes, new: bytes) -> dict[str, Any]:
    shown = in_workspace(path)
    return {
        "path": "workspace/" + shown,
        "change": kind,
        "diff": unified_diff(shown, kind, old, new),
    }


def unified_diff(path: str, kind: str, old: bytes, new: bytes) -> str | None:
    """The diff of a text file (None for a binary one)."""
    try:
        before, after = old.decode(), new.decode()
    except UnicodeDecodeError:
        return None
    text = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile="/dev/null" if kind == "added" else f"a/{path}",
            tofile="/dev/null" if kind == "deleted" else f"b/{path}",
        )
    )
    return text if len(text) <= MAX_DIFF_CHARS else text[:MAX_DIFF_CHARS] + "\n… (truncated)\n"
