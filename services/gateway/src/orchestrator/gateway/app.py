"""The FastAPI application: routers, error envelope, security middleware, lifecycle."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from orchestrator.events.service import (
    EXIT_NATS_UNAVAILABLE,
    NATS_DID_NOT_ANSWER,
    log_start_not_answered,
)

from . import errors, links, ratelimit, read_after
from .bootstrap import Gateway
from .ratelimit import RateLimitMiddleware
from .read_after import EventSeqHeader
from .routes import (
    agents,
    approvals,
    archive,
    dashboard,
    downloads,
    edits,
    executions,
    health,
    probes,
    project,
    requirements,
    tasks,
    usage,
    workspace,
    ws,
)
from .routes import (
    settings as settings_routes,
)
from .security import LocalhostGuard
from .settings import GatewaySettings
from .snapshot_prefetch import Prefetch


def operation_id(route: APIRoute) -> str:
    """The route function's name (``submit_requirement``): what a client generator names its
    method, instead of FastAPI's ``submit_requirement_api_requirements_post``."""
    return route.name


ROUTERS = (
    requirements,
    tasks,
    approvals,
    usage,
    agents,
    workspace,
    edits,
    executions,
    project,
    archive,
    downloads,
    settings_routes,
    health,
    probes,
    ws,
    dashboard,
)
"""Every route module, in the order their routes are matched."""


def lifespan_of(
    settings: GatewaySettings, prefetch: Prefetch | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the gateway before the first request (with what ``prefetch`` fetched meanwhile),
    close it after the last."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            gateway = await Gateway.open(settings, prefetch=prefetch)
        except NATS_DID_NOT_ANSWER as exc:
            # Raised, uvicorn would print its traceback and exit 3; every service says this in
            # one line and exits 75 for its supervisor. Nothing is served or held yet.
            log_start_not_answered("gateway", exc)
            logging.shutdown()
            os._exit(EXIT_NATS_UNAVAILABLE)
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.close()

    return lifespan


def include_routers(app: FastAPI) -> None:
    for module in ROUTERS:
        app.include_router(module.router)
    # Every HTTP route, for the ``Allow`` header of a 405 (routers are included without prefix).
    app.state.http_routes = [r for r in app.router.routes if isinstance(r, Route)] + [
        r for module in ROUTERS for r in module.router.routes if isinstance(r, Route)
    ]


def create_app(
    settings: GatewaySettings | None = None, *, prefetch: Prefetch | None = None
) -> FastAPI:
    settings = settings or GatewaySettings()
    app = FastAPI(
        title="Orchestrator",
        version="0.1.0",
        description="Turns a plain-language requirement into working code with four AI agents.",
        lifespan=lifespan_of(settings, prefetch),
        generate_unique_id_function=operation_id,
        # /docs is the dashboard's own page with a vendored Swagger UI (no CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"model": errors.ErrorResponse, "description": "Invalid request"},
            500: {"model": errors.ErrorResponse, "description": "Internal error"},
        },
    )
    app.state.settings = settings
    errors.install(app)
    include_routers(app)
    errors.document(app, lambda method, path: ratelimit.category(method, path) is not None)
    links.install(app)
    read_after.document(app)
    app.add_middleware(EventSeqHeader)
    # Added last = outermost: a refused Host/Origin/token never reaches a rate-limit budget.
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(LocalhostGuard, settings=settings)
    return app
