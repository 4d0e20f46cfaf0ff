"""The contract's error envelope, and the translation of every failure into it.

    ApiError(code, message, status, details)     raised by routes and dependencies
    ├── NotFound        TASK_NOT_FOUND, FILE_NOT_FOUND, ARCHIVE_NOT_FOUND, EXECUTION_NOT_FOUND, …
    └── (codes)         INVALID_REQUEST, WORKSPACE_ERROR, EXECUTION_FAILED, API_KEY_MISSING,
                        AGENT_UNAVAILABLE, RATE_LIMITED, UNAUTHORIZED, FORBIDDEN, …

Every response that is not a success is ``{"error": {"code", "message", "details"}}``; FastAPI's
own validation errors, unknown routes, wrong methods and unexpected exceptions included. No stack
trace ever reaches a client: unexpected exceptions are logged with their traceback and answered
with ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from orchestrator.events import ConcurrencyConflict, EventsError
from orchestrator.events.error_codes import ErrorCode

log = logging.getLogger(__name__)

STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.AGENT_UNAVAILABLE: 503,
    ErrorCode.TASK_NOT_FOUND: 404,
    ErrorCode.WORKSPACE_ERROR: 500,
    ErrorCode.API_KEY_MISSING: 400,
    ErrorCode.EXECUTION_FAILED: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FILE_NOT_FOUND: 404,
    ErrorCode.ARCHIVE_NOT_FOUND: 404,
    ErrorCode.EXECUTION_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.BUDGET_EXCEEDED: 402,
    ErrorCode.INTERNAL_ERROR: 500,
}
"""The HTTP status each code answers with when a route does not say otherwise."""

_STATUS_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """The envelope of every error response."""

    error: ErrorBody


class ApiError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF[code]
        self.details = details or {}
        self.headers = headers


class NotFound(ApiError):
    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(code, message, 404, details)


def envelope(
    code: str,
    message: str,
    status: int,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or {}))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


_EXPECTED = {
    "missing": None,
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "dict_type": "object",
    "model_type": "object",
    "list_type": "array",
    "float_type": "number",
    "json_invalid": "valid JSON",
}


# Field names whose values are secrets: an error about them never echoes even a number.
_SECRET_MARKERS = ("key", "token", "secret", "password", "authorization")

# What a missing field was expected to be, for the fields the contract's requests name.
_MISSING_EXPECTED = {
    "requirement": "string",
    "priority": "integer",
    "metadata": "object",
    "default_priority": "integer",
    "auto_save": "boolean",
}


def _is_secret(field: str) -> bool:
    return any(marker in field.lower() for marker in _SECRET_MARKERS)


def validation_details(exc: RequestValidationError) -> tuple[str, dict[str, Any]]:
    """The first problem as a message, and details with ``field``, ``expected``, ``received``."""
    errors = exc.errors()
    if not errors:
        return "Invalid request", {}
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "Request body is not valid JSON", {
            "field": "body",
            "expected": "valid JSON",
            "received": "invalid JSON",
        }
    loc = [
        str(part)
        for part in first.get("loc", ())
        if part not in ("body", "query", "path", "header")
    ]
    field = ".".join(loc) or "body"
    received = first.get("input")
    ctx = first.get("ctx") or {}
    expected = _EXPECTED.get(kind) or ctx.get("expected") or first.get("msg", "")
    if kind == "missing":
        message = f"Missing required field: {field}"
        expected = _MISSING_EXPECTED.get(loc[-1] if loc else field, "a value")
        received_name = "null"
    else:
        message = f"Invalid value for {field}: {first.get('msg', 'invalid')}"
        # Only numbers and booleans are echoed: a string might be a key sent in the wrong
        # field, so an error never repeats one (it says "string").
        echo = isinstance(received, bool | int | float) and not kind.endswith("_type")
        echo = echo and not _is_secret(field)
        received_name = repr(received) if echo else _type_name(received)
    details: dict[str, Any] = {"field": field, "expected": str(expected), "received": received_name}
    if len(errors) > 1:
        details["errors"] = [
            {
                "field": ".".join(
                    str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")
                ),
                "message": e.get("msg", ""),
            }
            for e in errors[:20]
        ]
    return message, details


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path (Starlette's own ``Allow`` names
    only the first route that matched the path, and the API has several per path)."""
    methods: set[str] = set()
    routes: list[Route] = getattr(request.app.state, "http_routes", [])
    for route in routes:
        if route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.code, exc.message, exc.status, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = validation_details(exc)
        return envelope(ErrorCode.INVALID_REQUEST, message, 400, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        default = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.INVALID_REQUEST
        code = _STATUS_CODES.get(exc.status_code, default)
        path = request.url.path[:200]
        message = str(exc.detail)
        if exc.status_code == 404 and exc.detail == "Not Found":  # the router's, not a route's
            message = f"No route for {request.method} {path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            message = f"Method {request.method} not allowed on {path}"
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return envelope(code, message, exc.status_code, headers=headers)

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return envelope(ErrorCode.CONFLICT, "The resource changed meanwhile; retry", 409)

    @app.exception_handler(EventsError)
    async def _backbone(request: Request, exc: EventsError) -> JSONResponse:
        # NATS did not take a write or answer a read in time: the client may retry.
        log.warning("event backbone error on %s %s: %r", request.method, request.url.path, exc)
        return envelope(
            ErrorCode.SERVICE_UNAVAILABLE, "The event store is unavailable; retry shortly", 503
        )

    @app.exception_handler(TimeoutError)
    async def _timeout(request: Request, exc: TimeoutError) -> JSONResponse:
        log.warning("timed out on %s %s", request.method, request.url.path)
        return envelope(
            ErrorCode.SERVICE_UNAVAILABLE, "A service did not answer in time; retry shortly", 503
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(ErrorCode.INTERNAL_ERROR, "Internal server error", 500)


_DESCRIPTIONS = {
    400: "Invalid request (INVALID_REQUEST)",
    401: "Missing or invalid bearer token (UNAUTHORIZED), when GATEWAY_TOKEN is set",
    403: "Host or Origin not allowed (FORBIDDEN)",
    404: "Not found (TASK_NOT_FOUND, FILE_NOT_FOUND, ARCHIVE_NOT_FOUND, ...)",
    409: "Conflict with the current state (CONFLICT)",
    413: "Request body too large (PAYLOAD_TOO_LARGE)",
    415: "Request body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
    429: "Rate limit exceeded (RATE_LIMITED); see Retry-After",
    500: "Internal error (INTERNAL_ERROR); no details are given",
    503: "A service or NATS did not answer in time",
}
_EVERYWHERE = (400, 401, 403, 500, 503)
_STATE_CHANGING = (409, 413, 415)


def document(app: FastAPI, limited: Callable[[str, str], bool]) -> None:
    """Describe every error response of every operation in the OpenAPI document.

    FastAPI documents a 422 it never sends here (validation errors are 400s in the envelope):
    that entry is replaced; the statuses any route can answer (the security middleware's, 500,
    503) are added everywhere, 404 where the path names a resource, 409/413/415 on state-changing
    methods (a concurrent writer; a body too large or not JSON), 429 where
    ``limited(method, path)`` says a rate limit applies.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _add_error_schema(schema.setdefault("components", {}).setdefault("schemas", {}))
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                statuses = _error_statuses(method.upper(), path, limited)
                _add_error_responses(operation.setdefault("responses", {}), statuses)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _add_error_schema(components: dict[str, Any]) -> None:
    """The envelope's schema (and what it refers to) in place of FastAPI's validation errors."""
    components.update(
        ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}").pop(
            "$defs", {}
        )
    )
    components["ErrorResponse"] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components["ErrorResponse"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _error_statuses(method: str, path: str, limited: Callable[[str, str], bool]) -> list[int]:
    statuses = set(_EVERYWHERE)
    if "{" in path:
        statuses.add(404)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.update(_STATE_CHANGING)
    if limited(method, path):
        statuses.add(429)
    return sorted(statuses)


def _add_error_responses(responses: dict[str, Any], statuses: list[int]) -> None:
    responses.pop("422", None)
    for status in statuses:
        responses.setdefault(
            str(status),
            {
                "description": _DESCRIPTIONS[status],
                "content": {"application/json": {"schema": _ERROR_REF}},
            },
        )
    if "429" in responses:
        responses["429"].setdefault(
            "headers",
            {
                "Retry-After": {
                    "description": "seconds until a request would be accepted",
                    "schema": {"type": "integer"},
                }
            },
        )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Route-level ``responses=`` entries for errors a route raises itself."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }
