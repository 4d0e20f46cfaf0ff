"""Every failure the client raises, one class per error code of the gateway's envelope.

The gateway answers every error as ``{"error": {"code", "message", "details"}}``; the code picks
the class, so callers catch what they mean (``except TaskNotFound``) instead of comparing
strings. A code this client does not know yet is raised as the base class with its code intact.
Three classes are the client's own findings, not codes of the envelope (``RAISED_HERE``):
``ConnectionFailed``, ``InvalidGatewayUrl`` and ``UnexpectedResponse``.

    OrchestratorError                 code, message, details, status
    ├── ConnectionFailed              the gateway could not be reached (names the URL)
    ├── InvalidGatewayUrl             the gateway URL given is not one (names it; a ValueError)
    ├── InvalidRequest                INVALID_REQUEST
    ├── ApiKeyMissing                 API_KEY_MISSING
    ├── AgentUnavailable              AGENT_UNAVAILABLE
    ├── WorkspaceError                WORKSPACE_ERROR
    ├── ExecutionFailed               EXECUTION_FAILED
    ├── NotFound                      NOT_FOUND (no such route)
    │   ├── TaskNotFound              TASK_NOT_FOUND
    │   ├── FileNotFound              FILE_NOT_FOUND
    │   ├── ArchiveNotFound           ARCHIVE_NOT_FOUND
    │   └── ExecutionNotFound         EXECUTION_NOT_FOUND
    ├── MethodNotAllowed              METHOD_NOT_ALLOWED
    ├── PayloadTooLarge               PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType          UNSUPPORTED_MEDIA_TYPE
    ├── RateLimited                   RATE_LIMITED (+ retry_after, seconds)
    ├── Unauthorized                  UNAUTHORIZED (missing or wrong token)
    ├── Forbidden                     FORBIDDEN (Host or Origin refused)
    ├── Conflict                      CONFLICT
    ├── ValidationFailed              VALIDATION_FAILED
    ├── BudgetExceeded                BUDGET_EXCEEDED (a task's error: its budget ran out)
    ├── ServiceUnavailable            SERVICE_UNAVAILABLE
    ├── InternalError                 INTERNAL_ERROR
    └── UnexpectedResponse            a response that is not the envelope nor the documented body
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx


class OrchestratorError(Exception):
    """Base of every error; ``status`` is the HTTP status (0 when there was no response)."""

    code: str = "ORCHESTRATOR_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConnectionFailed(OrchestratorError):
    """No answer at all: the gateway is down, the URL is wrong, or the network dropped."""

    code = "CONNECTION_FAILED"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url} ({reason})", details={"url": url})
        self.url = url


class InvalidGatewayUrl(OrchestratorError, ValueError):
    """The URL given for the gateway (argument or ``ORCHESTRATOR_URL``) is not an http(s) URL
    with a host; raised when the client is made, before any request."""

    code = "INVALID_GATEWAY_URL"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"the gateway URL {url!r} is not valid: {reason}", details={"url": url})
        self.url = url


class InvalidRequest(OrchestratorError):
    code = "INVALID_REQUEST"


class ApiKeyMissing(OrchestratorError):
    code = "API_KEY_MISSING"


class AgentUnavailable(OrchestratorError):
    code = "AGENT_UNAVAILABLE"


class WorkspaceError(OrchestratorError):
    code = "WORKSPACE_ERROR"


class ExecutionFailed(OrchestratorError):
    code = "EXECUTION_FAILED"


class NotFound(OrchestratorError):
    code = "NOT_FOUND"


class TaskNotFound(NotFound):
    code = "TASK_NOT_FOUND"


class FileNotFound(NotFound):
    code = "FILE_NOT_FOUND"


class ArchiveNotFound(NotFound):
    code = "ARCHIVE_NOT_FOUND"


class ExecutionNotFound(NotFound):
    code = "EXECUTION_NOT_FOUND"


class MethodNotAllowed(OrchestratorError):
    code = "METHOD_NOT_ALLOWED"


class PayloadTooLarge(OrchestratorError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(OrchestratorError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(OrchestratorError):
    """Too many requests; ``retry_after`` is the gateway's ``Retry-After`` in seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unauthorized(OrchestratorError):
    code = "UNAUTHORIZED"


class Forbidden(OrchestratorError):
    code = "FORBIDDEN"


class Conflict(OrchestratorError):
    code = "CONFLICT"


class ValidationFailed(OrchestratorError):
    code = "VALIDATION_FAILED"


class BudgetExceeded(OrchestratorError):
    code = "BUDGET_EXCEEDED"


class ServiceUnavailable(OrchestratorError):
    code = "SERVICE_UNAVAILABLE"


class InternalError(OrchestratorError):
    code = "INTERNAL_ERROR"


class UnexpectedResponse(OrchestratorError):
    code = "UNEXPECTED_RESPONSE"


BY_CODE: dict[str, type[OrchestratorError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        ApiKeyMissing,
        AgentUnavailable,
        WorkspaceError,
        ExecutionFailed,
        NotFound,
        TaskNotFound,
        FileNotFound,
        ArchiveNotFound,
        ExecutionNotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        Unauthorized,
        Forbidden,
        Conflict,
        ValidationFailed,
        BudgetExceeded,
        ServiceUnavailable,
        InternalError,
    )
}

RAISED_HERE: tuple[type[OrchestratorError], ...] = (
    ConnectionFailed,
    InvalidGatewayUrl,
    UnexpectedResponse,
)
"""The failures the client finds itself, with codes of its own that no gateway answers."""

_CLASS_OF: dict[str, type[OrchestratorError]] = {
    **BY_CODE,
    UnexpectedResponse.code: UnexpectedResponse,
}
"""The gateway's codes, and the one this client gives a reply that is not the envelope."""

# For a reply without the envelope (a proxy's page, say): the code its status would carry.
_BY_STATUS = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def error_for(
    code: str, message: str, details: dict[str, Any], status: int, retry_after: float | None
) -> OrchestratorError:
    """The exception of ``code``: its own class, or the base class for a code unknown here."""
    cls = _CLASS_OF.get(code)
    if cls is RateLimited:
        return RateLimited(
            message, retry_after=retry_after, code=code, details=details, status=status
        )
    if cls is None:
        return OrchestratorError(message, code=code, details=details, status=status)
    return cls(message, code=code, details=details, status=status)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


MESSAGE_LIMIT = 200
"""The most characters of a non-envelope body an error message carries."""

_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def one_line(text: str, *, markup: bool = False, limit: int = MESSAGE_LIMIT) -> str:
    """A body that is not the envelope (a proxy's HTML page, say) as one bounded line: its text
    without tags (also when it merely looks like markup), whitespace runs as one space."""
    text = text[: limit * 100]  # enough to find the words in; the rest is not read
    if markup or text.lstrip().startswith("<"):
        text = html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def from_response(response: httpx.Response) -> OrchestratorError:
    """Translate an error response (status >= 400) into its exception."""
    retry_after = _retry_after(response)
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details") or {}
        if not isinstance(details, dict):
            details = {"details": details}
    except (ValueError, KeyError, TypeError):
        code = _BY_STATUS.get(response.status_code, "UNEXPECTED_RESPONSE")
        text = one_line(response.text, markup="html" in response.headers.get("content-type", ""))
        message = f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"
        details = {}
    return error_for(code, message, details, response.status_code, retry_after)


def from_ws_error(frame: dict[str, Any]) -> OrchestratorError:
    """The exception of an ``{"type": "error", "error": {...}}`` WebSocket frame."""
    error = frame.get("error") or {}
    details = error.get("details") or {}
    return error_for(
        str(error.get("code", "UNEXPECTED_RESPONSE")),
        str(error.get("message", json.dumps(frame)[:200])),
        details if isinstance(details, dict) else {},
        0,
        None,
    )
