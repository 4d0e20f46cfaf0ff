"""The integration stage's consumer: load the task, decide, record; I/O only.

The task's history comes from the live :class:`TaskHistories` when it has it (no read back);
every append that follows a decision made on it expects that history's last sequence, so a stale
copy is a conflict and a read back. A resumed integration (StageStarted already recorded, so no
guarded append comes before the FileWritten events) always reads the task back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

from nats.js.object_store import ObjectStore

from orchestrator.events import ConcurrencyConflict, EventStore, RecordedEvent, subjects
from orchestrator.events.catalog import (
    Event,
    FileDeleted,
    FileRef,
    FileWritten,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCompleted,
    TaskFailed,
)
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.objects import ContentMissing, fetch_content
from orchestrator.events.paths import UnsafePath
from orchestrator.events.runnables import Runtimes
from orchestrator.events.worker import Delivery

from . import integration
from .materialiser import Materialiser
from .task_histories import TaskHistories, WaitFor, live_history

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Read:
    """StageStarted recorded at ``version``, and the files' bytes in hand."""

    version: int
    refs: tuple[FileRef, ...]
    contents: dict[str, bytes]


@dataclass(frozen=True)
class _Refused:
    """The files cannot be integrated (a path the policy refuses, bytes gone): fail the stage."""

    version: int
    reason: str


@dataclass(eq=False)
class IntegrationHandler:
    store: EventStore
    files: ObjectStore
    workspace: Materialiser
    histories: TaskHistories | None = None
    wait_for: WaitFor | None = None
    _: KW_ONLY
    runtimes: Runtimes

    async def __call__(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        if not integration.is_trigger(recorded):
            return
        subject = recorded.subject
        live = await live_history(self.histories, self.wait_for, recorded)
        if live is None and await self.store.has_ended(subject):
            return  # nothing is due: a backlog of finished tasks is not read back one by one
        while True:
            from_live = live is not None
            if live is not None:
                events, version, live = live, live[-1].seq, None
            else:
                events, version = await self.store.load(subject)
            if version < recorded.seq:
                # A read that came back short must not be mistaken for "nothing to do".
                raise RuntimeError(f"{subject} loaded up to #{version}, before #{recorded.seq}")
            plan = integration.decide(events)
            if plan is None:
                return
            if from_live and plan.started:
                continue  # a resume: no guarded append precedes FileWritten, so read it back
            try:
                await self._integrate(subject, plan, version, delivery)
                return
            except ConcurrencyConflict:
                # Someone else recorded a step (another replica, a cancel): re-decide.
                log.info("integration of %s raced another writer; re-deciding", subject)
                continue

    async def _integrate(
        self, subject: str, plan: integration.Integrate, version: int, delivery: Delivery
    ) -> None:
        if plan.failed is not None:  # resume: StageFailed is recorded, TaskFailed is not
            failed = plan.failed
            await self.store.append(
                subject,
                TaskFailed(
                    task_id=plan.task_id,
                    stage="integration",
                    code=failed.code,
                    message=failed.message,
                ),
                expected_last_seq=version,
            )
            return
        if plan.completed is not None:  # resume: StageCompleted is recorded, TaskCompleted not
            await self.store.append(
                subject,
                TaskCompleted(task_id=plan.task_id, files=plan.completed),
                expected_last_seq=version,
            )
            return
        read = await self._start_and_read(subject, plan, version, delivery)
        if isinstance(read, _Refused):
            await self._fail(subject, plan, read.version, read.reason)
            return
        await self._write_files(plan, read.refs)
        await self._complete(subject, plan, read)

    async def _start_and_read(
        self, subject: str, plan: integration.Integrate, version: int, delivery: Delivery
    ) -> _Read | _Refused:
        """Record StageStarted (unless resuming) and read the files' bytes, both at once.

        Nothing below is recorded before StageStarted is (it is awaited first either way). A
        timeout (NATS slow or between leaders, the workspace not caught up) is not the files'
        fault: the trigger goes back to the queue and is tried again, and only its last attempt
        fails the stage.
        """
        started: asyncio.Future[int] | None = None
        if not plan.started:
            started = asyncio.ensure_future(
                self.store.append(
                    subject,
                    StageStarted(
                        task_id=plan.task_id, stage="integration", agent="ide", round=plan.round
                    ),
                    expected_last_seq=version,
                )
            )
        try:
            if not plan.files and not plan.deleted:
                raise ValueError("the implementation produced no files")
            await self.workspace.wait_current()
            current = {path: f.digest for path, f in self.workspace.state.files.items()}
            clashes = integration.conflicts(plan, current)
            if clashes:
                raise ValueError(
                    "changed in the workspace since the task read the project, so not "
                    f"overwritten: {', '.join(integration.workspace_path(p) for p in clashes)}"
                )
            refs = integration.workspace_refs(plan.files)
            data = await asyncio.gather(
                *(fetch_content(self.store.js, self.files, r.digest) for r in refs)
            )
        except (UnsafePath, ContentMissing, ValueError) as exc:
            return _Refused(await started if started is not None else version, str(exc))
        except BaseException as exc:
            if isinstance(exc, TimeoutError) and delivery.is_last_attempt:
                reason = f"timed out after {delivery.attempt} attempts: {exc or 'no answer'}"
                return _Refused(await started if started is not None else version, reason)
            if started is not None:
                await asyncio.gather(started, return_exceptions=True)
            raise
        if started is not None:
            version = await started
        contents = {ref.path: body for ref, body in zip(refs, data, strict=True)}
        return _Read(version, refs, contents)

    async def _write_files(self, plan: integration.Integrate, refs: tuple[FileRef, ...]) -> None:
        """The task's writes, then its deletes, each group appended at once: its events are of
        distinct paths, so their order among themselves changes nothing, and one after the
        other a task's N files cost N fsynced round trips. Each append is idempotent across a
        redelivery of the same trigger (its event id)."""
        writes = [
            FileWritten(
                path=ref.path,
                digest=ref.digest,
                size=ref.size,
                task_id=plan.task_id,
                source="agent",
            )
            for ref in refs
        ]
        deletes = [
            FileDeleted(path=integration.workspace_path(path), task_id=plan.task_id, source="agent")
            for path in plan.deleted
        ]
        await self._append_at_once(plan, "fw", writes)
        await self._append_at_once(plan, "fd", deletes)

    async def _append_at_once(
        self, plan: integration.Integrate, kind: str, events: Sequence[Event]
    ) -> None:
        await asyncio.gather(
            *(
                self.store.append(
                    subjects.WORKSPACE,
                    event,
                    event_id=f"{kind}-{plan.task_id}-{plan.trigger_seq}-{index}",
                    correlation_id=plan.task_id,
                )
                for index, event in enumerate(events)
            )
        )

    async def _complete(self, subject: str, plan: integration.Integrate, read: _Read) -> None:
        completed = StageCompleted(
            task_id=plan.task_id,
            stage="integration",
            agent="ide",
            round=plan.round,
            summary=integration.summary(read.refs, plan.deleted),
            detail=integration.completion_detail(read.refs, read.contents, self.runtimes),
            files=read.refs,
            deleted=tuple(integration.workspace_path(p) for p in plan.deleted),
        )
        task = TaskCompleted(task_id=plan.task_id, files=read.refs)
        await self._end(subject, read.version, completed, task)
        log.info("task %s integrated: %d file(s)", plan.task_id, len(read.refs))

    async def _fail(
        self, subject: str, plan: integration.Integrate, version: int, message: str
    ) -> None:
        log.warning("integration of %s failed: %s", plan.task_id, message)
        code = ErrorCode.WORKSPACE_ERROR
        failed = StageFailed(
            task_id=plan.task_id,
            stage="integration",
            agent="ide",
            round=plan.round,
            code=code,
            message=message,
        )
        task = TaskFailed(task_id=plan.task_id, stage="integration", code=code, message=message)
        await self._end(subject, version, failed, task)

    async def _end(self, subject: str, version: int, stage: Event, task: Event) -> None:
        """The stage's end, then the task's, each written only after what it expects."""
        version = await self.store.append(subject, stage, expected_last_seq=version)
        await self.store.append(subject, task, expected_last_seq=version)
