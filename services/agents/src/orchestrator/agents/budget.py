"""A task's budget, applied to each model call: what may still be spent, and the call's cut.

Before every call the remaining budget (the task's limit less what its recorded events say it
spent, less what this stage has spent so far) decides the call's ``max_tokens``: the configured
cap, cut to what the remaining tokens and the remaining dollars allow after the prompt. A call
that cannot fit (less than ``min_output`` tokens would remain for the answer) is not made: the
stage fails with ``BUDGET_EXCEEDED``. The prompt's size is an estimate (characters / 4, rounded
up, the usual rule of thumb for English and code); what the provider reports is what is counted
afterwards, so an estimate that was low makes the next call's check stricter, never looser.

Pure: no I/O, so the arithmetic is tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from orchestrator.events.catalog import Budget, Spend, Usage
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.pricing import Price, add_costs, cost_usd

from .errors import ModelError

CHARS_PER_TOKEN = 4


def estimate_tokens(*texts: str) -> int:
    return math.ceil(sum(len(t) for t in texts) / CHARS_PER_TOKEN)


class BudgetExceeded(ModelError):
    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(ErrorCode.BUDGET_EXCEEDED, message)
        self.usage = usage


@dataclass
class Meter:
    """One stage's calls against the task's budget; ``usage`` is what they consumed."""

    budget: Budget | None
    spent_before: Spend
    price: Price | None
    provider: str
    model: str
    max_tokens: int
    min_output: int
    usage: Usage = field(init=False)

    def __post_init__(self) -> None:
        self.usage = Usage(provider=self.provider, model=self.model)

    @property
    def spent(self) -> Spend:
        return self.spent_before.plus(self.usage)

    def allowance(self, *prompt: str) -> int:
        """The ``max_tokens`` for the next call with this prompt; :class:`BudgetExceeded` when
        the budget leaves too little for an answer."""
        if self.budget is None:
            return self.max_tokens
        spent = self.spent
        needed = estimate_tokens(*prompt)
        allowed = self.max_tokens
        limits: list[str] = []
        if self.budget.max_tokens is not None:
            left = self.budget.max_tokens - spent.tokens - needed
            allowed = min(allowed, left)
            limits.append(f"{spent.tokens} of {self.budget.max_tokens} tokens spent")
        if self.budget.max_cost_usd is not None:
            if self.price is None or spent.cost_usd is None:
                raise BudgetExceeded(
                    f"cannot hold max_cost_usd {self.budget.max_cost_usd}: "
                    f"no price for {self.model}",
                    self.usage,
                )
            left_usd = self.budget.max_cost_usd - spent.cost_usd
            left_usd -= needed * self.price.input / 1_000_000
            by_cost = (
                math.floor(left_usd * 1_000_000 / self.price.output)
                if self.price.output > 0
                else self.max_tokens
            )
            allowed = min(allowed, by_cost if left_usd > 0 else 0)
            limits.append(f"${spent.cost_usd:.6f} of ${self.budget.max_cost_usd} spent")
        if allowed < self.min_output:
            raise BudgetExceeded(
                f"budget exhausted before the {self.model} call "
                f"(~{needed} prompt tokens; {'; '.join(limits)})",
                self.usage,
            )
        return allowed

    def record(self, input_tokens: int, output_tokens: int) -> None:
        u = self.usage
        self.usage = Usage(
            input_tokens=u.input_tokens + input_tokens,
            output_tokens=u.output_tokens + output_tokens,
            cost_usd=add_costs(u.cost_usd, cost_usd(self.price, input_tokens, output_tokens)),
            provider=self.provider,
            model=self.model,
            calls=u.calls + 1,
        )


def spent_of(usages: list[Usage]) -> Spend:
    spent = Spend()
    for usage in usages:
        spent = spent.plus(usage)
    return spent
