"""Working code, iterated on: validation runs the code in the sandbox, follow-up requirements
build on the project, people's edits are part of it, and changes are visible.

Everything is real but the models: the fake LLM answers as a model would, the workspace
service runs the candidate files' pytest tests and smoke run in the real sandbox."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System, wait_until
from tests.workspace.conftest import SANDBOX_MODES

from .conftest import CALC_PLAN, REVIEW_OK, TEST_CALC, Api, Live, calc, calls, stage_of, task_of

TEST_APP = "from app import NAME\n\n\ndef test_name():\n    assert NAME\n"


def scripted(
    plan: dict[str, Any], implementations: Callable[[RecordedRequest], dict[str, Any]]
) -> Callable[[RecordedRequest], Reply]:
    def respond(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        if stage == "analysis":
            return Text(json.dumps(plan))
        if stage == "implementation":
            return Text(json.dumps(implementations(request)))
        return Text(json.dumps(REVIEW_OK))

    return respond


def checks_of(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in task["validation"]["checks"]}


def test_code_that_fails_its_own_test_goes_back_with_the_failure_and_passes_round_two(
    live: Live,
) -> None:
    api, fake = live.api, live.fake
    rounds: list[str] = []

    def implement(request: RecordedRequest) -> dict[str, Any]:
        rounds.append(request.text)
        return calc("return a - b" if len(rounds) == 1 else "return a + b")

    fake.anthropic.responder = fake.openai.responder = scripted(CALC_PLAN, implement)
    task_id = api.submit("a calculator")["task_id"]
    task = api.wait(task_id, timeout=120)

    second = [r.text for r in calls(fake, task_id, "implementation")][1]
    assert "test_calc.py::test_add" in second
    assert "assert -1 == 5" in second  # pytest's own assertion output, from the sandbox
    checks = checks_of(task)
    assert checks["tests"]["status"] == "passed" and checks["tests"]["details"]["passed"] == 1
    assert checks["smoke"]["status"] == "passed" and "exited 0" in checks["smoke"]["summary"]
    first_round = task["validation"]["rounds"][0]
    assert first_round["round"] == 1
    assert {c["name"]: c["status"] for c in first_round["checks"]}["tests"] == "failed"
    assert task["validation_rounds"][0]["findings"][0].startswith("check tests failed")
    # The failed round cost no review: the sandbox already said what was wrong.
    assert len(calls(fake, task_id, "validation")) == 1
    # The review of round 2 is told what failed in round 1, with the failing output (bounded),
    # so that it can tell a real fix from a weakened test.
    review = calls(fake, task_id, "validation")[0].text
    earlier = review.split("Checks that failed in earlier rounds", 1)[1].split("Files:", 1)[0]
    assert "Round 1:\n- tests: failed" in earlier
    assert "test_calc.py::test_add" in earlier and "assert -1 == 5" in earlier
    assert len(earlier) < 2 * 1500 + 1000
    assert "checks: " in task["results"]["validation"]


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_the_tests_check_reads_pytests_report_in_every_sandbox_mode(
    pipeline: System, fake: FakeLLM, mode: str
) -> None:
    # Landlock leaves the host's /tmp unwritable: the report must go to the run's own tmp.
    pipeline.env["SANDBOX_MODE"] = mode
    pipeline.start_all(("gateway", "agents", "workspace"))
    api = Api(pipeline)
    fake.anthropic.responder = fake.openai.responder = scripted(
        CALC_PLAN, lambda r: calc("return a - b")
    )
    task = api.wait(
        api.submit("a calculator")["task_id"],
        until=lambda t: t["status"] == "failed",  # the same files again: no progress
        timeout=120,
    )
    assert task["error"]["code"] == "VALIDATION_FAILED"
    tests = task["validation"]["rounds"][0]["checks"][0]
    assert tests["name"] == "tests" and tests["status"] == "failed"
    assert tests["details"]["failed"] == 1, tests  # counted from the JUnit report
    assert tests["details"]["failing"] == ["test_calc.py::test_add"], tests


def test_a_generated_fastapi_server_is_smoke_checked_for_real(live: Live) -> None:
    api, fake = live.api, live.fake
    server = (
        "from fastapi import FastAPI\nimport uvicorn\n\napp = FastAPI()\n\n\n"
        '@app.get("/")\ndef hello():\n    return {"message": "Hello World"}\n\n\n'
        'if __name__ == "__main__":\n    uvicorn.run(app, host="127.0.0.1", port=8000)\n'
    )
    plan = {**CALC_PLAN, "entry_point": "main.py", "entry_kind": "server", "port": 8000}
    files = {"summary": "s", "files": [{"path": "main.py", "content": server}], "delete": []}
    fake.anthropic.responder = fake.openai.responder = scripted(plan, lambda r: files)
    task = api.wait(api.submit("a hello world server")["task_id"], timeout=120)
    smoke = checks_of(task)["smoke"]
    assert smoke["status"] == "passed", smoke
    assert smoke["summary"] == "GET / on port 8000 answered 200"
    # The shared system's workspace is one project: earlier tests' files (and tests) are in it.
    assert checks_of(task)["tests"]["status"] != "failed"


def test_a_follow_up_builds_on_the_project_and_a_persons_edit(
    pipeline: System, fake: FakeLLM
) -> None:
    pipeline.start_all(("gateway", "agents", "workspace"))
    api = Api(pipeline)
    first_files = {
        "summary": "s",
        "files": [
            {"path": "app.py", "content": "NAME = 'one'\n"},
            {"path": "old.py", "content": "LEGACY = True\n"},
            {
                "path": "test_app.py",
                "content": "from app import NAME\n\n\ndef test_name():\n    assert NAME\n",
            },
        ],
        "delete": [],
    }
    plan = {**CALC_PLAN, "entry_point": "", "entry_kind": "none"}
    fake.anthropic.responder = fake.openai.responder = scripted(plan, lambda r: first_files)
    first = api.wait(api.submit("start a project")["task_id"], timeout=120)
    assert first["status"] == "completed"

    # A person edits a file between requirements: the next one must see it.
    edited = b"NAME = 'edited by hand'\n"
    put = api.http.put(
        "/api/workspace/files/implementation/app.py",
        content=edited,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code in (200, 201), put.text

    second_files = {
        "summary": "s",
        "files": [{"path": "app.py", "content": "NAME = 'two'\n"}],
        "delete": ["old.py"],
    }
    fake.anthropic.responder = fake.openai.responder = scripted(plan, lambda r: second_files)
    task_id = api.submit("now rename it", metadata={"project_context": {"team": "blue"}})["task_id"]
    task = api.wait(task_id, timeout=120)
    analysis = calls(fake, task_id, "analysis")[0].text
    assert "- app.py (" in analysis and "edited by hand" in analysis and "- old.py (" in analysis
    assert '"team": "blue"' in analysis

    _check_the_project_after_the_follow_up(api, task_id)
    assert task["status"] == "completed"
    api.http.close()


def _check_the_project_after_the_follow_up(api: Api, task_id: str) -> None:
    """The files, the task's changes (a modified and a deleted file) and the download."""
    listed = {f["path"] for f in api.http.get("/api/workspace/files").json()["files"]}
    assert listed == {"workspace/implementation/app.py", "workspace/implementation/test_app.py"}
    assert api.http.get("/api/workspace/files/implementation/app.py").content == b"NAME = 'two'\n"
    changes = {
        c["path"]: c for c in api.http.get(f"/api/tasks/{task_id}/changes").json()["changes"]
    }
    assert changes["workspace/implementation/app.py"]["change"] == "modified"
    assert (
        "-NAME = 'edited by hand'\n+NAME = 'two'\n"
        in changes["workspace/implementation/app.py"]["diff"]
    )
    assert changes["workspace/implementation/old.py"]["change"] == "deleted"
    deleted_diff = changes["workspace/implementation/old.py"]["diff"]
    assert deleted_diff.startswith("--- a/implementation/old.py\n+++ /dev/null\n"), deleted_diff
    assert deleted_diff.endswith("\n-LEGACY = True\n"), deleted_diff

    download = api.http.get("/api/workspace/download")
    assert download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        zipped = {name: archive.read(name) for name in archive.namelist()}
    for path in listed:
        inside = path.removeprefix("workspace/")
        assert zipped[inside] == api.http.get(f"/api/workspace/files/{inside}").content


def test_killing_the_workspace_mid_check_or_the_agents_while_waiting_loses_nothing(
    pipeline: System, fake: FakeLLM
) -> None:
    pipeline.start_all(("gateway", "agents", "workspace"))
    api = Api(pipeline)
    slow_test = TEST_CALC + "\n\ndef test_slowly():\n    import time\n    time.sleep(4)\n"
    files = calc("return a + b")
    files["files"][1]["content"] = slow_test
    fake.anthropic.responder = fake.openai.responder = scripted(CALC_PLAN, lambda r: files)
    restarts = 0

    def restart(service: str) -> None:
        nonlocal restarts
        restarts += 1
        running = [p for p in pipeline.processes if p.service == service and p.running()]
        running[-1].kill()
        pipeline.wait_ready({service: pipeline.start(service, log_name=f"{service}-{restarts}")})

    for victim in ("workspace", "agents"):
        task_id = api.submit(f"kill the {victim}")["task_id"]
        api.wait_events(task_id, lambda types: "ChecksRequested" in types, timeout=60)
        restart(victim)  # SIGKILL: mid-check for the workspace, while waiting for the agents
        task = api.wait(task_id, timeout=120)
        types = api.types(task_id)
        assert types.count("ChecksRecorded") == 1, types
        assert types.count("ChecksRequested") == 1, types
        assert checks_of(task)["tests"]["details"]["passed"] == 2
        assert task_of(calls(fake, task_id, "validation")[0]) == task_id
    api.http.close()


def test_a_persons_file_outside_the_project_is_shown_to_the_analyst_of_the_next_requirement(
    live: Live,
) -> None:
    api, fake = live.api, live.fake
    marker = f"spec {uuid.uuid4().hex}: greet in French"
    put = api.http.put(
        "/api/workspace/files/notes/README.md",
        content=marker.encode(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code in (200, 201), put.text
    plan = {**CALC_PLAN, "entry_point": "", "entry_kind": "none"}
    fake.anthropic.responder = fake.openai.responder = scripted(
        plan, lambda r: calc("return a + b")
    )
    task_id = api.submit("do what notes/README.md says")["task_id"]
    api.wait(task_id, timeout=120)
    analysis = calls(fake, task_id, "analysis")[0].text
    size = len(marker.encode())
    assert f"- notes/README.md ({size})" in analysis, analysis
    assert f"--- notes/README.md\n{marker}" in analysis, analysis
    assert "outside the project directory implementation/" in analysis
    # The implementer is shown it too (it may need the spec), as a file outside the project.
    implementation = calls(fake, task_id, "implementation")[0].text
    assert marker in implementation
    # It stays the person's: the task's changes do not touch it.
    assert api.http.get("/api/workspace/files/notes/README.md").content == marker.encode()


def test_a_bad_implementer_answer_is_a_finding_for_the_next_round_not_a_crash(
    live: Live,
) -> None:
    api, fake = live.api, live.fake
    good = calc("return a + b")
    bad = {
        "summary": "bad paths",
        "files": [
            {"path": "../escape.py", "content": "X = 1\n"},
            {"path": "/tmp/absolute.py", "content": "X = 2\n"},
            *good["files"],
            {"path": "calc.py", "content": "X = 3\n"},  # the same path a second time
        ],
        "delete": ["never_existed.py"],
    }
    answers = iter([bad, good])
    fake.anthropic.responder = fake.openai.responder = scripted(CALC_PLAN, lambda r: next(answers))
    task_id = api.submit("a calculator, written badly first")["task_id"]
    task = api.wait(task_id, timeout=120)

    assert task["status"] == "completed"
    findings = task["validation_rounds"][0]["findings"]
    second = calls(fake, task_id, "implementation")[1].text
    for expected in (
        "'../escape.py' was not written",
        "'/tmp/absolute.py' was not written",
        "calc.py was written twice in one answer",
        "never_existed.py was not deleted: the project has no such file",
    ):
        assert any(expected in finding for finding in findings), findings
        assert expected in second  # the implementer is told what it got wrong
    # Nothing refused was applied, and the round that was wrong cost no sandbox run nor review.
    listed = {f["path"] for f in api.http.get("/api/workspace/files").json()["files"]}
    assert not any("escape" in p or "absolute" in p for p in listed), listed
    assert len(task["validation"]["rounds"]) == 1
    assert len(calls(fake, task_id, "validation")) == 1
    assert not (live.system.data_dir / "escape.py").exists()


def _sandbox_python_version() -> str:
    done = subprocess.run(
        ["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_models_are_told_the_sandbox_the_workspace_service_reports(
    pipeline: System, fake: FakeLLM
) -> None:
    # A site-packages of one made-up distribution, readable by the sandbox uid (pytest's own
    # temporary directories are not).
    site = Path(tempfile.mkdtemp(prefix="orch-world-", dir="/tmp"))
    try:
        site.chmod(0o755)
        info = site / "orchestrator_world_probe-4.5.6.dist-info"
        info.mkdir(mode=0o755)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: orchestrator-world-probe\nVersion: 4.5.6\n"
        )
        (info / "METADATA").chmod(0o644)
        pipeline.start_all(("gateway", "agents", "workspace"))
        api = Api(pipeline)
        fake.anthropic.responder = fake.openai.responder = scripted(
            {**CALC_PLAN, "entry_point": "", "entry_kind": "none"},
            lambda r: calc("return a + b"),
        )

        def prompts_of(requirement: str) -> tuple[str, str]:
            task_id = api.submit(requirement)["task_id"]
            api.wait(task_id, lambda t: bool(calls(fake, task_id, "implementation")))
            return (
                calls(fake, task_id, "analysis")[0].text,
                calls(fake, task_id, "implementation")[0].text,
            )

        python = _sandbox_python_version()
        for text in prompts_of("as configured by default"):
            assert f"CPython {python}, no network access" in text, text
            assert re.search(r"Installed: the standard library and .*fastapi \d", text), text
            assert "orchestrator-world-probe" not in text
            assert "listen on 127.0.0.1 on the port the plan names (default 8000)" in text

        # The workspace service restarted with other settings: the next prompts say so.
        workspace = next(p for p in pipeline.processes if p.service == "workspace")
        workspace.kill()
        restarted = pipeline.start(
            "workspace",
            log_name="workspace-reconfigured",
            SANDBOX_ALLOW_NETWORK="true",
            SANDBOX_SITE_PACKAGES=str(site),
        )
        pipeline.wait_ready({"workspace": restarted})

        def reported_network() -> bool:
            health = api.http.get("/api/health").json()
            world = health["services"]["workspace"]["details"].get("world") or {}
            return world.get("network") is True

        wait_until(reported_network, lambda: api.http.get("/api/health").text, timeout=20)
        for text in prompts_of("as configured now"):
            assert f"CPython {python}, network access" in text, text
            assert "Installed: the standard library and orchestrator-world-probe 4.5.6." in text
        api.http.close()
    finally:
        shutil.rmtree(site, ignore_errors=True)
