"""Approximate list prices per million tokens, to report a cost beside the usage of each stage.

Matched by model-name prefix, longest first; a model not listed costs 0 (a local server, say).
"""

from __future__ import annotations

# (input USD, output USD) per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus": (15.0, 75.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1": (2.0, 8.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5": (1.25, 10.0),
    "o4-mini": (1.1, 4.4),
}


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    for prefix in sorted(PRICES, key=len, reverse=True):
        if model.startswith(prefix):
            price_in, price_out = PRICES[prefix]
            return round((input_tokens * price_in + output_tokens * price_out) / 1_000_000, 6)
    return 0.0
