"""The envelope every event travels in, and its encoding on the wire.

On the wire the body is the JSON envelope; the headers repeat what a reader needs before parsing
(``Nats-Msg-Id`` for de-duplication, the event type and schema version for upcasting), so the
common case, a current-version event, decodes in one pass of pydantic's JSON parser.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import EVENT_TYPES, AnyEvent, Event
from .errors import UndecodableEvent
from .upcasting import upcast

MSG_ID = "Nats-Msg-Id"
TYPE_HEADER = "Orch-Event-Type"
VERSION_HEADER = "Orch-Schema-Version"


def new_id(prefix: str = "evt") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    type: str
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int = 1
    data: AnyEvent

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        event_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        return cls(
            id=event_id or new_id(),
            type=event.type,  # type: ignore[attr-defined]
            correlation_id=correlation_id,
            causation_id=causation_id,
            schema_version=type(event).schema_version,
            data=event,
        )


class RecordedEvent(BaseModel):
    """An event as read back from the stream: the envelope plus where it sits."""

    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    subject: str
    seq: int

    @property
    def event(self) -> Event:
        return self.envelope.data

    @property
    def id(self) -> str:
        return self.envelope.id


def encode(envelope: Envelope) -> tuple[bytes, dict[str, str]]:
    headers = {
        MSG_ID: envelope.id,
        TYPE_HEADER: envelope.type,
        VERSION_HEADER: str(envelope.schema_version),
    }
    return envelope.model_dump_json().encode(), headers


def decode(body: bytes, headers: dict[str, str] | None, subject: str, seq: int) -> RecordedEvent:
    """Decode a stored message, upcasting old payloads; raise :class:`UndecodableEvent`."""
    headers = headers or {}
    event_type = headers.get(TYPE_HEADER)
    version = headers.get(VERSION_HEADER)
    cls = EVENT_TYPES.get(event_type or "")
    try:
        if cls is not None and version == str(cls.schema_version):
            envelope = Envelope.model_validate_json(body)
        else:
            raw: dict[str, Any] = json.loads(body)
            raw = upcast(raw)
            envelope = Envelope.model_validate(raw)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        raise UndecodableEvent(subject, seq, str(exc)) from exc
    return RecordedEvent(envelope=envelope, subject=subject, seq=seq)
