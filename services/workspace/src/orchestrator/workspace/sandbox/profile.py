"""What isolation this machine gives executed code, as found by the probe at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .cgroups import Placement

Mode = Literal["bubblewrap", "landlock", "weak", "refused"]


@dataclass(frozen=True)
class SandboxProfile:
    mode: Mode
    as_root: bool
    layers: dict[str, bool]
    notes: dict[str, str] = field(default_factory=dict)
    seccomp_bpf: Path | None = None
    disable_userns: bool = True
    site_packages: str | None = None
    python: str = "/usr/bin/python3"
    bwrap: str = "bwrap"
    rlimits: bool = True
    stage_root: Path = Path("/nonexistent")
    limits: dict[str, int | float] = field(default_factory=dict)
    cgroup_placement: Placement | None = None  # each run gets a cgroup of its own there
    landlock_abi: int = 0
    sandbox_uid: int = 61000
    sandbox_gid: int = 61000

    @property
    def contained(self) -> bool:
        """The code runs in namespaces of its own (bubblewrap or the Landlock entry point)."""
        return self.mode in ("bubblewrap", "landlock")

    @property
    def cgroups(self) -> str | None:
        """The cgroup version runs get a cgroup of (``"v1"``, ``"v2"``), None: no cgroups."""
        return self.cgroup_placement.version if self.cgroup_placement else None

    @property
    def can_run(self) -> bool:
        return self.mode != "refused"

    @property
    def own_network(self) -> bool:
        """Executed code has a network namespace of its own (previews need the relay)."""
        return self.layers.get("network_namespace", False)

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(name for name, on in self.layers.items() if on)

    def report(self) -> dict[str, Any]:
        """What the heartbeat (and so ``GET /api/health``) shows."""
        return {
            "mode": self.mode,
            "cgroups": self.cgroups,
            "landlock_abi": self.landlock_abi,
            "active": list(self.active),
            "layers": dict(self.layers),
            "notes": dict(self.notes),
            "limits": dict(self.limits),
        }
