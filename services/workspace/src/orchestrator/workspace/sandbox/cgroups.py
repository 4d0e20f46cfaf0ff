"""A cgroup of its own for each run, where the service may create them: a memory limit that
counts what rlimits cannot (tmpfs pages, page cache), a pids limit of the run alone, a CPU share.

cgroup v2 where its memory and pids controllers are on; else v1's memory, pids and cpu
hierarchies (as on a hybrid Debian host). The run's process is started behind a gate (it waits
for a byte on stdin), put in the cgroup, then let through: nothing it forks escapes the limits.
At the end every process left in the cgroup is killed and the cgroup removed.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "orchestrator-sandbox"
V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    pids: int
    cpu_shares: int  # v1 cpu.shares (1024 = one full share); v2 cpu.weight is derived


def detect(root: Path = ROOT) -> tuple[str | None, str]:
    """Which cgroup version the service can create run cgroups with ("v2", "v1" or None), and
    why not when None. Tried for real: a cgroup is made and removed."""
    v2_parent = root / GROUP
    controllers = root / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        try:
            _make_v2_parent(root)
            _probe_dir(v2_parent)
        except OSError as exc:
            return None, f"cgroup v2 here, but no run cgroup could be made: {exc}"
        return "v2", ""
    try:
        for controller in V1_CONTROLLERS:
            parent = root / controller / GROUP
            parent.mkdir(exist_ok=True)
            _probe_dir(parent)
    except OSError as exc:
        return None, f"no writable cgroup v1 memory/pids/cpu hierarchy: {exc}"
    return "v1", ""


def _make_v2_parent(root: Path) -> None:
    parent = root / GROUP
    parent.mkdir(exist_ok=True)
    (root / "cgroup.subtree_control").write_text("+memory +pids +cpu")
    (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")


def _probe_dir(parent: Path) -> None:
    probe = parent / f"probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    probe.rmdir()


class RunCgroup:
    def __init__(self, version: str, name: str, root: Path = ROOT) -> None:
        self.version = version
        if version == "v2":
            self.dirs = [root / GROUP / name]
        else:
            self.dirs = [root / c / GROUP / name for c in V1_CONTROLLERS]

    def create(self, limits: Limits) -> None:
        for path in self.dirs:
            path.mkdir(exist_ok=True)
        if self.version == "v2":
            group = self.dirs[0]
            (group / "memory.max").write_text(str(limits.memory_bytes))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(limits.pids))
            weight = max(1, min(10000, limits.cpu_shares * 100 // 1024))
            (group / "cpu.weight").write_text(str(weight))
            return
        memory, pids, cpu = self.dirs
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
        (pids / "pids.max").write_text(str(limits.pids))
        (cpu / "cpu.shares").write_text(str(limits.cpu_shares))

    def add(self, pid: int) -> None:
        for path in self.dirs:
            (path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            with suppress(OSError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def remove(self, timeout: float = 5.0) -> None:
        """Kill whatever is left in the cgroup, then remove it."""
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                with suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        for path in self.dirs:
            with suppress(FileNotFoundError):
                path.rmdir()
