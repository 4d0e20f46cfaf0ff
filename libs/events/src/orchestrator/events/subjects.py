"""Every NATS name the system uses: streams, subjects, consumers, buckets.

Nothing else in the code base spells a subject by hand, so a reader can see the whole
wire layout here and a rename is one edit.
"""

from __future__ import annotations

import re

EVENTS_STREAM = "EVENTS"
"""The domain event stream: the source of truth for every state in the system."""
EVENTS_ALL = "events.>"

OUTPUT_STREAM = "OUTPUT"
"""What runs print (``ExecutionOutput`` batches), apart from the domain stream and kept only for
``NATS_OUTPUT_MAX_AGE`` / ``NATS_OUTPUT_MAX_BYTES``: the domain stream grows with domain events
alone, and a gateway never replays output lines to start."""
OUTPUT_ALL = "output.exec.>"

DEAD_LETTER_STREAM = "DEADLETTER"
DEAD_LETTER_ALL = "deadletter.>"

FILES_BUCKET = "files"
"""Object store holding file contents, one object per sha256 digest."""
SETTINGS_BUCKET = "settings"
"""Key-value bucket holding settings; the only place API keys are kept."""
RATE_LIMIT_BUCKET = "ratelimit"
"""Key-value bucket of the gateways' rate-limit counts, one key per category and client (a
hash), expiring on their own: what makes the limits hold across gateway replicas."""
SNAPSHOTS_BUCKET = "snapshots"
"""Object store of the gateway's read-model snapshots, one object per stream sequence they
reflect: what lets a new gateway replica start from the newest instead of replaying the stream."""

TASK_ALL = "events.task.>"
WORKSPACE = "events.workspace"
EXEC_ALL = "events.exec.>"
ARCHIVE_ALL = "events.archive.>"
RESET_ALL = "events.reset.>"
SETTINGS = "events.settings"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _token(value: str) -> str:
    """Refuse anything that would change a subject's shape (dots, wildcards, spaces)."""
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"not a valid subject token: {value!r}")
    return value


TASK_PREFIX = "events.task."


def task(task_id: str) -> str:
    return f"{TASK_PREFIX}{_token(task_id)}"


def is_task(subject: str) -> bool:
    """Whether ``subject`` is one task's (``events.task.<task_id>``)."""
    return subject.startswith(TASK_PREFIX)


TIMER_ALL = "events.timer.>"


def timer(task_id: str) -> str:
    """A task's recorded deadlines (``ApprovalDeadline``), apart from its own events so one
    consumer can hold them without reading every task event."""
    return f"events.timer.{_token(task_id)}"


def execution(execution_id: str) -> str:
    return f"events.exec.{_token(execution_id)}"


def output(execution_id: str) -> str:
    """One run's output lines, in the ``OUTPUT`` stream."""
    return f"output.exec.{_token(execution_id)}"


def archive(name: str) -> str:
    return f"events.archive.{_token(name)}"


def reset(request_id: str) -> str:
    return f"events.reset.{_token(request_id)}"


def dead_letter(durable: str) -> str:
    return f"deadletter.{_token(durable)}"


def max_deliveries_advisory(stream: str, durable: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"


# Core NATS (not persisted): high-rate signals nobody needs to see again after a reconnect.
def heartbeat(service: str) -> str:
    return f"live.health.{_token(service)}"


HEARTBEAT_ALL = "live.health.*"
HEARTBEAT_PING = "live.ping.health"
"""A gateway that starts asks here for a heartbeat from everyone now, not at the next beat."""


def model_output(task_id: str) -> str:
    """Model tokens as they stream, relayed to WebSocket clients."""
    return f"live.output.{_token(task_id)}"


MODEL_OUTPUT_ALL = "live.output.*"

# Durable consumer names, one per service that hands out work.
AGENTS_DURABLE = "agents"
AGENTS_TIMERS_DURABLE = "agents-timers"
WORKSPACE_DURABLE = "workspace"
WORKSPACE_EXEC_DURABLE = "workspace-exec"
WORKSPACE_CHECKS_DURABLE = "workspace-checks"
ARCHIVE_DURABLE = "archive"


def token_of(subject: str, index: int) -> str:
    return subject.split(".")[index]
