"""The Landlock-mode launch: the service's own interpreter runs :mod:`.enter` with a policy
naming what the run may read (system paths, the interpreter's packages, its dependencies) and
write (its own copy of the project, its scratch directory, ``/dev/shm``, ``/dev/null``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .launch import NETWORK_FILES, PATH, Launch, Run
from .policy import Policy
from .profile import SandboxProfile
from .seccomp_filter import SocketPolicy

SYSTEM_READ_ONLY = (
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/ssl",
    "/etc/alternatives", "/etc/localtime", "/etc/mime.types", "/proc", "/dev/urandom",
    "/dev/random",
)  # fmt: skip
DEVICES_READ_WRITE = ("/dev/null", "/dev/zero", "/dev/shm")  # noqa: S108 (the run's own tmpfs)


def socket_policy(*, allow_network: bool, server: bool) -> SocketPolicy:
    """A server may open TCP sockets (to listen in its own empty network namespace); other code
    none (``socketpair`` only), unless the network is allowed."""
    if allow_network:
        return "any"
    return "tcp" if server else "none"


def launch(profile: SandboxProfile, run: Run, *, server: bool) -> Launch:
    stage, limits, allow_network = run.stage, run.limits, run.allow_network
    work, tmp = f"{stage}/work", f"{stage}/tmp"  # noqa: S108 (the run's own tmpfs mounts)
    read_only = [*SYSTEM_READ_ONLY, *(NETWORK_FILES if allow_network else ())]
    read_only += [p for p in (profile.site_packages, run.deps) if p]
    prefix = Path(profile.python).resolve().parent.parent
    if not str(prefix).startswith("/usr"):
        read_only.append(str(prefix))
    policy = Policy(
        env=run.env(profile, home=tmp),
        cwd=f"{work}/{run.folder}" if run.folder else work,
        snapshot=f"{stage}/project",
        work=work,
        tmp=tmp,
        work_bytes=limits.work_bytes,
        tmp_bytes=limits.tmp_bytes,
        shm_bytes=limits.shm_bytes,
        read_only=read_only,
        read_write=[work, tmp, *DEVICES_READ_WRITE],
        sockets=socket_policy(allow_network=allow_network, server=server),
        uid=profile.sandbox_uid if profile.as_root else None,
        gid=profile.sandbox_gid if profile.as_root else None,
        # As root, the sandbox uid's; otherwise set after the entry point's unshare, in the
        # run's own user namespace, where it counts this run's processes alone.
        rlimits=limits.rlimits(nproc=True),
        seccomp=profile.layers.get("seccomp", True),
        own_network=not allow_network,
    )
    enter = [sys.executable, "-I", "-m", "orchestrator.workspace.sandbox.enter"]
    policy_file, parent = f"{stage}/policy.json", str(os.getpid())  # the service starts it
    argv = [*enter, "--policy", policy_file, "--parent", parent, "--", *run.code]
    return Launch(argv, {"PATH": PATH, "LANG": "C.UTF-8"}, "/", policy.seccomp, policy)
