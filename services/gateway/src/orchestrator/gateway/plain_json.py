"""JSON for the gateway's own blobs (a frozen task's detail, a snapshot's read models): orjson,
which is fast, and lossless for whatever a client was allowed to send.

A requirement's ``metadata`` is free-form JSON, so it may hold an integer beyond 64 bits.
orjson refuses to encode one and would decode it as a float, so such a blob is written by the
standard library instead, behind a marker byte no JSON text starts with, and read back by it.
Blobs without the marker (all others, and every blob written before it existed) are orjson's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

WIDE = b"\x00"
"""The first byte of a blob written by the standard library (it holds a wide integer)."""


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # "Integer exceeds 64-bit range" (anything else fails again below)
        return WIDE + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    if data[:1] == WIDE:
        return json.loads(data[1:])
    return orjson.loads(data)
