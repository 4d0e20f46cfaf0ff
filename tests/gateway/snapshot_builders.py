"""What the snapshot tests build on both sides (pure folds, gateway processes): a task left
waiting at a gate (the state whose restore must keep one dict in two places), and a snapshot
with its header or its read models changed."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import orjson

from orchestrator.events.catalog import (
    ApprovalRequested,
    Event,
    StageCompleted,
    StageStarted,
    TaskSubmitted,
    Usage,
)


def waiting_at_a_gate(task_id: str) -> list[Event]:
    """A task submitted with a plan gate, analysed (an unpriced call), waiting for approval."""
    return [
        TaskSubmitted(task_id=task_id, requirement="gated", priority=3, approval=("plan",)),
        StageStarted(task_id=task_id, stage="analysis", agent="claude", provider="anthropic"),
        StageCompleted(
            task_id=task_id,
            stage="analysis",
            agent="claude",
            summary="the plan",
            usage=Usage(input_tokens=5, output_tokens=7, cost_usd=None, calls=1),
        ),
        ApprovalRequested(task_id=task_id, gate="plan", round=1, summary="the plan"),
    ]


def with_header(data: bytes, **changes: Any) -> bytes:
    """The snapshot ``data`` with ``changes`` made to its header line."""
    head, _, body = data.partition(b"\n")
    return orjson.dumps({**orjson.loads(head), **changes}) + b"\n" + body


def with_models(data: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    """The snapshot ``data`` with ``change`` made to its read models (the header kept)."""
    first, _, body = data.partition(b"\n")
    head = orjson.loads(first)
    models = orjson.loads(zlib.decompress(body[: head["main"]]))
    change(models)
    main = zlib.compress(orjson.dumps(models))
    return orjson.dumps({**head, "main": len(main)}) + b"\n" + main + body[head["main"] :]
