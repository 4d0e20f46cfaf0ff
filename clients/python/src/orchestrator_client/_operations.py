"""Every REST operation of the gateway, once: how to ask, and how to read the answer.

Each function here builds an :class:`Operation` (method, path, body, headers, and how to parse
the response); ``ClientBase`` has a method of the same name (``_base.Rest``) that each client's
``_send`` sends, so the request and response logic exists once and the two clients differ only in
how they wait.
``ROUTES`` maps each (method, path template) to its function's name, which is what the test that
holds the client against the gateway's OpenAPI document reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from . import _models as m
from ._exceptions import UnexpectedResponse, from_response

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

ROUTES: dict[tuple[str, str], str] = {}
"""(HTTP method, path template as the OpenAPI document writes it) -> client method name."""


@dataclass(frozen=True)
class Operation(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    """A raw body (a file's bytes), instead of ``json``."""

    def request(self) -> dict[str, Any]:
        """The arguments of an ``httpx`` client's ``request`` (the same for both clients)."""
        return {
            "method": self.method,
            "url": self.path,
            "params": self.params,
            "json": self.json,
            "content": self.content,
            "headers": self.headers,
        }

    def handle(self, response: httpx.Response) -> T:
        """The parsed body of a success; the envelope's exception otherwise."""
        if response.status_code >= 400:
            raise from_response(response)
        return self.parse(response)


def route(method: str, template: str) -> Callable[[F], F]:
    def register(builder: F) -> F:
        ROUTES[(method, template)] = builder.__name__
        return builder

    return register


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        try:
            return cls.model_validate_json(response.content)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"{response.request.method} {response.request.url.path}: the answer is not a "
                f"{cls.__name__} ({exc.error_count()} problem(s): {exc.errors()[0]['msg']})",
                status=response.status_code,
            ) from exc

    return parse


def _raw(response: httpx.Response) -> bytes:
    return response.content


def _segment(value: str) -> str:
    """One path segment, with ``/`` escaped (an id never spans segments)."""
    return quote(value, safe="")


def _subpath(value: str) -> str:
    """A file path, its slashes kept (the gateway's ``{filename:path}`` routes)."""
    return quote(value.lstrip("/"), safe="/")


EVENTS_PATH = "/ws"


def execution_stream_path(execution_id: str) -> str:
    """The WebSocket of one execution's output (every line from the first, then live)."""
    return f"/ws/execution/{_segment(execution_id)}"


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


# -- requirements and tasks ---------------------------------------------------------------------


@route("POST", "/api/requirements")
def submit(
    requirement: str,
    priority: int | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    *,
    budget: m.Budget | None = None,
    approval: str | list[str] | None = None,
    approval_timeout_s: float | None = None,
) -> Operation[m.Submitted]:
    """Submit a requirement. A fresh Idempotency-Key makes a retried submit return the same task.

    ``budget`` caps its spend; ``approval`` (``"plan"``, ``"changes"``, both, or ``"none"``)
    names the gates it waits at for :func:`approve` or :func:`feedback`."""
    body: dict[str, Any] = {"requirement": requirement}
    if priority is not None:
        body["priority"] = priority
    if metadata is not None:
        body["metadata"] = metadata
    if budget is not None:
        body["budget"] = budget.model_dump(exclude_none=True)
    if approval is not None:
        body["approval"] = approval
    if approval_timeout_s is not None:
        body["approval_timeout_s"] = approval_timeout_s
    return Operation(
        "POST",
        "/api/requirements",
        _model(m.Submitted),
        json=body,
        headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
    )


@route("GET", "/api/tasks")
def tasks(
    status: str | None = None, *, limit: int | None = None, cursor: str | None = None
) -> Operation[m.TaskList]:
    """A page of tasks, newest first; ``TaskList.next_cursor`` asks for the next one."""
    given = {"status": status, "limit": str(limit) if limit else None, "cursor": cursor}
    params = {key: value for key, value in given.items() if value is not None} or None
    return Operation("GET", "/api/tasks", _model(m.TaskList), params=params)


@route("GET", "/api/tasks/{task_id}")
def task(task_id: str) -> Operation[m.Task]:
    return Operation("GET", f"/api/tasks/{_segment(task_id)}", _model(m.Task))


@route("GET", "/api/tasks/{task_id}/events")
def task_events(task_id: str) -> Operation[m.TaskHistory]:
    return Operation("GET", f"/api/tasks/{_segment(task_id)}/events", _model(m.TaskHistory))


@route("GET", "/api/tasks/{task_id}/changes")
def task_changes(task_id: str) -> Operation[m.TaskChanges]:
    """What the task changed in the project, with diffs (final and per round)."""
    return Operation("GET", f"/api/tasks/{_segment(task_id)}/changes", _model(m.TaskChanges))


@route("POST", "/api/tasks/{task_id}/cancel")
def cancel(task_id: str) -> Operation[m.TaskControl]:
    return Operation("POST", f"/api/tasks/{_segment(task_id)}/cancel", _model(m.TaskControl))


@route("POST", "/api/tasks/{task_id}/retry")
def retry(task_id: str, budget: m.Budget | None = None) -> Operation[m.TaskControl]:
    """Retry a failed task from its failed stage; ``budget`` replaces its budget from here on."""
    body = {"budget": budget.model_dump(exclude_none=True)} if budget is not None else None
    return Operation(
        "POST", f"/api/tasks/{_segment(task_id)}/retry", _model(m.TaskControl), json=body
    )


@route("POST", "/api/tasks/{task_id}/approve")
def approve(task_id: str) -> Operation[m.Approved]:
    """Let a task waiting at an approval gate go on."""
    return Operation("POST", f"/api/tasks/{_segment(task_id)}/approve", _model(m.Approved))


@route("POST", "/api/tasks/{task_id}/feedback")
def feedback(task_id: str, message: str) -> Operation[m.FeedbackSent]:
    """Send a waiting task back with ``message``; on a completed task, submit a follow-up."""
    return Operation(
        "POST",
        f"/api/tasks/{_segment(task_id)}/feedback",
        _model(m.FeedbackSent),
        json={"message": message},
    )


@route("GET", "/api/usage")
def usage(since: str | None = None, until: str | None = None) -> Operation[m.UsageReport]:
    """Tokens and cost by agent, provider and model, per day (``YYYY-MM-DD`` bounds)."""
    given = {"since": since, "until": until}
    params = {key: value for key, value in given.items() if value is not None} or None
    return Operation("GET", "/api/usage", _model(m.UsageReport), params=params)


@route("GET", "/api/agents")
def agents() -> Operation[m.AgentList]:
    return Operation("GET", "/api/agents", _model(m.AgentList))


# -- workspace and executions -------------------------------------------------------------------


@route("GET", "/api/workspace/files")
def files() -> Operation[m.FileList]:
    return Operation("GET", "/api/workspace/files", _model(m.FileList))


@route("GET", "/api/workspace/files/{filename}")
def read_file(path: str) -> Operation[bytes]:
    """A workspace file's bytes, by path (``implementation/app.py``) or unique bare name."""
    return Operation("GET", f"/api/workspace/files/{_subpath(path)}", _raw)


@route("PUT", "/api/workspace/files/{filename}")
def write_file(
    path: str, data: bytes, *, if_match: str | None = None
) -> Operation[m.WorkspaceFile]:
    """Write a workspace file (a person's edit); ``if_match``: the digest the edit is based on,
    so a change made meanwhile is a ``Conflict`` instead of being overwritten."""
    headers = {"Content-Type": "application/octet-stream"}
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    return Operation(
        "PUT",
        f"/api/workspace/files/{_subpath(path)}",
        _model(m.WorkspaceFile),
        headers=headers,
        content=data,
    )


@route("DELETE", "/api/workspace/files/{filename}")
def delete_file(path: str, *, if_match: str | None = None) -> Operation[m.FileDeleted]:
    headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
    return Operation(
        "DELETE", f"/api/workspace/files/{_subpath(path)}", _model(m.FileDeleted), headers=headers
    )


@route("GET", "/api/workspace/download")
def download_workspace() -> Operation[bytes]:
    """The workspace's files as a zip."""
    return Operation("GET", "/api/workspace/download", _raw)


@route("GET", "/api/archive/{archive_name}/download")
def download_archive(archive_name: str) -> Operation[bytes]:
    """An archive's files as a zip."""
    return Operation("GET", f"/api/archive/{_segment(archive_name)}/download", _raw)


@route("POST", "/api/workspace/run/{filename}")
def start_run(path: str) -> Operation[m.RunStarted]:
    return Operation("POST", f"/api/workspace/run/{_subpath(path)}", _model(m.RunStarted))


@route("GET", "/api/workspace/executions")
def executions() -> Operation[m.ExecutionList]:
    return Operation("GET", "/api/workspace/executions", _model(m.ExecutionList))


@route("GET", "/api/workspace/executions/{execution_id}")
def execution(execution_id: str) -> Operation[m.Execution]:
    return Operation(
        "GET", f"/api/workspace/executions/{_segment(execution_id)}", _model(m.Execution)
    )


@route("GET", "/api/workspace/executions/{execution_id}/output")
def execution_lines(execution_id: str, from_line: int = 1) -> Operation[m.ExecutionOutputPage]:
    return Operation(
        "GET",
        f"/api/workspace/executions/{_segment(execution_id)}/output",
        _model(m.ExecutionOutputPage),
        params={"from_line": str(from_line)},
    )


@route("POST", "/api/workspace/executions/{execution_id}/stop")
def stop_execution(execution_id: str) -> Operation[m.Execution]:
    return Operation(
        "POST", f"/api/workspace/executions/{_segment(execution_id)}/stop", _model(m.Execution)
    )


# -- project and archives -----------------------------------------------------------------------


@route("POST", "/api/project/reset")
def reset(idempotency_key: str | None = None) -> Operation[m.ResetResult]:
    """Archive the workspace and clear it; the key makes a retry return the same archive."""
    return Operation(
        "POST",
        "/api/project/reset",
        _model(m.ResetResult),
        headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
    )


@route("GET", "/api/archive")
def archives() -> Operation[m.ArchiveList]:
    return Operation("GET", "/api/archive", _model(m.ArchiveList))


@route("GET", "/api/archive/{archive_name}/files")
def archive_files(archive_name: str) -> Operation[m.ArchiveFiles]:
    return Operation("GET", f"/api/archive/{_segment(archive_name)}/files", _model(m.ArchiveFiles))


@route("GET", "/api/archive/{archive_name}/files/{filename}")
def read_archived_file(archive_name: str, filename: str) -> Operation[bytes]:
    return Operation(
        "GET", f"/api/archive/{_segment(archive_name)}/files/{_subpath(filename)}", _raw
    )


@route("POST", "/api/archive/{archive_name}/restore/{filename}")
def restore(archive_name: str, filename: str) -> Operation[m.Restored]:
    return Operation(
        "POST",
        f"/api/archive/{_segment(archive_name)}/restore/{_subpath(filename)}",
        _model(m.Restored),
    )


# -- settings and health ------------------------------------------------------------------------


@route("GET", "/api/settings")
def settings() -> Operation[m.Settings]:
    return Operation("GET", "/api/settings", _model(m.Settings))


@route("POST", "/api/settings")
def save_settings(update: m.SettingsUpdate) -> Operation[m.SettingsSaved]:
    """A partial update: fields left out keep their value; a key given as ``""`` is cleared."""
    return Operation("POST", "/api/settings", _model(m.SettingsSaved), json=update.body())


@route("GET", "/api/health")
def health() -> Operation[m.Health]:
    return Operation("GET", "/api/health", _model(m.Health))
