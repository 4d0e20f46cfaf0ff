"""``GET /api/usage``: tokens and cost by agent, provider and model, overall and per day.

Rebuilt from the recorded stage outcomes (see :mod:`..projections.usage`); ``since`` and
``until`` (``YYYY-MM-DD``, UTC days, inclusive) narrow it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..bootstrap import GatewayDep

router = APIRouter(tags=["usage"])


@router.get("/api/usage", summary="Tokens and cost by agent, provider and model, per day")
async def get_usage(
    gateway: GatewayDep,
    since: Annotated[date | None, Query(description="first UTC day, YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="last UTC day, YYYY-MM-DD")] = None,
) -> dict[str, Any]:
    return gateway.models.usage.report(since, until)
