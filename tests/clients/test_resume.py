"""``Resume``, the decisions of ``events()`` after a drop: pure, so every split is tested."""

from __future__ import annotations

from orchestrator_client import Frame
from orchestrator_client._stream import Resume


def frame(seq: int | None, kind: str = "task_update") -> Frame:
    return Frame(type=kind, event_seq=seq)


def test_a_drop_between_events_resumes_after_the_last_one() -> None:
    resume = Resume(since=10)
    assert resume.since() == 10
    assert [resume.accept(frame(11)), resume.accept(frame(12))] == [True, True]
    # one frame of 12 was yielded: reconnect from 11 and skip the frame of 12 already seen
    assert resume.since() == 11
    assert resume.accept(frame(12)) is False
    assert resume.accept(frame(13)) is True


def test_a_drop_inside_an_event_of_two_frames_yields_its_second_frame_once() -> None:
    resume = Resume(since=4)
    assert resume.accept(frame(5, "task_update"))  # the event's second frame was not received
    assert resume.since() == 4
    replayed = [frame(5, "task_update"), frame(5, "agent_status"), frame(6)]
    assert [resume.accept(f) for f in replayed] == [False, True, True]


def test_frames_without_a_seq_pass_and_older_frames_are_dropped() -> None:
    resume = Resume(since=None)
    assert resume.since() is None
    assert resume.accept(frame(None, "model_output"))
    assert resume.accept(frame(3)) and not resume.accept(frame(2))
    assert resume.since() == 2
