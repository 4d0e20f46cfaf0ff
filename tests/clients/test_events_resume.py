"""``events()`` across a gateway restart: every frame of every persisted event exactly once.

The task is held at implementation while the gateway is killed, finishes implementation and
starts validation while no gateway is up, and completes after a new gateway is up on the same
port. The frames the client yielded are compared with what the new gateway replays from the
stream for the same range, and with the task's own event history.
"""

from __future__ import annotations

import asyncio
import threading

from orchestrator.launcher.supervisor import ServiceProcess
from orchestrator_client import AsyncClient, Frame, TaskUpdate
from orchestrator_client._base import ends_task
from tests.fakes import FakeLLM, RecordedRequest, Reply
from tests.harness import System, eventually, wait_until
from tests.pipeline.conftest import answer, calls, stage_of

from .conftest import start_gateway

RENDERED = {
    "TaskSubmitted",
    "StageStarted",
    "StageCompleted",
    "ValidationFailed",
    "TaskFailed",
    "TaskRetried",
    "TaskCancelled",
    "TaskCompleted",
}


def _main_gateway(system: System) -> ServiceProcess:
    port = str(system.gateway_port)
    running = [
        p
        for p in system.processes
        if p.service == "gateway" and p.running() and p.env.get("GATEWAY_PORT") == port
    ]
    assert running, "the system's gateway is not running"
    return running[-1]


async def _until_done(client: AsyncClient, since: int, task_id: str, into: list[Frame]) -> None:
    async for frame in client.events(since=since):
        into.append(frame)
        if ends_task(frame, task_id):
            return


def _persisted(frames: list[Frame]) -> list[dict[str, object]]:
    return [f.model_dump() for f in frames if f.event_seq is not None]


async def test_events_resume_across_a_gateway_restart_without_loss_or_repeat(
    system: System, fake: FakeLLM
) -> None:
    implementation, validation = threading.Event(), threading.Event()

    def gated(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        if "resume across restart" in request.text:
            if stage == "implementation":
                return answer(stage, gate=implementation)
            if stage == "validation":
                return answer(stage, gate=validation)
        return answer(stage)

    fake.openai.responder = fake.anthropic.responder = gated
    async with AsyncClient(system.base_url, timeout=30) as client:
        start = (await client.health()).nats.projection_seq
        assert start is not None
        task_id = (await client.submit("resume across restart: print hello")).task_id
        frames: list[Frame] = []
        consumer = asyncio.create_task(_until_done(client, start, task_id, frames))

        def reached(stage: str) -> bool:
            return any(
                isinstance(f, TaskUpdate) and f.task_id == task_id and f.stage == stage
                for f in frames
            )

        await eventually(lambda: reached("implementation"), "implementation", timeout=30)
        _main_gateway(system).kill()
        implementation.set()
        await asyncio.to_thread(
            wait_until, lambda: bool(calls(fake, task_id, "validation")), "validation while down"
        )
        await asyncio.to_thread(start_gateway, system, "gateway-restarted", system.gateway_port)
        await eventually(lambda: reached("validation"), "replayed frames", timeout=30)
        validation.set()
        await asyncio.wait_for(consumer, 60)

        replayed: list[Frame] = []
        await asyncio.wait_for(_until_done(client, start, task_id, replayed), 30)
        history = await client.task_events(task_id)

    assert _persisted(frames) == _persisted(replayed)
    ours = [f.event_seq for f in frames if isinstance(f, TaskUpdate) and f.task_id == task_id]
    assert ours == [e.seq for e in history.events if e.type in RENDERED]
    assert [f.status for f in frames if isinstance(f, TaskUpdate) and f.task_id == task_id][
        -1
    ] == "completed"
