"""The agents service's work handler: one task message in, at most one step recorded.

For a message that can make a step due (see :mod:`.domain`), load the task, decide, and run the
stage it names: append ``StageStarted`` (expecting the version loaded), call the model, append
the outcome (expecting ``StageStarted``'s sequence). A conflict on either append means another
writer moved the task on (a cancel, another replica): the message is acknowledged and nothing
else happens. A model that stays unavailable after the SDK's retries is a recorded
``StageFailed``, not a redelivery: exactly one layer retries.

Validation is two steps: the first (on the implementation's completion) records ``StageStarted``
and either rejects what needs no run or appends ``ChecksRequested`` and acknowledges; the second
(on ``ChecksRecorded``) reviews with the checks and records the stage's outcome. With no workspace
service up, a task waits at validation until one comes, as it would wait for an agents replica.

Budget: every model call goes through a :class:`~.budget.Meter` holding the task's budget and
what its events say it spent; the stage's usage is what the meter counted, recorded on its
outcome, a failure included. Approval gates: ``RequestApproval`` records the gate's deadline (when
the task has a timeout) on the task's timer subject, then ``ApprovalRequested``, and lets go; the
task waits on its events (see :mod:`.timers` for the deadline). No progress: a validation that
finds what it found the round before, or an implementation that changed nothing, ends the task
instead of spending the rounds left.

Cancellation: every replica listens to task subjects on core NATS; a ``TaskCancelled`` for a task
whose stage runs here cancels that asyncio task, which closes the model's HTTP stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from orchestrator.events import ConcurrencyConflict, Envelope, EventStore, RecordedEvent, subjects
from orchestrator.events.agent_providers import ResolvedProvider
from orchestrator.events.catalog import (
    STAGE_AGENT,
    TASK_END_TYPES,
    ApprovalDeadline,
    ApprovalRequested,
    ChecksRecorded,
    ChecksRequested,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskFailed,
    TaskSubmitted,
    Usage,
    ValidationFailed,
)
from orchestrator.events.catalog.base import Event
from orchestrator.events.envelope import TYPE_HEADER
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.failures import carry_on
from orchestrator.events.messages import ModelOutput
from orchestrator.events.pricing import price_of
from orchestrator.events.worker import Delivery

from .budget import Meter, spent_of
from .domain import (
    TRIGGER_TYPES,
    FailTask,
    RequestApproval,
    RunStage,
    TaskState,
    apply,
    candidate,
    checks_of,
    decide,
    fold,
    might_concern_us,
    repeated_findings,
    unchanged_files,
    validation_outcome,
)
from .errors import ModelError
from .providers import Clients, MeteredModel
from .settings import AgentsSettings
from .settings_source import SettingsSource
from .stages import Rejected, StageResult, Stages

log = logging.getLogger(__name__)

STATE_CACHE_SIZE = 4096
WANTED_TYPES = TRIGGER_TYPES | TASK_END_TYPES
"""What the task worker decodes: the triggers, and the ends that let go of a task's priority
(:meth:`Pipeline.order_key`); any other type is acknowledged unread."""


class Pipeline:
    def __init__(
        self,
        *,
        nc: NATS,
        store: EventStore,
        stages: Stages,
        clients: Clients,
        source: SettingsSource,
        settings: AgentsSettings,
        instance: str,
    ) -> None:
        self.nc = nc
        self.store = store
        self.stages = stages
        self.clients = clients
        self.source = source
        self.settings = settings
        self.instance = instance
        self.running: dict[str, asyncio.Task[Any]] = {}
        self._states: OrderedDict[str, TaskState] = OrderedDict()
        """Task states this replica loaded or wrote, reused while the stream has nothing newer."""
        self._priorities: dict[str, tuple[int, int]] = {}
        self._cancel_sub: Any = None

    # -- scheduling --------------------------------------------------------------------------

    def order_key(self, recorded: RecordedEvent) -> tuple[int, int, int, int]:
        """Cheap messages first, then higher priority, then earlier submission (FCFS)."""
        event = recorded.event
        if isinstance(event, TaskSubmitted):
            self._priorities[event.task_id] = (event.priority, recorded.seq)
        elif recorded.envelope.type in TASK_END_TYPES:
            # A finished task is scheduled no more: its priority is not kept (memory stays
            # bounded by the tasks in flight, not by history).
            self._priorities.pop(str(getattr(event, "task_id", "")), None)
        if not might_concern_us(recorded) or recorded.envelope.type == "StageFailed":
            return (0, 0, 0, recorded.seq)
        task_id = str(getattr(event, "task_id", ""))
        priority, submitted = self._priorities.get(task_id, (5, recorded.seq))
        return (1, -priority, submitted, recorded.seq)

    # -- cancellation ------------------------------------------------------------------------

    async def listen_for_cancels(self) -> None:
        self._cancel_sub = await self.nc.subscribe(subjects.TASK_ALL, cb=self._on_task_message)

    async def stop_listening(self) -> None:
        if self._cancel_sub is not None:
            with carry_on(log, "unsubscribing from cancellations"):
                await self._cancel_sub.unsubscribe()

    async def _on_task_message(self, msg: Msg) -> None:
        if (msg.headers or {}).get(TYPE_HEADER) != "TaskCancelled":
            return
        task_id = subjects.token_of(msg.subject, 2)
        job = self.running.get(task_id)
        if job is not None and not job.done():
            log.info("task %s cancelled: abandoning its model call", task_id)
            job.cancel()

    # -- the handler -------------------------------------------------------------------------

    async def handle(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        if not might_concern_us(recorded):
            return
        task_id = str(getattr(recorded.event, "task_id", ""))
        # The settings document is read fresh for every step a model may run; reading it
        # alongside the task's version costs one round trip instead of two.
        state, _ = await asyncio.gather(self._state(task_id, recorded), self.source.refresh())
        if state is None:
            return  # the task has ended since: nothing is due
        self._priorities[task_id] = (state.priority, state.submitted_seq)
        decision = decide(state, recorded.seq)
        if isinstance(decision, FailTask):
            failure = decision.failure
            await self._append(
                state,
                TaskFailed(
                    task_id=task_id,
                    stage=failure.stage,
                    code=failure.code,
                    message=failure.message,
                ),
                state.version,
                recorded,
            )
        elif isinstance(decision, RunStage):
            await self._run(state, decision, recorded, delivery)
        elif isinstance(decision, RequestApproval):
            await self._request_approval(state, decision, recorded)

    async def _request_approval(
        self, state: TaskState, gate: RequestApproval, cause: RecordedEvent
    ) -> None:
        """Stop at the gate: its deadline first (idempotent, harmless if the request below
        loses a race), then the request; the message is acknowledged and the task waits."""
        timeout = state.approval_timeout_s
        if timeout is not None:
            due_at = cause.envelope.occurred_at + timedelta(seconds=timeout)
            await self.store.append(
                subjects.timer(state.task_id),
                ApprovalDeadline(
                    task_id=state.task_id, gate=gate.gate, round=gate.round, due_at=due_at
                ),
                event_id=f"deadline-{state.task_id}-{gate.gate}-{gate.round}",
                correlation_id=state.task_id,
                causation_id=cause.id,
            )
        await self._append(
            state,
            ApprovalRequested(
                task_id=state.task_id,
                gate=gate.gate,
                round=gate.round,
                summary=self._gate_summary(state, gate),
                timeout_s=timeout,
            ),
            state.version,
            cause,
        )

    @staticmethod
    def _gate_summary(state: TaskState, gate: RequestApproval) -> str:
        if gate.gate == "plan":
            analysis = state.completed.get("analysis")
            return analysis.summary if analysis is not None else ""
        files, deleted = candidate(state)
        impl = state.last_implementation
        written = sorted(ref.path for ref in impl.files) if impl is not None else []
        text = f"{len(written)} file(s) to write: {', '.join(written) or 'none'}"
        if deleted:
            text += f"; {len(deleted)} to delete: {', '.join(deleted)}"
        return f"{text} ({len(files)} in the project after)"

    async def _state(self, task_id: str, recorded: RecordedEvent) -> TaskState | None:
        """The task's state now: the cached one when the stream has nothing newer (one cheap
        lookup of the last event instead of reading the whole task back), or the cached one
        with the message in hand applied when that is the only event past it (another writer's,
        such as the workspace's ChecksRecorded: the lookup of the first event past the cached
        version goes alongside). None when the task's last event ends it: nothing can be due,
        so a backlog of finished tasks (a replica catching up) is not read back task by task."""
        subject = subjects.task(task_id)
        cached = self._states.get(task_id)
        after = 0
        if cached is not None and cached.version < recorded.seq and recorded.subject == subject:
            (last, last_type), after = await asyncio.gather(
                self.store.last_of(subject), self.store.seq_after(subject, cached.version)
            )
        else:
            last, last_type = await self.store.last_of(subject)
        if last_type in TASK_END_TYPES:
            self._states.pop(task_id, None)
            return None
        if cached is not None and cached.version == last:
            self._states.move_to_end(task_id)
            return cached
        if cached is not None and after == recorded.seq == last:
            apply(cached, recorded)
            self._remember(cached)
            return cached
        if isinstance(recorded.event, TaskSubmitted) and recorded.seq == last:
            state = fold([recorded])  # a new task: its only event is the one in hand
        else:
            events, _ = await self.store.load(subject)
            state = fold(events)
        self._remember(state)
        return state

    def _remember(self, state: TaskState) -> None:
        if state.terminal:
            self._states.pop(state.task_id, None)
            return
        self._states[state.task_id] = state
        self._states.move_to_end(state.task_id)
        while len(self._states) > STATE_CACHE_SIZE:
            self._states.popitem(last=False)

    async def _append(
        self, state: TaskState, event: Event, expected: int, cause: RecordedEvent
    ) -> int | None:
        subject = subjects.task(state.task_id)
        envelope = Envelope.wrap(event, correlation_id=state.task_id, causation_id=cause.id)
        try:
            seq = await self.store.append_envelope(subject, envelope, expected_last_seq=expected)
        except ConcurrencyConflict:
            log.info("task %s moved on (%s not recorded)", state.task_id, type(event).__name__)
            self._states.pop(state.task_id, None)
            return None
        if state.version == expected:
            apply(state, RecordedEvent(envelope=envelope, subject=subject, seq=seq))
            self._remember(state)
        return seq

    async def _run(
        self, state: TaskState, step: RunStage, cause: RecordedEvent, delivery: Delivery
    ) -> None:
        agent = STAGE_AGENT[step.stage]
        resolved = self.source.resolve(agent)
        meter = self._meter(state, resolved)
        checks = checks_of(state, step.round) if step.stage == "validation" else None
        if checks is None:
            started_seq = await self._append(
                state,
                StageStarted(
                    task_id=state.task_id,
                    stage=step.stage,
                    agent=agent,
                    round=step.round,
                    provider=resolved.provider,
                    model=resolved.model,
                    worker=self.instance,
                ),
                state.version,
                cause,
            )
            if started_seq is None:
                return
        else:
            started_seq = state.version  # the review goes on with the stage the checks paused
        outcome: StageResult | Rejected | StageFailed
        if not resolved.key_configured:
            outcome = self._failed(
                state,
                step,
                ErrorCode.API_KEY_MISSING,
                f"no API key configured for {resolved.provider} (agent {agent})",
            )
        elif step.stage == "validation" and checks is None:
            await self._request_checks(state, step, started_seq, cause)
            return
        else:
            job = asyncio.create_task(
                self._call(
                    state, step, resolved=resolved, meter=meter, delivery=delivery, checks=checks
                )
            )
            self.running[state.task_id] = job
            try:
                outcome = await job
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the service is stopping: leave the message for redelivery
                return  # the task was cancelled; nothing more to record
            finally:
                self.running.pop(state.task_id, None)
        await self._record(state, step, outcome, started_seq, cause)

    def _meter(self, state: TaskState, resolved: ResolvedProvider) -> Meter:
        """The stage's budget: what the task may still spend, at this model's price."""
        return Meter(
            budget=state.budget,
            spent_before=spent_of(state.usages),
            price=price_of(resolved.model, self.source.current.pricing),
            provider=resolved.provider,
            model=resolved.model,
            max_tokens=self.settings.agents_max_tokens,
            min_output=self.settings.agents_min_output_tokens,
        )

    async def _request_checks(
        self, state: TaskState, step: RunStage, started_seq: int, cause: RecordedEvent
    ) -> None:
        """Validation's first step: reject what fails without running, else hand the candidate
        files to the workspace service and let go (ChecksRecorded brings the review back)."""
        if unchanged_files(state):
            failure = self._no_progress(
                state, step, "the implementer returned the same files as the round before"
            )
            await self._record(state, step, failure, started_seq, cause)
            return
        prepared = await self.stages.prepare_validation(state)
        if isinstance(prepared, Rejected):
            await self._record(state, step, prepared, started_seq, cause)
            return
        request = ChecksRequested(
            task_id=state.task_id, round=step.round, files=prepared.files, plan=prepared.plan
        )
        await self._append(state, request, started_seq, cause)

    async def _call(
        self,
        state: TaskState,
        step: RunStage,
        *,
        resolved: ResolvedProvider,
        meter: Meter,
        delivery: Delivery,
        checks: ChecksRecorded | None,
    ) -> StageResult | Rejected | StageFailed:
        """Run the stage with a metered model; its outcome carries what the meter counted."""
        model = MeteredModel(await self.clients.model_for(resolved), meter)
        try:
            outcome = await self._stage(
                state, step, model=model, resolved=resolved, delivery=delivery, checks=checks
            )
        except ModelError as exc:
            log.warning("task %s %s failed: %s", state.task_id, step.stage, exc.message)
            return self._failed(state, step, exc.code, exc.message, meter.usage)
        if isinstance(outcome, StageFailed):
            return outcome.model_copy(update={"usage": meter.usage})
        return replace(outcome, usage=meter.usage)

    async def _stage(
        self,
        state: TaskState,
        step: RunStage,
        *,
        model: MeteredModel,
        resolved: ResolvedProvider,
        delivery: Delivery,
        checks: ChecksRecorded | None,
    ) -> StageResult | Rejected | StageFailed:
        publish = self._publisher(state.task_id, resolved.agent, step)
        # The SDK's timeout bounds each attempt's connect and each read; this bounds the whole
        # stage, so a stream that keeps dribbling tokens cannot hold a slot for ever.
        budget = self.settings.agents_llm_timeout * (self.settings.agents_llm_max_retries + 1)
        scope = asyncio.timeout(budget)
        try:
            async with scope:
                if step.stage == "analysis":
                    return await self.stages.analysis(state, model, resolved, publish)
                if step.stage == "implementation":
                    return await self.stages.implementation(
                        state, step.round, model, resolved, publish
                    )
                ran = checks.checks if checks is not None else ()
                return await self.stages.review(state, ran, model, resolved, publish)
        except ModelError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and scope.expired():
                message = f"{resolved.provider}: no answer within {budget:.0f}s"
                return self._failed(state, step, ErrorCode.AGENT_UNAVAILABLE, message)
            # Any other timeout is NATS's (storing or loading files), not the model's: the
            # message goes back to the queue and the stage runs again once NATS answers.
            if not delivery.is_last_attempt:
                raise
            log.exception("task %s %s: giving up", state.task_id, step.stage)
            return self._failed(
                state, step, ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}"
            )

    def _failed(
        self,
        state: TaskState,
        step: RunStage,
        code: ErrorCode,
        message: str,
        usage: Usage | None = None,
    ) -> StageFailed:
        return StageFailed(
            task_id=state.task_id,
            stage=step.stage,
            agent=STAGE_AGENT[step.stage],
            round=step.round,
            code=code,
            message=message,
            usage=usage or Usage(),
        )

    def _no_progress(
        self, state: TaskState, step: RunStage, why: str, usage: Usage | None = None
    ) -> StageFailed:
        return self._failed(
            state,
            step,
            ErrorCode.VALIDATION_FAILED,
            f"no progress after {step.round} round(s): {why}",
            usage,
        )

    async def _record(
        self,
        state: TaskState,
        step: RunStage,
        outcome: StageResult | Rejected | StageFailed,
        started_seq: int,
        cause: RecordedEvent,
    ) -> None:
        event: StageCompleted | ValidationFailed | StageFailed
        if isinstance(outcome, StageFailed):
            event = outcome
        elif isinstance(outcome, Rejected):
            verdict = validation_outcome(False, state, self.settings.agents_max_rounds)
            if verdict == "retry" and repeated_findings(state, outcome.findings):
                event = self._no_progress(
                    state,
                    step,
                    "validation found the same as the round before: "
                    + "; ".join(outcome.findings)[:2000],
                    outcome.usage,
                )
            elif verdict == "retry":
                event = ValidationFailed(
                    task_id=state.task_id,
                    round=step.round,
                    findings=outcome.findings,
                    usage=outcome.usage,
                    checks=outcome.checks,
                )
            else:
                event = self._failed(
                    state,
                    step,
                    ErrorCode.VALIDATION_FAILED,
                    f"validation failed after {step.round} round(s): "
                    + "; ".join(outcome.findings)[:2000],
                    outcome.usage,
                )
        else:
            event = StageCompleted(
                task_id=state.task_id,
                stage=step.stage,
                agent=STAGE_AGENT[step.stage],
                round=step.round,
                summary=outcome.summary,
                detail=outcome.detail,
                files=outcome.files,
                deleted=outcome.deleted,
                usage=outcome.usage,
                checks=outcome.checks,
            )
        spent = spent_of([*state.usages, event.usage])  # the task's, for live frames
        await self._append(state, event.model_copy(update={"spent": spent}), started_seq, cause)

    def _publisher(self, task_id: str, agent: str, step: RunStage) -> Any:
        subject = subjects.model_output(task_id)
        enabled = self.settings.agents_stream_output

        async def publish(text: str) -> None:
            if not enabled:
                return
            frame = ModelOutput(
                task_id=task_id, agent=agent, stage=step.stage, round=step.round, text=text
            )
            # Live tokens are a courtesy: the stage's outcome is what is recorded.
            with carry_on(
                log, "relaying model output", correlation_id=task_id, level=logging.DEBUG
            ):
                await self.nc.publish(subject, frame.model_dump_json().encode())

        return publish
