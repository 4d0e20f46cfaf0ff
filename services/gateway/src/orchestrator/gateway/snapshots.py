"""Snapshots of the read models: a gateway starts from the newest instead of replaying the stream.

A snapshot is one object in the ``snapshots`` object store, named by the stream sequence it
reflects (``read-models.<seq>``, so a write never replaces a newer one), holding two JSON lines:

1. a header: the format number, the fingerprint of the projection code, the sequence, the
   stream it was taken from (its creation time and first sequence), and the sizes of the two
   parts that follow it (and the CRC-32 of the second);
2. the read models as plain data (:meth:`ReadModels.snapshot`), JSON by :mod:`.plain_json`
   (orjson, or the standard library for a wide integer), compressed with zlib: never pickle,
   since whoever can write to NATS would then run code on the gateway. (Compressed because
   fetching is a slow part of a start, and a snapshot's JSON is very repetitive.) An ended
   task is there as its summary and the place of its detail in part 3;
3. the ended tasks' details, each as the board holds it (its own JSON+zlib,
   :class:`~.projections.tasks.FrozenTask`), one after the other. A start restores these
   without decoding them (a task's detail is thawed when first read): most of a snapshot, and
   most of what a restore used to spend its time on.

A start fetches the newest snapshot while it imports (:mod:`.snapshot_prefetch`: a child
forked first thing), by direct gets of its 4 MiB chunks (:meth:`SnapshotStore.fetch`).
:meth:`SnapshotStore.load` takes the newest snapshot whose header matches this code and this
stream and whose sequence the stream has reached; anything else (unreadable, another format or
projection code, a sequence beyond the stream's end, a recreated stream) is logged and the
gateway replays the stream from #1: a slower start, never a wrong state.

:class:`SnapshotWriter` writes one every ``GATEWAY_SNAPSHOT_EVERY`` events applied and every
``GATEWAY_SNAPSHOT_INTERVAL`` seconds when events arrived, without holding up requests: it forks
(the child gets a copy-on-write image of the read models as of one sequence, as Redis's BGSAVE
does), the child encodes them into a temporary file and exits, and the parent, which only paused
for the ``fork()`` itself, uploads the file.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta, ObjectMetaOptions
from nats.js.object_store import ObjectStore

import orchestrator.events.catalog
import orchestrator.events.workspace_files
from orchestrator.events import Follower
from orchestrator.events.failures import carry_on

from . import plain_json, projections
from .projections import ReadModels
from .snapshot_prefetch import (
    Fetched,
    Prefetch,
    StreamIdentity,
    child_exit,
    held_sequences,
    object_name,
    snapshot_chunks,
    stream_identity,
)

log = logging.getLogger(__name__)

FORMAT = 2
"""The layout of a snapshot object; bump it when the header or the envelope changes."""
KEEP = 2
"""Snapshots kept in the bucket: the newest and the one before (older ones are deleted)."""
CHUNK_SIZE = 4 * 1024 * 1024
"""The object store's chunks of a snapshot (nats-py's default is 128 KiB)."""


def _sources() -> list[Path]:
    """The code a snapshot's contents depend on: the projections, the fold of workspace files
    they share, the event catalog they hold values of, and the encoding (this module and
    :mod:`.plain_json`)."""
    packages = (projections, orchestrator.events.catalog)
    files = [path for package in packages for path in Path(package.__path__[0]).rglob("*.py")]
    files += [Path(orchestrator.events.workspace_files.__file__), Path(__file__)]
    files.append(Path(plain_json.__file__))
    return sorted(files)


def code_fingerprint() -> str:
    """sha256 over the sources a snapshot depends on: a changed projection never loads an old
    snapshot (it would hold what the old code folded)."""
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


FINGERPRINT = code_fingerprint()


class Unusable(Exception):
    """Why a snapshot is not loaded (logged; the gateway then replays)."""


@dataclass
class Restored:
    models: ReadModels
    seq: int
    seconds: float


def header(seq: int, stream: StreamIdentity, main: int, blobs: bytes) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "fingerprint": FINGERPRINT,
        "seq": seq,
        "stream": stream.plain(),
        "main": main,
        "blobs": len(blobs),
        "blobs_crc32": zlib.crc32(blobs),
    }


COMPRESSION = 6
"""zlib's level: at 1M events 6 is several times smaller than 1 for little more time, and the
time is the child's, not the event loop's."""


def encode(models: ReadModels, seq: int, stream: StreamIdentity) -> bytes:
    parts: list[bytes] = []
    body = zlib.compress(plain_json.dumps(models.snapshot(parts)), COMPRESSION)
    blobs = b"".join(parts)
    return orjson.dumps(header(seq, stream, len(body), blobs)) + b"\n" + body + blobs


def decode(data: bytes, *, seq: int, stream: StreamIdentity, last_seq: int) -> ReadModels:
    """The read models in ``data``; :class:`Unusable` unless it is a snapshot of this code's
    format and fingerprint, of ``stream``, at ``seq`` (the object's name), within the stream."""
    first, _, body = data.partition(b"\n")
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        raise Unusable(f"unreadable header ({exc})") from None
    if not isinstance(head, dict):
        raise Unusable("unreadable header (not an object)")
    if head.get("format") != FORMAT:
        raise Unusable(f"format {head.get('format')!r}, this gateway reads {FORMAT}")
    if head.get("fingerprint") != FINGERPRINT:
        raise Unusable("taken by other projection code (fingerprint differs)")
    if head.get("seq") != seq:
        raise Unusable(f"header says #{head.get('seq')!r}, its name #{seq}")
    if head.get("stream") != stream.plain():
        raise Unusable(f"taken of another stream {head.get('stream')!r}, now {stream.plain()}")
    if seq > last_seq:
        raise Unusable(f"at #{seq}, beyond the stream's last #{last_seq}")
    main, blobs = _parts(head, body)
    # Millions of small objects, none of them garbage: the cyclic collector would run hundreds
    # of times over a growing heap (most of the time of a restore), and once over all of them
    # when enabled again. So it is off meanwhile, and what was restored is moved out of its
    # sight (gc.freeze: the read models live as long as the gateway, and hold no cycles).
    collecting = gc.isenabled()
    gc.disable()
    try:
        models = ReadModels.restore(plain_json.loads(zlib.decompress(body[:main])), blobs)
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise Unusable(f"unreadable read models ({type(exc).__name__}: {exc})") from None
    else:
        gc.freeze()
        return models
    finally:
        if collecting:
            gc.enable()


def _parts(head: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """The size of the read models part, and the ended tasks' details, checked whole."""
    main, size = head.get("main"), head.get("blobs")
    if not isinstance(main, int) or not isinstance(size, int) or main + size != len(body):
        raise Unusable(f"unreadable read models ({len(body)} bytes, the header says {main}+{size})")
    blobs = body[main:]
    # The details are decoded only when read, so they are checked now: what was written whole.
    if zlib.crc32(blobs) != head.get("blobs_crc32"):
        raise Unusable("unreadable read models (the ended tasks' details fail their CRC-32)")
    return main, blobs


async def _prefetched(
    prefetch: Prefetch | None, stream: StreamIdentity, newest: int | None
) -> Fetched | None:
    """What ``prefetch`` fetched when it is snapshot #``newest`` of ``stream`` (else logged;
    taken even when nothing is held, so that the child is reaped)."""
    if prefetch is None:
        return None
    fetched, why = await prefetch.take()
    if fetched is not None and (fetched.seq, fetched.stream) == (newest, stream):
        return fetched
    if fetched is not None:
        why = f"it fetched #{fetched.seq} of {fetched.stream}, the newest is #{newest} of {stream}"
    log.info("the snapshot prefetch is not used: %s", why)
    return None


class SnapshotStore:
    """The snapshots in the ``snapshots`` bucket: the newest usable one, and writing one."""

    def __init__(
        self, js: JetStreamContext, bucket: ObjectStore, *, max_payload: int = 1024 * 1024
    ) -> None:
        """``max_payload``: the server's (its INFO says; NATS's default when not given)."""
        self.js = js
        self.bucket = bucket
        self.chunk_size = min(CHUNK_SIZE, max_payload // 2)
        """Chunks as big as the server takes (half its ``max_payload``: room for the headers),
        up to :data:`CHUNK_SIZE`: fewer round trips when a start fetches the snapshot."""

    async def sequences(self) -> list[int]:
        """The sequences of the snapshots held, newest first."""
        return await held_sequences(self.bucket)

    async def load(self, prefetch: Prefetch | None = None) -> Restored | None:
        """The newest usable snapshot restored, or None (logged) to replay from #1; with the
        bytes ``prefetch`` fetched when they are of the newest snapshot of this stream."""
        started = time.perf_counter()
        stream, last_seq = await stream_identity(self.js)
        held = await self.sequences()
        early = await _prefetched(prefetch, stream, held[0] if held else None)
        for seq in held:
            data: bytes | None = early.data if early is not None and early.seq == seq else None
            if data is None:
                with carry_on(log, f"reading snapshot #{seq}"):
                    data = await self.fetch(seq)
            if data is None:
                continue
            fetched = time.perf_counter()
            try:
                models = decode(data, seq=seq, stream=stream, last_seq=last_seq)
            except Unusable as why:
                log.warning("snapshot #%d not used: %s", seq, why)
                continue
            seconds = time.perf_counter() - started
            log.info(
                "read models restored from snapshot #%d (%d bytes) in %.3fs (fetched in %.3fs%s, "
                "decoded in %.3fs); following from #%d",
                seq,
                len(data),
                seconds,
                fetched - started,
                f", prefetched in {early.seconds:.3f}s" if early and early.seq == seq else "",
                time.perf_counter() - fetched,
                seq + 1,
            )
            return Restored(models, seq, seconds)
        if held:
            log.warning("no usable snapshot of %d held: replaying the stream from #1", len(held))
        else:
            log.info("no snapshot yet: replaying the stream from #1")
        return None

    async def fetch(self, seq: int) -> bytes:
        """Snapshot #``seq``'s bytes, checked against the size and sha256 recorded at put;
        :class:`~orchestrator.events.objects.ContentMissing` when they do not match.

        One direct get per chunk (``read_chunks``), not nats-py's ``ObjectStore.get``: at 1M
        events (63 MB) that took 1.33 s whatever the chunk size, a direct get per 4 MiB chunk
        0.38 s (128 KiB chunks 0.65 s), measured on the launcher's nats-server."""
        return b"".join([chunk async for chunk in snapshot_chunks(self.js, self.bucket, seq)])

    async def put(self, path: Path, seq: int) -> bool:
        """Upload the snapshot at ``path`` as #``seq`` unless one as new is held (another
        replica's); then delete all but the newest :data:`KEEP`. True when it was uploaded."""
        held = await self.sequences()
        if held and held[0] >= seq:
            return False
        name = object_name(seq)
        meta = ObjectMeta(name=name, options=ObjectMetaOptions(max_chunk_size=self.chunk_size))
        with path.open("rb") as data:
            await self.bucket.put(name, data, meta=meta)
        for old in sorted({seq, *held}, reverse=True)[KEEP:]:
            with carry_on(log, f"deleting snapshot #{old}"):
                await self.bucket.delete(object_name(old))
        return True


@dataclass
class Written:
    seq: int
    bytes: int
    pause_s: float
    """How long the event loop stood still: the ``fork()``."""
    encode_s: float
    """The child's encoding and writing (requests are served meanwhile)."""
    upload_s: float


class SnapshotWriter:
    """Writes a snapshot every ``every`` events applied (0: never by count) and every
    ``interval`` seconds when any arrived (0: never by time), once the follower caught up."""

    def __init__(
        self,
        store: SnapshotStore,
        models: Callable[[], ReadModels],
        *,
        every: int,
        interval: float,
        written_seq: int = 0,
    ) -> None:
        self.store = store
        self._models = models
        self.every = every
        self.interval = interval
        self.written_seq = written_seq
        """The sequence of the newest snapshot known to be held (restored from or written)."""
        self.last: Written | None = None
        self._since = 0
        self._follower: Follower | None = None
        self._writing: asyncio.Task[Written | None] | None = None
        self._timer: asyncio.Task[None] | None = None

    def start(self, follower: Follower) -> None:
        self._follower = follower
        if self.interval > 0:
            self._timer = asyncio.create_task(self._every_interval(), name="snapshot timer")
        self.applied(0)

    def applied(self, count: int = 1) -> None:
        """Called for every event applied: starts a write when ``every`` have been since the
        last one (replayed ones included, so a long replay is followed by a snapshot)."""
        self._since += count
        if self.every and self._since >= self.every and self._follower is not None:
            self.trigger()

    def trigger(self) -> asyncio.Task[Written | None] | None:
        """Start a write unless one is under way (that one is returned)."""
        follower = self._follower
        if follower is None or not follower.caught_up:
            return None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self.write(), name="snapshot")
        return self._writing

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._follower is not None and self._follower.last_seq > self.written_seq:
                self.trigger()

    async def write(self) -> Written | None:
        follower = self._follower
        if follower is None or follower.last_seq <= self.written_seq:
            return None
        with carry_on(log, "writing a snapshot of the read models"):
            stream, _ = await stream_identity(self.store.js)
            return await self._write(follower, stream)
        return None

    async def _write(self, follower: Follower, stream: StreamIdentity) -> Written | None:
        fd, name = tempfile.mkstemp(prefix="gateway-snapshot-", suffix=".json")
        path = Path(name)
        try:
            # Between the sequence read and the fork there is no await: the child's read models
            # are exactly those of ``seq``, whatever is applied after.
            seq = follower.last_seq
            models = self._models()
            # While the child encodes, a collection here would touch every object's header and
            # so copy the whole heap page by page (copy-on-write): the collector waits.
            collecting = gc.isenabled()
            gc.disable()
            before = time.perf_counter()
            pid = os.fork()
            if pid == 0:  # the child: encode, write, leave without running any parent cleanup
                code = 1
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(encode(models, seq, stream))
                    code = 0
                finally:
                    os._exit(code)
            pause = time.perf_counter() - before
            try:
                status = await child_exit(pid)
            finally:
                if collecting:
                    gc.enable()
            encoded = time.perf_counter() - before
            if status != 0:
                log.error("snapshot #%d: the encoding child exited with %d", seq, status)
                return None
            size = os.fstat(fd).st_size
            uploaded = await self.store.put(path, seq)
            done = time.perf_counter() - before
        finally:
            os.close(fd)
            os.unlink(name)
        self._since = max(0, follower.last_seq - seq)
        self.written_seq = max(self.written_seq, seq)
        if not uploaded:
            log.info("snapshot #%d not uploaded: one as new is held", seq)
            return None
        self.last = Written(seq, size, pause, encoded - pause, done - encoded)
        log.info(
            "snapshot #%d written: %d bytes, event loop paused %.1fms (fork), encoded in %.2fs, "
            "uploaded in %.2fs",
            seq,
            size,
            pause * 1000,
            encoded - pause,
            done - encoded,
        )
        return self.last

    async def stop(self) -> None:
        for task in (self._timer, self._writing):
            if task is not None and not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
