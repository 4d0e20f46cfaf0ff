"""Gateways started from a snapshot, as processes on a real nats-server.

One stream for the module: a realistic history (task lifecycles, gates, cancels, executions,
resets, files with real contents). A reference gateway replays it from #1 (no snapshot exists
yet) and stays up, following everything appended later; a writer gateway snapshots it; a tail
follows (a gate answered, files written and deleted, more tasks). Every other gateway here is
compared with the reference on every read the read models answer, byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import orjson
import pytest
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from bench.cold_start import WRITTEN, Start, append, domain_events, start_gateway
from orchestrator.events import subjects
from orchestrator.events.catalog import (
    ApprovalGranted,
    Event,
    FileDeleted,
    FileWritten,
    TaskCancelled,
    TaskSubmitted,
    WorkspaceArchived,
)
from orchestrator.events.connection import files_store, provision, snapshots_store
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.objects import put_content
from orchestrator.gateway import snapshots
from orchestrator.gateway.snapshot_prefetch import object_name
from tests.harness import System, wait_until

from .snapshot_builders import waiting_at_a_gate, with_header

T = TypeVar("T")
QUIET = {"GATEWAY_SNAPSHOT_EVERY": "0", "GATEWAY_SNAPSHOT_INTERVAL": "0"}
"""A gateway that never writes a snapshot (it still loads one)."""
GATED = "task_" + "9" * 32
RUN = f"exec_{50:016x}"
WIDE = {"n": 2**70, "deep": [{"m": -(2**80)}], "edge": 2**64 - 1}
"""Free-form metadata with integers beyond 64 bits (orjson refuses them; schemathesis sent one)."""
WIDE_LIVE, WIDE_ENDED = "task_" + "8" * 32, "task_" + "7" * 32


def on_nats(system: System, work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    assert system.nats is not None
    url = system.nats.url

    async def run() -> T:
        nc = await nats.connect(url)
        try:
            return await work(nc.jetstream(timeout=30))
        finally:
            await nc.close()

    return asyncio.run(run())


async def bucket(js: JetStreamContext) -> ObjectStore:
    return await snapshots_store(js, NatsSettings())


async def real_file(js: JetStreamContext, path: str, text: str) -> FileWritten:
    data = text.encode()
    digest = await put_content(await files_store(js, NatsSettings()), data)
    return FileWritten(path=path, digest=digest, size=len(data), source="user")


def prefix_of_history() -> Callable[[JetStreamContext], Awaitable[int]]:
    async def work(js: JetStreamContext) -> int:
        await provision(js, NatsSettings())
        events: list[Event] = [
            *domain_events(3000),
            # The synthetic files have no contents; the listing reads contents (runnable or not).
            WorkspaceArchived(
                archive_name="clear", archive_path="a/clear", files=(), request_id="r"
            ),
            await real_file(js, "implementation/hello.py", "print('hello')\n"),
            await real_file(js, "notes/readme.md", "# notes\n"),
            *waiting_at_a_gate(GATED),
            # Held live in the snapshot's main part, and frozen as an ended task's blob.
            TaskSubmitted(task_id=WIDE_LIVE, requirement="wide", priority=5, metadata=WIDE),
            TaskSubmitted(task_id=WIDE_ENDED, requirement="wide", priority=5, metadata=WIDE),
            TaskCancelled(task_id=WIDE_ENDED),
        ]
        return await append(js, iter(events))

    return work


def tail_of_history() -> Callable[[JetStreamContext], Awaitable[int]]:
    async def work(js: JetStreamContext) -> int:
        events: list[Event] = [
            ApprovalGranted(task_id=GATED, gate="plan", round=1),
            await real_file(js, "implementation/app.py", "print('app')\n"),
            FileDeleted(path="notes/readme.md"),
            *(e for e in domain_events(300, start_task=90_000) if not isinstance(e, FileWritten)),
        ]
        return await append(js, iter(events))

    return work


def last_seq(system: System) -> int:
    async def work(js: JetStreamContext) -> int:
        return int((await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq)

    return on_nats(system, work)


def reads(port: int) -> dict[str, bytes]:
    """Every read the read models answer, as the client gets it."""
    base = f"http://127.0.0.1:{port}"
    paths = [
        "/api/tasks",
        "/api/tasks?status=cancelled&limit=7",
        f"/api/tasks/{GATED}",
        f"/api/tasks/task_{5:032x}",
        f"/api/tasks/task_{13:032x}",  # cancelled
        f"/api/tasks/{WIDE_LIVE}",
        f"/api/tasks/{WIDE_ENDED}",
        "/api/workspace/files",
        "/api/archive",
        "/api/workspace/executions",
        f"/api/workspace/executions/{RUN}",
        "/api/usage",
        "/api/agents",
    ]
    with httpx.Client(base_url=base, timeout=30) as client:
        out = {}
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            out[path] = response.content
        return out


def same_reads(system: System, port: int, reference: int, timeout: float = 15.0) -> None:
    """The gateway on ``port`` answers byte for byte what the reference does, once both have
    applied the whole stream (the reference follows appends live, so it may be a moment late)."""
    want = last_seq(system)
    wait_until(
        lambda: min(projection_seq(port), projection_seq(reference)) >= want,
        f"both gateways at #{want}",
        timeout=timeout,
        interval=0.05,
    )
    got, expected = reads(port), reads(reference)
    for path, body in expected.items():
        assert got[path] == body, path
    assert orjson.loads(got["/api/tasks"])["tasks"], "an empty board proves nothing"
    for task_id in (WIDE_LIVE, WIDE_ENDED):  # exact: orjson.loads would have made floats
        assert json.loads(got[f"/api/tasks/{task_id}"])["metadata"] == WIDE, task_id


def projection_seq(port: int) -> int:
    body = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
    return int(body["projection_seq"])


def await_line(system: System, log: str, pattern: str, timeout: float = 60.0) -> re.Match[str]:
    found: re.Match[str] = wait_until(
        lambda: re.search(pattern, (system.logs / f"{log}.log").read_text(errors="replace")),
        lambda: f"{pattern!r} in {log}:\n{system.log(log)}",
        timeout=timeout,
        interval=0.05,
    )
    return found


class Stream:
    def __init__(self, system: System, reference: Start, snapshot_seq: int, good: bytes) -> None:
        self.system = system
        self.reference = reference
        self.snapshot_seq = snapshot_seq
        self.good = good
        self.started = 0

    def gateway(self, **env: str) -> tuple[Start, str]:
        self.started += 1
        name = f"gateway-{self.started}"
        return start_gateway(self.system, name, 60, **{**QUIET, **env}), name

    def hold_only(self, objects: dict[int, bytes]) -> None:
        async def work(js: JetStreamContext) -> None:
            store = await bucket(js)
            for seq in await snapshots.SnapshotStore(js, store).sequences():
                await store.delete(object_name(seq))
            for seq, data in objects.items():
                await store.put(object_name(seq), data)

        on_nats(self.system, work)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stream]:
    system = System(root=Path(tmp_path_factory.mktemp("snapshots")), env={"LOG_LEVEL": "INFO"})
    system.start_nats()
    try:
        prefix = on_nats(system, prefix_of_history())
        reference = start_gateway(system, "gateway-reference", 60, **QUIET)
        assert "no snapshot yet: replaying the stream from #1" in system.log("gateway-reference")

        writer = start_gateway(system, "gateway-writer", 60, GATEWAY_SNAPSHOT_EVERY="1000")
        written = await_line(system, "gateway-writer", WRITTEN.pattern)
        assert int(written.group(1)) == prefix  # the replay was > 1000 events: one at its end
        writer.process.stop()

        def fetch(js: JetStreamContext) -> Awaitable[Any]:
            async def work() -> bytes:
                got = await (await bucket(js)).get(object_name(prefix))
                return got.data or b""

            return work()

        good = on_nats(system, fetch)
        on_nats(system, tail_of_history())
        yield Stream(system, reference, prefix, good)
    finally:
        system.stop()


def test_a_gateway_from_a_snapshot_and_the_tail_answers_like_the_one_that_replayed(
    stream: Stream,
) -> None:
    stream.hold_only({stream.snapshot_seq: stream.good})

    started, log = stream.gateway()

    restored = await_line(stream.system, log, "read models restored from snapshot #.*")
    assert restored.group(0).startswith(
        f"read models restored from snapshot #{stream.snapshot_seq} "
    )
    # Fetched by the child forked at the start, while the gateway imported (snapshot_prefetch).
    assert ", prefetched in " in restored.group(0)
    assert "replaying the stream" not in stream.system.log(log)
    same_reads(stream.system, started.port, stream.reference.port)
    gated = httpx.get(f"http://127.0.0.1:{started.port}/api/tasks/{GATED}", timeout=10).json()
    assert gated["status"] == "in_progress"  # the gate asked before the snapshot, answered after
    assert [a["status"] for a in gated["approvals"]] == ["approved"]
    started.process.stop()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda d, seq: (seq, d[: len(d) // 3]), "unreadable read models"),
        (lambda d, seq: (seq, with_header(d, fingerprint="f" * 64)), "other projection code"),
        (lambda d, seq: (seq + 10**6, with_header(d, seq=seq + 10**6)), "beyond the stream's last"),
        (
            lambda d, seq: (
                seq,
                with_header(d, stream={"created": "2020-01-01T00:00:00", "first_seq": 1}),
            ),
            "taken of another stream",
        ),
    ],
    ids=["corrupted", "fingerprint", "beyond-the-stream", "recreated-stream"],
)
def test_an_unusable_snapshot_means_a_logged_full_replay_and_the_right_state(
    stream: Stream, bad: Callable[[bytes, int], tuple[int, bytes]], reason: str
) -> None:
    seq, data = bad(stream.good, stream.snapshot_seq)
    stream.hold_only({seq: data})

    started, log = stream.gateway()

    text = stream.system.log(log)
    assert re.search(rf"snapshot #{seq} not used: .*{re.escape(reason)}", text), text
    assert "no usable snapshot of 1 held: replaying the stream from #1" in text
    assert "restored from snapshot" not in text
    same_reads(stream.system, started.port, stream.reference.port)
    started.process.stop()


def test_a_snapshot_taken_while_events_arrive_loses_and_repeats_none(stream: Stream) -> None:
    stream.hold_only({})
    writer, log = stream.gateway(GATEWAY_SNAPSHOT_EVERY="150")

    async def burst(js: JetStreamContext) -> int:
        last = 0
        more = domain_events(3000, start_task=95_000)
        for _ in range(30):  # 100 at a time, the writer applying and snapshotting meanwhile
            batch = [e for _, e in zip(range(100), more, strict=False)]
            last = await append(js, (e for e in batch if not isinstance(e, FileWritten)))
            await asyncio.sleep(0.02)
        return last

    begin = last_seq(stream.system)
    end = on_nats(stream.system, burst)
    await_line(stream.system, log, WRITTEN.pattern)
    same_reads(stream.system, writer.port, stream.reference.port)  # the writer is right, too
    writer.process.stop()
    during = [int(m.group(1)) for m in re.finditer(WRITTEN.pattern, stream.system.log(log))]
    mid = [seq for seq in during if begin < seq < end]
    assert mid, f"no snapshot while the burst arrived: {during}, it ran #{begin}-#{end}"

    held = on_nats(stream.system, _held)
    kept = {seq: data for seq, data in held.items() if begin < seq < end}
    assert kept, f"the snapshots held are all at the end: {sorted(held)}"
    stream.hold_only(kept)
    started, log = stream.gateway()

    seq = max(kept)
    assert f"read models restored from snapshot #{seq} " in stream.system.log(log)
    same_reads(stream.system, started.port, stream.reference.port)
    started.process.stop()


async def _held(js: JetStreamContext) -> dict[int, bytes]:
    store = await bucket(js)
    out = {}
    for seq in await snapshots.SnapshotStore(js, store).sequences():
        out[seq] = (await store.get(object_name(seq))).data or b""
    return out


def test_an_older_snapshot_never_replaces_a_newer_one(stream: Stream, tmp_path: Path) -> None:
    stream.hold_only({stream.snapshot_seq: stream.good})
    older = tmp_path / "older.json"
    older.write_bytes(b"older")

    async def work(js: JetStreamContext) -> tuple[bool, list[int]]:
        store = snapshots.SnapshotStore(js, await bucket(js))
        uploaded = await store.put(older, stream.snapshot_seq - 1)
        return uploaded, await store.sequences()

    uploaded, held = on_nats(stream.system, work)

    assert not uploaded
    assert held == [stream.snapshot_seq]
