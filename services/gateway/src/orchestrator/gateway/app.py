"""The FastAPI application: routers, error envelope, security middleware, lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import errors, ratelimit
from .bootstrap import Gateway
from .ratelimit import RateLimitMiddleware
from .routes import (
    agents,
    archive,
    downloads,
    edits,
    executions,
    health,
    project,
    requirements,
    tasks,
    workspace,
    ws,
)
from .routes import (
    settings as settings_routes,
)
from .security import LocalhostGuard
from .settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = await Gateway.open(settings)
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.close()

    app = FastAPI(
        title="Orchestrator",
        version="0.1.0",
        description="Turns a plain-language requirement into working code with four AI agents.",
        lifespan=lifespan,
        responses={
            400: {"model": errors.ErrorResponse, "description": "Invalid request"},
            500: {"model": errors.ErrorResponse, "description": "Internal error"},
        },
    )
    app.state.settings = settings
    errors.install(app)
    for module in (
        requirements,
        tasks,
        agents,
        workspace,
        edits,
        executions,
        project,
        archive,
        downloads,
        settings_routes,
        health,
        ws,
    ):
        app.include_router(module.router)
    errors.document(app, lambda method, path: ratelimit.category(method, path) is not None)
    # Added last = outermost: a refused Host/Origin/token never reaches a rate-limit budget.
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(LocalhostGuard, settings=settings)
    return app
