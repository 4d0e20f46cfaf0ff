"""OpenAPI links: which operation a response leads to, and with which of its values.

A generated client (or Schemathesis' stateful phase) follows them: a submitted task to reading,
cancelling, retrying it and its history; an approval or feedback back to its task; a run to its
execution and its stop; an archive to its files, and its listing to viewing and restoring a file
of it (the first one listed: a link's value is one JSON pointer, not each item); a restored file
to its content in the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


def _task_links(task_id: str) -> dict[str, Any]:
    return {
        "GetTask": _link("get_task", "The task", task_id=task_id),
        "TaskEvents": _link("task_events", "The task's event history", task_id=task_id),
        "CancelTask": _link("cancel_task", "Cancel the task", task_id=task_id),
        "RetryTask": _link("retry_task", "Retry the task from its failed stage", task_id=task_id),
    }


def _execution_links(execution_id: str) -> dict[str, Any]:
    return {
        "GetExecution": _link("get_execution", "The execution", execution_id=execution_id),
        "StopExecution": _link("stop_execution", "Stop it", execution_id=execution_id),
    }


def _archived_file_links(archive_name: str, filename: str) -> dict[str, Any]:
    names = {"archive_name": archive_name, "filename": filename}
    return {
        "ViewArchivedFile": _link("archived_file", "A file of the archive", **names),
        "RestoreArchivedFile": _link(
            "restore_file", "Put that file back in the workspace", **names
        ),
    }


LINKS: dict[str, dict[str, Any]] = {
    "submit_requirement": _task_links("$response.body#/task_id"),
    "get_task": _task_links("$response.body#/id"),
    "cancel_task": {"GetTask": _task_links("$response.body#/task_id")["GetTask"]},
    "retry_task": {"GetTask": _task_links("$response.body#/task_id")["GetTask"]},
    "approve_task": {"GetTask": _task_links("$response.body#/task_id")["GetTask"]},
    "task_feedback": {"GetTask": _task_links("$response.body#/task_id")["GetTask"]},
    "run_file": _execution_links("$response.body#/execution_id"),
    "get_execution": {
        "StopExecution": _execution_links("$response.body#/execution_id")["StopExecution"]
    },
    "reset_project": {
        "BrowseArchive": _link(
            "browse_archive", "The archive just made", archive_name="$response.body#/archive_name"
        )
    },
    "browse_archive": _archived_file_links(
        "$response.body#/archive", "$response.body#/files/0/path"
    ),
    "restore_file": {
        "GetFile": _link(
            "get_file",
            "The restored file in the workspace",
            filename="$response.body#/workspace_path",
        )
    },
}


def install(app: FastAPI) -> None:
    """Add :data:`LINKS` to the 200 responses of the document ``app.openapi`` builds."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                links = LINKS.get(operation.get("operationId", ""))
                ok = operation.get("responses", {}).get("200")
                if links and ok is not None:
                    ok["links"] = links
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
