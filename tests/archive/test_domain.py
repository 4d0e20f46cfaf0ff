"""The archive service's pure decisions: the workspace fold and archive naming."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.archive.domain import WorkspaceState, archive_for, archive_name
from orchestrator.events import Envelope
from orchestrator.events.catalog import FileDeleted, FileWritten, WorkspaceArchived
from orchestrator.events.testing import recorded

NOW = datetime(2025, 6, 22, 10, 35, 0, tzinfo=UTC)


def test_names_follow_the_contract_and_stay_unique_within_a_second() -> None:
    assert archive_name(NOW, set()) == "project_20250622_103500"
    taken = {"project_20250622_103500", "project_20250622_103500_2"}
    assert archive_name(NOW, taken) == "project_20250622_103500_3"


def test_fold_archives_exactly_the_current_files() -> None:
    events = [
        recorded(FileWritten(path="a.py", digest="1" * 64, size=1), 3),
        recorded(FileWritten(path="b.py", digest="2" * 64, size=2), 5),
        recorded(FileWritten(path="a.py", digest="3" * 64, size=3), 8),
        recorded(FileDeleted(path="b.py"), 9),
    ]
    state = WorkspaceState.of(events)
    assert state.version == 9
    archived = archive_for(state, "req1", NOW)
    assert [(f.path, f.digest) for f in archived.files] == [("a.py", "3" * 64)]
    assert archived.archive_path == "completed_archive/project_20250622_103500"

    state.apply(recorded(archived, 10))
    assert state.files == {}
    assert state.archived_requests["req1"] == archived
    again = archive_for(state, "req2", NOW)
    assert again.archive_name == "project_20250622_103500_2"
    assert again.files == ()


def test_archive_event_round_trips() -> None:
    event = WorkspaceArchived(
        archive_name="project_x",
        archive_path="completed_archive/project_x",
        files=(),
        request_id="r",
    )
    assert Envelope.wrap(event).data == event
