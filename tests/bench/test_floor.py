"""How bench.floor reads a task's critical path: its appends and its cross-process hops."""

from __future__ import annotations

from typing import Any

from bench.floor import critical_path, hops

TASK = "task_0123"


class History:
    """A task's events as the events API gives them, numbered in stream order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.workspace: list[dict[str, Any]] = []

    def add(self, kind: str, cause: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
        seq = len(self.events) + len(self.workspace) + 1
        event = {
            "seq": seq,
            "id": f"evt_{seq}",
            "type": kind,
            "causation_id": cause["id"] if cause else None,
            "data": {"task_id": TASK, **data},
        }
        (self.workspace if kind == "FileWritten" else self.events).append(event)
        return event

    def llm_stage(self, stage: str, cause: dict[str, Any]) -> dict[str, Any]:
        self.add("StageStarted", cause, stage=stage)
        return self.add("StageCompleted", cause, stage=stage)

    def checks(self, cause: dict[str, Any]) -> dict[str, Any]:
        self.add("StageStarted", cause, stage="validation")
        requested = self.add("ChecksRequested", cause)
        return self.add("ChecksRecorded", requested)

    def integration(self, cause: dict[str, Any], files: int) -> None:
        self.add("StageStarted", stage="integration")
        for i in range(files):
            self.add("FileWritten", path=f"f{i}.py")
        self.add("StageCompleted", stage="integration")
        self.add("TaskCompleted")


def test_a_one_round_task_has_seven_hops_and_every_event_is_an_append() -> None:
    h = History()
    submitted = h.add("TaskSubmitted")
    analysed = h.llm_stage("analysis", submitted)
    implemented = h.llm_stage("implementation", analysed)
    recorded = h.checks(implemented)
    validated = h.add("StageCompleted", recorded, stage="validation")
    h.integration(validated, files=2)
    h.workspace.append({**h.workspace[0], "seq": 99, "data": {"task_id": "task_other"}})

    path = critical_path(h.events, h.workspace)

    assert len(path) == 14  # 12 task events and its two FileWritten, not the other task's
    assert [(hop.source, hop.target, hop.event) for hop in hops(path)] == [
        ("gateway", "agents", "TaskSubmitted"),
        ("agents", "agents", "StageCompleted(analysis)"),
        ("agents", "agents", "StageCompleted(implementation)"),
        ("agents", "workspace", "ChecksRequested"),
        ("workspace", "agents", "ChecksRecorded"),
        ("agents", "workspace", "StageCompleted(validation)"),
        ("workspace", "gateway", "TaskCompleted"),
    ]


def test_a_failed_validation_adds_the_hops_of_another_round() -> None:
    h = History()
    submitted = h.add("TaskSubmitted")
    analysed = h.llm_stage("analysis", submitted)
    implemented = h.llm_stage("implementation", analysed)
    failed = h.add("ValidationFailed", h.checks(implemented))
    implemented = h.llm_stage("implementation", failed)
    validated = h.add("StageCompleted", h.checks(implemented), stage="validation")
    h.integration(validated, files=1)

    found = hops(critical_path(h.events, h.workspace))

    assert len(found) == 11
    assert ("agents", "agents", "ValidationFailed") in [
        (x.source, x.target, x.event) for x in found
    ]
