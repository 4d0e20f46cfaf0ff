"""Gateway settings, from environment variables; bad values stop the gateway at start."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from orchestrator.events.nats_settings import NatsSettings

from .client_identity import IPNetwork, parse_networks


class GatewaySettings(NatsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    gateway_host: str = Field(default="127.0.0.1", description="bind address")
    gateway_port: int = Field(default=8100, ge=1, le=65535, description="port")
    gateway_token: str | None = Field(
        default=None, description="bearer token required on every route when set"
    )
    gateway_allowed_hosts: str = Field(
        default="127.0.0.1,localhost,[::1]",
        description="Host header names accepted (DNS-rebinding defence), comma-separated",
    )
    gateway_allowed_origins: str = Field(
        default="",
        description="extra browser Origins allowed to call the API, comma-separated",
    )
    gateway_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="largest body")
    gateway_request_timeout: float = Field(
        default=30.0, gt=0, description="seconds to wait for a service to answer a command"
    )
    gateway_read_wait: float = Field(
        default=5.0,
        gt=0,
        description="seconds a read waits for this replica to reach the write it must reflect "
        "(X-After-Seq, else the stream's end) before answering 503",
    )
    rate_limit_requirements: int = Field(default=10, ge=1, description="per minute")
    rate_limit_files: int = Field(default=100, ge=1, description="per minute")
    rate_limit_archive: int = Field(default=20, ge=1, description="per minute")
    gateway_trusted_proxies: str = Field(
        default="",
        description="addresses or CIDRs of reverse proxies whose X-Forwarded-For names the "
        "client for the rate limits, comma-separated; from any other peer it is ignored",
    )
    health_interval: float = Field(
        default=5.0, gt=0, description="seconds between system_health frames"
    )

    gateway_snapshot_every: int = Field(
        default=50_000,
        ge=0,
        description="events applied between two snapshots of the read models (0: never by count)",
    )
    gateway_snapshot_interval: float = Field(
        default=300.0,
        ge=0,
        description="seconds between snapshots while events arrive (0: never by time)",
    )

    @field_validator("gateway_trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.gateway_trusted_proxies)

    @property
    def allowed_hosts(self) -> set[str]:
        return {h.strip().lower() for h in self.gateway_allowed_hosts.split(",") if h.strip()}

    @property
    def allowed_origins(self) -> set[str]:
        extra = {o.strip() for o in self.gateway_allowed_origins.split(",") if o.strip()}
        local = {
            f"{scheme}://{host}:{self.gateway_port}"
            for scheme in ("http", "https")
            for host in ("127.0.0.1", "localhost", "[::1]")
        }
        return local | extra

    @model_validator(mode="after")
    def _refuse_open_binding(self) -> GatewaySettings:
        if not _is_loopback(self.gateway_host) and not self.gateway_token:
            raise ValueError(
                f"refusing to bind {self.gateway_host} without GATEWAY_TOKEN: anyone on the "
                "network could run code here. Set GATEWAY_TOKEN or bind 127.0.0.1."
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
