"""What a model call costs: the price table and the one rule that applies it.

Prices are per million tokens, input and output, matched by model-name prefix, longest first.
The shipped defaults cover the default models; the settings document's ``pricing`` adds to and
overrides them. A model with no price has an unknown cost (``None``), never 0: a sum that
includes an unknown is unknown, and a cost budget cannot be enforced on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from .catalog.base import Record
from .catalog.tasks import add_costs


class Price(Record):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus": Price(input=15.0, output=75.0),
    "claude-sonnet": Price(input=3.0, output=15.0),
    "claude-haiku": Price(input=1.0, output=5.0),
    "claude-3-5-haiku": Price(input=0.8, output=4.0),
    "gpt-4o-mini": Price(input=0.15, output=0.6),
    "gpt-4o": Price(input=2.5, output=10.0),
    "gpt-4.1-mini": Price(input=0.4, output=1.6),
    "gpt-4.1-nano": Price(input=0.1, output=0.4),
    "gpt-4.1": Price(input=2.0, output=8.0),
    "gpt-5-mini": Price(input=0.25, output=2.0),
    "gpt-5": Price(input=1.25, output=10.0),
    "o4-mini": Price(input=1.1, output=4.4),
}


def price_of(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: the longest matching prefix of the settings' table, then of the
    defaults; None when neither lists it."""
    for table in (overrides or {}, DEFAULT_PRICES):
        for prefix in sorted(table, key=len, reverse=True):
            if model.startswith(prefix):
                return table[prefix]
    return None


def cost_usd(price: Price | None, input_tokens: int, output_tokens: int) -> float | None:
    if price is None:
        return None
    return round((input_tokens * price.input + output_tokens * price.output) / 1_000_000, 6)


__all__ = ["DEFAULT_PRICES", "Price", "add_costs", "cost_usd", "price_of"]
