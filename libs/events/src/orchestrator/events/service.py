"""The lifecycle every service process shares: configure logging, connect, run until SIGTERM.

``run_service`` owns the event loop; a service supplies one coroutine that builds itself from the
connection (its composition root), starts, and returns a ``stop`` coroutine. SIGTERM or SIGINT
stops the service, then drains the NATS connection so every in-flight publish and ack is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from .connection import connect, provision
from .settings import NatsSettings

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    """What a service's composition root is given."""

    nc: NATS
    js: JetStreamContext
    nats: NatsSettings
    instance: str
    stopping: asyncio.Event


Start = Callable[[Runtime], Awaitable[Stop]]


def configure_logging(service: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("nats").setLevel(logging.WARNING)


def run_service(service: str, start: Start, nats_settings: NatsSettings | None = None) -> None:
    configure_logging(service)
    settings = nats_settings or NatsSettings()
    asyncio.run(_main(service, start, settings))


async def _main(service: str, start: Start, settings: NatsSettings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    instance = f"{service}-{socket.gethostname()}-{os.getpid()}"
    nc = await connect(settings, instance)
    js = nc.jetstream(timeout=10)
    await provision(js, settings)
    stop = await start(Runtime(nc=nc, js=js, nats=settings, instance=instance, stopping=stopping))
    log.info("%s ready", instance)
    await stopping.wait()
    log.info("%s stopping", instance)
    try:
        await stop()
    finally:
        await nc.drain()
    log.info("%s stopped", instance)
