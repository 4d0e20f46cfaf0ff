"""Audit: a write the event store took is never answered as if it were lost.

The gateway appends, then waits until its read models show the write (read-your-writes). With a
request timeout far shorter than the read models' lag, that wait times out after the append
succeeded: the client must get a 503 that says the request was accepted and carries the task id
(not a bare "retry", which would make it submit the task twice), and the task must still run.
"""

from __future__ import annotations

import time

import httpx

from tests.fakes import FakeLLM
from tests.harness import System
from tests.pipeline.conftest import FAST_ENV, happy


def test_a_submission_accepted_but_not_yet_visible_is_a_503_with_its_task_id(
    system: System,
) -> None:
    with FakeLLM() as fake:
        fake.anthropic.responder = happy
        fake.openai.responder = happy
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
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != "completed":
            response = http.get(f"/api/tasks/{task_id}")
            status = response.json().get("status") if response.status_code == 200 else None
            time.sleep(0.2)
        assert status == "completed", system.all_logs()
        # Exactly the tasks submitted exist: the 503 did not hide a lost or a doubled one.
        listed = http.get("/api/tasks").json()
        tasks = listed["tasks"] if isinstance(listed, dict) else listed
        assert len(tasks) == len(answers)
