"""``AsyncClient``: the asyncio client. Its REST methods are ``ClientBase``'s, sent here by
``_send`` as coroutines; the streams run ``_base.Stream``'s decisions over
``websockets.asyncio``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import connect

from . import _base
from . import _models as m
from . import _operations as ops
from ._frames import Frame
from ._stream import DEFAULT_GIVE_UP_AFTER, DROPS

T = TypeVar("T")


class AsyncClient(_base.ClientBase[httpx.AsyncBaseTransport]):
    """The gateway's REST API, live events and runs, for asyncio.

    ``AsyncClient()`` talks to ``ORCHESTRATOR_URL`` (default ``http://127.0.0.1:8100``) with the
    token in ``ORCHESTRATOR_TOKEN``, if any; both can be given instead. Use it as an async
    context manager, or call ``aclose()``. Its REST methods are coroutines of the same
    parameters as ``Client``'s; its streams are async iterators.
    """

    _http: httpx.AsyncClient

    def _open(self, options: dict[str, Any], transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = httpx.AsyncClient(**options, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, operation: ops.Operation[T]) -> T:
        try:
            response = await self._http.request(**self._request(operation))
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        self._saw(response)
        return operation.handle(response)

    # -- waiting and streaming ------------------------------------------------------------------

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        poll_interval: float = _base.DEFAULT_POLL_INTERVAL,
    ) -> m.Task:
        """The task once it is completed, failed or cancelled (polling; survives restarts)."""
        deadline = _base.Deadline(timeout)
        while True:
            task = await self.task(task_id)
            if deadline.over(task):
                return task
            await asyncio.sleep(poll_interval)

    async def events(
        self, since: int | None = None, *, give_up_after: float = DEFAULT_GIVE_UP_AFTER
    ) -> AsyncGenerator[Frame, None]:
        """Every live frame of ``/ws`` after ``since`` (an ``event_seq``), endlessly.

        Without ``since`` it starts from the gateway's position when iteration starts.
        Reconnects as ``Client.events`` does: no frame of a persisted event lost or repeated.
        """
        start = (await self.health()).nats.projection_seq if since is None else since
        stream = _base.events_stream(self._config, start, give_up_after)
        async with aclosing(self._stream(stream)) as frames:
            async for frame in frames:
                yield frame

    async def follow(
        self, task_id: str, *, from_start: bool = False
    ) -> AsyncGenerator[Frame, None]:
        """The frames of one task until it is done, as ``Client.follow``."""
        task = await self.task(task_id)
        if task.done and not from_start:
            return
        history = await self.task_events(task_id) if from_start else None
        stream = _base.task_stream(self._config, task, history)
        async with aclosing(self._stream(stream)) as frames:
            async for frame in frames:
                yield frame

    def execution_output(self, execution_id: str) -> AsyncGenerator[Frame, None]:
        """An execution's frames from its first line through ``execution_finished``."""
        return self._stream(_base.execution_stream(self._config, execution_id))

    async def run(
        self,
        path: str,
        on_line: Callable[[str], None] | None = None,
        on_start: Callable[[m.RunStarted], None] | None = None,
    ) -> m.RunResult:
        """Run a workspace file, passing each output line to ``on_line``; its result at the end.

        Cancelled, it stops the execution before re-raising.
        """
        tally = _base.RunTally(await self.start_run(path), on_line, on_start)
        try:
            async with aclosing(self.execution_output(tally.execution_id)) as frames:
                async for frame in frames:
                    tally.take(frame)
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(self.stop_execution(tally.execution_id))
            raise
        record = None if tally.finished else await self.execution(tally.execution_id)
        return tally.result(record)

    async def _stream(self, stream: _base.Stream) -> AsyncGenerator[Frame, None]:
        dropped: BaseException | None
        while True:
            try:
                async with connect(stream.url(), **stream.connect_options()) as socket:
                    stream.connected()
                    async for raw in socket:
                        if (frame := stream.take(raw)) is not None:
                            yield frame
                        if stream.ended:
                            return
                dropped = None
            except DROPS as exc:
                dropped = exc
            await asyncio.sleep(stream.after_drop(dropped))
