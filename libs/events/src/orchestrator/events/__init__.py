"""The event backbone every Orchestrator service shares.

- :mod:`.catalog`: every event, one discriminated union;
- :mod:`.envelope`: the envelope and its wire encoding;
- :mod:`.subjects`: every stream, subject, consumer and bucket name;
- :mod:`.store`: append with optimistic concurrency, read back;
- :mod:`.projection`: replay into a read model, then follow live;
- :mod:`.worker`: durable pull-consumer work loop with dead-lettering;
- :mod:`.error_codes`: the error-code vocabulary of every service and the gateway's envelope;
- :mod:`.paths`: the path policy (which names may stand for a workspace file);
- :mod:`.workspace_files`: the fold of workspace file events;
- :mod:`.runnables`: what a workspace file is for (runnable metadata);
- :mod:`.objects`: file contents in the object store, by sha256;
- :mod:`.settings_document`: the settings document (keys live only there) and how it is read;
- :mod:`.agent_providers`: which provider, model and key serve each agent;
- :mod:`.messages`: typed core-NATS messages (heartbeats, model output);
- :mod:`.failures`: the one way to log a failure and carry on;
- :mod:`.connection`, :mod:`.nats_settings`, :mod:`.service`, :mod:`.health`: process plumbing.
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
