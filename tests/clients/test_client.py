"""The client against the real system: a task end to end, runs, files, archives, settings."""

from __future__ import annotations

import hashlib
import threading
import uuid

from orchestrator_client import (
    AsyncClient,
    Client,
    ExecutionOutput,
    ModelOutput,
    RunStarted,
    SettingsUpdate,
    Task,
    TaskUpdate,
)
from tests.fakes import FakeLLM
from tests.harness import System
from tests.pipeline.conftest import held

REQUIREMENT = "I want a FastAPI server that serves Hello World"


def test_a_submitted_task_completes_and_wait_returns_it(client: Client) -> None:
    submitted = client.submit(REQUIREMENT, priority=7)
    assert submitted.agents_assigned == ["claude", "codex", "claude2", "ide"]

    task = client.wait(submitted.task_id, timeout=60)

    assert isinstance(task, Task)
    assert (task.id, task.status, task.priority) == (submitted.task_id, "completed", 7)
    assert [s.stage for s in task.stages] == [
        "analysis",
        "implementation",
        "validation",
        "integration",
    ]
    assert "implementation/hello_world.py" in [f.path for f in task.files]
    assert task.cost_usd is not None and task.cost_usd > 0 and task.tokens.output > 0
    assert submitted.task_id in [t.id for t in client.tasks(status="completed").tasks]
    assert client.read_file("hello_world.py") == b"print('Hello, World!')\n"
    listed = {f.name: f for f in client.files().files}
    assert listed["hello_world.py"].runnable


def test_every_submit_carries_an_idempotency_key_a_retry_reuses(client: Client) -> None:
    first = client.submit("print hello world")
    history = client.task_events(first.task_id)
    assert history.events[0].type == "TaskSubmitted"
    uuid.UUID(history.events[0].data["idempotency_key"])  # a uuid4, made by the client

    key = f"retry-{uuid.uuid4()}"
    again = [client.submit("print hello world", idempotency_key=key) for _ in range(2)]
    assert again[0].task_id == again[1].task_id
    assert again[0].task_id == f"task_{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    client.wait(again[0].task_id, timeout=60)
    client.wait(first.task_id, timeout=60)


async def test_the_async_client_follows_a_task_with_its_model_output(
    system: System, fake: FakeLLM
) -> None:
    # The analysis is held until the stream is open, so neither its frames nor its model
    # output can be over before the client connects (the fake answers in milliseconds).
    release = threading.Event()
    fake.anthropic.responder = held("follow me", release, stage="analysis")
    async with AsyncClient(system.base_url) as client:
        submitted = await client.submit("print hello world, follow me")
        updates, tokens = [], []
        async for frame in client.follow(submitted.task_id, from_start=True):
            release.set()  # a frame came: the stream is open, so what follows is seen live
            if isinstance(frame, TaskUpdate):
                updates.append((frame.stage, frame.status))
            elif isinstance(frame, ModelOutput):
                tokens.append(frame.text)
        task = await client.wait(submitted.task_id, timeout=10)
    assert task.status == "completed"
    assert updates[-1] == ("integration", "completed")
    assert {stage for stage, _ in updates} >= {"analysis", "implementation", "validation"}
    assert "".join(tokens)  # the model's text, streamed while it wrote it


def test_run_streams_the_output_lines_and_returns_the_exit_status(client: Client) -> None:
    client.wait(client.submit("print hello world").task_id, timeout=60)
    lines: list[str] = []

    result = client.run("hello_world.py", on_line=lines.append)

    assert lines == ["Hello, World!"]
    assert (result.status, result.exit_code, result.lines, result.ok) == ("completed", 0, 1, True)
    record = client.execution(result.execution_id)
    assert record.exit_code == 0 and record.output_lines == 1
    assert result.execution_id in [e.execution_id for e in client.executions().executions]
    frames = list(client.execution_output(result.execution_id))  # replayed after the end
    assert [f.output for f in frames if isinstance(f, ExecutionOutput)] == ["Hello, World!"]


async def test_the_async_client_runs_a_file_as_the_blocking_one_does(system: System) -> None:
    async with AsyncClient(system.base_url, timeout=30) as client:
        await client.wait((await client.submit("print hello world")).task_id, timeout=60)
        lines: list[str] = []
        started: list[RunStarted] = []

        result = await client.run("hello_world.py", on_line=lines.append, on_start=started.append)

    assert lines == ["Hello, World!"]
    assert [s.execution_id for s in started] == [result.execution_id]
    assert (result.status, result.exit_code, result.lines, result.ok) == ("completed", 0, 1, True)


def test_reset_archives_and_a_file_is_restored_from_the_archive(client: Client) -> None:
    client.wait(client.submit("print hello world").task_id, timeout=60)

    reset = client.reset()
    assert reset.workspace_cleared and reset.archive_name
    archive = reset.archive_name
    assert archive in [a.name for a in client.archives().archives]
    assert "implementation/hello_world.py" in [f.path for f in client.archive_files(archive).files]
    assert client.read_archived_file(archive, "hello_world.py") == b"print('Hello, World!')\n"

    restored = client.restore(archive, "hello_world.py")

    assert restored.workspace_path == "workspace/implementation/hello_world.py"
    assert "hello_world.py" in [f.name for f in client.files().files]


def test_settings_are_saved_partially_and_shown_masked(client: Client) -> None:
    saved = client.save_settings(SettingsUpdate(default_priority=6))
    assert saved.settings.default_priority == 6
    assert client.settings().default_priority == 6
    assert client.health().status in ("ok", "degraded")
    assert set(client.agents().agents) >= {"claude", "codex", "claude2", "ide"}
    client.save_settings(SettingsUpdate(default_priority=5))


def test_a_persons_edit_round_trips_and_downloads_as_a_zip(client: Client) -> None:
    import io
    import zipfile

    from orchestrator_client import Conflict

    written = client.write_file("implementation/edited.txt", b"by hand\n")
    assert written.path == "workspace/implementation/edited.txt"
    assert client.read_file("implementation/edited.txt") == b"by hand\n"
    try:
        client.write_file("implementation/edited.txt", b"stale\n", if_match="0" * 64)
    except Conflict:
        pass
    else:
        raise AssertionError("a stale If-Match overwrote the file")
    with zipfile.ZipFile(io.BytesIO(client.download_workspace())) as archive:
        assert archive.read("implementation/edited.txt") == b"by hand\n"
    assert written.digest is not None
    gone = client.delete_file("implementation/edited.txt", if_match=written.digest)
    assert gone.status == "deleted"
