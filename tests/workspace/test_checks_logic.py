"""Validation's checks as pure decisions, and pytest's real JUnit report read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.events.catalog import FileRef, RunPlan
from orchestrator.workspace.checks import (
    JUNIT_MARK,
    outcome_of_tests,
    plan_checks,
    read_junit,
    split_output,
)


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


def test_pytests_own_junit_report_gives_counts_failing_ids_and_the_assertion(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_calc.py").write_text(
        "def test_adds():\n    assert 1 + 1 == 2\n\n"
        "def test_subtracts():\n    assert 3 - 1 == 1, 'off by one'\n"
    )
    junit = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"},
    )
    report = read_junit(junit.read_text())
    assert report is not None
    assert (report.passed, report.failed, report.errors) == (1, 1, 0)
    assert report.failing == ("test_calc.py::test_subtracts",)
    assert "off by one" in report.messages[0]
    outcome = outcome_of_tests(
        result.stdout + f"\n{JUNIT_MARK}\n" + junit.read_text(), result.returncode, 0.5
    )
    assert outcome.status == "failed" and outcome.details["failing"] == list(report.failing)
    assert "off by one" in outcome.output_tail and outcome.summary == "1 passed, 1 failed"


def test_output_without_a_report_is_judged_by_the_exit_code_alone() -> None:
    assert split_output("plain text") == ("plain text", None)
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
