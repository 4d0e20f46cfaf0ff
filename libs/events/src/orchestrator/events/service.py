"""The lifecycle every service process shares: configure logging, connect, run until SIGTERM.

``run_service`` owns the event loop; a service supplies one coroutine that builds itself from the
connection (its composition root), starts, and returns a ``stop`` coroutine. SIGTERM or SIGINT
stops the service, then drains the NATS connection so every in-flight publish and ack is flushed.
A signal that arrives while the service is still starting (say NATS is not reachable yet, which
the connection waits out forever) stops it just as cleanly.

Bad settings are reported as one readable message and exit status 2, never a traceback: the
process is configured by environment variables and the operator needs to know which one is wrong.
A start that NATS does not answer (a cluster electing a leader, a node restarting) is one log
line and exit status 75 (EX_TEMPFAIL): what the service had half started is dropped with the
process, and its supervisor (the launcher, compose, Kubernetes) starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from pydantic import ValidationError

from .connection import connect, provision
from .failures import carry_on
from .health import HEARTBEAT_INTERVAL, HeartbeatPublisher
from .messages import Details
from .nats_settings import NatsSettings

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]

EXIT_BAD_SETTINGS = 2
EXIT_NATS_UNAVAILABLE = 75  # EX_TEMPFAIL: try again later
NATS_DID_NOT_ANSWER: tuple[type[BaseException], ...] = (TimeoutError, nats.errors.Error)
"""What a start that NATS did not answer raises (every ``nats.js`` error is a ``nats.errors``
one)."""
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
EVENT_LOOPS = ("uvloop", "asyncio")


def instance_name(service: str) -> str:
    """One process's name in logs, heartbeats and NATS connections: ``agents-host-1234``."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Runtime:
    """What a service's composition root is given: its connection, provisioned."""

    service: str
    nc: NATS
    js: JetStreamContext
    nats: NatsSettings
    instance: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def open(
        cls, service: str, settings: NatsSettings, stopping: asyncio.Event | None = None
    ) -> Runtime:
        """Connect (waiting out a NATS not there yet) and provision the streams and buckets.

        Raises one of ``NATS_DID_NOT_ANSWER`` when NATS does not answer the provisioning; a
        start cancelled half way closes the connection it had opened."""
        instance = instance_name(service)
        nc = await connect(settings, instance)
        try:
            js = nc.jetstream(timeout=10)
            await provision(js, settings)
        except asyncio.CancelledError:
            with carry_on(log, f"{instance}: closing the NATS connection"):
                await nc.close()
            raise
        return cls(service, nc, js, settings, instance, stopping or asyncio.Event())

    def heartbeat(
        self, details: Callable[[], Details], interval: float = HEARTBEAT_INTERVAL
    ) -> HeartbeatPublisher:
        """This process's heartbeat, started: ``details`` is asked for at every beat."""
        publisher = HeartbeatPublisher(self.nc, self.service, self.instance, details, interval)
        publisher.start()
        return publisher


class Part(Protocol):
    """A piece of a service that runs between its ``start`` and its ``stop``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


P = TypeVar("P", bound=Part)


class Parts:
    """What a composition root started, stopped in the reverse order: the last one started is
    the first one stopped, so nothing is stopped while a part started after it still uses it."""

    def __init__(self) -> None:
        self._stops: list[Stop] = []

    async def start(self, part: P, *, stop: Stop | None = None) -> P:
        """Start ``part``; at the end, stop it by ``stop`` (default ``part.stop``)."""
        await part.start()
        self._stops.append(stop or part.stop)
        return part

    def started(self, stop: Stop) -> None:
        """Something already running (a heartbeat, a task, a subscription): stopped by ``stop``."""
        self._stops.append(stop)

    async def stop(self) -> None:
        while self._stops:
            await self._stops.pop()()


def cancelling(task: asyncio.Task[Any]) -> Stop:
    """A stop for a background task: cancel it and wait until it has ended."""

    async def stop() -> None:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    return stop


Start = Callable[[Runtime], Awaitable[Stop]]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it (and never echoes a secret)."""


def configure_logging(service: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("nats").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactUrlCredentials())


_URL_CREDENTIALS = re.compile(r"://[^/\s@]+@")


class RedactUrlCredentials(logging.Filter):
    """Masks ``user:password@`` in URLs a log line carries: the SDKs' HTTP client logs every
    request's URL, and a provider base URL set in settings may hold credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _URL_CREDENTIALS.sub("://***@", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = _URL_CREDENTIALS.sub("://***@", text)
        return True


def chosen_event_loop() -> str:
    """``EVENT_LOOP``: ``uvloop`` (the default, where it is installed) or ``asyncio``."""
    loop = os.environ.get("EVENT_LOOP", "uvloop").lower()
    if loop not in EVENT_LOOPS:
        raise SettingsError(f"EVENT_LOOP: {loop!r} is not one of {', '.join(EVENT_LOOPS)}")
    return loop


def describe_settings_error(exc: ValidationError) -> str:
    """One line per bad setting, named as its environment variable; input values left out."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def fail_on_bad_settings(service: str, exc: ValidationError | SettingsError) -> None:
    detail = describe_settings_error(exc) if isinstance(exc, ValidationError) else f"  {exc}"
    print(f"{service}: invalid settings:\n{detail}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_SETTINGS)


def log_start_not_answered(instance: str, exc: BaseException) -> None:
    """The one line a start gets that NATS did not answer; the caller exits 75."""
    log.error(
        "%s could not start, NATS did not answer (%r): exiting for its supervisor to start it "
        "again",
        instance,
        exc,
    )


def exit_zero_on_stop_signals() -> None:
    """Make SIGTERM/SIGINT end the process with status 0 once the server has shut down.

    uvicorn stops gracefully on these signals, then restores the previous handlers and raises
    the signal again; with the default handlers that would end a clean drain with status -15
    (or a KeyboardInterrupt traceback). A supervisor should see a clean stop as a clean stop.
    """

    def exit_zero(signum: int, frame: object) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_zero)


def loop_factory(uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (the gateway gets it through uvicorn's
    standard extra; every other service through this), else asyncio's own.

    Measured with ``python -m bench.pipeline``: the services spend most of their own time in
    the loop's socket reads and callbacks, which uvloop does in C. ``EVENT_LOOP=asyncio``
    chooses asyncio's loop for every service (to compare, or to rule uvloop out of a fault).
    """
    if not uvloop or chosen_event_loop() == "asyncio":
        return None
    try:
        import uvloop as fast
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return None
    return fast.new_event_loop


def run_service(
    service: str,
    start: Start,
    nats_settings: NatsSettings | None = None,
    *,
    uvloop: bool = True,
) -> None:
    """Run ``service`` until SIGTERM/SIGINT; ``uvloop=False`` keeps asyncio's own loop (the
    workspace: uvloop's subprocesses take no ``user``/``group``/``extra_groups``)."""
    try:
        configure_logging(service)
        settings = nats_settings or NatsSettings()
        factory = loop_factory(uvloop)
    except (ValidationError, SettingsError) as exc:
        fail_on_bad_settings(service, exc)
        return
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_main(service, start, settings))
    except (ValidationError, SettingsError) as exc:  # a service's own settings, read in start()
        fail_on_bad_settings(service, exc)


async def _main(service: str, start: Start, settings: NatsSettings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    instance = instance_name(service)
    connection: list[NATS] = []

    async def start_up() -> Stop:
        runtime = await Runtime.open(service, settings, stopping)
        connection.append(runtime.nc)
        return await start(runtime)

    starting = asyncio.create_task(start_up(), name=f"{service} start")
    signalled = asyncio.create_task(stopping.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        log.info("%s stopping before it finished starting", instance)
        starting.cancel()
        with suppress(asyncio.CancelledError), carry_on(log, f"{instance}: abandoned start"):
            await starting
        for nc in connection:
            with carry_on(log, f"{instance}: closing the NATS connection"):
                await nc.close()
        return
    signalled.cancel()
    try:
        stop = starting.result()  # re-raises a failed start (bad settings, say)
    except NATS_DID_NOT_ANSWER as exc:
        log_start_not_answered(instance, exc)
        raise SystemExit(EXIT_NATS_UNAVAILABLE) from None
    log.info("%s ready (event loop: %s)", instance, type(loop).__module__.split(".")[0])
    await stopping.wait()
    log.info("%s stopping", instance)
    try:
        await stop()
    finally:
        # What could not be flushed now is redelivered: every handler acks after its effect.
        with carry_on(log, f"{instance}: draining the NATS connection"):
            await connection[0].drain()
    log.info("%s stopped", instance)
