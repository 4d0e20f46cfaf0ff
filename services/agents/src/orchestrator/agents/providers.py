"""The models the agents call: a prompt, its completion, the metered model, and the pool of
SDK clients.

The adapters over the official SDKs are in :mod:`.sdk_adapters`. Importing the two SDKs costs
about 2.4 s of CPU, so a replica does it in a thread once it has started (:meth:`Clients.warm_up`)
rather than before its first heartbeat: a started or restarted agents replica takes work that
much sooner, and the first model call waits only for what is left of the import.

Which provider, model and key serve an agent is decided by
:mod:`orchestrator.events.agent_providers` (one rule, shared with the gateway).

Retries belong to the SDK alone (``max_retries`` with its own backoff and ``retry-after``
handling, every call bounded by ``timeout``); a call that still fails raises :class:`ModelError`,
and the stage records the failure instead of being retried by the work queue.
Errors never carry the provider's message text: an authentication error may echo part of a key.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from orchestrator.events.agent_providers import ResolvedProvider

from .budget import BudgetExceeded, Meter
from .settings import AgentsSettings

if TYPE_CHECKING:
    import anthropic
    import openai

OnText = Callable[[str], Awaitable[None]]
K = TypeVar("K")
C = TypeVar("C")


@dataclass(frozen=True)
class Prompt:
    """One call's question: the system and user messages, and the JSON schema (by name) the
    answer must follow."""

    system: str
    user: str
    schema_name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False
    """The answer stopped at ``max_tokens``."""


class ChatModel(Protocol):
    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion: ...


class MeteredModel:
    """A model whose every call is checked against, and counted in, a stage's :class:`Meter`."""

    def __init__(self, model: ChatModel, meter: Meter) -> None:
        self.model = model
        self.meter = meter

    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion:
        allowed = self.meter.allowance(prompt.system, prompt.user)
        if max_tokens is not None:
            allowed = min(allowed, max_tokens)
        completion = await self.model.complete(prompt, on_text, max_tokens=allowed)
        self.meter.record(completion.input_tokens, completion.output_tokens)
        if completion.truncated and allowed < self.meter.max_tokens:
            raise BudgetExceeded(
                f"the {self.meter.model} answer was cut at the budget's {allowed} tokens",
                self.meter.usage,
            )
        return completion


class Clients:
    """SDK clients by (provider, base URL, key), reused so connections are pooled."""

    def __init__(self, settings: AgentsSettings) -> None:
        self.settings = settings
        self._anthropic: dict[tuple[str | None, str], anthropic.AsyncAnthropic] = {}
        self._openai: dict[tuple[str | None, str], openai.AsyncOpenAI] = {}
        self._adapters: asyncio.Future[ModuleType] | None = None

    def warm_up(self) -> asyncio.Future[ModuleType]:
        """Start importing the SDK adapters off the event loop (once)."""
        if self._adapters is None:
            self._adapters = import_in_thread(f"{__package__}.sdk_adapters")
        return self._adapters

    async def model_for(self, resolved: ResolvedProvider) -> ChatModel:
        sdk = await asyncio.shield(self.warm_up())
        s = self.settings
        key = resolved.api_key.get_secret_value() if resolved.api_key else ""
        pool_key = (resolved.base_url, key)
        options: dict[str, Any] = {
            "base_url": resolved.base_url,
            "max_retries": s.agents_llm_max_retries,
            "timeout": s.agents_llm_timeout,
        }
        if resolved.provider == "anthropic":
            client = _pooled(self._anthropic, pool_key, lambda: sdk.anthropic_client(key, options))
            chat: ChatModel = sdk.AnthropicChat(client, resolved.model, s.agents_max_tokens)
            return chat
        oa = _pooled(self._openai, pool_key, lambda: sdk.openai_client(key, options))
        chat = sdk.OpenAIChat(oa, resolved.model, s.agents_max_tokens, resolved.provider)
        return chat

    async def close(self) -> None:
        for a in self._anthropic.values():
            await a.close()
        for o in self._openai.values():
            await o.close()


def import_in_thread(name: str) -> asyncio.Future[ModuleType]:
    """The module ``name``, imported in a daemon thread: the loop goes on meanwhile, and a stop
    does not wait for it (an executor's thread would be joined at the loop's close)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[ModuleType] = loop.create_future()

    def settle(module: ModuleType | None, error: Exception | None) -> None:
        if future.done():
            return
        if module is not None:
            future.set_result(module)
        else:
            future.set_exception(error or ImportError(name))

    def load() -> None:
        module, error = None, None
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the future
            error = exc
        with suppress(RuntimeError):  # the loop closed first: the service stopped
            loop.call_soon_threadsafe(settle, module, error)

    threading.Thread(target=load, name=f"import {name}", daemon=True).start()
    return future


def _pooled(pool: dict[K, C], key: K, make: Callable[[], C]) -> C:
    """The pool's client for ``key``, made on first use."""
    client = pool.get(key)
    if client is None:
        client = pool[key] = make()
    return client


def parse_json(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer, tolerating a code fence around it."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        value = json.loads(body)
    except ValueError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            value = json.loads(body[start : end + 1])
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
