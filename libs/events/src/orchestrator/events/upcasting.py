"""Upcasters turn an old payload into the current shape before it is validated.

Register one per (event type, from-version) step; :func:`upcast` applies them in order until the
payload reaches the version its class declares. An event with no path to the current version is
left as is and fails validation, which the reader reports and sets aside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn`` to lift ``event_type``'s data from ``from_version`` to the next version."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(envelope: Payload) -> Payload:
    event_type = envelope.get("type")
    version = int(envelope.get("schema_version", 1))
    data = dict(envelope.get("data") or {})
    while (step := _UPCASTERS.get((str(event_type), version))) is not None:
        data = step(data)
        version += 1
    data["type"] = event_type
    return {**envelope, "schema_version": version, "data": data}
