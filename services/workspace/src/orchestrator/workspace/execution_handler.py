"""Executions on this replica: start requested runs, stop them on request, stop all on exit.

``ExecutionRequested`` arrives through the durable "workspace-exec" consumer (one replica takes
it); the replica that started a run is the only one that can stop it, so stop requests are read
by every replica from a follower of ``events.exec.>`` and acted on where the run lives.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from pathlib import Path

from nats.js.errors import NotFoundError

from orchestrator.events import ConcurrencyConflict, EventStore, Follower, RecordedEvent, subjects
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRejected,
    ExecutionRequested,
    ExecutionStarted,
    ExecutionStopRequested,
)
from orchestrator.events.envelope import decode, utcnow
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.errors import UndecodableEvent
from orchestrator.events.paths import UnsafePath, safe_relative_path
from orchestrator.events.runnables import Runnable, Runtimes, inspect_file
from orchestrator.events.worker import Delivery

from . import dependencies, disk
from .dependency_cache import DependencyCache
from .errors import Rejection
from .installers import OnLine
from .materialiser import Materialiser
from .sandbox.cgroups import RunCgroup
from .sandbox.profile import SandboxProfile
from .sandboxed_run import Run
from .settings import WorkspaceSettings

log = logging.getLogger(__name__)

_MODES = ("bubblewrap", "landlock")


class Executions:
    def __init__(
        self,
        settings: WorkspaceSettings,
        profile: SandboxProfile,
        store: EventStore,
        materialiser: Materialiser,
        *,
        instance: str,
        deps: DependencyCache,
        runtimes: Runtimes,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.store = store
        self.materialiser = materialiser
        self.instance = instance
        self.runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop_requested: set[str] = set()
        self._closing = False
        self._stops: Follower | None = None
        self.deps = deps
        self.runtimes = runtimes

    @property
    def running(self) -> int:
        return len(self.runs)

    async def start(self) -> None:
        await self._close_orphans()
        info = await self.store.js.stream_info(subjects.EVENTS_STREAM)
        start = int(info.state.last_seq or 0) + 1
        self._stops = Follower(
            self.store.js, subjects.EXEC_ALL, self._on_exec_event, start_seq=start, poll_timeout=1.0
        )
        await self._stops.start()

    async def _close_orphans(self) -> None:
        """Record the end of runs whose service instance on this host died without recording it
        (SIGKILL, power loss): bubblewrap's --die-with-parent already killed their processes."""
        started: dict[str, ExecutionStarted] = {}
        for recorded in await self.store.read(subjects.EXEC_ALL):
            event = recorded.event
            if isinstance(event, ExecutionStarted):
                started[event.execution_id] = event
            elif isinstance(event, ExecutionFinished | ExecutionRejected):
                started.pop(event.execution_id, None)
        for execution_id, event in started.items():
            if event.instance is None or not _instance_gone(event.instance, self.instance):
                continue
            log.warning(
                "%s was left running by %s; recording its end", execution_id, event.instance
            )
            if self.profile.cgroup_placement:
                # Its processes died with their service; its cgroup did not.
                run_cgroup = RunCgroup(self.profile.cgroup_placement, execution_id)
                await asyncio.to_thread(run_cgroup.remove)
            last = await _last_output(self.store, execution_id)
            batch = last.event if last is not None else None
            await self.store.append(
                subjects.execution(execution_id),
                ExecutionFinished(
                    execution_id=execution_id,
                    status="failed",
                    exit_code=None,
                    duration_s=0.0,
                    reason=f"the workspace service running it ({event.instance}) died",
                    output_lines=batch.first_line + len(batch.lines) - 1
                    if isinstance(batch, ExecutionOutput)
                    else 0,
                    output_seq=last.seq if last is not None else 0,
                ),
                event_id=f"{execution_id}-finished",
            )

    def _on_exec_event(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, ExecutionStopRequested):
            self._stop_requested.add(event.execution_id)
            run = self.runs.get(event.execution_id)
            if run is not None:
                run.stop("stop requested")

    async def handle(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        event = recorded.event
        if not isinstance(event, ExecutionRequested):
            return
        if self._closing:
            raise RuntimeError("stopping: leave the request to another replica")
        # While it starts a run, the request is waited for by ``stop`` as a run's supervision is.
        current = asyncio.current_task()
        if current is not None:
            self._tasks.add(current)
        try:
            await self._start_requested(recorded, event)
        finally:
            if current is not None:
                self._tasks.discard(current)

    async def _start_requested(self, recorded: RecordedEvent, event: ExecutionRequested) -> None:
        subject = recorded.subject
        events, version = await self.store.load(subject)
        if any(
            isinstance(e.event, ExecutionStarted | ExecutionRejected | ExecutionFinished)
            for e in events
        ):
            return  # already decided (a redelivery)
        refusal = self._refusal(recorded, events)
        if refusal is not None:
            await self._reject(subject, event, version, ErrorCode.EXECUTION_FAILED, refusal)
            return
        try:
            lines, output_seq = await self._output_recorded(event.execution_id, events)
            run = await self._prepare(event, first_line=lines + 1, output_seq=output_seq)
            # Preparing may have recorded output (the install): decide after the latest event.
            _, version = await self.store.load(subject)
            await run.start(self.materialiser.root)
        except Rejection as exc:
            _, version = await self.store.load(subject)
            await self._reject(subject, event, version, exc.code, exc.message)
            return
        except OSError as exc:
            log.exception("%s could not start", event.execution_id)
            _, version = await self.store.load(subject)
            await self._reject(
                subject, event, version, ErrorCode.EXECUTION_FAILED, f"could not start: {exc}"
            )
            return
        self.runs[event.execution_id] = run
        started = ExecutionStarted(
            execution_id=event.execution_id,
            path=run.path,
            command=run.runnable.command or "",
            pid=run.pid,
            port=run.runnable.port,
            sandbox=self.profile.active,
            kind=run.runnable.kind,
            preview_url=run.preview_url,
            instance=self.instance,
            output_seq=run.output_seq,
        )
        if not await self._record_start(subject, started, run, version):
            return
        if event.execution_id in self._stop_requested:
            run.stop("stop requested")
        elif self._closing:  # the service began to stop while this run was starting
            run.stop("workspace service stopping")
        log.info("%s started: %s (pid %d)", event.execution_id, started.command, run.pid)
        self._supervise(run, record=True)

    async def _record_start(
        self, subject: str, started: ExecutionStarted, run: Run, version: int
    ) -> bool:
        """Append ``started`` after ``version``; False (the run stopped) when another decision
        came first. A failure to append stops the run and raises, for the request's retry."""
        try:
            await self.store.append(subject, started, expected_last_seq=version)
        except BaseException as exc:
            if not isinstance(exc, ConcurrencyConflict):
                # Not recorded: the run must not go on unsupervised; the request is retried.
                run.stop("start not recorded")
                self._supervise(run, record=False)
                raise

            # Someone decided first (a stop, or another replica after a redelivery).
            run.stop("superseded")
            events, _ = await self.store.load(subject)
            if not any(isinstance(e.event, ExecutionStarted) for e in events):
                await self.store.append(
                    subject,
                    ExecutionRejected(
                        execution_id=started.execution_id,
                        code=ErrorCode.EXECUTION_FAILED,
                        message="stopped before start",
                    ),
                )
            self._supervise(run, record=False)
            return False
        return True

    def _refusal(self, recorded: RecordedEvent, events: list[RecordedEvent]) -> str | None:
        age = (utcnow() - recorded.envelope.occurred_at).total_seconds()
        if age > self.settings.exec_request_ttl:
            return "request expired before a workspace service took it"
        if any(isinstance(e.event, ExecutionStopRequested) for e in events):
            return "stopped before start"
        return None

    async def _output_recorded(
        self, execution_id: str, events: list[RecordedEvent]
    ) -> tuple[int, int]:
        """The output lines an earlier attempt at this run recorded (it died installing the
        requirements), and the output stream's sequence of the last: the new attempt goes on
        numbering after them."""
        recorded = await _last_output(self.store, execution_id)
        if recorded is None:
            return _lines_recorded(events), 0
        batch = recorded.event
        assert isinstance(batch, ExecutionOutput)
        return max(batch.first_line + len(batch.lines) - 1, _lines_recorded(events)), recorded.seq

    async def _prepare(
        self, event: ExecutionRequested, *, first_line: int, output_seq: int = 0
    ) -> Run:
        try:
            path = safe_relative_path(event.path.removeprefix("workspace/"))
        except UnsafePath as exc:
            raise Rejection(ErrorCode.INVALID_REQUEST, f"invalid path: {exc}") from exc
        try:
            await self.materialiser.wait_current()
        except TimeoutError as exc:
            raise Rejection(
                ErrorCode.EXECUTION_FAILED, "the workspace is not up to date yet"
            ) from exc
        if path not in self.materialiser.state.files:
            raise Rejection(ErrorCode.FILE_NOT_FOUND, f"no such file in the workspace: {path}")
        if not self.profile.can_run:
            why = "; ".join(f"{k}: {v}" for k, v in self.profile.notes.items() if k in _MODES)
            raise Rejection(
                ErrorCode.EXECUTION_FAILED,
                f"no sandbox is available on this machine (SANDBOX_MODE="
                f"{self.settings.sandbox_mode}; {why or 'none works'}) and weak mode is off "
                "(install bubblewrap, or set SANDBOX_MODE=weak)",
            )
        if len(self.runs) >= self.settings.exec_max_concurrent:
            raise Rejection(
                ErrorCode.EXECUTION_FAILED, "too many executions running; stop one first"
            )
        content = await asyncio.to_thread(_read_regular, self.materialiser.root, path)
        if content is None:
            raise Rejection(ErrorCode.FILE_NOT_FOUND, f"no such file in the workspace: {path}")
        runnable = inspect_file(path, content, runtimes=self.runtimes)
        if not runnable.runnable:
            why = f": {runnable.reason}" if runnable.reason else ""
            raise Rejection(ErrorCode.EXECUTION_FAILED, f"{path} is not runnable{why}")
        run = Run(
            execution_id=event.execution_id,
            path=path,
            runnable=runnable,
            settings=self.settings,
            profile=self.profile,
            store=self.store,
            first_line=first_line,
            output_seq=output_seq,
        )
        async with run.recording():
            run.deps = await self._dependencies(path, runnable, run.say)
        return run

    async def _dependencies(self, path: str, runnable: Runnable, say: OnLine) -> str | None:
        """The installed environment of the project's requirements (Python programs only), the
        install said line by line as the run's output."""
        if runnable.language != "python":
            return None
        try:
            found = await asyncio.to_thread(dependencies.find, self.materialiser.root, path)
            if found is None:
                return None
            return str(await self.deps.environment(found, say))
        except dependencies.DependencyError as exc:
            raise Rejection(ErrorCode.EXECUTION_FAILED, str(exc)) from exc

    async def _reject(
        self,
        subject: str,
        event: ExecutionRequested,
        version: int,
        code: ErrorCode,
        message: str,
    ) -> None:
        log.info("%s rejected: %s %s", event.execution_id, code, message)
        with suppress(ConcurrencyConflict):
            await self.store.append(
                subject,
                ExecutionRejected(execution_id=event.execution_id, code=code, message=message),
                expected_last_seq=version,
            )

    def _supervise(self, run: Run, *, record: bool) -> None:
        async def supervise() -> None:
            try:
                finished = await run.supervise(record=record)
                log.info(
                    "%s %s (exit %s, %.1fs)",
                    run.execution_id,
                    finished.status,
                    finished.exit_code,
                    finished.duration_s,
                )
            except Exception:
                log.exception("%s: supervision failed", run.execution_id)
            finally:
                self.runs.pop(run.execution_id, None)

        task = asyncio.create_task(supervise(), name=f"run {run.execution_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop every run (recording why) before the service exits."""
        self._closing = True
        if self._stops is not None:
            await self._stops.stop()
        for run in list(self.runs.values()):
            run.stop("workspace service stopping")
        # A run that was starting meanwhile stops itself once started (``handle``): its
        # supervision, begun after this one's, is waited for too.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        with suppress(OSError):
            self.profile.stage_root.rmdir()  # only when empty: every run removed its snapshot


def _instance_gone(instance: str, me: str) -> bool:
    """Whether ``instance`` ("workspace-<host>-<pid>") ran on this host and is no longer alive."""
    prefix, _, pid = instance.rpartition("-")
    my_prefix = me.rpartition("-")[0]
    if prefix != my_prefix or not pid.isdigit() or instance == me:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"orchestrator.workspace" not in f.read()
    except OSError:
        return True


async def _last_output(store: EventStore, execution_id: str) -> RecordedEvent | None:
    """The last output batch a run recorded in the output stream, if any is still kept."""
    try:
        msg = await store.js.get_last_msg(subjects.OUTPUT_STREAM, subjects.output(execution_id))
    except NotFoundError:
        return None
    try:
        return decode(msg.data or b"", msg.headers, msg.subject or "", int(msg.seq or 0))
    except UndecodableEvent as exc:
        log.error("unreadable output batch: %s", exc)
        return None


def _lines_recorded(events: list[RecordedEvent]) -> int:
    """Output lines an earlier attempt recorded in the domain stream (before the output stream
    existed, it died installing the requirements)."""
    return max(
        (
            e.event.first_line + len(e.event.lines) - 1
            for e in events
            if isinstance(e.event, ExecutionOutput)
        ),
        default=0,
    )


def _read_regular(root: Path, path: str) -> bytes | None:
    if disk.digest_on_disk(root, path) is None:
        return None
    return (root / path).read_bytes()
