"""How results are shown: rich tables for people, one JSON object per line for programs.

``--json`` output goes to stdout through ``emit`` untouched by rich (no wrapping, no colour), so
every line parses on its own; everything for people goes through ``Output.console``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator_client import (
    ArchiveFiles,
    ArchiveList,
    FileList,
    Health,
    Settings,
    Task,
    TaskList,
    UsageReport,
)

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "in_progress": "cyan",
    "created": "white",
    "running": "cyan",
    "rejected": "yellow",
    "up": "green",
    "down": "red",
    "ok": "green",
    "degraded": "yellow",
}


def styled(status: str | None) -> str:
    text = escape(status or "-")
    style = STATUS_STYLE.get(status or "")
    return f"[{style}]{text}[/{style}]" if style else text


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def money(value: float | None, digits: int = 4) -> str:
    """A cost; ``unknown`` when a model without a price was called."""
    return "unknown" if value is None else f"${value:.{digits}f}"


def emit(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    """One JSON object on one line of stdout: a model as the gateway sent it, no field added."""
    data = (
        value.model_dump(mode="json", exclude_unset=True) if isinstance(value, BaseModel) else value
    )
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)

    def show(self, value: BaseModel, human: str | Table | None = None) -> None:
        """``value`` as JSON, or ``human`` (default: the model's fields) for people."""
        if self.as_json:
            emit(value)
        elif human is not None:
            self.console.print(human)
        else:
            for key, field in value.model_dump(mode="json").items():
                self.console.print(f"[bold]{escape(key)}[/bold]: {escape(str(field))}")


def tasks_table(tasks: TaskList) -> Table:
    table = Table(box=None)
    # Ids are what people copy into the next command: never shortened, the requirement is.
    table.add_column(
        "task", no_wrap=True, min_width=max((len(t.id) for t in tasks.tasks), default=4)
    )
    for name, width in (("status", 11), ("stage", 14), ("progress", 8), ("cost", 8)):
        table.add_column(name, no_wrap=True, min_width=width)
    table.add_column("requirement", no_wrap=True, overflow="ellipsis")
    for task in tasks.tasks:
        table.add_row(
            task.id,
            styled(task.status),
            task.stage or "-",
            f"{task.progress}%",
            money(task.cost_usd),
            escape(task.requirement[:60]),
        )
    return table


def task_report(task: Task) -> Table:
    """A task: its state, each stage run with its tokens and cost, its files, its error."""
    table = Table.grid(padding=(0, 2))
    table.add_row("[bold]task[/bold]", task.id)
    table.add_row("[bold]status[/bold]", f"{styled(task.status)} ({task.progress}%)")
    table.add_row("[bold]requirement[/bold]", escape(task.requirement))
    table.add_row("[bold]priority[/bold]", str(task.priority))
    stages = Table("stage", "agent", "round", "status", "tokens in/out", "cost", box=None)
    for run in task.stages:
        usage = task.usage.get(run.stage)
        stages.add_row(
            run.stage,
            run.agent or "-",
            str(run.round),
            styled(run.status),
            f"{usage.input_tokens}/{usage.output_tokens}" if usage else "-",
            money(usage.cost_usd) if usage else "-",
        )
    table.add_row("[bold]stages[/bold]", stages)
    for round_ in task.validation_rounds:
        findings = "; ".join(round_.findings) or "-"
        table.add_row(f"[bold]review {round_.round}[/bold]", escape(findings))
    files = "\n".join(f"{escape(f.path)}  ({size(f.size)})" for f in task.files) or "-"
    table.add_row("[bold]files[/bold]", files)
    table.add_row(
        "[bold]cost[/bold]",
        f"{money(task.cost_usd, 6)} ({task.tokens.input} tokens in, {task.tokens.output} out)",
    )
    if task.budget is not None:
        limits = [
            f"${task.budget.max_cost_usd}" if task.budget.max_cost_usd is not None else "",
            f"{task.budget.max_tokens} tokens" if task.budget.max_tokens is not None else "",
        ]
        table.add_row("[bold]budget[/bold]", " and ".join(x for x in limits if x))
    if task.approval is not None:
        table.add_row(
            "[bold]waiting[/bold]",
            f"at the {task.approval.gate} gate: {escape(task.approval.summary[:300])}",
        )
    if task.error is not None:
        error = f"{task.error.code}: {task.error.message}"
        table.add_row("[bold red]error[/bold red]", escape(error))
    return table


def usage_table(report: UsageReport) -> Table:
    """Tokens and cost by agent, provider and model, and the total."""
    table = Table("by", "name", "calls", "tokens in", "tokens out", "cost", box=None)
    groups = (
        ("agent", report.by_agent),
        ("provider", report.by_provider),
        ("model", report.by_model),
        ("total", {"all": report.total}),
    )
    for kind, totals in groups:
        for name, t in totals.items():
            table.add_row(
                kind,
                escape(name),
                str(t.calls),
                str(t.input_tokens),
                str(t.output_tokens),
                money(t.cost_usd),
            )
    return table


def files_table(files: FileList) -> Table:
    table = Table("path", "size", "runnable", "command", box=None)
    for f in files.files:
        table.add_row(
            escape(f.path),
            size(f.size),
            "yes" if f.runnable else "",
            escape(f.metadata.command or ""),
        )
    return table


def archives_table(archives: ArchiveList) -> Table:
    table = Table("archive", "created", "files", "size", box=None)
    for a in archives.archives:
        table.add_row(a.name, a.created, str(a.files), a.size)
    return table


def archive_files_table(files: ArchiveFiles) -> Table:
    table = Table("path", "size", box=None, title=f"archive {files.archive}")
    for f in files.files:
        table.add_row(escape(f.path), size(f.size))
    return table


def settings_table(settings: Settings) -> Table:
    def key(status: Any) -> str:
        if not status.configured:
            return "[dim]not set[/dim]"
        return f"set (…{status.last_four})" if status.last_four else "set"

    table = Table.grid(padding=(0, 2))
    table.add_row("anthropic_api_key", key(settings.anthropic_api_key))
    table.add_row("openai_api_key", key(settings.openai_api_key))
    table.add_row("default_priority", str(settings.default_priority))
    table.add_row("auto_save", str(settings.auto_save).lower())
    for name, agent in settings.agents.items():
        parts = [
            f"provider={agent.provider or '-'}",
            f"model={agent.model or '-'}",
            f"base_url={agent.base_url or '-'}",
            f"api_key={key(agent.api_key)}",
        ]
        table.add_row(f"agents.{name}", escape("  ".join(parts)))
    return table


def health_table(health: Health) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row("[bold]status[/bold]", styled(health.status))
    table.add_row("nats", f"{styled(health.nats.status)} (jetstream {health.nats.jetstream})")
    for name, service in health.services.items():
        table.add_row(name, f"{styled(service.status)} ({service.instances} instance(s))")
    for key in ("cpu_usage", "memory_usage", "active_tasks", "queue_length"):
        if key in health.system:
            table.add_row(key, str(health.system[key]))
    return table
