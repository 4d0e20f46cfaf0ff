"""Messages on core NATS subjects: not events, never persisted, typed all the same.

Two services agree on each of these (the sender and the gateway that shows them), so their shape
is written here once instead of by convention: a heartbeat (who is up, and what each service says
about itself) and a model-output frame (tokens as a model writes them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .runnables import OPTIONAL_RUNTIMES


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AgentReport(_Message):
    """One LLM agent as an agents instance resolves it: never the key, only whether it has one."""

    provider: str
    model: str
    base_url: str | None = None
    key_configured: bool


class AgentsDetails(_Message):
    service: Literal["agents"] = "agents"
    agents: dict[str, AgentReport] = Field(default_factory=dict)
    env_key_families: tuple[str, ...] = ()
    """Key families (``anthropic``, ``openai``) the instance's environment has a key for."""
    default_models: dict[str, str] = Field(default_factory=dict)
    running: int = 0
    queued: int = 0
    max_concurrency: int = 0


class SandboxReport(_Message):
    """What isolation executed code gets on a workspace instance, as its probe found."""

    model_config = ConfigDict(frozen=True, extra="allow")

    mode: str = "refused"
    active: list[str] = Field(default_factory=list)
    layers: dict[str, bool] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, float] = Field(default_factory=dict)


class RuntimeReport(_Message):
    """A runtime besides Python and ``sh`` on a workspace instance's machine (``node``)."""

    available: bool
    version: str | None = None
    reason: str | None = None
    """Why it is not available (what a file list shows for its programs)."""


class SandboxWorld(_Message):
    """The world executed code runs in on a workspace instance, from its settings and its probe:
    what the agents tell the models, so that generated code can pass validation's checks."""

    python: str = ""
    """The sandbox interpreter's version (``3.11.9``); empty when it did not answer."""
    packages: tuple[str, ...] = ()
    """``name version`` of each distribution executed code can import beyond the standard
    library (the sandbox's site packages)."""
    network: bool = False
    """Executed code can reach the network (allowed by the settings, or not proven denied)."""
    server_host: str = "127.0.0.1"
    """Where a server must listen for the smoke check and previews to reach it."""
    default_port: int = 8000
    """The port a server is expected on when the plan names none."""


class WorkspaceDetails(_Message):
    service: Literal["workspace"] = "workspace"
    sandbox: SandboxReport = Field(default_factory=SandboxReport)
    runtimes: dict[str, RuntimeReport] = Field(default_factory=dict)
    """What the machine that runs code has; an instance from before this said nothing."""
    world: SandboxWorld | None = None
    workspace_version: int = 0
    files: int = 0
    executions_running: int = 0

    def missing_runtimes(self) -> dict[str, str]:
        """Each runtime this instance lacks, and why (one it did not report counts as lacking:
        the instance is older than the report)."""
        missing = {}
        for name in OPTIONAL_RUNTIMES:
            report = self.runtimes.get(name)
            if report is None:
                missing[name] = f"the workspace service did not report whether it has {name}"
            elif not report.available:
                missing[name] = report.reason or f"{name} is not installed where code runs"
        return missing


class ArchiveDetails(_Message):
    service: Literal["archive"] = "archive"
    archives_materialised: int = 0
    missing_files: int = 0
    running: int = 0
    queued: int = 0
    projection_seq: int = 0
    workspace_files: int = 0


class GatewayDetails(_Message):
    service: Literal["gateway"] = "gateway"
    ws_clients: int = 0
    projection_seq: int = 0


Details = Annotated[
    AgentsDetails | WorkspaceDetails | ArchiveDetails | GatewayDetails,
    Field(discriminator="service"),
]


class Heartbeat(_Message):
    service: str
    instance: str
    sent_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    """When this instance's process started."""
    restarts: int = 0
    """How many times a supervisor (the launcher) restarted this service before this instance."""
    details: Details

    def shown(self) -> dict[str, Any]:
        """The details as ``GET /api/health`` shows them."""
        return self.details.model_dump(mode="json", exclude={"service"})


class ModelOutput(_Message):
    """A piece of a model's answer as it streams, relayed to WebSocket clients."""

    task_id: str
    agent: str
    stage: str
    round: int = 1
    text: str

    def frame(self) -> dict[str, Any]:
        return {"type": "model_output", **self.model_dump()}


__all__ = [
    "AgentReport",
    "AgentsDetails",
    "ArchiveDetails",
    "Details",
    "GatewayDetails",
    "Heartbeat",
    "ModelOutput",
    "RuntimeReport",
    "SandboxReport",
    "SandboxWorld",
    "WorkspaceDetails",
]
