"""Settings of ``make run``: where data lives and whether to embed a NATS server."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.events.nats_settings import check_nats_urls


class LauncherSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path(".orchestrator"), description="NATS store, logs and service data"
    )
    nats_url: str | None = Field(
        default=None, description="use this NATS (or cluster) instead of starting one"
    )
    nats_port: int = Field(default=4222, ge=1, le=65535, description="embedded NATS client port")
    nats_monitor_port: int = Field(
        default=8222, ge=1, le=65535, description="embedded NATS monitoring port (loopback)"
    )
    gateway_host: str = Field(default="127.0.0.1", description="gateway bind address")
    gateway_port: int = Field(default=8100, ge=1, le=65535, description="gateway port")

    replicas: int = Field(
        default=2, ge=1, le=16, description="processes of every service under make cluster"
    )
    nats_config_dir: Path = Field(
        default=Path("deploy/nats"), description="the n1..n3 node configs make cluster runs"
    )
    launcher_max_restarts: int = Field(
        default=5, ge=0, description="restarts of one service within the window before giving up"
    )
    launcher_restart_window: float = Field(
        default=60.0, gt=0, description="seconds over which a service's crashes are counted"
    )
    launcher_backoff_initial: float = Field(
        default=0.5, ge=0, description="seconds before the first restart; doubles each crash"
    )
    launcher_backoff_max: float = Field(
        default=30.0, ge=0, description="longest wait before a restart, seconds"
    )

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        return check_nats_urls(value)  # the services' own check, failing here rather than in 4
