"""The three model stages: each turns a task's state into an outcome, calling its agent's model.

A stage returns what to record (``StageResult``, ``Rejected`` or, for validation's first step,
``RunChecks``) and raises :class:`~.errors.ModelError` when its model cannot be reached;
recording is the caller's job, and so is counting what the calls consumed (the model it is
given meters them: see :mod:`.budget`). Validation is two steps with a durable wait between
them: the candidate files go to the workspace service to be run (``ChecksRequested``), and the
review happens when their outcome is recorded (``ChecksRecorded``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.js.object_store import ObjectStore

from orchestrator.events.agent_providers import ResolvedProvider
from orchestrator.events.catalog import CheckOutcome, FileRef, RunPlan, Usage
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.objects import put_content

from . import prompts
from .answers import (
    check_findings,
    checks_summary,
    describe_checks,
    describe_earlier_failures,
    read_file_ops,
    run_plan,
)
from .domain import TaskState, candidate
from .errors import ModelError
from .providers import ChatModel, Completion, Prompt, parse_json
from .sandbox_world import SandboxWorldSource
from .static_checks import run_checks
from .workspace_view import WorkspaceView

Publish = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class StageResult:
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileRef, ...] = ()
    deleted: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    checks: tuple[CheckOutcome, ...] = ()


@dataclass(frozen=True)
class RunChecks:
    """Validation's first step passed the static checks: run these files in the sandbox."""

    files: tuple[FileRef, ...]
    plan: RunPlan


@dataclass(frozen=True)
class Rejected:
    """Validation did not pass."""

    findings: tuple[str, ...]
    summary: str
    usage: Usage = field(default_factory=Usage)
    checks: tuple[CheckOutcome, ...] = ()


CONTENT_CACHE_BYTES = 32 << 20
WORLD_WAIT = 2.0
"""Seconds a stage waits for the sandbox's world when no workspace heartbeat has told it yet."""


class Stages:
    def __init__(
        self,
        files: ObjectStore,
        workspace: WorkspaceView,
        world: SandboxWorldSource,
        cache_bytes: int = CONTENT_CACHE_BYTES,
    ) -> None:
        self.files = files
        self.workspace = workspace
        self.world = world
        # Bytes this replica stored or read, by digest: validation reads back the files the
        # implementation just stored (an object-store get is several round trips). Content is
        # addressed by its sha256, so a cached copy can never be stale.
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0

    async def analysis(
        self, state: TaskState, model: ChatModel, resolved: ResolvedProvider, publish: Publish
    ) -> StageResult:
        others = await self.workspace.outside_project(
            state.workspace_version, state.outside_version
        )
        shown = await self._project_shown(state.project, others, wanted=None)
        completion = await self._plan(state, model, publish, others, shown)
        plan = _plan_of(completion)
        wanted = {str(p) for p in plan.get("read_files") or [] if isinstance(p, str)}
        every = {ref.path for ref in state.project} | {ref.path for ref in others}
        if wanted & (every - set(shown[0]) - set(shown[1])):
            # It did not fit whole: show the analyst the files it asked for, once.
            shown = await self._project_shown(state.project, others, wanted=wanted)
            again = await self._plan(state, model, publish, others, shown)
            plan = _plan_of(again)
        summary = str(plan.get("summary") or "").strip() or completion.text.strip()[:2000]
        detail: dict[str, Any] = {"plan": plan, "project_files": len(state.project)}
        if others:
            detail["workspace_files"] = len(others)
        if state.plan_revisions:
            detail["revision"] = state.plan_round
        return StageResult(summary=summary, detail=detail)

    async def _plan(
        self,
        state: TaskState,
        model: ChatModel,
        publish: Publish,
        others: tuple[FileRef, ...],
        shown: tuple[dict[str, str], dict[str, str]],
    ) -> Completion:
        context = state.metadata.get("project_context")
        return await model.complete(
            Prompt(
                prompts.analyst(await self.world.current(WORLD_WAIT)),
                prompts.analysis_prompt(
                    state.task_id,
                    state.requirement,
                    _workspace_block(state.project, others, shown),
                    context if isinstance(context, dict) and context else None,
                    state.plan_revisions,
                ),
                "plan",
                prompts.PLAN_SCHEMA,
            ),
            publish,
        )

    async def implementation(
        self,
        state: TaskState,
        round_: int,
        model: ChatModel,
        resolved: ResolvedProvider,
        publish: Publish,
    ) -> StageResult:
        plan = _plan(state)
        previous = await self._previous_files(state) if round_ > 1 else {}
        planned = {str(f.get("path")) for f in plan.get("files") or [] if isinstance(f, dict)}
        others = await self.workspace.outside_project(
            state.workspace_version, state.outside_version
        )
        shown = await self._project_shown(state.project, others, wanted=planned or None)
        completion = await model.complete(
            Prompt(
                prompts.implementer(await self.world.current(WORLD_WAIT)),
                prompts.implementation_prompt(
                    task_id=state.task_id,
                    requirement=state.requirement,
                    plan=plan,
                    round_=round_,
                    findings=state.findings,
                    previous=previous,
                    project=_workspace_block(state.project, others, shown)
                    if state.project or others
                    else "",
                    feedback=state.change_feedback,
                ),
                "files",
                prompts.FILES_SCHEMA,
            ),
            publish,
        )
        answer = parse_json(completion.text)
        if answer is None or not isinstance(answer.get("files"), list):
            raise ModelError(
                ErrorCode.AGENT_UNAVAILABLE,
                f"{resolved.agent}: the model's answer is not the files JSON",
            )
        ops = read_file_ops(answer, {ref.path for ref in state.project})
        refs = await self._store_all(ops.writes)
        names = ", ".join(ref.path for ref in refs) or "none"
        model_summary = str(answer.get("summary") or "").strip()
        summary = f"{len(refs)} file(s): {names}"
        if ops.deletes:
            summary += f"; deleted {', '.join(ops.deletes)}"
        if model_summary:
            summary += f". {model_summary}"
        detail: dict[str, Any] = {"round": round_}
        if ops.problems:
            detail["problems"] = list(ops.problems)
        return StageResult(
            summary=summary,
            detail=detail,
            files=refs,
            deleted=ops.deletes,
        )

    async def prepare_validation(self, state: TaskState) -> RunChecks | Rejected:
        """Validation's first step: what the implementer's answer and the compiler say, without
        running anything; if they find nothing, the candidate files to run."""
        impl = state.last_implementation
        problems = tuple(str(p) for p in (impl.detail.get("problems") or [])) if impl else ()
        written = impl.files if impl is not None else ()
        data = await asyncio.gather(*(self._load(ref) for ref in written))
        report = run_checks(
            {ref.path: body for ref, body in zip(written, data, strict=True)},
            deleted=bool(impl and impl.deleted),
        )
        findings = problems + report.findings
        if findings:
            # No sandbox run and no model call: the answer or the compiler says what is wrong.
            return Rejected(findings, report.summary())
        files, _ = candidate(state)
        return RunChecks(tuple(files[path] for path in sorted(files)), run_plan(_plan(state)))

    async def review(
        self,
        state: TaskState,
        checks: tuple[CheckOutcome, ...],
        model: ChatModel,
        resolved: ResolvedProvider,
        publish: Publish,
    ) -> StageResult | Rejected:
        """Validation's second step, once the sandbox's outcome is recorded."""
        failed = check_findings(checks)
        if failed:
            return Rejected(failed, "the code did not pass its checks", checks=checks)
        files, deleted = candidate(state)
        refs = [files[path] for path in sorted(files)]
        data = await asyncio.gather(*(self._load(ref) for ref in refs))
        texts = {
            ref.path: body.decode(errors="replace") for ref, body in zip(refs, data, strict=True)
        }
        completion = await model.complete(
            Prompt(
                prompts.VALIDATOR,
                prompts.review_prompt(
                    state.task_id,
                    state.requirement,
                    _plan(state),
                    texts,
                    describe_checks(checks),
                    deleted=deleted,
                    earlier_failures=describe_earlier_failures(state.failed_checks),
                ),
                "review",
                prompts.REVIEW_SCHEMA,
            ),
            publish,
        )
        review = parse_json(completion.text)
        if review is None:
            raise ModelError(
                ErrorCode.AGENT_UNAVAILABLE, f"{resolved.agent}: the review is not JSON"
            )
        summary = str(review.get("summary") or "").strip()
        findings = tuple(str(f) for f in review.get("findings") or [] if str(f).strip())
        if review.get("passed") is not True:
            rejected = findings or ("the reviewer rejected the files",)
            return Rejected(rejected, summary, checks=checks)
        ran = checks_summary(checks)
        return StageResult(
            summary=f"{summary} (checks: {ran})" if summary else f"checks: {ran}",
            detail={
                "checks": [c.model_dump(mode="json") for c in checks],
                "findings": list(findings),
            },
            checks=checks,
        )

    async def _project_shown(
        self,
        project: tuple[FileRef, ...],
        others: tuple[FileRef, ...] = (),
        *,
        wanted: set[str] | None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Contents to show a model of the project and of the workspace's ``others`` (files
        outside the project): all of them when they fit the budget, else the ``wanted`` files
        first, then the smallest, until the budget is spent."""
        entries = [(True, ref) for ref in project] + [(False, ref) for ref in others]
        if sum(ref.size for _, ref in entries) > prompts.PROJECT_CHARS:
            first = [e for e in entries if wanted and e[1].path in wanted]
            rest = sorted((e for e in entries if e not in first), key=lambda e: e[1].size)
            chosen, budget = [], prompts.PROJECT_CHARS
            for entry in [*first, *rest]:
                if entry[1].size <= budget:
                    chosen.append(entry)
                    budget -= entry[1].size
            entries = chosen
        data = await asyncio.gather(*(self._load(ref) for _, ref in entries))
        shown: tuple[dict[str, str], dict[str, str]] = ({}, {})
        for (inside, ref), body in zip(entries, data, strict=True):
            shown[0 if inside else 1][ref.path] = body.decode(errors="replace")
        return shown

    async def _store_all(self, writes: dict[str, bytes]) -> tuple[FileRef, ...]:
        """The files' refs, by path, their bytes stored: every distinct content at once (a put
        is up to four round trips; one file after the other, N files cost N times that), and
        each once (two puts of one digest would race and leave one copy's chunks unreferenced)."""
        distinct = list(dict.fromkeys(writes.values()))
        digests = await asyncio.gather(*(self._store(data) for data in distinct))
        digest_of = dict(zip(distinct, digests, strict=True))
        return tuple(
            FileRef(path=path, digest=digest_of[data], size=len(data))
            for path, data in sorted(writes.items())
        )

    async def _store(self, data: bytes) -> str:
        digest = await put_content(self.files, data)
        self._keep(digest, data)
        return digest

    async def _load(self, ref: FileRef) -> bytes:
        cached = self._cache.get(ref.digest)
        if cached is not None:
            self._cache.move_to_end(ref.digest)
            return cached
        result = await self.files.get(ref.digest)
        data = result.data or b""
        if hashlib.sha256(data).hexdigest() == ref.digest:
            self._keep(ref.digest, data)
        return data

    def _keep(self, digest: str, data: bytes) -> None:
        if digest in self._cache or len(data) > self._cache_bytes:
            return
        self._cache[digest] = data
        self._cached += len(data)
        while self._cached > self._cache_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped)

    async def _previous_files(self, state: TaskState) -> dict[str, str]:
        impl = state.last_implementation
        if impl is None:
            return {}
        return {ref.path: (await self._load(ref)).decode(errors="replace") for ref in impl.files}


def _workspace_block(
    project: tuple[FileRef, ...],
    others: tuple[FileRef, ...],
    shown: tuple[dict[str, str], dict[str, str]],
) -> str:
    return prompts.project_block(
        [(ref.path, ref.size) for ref in project],
        shown[0],
        [(ref.path, ref.size) for ref in others],
        shown[1],
    )


def _plan_of(completion: Completion) -> dict[str, Any]:
    plan = parse_json(completion.text)
    # A model without structured output still gives a usable plan: its prose.
    return plan if plan is not None else {"summary": completion.text.strip(), "files": []}


def _plan(state: TaskState) -> dict[str, Any]:
    analysis = state.completed.get("analysis")
    plan = analysis.detail.get("plan") if analysis else None
    return plan if isinstance(plan, dict) else {}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
