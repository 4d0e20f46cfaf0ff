"""Audit: nothing accepted is lost.

A write the event store took is never answered as if it were lost.

The gateway appends, then waits until its read models show the write (read-your-writes). With a
request timeout far shorter than the read models' lag, that wait times out after the append
succeeded: the client must get a 503 that says the request was accepted and carries the task id
(not a bare "retry", which would make it submit the task twice), and the task must still run.

A run whose request was acknowledged when it started still has its end recorded when NATS is
away at the moment the process exits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

from tests.fakes import FakeLLM, RecordedRequest, Reply
from tests.harness import System, eventually, wait_until
from tests.pipeline.conftest import FAST_ENV, answer, happy, stage_of
from tests.workspace.conftest import SANDBOX_UID, jetstream_of, write_file


def test_a_submission_accepted_but_not_yet_visible_is_a_503_with_its_task_id(
    system: System,
) -> None:
    with FakeLLM() as fake:
        fake.answer_with(happy)
        # A microsecond to see one's own write: the read models nearly never keep up with it.
        system.env.update({**fake.env(), **FAST_ENV, "GATEWAY_REQUEST_TIMEOUT": "0.000001"})
        system.start_all(("gateway", "agents", "workspace"))
        http = httpx.Client(base_url=system.base_url, timeout=30)
        answers = []
        for n in range(30):
            response = http.post("/api/requirements", json={"requirement": f"print hello {n}"})
            answers.append(response)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 503:
                break
        late = answers[-1]
        assert late.status_code == 503, "the read models always kept up: nothing was provoked"
        error = late.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["details"]["accepted"] is True
        task_id = error["details"]["task_id"]
        assert task_id.startswith("task_")

        # Accepted means processed: the task the 503 named runs to completion.
        wait_until(
            lambda: http.get(f"/api/tasks/{task_id}").json().get("status") == "completed",
            lambda: f"{task_id} completed\n{system.all_logs()}",
            timeout=60,
            interval=0.2,
        )
        # Exactly the tasks submitted exist: the 503 did not hide a lost or a doubled one.
        listed = http.get("/api/tasks").json()
        tasks = listed["tasks"] if isinstance(listed, dict) else listed
        assert len(tasks) == len(answers)


SLEEPER = b"""import time
if __name__ == "__main__":
    print("before", flush=True)
    time.sleep(4)
    print("after", flush=True)
"""


async def test_a_run_that_ends_while_nats_is_down_is_recorded_once_it_is_back(
    system: System,
) -> None:
    system.env.update(
        {
            "SANDBOX_UID": str(SANDBOX_UID),
            "SANDBOX_GID": str(SANDBOX_UID),
            "RATE_LIMIT_FILES": "100000",
            "EXEC_TIMEOUT": "60",
        }
    )
    await asyncio.to_thread(system.start_all, ("gateway", "workspace"))
    async with jetstream_of(system) as js:
        await write_file(js, "sleeper.py", SLEEPER)
    assert system.nats is not None
    async with httpx.AsyncClient(base_url=system.base_url, timeout=10) as http:

        async def execution(execution_id: str) -> dict[str, Any] | None:
            try:
                response = await http.get(f"/api/workspace/executions/{execution_id}")
            except httpx.HTTPError:
                return None
            body: dict[str, Any] = response.json()
            return body if response.status_code == 200 else None

        async def until(check: Any, what: str, timeout: float = 60) -> Any:
            return await eventually(
                check, lambda: f"{what}\n{system.all_logs()}", timeout=timeout, interval=0.2
            )

        async def listed() -> bool:
            files = (await http.get("/api/workspace/files")).json()["files"]
            return any(f["path"] == "workspace/sleeper.py" for f in files)

        await until(listed, "sleeper.py listed")
        run = await http.post("/api/workspace/run/sleeper.py")
        assert run.status_code == 200, run.text
        execution_id = run.json()["execution_id"]

        async def first_line_recorded() -> bool:
            body = await execution(execution_id)
            return bool(body and body["output_lines"] >= 1)

        await until(first_line_recorded, "the first line recorded")
        # NATS goes away while the script sleeps; the script prints its last line and exits
        # while NATS is still away.
        await asyncio.to_thread(system.nats.stop)
        await asyncio.sleep(7)
        await asyncio.to_thread(system.nats.start)

        async def finished() -> dict[str, Any] | None:
            body = await execution(execution_id)
            return body if body and body["status"] != "running" else None

        body = await until(finished, "the run's end recorded", timeout=90)
        assert body["status"] == "completed", body
        assert body["exit_code"] == 0 and body["output_lines"] == 2, body


def test_a_nats_outage_while_a_stage_stores_its_files_retries_the_stage_not_fails_the_task(
    system: System,
) -> None:
    """The model answered, but NATS is away when the stage stores the files: that is NATS's
    timeout, not the model's; the stage runs again once NATS is back instead of the task being
    failed as "no answer from the provider"."""
    with FakeLLM() as fake:
        gate = threading.Event()
        held: list[str] = []

        def implementation_held(request: RecordedRequest) -> Reply:
            if stage_of(request) == "implementation" and not held:
                held.append(request.path)
                return answer("implementation", gate=gate)
            return happy(request)

        fake.anthropic.responder = happy
        fake.openai.responder = implementation_held
        system.env.update({**fake.env(), **FAST_ENV})
        system.start_all(("gateway", "agents", "workspace"))
        assert system.nats is not None
        http = httpx.Client(base_url=system.base_url, timeout=30)
        task_id = http.post("/api/requirements", json={"requirement": "print hello"}).json()[
            "task_id"
        ]
        wait_until(lambda: held, "the implementation call", timeout=60, interval=0.05)
        system.nats.stop()
        gate.set()  # the model answers while NATS is away (longer than a JetStream timeout)
        time.sleep(13)
        system.nats.start()

        def over() -> str | None:
            status = http.get(f"/api/tasks/{task_id}").json().get("status")
            return status if status in ("completed", "failed") else None

        def told() -> list[tuple[str, Any]]:
            events = http.get(f"/api/tasks/{task_id}/events").json()["events"]
            return [(e["type"], e["data"].get("message")) for e in events]

        status = wait_until(over, lambda: f"{task_id} over: {told()}", timeout=90, interval=0.3)
        assert status == "completed", told()
