"""The three model stages: each turns a task's state into an outcome, calling its agent's model.

A stage returns what to record (``StageResult`` or ``Rejected``) and raises
:class:`~.providers.ModelError` when its model cannot be reached; recording is the caller's job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from orchestrator.events.agent_providers import ResolvedProvider
from orchestrator.events.catalog import FileRef, Usage
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.paths import UnsafePath, model_path

from . import prompts
from .domain import TaskState
from .errors import ModelError
from .pricing import cost_usd
from .providers import ChatModel, Completion, parse_json
from .static_checks import run_checks

MAX_FILES = 100
MAX_FILE_BYTES = 512 * 1024

Publish = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class StageResult:
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileRef, ...] = ()
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Rejected:
    """Validation did not pass."""

    findings: tuple[str, ...]
    summary: str
    usage: Usage = field(default_factory=Usage)


def usage_of(completion: Completion, model: str) -> Usage:
    return Usage(
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost_usd=cost_usd(model, completion.input_tokens, completion.output_tokens),
    )


CONTENT_CACHE_BYTES = 32 << 20


class Stages:
    def __init__(self, files: ObjectStore, cache_bytes: int = CONTENT_CACHE_BYTES) -> None:
        self.files = files
        # Bytes this replica stored or read, by digest: validation reads back the files the
        # implementation just stored (an object-store get is several round trips). Content is
        # addressed by its sha256, so a cached copy can never be stale.
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0

    async def analysis(
        self, state: TaskState, model: ChatModel, resolved: ResolvedProvider, publish: Publish
    ) -> StageResult:
        completion = await model.complete(
            prompts.ANALYST,
            prompts.analysis_prompt(state.task_id, state.requirement),
            "plan",
            prompts.PLAN_SCHEMA,
            publish,
        )
        plan = parse_json(completion.text)
        if plan is None:
            # A model without structured output still gives a usable plan: its prose.
            plan = {"summary": completion.text.strip(), "files": []}
        summary = str(plan.get("summary") or "").strip() or completion.text.strip()[:2000]
        return StageResult(
            summary=summary, detail={"plan": plan}, usage=usage_of(completion, resolved.model)
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
        completion = await model.complete(
            prompts.IMPLEMENTER,
            prompts.implementation_prompt(
                task_id=state.task_id,
                requirement=state.requirement,
                plan=plan,
                round_=round_,
                findings=state.findings,
                previous=previous,
            ),
            "files",
            prompts.FILES_SCHEMA,
            publish,
        )
        answer = parse_json(completion.text)
        if answer is None or not isinstance(answer.get("files"), list):
            raise ModelError(
                ErrorCode.AGENT_UNAVAILABLE,
                f"{resolved.agent}: the model's answer is not the files JSON",
            )
        files: dict[str, bytes] = {}
        skipped: list[str] = []
        for item in answer["files"][:MAX_FILES]:
            if not isinstance(item, dict):
                continue
            try:
                path: str | None = model_path(str(item.get("path", "")))
            except UnsafePath:
                path = None
            content = item.get("content")
            if path is None or not isinstance(content, str):
                skipped.append(str(item.get("path", ""))[:200])
                continue
            data = content.encode()
            if len(data) > MAX_FILE_BYTES:
                skipped.append(path)
                continue
            files[path] = data
        refs = tuple([await self._store(path, data) for path, data in sorted(files.items())])
        names = ", ".join(ref.path for ref in refs) or "none"
        model_summary = str(answer.get("summary") or "").strip()
        summary = f"{len(refs)} file(s): {names}" + (f". {model_summary}" if model_summary else "")
        detail: dict[str, Any] = {"round": round_}
        if skipped:
            detail["skipped_paths"] = skipped
        return StageResult(
            summary=summary, detail=detail, files=refs, usage=usage_of(completion, resolved.model)
        )

    async def validation(
        self,
        state: TaskState,
        model: ChatModel,
        resolved: ResolvedProvider,
        publish: Publish,
    ) -> StageResult | Rejected:
        impl = state.last_implementation
        refs = impl.files if impl is not None else ()
        data = await asyncio.gather(*(self._load(ref) for ref in refs))
        contents = {ref.path: body for ref, body in zip(refs, data, strict=True)}
        report = run_checks(contents)
        if not report.passed:
            # No model call: the compiler already said what is wrong.
            return Rejected(report.findings, report.summary())
        texts = {path: data.decode() for path, data in contents.items()}
        completion = await model.complete(
            prompts.VALIDATOR,
            prompts.review_prompt(
                state.task_id, state.requirement, _plan(state), texts, report.summary()
            ),
            "review",
            prompts.REVIEW_SCHEMA,
            publish,
        )
        usage = usage_of(completion, resolved.model)
        review = parse_json(completion.text)
        if review is None:
            raise ModelError(
                ErrorCode.AGENT_UNAVAILABLE, f"{resolved.agent}: the review is not JSON"
            )
        summary = str(review.get("summary") or "").strip()
        findings = tuple(str(f) for f in review.get("findings") or [] if str(f).strip())
        if review.get("passed") is not True:
            return Rejected(findings or ("the reviewer rejected the files",), summary, usage)
        return StageResult(
            summary=f"{summary} ({report.summary()})" if summary else report.summary(),
            detail={"checks": report.summary(), "findings": list(findings)},
            usage=usage,
        )

    async def _store(self, path: str, data: bytes) -> FileRef:
        digest = hashlib.sha256(data).hexdigest()
        try:
            await self.files.get_info(digest)
        except NotFoundError:
            await self.files.put(digest, data)
        self._keep(digest, data)
        return FileRef(path=path, digest=digest, size=len(data))

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


def _plan(state: TaskState) -> dict[str, Any]:
    analysis = state.completed.get("analysis")
    plan = analysis.detail.get("plan") if analysis else None
    return plan if isinstance(plan, dict) else {}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
