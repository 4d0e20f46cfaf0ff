"""Archive service settings, from environment variables; bad values stop it at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orchestrator.events.nats_settings import NatsSettings


class ArchiveSettings(NatsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path(".orchestrator"),
        description="where archives are materialised, under completed_archive/<name>/",
    )
    archive_max_attempts: int = Field(
        default=20,
        ge=1,
        description="times a reset re-reads the workspace when files keep arriving meanwhile",
    )

    @property
    def archive_root(self) -> Path:
        return self.data_dir / ARCHIVE_DIR


ARCHIVE_DIR = "completed_archive"
