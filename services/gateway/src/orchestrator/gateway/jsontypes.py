"""Body scalars exactly as their JSON Schema says, so the document and the validation agree.

Pydantic's lax mode takes ``"5"`` or ``0`` for an int or a bool, which the schema calls invalid;
strict mode refuses ``5.0``, which JSON Schema calls an integer. These types take what the schema
takes and nothing else.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt


def integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[StrictInt, BeforeValidator(integral)]
"""An integer: ``5`` or ``5.0``; never ``"5"``, ``true`` or ``5.5``. Bounds go inside the
``Annotated`` beside it (as ``Priority`` does), so the schema of an optional one keeps them."""

JsonBool = StrictBool
"""``true`` or ``false``; never ``0`` or ``"yes"``."""

Priority = Annotated[StrictInt, Field(ge=1, le=10), BeforeValidator(integral)]
"""A task's priority, 1 (low) to 10 (urgent); the bounds sit on the integer so that the schema of
an optional priority carries them too (as ``minimum``/``maximum``)."""


NOT_BLANK = r"[^\x00-\x20\x7f]"  # explicit: regex engines disagree on what \\s is


def _has_text(value: str) -> str:
    if not re.search(NOT_BLANK, value):
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK}), AfterValidator(_has_text)
]
"""Text with some character that is not whitespace (the pattern documents the check); give its
``max_length`` where it is used."""
