"""Plain data for snapshots of the read models: what JSON holds (dicts, lists, str, numbers,
None), nothing that decoding could turn into code. Each view has ``snapshot()`` (its state as
plain data) and ``restore()`` (that state back); these are the shared pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from orchestrator.events.catalog import FileRef

Plain = dict[str, Any]


_FILE_REFS = TypeAdapter(tuple[FileRef, ...])


def plain_refs(refs: tuple[FileRef, ...]) -> list[Plain]:
    return [{"path": ref.path, "digest": ref.digest, "size": ref.size} for ref in refs]


def file_refs(plain: list[Plain]) -> tuple[FileRef, ...]:
    # One validation in pydantic-core for the whole tuple: cheaper than one model per ref, or
    # model_construct's Python-level assembly (restore is the hot path of a cold start), and a
    # malformed snapshot is refused.
    return _FILE_REFS.validate_python(plain)


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
