"""``GET /api/usage``: tokens and cost by agent, provider and model, overall and per day.

Rebuilt from the recorded stage outcomes (see :mod:`..projections.usage`); ``since`` and
``until`` (``YYYY-MM-DD``, UTC days, inclusive) narrow it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from orchestrator.events.error_codes import ErrorCode

from .. import errors
from ..bootstrap import GatewayDep
from ..read_after import ReadAfter

router = APIRouter(tags=["usage"])

DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DAY_FORMAT: dict[str, Any] = {"format": "date", "description": "a UTC day, YYYY-MM-DD"}


@router.get(
    "/api/usage",
    summary="Tokens and cost by agent, provider and model, per day",
    dependencies=[ReadAfter],
)
async def get_usage(
    gateway: GatewayDep,
    since: Annotated[str | None, Query(pattern=DAY, json_schema_extra=DAY_FORMAT)] = None,
    until: Annotated[str | None, Query(pattern=DAY, json_schema_extra=DAY_FORMAT)] = None,
) -> dict[str, Any]:
    return gateway.models.usage.report(_day("since", since), _day("until", until))


def _day(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise errors.ApiError(
            ErrorCode.INVALID_REQUEST, f"{name} is not a day (YYYY-MM-DD)", 400, {"field": name}
        ) from None
