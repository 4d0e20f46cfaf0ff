"""What the model calls consumed, by day, agent, provider and model, rebuilt from the events.

Every stage outcome that called a model carries its ``Usage`` (``StageCompleted``,
``ValidationFailed``, ``StageFailed``); nothing else is counted, so the totals are exactly what
the providers reported. A cost is ``None`` where a call's model had no price: a total that
includes it is unknown (``cost_usd: null``, with ``unpriced_calls`` saying how many), never a
silent undercount. Memory is one row per (day, agent, provider, model), plus the provider and
model of each stage running now (for outcomes recorded before ``Usage`` named them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from orchestrator.events import RecordedEvent, subjects
from orchestrator.events.catalog import (
    STAGE_AGENT,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    Usage,
    ValidationFailed,
)

from .plain import Plain

Key = tuple[str, str, str, str]
"""(day, agent, provider, model)."""


@dataclass
class Totals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    """The priced calls' cost."""
    unpriced_calls: int = 0

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.unpriced_calls += other.unpriced_calls

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.input_tokens + self.output_tokens,
            "cost_usd": None if self.unpriced_calls else round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
        }


def _agent_of(event: object) -> str | None:
    if isinstance(event, StageCompleted | StageFailed):
        return event.agent
    if isinstance(event, ValidationFailed):
        return STAGE_AGENT["validation"]
    return None


def _grouped(by: Callable[[Key], str], rows: Iterable[tuple[Key, Totals]]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for key, totals in rows:
        out.setdefault(by(key), Totals()).add(totals)
    return out


class UsageLedger:
    def __init__(self) -> None:
        self.rows: dict[Key, Totals] = {}
        self._running: dict[str, tuple[str | None, str | None]] = {}

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if not subjects.is_task(recorded.subject):
            return
        if isinstance(event, StageStarted):
            self._running[event.task_id] = (event.provider, event.model)
            return
        if isinstance(event, TaskCancelled | TaskCompleted | TaskFailed):
            self._running.pop(event.task_id, None)
            return
        usage: Usage | None = getattr(event, "usage", None)
        agent = _agent_of(event)
        if usage is None or agent is None:
            return
        provider, model = self._running.pop(getattr(event, "task_id", ""), (None, None))
        if not usage.calls and not usage.tokens:
            return
        day = recorded.envelope.occurred_at.date().isoformat()
        provider = usage.provider or provider or "unknown"
        key = (day, agent, provider, usage.model or model or "unknown")
        row = self.rows.setdefault(key, Totals())
        row.add(
            Totals(
                calls=usage.calls or 1,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=usage.cost_usd or 0.0,
                unpriced_calls=(usage.calls or 1) if usage.cost_usd is None else 0,
            )
        )

    def snapshot(self) -> Plain:
        return {
            "rows": [[list(key), vars(totals)] for key, totals in self.rows.items()],
            "running": [[task, list(pm)] for task, pm in self._running.items()],
        }

    def restore(self, plain: Plain) -> None:
        self.rows = {
            (key[0], key[1], key[2], key[3]): Totals(**totals) for key, totals in plain["rows"]
        }
        self._running = {task: (pm[0], pm[1]) for task, pm in plain["running"]}

    def report(self, since: date | None = None, until: date | None = None) -> dict[str, Any]:
        """Totals overall, by agent, provider and model, and the same for each day."""
        rows = [
            (key, totals)
            for key, totals in sorted(self.rows.items())
            if (since is None or key[0] >= since.isoformat())
            and (until is None or key[0] <= until.isoformat())
        ]
        total = Totals()
        for _, totals in rows:
            total.add(totals)

        def breakdown(part: list[tuple[Key, Totals]]) -> dict[str, Any]:
            return {
                name: {k: t.to_json() for k, t in sorted(_grouped(by, part).items())}
                for name, by in (
                    ("by_agent", lambda key: key[1]),
                    ("by_provider", lambda key: key[2]),
                    ("by_model", lambda key: key[3]),
                )
            }

        days = sorted({key[0] for key, _ in rows})
        per_day = []
        for day in days:
            part = [(k, t) for k, t in rows if k[0] == day]
            day_total = Totals()
            for _, totals in part:
                day_total.add(totals)
            per_day.append({"day": day, "total": day_total.to_json(), **breakdown(part)})
        return {"total": total.to_json(), **breakdown(rows), "days": per_day}

    def by_agent_provider(self) -> dict[tuple[str, str], Totals]:
        out: dict[tuple[str, str], Totals] = {}
        for (_, agent, provider, _), totals in self.rows.items():
            out.setdefault((agent, provider), Totals()).add(totals)
        return out
