"""Validation's checks as pure decisions, and pytest's real JUnit report read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.events.catalog import FileRef, RunPlan
from orchestrator.workspace import tests_program
from orchestrator.workspace.checks import (
    DEFAULT_TEST_COMMAND,
    outcome_of_tests,
    plan_checks,
    read_junit,
    read_tests_output,
)
from orchestrator.workspace.output import OutputLimiter


def ref(path: str) -> FileRef:
    return FileRef(path=path, digest="0" * 64, size=1)


def test_tests_run_only_when_the_project_has_test_files() -> None:
    plain = plan_checks((ref("app.py"),), RunPlan(), server_entry=False)
    assert not plain.tests and "tests" in plain.not_run and "smoke" in plain.not_run
    tested = plan_checks((ref("app.py"), ref("tests/test_app.py")), RunPlan(), server_entry=False)
    assert tested.tests and "tests" not in tested.not_run


def test_the_smoke_run_follows_the_plan_and_fails_for_a_missing_entry_point() -> None:
    files = (ref("main.py"),)
    script = plan_checks(files, RunPlan(entry_point="main.py"), server_entry=False)
    assert script.smoke is not None and script.smoke.kind == "script"
    server = plan_checks(files, RunPlan(entry_point="main.py", port=9000), server_entry=True)
    assert server.smoke is not None and (server.smoke.kind, server.smoke.port) == ("server", 9000)
    missing = plan_checks(files, RunPlan(entry_point="nope.py"), server_entry=False)
    assert missing.smoke is None and "nope.py" in missing.failed["smoke"]


def run_tests_program(project: Path, command: str, limit: float = 30.0, chunk: int = 1024) -> str:
    """The tests program's output, run on the host the way the sandbox runs it."""
    source = Path(tests_program.__file__).read_text()
    result = subprocess.run(
        [sys.executable, "-c", source, command, str(limit), str(chunk)],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(project), "PYTHONUNBUFFERED": "1"},
    )
    return result.stdout


def test_pytests_own_junit_report_gives_counts_failing_ids_and_the_assertion(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_calc.py").write_text(
        "def test_adds():\n    assert 1 + 1 == 2\n\n"
        "def test_subtracts():\n    assert 3 - 1 == 1, 'off by one'\n"
    )
    output = run_tests_program(tmp_path, DEFAULT_TEST_COMMAND)
    read = read_tests_output(output)
    assert read.status == 1 and read.report is not None and read.report_problem is None
    report = read_junit(read.report)
    assert report is not None
    assert (report.passed, report.failed, report.errors) == (1, 1, 0)
    assert report.failing == ("test_calc.py::test_subtracts",)
    assert "off by one" in report.messages[0]
    assert "1 failed, 1 passed" in read.text  # pytest's own text, after the report
    outcome = outcome_of_tests(output, 0, 0.5)
    assert outcome.status == "failed" and outcome.details["failing"] == list(report.failing)
    assert "off by one" in outcome.output_tail and outcome.summary == "1 passed, 1 failed"


def many_tests(passing: int, failing: int) -> str:
    cases = [f"def test_passes_{i}():\n    assert {i} == {i}\n" for i in range(passing)]
    cases += [
        f"def test_fails_{i}():\n    assert {i} == -1, 'failure number {i}'\n"
        for i in range(failing)
    ]
    return "\n\n".join(cases)


def test_a_report_far_longer_than_an_output_line_comes_back_whole_through_the_limiter(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_many.py").write_text(many_tests(80, 9))
    output = run_tests_program(tmp_path, DEFAULT_TEST_COMMAND, chunk=100)
    # What a run keeps of it, with the line limit the settings allow at their smallest.
    limiter = OutputLimiter(max_line=100, max_bytes=1 << 20, max_lines=10_000)
    kept = "\n".join([*limiter.feed(output.encode()), *limiter.close()])
    assert not limiter.truncated
    outcome = outcome_of_tests(kept, 0, 1.0)
    assert outcome.details["passed"] == 80 and outcome.details["failed"] == 9, outcome
    assert outcome.details["failing"] == [f"test_many.py::test_fails_{i}" for i in range(9)]


def test_a_report_cut_by_the_output_limit_is_said_so_and_judged_by_the_exit_status(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_many.py").write_text(many_tests(200, 1))
    output = run_tests_program(tmp_path, DEFAULT_TEST_COMMAND, chunk=100)
    limiter = OutputLimiter(max_line=100, max_bytes=1024, max_lines=10_000)
    kept = "\n".join([*limiter.feed(output.encode()), *limiter.close()])
    assert limiter.truncated
    outcome = outcome_of_tests(kept, 0, 1.0)
    assert outcome.status == "failed" and "cut at the run's output limit" in outcome.summary


def test_another_test_command_is_judged_by_its_exit_status_and_output_tail(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_calc.py").write_text(
        "import unittest\n\n\nclass T(unittest.TestCase):\n"
        "    def test_wrong(self):\n        self.assertEqual(1, 2)\n"
    )
    output = run_tests_program(tmp_path, "python -m unittest -v")
    outcome = outcome_of_tests(output, 0, 1.0, "python -m unittest -v")
    assert outcome.status == "failed" and outcome.details == {}
    assert outcome.summary.startswith("python -m unittest -v exited 1;"), outcome.summary
    assert "FAILED (failures=1)" in outcome.output_tail


def test_a_test_command_past_its_limit_is_killed_with_its_output_tail(tmp_path: Path) -> None:
    command = "echo before the hang; sleep 60"
    output = run_tests_program(tmp_path, command, limit=1.0)
    outcome = outcome_of_tests(output, 0, 1.2, command)
    assert outcome.status == "failed" and "ran past 1s" in outcome.summary
    assert outcome.output_tail == "before the hang"


def test_output_without_a_report_is_judged_by_the_exit_code_alone() -> None:
    plain = read_tests_output("plain text")
    assert (plain.text, plain.report, plain.status) == ("plain text", None, None)
    assert outcome_of_tests("boom", 2, 0.1).status == "failed"
    assert read_junit("<not-xml") is None


def test_a_request_is_wanted_until_its_round_is_recorded_or_the_task_ends_after_it() -> None:
    from orchestrator.events.catalog import ChecksRecorded, ChecksRequested, TaskFailed
    from orchestrator.events.testing import recorded
    from orchestrator.workspace.checks_handler import still_wanted

    request = ChecksRequested(task_id="t", round=2, files=())
    before = recorded(TaskFailed(task_id="t", stage="validation", code="X", message="m"), 3)
    assert still_wanted([before, recorded(request, 5)], 5, request)  # a retried task's request
    done = recorded(ChecksRecorded(task_id="t", round=2, checks=()), 6)
    assert not still_wanted([before, recorded(request, 5), done], 5, request)
    ended = recorded(TaskFailed(task_id="t", stage="validation", code="X", message="m"), 7)
    assert not still_wanted([recorded(request, 5), ended], 5, request)
