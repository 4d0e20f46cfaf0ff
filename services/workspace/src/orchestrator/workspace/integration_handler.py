"""The integration stage's consumer: load the task, decide, record; I/O only."""

from __future__ import annotations

import logging

from nats.js.object_store import ObjectStore

from orchestrator.events import ConcurrencyConflict, EventStore, RecordedEvent, subjects
from orchestrator.events.catalog import (
    FileWritten,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCompleted,
    TaskFailed,
)
from orchestrator.events.worker import Delivery

from . import integration
from .materialiser import ContentMissing, fetch_content

log = logging.getLogger(__name__)

WORKSPACE_ERROR = "WORKSPACE_ERROR"


class IntegrationHandler:
    def __init__(self, store: EventStore, files: ObjectStore) -> None:
        self.store = store
        self.files = files

    async def __call__(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        if not integration.is_trigger(recorded):
            return
        subject = recorded.subject
        while True:
            events, version = await self.store.load(subject)
            if version < recorded.seq:
                # A read that came back short must not be mistaken for "nothing to do".
                raise RuntimeError(f"{subject} loaded up to #{version}, before #{recorded.seq}")
            plan = integration.decide(events)
            if plan is None:
                return
            try:
                await self._integrate(subject, plan, version)
                return
            except ConcurrencyConflict:
                # Someone else recorded a step (another replica, a cancel): re-decide.
                log.info("integration of %s raced another writer; re-deciding", subject)
                continue

    async def _integrate(self, subject: str, plan: integration.Integrate, version: int) -> None:
        task_id = plan.task_id
        if plan.failed is not None:
            await self.store.append(
                subject,
                TaskFailed(
                    task_id=task_id,
                    stage="integration",
                    code=plan.failed.code,
                    message=plan.failed.message,
                ),
                expected_last_seq=version,
            )
            return
        if plan.completed is not None:
            await self.store.append(
                subject,
                TaskCompleted(task_id=task_id, files=plan.completed),
                expected_last_seq=version,
            )
            return
        if not plan.started:
            version = await self.store.append(
                subject,
                StageStarted(task_id=task_id, stage="integration", agent="ide", round=plan.round),
                expected_last_seq=version,
            )
        try:
            if not plan.files:
                raise ValueError("the implementation produced no files")
            refs = integration.workspace_refs(plan.files)
            contents = {}
            for ref in refs:
                contents[ref.path] = await fetch_content(self.files, ref.digest)
        except (integration.UnsafePath, ContentMissing, ValueError) as exc:
            await self._fail(subject, plan, version, str(exc))
            return
        for index, ref in enumerate(refs):
            await self.store.append(
                subjects.WORKSPACE,
                FileWritten(
                    path=ref.path,
                    digest=ref.digest,
                    size=ref.size,
                    task_id=task_id,
                    source="agent",
                ),
                # Idempotent across a redelivery of the same trigger.
                event_id=f"fw-{task_id}-{plan.trigger_seq}-{index}",
                correlation_id=task_id,
            )
        version = await self.store.append(
            subject,
            StageCompleted(
                task_id=task_id,
                stage="integration",
                agent="ide",
                round=plan.round,
                summary=integration.summary(refs),
                detail=integration.completion_detail(refs, contents),
                files=refs,
            ),
            expected_last_seq=version,
        )
        await self.store.append(
            subject, TaskCompleted(task_id=task_id, files=refs), expected_last_seq=version
        )
        log.info("task %s integrated: %d file(s)", task_id, len(refs))

    async def _fail(
        self, subject: str, plan: integration.Integrate, version: int, message: str
    ) -> None:
        log.warning("integration of %s failed: %s", plan.task_id, message)
        version = await self.store.append(
            subject,
            StageFailed(
                task_id=plan.task_id,
                stage="integration",
                agent="ide",
                round=plan.round,
                code=WORKSPACE_ERROR,
                message=message,
            ),
            expected_last_seq=version,
        )
        await self.store.append(
            subject,
            TaskFailed(
                task_id=plan.task_id, stage="integration", code=WORKSPACE_ERROR, message=message
            ),
            expected_last_seq=version,
        )
