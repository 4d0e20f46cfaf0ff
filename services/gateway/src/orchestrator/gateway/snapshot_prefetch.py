"""The newest snapshot fetched by a child process while the gateway process starts.

A cold start over a long stream is mostly two things one after the other: the interpreter
importing the gateway (FastAPI, the pydantic models: about a second) and fetching the snapshot
(tens of MB through nats-py: more than a second). Neither needs the other and the machine has
more than one core, but one process does them in turn, and a thread would share its GIL (nats-py
reads in Python). So the first thing ``python -m orchestrator.gateway`` does, before its heavy
imports, is fork (:meth:`Prefetch.start`): the child reads the settings, connects, fetches the
newest snapshot into an anonymous file, says which one in a pipe and exits; the parent imports
meanwhile and :meth:`~.snapshots.SnapshotStore.load` takes what the child fetched (when it is
the newest snapshot of the same stream) instead of fetching it again.

The child only fetches: what it fetched is checked by the parent as any snapshot is (header,
fingerprint, stream, CRC-32). Whatever goes wrong in it (NATS not up yet, no bucket, a failed
read, too slow) means only that the parent fetches as it does without a prefetch.

This module imports only the standard library at import time: it runs before the rest.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.js import JetStreamContext
    from nats.js.object_store import ObjectStore

TIMEOUT = 30.0
"""Seconds the parent waits for the child once it needs the snapshot (then fetches itself)."""


@dataclass(frozen=True)
class StreamIdentity:
    """Which stream a snapshot was taken of: a stream deleted and created again under the same
    name has another creation time, and its sequences mean other events."""

    created: str
    first_seq: int

    def plain(self) -> dict[str, Any]:
        return {"created": self.created, "first_seq": self.first_seq}


@dataclass(frozen=True)
class Fetched:
    """What the child fetched: snapshot #``seq`` of ``stream``, ``seconds`` after the fork."""

    seq: int
    stream: StreamIdentity
    data: bytes
    seconds: float


class Prefetch:
    """A child fetching the newest snapshot; :meth:`take` it once (None: fetch it yourself)."""

    def __init__(self, pid: int, file: int, pipe: int, started: float) -> None:
        self._pid: int | None = pid
        self._file = file
        self._pipe = pipe
        self._started = started

    @classmethod
    def start(cls) -> Prefetch | None:
        """Fork the child (None where there is no ``fork``/``memfd_create``: no prefetch)."""
        if not (hasattr(os, "fork") and hasattr(os, "memfd_create")):
            return None
        file = os.memfd_create("gateway-snapshot")
        read, write = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: fetch, say what, leave without any of the parent's cleanup
            code = 1
            try:
                os.close(read)
                _detach_standard_streams()  # a reader of the gateway's output waits for it alone
                said = json.dumps(_fetch_in_child(file)).encode()
                os.write(write, said)  # a few hundred bytes: a pipe holds them
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        return cls(pid, file, read, started)

    def cancel(self) -> None:
        """Kill and reap the child if it was never taken (the gateway stops before it needs the
        snapshot: bad settings, a failed start)."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        kill_and_reap(pid)
        os.close(self._pipe)
        os.close(self._file)

    async def take(self) -> tuple[Fetched | None, str]:
        """What the child fetched, or None and why not; the child is reaped either way."""
        pid, self._pid = self._pid, None
        if pid is None:
            return None, "already taken"
        try:
            status = await asyncio.wait_for(child_exit(pid), TIMEOUT)
        except TimeoutError:
            return None, f"the prefetch took more than {TIMEOUT:.0f}s"
        finally:
            said = _read_all(self._pipe)
            os.close(self._pipe)
        try:
            if status != 0:
                return None, f"the prefetching child exited with {status}"
            return _answer(said, self._file)
        finally:
            os.close(self._file)


def _answer(said: bytes, file: int) -> tuple[Fetched | None, str]:
    """The child's answer (``said``) and the bytes it left in ``file``."""
    try:
        answer = json.loads(said)
        if "error" in answer:
            return None, str(answer["error"])
        with open(file, "rb", closefd=False) as fetched:
            fetched.seek(0)
            data = fetched.read()
        if len(data) != answer["size"]:
            return None, f"the child fetched {len(data)} bytes of {answer['size']}"
        stream = StreamIdentity(answer["stream"]["created"], answer["stream"]["first_seq"])
        return Fetched(answer["seq"], stream, data, answer["seconds"]), ""
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"the child's answer is unreadable ({type(exc).__name__})"


def _detach_standard_streams() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch_in_child(file: int) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return asyncio.run(asyncio.wait_for(_fetch(file, started), TIMEOUT))
    except Exception as exc:  # noqa: BLE001 - any failure only means the parent fetches
        return {"error": f"the prefetch failed ({type(exc).__name__}: {exc})"}


async def _fetch(file: int, started: float) -> dict[str, Any]:
    import nats
    from nats.js.errors import NotFoundError

    from orchestrator.events import subjects

    from .settings import GatewaySettings

    settings = GatewaySettings()

    async def quiet(exc: Exception) -> None:
        """The parent says what matters; the child's errors travel in its answer."""

    nc = await nats.connect(
        servers=settings.servers,
        name="gateway-snapshot-prefetch",
        allow_reconnect=False,
        connect_timeout=2,
        error_cb=quiet,
    )
    try:
        js = nc.jetstream(timeout=10)
        stream, _ = await stream_identity(js)
        try:
            bucket = await js.object_store(subjects.SNAPSHOTS_BUCKET)
        except NotFoundError:  # no bucket yet
            return {"error": "no snapshot held"}
        held = await held_sequences(bucket)
        if not held:
            return {"error": "no snapshot held"}
        size = 0
        async for chunk in snapshot_chunks(js, bucket, held[0]):
            size += os.write(file, chunk)
    finally:
        await nc.close()
    seconds = time.perf_counter() - started
    return {"seq": held[0], "stream": stream.plain(), "size": size, "seconds": seconds}


PREFIX = "read-models."


def object_name(seq: int) -> str:
    return f"{PREFIX}{seq:012d}"


async def held_sequences(bucket: ObjectStore) -> list[int]:
    """The sequences of the snapshots ``bucket`` holds, newest first."""
    from nats.js.errors import NotFoundError

    try:
        infos = await bucket.list()
    except NotFoundError:  # nats-py: an empty bucket
        return []
    found = (seq_of(info.name) for info in infos if not info.deleted)
    return sorted((seq for seq in found if seq is not None), reverse=True)


async def snapshot_chunks(
    js: JetStreamContext, bucket: ObjectStore, seq: int
) -> AsyncIterator[bytes]:
    """Snapshot #``seq``'s chunks, one direct get each, checked against the size and sha256
    recorded at put (:class:`~orchestrator.events.objects.ContentMissing` when they differ)."""
    from orchestrator.events.objects import locate_named, read_chunks

    async for chunk in read_chunks(js, await locate_named(bucket, object_name(seq))):
        yield chunk


def seq_of(name: str) -> int | None:
    if not name.startswith(PREFIX):
        return None
    try:
        return int(name[len(PREFIX) :])
    except ValueError:
        return None


async def stream_identity(js: JetStreamContext) -> tuple[StreamIdentity, int]:
    """The events stream's identity and its last sequence now."""
    from orchestrator.events import subjects

    info = await js.stream_info(subjects.EVENTS_STREAM)
    created = info.created.isoformat() if isinstance(info.created, datetime) else ""
    return StreamIdentity(created, int(info.state.first_seq)), int(info.state.last_seq)


async def child_exit(pid: int) -> int:
    """Wait for child ``pid`` without blocking the event loop; its exit status. Cancelled (the
    gateway stops), the child is killed and reaped, not left behind."""
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG never blocks
            if done:
                return os.waitstatus_to_exitcode(status)
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        kill_and_reap(pid)
        raise


def kill_and_reap(pid: int) -> None:
    with suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)  # a killed child is reaped at once
