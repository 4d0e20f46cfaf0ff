"""File contents read from the object store one chunk at a time.

nats-py's ``ObjectStore.get`` gathers a whole object into memory (or into a synchronous file it
writes from an executor), and nothing paces it: its ordered push consumer takes chunks as fast as
the server sends them. A download must hold no more than a chunk per file, so this reads the
chunks itself, with the object store's own public layout (``nats.js.object_store``'s subject and
stream templates): ``get_info`` names the object's chunk subject (its ``nuid``), then one
direct get per chunk, "the next message on that subject after the last one read". The reader asks
for a chunk only when its consumer wants one; no consumer is created, so an abandoned download
leaves nothing behind on the server.

Every object is checked as it is read: its size and its sha256 against the name it is stored
under (contents are addressed by digest), so a torn or replaced object raises
:class:`ContentMissing` rather than yield wrong bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_STREAM_TEMPLATE, ObjectStore


class ContentMissing(Exception):
    """An object is not in the store, or not whole."""


@dataclass(frozen=True)
class StoredObject:
    digest: str
    size: int
    chunk_subject: str
    stream: str


async def locate(files: ObjectStore, bucket: str, digest: str) -> StoredObject:
    """Where the chunks of the object stored under ``digest`` are; :class:`ContentMissing`."""
    try:
        info = await files.get_info(digest)
    except (ObjectNotFoundError, NotFoundError) as exc:
        raise ContentMissing(f"{digest} is not in the object store") from exc
    link = info.options.link if info.options is not None else None
    if not info.nuid or link is not None:
        # Our writers store every object whole under its digest, never as a link.
        raise ContentMissing(f"{digest} is not a plain object")
    return StoredObject(
        digest=digest,
        size=int(info.size or 0),
        chunk_subject=OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=bucket, obj=info.nuid),
        stream=OBJ_STREAM_TEMPLATE.format(bucket=bucket),
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
