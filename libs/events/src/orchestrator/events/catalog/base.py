"""The base every event shares: an immutable, versioned fact named in the past tense."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A fact that happened. Subclasses set ``type`` as a ``Literal`` discriminator.

    ``schema_version`` is the version of the payload's shape; when a shape changes, bump it and
    register an upcaster in :mod:`orchestrator.events.upcasting` so old payloads stay readable.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: ClassVar[int] = 1


class Record(BaseModel):
    """A frozen value object nested inside events."""

    model_config = ConfigDict(frozen=True, extra="ignore")
