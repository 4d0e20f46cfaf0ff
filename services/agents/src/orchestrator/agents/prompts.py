"""What each agent is asked, and the JSON shape its answer must have (structured output). Pure.

Every agent is told the world its code will run in (the sandbox), so that a real model writes
code that can pass validation's checks: it is run, not only read.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.events.messages import SandboxWorld
from orchestrator.events.workspace_files import PROJECT_DIR

MAX_REVIEW_CHARS = 60_000
PROJECT_CHARS = 40_000
"""How much of an existing project's contents the analyst and the implementer are shown."""


def runtime(world: SandboxWorld | None) -> str:
    """Where the code will run, as the workspace service reports it (None: not reported)."""
    tests = (
        "Tests run as `python -m pytest` from the project root: put them in test_*.py files; "
        "they must not need the network or a running server (test a FastAPI app with "
        "fastapi.testclient)."
    )
    if world is None:
        return (
            "Where the code runs: a Linux sandbox whose details no workspace service has "
            "reported yet; assume CPython 3 with the standard library only and no network "
            "access, and declare every package in requirements.txt. A web server must listen "
            "on 127.0.0.1 on the port the plan names. " + tests
        )
    python = f"CPython {world.python}" if world.python else "CPython 3 (version not reported)"
    network = "network access" if world.network else "no network access"
    packages = ", ".join(world.packages) if world.packages else "nothing else"
    return (
        f"Where the code runs: a Linux sandbox with {python}, {network}, a writable copy of "
        "the project as the working directory (it is discarded after each run). Installed: the "
        f"standard library and {packages}. Declare anything else in requirements.txt (plain "
        "specifiers; installed as wheels before the run, never built from source). A web "
        f"server must listen on {world.server_host} on the port the plan names (default "
        f"{world.default_port}) and answer GET on its health path (default /) without a 5xx. "
        + tests
    )


PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "requirements": {"type": "array", "items": {"type": "string"}},
        "design": {"type": "string"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "purpose": {"type": "string"}},
                "required": ["path", "purpose"],
                "additionalProperties": False,
            },
        },
        "run_command": {"type": "string"},
        "test_command": {"type": "string"},
        "entry_point": {"type": "string"},
        "entry_kind": {"type": "string", "enum": ["script", "server", "none"]},
        "port": {"type": "integer"},
        "health_path": {"type": "string"},
        "read_files": {"type": "array", "items": {"type": "string"}},
    },
    "required": [
        "summary",
        "requirements",
        "design",
        "files",
        "run_command",
        "test_command",
        "entry_point",
        "entry_kind",
        "port",
        "health_path",
        "read_files",
    ],
    "additionalProperties": False,
}

FILES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
                "additionalProperties": False,
            },
        },
        "delete": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["summary", "files", "delete"],
    "additionalProperties": False,
}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "passed": {"type": "boolean"},
        "summary": {"type": "string"},
        "findings": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["passed", "summary", "findings"],
    "additionalProperties": False,
}


def analyst(world: SandboxWorld | None) -> str:
    return (
        "You are claude, the analyst of a four-agent software team. Stage: analysis. "
        "Turn the requirement into a short plan: the requirements, a design, the files to write "
        "or change (paths relative to the project root), the command that runs the result, how "
        "to test it (test_command, usually `python -m pytest -q`), the entry point (a project "
        "file), whether it is a script or a server (entry_kind; none for a library), its port "
        "(0 if none) and health path. When an existing project is shown, plan changes to it: "
        "keep what works. If it was too large to show whole, list in read_files the files you "
        "need to see. " + runtime(world) + " Answer with JSON only."
    )


def implementer(world: SandboxWorld | None) -> str:
    return (
        "You are codex, the implementer of a four-agent software team. Stage: implementation. "
        "Write every file the plan creates or changes, each in full, with tests alongside the "
        "code. Paths are relative to the project root. Files you do not mention stay as they "
        "are; list in delete the existing files to remove. "
        + runtime(world)
        + " Answer with JSON only: a summary, the files (path and content) and delete."
    )


VALIDATOR = (
    "You are claude2, the validator of a four-agent software team. Stage: validation. "
    "Review the files against the requirement and the plan. The code was already compiled, "
    "tested and run in the sandbox: the checks' outcomes are given. Set passed to false only "
    "for real defects, each one a finding. Answer with JSON only."
)


def project_block(
    tree: list[tuple[str, int]],
    contents: dict[str, str],
    others: list[tuple[str, int]] | None = None,
    other_contents: dict[str, str] | None = None,
) -> str:
    """The existing project as a model is shown it: the whole tree, then the contents given;
    ``others``: the workspace's files outside the project (a person's), by workspace path."""
    others, other_contents = others or [], other_contents or {}
    if not tree:
        lines = ["The project is empty: this is a new project."]
    else:
        lines = ["The existing project (path, bytes):"]
        lines += [f"- {path} ({size})" for path, size in tree]
        if contents:
            lines.append("\nTheir contents:\n" + _files_block(contents))
    if others:
        lines.append(
            f"\nOther files in the workspace, outside the project directory {PROJECT_DIR} "
            "(a person's: context for you, not part of the project that runs; paths from the "
            "workspace root, bytes):"
        )
        lines += [f"- {path} ({size})" for path, size in others]
        if other_contents:
            lines.append("\nTheir contents:\n" + _files_block(other_contents))
    hidden = [path for path, _ in tree if path not in contents]
    hidden += [path for path, _ in others if path not in other_contents]
    if hidden:
        lines.append(
            f"\nNot shown (beyond the {PROJECT_CHARS} characters of contents one prompt shows): "
            + ", ".join(hidden)
        )
    return "\n".join(lines)


def analysis_prompt(
    task_id: str,
    requirement: str,
    project: str,
    context: dict[str, Any] | None = None,
    revisions: tuple[tuple[dict[str, Any], str], ...] = (),
) -> str:
    """``revisions``: each plan a person sent back, with what they said about it."""
    text = f"Task: {task_id}\nRequirement:\n{requirement}\n\n{project}"
    if context:
        text += f"\n\nProject context from the client:\n{json.dumps(context, indent=2)}"
    for number, (plan, feedback) in enumerate(revisions, 1):
        text += (
            f"\n\nYour plan #{number} was sent back by the person who asked:\n"
            f"{json.dumps(plan, indent=2)}\nTheir feedback:\n{feedback}"
        )
    if revisions:
        text += "\n\nWrite a revised plan that does what the feedback asks."
    return text


def implementation_prompt(
    *,
    task_id: str,
    requirement: str,
    plan: dict[str, Any],
    round_: int,
    findings: tuple[str, ...],
    previous: dict[str, str],
    project: str = "",
    feedback: tuple[str, ...] = (),
) -> str:
    text = (
        f"Task: {task_id}\nRound: {round_}\nRequirement:\n{requirement}\n\n"
        f"Plan:\n{json.dumps(plan, indent=2)}"
    )
    if project:
        text += "\n\n" + project
    if findings:
        text += "\n\nValidation found these problems in the previous round; fix them all:\n"
        text += "\n".join(f"- {f}" for f in findings)
    if feedback:
        text += "\n\nThe person who asked reviewed the changes and wants this; do it:\n"
        text += "\n".join(f"- {f}" for f in feedback)
    if previous:
        text += "\n\nThe previous round's files:\n" + _files_block(previous)
    return text


def review_prompt(
    task_id: str,
    requirement: str,
    plan: dict[str, Any],
    files: dict[str, str],
    checks: str,
    *,
    deleted: tuple[str, ...] = (),
    earlier_failures: str = "",
) -> str:
    text = (
        f"Task: {task_id}\nRequirement:\n{requirement}\n\nPlan:\n{json.dumps(plan, indent=2)}\n\n"
        f"Checks that ran:\n{checks}\n\n"
    )
    if earlier_failures:
        text += (
            "Checks that failed in earlier rounds (the implementer was sent back with this "
            "output; make sure the fix is real, not a test weakened or removed to pass):\n"
            f"{earlier_failures}\n\n"
        )
    text += f"Files:\n{_files_block(files)}"
    if deleted:
        text += "\n\nDeleted: " + ", ".join(deleted)
    return text


def _files_block(files: dict[str, str]) -> str:
    out: list[str] = []
    budget = MAX_REVIEW_CHARS
    for path, content in sorted(files.items()):
        shown = content if len(content) <= budget else content[:budget] + "\n… (truncated)"
        budget = max(0, budget - len(shown))
        out.append(f"--- {path}\n{shown}")
    return "\n".join(out)
