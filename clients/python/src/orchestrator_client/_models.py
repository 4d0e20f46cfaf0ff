"""Typed models of every response body of the gateway.

Every model allows extra fields and gives the fields added beyond the seed's contract a default:
a newer gateway that adds a field, or an older one that lacks one, still parses. Times stay
strings as the gateway sends them (the contract's ``...Z`` form), so nothing is lost or reformatted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requirements and tasks ---------------------------------------------------------------------


class Budget(Model):
    """A task's spending limit: either or both."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None


class Submitted(Model):
    """``POST /api/requirements``."""

    task_id: str
    status: str = "created"
    agents_assigned: list[str] = Field(default_factory=list)
    estimated_completion: str | None = None
    budget: Budget | None = None
    approval: list[str] = Field(default_factory=list)
    follows: str | None = None
    priority: int | None = None


class TaskFile(Model):
    path: str
    digest: str | None = None
    size: int | None = None


class Usage(Model):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """None: a model without a price was called, so the cost is unknown."""


class Tokens(Model):
    input: int = 0
    output: int = 0
    total: int = 0


class Approval(Model):
    """A gate a task stopped at: ``waiting``, then ``approved``, ``revise`` or ``cancelled``."""

    gate: str
    round: int = 1
    summary: str = ""
    status: str = "waiting"
    requested_at: str | None = None
    resolved_at: str | None = None
    timeout_s: float | None = None
    feedback: str | None = None


class StageRun(Model):
    """One run of one stage, as the task's ``stages`` history lists it."""

    stage: str
    agent: str | None = None
    round: int = 1
    status: str
    provider: str | None = None
    model: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class ValidationRound(Model):
    round: int
    findings: list[str] = Field(default_factory=list)


class TaskError(Model):
    code: str
    message: str
    stage: str | None = None


class Task(Model):
    """``GET /api/tasks/{task_id}``: the task's state, files, cost and stage history."""

    id: str
    requirement: str
    status: str
    priority: int
    created_at: str
    agents: dict[str, str] = Field(default_factory=dict)
    results: dict[str, str] = Field(default_factory=dict)
    updated_at: str | None = None
    progress: int = 0
    stage: str | None = None
    agent: str | None = None
    round: int = 1
    files: list[TaskFile] = Field(default_factory=list)
    usage: dict[str, Usage] = Field(default_factory=dict)
    cost_usd: float | None = 0.0
    tokens: Tokens = Field(default_factory=Tokens)
    budget: Budget | None = None
    approval: Approval | None = None
    """The gate the task waits at now (status ``awaiting_approval``)."""
    approvals: list[Approval] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list)
    follows: str | None = None
    stages: list[StageRun] = Field(default_factory=list)
    validation_rounds: list[ValidationRound] = Field(default_factory=list)
    error: TaskError | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    event_seq: int | None = None

    @property
    def done(self) -> bool:
        """Completed, failed or cancelled: nothing more happens without a retry."""
        return self.status in TERMINAL_STATUSES


class TaskList(Model):
    tasks: list[Task]
    next_cursor: str | None = None


class TaskEvent(Model):
    seq: int
    id: str
    type: str
    occurred_at: str
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class TaskHistory(Model):
    """``GET /api/tasks/{task_id}/events``: the task's events in stream order."""

    task_id: str
    events: list[TaskEvent]


class FileChange(Model):
    """One file a task changed: ``added``, ``modified`` or ``deleted``, with a unified diff for
    text files (None for binary ones)."""

    path: str
    change: str
    diff: str | None = None


class RoundChanges(Model):
    round: int
    changes: list[FileChange]


class TaskChanges(Model):
    """``GET /api/tasks/{task_id}/changes``: against the project the task started from."""

    task_id: str
    changes: list[FileChange]
    rounds: list[RoundChanges] = Field(default_factory=list)


class Approved(Model):
    """``POST /api/tasks/{id}/approve``."""

    task_id: str
    status: str
    approved: str | None = None


class FeedbackSent(Model):
    """``POST /api/tasks/{id}/feedback``: the gate sent back, or the follow-up submitted."""

    task_id: str
    status: str
    revising: str | None = None
    follow_up: Submitted | None = None


class UsageTotals(Model):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_calls: int = 0


class UsageDay(Model):
    day: str
    total: UsageTotals
    by_agent: dict[str, UsageTotals] = Field(default_factory=dict)
    by_provider: dict[str, UsageTotals] = Field(default_factory=dict)
    by_model: dict[str, UsageTotals] = Field(default_factory=dict)


class UsageReport(Model):
    """``GET /api/usage``."""

    total: UsageTotals
    by_agent: dict[str, UsageTotals] = Field(default_factory=dict)
    by_provider: dict[str, UsageTotals] = Field(default_factory=dict)
    by_model: dict[str, UsageTotals] = Field(default_factory=dict)
    days: list[UsageDay] = Field(default_factory=list)


class TaskControl(Model):
    """``POST /api/tasks/{task_id}/cancel`` and ``.../retry``."""

    task_id: str
    status: str
    stage: str | None = None


# -- agents -------------------------------------------------------------------------------------


class Agent(Model):
    status: str
    current_task: str | None = None
    specialization: str | None = None
    last_activity: str | None = None
    running_tasks: list[str] = Field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    stages_completed: int = 0
    stages_failed: int = 0


class AgentList(Model):
    agents: dict[str, Agent]


# -- workspace and executions -------------------------------------------------------------------


class FileMetadata(Model):
    command: str | None = None
    port: int | None = None
    estimated_startup: str | None = None


class WorkspaceFile(Model):
    name: str
    path: str
    size: int
    created: str
    runnable: bool = False
    metadata: FileMetadata = Field(default_factory=FileMetadata)
    digest: str | None = None
    kind: str | None = None


class FileDeleted(Model):
    """``DELETE /api/workspace/files/{path}``."""

    status: str
    path: str
    name: str
    digest: str


class FileList(Model):
    files: list[WorkspaceFile]


class RunStarted(Model):
    """``POST /api/workspace/run/{filename}``: the execution started; its output is streamed."""

    execution_id: str
    status: str
    process_id: int | None = None
    output_stream: str | None = None
    command: str | None = None
    port: int | None = None
    preview_url: str | None = None


class Execution(Model):
    execution_id: str
    path: str
    status: str
    command: str | None = None
    process_id: int | None = None
    port: int | None = None
    preview_url: str | None = None
    sandbox: list[str] = Field(default_factory=list)
    requested_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    truncated: bool = False
    output_lines: int = 0
    stop_requested: bool = False
    error: dict[str, Any] | None = None
    reason: str | None = None


class ExecutionList(Model):
    executions: list[Execution]


class OutputLine(Model):
    line: int
    output: str


class LostLines(Model):
    first_line: int
    last_line: int


class ExecutionOutputPage(Model):
    """An execution's output lines from ``from_line``, as the output stream holds them now:
    ``output_lost`` counts the lines its retention dropped (their ranges in ``lost``), and
    ``complete`` is true only for a finished run of which every line is here."""

    execution_id: str
    status: str
    from_line: int
    lines: list[OutputLine]
    output_lines: int = 0
    output_lost: int = 0
    lost: list[LostLines] = Field(default_factory=list)
    complete: bool = False


class RunResult(Model):
    """What ``run()`` returns: how the execution ended and how much it printed."""

    execution_id: str
    status: str
    exit_code: int | None = None
    duration_s: float | None = None
    truncated: bool = False
    lines: int = 0
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.exit_code == 0


# -- project and archives -----------------------------------------------------------------------


class ResetResult(Model):
    status: str
    archive_path: str
    files_archived: int
    workspace_cleared: bool
    archive_name: str | None = None


class ArchiveSummary(Model):
    name: str
    created: str
    files: int
    size: str
    size_bytes: int | None = None
    path: str | None = None


class ArchiveList(Model):
    archives: list[ArchiveSummary]


class ArchivedFile(Model):
    name: str
    path: str
    archive_path: str | None = None
    size: int
    digest: str | None = None


class ArchiveFiles(Model):
    archive: str
    created: str | None = None
    files: list[ArchivedFile]


class Restored(Model):
    status: str
    archive_name: str
    path: str
    workspace_path: str
    size: int


# -- settings -----------------------------------------------------------------------------------


class KeyStatus(Model):
    configured: bool
    last_four: str | None = None


class AgentSettings(Model):
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: KeyStatus = Field(default_factory=lambda: KeyStatus(configured=False))


class Settings(Model):
    """``GET /api/settings``: keys shown only as configured / last four characters."""

    anthropic_api_key: KeyStatus
    openai_api_key: KeyStatus
    default_priority: int
    auto_save: bool
    agents: dict[str, AgentSettings] = Field(default_factory=dict)


class SettingsSaved(Model):
    status: str
    updated: list[str] = Field(default_factory=list)
    settings: Settings


# -- health -------------------------------------------------------------------------------------


class ServiceHealth(Model):
    status: str
    instances: int = 0
    details: dict[str, Any] = Field(default_factory=dict)


class NatsHealth(Model):
    status: str
    jetstream: str | None = None
    server: str | None = None
    projection_seq: int | None = None


class Health(Model):
    """``GET /api/health``: "ok" when every service and NATS are up, else "degraded"."""

    status: str
    nats: NatsHealth
    services: dict[str, ServiceHealth] = Field(default_factory=dict)
    sandbox: dict[str, Any] = Field(default_factory=dict)
    system: dict[str, Any] = Field(default_factory=dict)
    archives: int | None = None
    security: dict[str, Any] = Field(default_factory=dict)


# -- requests -----------------------------------------------------------------------------------


class AgentSettingsUpdate(BaseModel):
    """Per-agent settings to change; a field set to None goes back to the agent's default."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None


class SettingsUpdate(BaseModel):
    """A partial settings update: only the fields given are sent; ``""`` clears a key."""

    model_config = ConfigDict(extra="forbid")

    anthropic_api_key: str | None = None
    openai_api_key: str | None = None
    default_priority: int | None = None
    auto_save: bool | None = None
    agents: dict[str, AgentSettingsUpdate] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)
