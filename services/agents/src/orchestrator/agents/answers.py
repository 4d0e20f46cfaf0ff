"""Reading the models' answers into what the pipeline records, and the checks into findings. Pure.

A model's answer is untrusted input: a write outside the project, a path named twice or the
deletion of a file that does not exist is a *finding* for the next implementation round, never a
crash and never applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.events.catalog import CheckOutcome, RunPlan
from orchestrator.events.paths import UnsafePath, model_path

MAX_FILES = 100
MAX_FILE_BYTES = 512 * 1024
FINDING_TAIL_CHARS = 1500
"""How much of a failed check's output a model is given, from its end."""
EARLIER_ROUNDS_SHOWN = 2


@dataclass(frozen=True)
class FileOps:
    """An implementation's changes to the project: whole-file writes and deletions."""

    writes: dict[str, bytes]
    deletes: tuple[str, ...]
    problems: tuple[str, ...]


def read_file_ops(answer: dict[str, Any], existing: set[str]) -> FileOps:
    """The writes and deletes of an implementer's answer, against the project's ``existing``
    paths; every refused operation is named in ``problems``."""
    writes: dict[str, bytes] = {}
    problems: list[str] = []
    items = answer.get("files")
    for item in (items if isinstance(items, list) else [])[:MAX_FILES]:
        raw = str(item.get("path", "")) if isinstance(item, dict) else ""
        content = item.get("content") if isinstance(item, dict) else None
        try:
            path = model_path(raw)
        except UnsafePath as exc:
            problems.append(f"{raw[:200]!r} was not written: {exc} (paths are project-relative)")
            continue
        if not isinstance(content, str):
            problems.append(f"{path} was not written: its content is not text")
        elif path in writes:
            problems.append(f"{path} was written twice in one answer: give each file once")
        elif len(content.encode()) > MAX_FILE_BYTES:
            problems.append(f"{path} was not written: over {MAX_FILE_BYTES} bytes")
        else:
            writes[path] = content.encode()
    deletes: list[str] = []
    listed = answer.get("delete")
    for raw in listed if isinstance(listed, list) else []:
        try:
            path = model_path(str(raw))
        except UnsafePath as exc:
            problems.append(f"{str(raw)[:200]!r} was not deleted: {exc}")
            continue
        if path in writes:
            problems.append(f"{path} is both written and deleted: choose one")
            writes.pop(path)
        elif path not in existing:
            problems.append(f"{path} was not deleted: the project has no such file")
        elif path not in deletes:
            deletes.append(path)
    return FileOps(writes, tuple(deletes), tuple(problems))


def run_plan(plan: dict[str, Any]) -> RunPlan:
    """How the plan says to test and run the project (missing or odd fields: not given)."""
    entry = str(plan.get("entry_point") or "").strip()
    kind = plan.get("entry_kind")
    port = plan.get("port")
    health = str(plan.get("health_path") or "/").strip() or "/"
    try:
        entry = model_path(entry) if entry else ""
    except UnsafePath:
        entry = ""
    return RunPlan(
        test_command=str(plan.get("test_command") or "").strip() or None,
        entry_point=entry or None,
        kind=kind if kind in ("script", "server") else None,
        port=port if isinstance(port, int) and 0 < port < 65536 else None,
        health_path=health if health.startswith("/") else "/" + health,
    )


def check_findings(checks: tuple[CheckOutcome, ...]) -> tuple[str, ...]:
    """A finding per failed check, carrying what the implementer needs to fix it: the failing
    test ids and the tail of their output."""
    return tuple(
        f"check {check.name} failed: {check.summary}{_failure(check)}"
        for check in checks
        if check.status == "failed"
    )


def _failure(check: CheckOutcome) -> str:
    """What a failed check says beyond its summary: the failing test ids, then the tail of its
    output (bounded)."""
    failing = check.details.get("failing") or []
    text = "; failing tests: " + ", ".join(str(t) for t in failing[:20]) if failing else ""
    tail = check.output_tail[-FINDING_TAIL_CHARS:].strip()
    return f"{text}\n{tail}" if tail else text


def checks_summary(checks: tuple[CheckOutcome, ...]) -> str:
    """One line: ``tests passed (3 passed), smoke passed``."""
    return (
        ", ".join(
            f"{c.name} {c.status.replace('_', ' ')} ({c.summary})" if c.summary else c.name
            for c in checks
        )
        or "no check ran"
    )


def describe_checks(checks: tuple[CheckOutcome, ...]) -> str:
    """The checks as the reviewer is told them: a failed one with its failing tests and the
    tail of its output."""
    if not checks:
        return "(no check ran)"
    lines = []
    for check in checks:
        line = f"- {check.name}: {check.status} ({check.duration_s:.1f}s) {check.summary}"
        lines.append(line + _failure(check) if check.status == "failed" else line)
    return "\n".join(lines)


def describe_earlier_failures(rounds: tuple[tuple[int, tuple[CheckOutcome, ...]], ...]) -> str:
    """The checks that failed in earlier rounds (the last ``EARLIER_ROUNDS_SHOWN``), so that the
    reviewer can tell a real fix from a test weakened or removed to pass."""
    return "\n".join(
        f"Round {round_}:\n{describe_checks(failed)}"
        for round_, failed in rounds[-EARLIER_ROUNDS_SHOWN:]
    )


__all__ = [
    "FileOps",
    "check_findings",
    "checks_summary",
    "describe_checks",
    "describe_earlier_failures",
    "read_file_ops",
    "run_plan",
]
