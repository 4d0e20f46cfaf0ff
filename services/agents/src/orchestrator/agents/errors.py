"""Errors of the agents service.

ModelError   a model call failed for good (after the SDK's own retries); ``code`` is the
             contract's (``AGENT_UNAVAILABLE``): the stage records it as ``StageFailed``.
"""

from __future__ import annotations

from orchestrator.events.error_codes import ErrorCode


class ModelError(Exception):
    """A model call failed for good (after the SDK's retries). ``code`` is the contract's."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
