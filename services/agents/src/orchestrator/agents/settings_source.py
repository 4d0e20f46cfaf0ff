"""The settings document (KV ``settings``/``current``), re-read so a change applies without restart.

A stage reads it fresh before calling a model; a background loop keeps a copy current for the
heartbeat (which shows whether each agent has a key, never the key). What an unreadable document
means is :mod:`orchestrator.events.settings_document`'s one answer.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from nats.js.kv import KeyValue

from orchestrator.events.agent_providers import ResolvedProvider, resolve
from orchestrator.events.settings_document import SettingsReader, StoredSettings

from .settings import AgentsSettings

log = logging.getLogger(__name__)


class SettingsSource:
    def __init__(self, kv: KeyValue, env: AgentsSettings) -> None:
        self.reader = SettingsReader(kv)
        self.env = env
        self.environment = env.provider_environment()
        self.current = StoredSettings()

    async def refresh(self) -> StoredSettings:
        self.current = (await self.reader.read()).document
        return self.current

    def resolve(self, agent: str) -> ResolvedProvider:
        return resolve(agent, self.current, self.environment)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (TimeoutError, nats.errors.Error) as exc:  # NATS away: the next read will do
                log.debug("settings not refreshed: %r", exc)
            await asyncio.sleep(self.env.agents_settings_refresh)
