"""Body scalars exactly as their JSON Schema says, so the document and the validation agree.

Pydantic's lax mode takes ``"5"`` or ``0`` for an int or a bool, which the schema calls invalid;
strict mode refuses ``5.0``, which JSON Schema calls an integer. These types take what the schema
takes and nothing else.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

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


INT_RANGE = (-(2**63), 2**64 - 1)
"""The integers every reader of an event can hold exactly (orjson, most JSON parsers): a larger
one is refused, never stored to break a projection's encoding or come back rounded."""


def _ints_in_range(value: Any) -> Any:
    low, high = INT_RANGE
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and not low <= item <= high:
            raise ValueError("integers must fit in 64 bits")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_ints_in_range)]
"""Free-form JSON (a requirement's ``metadata``) whose integers fit in 64 bits."""
