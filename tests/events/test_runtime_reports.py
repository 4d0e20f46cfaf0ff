"""What a workspace instance says of its machine's runtimes, as the gateway reads it from a
heartbeat: a runtime it lacks keeps its reason, and one it never reported (an instance older than
the report) counts as lacking, so no file is listed runnable on a guess."""

from __future__ import annotations

import json

from orchestrator.events.messages import Heartbeat, RuntimeReport, WorkspaceDetails
from orchestrator.events.runnables import Runtimes, inspect_file, on_machine

NODE_SERVER = b"require('http').createServer(() => {}).listen(3000)\n"


def beat(details: dict[str, object]) -> WorkspaceDetails:
    raw = {
        "service": "workspace",
        "instance": "w-1",
        "details": {"service": "workspace", **details},
    }
    heartbeat = Heartbeat.model_validate_json(json.dumps(raw))
    assert isinstance(heartbeat.details, WorkspaceDetails)
    return heartbeat.details


def test_a_runtime_the_machine_lacks_keeps_its_reason_and_one_it_has_is_not_missing() -> None:
    lacking = RuntimeReport(available=False, reason="Node.js (node) is not installed there")
    assert beat({"runtimes": {"node": lacking.model_dump()}}).missing_runtimes() == {
        "node": "Node.js (node) is not installed there"
    }
    having = RuntimeReport(available=True, version="v20.20.2")
    assert beat({"runtimes": {"node": having.model_dump()}}).missing_runtimes() == {}


def test_an_instance_that_reports_no_runtimes_is_taken_to_lack_them() -> None:
    missing = beat({"sandbox": {"mode": "bubblewrap"}}).missing_runtimes()
    assert set(missing) == {"node"} and "did not report" in missing["node"]
    found = on_machine(inspect_file("srv.js", NODE_SERVER), Runtimes(missing))
    assert (found.runnable, found.kind, found.reason) == (False, "node_server", missing["node"])
    assert on_machine(inspect_file("srv.js", NODE_SERVER), Runtimes()).runnable
