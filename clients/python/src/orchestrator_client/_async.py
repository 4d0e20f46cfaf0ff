"""``AsyncClient``: the asyncio client. Each REST method sends the operation of the same name in
``_operations``; the streams run the resume loop of ``_stream`` over ``websockets.asyncio``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import connect

from . import _models as m
from . import _operations as ops
from ._base import (
    DEFAULT_POLL_INTERVAL,
    ClientBase,
    concerns_task,
    ends_execution,
    ends_task,
    run_result,
)
from ._frames import ExecutionFinished, ExecutionOutput, Frame
from ._stream import DEFAULT_GIVE_UP_AFTER, DROPS, Reconnect, Resume, decode

T = TypeVar("T")


class AsyncClient(ClientBase):
    """The gateway's REST API, live events and runs, for asyncio.

    ``AsyncClient()`` talks to ``ORCHESTRATOR_URL`` (default ``http://127.0.0.1:8100``) with the
    token in ``ORCHESTRATOR_TOKEN``, if any; both can be given instead. Use it as an async
    context manager, or call ``aclose()``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, environ=environ)
        self._http = httpx.AsyncClient(
            base_url=self._config.base_url,
            headers=self._config.headers,
            timeout=self._config.timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, operation: ops.Operation[T]) -> T:
        try:
            response = await self._http.request(
                operation.method,
                operation.path,
                params=operation.params,
                json=operation.json,
                content=operation.content,
                headers=operation.headers,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return operation.handle(response)

    # -- requirements and tasks -----------------------------------------------------------------

    async def submit(
        self,
        requirement: str,
        priority: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        budget: m.Budget | None = None,
        approval: str | list[str] | None = None,
        approval_timeout_s: float | None = None,
    ) -> m.Submitted:
        return await self._send(
            ops.submit(
                requirement,
                priority,
                metadata,
                idempotency_key,
                budget=budget,
                approval=approval,
                approval_timeout_s=approval_timeout_s,
            )
        )

    async def tasks(
        self, status: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> m.TaskList:
        return await self._send(ops.tasks(status, limit=limit, cursor=cursor))

    async def task(self, task_id: str) -> m.Task:
        return await self._send(ops.task(task_id))

    async def task_events(self, task_id: str) -> m.TaskHistory:
        return await self._send(ops.task_events(task_id))

    async def task_changes(self, task_id: str) -> m.TaskChanges:
        """What the task changed in the project, with diffs (final and per round)."""
        return await self._send(ops.task_changes(task_id))

    async def cancel(self, task_id: str) -> m.TaskControl:
        return await self._send(ops.cancel(task_id))

    async def retry(self, task_id: str, budget: m.Budget | None = None) -> m.TaskControl:
        return await self._send(ops.retry(task_id, budget))

    async def approve(self, task_id: str) -> m.Approved:
        return await self._send(ops.approve(task_id))

    async def feedback(self, task_id: str, message: str) -> m.FeedbackSent:
        return await self._send(ops.feedback(task_id, message))

    async def usage(self, since: str | None = None, until: str | None = None) -> m.UsageReport:
        return await self._send(ops.usage(since, until))

    async def agents(self) -> m.AgentList:
        return await self._send(ops.agents())

    # -- workspace and executions ---------------------------------------------------------------

    async def files(self) -> m.FileList:
        return await self._send(ops.files())

    async def read_file(self, path: str) -> bytes:
        return await self._send(ops.read_file(path))

    async def write_file(
        self, path: str, data: bytes, *, if_match: str | None = None
    ) -> m.WorkspaceFile:
        return await self._send(ops.write_file(path, data, if_match=if_match))

    async def delete_file(self, path: str, *, if_match: str | None = None) -> m.FileDeleted:
        return await self._send(ops.delete_file(path, if_match=if_match))

    async def download_workspace(self) -> bytes:
        """The workspace's files as a zip."""
        return await self._send(ops.download_workspace())

    async def download_archive(self, archive_name: str) -> bytes:
        """An archive's files as a zip."""
        return await self._send(ops.download_archive(archive_name))

    async def start_run(self, path: str) -> m.RunStarted:
        return await self._send(ops.start_run(path))

    async def executions(self) -> m.ExecutionList:
        return await self._send(ops.executions())

    async def execution(self, execution_id: str) -> m.Execution:
        return await self._send(ops.execution(execution_id))

    async def stop_execution(self, execution_id: str) -> m.Execution:
        return await self._send(ops.stop_execution(execution_id))

    # -- project, archives, settings, health ----------------------------------------------------

    async def reset(self, idempotency_key: str | None = None) -> m.ResetResult:
        return await self._send(ops.reset(idempotency_key))

    async def archives(self) -> m.ArchiveList:
        return await self._send(ops.archives())

    async def archive_files(self, archive_name: str) -> m.ArchiveFiles:
        return await self._send(ops.archive_files(archive_name))

    async def read_archived_file(self, archive_name: str, filename: str) -> bytes:
        return await self._send(ops.read_archived_file(archive_name, filename))

    async def restore(self, archive_name: str, filename: str) -> m.Restored:
        return await self._send(ops.restore(archive_name, filename))

    async def settings(self) -> m.Settings:
        return await self._send(ops.settings())

    async def save_settings(self, update: m.SettingsUpdate) -> m.SettingsSaved:
        return await self._send(ops.save_settings(update))

    async def health(self) -> m.Health:
        return await self._send(ops.health())

    # -- waiting and streaming ------------------------------------------------------------------

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> m.Task:
        """The task once it is completed, failed or cancelled (polling; survives restarts)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = await self.task(task_id)
            if task.done:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} is still {task.status} after {timeout}s")
            await asyncio.sleep(poll_interval)

    async def events(
        self, since: int | None = None, *, give_up_after: float = DEFAULT_GIVE_UP_AFTER
    ) -> AsyncGenerator[Frame, None]:
        """Every live frame of ``/ws`` after ``since`` (an ``event_seq``), endlessly.

        Without ``since`` it starts from the gateway's position when iteration starts.

        A dropped connection is reconnected with ``?since=`` the last frame yielded: no frame
        of a persisted event is lost or repeated. Model output and health frames that went by
        while disconnected are not persisted and so not replayed.
        """
        start = (await self.health()).nats.projection_seq if since is None else since
        async for frame in self._stream(
            ops.EVENTS_PATH, Resume(start), give_up_after, with_since=True
        ):
            yield frame

    async def follow(
        self, task_id: str, *, from_start: bool = False
    ) -> AsyncGenerator[Frame, None]:
        """The frames of one task (updates and model output) until it is done.

        From now on; or ``from_start``, replaying its frames from its submission (a finished
        task's then end with its final one). Model output is live only, never replayed.
        """
        task = await self.task(task_id)
        if task.done and not from_start:
            return
        since = task.event_seq
        if from_start:
            since = (await self.task_events(task_id)).events[0].seq - 1
        async with aclosing(self.events(since=since)) as frames:
            async for frame in frames:
                if concerns_task(frame, task_id):
                    yield frame
                    if ends_task(frame, task_id, after=task.event_seq):
                        return

    def execution_output(self, execution_id: str) -> AsyncGenerator[Frame, None]:
        """An execution's frames from its first line through ``execution_finished``."""
        return self._stream(
            ops.execution_stream_path(execution_id),
            Resume(None),
            DEFAULT_GIVE_UP_AFTER,
            with_since=False,
            until=ends_execution,
        )

    async def run(
        self,
        path: str,
        on_line: Callable[[str], None] | None = None,
        on_start: Callable[[m.RunStarted], None] | None = None,
    ) -> m.RunResult:
        """Run a workspace file, passing each output line to ``on_line``; its result at the end.

        Cancelled, it stops the execution before re-raising.
        """
        started = await self.start_run(path)
        if on_start is not None:
            on_start(started)
        lines, finished = 0, None
        try:
            async with aclosing(self.execution_output(started.execution_id)) as frames:
                async for frame in frames:
                    if isinstance(frame, ExecutionOutput):
                        lines += 1
                        if on_line is not None:
                            on_line(frame.output)
                    elif isinstance(frame, ExecutionFinished):
                        finished = frame
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(self.stop_execution(started.execution_id))
            raise
        record = None if finished else await self.execution(started.execution_id)
        return run_result(started.execution_id, finished, lines, record)

    async def _stream(
        self,
        path: str,
        resume: Resume,
        give_up_after: float,
        *,
        with_since: bool,
        until: Callable[[Frame], bool] | None = None,
    ) -> AsyncGenerator[Frame, None]:
        reconnect = Reconnect(self.base_url + path, give_up_after)
        while True:
            since = resume.since()
            query = {"since": since} if with_since and since is not None else None
            url = self._config.ws_url(path, query)
            try:
                async with connect(
                    url,
                    additional_headers=self._config.headers,
                    open_timeout=self._config.timeout,
                    max_size=None,
                ) as socket:
                    reconnect.connected()
                    async for raw in socket:
                        frame = decode(raw)
                        if resume.accept(frame):
                            yield frame
                            if until is not None and until(frame):
                                return
            except DROPS as exc:
                delay = reconnect.after_drop(exc)
            else:
                delay = reconnect.after_drop(None)
            await asyncio.sleep(delay)
