"""Schemathesis checks of our own, loaded by the CLI through ``SCHEMATHESIS_HOOKS``."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error response is ``{"error": {"code", "message", "details"}}`` and no trace."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON") from None
    if not (isinstance(body, dict) and set(body) == {"error"}):
        raise AssertionError(f"{response.status_code} body is not the error envelope: {body!r}")
    error = body["error"]
    if not (isinstance(error, dict) and {"code", "message", "details"} <= set(error)):
        raise AssertionError(f"error envelope lacks code/message/details: {error!r}")
    if "Traceback" in response.text:
        raise AssertionError("a stack trace reached the client")
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but one refusal that depends on state the schema cannot express: a
    cost budget on a task whose agents' model has no price (the fuzzer's own settings call may
    have named an unpriced model). Only that exact answer is let through."""
    if response.status_code != 400:
        return True
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return True
    unpriced = (
        error.get("code") == "INVALID_REQUEST"
        and error.get("details", {}).get("field") == "budget.max_cost_usd"
        and "no price for" in error.get("message", "")
    )
    return not unpriced
