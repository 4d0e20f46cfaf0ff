"""Validation's checks as the workspace service runs them: a ``ChecksRequested`` appended to a
task's subject (as the agents service appends it), the candidate files in the object store, and
the ``ChecksRecorded`` the service answers with, from real runs in the real sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import (
    CheckOutcome,
    ChecksRecorded,
    ChecksRequested,
    FileRef,
    RunPlan,
    TaskSubmitted,
)
from orchestrator.workspace.check_runner import KILL_MARGIN
from tests.harness import System, eventually

from .conftest import SANDBOX_MODES, TEST_ENV, jetstream_of, put_content, system_in_mode

EXEC_TIMEOUT = float(TEST_ENV["EXEC_TIMEOUT"])
SERVER_STARTUP = float(TEST_ENV["CHECK_SERVER_STARTUP"])


async def request_checks(
    js: JetStreamContext,
    files: dict[str, str],
    plan: RunPlan,
    *,
    missing: tuple[str, ...] = (),
    timeout: float = 60.0,
) -> dict[str, CheckOutcome]:
    """Ask for round 1's checks of ``files`` (``missing``: paths whose content is never stored)
    on a task of its own; the outcomes recorded, by check name."""
    refs = []
    for path, text in files.items():
        data = text.encode()
        digest = uuid.uuid4().hex * 2 if path in missing else await put_content(js, data)
        refs.append(FileRef(path=path, digest=digest, size=len(data)))
    task_id = f"task_{uuid.uuid4().hex}"
    subject = subjects.task(task_id)
    store = EventStore(js)
    await store.append(subject, TaskSubmitted(task_id=task_id, requirement="checks", priority=5))
    request = ChecksRequested(task_id=task_id, round=1, files=tuple(refs), plan=plan)
    await store.append(subject, request, correlation_id=task_id)

    async def recorded() -> list[ChecksRecorded]:
        events, _ = await store.load(subject)
        return [e.event for e in events if isinstance(e.event, ChecksRecorded)]

    found: list[ChecksRecorded] = await eventually(
        recorded, timeout=timeout, interval=0.3, what=f"{task_id}'s checks recorded"
    )
    assert len(found) == 1, found
    return {check.name: check for check in found[0].checks}


@pytest.fixture(scope="module", params=SANDBOX_MODES)
def moded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    yield from system_in_mode(request, tmp_path_factory)


def many_tests(passing: int, failing: int, erroring: int) -> str:
    """A test module: ``passing`` tests that pass, ``failing`` that fail an assertion,
    ``erroring`` whose fixture raises (pytest's errors)."""
    parts = ["import pytest\n\n\n@pytest.fixture\ndef broken():\n    raise RuntimeError('no')\n"]
    parts += [f"def test_passes_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(passing)]
    parts += [
        f"def test_fails_{i}():\n    assert {i} == -{i} - 1, 'failure {i}'\n"
        for i in range(failing)
    ]
    parts += [f"def test_errors_{i}(broken):\n    pass\n" for i in range(erroring)]
    return "\n\n".join(parts)


async def test_a_report_of_sixty_odd_tests_comes_back_with_exact_counts_and_failing_ids(
    moded: System,
) -> None:
    # The report of this many tests is far longer than one output line (4,096 characters).
    passing, failing, erroring = 58, 7, 3
    files = {"calc.py": "X = 1\n", "test_many.py": many_tests(passing, failing, erroring)}
    async with jetstream_of(moded) as js:
        outcomes = await request_checks(js, files, RunPlan())
    tests = outcomes["tests"]
    assert tests.status == "failed", tests
    details = tests.details
    assert (details["passed"], details["failed"], details["errors"]) == (passing, failing, erroring)
    assert details["failing"] == [
        *(f"test_many.py::test_fails_{i}" for i in range(failing)),
        *(f"test_many.py::test_errors_{i}" for i in range(erroring)),
    ]
    assert tests.summary == f"{passing} passed, {failing} failed, {erroring} errors"
    assert f"failure {failing - 1}" in tests.output_tail  # the last failure's own message


async def test_the_plans_test_command_is_the_one_that_runs(moded: System) -> None:
    files = {
        "calc.py": "def add(a, b):\n    return a + b\n",
        "tests/test_calc.py": (
            "def test_add():\n    assert 1 + 2 == 3\n\n\n"
            "def test_sub_wrong():\n    assert 3 - 1 == 1\n\n\n"
            "def test_slow_thing():\n    assert False, 'deselected by the command'\n"
        ),
    }
    # A pytest run however the command starts it (a folder, a bare `pytest`, its own options):
    # the outcome is still read from the JUnit report.
    command = "cd tests && pytest -q -k 'not slow'"
    async with jetstream_of(moded) as js:
        tests = (await request_checks(js, files, RunPlan(test_command=command)))["tests"]
        assert tests.status == "failed", tests
        assert (tests.details["passed"], tests.details["failed"]) == (1, 1), tests
        assert tests.details["failing"] == ["test_calc.py::test_sub_wrong"]
        assert "deselected by the command" not in tests.output_tail

        # Not pytest: judged by its exit status, with the tail of its output.
        unit = {
            "calc.py": files["calc.py"],
            "test_calc.py": (
                "import unittest\n\nfrom calc import add\n\n\nclass Add(unittest.TestCase):\n"
                "    def test_add(self):\n        self.assertEqual(add(1, 2), 4)\n"
            ),
        }
        plan = RunPlan(test_command="python -m unittest -v test_calc")
        tests = (await request_checks(js, unit, plan))["tests"]
    assert tests.status == "failed" and tests.details == {}, tests
    assert tests.summary.startswith("python -m unittest -v test_calc exited 1"), tests
    assert "FAILED (failures=1)" in tests.output_tail and "3 != 4" in tests.output_tail


async def test_a_hanging_test_run_is_killed_at_its_limit_and_reported_failed(
    ws_system: System, wjs: JetStreamContext
) -> None:
    files = {
        "test_hang.py": (
            "import time\n\n\ndef test_quick():\n    assert True\n\n\n"
            "def test_hangs():\n    print('about to hang', flush=True)\n    time.sleep(600)\n"
        )
    }
    plan = RunPlan(test_command="python -m pytest -q -s")
    tests = (await request_checks(wjs, files, plan))["tests"]
    limit = max(EXEC_TIMEOUT - KILL_MARGIN, EXEC_TIMEOUT / 2)
    assert tests.name == "tests" and tests.status == "failed", tests
    assert tests.summary.startswith(f"the tests ran past {limit:g}s and were killed"), tests
    assert limit <= tests.duration_s < EXEC_TIMEOUT + 5, tests
    assert "about to hang" in tests.output_tail, tests


async def test_a_server_that_never_opens_its_port_fails_its_smoke_check_within_the_bound(
    ws_system: System, wjs: JetStreamContext
) -> None:
    server = (
        "import time\n\nif __name__ == '__main__':\n"
        "    print('starting, but never listening', flush=True)\n    time.sleep(600)\n"
    )
    plan = RunPlan(entry_point="serve.py", kind="server", port=8000)
    smoke = (await request_checks(wjs, {"serve.py": server}, plan))["smoke"]
    assert smoke.status == "failed", smoke
    assert smoke.summary.startswith("serve.py never answered GET / on port 8000"), smoke
    assert SERVER_STARTUP <= smoke.duration_s < SERVER_STARTUP + 10, smoke
    assert "starting, but never listening" in smoke.output_tail


async def test_checks_that_fail_on_every_delivery_are_recorded_not_run_on_the_last(
    ws_system: System, wjs: JetStreamContext
) -> None:
    # A real fault, every time: the request names content the object store does not hold.
    files = {"app.py": "print('hi')\n", "test_app.py": "def test_it():\n    pass\n"}
    plan = RunPlan(entry_point="app.py")
    outcomes = await request_checks(wjs, files, plan, missing=("test_app.py",), timeout=90)
    for name in ("tests", "smoke"):
        assert outcomes[name].status == "not_run", outcomes
        assert "ContentMissing on each of 5 attempts" in outcomes[name].summary, outcomes


async def test_without_a_sandbox_the_checks_are_recorded_not_run_never_passed(
    system: System,
) -> None:
    system.env.update(TEST_ENV)
    system.start_all(("workspace",), SANDBOX_MODE="bwrap", SANDBOX_BWRAP="/nonexistent/bwrap")
    files = {"app.py": "print('hi')\n", "test_app.py": "def test_it():\n    pass\n"}
    async with jetstream_of(system) as js:
        outcomes = await request_checks(js, files, RunPlan(entry_point="app.py"))
    assert {name: o.status for name, o in outcomes.items()} == {
        "tests": "not_run",
        "smoke": "not_run",
    }
    for outcome in outcomes.values():
        assert outcome.summary == "no sandbox is available here (refused)", outcome
