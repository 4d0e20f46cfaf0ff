"""``Client``: the blocking client. Each REST method sends the operation of the same name in
``_operations``; the streams run the resume loop of ``_stream`` over ``websockets.sync``."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from types import TracebackType
from typing import Any, TypeVar

import httpx
from websockets.sync.client import connect

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


class Client(ClientBase):
    """The gateway's REST API, live events and runs, blocking.

    ``Client()`` talks to ``ORCHESTRATOR_URL`` (default ``http://127.0.0.1:8100``) with the token
    in ``ORCHESTRATOR_TOKEN``, if any; both can be given instead. Use it as a context manager, or
    call ``close()``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, environ=environ)
        self._http = httpx.Client(
            base_url=self._config.base_url,
            headers=self._config.headers,
            timeout=self._config.timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, operation: ops.Operation[T]) -> T:
        try:
            response = self._http.request(
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

    def submit(
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
        return self._send(
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

    def tasks(
        self, status: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> m.TaskList:
        return self._send(ops.tasks(status, limit=limit, cursor=cursor))

    def task(self, task_id: str) -> m.Task:
        return self._send(ops.task(task_id))

    def task_events(self, task_id: str) -> m.TaskHistory:
        return self._send(ops.task_events(task_id))

    def task_changes(self, task_id: str) -> m.TaskChanges:
        """What the task changed in the project, with diffs (final and per round)."""
        return self._send(ops.task_changes(task_id))

    def cancel(self, task_id: str) -> m.TaskControl:
        return self._send(ops.cancel(task_id))

    def retry(self, task_id: str, budget: m.Budget | None = None) -> m.TaskControl:
        return self._send(ops.retry(task_id, budget))

    def approve(self, task_id: str) -> m.Approved:
        return self._send(ops.approve(task_id))

    def feedback(self, task_id: str, message: str) -> m.FeedbackSent:
        return self._send(ops.feedback(task_id, message))

    def usage(self, since: str | None = None, until: str | None = None) -> m.UsageReport:
        return self._send(ops.usage(since, until))

    def agents(self) -> m.AgentList:
        return self._send(ops.agents())

    # -- workspace and executions ---------------------------------------------------------------

    def files(self) -> m.FileList:
        return self._send(ops.files())

    def read_file(self, path: str) -> bytes:
        return self._send(ops.read_file(path))

    def write_file(self, path: str, data: bytes, *, if_match: str | None = None) -> m.WorkspaceFile:
        return self._send(ops.write_file(path, data, if_match=if_match))

    def delete_file(self, path: str, *, if_match: str | None = None) -> m.FileDeleted:
        return self._send(ops.delete_file(path, if_match=if_match))

    def download_workspace(self) -> bytes:
        """The workspace's files as a zip."""
        return self._send(ops.download_workspace())

    def download_archive(self, archive_name: str) -> bytes:
        """An archive's files as a zip."""
        return self._send(ops.download_archive(archive_name))

    def start_run(self, path: str) -> m.RunStarted:
        return self._send(ops.start_run(path))

    def executions(self) -> m.ExecutionList:
        return self._send(ops.executions())

    def execution(self, execution_id: str) -> m.Execution:
        return self._send(ops.execution(execution_id))

    def stop_execution(self, execution_id: str) -> m.Execution:
        return self._send(ops.stop_execution(execution_id))

    # -- project, archives, settings, health ----------------------------------------------------

    def reset(self, idempotency_key: str | None = None) -> m.ResetResult:
        return self._send(ops.reset(idempotency_key))

    def archives(self) -> m.ArchiveList:
        return self._send(ops.archives())

    def archive_files(self, archive_name: str) -> m.ArchiveFiles:
        return self._send(ops.archive_files(archive_name))

    def read_archived_file(self, archive_name: str, filename: str) -> bytes:
        return self._send(ops.read_archived_file(archive_name, filename))

    def restore(self, archive_name: str, filename: str) -> m.Restored:
        return self._send(ops.restore(archive_name, filename))

    def settings(self) -> m.Settings:
        return self._send(ops.settings())

    def save_settings(self, update: m.SettingsUpdate) -> m.SettingsSaved:
        return self._send(ops.save_settings(update))

    def health(self) -> m.Health:
        return self._send(ops.health())

    # -- waiting and streaming ------------------------------------------------------------------

    def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> m.Task:
        """The task once it is completed, failed or cancelled (polling; survives restarts)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task.done:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} is still {task.status} after {timeout}s")
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
        return self._stream(ops.EVENTS_PATH, Resume(start), give_up_after, with_since=True)

    def follow(self, task_id: str, *, from_start: bool = False) -> Generator[Frame, None, None]:
        """The frames of one task (updates and model output) until it is done.

        From now on; or ``from_start``, replaying its frames from its submission (a finished
        task's then end with its final one). Model output is live only, never replayed.
        """
        task = self.task(task_id)
        if task.done and not from_start:
            return
        since = task.event_seq
        if from_start:
            since = (self.task_events(task_id)).events[0].seq - 1
        with closing(self.events(since=since)) as frames:
            for frame in frames:
                if concerns_task(frame, task_id):
                    yield frame
                    if ends_task(frame, task_id, after=task.event_seq):
                        return

    def execution_output(self, execution_id: str) -> Generator[Frame, None, None]:
        """An execution's frames from its first line through ``execution_finished``."""
        return self._stream(
            ops.execution_stream_path(execution_id),
            Resume(None),
            DEFAULT_GIVE_UP_AFTER,
            with_since=False,
            until=ends_execution,
        )

    def run(
        self,
        path: str,
        on_line: Callable[[str], None] | None = None,
        on_start: Callable[[m.RunStarted], None] | None = None,
    ) -> m.RunResult:
        """Run a workspace file, passing each output line to ``on_line``; its result at the end.

        Interrupted (Ctrl-C), it stops the execution before re-raising.
        """
        started = self.start_run(path)
        if on_start is not None:
            on_start(started)
        lines, finished = 0, None
        try:
            with closing(self.execution_output(started.execution_id)) as frames:
                for frame in frames:
                    if isinstance(frame, ExecutionOutput):
                        lines += 1
                        if on_line is not None:
                            on_line(frame.output)
                    elif isinstance(frame, ExecutionFinished):
                        finished = frame
        except KeyboardInterrupt:
            self.stop_execution(started.execution_id)
            raise
        record = None if finished else self.execution(started.execution_id)
        return run_result(started.execution_id, finished, lines, record)

    def _stream(
        self,
        path: str,
        resume: Resume,
        give_up_after: float,
        *,
        with_since: bool,
        until: Callable[[Frame], bool] | None = None,
    ) -> Generator[Frame, None, None]:
        reconnect = Reconnect(self.base_url + path, give_up_after)
        while True:
            since = resume.since()
            query = {"since": since} if with_since and since is not None else None
            url = self._config.ws_url(path, query)
            try:
                with connect(
                    url,
                    additional_headers=self._config.headers,
                    open_timeout=self._config.timeout,
                    max_size=None,
                ) as socket:
                    reconnect.connected()
                    for raw in socket:
                        frame = decode(raw)
                        if resume.accept(frame):
                            yield frame
                            if until is not None and until(frame):
                                return
            except DROPS as exc:
                delay = reconnect.after_drop(exc)
            else:
                delay = reconnect.after_drop(None)
            time.sleep(delay)
