"""``python -m orchestrator.gateway``: serve the API with uvicorn."""

from __future__ import annotations

from .snapshot_prefetch import Prefetch


def main() -> None:
    # First of all, before the imports below (about a second): a child fetches the newest
    # snapshot meanwhile (snapshot_prefetch).
    prefetch = Prefetch.start()
    try:
        _serve(prefetch)
    finally:
        if prefetch is not None:
            prefetch.cancel()  # only if the start never took it


def _serve(prefetch: Prefetch | None) -> None:
    import uvicorn
    from pydantic import ValidationError

    from orchestrator.events.service import (
        SettingsError,
        chosen_event_loop,
        configure_logging,
        exit_zero_on_stop_signals,
        fail_on_bad_settings,
    )

    from .app import create_app
    from .settings import GatewaySettings

    try:
        configure_logging("gateway")
        settings = GatewaySettings()
        loop = "asyncio" if chosen_event_loop() == "asyncio" else "auto"  # auto: uvloop
    except (ValidationError, SettingsError) as exc:
        fail_on_bad_settings("gateway", exc)  # names the variable, exits 2, no traceback
        return
    exit_zero_on_stop_signals()
    uvicorn.run(
        create_app(settings, prefetch=prefetch),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="warning",
        loop=loop,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        # Live frames are small JSON: per-message deflate would compress each frame once per
        # client (fan-out's per-client cost) and keep a zlib context per connection, for little
        # gain on the wire. Measured with ``python -m bench.fanout``.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
