"""What ``Client`` and ``AsyncClient`` share: configuration, every REST method (written once
here, sent by each client's ``_send``), the translation of transport failures, and the pure
decisions of ``wait``, ``follow``, ``run`` and the streams. The two clients differ only in how
they wait: ``_send``, the sleeps and the WebSocket loop."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import httpx

from . import _models as m
from . import _operations as ops
from ._config import Config
from ._exceptions import ConnectionFailed
from ._frames import ExecutionFinished, ExecutionOutput, Frame, TaskUpdate
from ._models import TERMINAL_STATUSES, Execution, RunResult
from ._stream import DEFAULT_GIVE_UP_AFTER, Reconnect, Resume, decode

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client

DEFAULT_POLL_INTERVAL = 0.25
EVENT_SEQ = "X-Event-Seq"
"""On a write's answer: the gateway's event stream position that reflects the write."""
AFTER_SEQ = "X-After-Seq"
"""On a read: answer only once the replica has reached this position."""

P = ParamSpec("P")
T = TypeVar("T")
TransportT = TypeVar("TransportT")


class Rest(Generic[P, T]):
    """A REST method of both clients: builds the operation of the same name in ``_operations``
    and sends it with the client's ``_send`` (blocking on ``Client``, a coroutine on
    ``AsyncClient``), so each method's parameters and documentation exist once."""

    def __init__(self, build: Callable[P, ops.Operation[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        shown = inspect.signature(build)
        answer = str(shown.return_annotation).removeprefix("Operation[").removesuffix("]")
        self.signature = shown.replace(return_annotation=answer)

    @overload
    def __get__(self, client: None, owner: type) -> Callable[Concatenate[Any, P], Any]: ...
    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: ClientBase[Any] | None, owner: type) -> Callable[..., Any]:
        build = self.build
        if client is None:

            def unbound(client: ClientBase[Any], *args: Any, **kwargs: Any) -> Any:
                return client._send(build(*args, **kwargs))

            self_first = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
            parameters = [self_first, *self.signature.parameters.values()]
            return self._shown(unbound, self.signature.replace(parameters=parameters))
        send = client._send

        def method(*args: Any, **kwargs: Any) -> Any:
            return send(build(*args, **kwargs))

        return self._shown(method, self.signature)

    def _shown(
        self, function: Callable[..., Any], signature: inspect.Signature
    ) -> Callable[..., Any]:
        """``function`` under the builder's name and documentation, answering its model."""
        function.__name__ = function.__qualname__ = self.build.__name__
        function.__doc__ = self.build.__doc__
        function.__signature__ = signature  # type: ignore[attr-defined]
        return function


class ClientBase(Generic[TransportT]):
    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        transport: TransportT | None = None,
    ) -> None:
        self._config = Config.resolve(base_url, token, timeout, environ)
        self._event_seq = 0
        """The highest ``X-Event-Seq`` a write answered: sent as ``X-After-Seq`` on every read,
        so a read on any gateway replica reflects this client's writes."""
        self._open(http_options(self._config), transport)

    def _open(self, options: dict[str, Any], transport: TransportT | None) -> None:
        """Make the client's ``httpx`` client from ``options`` and ``transport``."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def _send(self, operation: ops.Operation[T]) -> Any:
        raise NotImplementedError

    def _request(self, operation: ops.Operation[Any]) -> dict[str, Any]:
        """The ``httpx`` arguments of ``operation``; a read names the client's last write."""
        request = operation.request()
        if operation.method == "GET" and self._event_seq:
            request["headers"] = {**request["headers"], AFTER_SEQ: str(self._event_seq)}
        return request

    def _saw(self, response: httpx.Response) -> None:
        """Remember the stream position a write answered (replicas agree, see the README)."""
        seen = response.headers.get(EVENT_SEQ, "")
        if seen.isascii() and seen.isdigit() and int(seen) > self._event_seq:
            self._event_seq = int(seen)

    def _unreachable(self, exc: httpx.TransportError) -> ConnectionFailed:
        return ConnectionFailed(self._config.base_url, describe(exc))

    # -- requirements and tasks -----------------------------------------------------------------
    submit = Rest(ops.submit)
    tasks = Rest(ops.tasks)
    task = Rest(ops.task)
    task_events = Rest(ops.task_events)
    task_changes = Rest(ops.task_changes)
    cancel = Rest(ops.cancel)
    retry = Rest(ops.retry)
    approve = Rest(ops.approve)
    feedback = Rest(ops.feedback)
    usage = Rest(ops.usage)
    agents = Rest(ops.agents)
    # -- workspace and executions ---------------------------------------------------------------
    files = Rest(ops.files)
    read_file = Rest(ops.read_file)
    write_file = Rest(ops.write_file)
    delete_file = Rest(ops.delete_file)
    download_workspace = Rest(ops.download_workspace)
    download_archive = Rest(ops.download_archive)
    start_run = Rest(ops.start_run)
    executions = Rest(ops.executions)
    execution = Rest(ops.execution)
    execution_lines = Rest(ops.execution_lines)
    stop_execution = Rest(ops.stop_execution)
    # -- project, archives, settings, health ----------------------------------------------------
    reset = Rest(ops.reset)
    archives = Rest(ops.archives)
    archive_files = Rest(ops.archive_files)
    read_archived_file = Rest(ops.read_archived_file)
    restore = Rest(ops.restore)
    settings = Rest(ops.settings)
    save_settings = Rest(ops.save_settings)
    health = Rest(ops.health)


def describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__


def http_options(config: Config) -> dict[str, Any]:
    """The arguments of either client's ``httpx`` client besides its transport."""
    return {"base_url": config.base_url, "headers": config.headers, "timeout": config.timeout}


class Deadline:
    """``wait``'s decision after each poll: the task is done, or still not after ``timeout``."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._at = None if timeout is None else time.monotonic() + timeout

    def over(self, task: m.Task) -> bool:
        if task.done:
            return True
        if self._at is not None and time.monotonic() >= self._at:
            raise TimeoutError(f"task {task.id} is still {task.status} after {self.timeout}s")
        return False


def ends_task(frame: Frame, task_id: str, after: int | None = None) -> bool:
    """This frame says the task reached a final state (completed, failed or cancelled).

    With ``after`` (the task's version when following began), a final state replayed from
    before it (a failure since retried) does not count.
    """
    if after is not None and frame.event_seq is not None and frame.event_seq < after:
        return False
    return (
        isinstance(frame, TaskUpdate)
        and frame.task_id == task_id
        and frame.status in TERMINAL_STATUSES
    )


def concerns_task(frame: Frame, task_id: str) -> bool:
    return getattr(frame, "task_id", None) == task_id


def ends_execution(frame: Frame) -> bool:
    return isinstance(frame, ExecutionFinished)


@dataclass
class Stream:
    """One resumable WebSocket stream: where to connect (again), which frames to yield, when it
    ends, and how long to wait after a drop. The clients' loops only connect and read."""

    config: Config
    path: str
    resume: Resume
    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    with_since: bool = True
    keep: Callable[[Frame], bool] = lambda frame: True
    until: Callable[[Frame], bool] = lambda frame: False
    ended: bool = False

    def __post_init__(self) -> None:
        self._reconnect = Reconnect(self.config.base_url + self.path, self.give_up_after)

    def url(self) -> str:
        """The URL of the next connection, resuming after the last frame yielded."""
        since = self.resume.since()
        query = {"since": since} if self.with_since and since is not None else None
        return self.config.ws_url(self.path, query)

    def connect_options(self) -> dict[str, Any]:
        return {
            "additional_headers": self.config.headers,
            "open_timeout": self.config.timeout,
            "max_size": None,
        }

    def connected(self) -> None:
        self._reconnect.connected()

    def take(self, raw: str | bytes) -> Frame | None:
        """The frame of one message if it is to be yielded; ``ended`` once it is the last."""
        frame = decode(raw)
        if not self.resume.accept(frame) or not self.keep(frame):
            return None
        self.ended = self.until(frame)
        return frame

    def after_drop(self, exc: BaseException | None) -> float:
        """Seconds to wait before reconnecting; raises when retrying cannot help."""
        return self._reconnect.after_drop(exc)


def events_stream(config: Config, since: int | None, give_up_after: float) -> Stream:
    return Stream(config, ops.EVENTS_PATH, Resume(since), give_up_after)


def task_stream(config: Config, task: m.Task, history: m.TaskHistory | None) -> Stream:
    """``follow``'s stream: the task's frames from now on, or from its submission when its
    history is given, until a final state newer than ``task``."""
    since = task.event_seq if history is None else history.events[0].seq - 1
    return Stream(
        config,
        ops.EVENTS_PATH,
        Resume(since),
        keep=lambda frame: concerns_task(frame, task.id),
        until=lambda frame: ends_task(frame, task.id, after=task.event_seq),
    )


def execution_stream(config: Config, execution_id: str) -> Stream:
    return Stream(
        config,
        ops.execution_stream_path(execution_id),
        Resume(None),
        with_since=False,
        until=ends_execution,
    )


class RunTally:
    """``run``'s bookkeeping: output lines passed on and counted, and how the run ended."""

    def __init__(
        self,
        started: m.RunStarted,
        on_line: Callable[[str], None] | None,
        on_start: Callable[[m.RunStarted], None] | None,
    ) -> None:
        self.execution_id = started.execution_id
        self._on_line = on_line
        self.lines = 0
        self.finished: ExecutionFinished | None = None
        if on_start is not None:
            on_start(started)

    def take(self, frame: Frame) -> None:
        if isinstance(frame, ExecutionOutput):
            self.lines += 1
            if self._on_line is not None:
                self._on_line(frame.output)
        elif isinstance(frame, ExecutionFinished):
            self.finished = frame

    def result(self, record: Execution | None) -> RunResult:
        """How the run ended: from its ``execution_finished`` frame, else from ``record``."""
        end = self.finished if self.finished is not None else record
        assert end is not None
        return RunResult(
            execution_id=self.execution_id,
            status=end.status,
            exit_code=end.exit_code,
            duration_s=end.duration_s,
            truncated=end.truncated,
            lines=self.lines,
            error=end.error,
        )
