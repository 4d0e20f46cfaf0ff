"""``python -m orchestrator.gateway``: serve the API with uvicorn."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from orchestrator.events.service import configure_logging

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    configure_logging("gateway")
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        sys.exit(f"gateway: invalid settings:\n{exc}")
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
