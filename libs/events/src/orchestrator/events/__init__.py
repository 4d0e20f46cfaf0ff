"""The event backbone every Orchestrator service shares.

- :mod:`.catalog`: every event, one discriminated union;
- :mod:`.envelope`: the envelope and its wire encoding;
- :mod:`.subjects`: every stream, subject, consumer and bucket name;
- :mod:`.store`: append with optimistic concurrency, read back;
- :mod:`.projection`: replay into a read model, then follow live;
- :mod:`.worker`: durable pull-consumer work loop with dead-lettering;
- :mod:`.connection`, :mod:`.service`, :mod:`.health`: process plumbing.
"""

from . import subjects
from .catalog import AnyEvent, Event
from .envelope import Envelope, RecordedEvent, decode, encode, new_id
from .errors import (
    AppendFailed,
    ConcurrencyConflict,
    EventsError,
    ReadIncomplete,
    UndecodableEvent,
)
from .projection import Follower
from .store import EventStore
from .worker import Delivery, PermanentFailure, Worker, WorkerConfig

__all__ = [
    "AnyEvent",
    "AppendFailed",
    "ConcurrencyConflict",
    "Delivery",
    "Envelope",
    "Event",
    "EventStore",
    "EventsError",
    "Follower",
    "PermanentFailure",
    "ReadIncomplete",
    "RecordedEvent",
    "UndecodableEvent",
    "Worker",
    "WorkerConfig",
    "decode",
    "encode",
    "new_id",
    "subjects",
]
