"""Validation's checks, decided and read without I/O: which to run on a round's candidate
files, and what pytest's JUnit XML report says.

- ``tests``: the project's pytest tests, when it has any (``test_*.py`` / ``*_test.py``); the
  outcome is read from the JUnit XML report, not from pytest's text.
- ``smoke``: the plan's entry point, run for real: a script must exit 0 within its limit; a server
  must answer an HTTP request on its health path with a non-5xx status.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from orchestrator.events.catalog import CheckOutcome, FileRef, RunPlan

JUNIT_MARK = "@@ORCHESTRATOR-JUNIT@@"
"""Printed between pytest's own output and its JUnit report in a check run's output."""
TAIL_LINES = 60
TAIL_CHARS = 4000


def is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


@dataclass(frozen=True)
class Smoke:
    entry: str
    """The project file to run."""
    kind: Literal["script", "server"]
    port: int
    health_path: str


@dataclass(frozen=True)
class CheckPlan:
    tests: bool
    smoke: Smoke | None
    not_run: dict[str, str] = field(default_factory=dict)
    """Checks that will not run, and why (recorded as such: never a silent pass)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Checks that fail without running (an entry point the project lacks)."""


def plan_checks(files: tuple[FileRef, ...], plan: RunPlan, server_entry: bool) -> CheckPlan:
    """What to run for ``files``; ``server_entry``: the entry point's code starts a server."""
    paths = {ref.path for ref in files}
    not_run: dict[str, str] = {}
    failed: dict[str, str] = {}
    tests = any(is_test_file(path) for path in paths)
    if not tests:
        not_run["tests"] = "the project has no test files (test_*.py)"
    smoke: Smoke | None = None
    entry = plan.entry_point
    if entry is None:
        not_run["smoke"] = "the plan names no entry point"
    elif entry not in paths:
        failed["smoke"] = f"the plan's entry point {entry} is not a file of the project"
    else:
        kind: Literal["script", "server"] = (
            "server" if plan.kind == "server" or server_entry else "script"
        )
        smoke = Smoke(entry, kind, plan.port or 8000, plan.health_path or "/")
    return CheckPlan(tests, smoke, not_run, failed)


@dataclass(frozen=True)
class JunitReport:
    passed: int
    failed: int
    errors: int
    skipped: int
    failing: tuple[str, ...]
    """``path::test`` ids of the failed and erroring tests."""
    messages: tuple[str, ...]
    """Their failure messages (the assertion pytest printed), in order."""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0 and self.passed > 0


def read_junit(xml: str) -> JunitReport | None:
    """pytest's ``--junitxml`` report, or None when it is not one."""
    try:
        # Untrusted (it comes out of the sandbox), but capped at the run's output limit, and
        # expat refuses entity expansion bombs since 2.4.
        root = ET.fromstring(xml)  # noqa: S314
    except ET.ParseError:
        return None
    cases = root.iter("testcase")
    passed = failed = errors = skipped = 0
    failing: list[str] = []
    messages: list[str] = []
    for case in cases:
        name = _case_id(case)
        failure = case.find("failure")
        error = case.find("error")
        if failure is not None or error is not None:
            bad = failure if failure is not None else error
            assert bad is not None
            failed += failure is not None
            errors += error is not None
            failing.append(name)
            messages.append(f"{name}: {bad.get('message') or ''}\n{bad.text or ''}".strip())
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if root.tag not in ("testsuites", "testsuite"):
        return None
    return JunitReport(passed, failed, errors, skipped, tuple(failing), tuple(messages))


def _case_id(case: ET.Element) -> str:
    module = (case.get("classname") or "").replace(".", "/")
    file = case.get("file") or (f"{module}.py" if module else "")
    return f"{file}::{case.get('name', '?')}" if file else case.get("name", "?")


def split_output(output: str) -> tuple[str, str | None]:
    """A tests run's output: pytest's own text, and the JUnit report printed after the mark."""
    text, mark, report = output.rpartition(JUNIT_MARK)  # ours is printed last
    return (text, report.strip()) if mark else (output, None)


def tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


def outcome_of_tests(output: str, exit_code: int | None, duration: float) -> CheckOutcome:
    """The ``tests`` check from a run's output and exit code."""
    text, xml = split_output(output)
    report = read_junit(xml) if xml else None
    if report is None:
        status = "passed" if exit_code == 0 else "failed"
        summary = f"pytest exited {exit_code}; no JUnit report was written"
        return CheckOutcome(
            name="tests",
            status=status,
            duration_s=duration,
            summary=summary,
            output_tail=tail(text),
        )
    counts = {
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "skipped": report.skipped,
    }
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no tests collected"
    shown = "\n\n".join(report.messages) if report.messages else text
    return CheckOutcome(
        name="tests",
        status="passed" if report.ok and exit_code == 0 else "failed",
        duration_s=duration,
        summary=summary,
        output_tail=tail(shown),
        details={**counts, "failing": list(report.failing)},
    )


def not_run(name: str, reason: str) -> CheckOutcome:
    return CheckOutcome(name=name, status="not_run", summary=reason)


def failed(name: str, reason: str, output: str = "", duration: float = 0.0) -> CheckOutcome:
    return CheckOutcome(
        name=name, status="failed", duration_s=duration, summary=reason, output_tail=tail(output)
    )


def passed(name: str, summary: str, output: str = "", duration: float = 0.0) -> CheckOutcome:
    return CheckOutcome(
        name=name, status="passed", duration_s=duration, summary=summary, output_tail=tail(output)
    )


def pytest_command(junit_path: str) -> str:
    """The shell command of the ``tests`` check: pytest, then its JUnit report after the mark
    (the report leaves the sandbox on the output, whatever the sandbox lets it write)."""
    return (
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -q -p no:cacheprovider "
        f"--junitxml={junit_path} -o junit_family=xunit1; status=$?; "
        f'echo "{JUNIT_MARK}"; cat {junit_path} 2>/dev/null; exit $status'
    )
