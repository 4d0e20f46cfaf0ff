"""The envelope every event travels in, and its encoding on the wire.

On the wire the body is the JSON envelope; the headers repeat what a reader needs before parsing
(``Nats-Msg-Id`` for de-duplication, the event type and schema version for upcasting), so the
common case, a current-version event, decodes in one pass of pydantic's JSON parser.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as read back from the stream: the envelope plus where it sits.

    A plain frozen dataclass, not a model: the envelope inside is already validated, and replay
    builds one of these per stored event.
    """

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


_CURRENT = {name: str(cls.schema_version) for name, cls in EVENT_TYPES.items()}
_validate_json = Envelope.__pydantic_validator__.validate_json


def decode(body: bytes, headers: dict[str, str] | None, subject: str, seq: int) -> RecordedEvent:
    """Decode a stored message, upcasting old payloads; raise :class:`UndecodableEvent`.

    Fast path (replay spends most of its time here): the headers say the payload is of its
    type's current version, so pydantic parses the JSON straight into the envelope, one pass.
    Anything else (an old version, a message without our headers) goes through the upcasters.
    """
    try:
        current = headers and _CURRENT.get(headers.get(TYPE_HEADER, ""))
        if current and current == headers.get(VERSION_HEADER):  # type: ignore[union-attr]
            envelope: Envelope = _validate_json(body)
        else:
            raw: dict[str, Any] = json.loads(body)
            envelope = Envelope.model_validate(upcast(raw))
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UndecodableEvent(subject, seq, str(exc)) from exc
    return RecordedEvent(envelope, subject, seq)
