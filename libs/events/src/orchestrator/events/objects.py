"""File contents in the object store, addressed by their sha256: read back, verified.

Every service that needs a file's bytes reads them here, so "missing" means one thing
everywhere: the store says it has no object under that digest (final), or its bytes do not
match the digest. Any other failure (NATS away for a moment) propagates, so the caller's
delivery is retried instead of a task failing for a transient fault.
"""

from __future__ import annotations

import hashlib

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from . import subjects


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
    try:
        data = await _read_object(js, files, digest)
    except NotFoundError as exc:
        raise ContentMissing(f"content {digest[:12]} not in the object store: {exc!r}") from exc
    if hashlib.sha256(data).hexdigest() != digest:
        raise ContentMissing(f"content {digest[:12]} does not match its digest")
    return data


async def _read_object(js: JetStreamContext, files: ObjectStore, name: str) -> bytes:
    """An object's bytes. A file fits one chunk (128 KiB) almost always: read that chunk with one
    direct message get instead of ``ObjectStore.get``'s ordered push consumer (a consumer created
    and torn down per read: measured ~2 ms of integration's time per task). Larger or linked
    objects take the library's path."""
    info = await files.get_info(name)
    if info.chunks == 1 and info.nuid and not info.is_link() and info.bucket:
        chunk = await js.get_last_msg(
            subjects.object_stream(info.bucket), subjects.object_chunks(info.bucket, info.nuid)
        )
        data = bytes(chunk.data or b"")
        if len(data) == (info.size or 0):
            return data
    result = await files.get(name)
    return bytes(result.data or b"")


__all__ = ["ContentMissing", "fetch_content", "put_content"]
