"""A zip archive written as it is sent: entries in, bytes out, never the whole archive held.

The stdlib ``zipfile`` writes to any object with ``write``: given one that cannot ``tell`` or
``seek`` it writes each entry's sizes and CRC in a data descriptor after the data instead of going
back to the local header, which is what a stream needs. :func:`zip_stream` feeds it one chunk at a
time and hands on whatever it wrote before asking for the next chunk, so memory holds one chunk
and the compressor's window per download, whatever the files' sizes.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
FILE_MODE = 0o644


@dataclass(frozen=True)
class ZipEntry:
    path: str
    size: int
    modified: datetime


class _Sink:
    """Collects what ``zipfile`` writes until it is taken. No ``tell``: zipfile streams then."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes, /) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _zip_info(entry: ZipEntry) -> zipfile.ZipInfo:
    when = max(entry.modified.astimezone(UTC), ZIP_EPOCH)
    info = zipfile.ZipInfo(entry.path, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, rw-r--r--
    # Known in advance, so zipfile picks zip64 headers for an entry that needs them.
    info.file_size = entry.size
    return info


async def zip_stream(
    entries: Iterable[ZipEntry], read: Callable[[ZipEntry], AsyncIterator[bytes]]
) -> AsyncIterator[bytes]:
    """The zip of ``entries``, each entry's bytes from ``read(entry)``, as they are produced.

    An exception from ``read`` ends the stream where it is, without the central directory, so a
    client never mistakes a broken download for a whole (smaller) archive.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            with archive.open(_zip_info(entry), mode="w") as out:
                async for chunk in read(entry):
                    out.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data
