"""Settings every service shares: how to reach NATS and how to lay out the streams."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NATS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


def check_nats_urls(value: str) -> str:
    """One NATS URL or a comma-separated list; raise ``ValueError`` naming the bad one."""
    urls = [url.strip() for url in value.split(",")]
    if not any(urls):
        raise ValueError("no NATS URL given")
    for url in urls:
        if not url.startswith(NATS_SCHEMES) or len(url) <= url.index("://") + 3:
            raise ValueError(f"not a NATS URL: {url!r} (expected e.g. nats://127.0.0.1:4222)")
    return value


class NatsSettings(BaseSettings):
    """``NATS_URL`` (one URL or a comma-separated cluster list) and stream layout.

    Typed and validated at start: a bad value stops the service with a clear message instead of
    failing later.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server URL(s)")
    nats_replicas: int = Field(default=1, ge=1, le=5, description="replicas of each stream")
    nats_duplicate_window: float = Field(
        default=120.0, gt=0, description="seconds the server de-duplicates by message id"
    )
    nats_max_msg_size: int = Field(default=1024 * 1024, ge=1024, description="largest event")
    nats_output_max_age: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="seconds a run's output lines are kept"
    )
    nats_output_max_bytes: int = Field(
        default=1024**3, ge=1024, description="bytes of run output kept (the oldest go first)"
    )

    @field_validator("nats_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return check_nats_urls(value)

    @property
    def servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]
