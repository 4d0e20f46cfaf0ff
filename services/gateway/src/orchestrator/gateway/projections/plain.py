"""Plain data for snapshots of the read models: what JSON holds (dicts, lists, str, numbers,
None), nothing that decoding could turn into code. Each view has ``snapshot()`` (its state as
plain data) and ``restore()`` (that state back); these are the shared pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.events.catalog import FileRef

Plain = dict[str, Any]


def plain_refs(refs: tuple[FileRef, ...]) -> list[list[Any]]:
    return [[ref.path, ref.digest, ref.size] for ref in refs]


def file_refs(plain: list[list[Any]]) -> tuple[FileRef, ...]:
    # Validated: pydantic-core's check is cheaper than model_construct's Python-level assembly
    # (restore is the hot path of a cold start), and it refuses a malformed snapshot.
    return tuple(FileRef(path=p, digest=d, size=s) for p, d, s in plain)


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
