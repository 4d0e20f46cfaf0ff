"""The event catalog: every event the system records, as one discriminated union."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from .archives import ArchiveMaterialised
from .base import Event, Record
from .executions import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRejected,
    ExecutionRequested,
    ExecutionStarted,
    ExecutionStopRequested,
)
from .settings import SettingsChanged
from .tasks import (
    GATE_STAGE,
    ROLE_AGENT,
    STAGE_AGENT,
    STAGES,
    TASK_END_TYPES,
    AgentName,
    ApprovalDeadline,
    ApprovalGranted,
    ApprovalRequested,
    Budget,
    CheckOutcome,
    ChecksRecorded,
    ChecksRequested,
    FeedbackGiven,
    FileRef,
    Gate,
    RunPlan,
    Spend,
    Stage,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
    Usage,
    ValidationFailed,
)
from .workspace import FileDeleted, FileWritten, ResetRequested, WorkspaceArchived

AnyEvent = Annotated[
    TaskSubmitted
    | StageStarted
    | StageCompleted
    | ValidationFailed
    | ChecksRequested
    | ChecksRecorded
    | StageFailed
    | TaskCompleted
    | TaskFailed
    | TaskCancelled
    | TaskRetried
    | ApprovalRequested
    | ApprovalGranted
    | FeedbackGiven
    | ApprovalDeadline
    | FileWritten
    | FileDeleted
    | WorkspaceArchived
    | ResetRequested
    | ExecutionRequested
    | ExecutionStarted
    | ExecutionOutput
    | ExecutionFinished
    | ExecutionRejected
    | ExecutionStopRequested
    | SettingsChanged
    | ArchiveMaterialised,
    Field(discriminator="type"),
]

EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(AnyEvent)[0])
}
"""Each event class by its ``type`` name, derived from the union so the two never disagree."""

__all__ = [
    "EVENT_TYPES",
    "GATE_STAGE",
    "ROLE_AGENT",
    "STAGES",
    "STAGE_AGENT",
    "TASK_END_TYPES",
    "AgentName",
    "AnyEvent",
    "ApprovalDeadline",
    "ApprovalGranted",
    "ApprovalRequested",
    "ArchiveMaterialised",
    "Budget",
    "CheckOutcome",
    "ChecksRecorded",
    "ChecksRequested",
    "Event",
    "ExecutionFinished",
    "ExecutionOutput",
    "ExecutionRejected",
    "ExecutionRequested",
    "ExecutionStarted",
    "ExecutionStopRequested",
    "FeedbackGiven",
    "FileDeleted",
    "FileRef",
    "FileWritten",
    "Gate",
    "Record",
    "ResetRequested",
    "RunPlan",
    "SettingsChanged",
    "Spend",
    "Stage",
    "StageCompleted",
    "StageFailed",
    "StageStarted",
    "TaskCancelled",
    "TaskCompleted",
    "TaskFailed",
    "TaskRetried",
    "TaskSubmitted",
    "Usage",
    "ValidationFailed",
    "WorkspaceArchived",
]
