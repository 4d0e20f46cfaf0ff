"""Old payloads stay readable: upcasters lift them step by step, decode uses them."""

from __future__ import annotations

import json

import pytest

from orchestrator.events import Envelope, UndecodableEvent, decode
from orchestrator.events.catalog import TaskSubmitted
from orchestrator.events.envelope import TYPE_HEADER, VERSION_HEADER, encode
from orchestrator.events.upcasting import upcast, upcaster


def test_upcasters_apply_in_order_until_none_is_left() -> None:
    @upcaster("TestShape", 1)
    def rename(data: dict[str, object]) -> dict[str, object]:
        return {"name": data.pop("title"), **data}

    @upcaster("TestShape", 2)
    def default_size(data: dict[str, object]) -> dict[str, object]:
        return {**data, "size": 0}

    lifted = upcast({"type": "TestShape", "schema_version": 1, "data": {"title": "a"}})
    assert lifted["schema_version"] == 3
    assert lifted["data"] == {"name": "a", "size": 0, "type": "TestShape"}


def test_a_current_event_decodes_on_the_fast_path_and_without_headers() -> None:
    event = TaskSubmitted(task_id="task_1", requirement="r", priority=5)
    body, headers = encode(Envelope.wrap(event))
    assert headers[TYPE_HEADER] == "TaskSubmitted" and headers[VERSION_HEADER] == "1"
    for given in (headers, None, {}):
        recorded = decode(body, given, "events.task.task_1", 7)
        assert recorded.event == event and recorded.seq == 7


def test_an_unreadable_payload_is_set_aside_not_raised_as_anything_else() -> None:
    for body in (b"not json", json.dumps({"type": "Nope", "data": {}}).encode()):
        with pytest.raises(UndecodableEvent) as caught:
            decode(body, None, "events.task.x", 3)
        assert caught.value.seq == 3
