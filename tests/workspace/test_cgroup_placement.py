"""Where a service that is not root puts run cgroups, decided on a cgroup v2 tree laid out in a
directory (this machine's own v2 hierarchy has no memory or pids controller to delegate, so the
kernel side of a delegated v2 cgroup is not exercised here; test_sandbox_unprivileged covers the
v1 delegation for real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.workspace.sandbox import cgroups


def own_cgroup(root: Path) -> Path:
    """The directory standing for this process's cgroup v2 beneath the fake mount ``root``."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = root / line[3:].lstrip("/")
            own.mkdir(parents=True, exist_ok=True)
            return own
    pytest.skip("this process has no cgroup v2 entry in /proc/self/cgroup")


def lay_out(root: Path, controllers: str, procs: list[int]) -> Path:
    for path in (root, own := own_cgroup(root)):
        (path / "cgroup.procs").write_text("")
        (path / "cgroup.controllers").write_text(controllers)
    (own / "cgroup.procs").write_text("\n".join(map(str, procs)))
    return own


def test_a_delegated_v2_cgroup_the_service_is_alone_in_gets_the_runs(tmp_path: Path) -> None:
    own = lay_out(tmp_path, "cpu memory pids", [os.getpid()])
    placement, why = cgroups.detect(tmp_path, uid=1000)
    assert why == "" and placement == cgroups.Placement("v2", (str(own / cgroups.GROUP),))
    # The service moved itself into a leaf, then gave the controllers to the runs' parent.
    assert (own / cgroups.SERVICE_LEAF / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / cgroups.GROUP / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_a_v2_cgroup_shared_with_other_processes_is_not_taken_over(tmp_path: Path) -> None:
    own = lay_out(tmp_path, "memory pids", [os.getpid(), os.getppid()])
    placement, why = cgroups.detect(tmp_path, uid=1000)
    assert placement is None
    assert f"its cgroup v2 {own} holds other processes (1)" in why
    assert "Delegate=yes" in why
    assert not (own / cgroups.SERVICE_LEAF).exists()


def test_without_the_memory_and_pids_controllers_there_is_no_cgroup(tmp_path: Path) -> None:
    own = lay_out(tmp_path, "hugetlb", [os.getpid()])
    placement, why = cgroups.detect(tmp_path, uid=1000)
    assert placement is None
    assert f"its cgroup v2 {own} lacks the memory and pids controllers (has: hugetlb)" in why
    assert "orchestrator-sandbox-1000" in why  # nor were v1 directories made for the uid
