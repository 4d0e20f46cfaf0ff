"""The workspace service as a user's laptop runs it: not root. Started here as a throwaway uid
(``setpriv``) in each sandbox mode, once with no cgroup delegated to it and once with cgroup v1
directories an administrator made and chowned for its uid. A run's RLIMIT_NPROC is set in its
own user namespace, so it counts that run alone: a fork bomb stops at the limit even while
another run of the same uid holds 30 processes, and the probe says which limits are in force.

What this machine cannot show: a delegated cgroup v2 with memory and pids controllers (here they
are all bound to v1, the unified hierarchy has only hugetlb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from orchestrator.launcher.supervisor import ServiceProcess
from orchestrator.workspace.sandbox.cgroups import GROUP, ROOT, V1_CONTROLLERS
from orchestrator.workspace.sandbox.probe import traversable_by_others
from tests.harness import System, eventually

from .conftest import (
    TEST_ENV,
    api,
    requires_bwrap,
    requires_landlock,
    run_output,
    sandbox_processes,
    start_run,
    wait_finished,
)
from .test_sandbox_attacks import attack

# A uid of this test session alone, outside the range conftest's SANDBOX_UID takes.
SERVICE_UID = 65000 + os.getpid() % 500
PROCESSES = int(TEST_ENV["SANDBOX_PROCESSES"])
HOLDER = b"""import os, time

if __name__ == "__main__":
    for _ in range(30):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    print("holding 30", flush=True)
    time.sleep(60)
"""

requires_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="starting the service as another uid needs root and setpriv (util-linux)",
)
requires_v1 = pytest.mark.skipif(
    not all((ROOT / c / "cgroup.procs").exists() for c in V1_CONTROLLERS),
    reason="no cgroup v1 memory, pids and cpu hierarchies here",
)
VARIANTS = [
    pytest.param(("bwrap", False), marks=requires_bwrap, id="bwrap"),
    pytest.param(("landlock", False), marks=requires_landlock, id="landlock"),
    pytest.param(("bwrap", True), marks=[requires_bwrap, requires_v1], id="bwrap-delegated-v1"),
    pytest.param(
        ("landlock", True), marks=[requires_landlock, requires_v1], id="landlock-delegated-v1"
    ),
]
pytestmark = requires_root


@dataclass
class AsUser(ServiceProcess):
    """A service process started as ``uid`` (its own group, no supplementary groups)."""

    uid: int = SERVICE_UID
    python: str = sys.executable

    def start(self) -> AsUser:
        out = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        ids = [f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
        self._process = subprocess.Popen(
            ["setpriv", *ids, "--", self.python, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        return self


def interpreter_for_others(root: Path) -> str:
    """This interpreter, if any uid may run it (the Landlock mode execs it again for its entry
    point); else a venv of the system's Python of the same version that sees this environment's
    packages (here the interpreter lives under /root, which is 0700)."""
    if traversable_by_others(Path(sys.executable).resolve()):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = Path("/usr/bin") / version
    if not system_python.exists():
        pytest.skip(f"{sys.executable} is out of other uids' reach and there is no {system_python}")
    venv = root / "venv"
    subprocess.run([system_python, "-m", "venv", "--without-pip", venv], check=True)
    packages = sysconfig.get_paths()["purelib"]
    pth = venv / "lib" / version / "site-packages" / "orchestrator-environment.pth"
    pth.write_text(f"import site; site.addsitedir({packages!r})\n")
    return str(venv / "bin" / "python")


@contextmanager
def delegated_v1(uid: int) -> Iterator[list[Path]]:
    """What an administrator does to give a uid cgroups: a v1 directory per controller, its
    own (``mkdir``, ``chown -R``)."""
    parents = [ROOT / c / f"{GROUP}-{uid}" for c in V1_CONTROLLERS]
    for parent in parents:
        parent.mkdir(exist_ok=True)
        for path in [parent, *parent.iterdir()]:
            os.chown(path, uid, uid)
    try:
        yield parents
    finally:
        for parent in parents:
            for child in (p for p in parent.iterdir() if p.is_dir()):
                with suppress(OSError):
                    child.rmdir()
            with suppress(OSError):
                parent.rmdir()


@pytest.fixture(scope="module", params=VARIANTS)
def ws_system(request: pytest.FixtureRequest) -> Iterator[System]:
    mode, delegated = request.param
    # Not pytest's tmp_path: the throwaway uid must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="orchestrator-unprivileged-"))
    (root / "data").mkdir()
    for path in (root, root / "data"):
        os.chown(path, SERVICE_UID, SERVICE_UID)
    system = System(root=root, env={**TEST_ENV, "SANDBOX_MODE": mode})
    with delegated_v1(SERVICE_UID) if delegated else _nothing():
        system.start_nats()
        try:
            started = {"gateway": system.start("gateway")}
            env = system.service_env(SANDBOX_SITE_PACKAGES=sysconfig.get_paths()["purelib"])
            workspace = AsUser(
                "workspace", env, system.logs / "workspace.log", python=interpreter_for_others(root)
            )
            system.processes.append(workspace.start())
            started["workspace"] = workspace
            system.wait_ready(started)
            yield system
        finally:
            system.stop()
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def variant(request: pytest.FixtureRequest) -> tuple[str, bool]:
    mode, delegated = request.node.callspec.params["ws_system"]
    return str(mode), bool(delegated)


async def test_the_probe_reports_the_limits_in_force_without_root(
    ws_system: System, request: pytest.FixtureRequest
) -> None:
    mode, delegated = variant(request)
    sandbox = (await api(ws_system, "GET", "/api/health")).json()["sandbox"]
    assert sandbox["mode"] == {"bwrap": "bubblewrap", "landlock": "landlock"}[mode]
    layers, notes = sandbox["layers"], sandbox["notes"]
    for layer in ("filesystem_confined", "network_namespace", "seccomp", "no_unix_sockets"):
        assert layers[layer] is True, (layer, sandbox)
    assert layers["separate_uid"] is False and "not root" in notes["separate_uid"]
    assert layers["nproc_limit"] is True, sandbox
    assert notes["nproc_limit"] == f"{PROCESSES} processes per run (its own user namespace)"
    assert layers["cgroups"] is delegated, sandbox
    if delegated:
        assert sandbox["cgroups"] == "v1" and "cgroups" not in notes
    else:
        assert sandbox["cgroups"] is None
        assert f"no cgroup is delegated to uid {SERVICE_UID}" in notes["cgroups"], notes


async def test_a_fork_bomb_is_capped_per_run_while_another_run_of_the_uid_holds_processes(
    ws_system: System, wjs: JetStreamContext, request: pytest.FixtureRequest
) -> None:
    _, delegated = variant(request)
    holder = await start_run(ws_system, wjs, "implementation/holder.py", HOLDER)
    path = f"/api/workspace/executions/{holder['execution_id']}"

    async def holding() -> bool:
        return bool((await api(ws_system, "GET", path)).json()["output_lines"] >= 1)

    await eventually(holding, timeout=20, what="the holder's 30 children")
    assert len(sandbox_processes(SERVICE_UID)) > 30  # the service, the holder and its children
    if delegated:
        run_cgroup = ROOT / "pids" / f"{GROUP}-{SERVICE_UID}" / holder["execution_id"]
        assert (run_cgroup / "pids.max").read_text().strip() == str(PROCESSES)
        assert int((run_cgroup / "pids.current").read_text()) > 30
    started = time.monotonic()
    bomb = await start_run(
        ws_system, wjs, "implementation/fork_bomb.py", attack(ws_system, "fork_bomb.py")
    )
    bomb_path = f"/api/workspace/executions/{bomb['execution_id']}"

    async def bombed() -> bool:
        return bool((await api(ws_system, "GET", bomb_path)).json()["output_lines"] >= 1)

    await eventually(bombed, timeout=20, what="the fork bomb's count")
    # Both at once: the holder's 30 children were there while the bomb forked.
    assert (await api(ws_system, "GET", path)).json()["status"] == "running"
    record = await wait_finished(ws_system, bomb["execution_id"], timeout=60)
    lines, _ = await run_output(ws_system, bomb["execution_id"])
    forked = next(line for line in lines if line.startswith("forked"))
    count = int(forked.split()[1])
    # Its own limit, whole: a limit of the uid would have left it fewer than 48 - 30.
    assert PROCESSES - 8 <= count < PROCESSES, forked
    assert "BlockingIOError" in forked or "OSError" in forked, forked
    assert record["status"] == "timed_out"  # it sleeps past EXEC_TIMEOUT=10
    assert time.monotonic() - started < 40
    assert (await wait_finished(ws_system, holder["execution_id"]))["status"] == "timed_out"

    def only_the_service_left() -> bool:
        service = {p.pid for p in ws_system.processes if p.pid}
        return set(sandbox_processes(SERVICE_UID)) <= service

    await eventually(only_the_service_left, timeout=15, what="no sandboxed process left")
    if delegated:
        await eventually(lambda: not run_cgroup.exists(), timeout=10, what="cgroup removed")
    health = (await api(ws_system, "GET", "/api/health")).json()
    assert health["services"]["workspace"]["status"] == "up"
