"""Settings changes; subject ``events.settings``. Values live in key-value storage, never here."""

from __future__ import annotations

from typing import Literal

from .base import Event


class SettingsChanged(Event):
    type: Literal["SettingsChanged"] = "SettingsChanged"
    fields: tuple[str, ...]
