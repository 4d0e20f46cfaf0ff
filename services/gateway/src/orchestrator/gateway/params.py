"""Path parameters: the shape of each identifier, checked by the routes and declared in OpenAPI.

Each pattern is the rule the gateway applies, written once: the route checks a value with it and
the parameter's schema carries the same regular expression, so a generated client (or a fuzzer)
knows which values can name anything. A value outside the pattern is answered as the route always
did: an unknown task or execution (404: no such id is ever issued), an invalid archive name or
file path (400). The checks stay in the routes rather than in FastAPI's validation so those
answers keep their codes.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path

TASK_ID = r"^task_[0-9a-f]{32}$"
"""What ``POST /api/requirements`` issues: ``task_`` and 32 hex digits (a UUID, or the hash of
an Idempotency-Key)."""

EXECUTION_ID = r"^exec_[0-9a-f]{16}$"
"""What ``POST /api/workspace/run/{filename}`` issues."""

ARCHIVE_NAME = r"^[A-Za-z0-9_-]{1,128}$"

_CHAR = r"[^/\x00-\x1f\\%]"
_SEGMENT = rf"(?:[^/\x00-\x1f\\%.]{_CHAR}*|\.[^/\x00-\x1f\\%.]{_CHAR}*|\.\.{_CHAR}+)"
_FIRST = rf"(?:[^/\x00-\x1f\\%.~]{_CHAR}*|\.[^/\x00-\x1f\\%.]{_CHAR}*|\.\.{_CHAR}+)"
FILE_PATH = rf"^{_FIRST}(?:/{_SEGMENT})*$"
"""A relative path inside the workspace (``orchestrator.events.paths.safe_relative_path``):
segments that are not empty, ``.`` or ``..``; no leading ``/`` or ``~``; no backslash, ``%``,
NUL or control character."""
FILE_PATH_MAX = 512


def matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


TaskId = Annotated[
    str, Path(json_schema_extra={"pattern": TASK_ID}, description="A task id, as issued")
]
ExecutionId = Annotated[
    str,
    Path(json_schema_extra={"pattern": EXECUTION_ID}, description="An execution id, as issued"),
]
ArchiveName = Annotated[
    str,
    Path(json_schema_extra={"pattern": ARCHIVE_NAME}, description="An archive's name"),
]
FilePath = Annotated[
    str,
    Path(
        json_schema_extra={"pattern": FILE_PATH, "maxLength": FILE_PATH_MAX},
        description="A workspace path (``implementation/app.py``, ``workspace/`` optional), "
        "or a bare file name when only one file has it",
    ),
]
ArchivedPath = Annotated[
    str,
    Path(
        json_schema_extra={"pattern": FILE_PATH, "maxLength": FILE_PATH_MAX},
        description="The file's path in the archive, or its bare name when only one file has it",
    ),
]
