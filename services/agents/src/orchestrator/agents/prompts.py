"""What each agent is asked, and the JSON shape its answer must have (structured output)."""

from __future__ import annotations

import json
from typing import Any

MAX_REVIEW_CHARS = 60_000

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
    },
    "required": ["summary", "requirements", "design", "files", "run_command"],
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
    },
    "required": ["summary", "files"],
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

ANALYST = (
    "You are claude, the analyst of a four-agent software team. Stage: analysis. "
    "Turn the requirement into a short plan: the requirements, a design, the files to write "
    "(paths relative to the project root) and the command that runs the result. "
    "Answer with JSON only."
)
IMPLEMENTER = (
    "You are codex, the implementer of a four-agent software team. Stage: implementation. "
    "Write every file of the plan in full. Paths are relative to the project root. "
    "Answer with JSON only: a summary and the files (path and content)."
)
VALIDATOR = (
    "You are claude2, the validator of a four-agent software team. Stage: validation. "
    "Review the files against the requirement and the plan; the automatic checks already "
    "passed. Set passed to false only for real defects, each one a finding. Answer with JSON only."
)


def analysis_prompt(task_id: str, requirement: str) -> str:
    return f"Task: {task_id}\nRequirement:\n{requirement}"


def implementation_prompt(
    *,
    task_id: str,
    requirement: str,
    plan: dict[str, Any],
    round_: int,
    findings: tuple[str, ...],
    previous: dict[str, str],
) -> str:
    text = (
        f"Task: {task_id}\nRound: {round_}\nRequirement:\n{requirement}\n\n"
        f"Plan:\n{json.dumps(plan, indent=2)}"
    )
    if findings:
        text += "\n\nValidation found these problems in the previous round; fix them all:\n"
        text += "\n".join(f"- {f}" for f in findings)
    if previous:
        text += "\n\nThe previous round's files:\n" + _files_block(previous)
    return text


def review_prompt(
    task_id: str, requirement: str, plan: dict[str, Any], files: dict[str, str], checks: str
) -> str:
    return (
        f"Task: {task_id}\nRequirement:\n{requirement}\n\nPlan:\n{json.dumps(plan, indent=2)}\n\n"
        f"Automatic checks: {checks}\n\nFiles:\n{_files_block(files)}"
    )


def _files_block(files: dict[str, str]) -> str:
    out: list[str] = []
    budget = MAX_REVIEW_CHARS
    for path, content in sorted(files.items()):
        shown = content if len(content) <= budget else content[:budget] + "\n… (truncated)"
        budget = max(0, budget - len(shown))
        out.append(f"--- {path}\n{shown}")
    return "\n".join(out)
