"""A backlog of finished tasks (a stream restored, a replica far behind) is acknowledged at the
cost of one lookup per trigger: no task of it is read back, and nothing is done for it."""

from __future__ import annotations

import json

import nats
from nats.aio.msg import Msg

from bench.memory import copy_of
from orchestrator.events import EventStore, subjects
from orchestrator.launcher.nats_server import NatsServer
from tests.harness import System, eventually, paused

from .conftest import Api

COPIES = 30
DURABLES = (
    subjects.AGENTS_DURABLE,
    subjects.WORKSPACE_DURABLE,
    subjects.WORKSPACE_CHECKS_DURABLE,
)


async def test_a_backlog_of_finished_tasks_is_acknowledged_without_reading_any_back(
    pipeline: System,
) -> None:
    pipeline.start_all(("gateway", "agents", "workspace"))
    api = Api(pipeline)
    template_id = api.submit("print hello world")["task_id"]
    assert api.wait(template_id)["status"] == "completed"
    server = pipeline.nats
    assert isinstance(server, NatsServer)
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream(timeout=10)
        store = EventStore(js)
        template = await store.read(subjects.task(template_id))
        assert template[-1].envelope.type == "TaskCompleted"
        triggers = [r for r in template if r.envelope.type in ("StageCompleted", "ChecksRequested")]
        assert len(triggers) >= 4  # each copy gives the agents and the workspace work to weigh

        readers: list[str] = []  # EventStore reads (a task read back) create a `read_` consumer

        async def created(msg: Msg) -> None:
            name = str(json.loads(msg.data).get("consumer", ""))
            if name.startswith("read_"):
                readers.append(name)

        advisories = f"$JS.EVENT.ADVISORY.CONSUMER.CREATED.{subjects.EVENTS_STREAM}.>"
        await nc.subscribe(advisories, cb=created)
        await nc.flush()
        before = int((await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq or 0)
        # The workers are held while the backlog is written, so each finds its tasks finished.
        with paused(p for p in pipeline.processes if p.service in ("agents", "workspace")):
            for _ in range(COPIES):
                for subject, envelope in copy_of(template):
                    await store.append_envelope(subject, envelope)

        async def acknowledged() -> bool:
            for durable in DURABLES:
                info = await js.consumer_info(subjects.EVENTS_STREAM, durable)
                assert not (info.num_pending or info.num_ack_pending), (durable, info)
            return True

        await eventually(acknowledged, "the backlog acknowledged by every worker", timeout=60)
        await nc.flush()
        after = int((await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq or 0)
    finally:
        await nc.close()
    assert after - before == COPIES * len(template)  # nothing done for a finished task
    assert readers == []
    api.http.close()
