"""A cgroup of its own for each run, where the service may create them: a memory limit that
counts what rlimits cannot (tmpfs pages, page cache), a pids limit of the run alone, a CPU share.

cgroup v2 where its memory and pids controllers are on; else v1's memory, pids and cpu
hierarchies (as on a hybrid Debian host). A service that is not root uses only what is delegated
to it (see :func:`detect`). The run's process is started behind a gate (it waits
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
SERVICE_LEAF = "workspace-service"  # where a non-root service moves itself in its own v2 cgroup


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    pids: int
    cpu_shares: int  # v1 cpu.shares (1024 = one full share); v2 cpu.weight is derived


@dataclass(frozen=True)
class Placement:
    """Where run cgroups go: ``parents`` holds one directory (v2) or one per v1 controller, in
    the order of :data:`V1_CONTROLLERS`."""

    version: str  # "v1" or "v2"
    parents: tuple[str, ...]


def detect(root: Path = ROOT, *, uid: int | None = None) -> tuple[Placement | None, str]:
    """Where the service can create run cgroups, tried for real (a cgroup is made and removed);
    None and why not. Root makes its own; a non-root service only uses what was delegated to it:
    its own cgroup v2 (as systemd's ``Delegate=yes`` gives), else v1 directories an
    administrator made for its uid (``<controller>/orchestrator-sandbox-<uid>``, chowned)."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        return _as_root(root)
    placement, why_v2 = _delegated_v2(root)
    if placement is not None:
        return placement, ""
    parents = tuple(root / c / f"{GROUP}-{uid}" for c in V1_CONTROLLERS)
    try:
        for parent in parents:
            _probe_dir(parent)
    except OSError as exc:
        return None, f"not root, and no cgroup is delegated to uid {uid}: {why_v2}; v1: {exc}"
    return Placement("v1", tuple(map(str, parents))), ""


def _as_root(root: Path) -> tuple[Placement | None, str]:
    controllers = root / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        try:
            return _v2_parent(root), ""
        except OSError as exc:
            return None, f"cgroup v2 here, but no run cgroup could be made: {exc}"
    parents = tuple(root / c / GROUP for c in V1_CONTROLLERS)
    try:
        for parent in parents:
            parent.mkdir(exist_ok=True)
            _probe_dir(parent)
    except OSError as exc:
        return None, f"no writable cgroup v1 memory/pids/cpu hierarchy: {exc}"
    return Placement("v1", tuple(map(str, parents))), ""


def _delegated_v2(root: Path) -> tuple[Placement | None, str]:
    """The service's own cgroup v2, when it is delegated (writable) and has the memory and pids
    controllers. cgroup v2 gives controllers only to the children of a cgroup without processes,
    so the service moves itself into a leaf of its own first: it must be alone in its cgroup."""
    own = own_v2_cgroup(root)
    if own is None:
        return None, "no cgroup v2 of its own"
    if not (os.access(own, os.W_OK) and os.access(own / "cgroup.procs", os.W_OK)):
        return None, f"its cgroup v2 {own} is not delegated to it"
    available = (own / "cgroup.controllers").read_text().split()
    if not {"memory", "pids"} <= set(available):
        have = " ".join(available) or "none"
        return None, f"its cgroup v2 {own} lacks the memory and pids controllers (has: {have})"
    others = _procs(own) - {os.getpid()}
    if others:
        return None, (
            f"its cgroup v2 {own} holds other processes ({len(others)}): start the workspace "
            "service in a delegated cgroup of its own (systemd-run --user -p Delegate=yes)"
        )
    try:
        leaf = own / SERVICE_LEAF
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        return _v2_parent(own), ""
    except OSError as exc:
        return None, f"its cgroup v2 {own} is delegated, but no run cgroup could be made: {exc}"


def _v2_parent(top: Path) -> Placement:
    """The parent of run cgroups beneath ``top`` (a cgroup v2 without processes of its own, or
    the root), its controllers given to the runs."""
    parent = top / GROUP
    controllers = top / "cgroup.controllers"
    _enable(top, controllers)
    parent.mkdir(exist_ok=True)
    _enable(parent, controllers)
    _probe_dir(parent)
    return Placement("v2", (str(parent),))


def own_v2_cgroup(root: Path = ROOT) -> Path | None:
    """This process's cgroup in the v2 hierarchy (``/sys/fs/cgroup/unified`` on a hybrid host)."""
    mount = next((m for m in (root, root / "unified") if (m / "cgroup.procs").exists()), None)
    if mount is None or not (mount / "cgroup.controllers").exists():
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = mount / line[3:].lstrip("/")
            return own if own.is_dir() else None
    return None


def _enable(group: Path, controllers: Path) -> None:
    """Give ``group``'s children the memory and pids controllers (and cpu where there is one)."""
    wanted = ["memory", "pids", *(["cpu"] if "cpu" in controllers.read_text().split() else [])]
    (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def _procs(group: Path) -> set[int]:
    return {int(p) for p in (group / "cgroup.procs").read_text().split()}


def _probe_dir(parent: Path) -> None:
    probe = parent / f"probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    probe.rmdir()


class RunCgroup:
    def __init__(self, placement: Placement, name: str) -> None:
        self.version = placement.version
        self.dirs = [Path(parent) / name for parent in placement.parents]

    def create(self, limits: Limits) -> None:
        for path in self.dirs:
            path.mkdir(exist_ok=True)
        if self.version == "v2":
            group = self.dirs[0]
            (group / "memory.max").write_text(str(limits.memory_bytes))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(limits.pids))
            if (group / "cpu.weight").exists():  # a delegated cgroup may lack cpu
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
