"""A run's output lives in the ``OUTPUT`` stream, not in the domain stream; it is read back on
demand, complete and in order, and when the stream's retention (``NATS_OUTPUT_MAX_BYTES``,
``NATS_OUTPUT_MAX_AGE``) has dropped lines a reader is told how many, never handed a partial
output as the whole of it. A run recorded before the output stream (its ``ExecutionOutput``
events in the domain stream, a version-1 ``ExecutionFinished``) still reads as it did."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionStarted,
)
from orchestrator.events.envelope import decode
from orchestrator_client import Client
from tests.harness import System, eventually, paused

from .conftest import (
    TEST_ENV,
    api,
    collect_stream,
    requires_bwrap,
    run_output,
    start_run,
    wait_finished,
)

MANY = b"""for i in range(1, 301):
    print(f"line {i:03d}")
"""
EXPECTED = [f"line {i:03d}" for i in range(1, 301)]


async def subjects_of(js: JetStreamContext, stream: str) -> dict[str, int]:
    info = await js.stream_info(stream, subjects_filter=">")
    return dict(info.state.subjects or {})


async def output_of(system: System, execution_id: str, **params: Any) -> Any:
    response = await api(
        system, "GET", f"/api/workspace/executions/{execution_id}/output", params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_runs_lines_arrive_complete_and_in_order_and_none_is_in_the_domain_stream(
    ws_system: System, wjs: JetStreamContext, wstore: EventStore
) -> None:
    body = await start_run(ws_system, wjs, "implementation/many.py", MANY)
    execution_id = body["execution_id"]
    record = await wait_finished(ws_system, execution_id)
    assert record["status"] == "completed" and record["output_lines"] == len(EXPECTED)

    lines, final = await run_output(ws_system, execution_id)
    assert lines == EXPECTED
    assert final["type"] == "execution_finished" and final["output_lost"] == 0

    read = await output_of(ws_system, execution_id)
    assert [line["output"] for line in read["lines"]] == EXPECTED
    assert [line["line"] for line in read["lines"]] == list(range(1, 301))
    assert read["complete"] is True and read["output_lost"] == 0
    tail = await output_of(ws_system, execution_id, from_line=298)
    assert [line["output"] for line in tail["lines"]] == EXPECTED[-3:]
    with Client(ws_system.base_url) as client:  # the typed client reads the same page
        page = client.execution_lines(execution_id, from_line=298)
    assert [line.output for line in page.lines] == EXPECTED[-3:] and page.complete
    assert [line.line for line in page.lines] == [298, 299, 300]
    resumed, _ = await run_output_from(ws_system, execution_id, 299)
    assert resumed == EXPECTED[-2:]

    domain = await subjects_of(wjs, subjects.EVENTS_STREAM)
    assert not [s for s in domain if s.startswith("output.")]
    kinds = [e.event.type for e in await wstore.read(subjects.execution(execution_id))]  # type: ignore[attr-defined]
    assert kinds == ["ExecutionRequested", "ExecutionStarted", "ExecutionFinished"], kinds
    finished = (await wstore.read(subjects.execution(execution_id)))[-1]
    assert finished.envelope.schema_version == 2
    assert isinstance(finished.event, ExecutionFinished)
    assert finished.event.output_lines == len(EXPECTED)
    output = await subjects_of(wjs, subjects.OUTPUT_STREAM)
    assert output.get(subjects.output(execution_id), 0) >= 1
    last = await wjs.get_last_msg(subjects.OUTPUT_STREAM, subjects.output(execution_id))
    assert finished.event.output_seq == last.seq


async def run_output_from(
    system: System, execution_id: str, from_line: int
) -> tuple[list[str], dict[str, Any]]:
    frames = await collect_stream(
        f"{system.ws_url}/ws/execution/{execution_id}?from_line={from_line}"
    )
    return [f["output"] for f in frames if f["type"] == "execution_output"], frames[-1]


async def test_a_run_recorded_before_the_output_stream_still_reads_from_the_domain_stream(
    ws_system: System, wjs: JetStreamContext, wstore: EventStore
) -> None:
    execution_id = "exec_0123456789abcdef"
    subject = subjects.execution(execution_id)
    # The workspace is paused while the old run is written: awake, it could take the request
    # for a new one before the rest of the run is there (and reject it: old.py is not there).
    with paused(p for p in ws_system.processes if p.service == "workspace"):
        await wstore.append(subject, ExecutionRequested(execution_id=execution_id, path="old.py"))
        started = ExecutionStarted(
            execution_id=execution_id, path="old.py", command="python", pid=1
        )
        await wstore.append(subject, started)
        for first, old in ((1, ("old 1", "old 2")), (3, ("old 3",))):
            batch = ExecutionOutput(execution_id=execution_id, first_line=first, lines=old)
            await wstore.append(subject, batch)
        # ExecutionFinished as version 1 wrote it: no output position.
        v1 = {
            "id": "evt_old_finished",
            "type": "ExecutionFinished",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "schema_version": 1,
            "data": {
                "type": "ExecutionFinished",
                "execution_id": execution_id,
                "status": "completed",
                "exit_code": 0,
                "duration_s": 0.1,
            },
        }
        headers = {"Orch-Event-Type": "ExecutionFinished", "Orch-Schema-Version": "1"}
        ack = await wjs.publish(subject, json.dumps(v1).encode(), headers=headers)
    upcast = decode(json.dumps(v1).encode(), headers, subject, ack.seq).event
    assert isinstance(upcast, ExecutionFinished) and upcast.output_lines is None

    record = await wait_finished(ws_system, execution_id)
    assert record["output_lines"] == 3
    lines, final = await run_output(ws_system, execution_id)
    assert lines == ["old 1", "old 2", "old 3"]
    assert final["status"] == "completed" and final["output_lost"] == 0
    read = await output_of(ws_system, execution_id)
    assert [line["output"] for line in read["lines"]] == ["old 1", "old 2", "old 3"]
    assert read["complete"] is True


TINY = {
    **TEST_ENV,
    "NATS_OUTPUT_MAX_BYTES": "4096",
    "NATS_OUTPUT_MAX_AGE": "4",
    "EXEC_BATCH_LINES": "20",
}
FEW = b'print("one")\nprint("two")\n'


async def test_lines_the_retention_dropped_are_reported_as_lost_never_as_a_complete_output(
    system: System, js: JetStreamContext
) -> None:
    system.env.update(TINY)
    system.start_all(("gateway", "workspace"))  # they provision the output stream's retention
    body = await start_run(system, js, "implementation/many.py", MANY)
    execution_id = body["execution_id"]
    record = await wait_finished(system, execution_id)
    assert record["output_lines"] == len(EXPECTED)

    # By bytes: 300 lines do not fit in 4 kB; the oldest went first.
    read = await output_of(system, execution_id)
    kept = [line["output"] for line in read["lines"]]
    assert read["output_lost"] > 0 and read["complete"] is False
    assert read["output_lost"] + len(kept) == len(EXPECTED)
    assert kept == EXPECTED[len(EXPECTED) - len(kept) :]
    frames = await collect_stream(f"{system.ws_url}/ws/execution/{execution_id}")
    lost = [f for f in frames if f["type"] == "execution_output_lost"]
    assert lost and sum(f["output_lost"] for f in lost) == frames[-1]["output_lost"] > 0
    assert frames[-1]["type"] == "execution_finished"
    shown = [f["output"] for f in frames if f["type"] == "execution_output"]
    assert frames[-1]["output_lost"] + len(shown) == len(EXPECTED)

    # By age: a small output, kept at first, is gone once NATS_OUTPUT_MAX_AGE has passed.
    few = await start_run(system, js, "implementation/few.py", FEW)
    await wait_finished(system, few["execution_id"])

    async def all_lost() -> Any:
        body = await output_of(system, few["execution_id"])
        return body if body["output_lost"] == 2 else None

    gone = await eventually(all_lost, timeout=30, interval=0.5, what="output aged out")
    assert gone["lines"] == [] and gone["complete"] is False
    assert gone["lost"] == [{"first_line": 1, "last_line": 2}]


SLOW = b"""import time
for i in range(1, 31):
    print(f"tick {i}", flush=True)
time.sleep(120)
"""


@requires_bwrap  # its --die-with-parent takes the run with the killed service
async def test_a_workspace_killed_mid_run_loses_no_line_it_recorded(
    system: System, js: JetStreamContext
) -> None:
    system.env.update(TEST_ENV)
    system.start_all(("gateway", "workspace"))
    body = await start_run(system, js, "implementation/slow.py", SLOW)
    execution_id = body["execution_id"]

    async def recorded() -> Any:
        read = await output_of(system, execution_id)
        return read if len(read["lines"]) == 30 else None

    before = await eventually(recorded, timeout=30, what="30 lines recorded")
    workspace = next(p for p in system.processes if p.service == "workspace")
    assert workspace.pid is not None
    os.kill(workspace.pid, signal.SIGKILL)
    assert workspace.wait(10)
    system.start("workspace", log_name="workspace-2")  # records the end of the orphaned run

    record = await wait_finished(system, execution_id, timeout=30)
    assert record["status"] == "failed" and record["output_lines"] == 30
    after = await output_of(system, execution_id)
    assert after["lines"] == before["lines"]
    assert after["complete"] is True and after["output_lost"] == 0
    lines, final = await run_output(system, execution_id)
    assert lines == [f"tick {i}" for i in range(1, 31)] and final["output_lost"] == 0
