"""Errors of the archive service.

WorkspaceKeptChanging   a reset found the workspace changing on every attempt; the request goes
                        back to the queue and is tried again after a backoff.
"""

from __future__ import annotations


class WorkspaceKeptChanging(Exception):
    def __init__(self, request_id: str, attempts: int) -> None:
        super().__init__(f"reset {request_id}: the workspace kept changing ({attempts} attempts)")
        self.request_id = request_id
