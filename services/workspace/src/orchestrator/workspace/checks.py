"""Validation's checks, decided and read without I/O: which to run on a round's candidate
files, and what the tests check's output and pytest's JUnit XML report say.

- ``tests``: the project's tests, when it has any (``test_*.py`` / ``*_test.py``), run by the
  plan's ``test_command`` (default ``python -m pytest -q``) through :mod:`.tests_program`. When
  the command runs pytest, the outcome is read from its JUnit XML report, not from its text;
  otherwise it is the command's exit status, with the tail of its output.
- ``smoke``: the plan's entry point, run for real: a script must exit 0 within its limit; a server
  must answer an HTTP request on its health path with a non-5xx status.
"""

from __future__ import annotations

import base64
import binascii
import signal
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from orchestrator.events.catalog import CheckOutcome, FileRef, RunPlan

from .tests_program import JUNIT_END, JUNIT_MARK, STATUS_MARK

DEFAULT_TEST_COMMAND = "python -m pytest -q"
MAX_REPORT_BYTES = 16 << 20
"""The largest JUnit report read (uncompressed): it comes out of the sandbox."""
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
    test_command: str = DEFAULT_TEST_COMMAND
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
    command = (plan.test_command or "").strip() or DEFAULT_TEST_COMMAND
    return CheckPlan(tests, smoke, command, not_run, failed)


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
        # Untrusted (it comes out of the sandbox), but capped at MAX_REPORT_BYTES, and expat
        # refuses entity expansion bombs since 2.4.
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


@dataclass(frozen=True)
class TestsOutput:
    """What :mod:`.tests_program` printed, read back."""

    status: int | None
    """The test command's exit status (negative: killed by that signal); None: not printed."""
    timed_out: float | None
    """The limit the command was killed at, when it ran past it."""
    report: str | None
    """pytest's JUnit XML report, when it wrote one and it came back whole."""
    report_problem: str | None
    """Why a report that was sent could not be read back."""
    text: str
    """The tail of the command's output (all of the run's output when the program never ran)."""


def read_tests_output(output: str) -> TestsOutput:
    """The tests run's output: the status line, the report's chunks, the command's output."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(STATUS_MARK)), None)
    if first is None:
        return TestsOutput(None, None, None, None, output)
    status, timed_out = _status(lines[first].removeprefix(STATUS_MARK).strip())
    rest = lines[first + 1 :]
    report = problem = None
    if rest and rest[0] == JUNIT_MARK:
        if JUNIT_END in rest:
            end = rest.index(JUNIT_END)
            report, problem = _report("".join(rest[1:end]))
            rest = rest[end + 1 :]
        else:
            problem = "the JUnit report was cut at the run's output limit"
            rest = []
    return TestsOutput(status, timed_out, report, problem, "\n".join(rest))


def _status(text: str) -> tuple[int | None, float | None]:
    key, _, value = text.partition("=")
    try:
        if key == "exit":
            return int(value), None
        if key == "timeout":
            return None, float(value)
    except ValueError:
        pass
    return None, None


def _report(encoded: str) -> tuple[str | None, str | None]:
    """The report's XML from its compressed, base64 chunks (bounded: it comes from the sandbox)."""
    try:
        packed = base64.b64decode(encoded, validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_REPORT_BYTES)
    except (binascii.Error, ValueError, zlib.error):
        return None, "the JUnit report came back damaged (cut at the run's output line limit?)"
    if inflater.unconsumed_tail:
        return None, f"the JUnit report is larger than {MAX_REPORT_BYTES} bytes"
    if not inflater.eof:
        return None, "the JUnit report came back incomplete"
    return data.decode("utf-8", errors="replace"), None


def tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


def outcome_of_tests(
    output: str, exit_code: int | None, duration: float, command: str = DEFAULT_TEST_COMMAND
) -> CheckOutcome:
    """The ``tests`` check from a run's output (``exit_code``: the run's own, when the output
    does not say how the command ended)."""
    run = read_tests_output(output)
    if run.timed_out is not None:
        reason = f"the tests ran past {run.timed_out:g}s and were killed ({command})"
        return failed("tests", reason, run.text, duration)
    status = run.status if run.status is not None else exit_code
    report = read_junit(run.report) if run.report else None
    if report is None:
        why = run.report_problem or "no JUnit report was written"
        return CheckOutcome(
            name="tests",
            status="passed" if status == 0 else "failed",
            duration_s=duration,
            summary=f"{command} {_ended(status)}; {why}",
            output_tail=tail(run.text),
        )
    counts = {
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "skipped": report.skipped,
    }
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no tests collected"
    shown = "\n\n".join(report.messages) if report.messages else run.text
    return CheckOutcome(
        name="tests",
        status="passed" if report.ok and status == 0 else "failed",
        duration_s=duration,
        summary=summary,
        output_tail=tail(shown),
        details={**counts, "failing": list(report.failing)},
    )


def _ended(status: int | None) -> str:
    if status is None or status >= 0:
        return f"exited {status}"
    try:
        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"


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
