"""The ``orchestrator`` command, run as a user runs it: a subprocess of the installed script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from orchestrator.launcher.nats_server import free_port
from orchestrator_client import Client
from tests.fakes import Error, FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System, wait_until
from tests.pipeline.conftest import PLAN, REVIEW_OK, answer, happy, held, stage_of

from .conftest import TOKEN
from .error_page import proxy_error_page

CLI = str(Path(sys.executable).parent / "orchestrator")
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]
"""Runs the command that follows with SIGINT as a terminal leaves it. In the whole suite a pytest
worker was seen with SIGINT and SIGQUIT ignored (``/proc``: ``SigIgn ...1006``; what did it is
not found, ignoring those two is what C's ``system()`` does while it runs), an ignored signal is
inherited across exec, and a CLI started then never got its Ctrl-C."""
REQUIREMENT = "I want a FastAPI server that serves Hello World"
TICKER = (
    "import time\nfor i in range(600):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.1)\n"
)


def cli(url: str, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCHESTRATOR_URL": url}
    env.pop("ORCHESTRATOR_TOKEN", None)
    if token is not None:
        env["ORCHESTRATOR_TOKEN"] = token
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_submit_watch_json_prints_frames_then_the_final_task(system: System) -> None:
    done = cli(system.base_url, "submit", REQUIREMENT, "--priority", "6", "--watch", "--json")

    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    final = lines[-1]
    assert (final["status"], final["priority"]) == ("completed", 6)
    assert "implementation/hello_world.py" in [f["path"] for f in final["files"]]
    updates = [line for line in lines[:-1] if line["type"] == "task_update"]
    assert {u["task_id"] for u in updates} == {final["id"]}
    assert [u["stage"] for u in updates if u.get("summary")] == [
        "analysis",
        "implementation",
        "validation",
        "integration",
    ]


def test_submit_watch_shows_each_stage_then_the_files_and_the_cost(
    system: System, fake: FakeLLM
) -> None:
    def slow_analysis(request: RecordedRequest) -> Reply:
        # Tokens are live only: the analyst starts writing once the command is listening.
        stage = stage_of(request)
        return answer(stage, delay=1.0) if stage == "analysis" else answer(stage)

    fake.anthropic.responder = slow_analysis
    done = cli(system.base_url, "submit", REQUIREMENT, "--watch", "--verbose")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    for stage in ("analysis", "implementation", "validation", "integration"):
        assert stage in out
    assert "completed" in out
    assert "implementation/hello_world.py" in out
    assert "cost" in out and "$" in out
    assert '"run_command"' in out  # the model's tokens (the plan's JSON), streamed


def test_reading_commands_print_json_that_parses(system: System) -> None:
    with Client(system.base_url) as client:
        task_id = client.submit("print hello world").task_id
        client.wait(task_id, timeout=60)

    shown = json_lines(cli(system.base_url, "show", task_id, "--json").stdout)
    assert shown[0]["id"] == task_id
    listed = json_lines(cli(system.base_url, "tasks", "--json").stdout)[0]
    assert task_id in [t["id"] for t in listed["tasks"]]
    files = json_lines(cli(system.base_url, "files", "--json").stdout)[0]
    assert "workspace/implementation/hello_world.py" in [f["path"] for f in files["files"]]
    content = cli(system.base_url, "cat", "implementation/hello_world.py")
    assert content.stdout == "print('Hello, World!')\n"
    assert json_lines(cli(system.base_url, "health", "--json").stdout)[0]["status"] == "ok"
    settings = json_lines(cli(system.base_url, "settings", "show", "--json").stdout)[0]
    assert "anthropic_api_key" in settings
    watched = cli(system.base_url, "watch", task_id, "--json")
    assert json_lines(watched.stdout)[-1]["status"] == "completed"


def test_run_streams_the_output_and_exits_with_the_programs_code(system: System) -> None:
    with Client(system.base_url) as client:
        client.wait(client.submit("print hello world").task_id, timeout=60)

    done = cli(system.base_url, "run", "hello_world.py")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello, World!\n"
    assert "exit code 0" in done.stderr


def test_reset_archives_and_restore_brings_a_file_back(system: System) -> None:
    with Client(system.base_url) as client:
        client.wait(client.submit("print hello world").task_id, timeout=60)

    reset = json_lines(cli(system.base_url, "reset", "--json").stdout)[0]
    archive = reset["archive_name"]
    names = [
        a["name"]
        for a in json_lines(cli(system.base_url, "archives", "--json").stdout)[0]["archives"]
    ]
    assert archive in names
    inside = json_lines(cli(system.base_url, "archives", archive, "--json").stdout)[0]
    assert "implementation/hello_world.py" in [f["path"] for f in inside["files"]]
    restored = cli(system.base_url, "restore", archive, "hello_world.py", "--json")
    assert restored.returncode == 0, restored.stderr
    assert (
        json_lines(restored.stdout)[0]["workspace_path"]
        == "workspace/implementation/hello_world.py"
    )


def test_settings_set_changes_only_what_is_given(system: System) -> None:
    done = cli(
        system.base_url,
        "settings",
        "set",
        "--agent",
        "codex",
        "--model",
        "gpt-test-model",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    saved = json_lines(done.stdout)[0]
    assert saved["updated"] == ["agents.codex.model"]
    assert saved["settings"]["agents"]["codex"]["model"] == "gpt-test-model"
    cleared = cli(system.base_url, "settings", "set", "--agent", "codex", "--model", "")
    assert cleared.returncode == 0, cleared.stderr


def test_a_failed_task_exits_non_zero(system: System, fake: FakeLLM) -> None:
    def analysis_fails(request: RecordedRequest) -> Reply:
        if "please fail" in request.text:
            return Error(401)
        return answer(stage_of(request))

    fake.anthropic.responder = analysis_fails
    done = cli(system.base_url, "submit", "please fail", "--watch", "--json")

    assert done.returncode == 1, done.stderr
    failed = json_lines(done.stdout)[-1]
    assert (failed["status"], failed["error"]["stage"]) == ("failed", "analysis")

    fake.anthropic.responder = happy
    retried = cli(system.base_url, "retry", failed["id"], "--watch", "--json")
    assert retried.returncode == 0, retried.stderr
    assert json_lines(retried.stdout)[-1]["status"] == "completed"


def test_cancel_stops_a_task_and_watching_it_exits_non_zero(system: System, fake: FakeLLM) -> None:
    release = threading.Event()
    fake.anthropic.responder = held("cancel me", release)
    try:
        with Client(system.base_url) as client:
            task_id = client.submit("cancel me").task_id
            cancelled = cli(system.base_url, "cancel", task_id, "--json")
            assert cancelled.returncode == 0, cancelled.stderr
            assert json_lines(cancelled.stdout)[0]["status"] == "cancelled"
            watched = cli(system.base_url, "watch", task_id, "--json")
            assert watched.returncode == 1
            assert json_lines(watched.stdout)[-1]["status"] == "cancelled"
    finally:
        release.set()


def test_ctrl_c_during_run_stops_the_execution(system: System, fake: FakeLLM) -> None:
    def ticker(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        if "ticker" not in request.text:
            return answer(stage)
        if stage == "analysis":
            return Text(
                json.dumps(
                    {
                        **PLAN,
                        "files": [{"path": "ticker.py", "purpose": "ticks"}],
                        "run_command": "python ticker.py",
                    }
                )
            )
        if stage == "implementation":
            return Text(
                json.dumps(
                    {"summary": "ticks", "files": [{"path": "ticker.py", "content": TICKER}]}
                )
            )
        return Text(json.dumps(REVIEW_OK))

    fake.anthropic.responder = fake.openai.responder = ticker
    with Client(system.base_url) as client:
        assert client.wait(client.submit("a ticker").task_id, timeout=60).status == "completed"
        env = {**os.environ, "ORCHESTRATOR_URL": system.base_url}
        process = subprocess.Popen(
            [*AS_FROM_A_TERMINAL, CLI, "run", "ticker.py"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().startswith("tick")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)

        assert process.returncode == 130, stderr
        assert "stopped" in stderr and "Traceback" not in stderr
        latest = client.executions().executions[0]
        assert latest.path.endswith("ticker.py")
        assert (latest.stop_requested, latest.status) == (True, "stopped")


def test_a_gateway_that_is_down_is_one_line_and_non_zero() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(url, "tasks")

    assert done.returncode == 4
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"orchestrator: cannot reach the gateway at {url}: is it running?"
    ]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:8100", "it must start with http:// or https:// (did you mean http://localhost"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://", "it names no host"),
        ("http://127.0.0.1:port", "Port could not be cast"),
    ],
)
def test_a_gateway_url_that_is_not_one_is_a_usage_error_naming_it(url: str, reason: str) -> None:
    done = cli(url, "tasks")

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"orchestrator: the gateway URL {url!r} is not valid: {reason}")
    assert lines[0].endswith("set --url or ORCHESTRATOR_URL")


def test_an_html_error_page_in_front_of_the_gateway_is_one_bounded_line() -> None:
    with proxy_error_page() as url:
        done = cli(url, "tasks")

    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("orchestrator: UNEXPECTED_RESPONSE: HTTP 502: 502 Bad Gateway")
    assert "nginx/1.22.1" in lines[0]
    assert "<" not in lines[0] and "font-family" not in lines[0]
    assert len(lines[0]) < 300
    assert "Traceback" not in done.stderr


def test_a_wrong_token_is_one_line_and_non_zero(guarded: str) -> None:
    done = cli(guarded, "tasks", token="wrong")

    assert done.returncode == 5
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unauthorized" in lines[0]
    assert "Traceback" not in done.stderr
    assert cli(guarded, "tasks", "--json", token=TOKEN).returncode == 0


def test_a_gated_task_is_steered_from_the_command_line_and_usage_adds_up(system: System) -> None:
    submitted = cli(
        system.base_url,
        "submit",
        REQUIREMENT,
        "--approval",
        "plan",
        "--max-tokens",
        "100000",
        "--json",
    )
    assert submitted.returncode == 0, submitted.stderr
    task_id = json_lines(submitted.stdout)[0]["task_id"]
    with Client(system.base_url) as client:
        wait_until(
            lambda: client.task(task_id).status == "awaiting_approval", timeout=60, what="gate"
        )

    shown = cli(system.base_url, "show", task_id)
    assert "waiting" in shown.stdout and "plan gate" in shown.stdout
    assert "100000 tokens" in shown.stdout
    sent = cli(system.base_url, "feedback", task_id, "add a README too")
    assert sent.returncode == 0, sent.stderr
    assert "sent back at the plan gate" in sent.stdout
    with Client(system.base_url) as client:

        def revised() -> bool:
            approval = client.task(task_id).approval
            return approval is not None and approval.round == 2

        wait_until(revised, timeout=60, what="the revised plan's gate")
        waiting = client.task(task_id)
    assert [a.status for a in waiting.approvals] == ["revise", "waiting"]

    approved = cli(system.base_url, "approve", task_id, "--watch")
    assert approved.returncode == 0, approved.stderr + approved.stdout
    assert "completed" in approved.stdout
    again = cli(system.base_url, "approve", task_id)
    assert again.returncode == 3  # refused: the task no longer waits
    assert "CONFLICT" in again.stderr and "Traceback" not in again.stderr

    report = cli(system.base_url, "usage", "--json")
    assert report.returncode == 0, report.stderr
    usage = json_lines(report.stdout)[0]
    assert usage["total"]["calls"] >= 4  # two plans, an implementation, a review at least
    assert sum(a["calls"] for a in usage["by_agent"].values()) == usage["total"]["calls"]
    table = cli(system.base_url, "usage")
    assert "claude" in table.stdout and "total" in table.stdout
