"""Workspace service settings, from environment variables; bad values stop the service at start."""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.worker import WorkerConfig


def _own_site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


class WorkspaceSettings(NatsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".orchestrator"), description="service data root")

    # Sandbox
    sandbox_mode: Literal["auto", "bwrap", "landlock", "weak"] = Field(
        default="auto",
        description="auto: bubblewrap where it works, else Landlock + seccomp, else refuse "
        "(unless SANDBOX_ALLOW_WEAK); bwrap or landlock: that mode or refuse; weak: rlimits, a "
        "separate uid and a scrubbed environment only",
    )
    sandbox_allow_weak: bool = Field(
        default=False,
        description="in auto mode, when no isolation mode works, run weak instead of refusing",
    )
    sandbox_bwrap: str = Field(default="bwrap", description="the bubblewrap executable")
    sandbox_uid: int = Field(default=61000, ge=1, description="uid executed code runs as (root)")
    sandbox_gid: int = Field(default=61000, ge=1, description="gid executed code runs as (root)")
    sandbox_python: str = Field(
        default="/usr/bin/python3", description="interpreter inside the sandbox (under /usr)"
    )
    sandbox_site_packages: str = Field(
        default_factory=_own_site_packages,
        description="packages made visible read-only to executed code (fastapi, uvicorn, ...)",
    )
    sandbox_cpu_seconds: int = Field(default=10, ge=1, description="RLIMIT_CPU of a script")
    sandbox_server_cpu_seconds: int = Field(default=600, ge=1, description="RLIMIT_CPU, servers")
    sandbox_memory_bytes: int = Field(default=1 << 30, ge=1 << 24, description="RLIMIT_AS")
    sandbox_file_size_bytes: int = Field(default=64 << 20, ge=1 << 16, description="RLIMIT_FSIZE")
    sandbox_open_files: int = Field(default=256, ge=16, description="RLIMIT_NOFILE")
    sandbox_processes: int = Field(
        default=64, ge=4, description="RLIMIT_NPROC of the sandbox uid (all its runs together)"
    )
    sandbox_tmp_bytes: int = Field(default=64 << 20, ge=1 << 20, description="size of its /tmp")
    sandbox_shm_bytes: int = Field(default=64 << 20, ge=1 << 20, description="its /dev/shm")
    sandbox_work_bytes: int = Field(
        default=64 << 20, ge=1 << 20, description="size of a run's writable copy of the project"
    )
    sandbox_cgroup_memory_bytes: int = Field(
        default=1536 << 20,
        ge=1 << 26,
        description="memory of a run's cgroup, tmpfs and page cache included (where cgroups work)",
    )
    sandbox_cpu_shares: int = Field(
        default=256, ge=2, description="CPU weight of a run's cgroup (v1 cpu.shares; 1024 = one)"
    )
    sandbox_allow_network: bool = Field(
        default=False, description="let executed code reach the network (off: own empty netns)"
    )

    deps_install_timeout: float = Field(
        default=20.0,
        gt=0,
        description="seconds resolving and installing a project's requirements may take",
    )
    deps_installer: Literal["auto", "uv", "pip"] = Field(
        default="auto", description="what installs a project's requirements (auto: uv, else pip)"
    )

    # Executions
    exec_node: str = Field(
        default="node",
        description="the Node.js executable, found as runs find it (on the sandbox's PATH, or at "
        "the path given); where it is missing, .js files are listed as not runnable",
    )
    exec_timeout: float = Field(default=30.0, gt=0, description="wall clock of a script, seconds")
    exec_server_lifetime: float = Field(
        default=600.0, gt=0, description="wall clock of a web server, seconds"
    )
    exec_kill_grace: float = Field(default=2.0, ge=0, description="SIGTERM to SIGKILL, seconds")
    exec_max_output_bytes: int = Field(default=1 << 20, ge=1024, description="kept per run")
    exec_max_output_lines: int = Field(default=10_000, ge=10, description="kept per run")
    exec_max_line_chars: int = Field(default=4096, ge=80, description="longer lines are cut")
    exec_batch_interval: float = Field(default=0.08, gt=0, description="output batching, seconds")
    exec_batch_lines: int = Field(default=200, ge=1, description="lines per output event at most")
    exec_request_ttl: float = Field(
        default=120.0, gt=0, description="a run request older than this is refused, not started"
    )
    exec_max_concurrent: int = Field(default=4, ge=1, description="runs at once per replica")
    check_server_startup: float = Field(
        default=20.0, gt=0, description="seconds a server may take to answer its smoke check"
    )
    worker_ack_wait: float = Field(
        default=5.0, ge=1, description="seconds before an unacknowledged delivery comes back"
    )
    worker_backoff: tuple[float, ...] = Field(
        default=WorkerConfig.backoff,
        description="seconds before each retry of a failed delivery (JSON list); the last repeats",
    )
    preview_host: str = Field(default="127.0.0.1", description="where web previews listen")
    preview_allowed_hosts: str = Field(
        default="127.0.0.1,localhost,[::1]",
        description="Host names a preview answers (DNS-rebinding defence), comma-separated",
    )

    @property
    def workspace_dir(self) -> Path:
        return self.data_dir / "workspace"

    @property
    def sandbox_dir(self) -> Path:
        return self.data_dir / "sandbox"
