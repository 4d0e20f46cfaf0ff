"""Errors of the workspace service.

Rejection   a run request that cannot be started (unknown file, no sandbox, too many runs):
            recorded as ``ExecutionRejected`` with its ``code``, which the gateway answers with.
"""

from __future__ import annotations

from orchestrator.events.error_codes import ErrorCode


class Rejection(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
