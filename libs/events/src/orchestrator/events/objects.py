"""File contents in the object store, addressed by their sha256: stored, read back, verified.

Every service that needs a file's bytes reads them here, so "missing" means one thing
everywhere: the store says it has no object under that digest (final), or its bytes do not
match the digest. Any other failure (NATS away for a moment) propagates, so the caller's
delivery is retried instead of a task failing for a transient fault.

Reads use the object store's public layout (``nats.js.object_store``'s subject and stream
templates): ``get_info`` names the object's chunk subject, then one direct get per chunk. No
consumer is created, and :func:`read_chunks` asks for a chunk only when its caller wants one, so
a download holds one chunk per file and an abandoned one leaves nothing behind on the server.
(nats-py's own ``ObjectStore.get`` gathers the whole object through an unpaced push consumer.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import ObjectInfo
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_STREAM_TEMPLATE, ObjectStore


class ContentMissing(Exception):
    """No object under the digest, or one whose bytes do not match it."""


async def put_content(files: ObjectStore, data: bytes) -> str:
    """Store ``data`` under its sha256 (once: an object already there is left as is)."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        await files.get_info(digest)
    except NotFoundError:
        await files.put(digest, data)
    return digest


async def fetch_content(js: JetStreamContext, files: ObjectStore, digest: str) -> bytes:
    """The bytes stored under ``digest``, verified against it; :class:`ContentMissing`."""
    stored = await locate(files, digest)
    return b"".join([chunk async for chunk in read_chunks(js, stored)])


@dataclass(frozen=True)
class StoredObject:
    digest: str
    size: int
    chunk_subject: str
    stream: str


async def locate(files: ObjectStore, digest: str) -> StoredObject:
    """Where the chunks of the object stored under ``digest`` are; :class:`ContentMissing`."""
    return _stored(await _info(files, digest), digest)


async def locate_named(store: ObjectStore, name: str) -> StoredObject:
    """Where the chunks of the object named ``name`` are, to be verified against the digest the
    store recorded when it was put (nats-py's ``SHA-256=`` and base64); :class:`ContentMissing`."""
    info = await _info(store, name)
    recorded = (info.digest or "").partition("=")[2]
    try:
        digest = base64.urlsafe_b64decode(recorded).hex()
    except (binascii.Error, ValueError) as exc:
        raise ContentMissing(f"{name}: no readable digest recorded ({info.digest!r})") from exc
    return _stored(info, digest)


async def _info(store: ObjectStore, name: str) -> ObjectInfo:
    try:
        return await store.get_info(name)
    except (ObjectNotFoundError, NotFoundError) as exc:
        raise ContentMissing(f"{name} is not in the object store") from exc


def _stored(info: ObjectInfo, digest: str) -> StoredObject:
    link = info.options.link if info.options is not None else None
    if not info.nuid or link is not None:
        # Our writers store every object whole under its name, never as a link.
        raise ContentMissing(f"{info.name} is not a plain object")
    return StoredObject(
        digest=digest,
        size=int(info.size or 0),
        chunk_subject=OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=info.bucket, obj=info.nuid),
        stream=OBJ_STREAM_TEMPLATE.format(bucket=info.bucket),
    )


async def read_chunks(js: JetStreamContext, obj: StoredObject) -> AsyncIterator[bytes]:
    """The object's bytes, chunk by chunk, verified against its size and digest."""
    received = 0
    hasher = hashlib.sha256()
    seq = 1
    while received < obj.size:
        try:
            msg = await js.get_msg(
                obj.stream, seq=seq, subject=obj.chunk_subject, direct=True, next=True
            )
        except NotFoundError as exc:
            raise ContentMissing(
                f"{obj.digest}: chunks end after {received} of {obj.size} bytes"
            ) from exc
        data = msg.data or b""
        received += len(data)
        if not data or received > obj.size or msg.seq is None:
            raise ContentMissing(f"{obj.digest}: chunks do not add up to {obj.size} bytes")
        hasher.update(data)
        seq = msg.seq + 1
        yield data
    if hasher.hexdigest() != obj.digest:
        raise ContentMissing(f"{obj.digest}: the stored bytes have another digest")


__all__ = [
    "ContentMissing",
    "StoredObject",
    "fetch_content",
    "locate",
    "locate_named",
    "put_content",
    "read_chunks",
]
