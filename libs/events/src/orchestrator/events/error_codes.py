"""The error-code vocabulary every service speaks, defined once.

The first six are the contract's; the rest were added where it has no fitting code. A code is
what a client branches on: it travels in the gateway's error envelope, in ``StageFailed`` and
``TaskFailed`` events, and in ``ExecutionRejected``. Which HTTP status a code answers with is the
gateway's business (``gateway/errors.py``), not the services'.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # The contract's codes.
    INVALID_REQUEST = "INVALID_REQUEST"
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    WORKSPACE_ERROR = "WORKSPACE_ERROR"
    API_KEY_MISSING = "API_KEY_MISSING"
    EXECUTION_FAILED = "EXECUTION_FAILED"
    # Added.
    NOT_FOUND = "NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    ARCHIVE_NOT_FOUND = "ARCHIVE_NOT_FOUND"
    EXECUTION_NOT_FOUND = "EXECUTION_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


__all__ = ["ErrorCode"]
