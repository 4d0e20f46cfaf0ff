"""``Client``: the blocking client. Its REST methods are ``ClientBase``'s, sent here by
``_send``; the streams run ``_base.Stream``'s decisions over ``websockets.sync``."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from typing import Any, TypeVar

import httpx
from websockets.sync.client import connect

from . import _base
from . import _models as m
from . import _operations as ops
from ._frames import Frame
from ._stream import DEFAULT_GIVE_UP_AFTER, DROPS

T = TypeVar("T")


class Client(_base.ClientBase[httpx.BaseTransport]):
    """The gateway's REST API, live events and runs, blocking.

    ``Client()`` talks to ``ORCHESTRATOR_URL`` (default ``http://127.0.0.1:8100``) with the token
    in ``ORCHESTRATOR_TOKEN``, if any; both can be given instead. Use it as a context manager, or
    call ``close()``.
    """

    _http: httpx.Client

    def _open(self, options: dict[str, Any], transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(**options, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, operation: ops.Operation[T]) -> T:
        try:
            response = self._http.request(**self._request(operation))
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        self._saw(response)
        return operation.handle(response)

    # -- waiting and streaming ------------------------------------------------------------------

    def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        poll_interval: float = _base.DEFAULT_POLL_INTERVAL,
    ) -> m.Task:
        """The task once it is completed, failed or cancelled (polling; survives restarts)."""
        deadline = _base.Deadline(timeout)
        while True:
            task = self.task(task_id)
            if deadline.over(task):
                return task
            time.sleep(poll_interval)

    def events(
        self, since: int | None = None, *, give_up_after: float = DEFAULT_GIVE_UP_AFTER
    ) -> Generator[Frame, None, None]:
        """Every live frame of ``/ws`` after ``since`` (an ``event_seq``), endlessly.

        Without ``since`` it starts from the gateway's position when this is called.

        A dropped connection is reconnected with ``?since=`` the last frame yielded: no frame
        of a persisted event is lost or repeated. Model output and health frames that went by
        while disconnected are not persisted and so not replayed.
        """
        start = self.health().nats.projection_seq if since is None else since
        return self._stream(_base.events_stream(self._config, start, give_up_after))

    def follow(self, task_id: str, *, from_start: bool = False) -> Generator[Frame, None, None]:
        """The frames of one task (updates and model output) until it is done.

        From now on; or ``from_start``, replaying its frames from its submission (a finished
        task's then end with its final one). Model output is live only, never replayed.
        """
        task = self.task(task_id)
        if task.done and not from_start:
            return
        history = self.task_events(task_id) if from_start else None
        yield from self._stream(_base.task_stream(self._config, task, history))

    def execution_output(self, execution_id: str) -> Generator[Frame, None, None]:
        """An execution's frames from its first line through ``execution_finished``."""
        return self._stream(_base.execution_stream(self._config, execution_id))

    def run(
        self,
        path: str,
        on_line: Callable[[str], None] | None = None,
        on_start: Callable[[m.RunStarted], None] | None = None,
    ) -> m.RunResult:
        """Run a workspace file, passing each output line to ``on_line``; its result at the end.

        Interrupted (Ctrl-C), it stops the execution before re-raising.
        """
        tally = _base.RunTally(self.start_run(path), on_line, on_start)
        try:
            with closing(self.execution_output(tally.execution_id)) as frames:
                for frame in frames:
                    tally.take(frame)
        except KeyboardInterrupt:
            self.stop_execution(tally.execution_id)
            raise
        return tally.result(None if tally.finished else self.execution(tally.execution_id))

    def _stream(self, stream: _base.Stream) -> Generator[Frame, None, None]:
        dropped: BaseException | None
        while True:
            try:
                with connect(stream.url(), **stream.connect_options()) as socket:
                    stream.connected()
                    for raw in socket:
                        if (frame := stream.take(raw)) is not None:
                            yield frame
                        if stream.ended:
                            return
                dropped = None
            except DROPS as exc:
                dropped = exc
            time.sleep(stream.after_drop(dropped))
