"""The settings document (KV ``settings``/``current``), re-read so a change applies without restart.

A stage reads it fresh before calling a model; a background loop keeps a copy current for the
heartbeat (which shows whether each agent has a key, never the key).
"""

from __future__ import annotations

import asyncio
import logging

from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from orchestrator.events.config import SETTINGS_KEY, StoredSettings

from .providers import ResolvedProvider, resolve
from .settings import AgentsSettings

log = logging.getLogger(__name__)


class SettingsSource:
    def __init__(self, kv: KeyValue, env: AgentsSettings) -> None:
        self.kv = kv
        self.env = env
        self.current = StoredSettings()

    async def refresh(self) -> StoredSettings:
        try:
            entry = await self.kv.get(SETTINGS_KEY)
        except (KeyNotFoundError, NotFoundError):
            self.current = StoredSettings()
            return self.current
        try:
            self.current = StoredSettings.model_validate_json(entry.value or b"{}")
        except ValidationError:
            # Never log the document: it holds keys. The last good copy stays in use.
            log.error("settings document is not valid; keeping the previous one")
        return self.current

    def resolve(self, agent: str) -> ResolvedProvider:
        return resolve(agent, self.current, self.env)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("settings not refreshed: %r", exc)
            await asyncio.sleep(self.env.agents_settings_refresh)
