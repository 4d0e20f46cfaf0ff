"""The Landlock-mode entry point: ``python -m orchestrator.workspace.sandbox.enter --policy FILE
-- cmd ...``, exec'd by the service as the run's process (no ``preexec_fn``: the service is
threaded, and nothing but ``execve`` is safe between fork and exec there).

In order: wait at the gate (the service moves this pid into the run's cgroup, then writes a
byte), new namespaces, the run's sized tmpfs mounts with its writable copy of the project, ``lo``
up, then fork the first process of the new PID namespace. That process mounts its ``/proc``, sets
the rlimits, drops to the sandbox uid, applies Landlock and seccomp and execs the command with the
policy's environment. This process stays behind as its parent: it forwards SIGTERM, exits with
its exit status, and when it dies (the service killed the process group, or died itself) its
child gets SIGKILL, and with the PID namespace's first process goes every process of the run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import sys
from types import FrameType
from typing import NoReturn

from . import landlock, namespaces
from .policy import Policy
from .seccomp_filter import build

FAILED = 125  # the sandbox could not be set up: nothing of the command ran


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"sandbox: {message}\n")
    sys.stderr.flush()
    os._exit(FAILED)


def wait_at_gate() -> None:
    if not os.read(0, 1):
        fail("the service closed the gate before letting the run through")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def prepare_files(policy: Policy, uid: int, gid: int) -> None:
    """The sized mounts, and the project copied into the writable one, owned by the run."""
    namespaces.make_mounts_private()
    namespaces.mount_tmpfs(policy.work, policy.work_bytes, 0o755, uid, gid)
    namespaces.mount_tmpfs(policy.tmp, policy.tmp_bytes, 0o700, uid, gid)
    # Owned by the entry point itself: root, or (not root) the service's uid, the only one its
    # user namespace maps (an unmapped owner such as 0 makes the mount fail with EINVAL).
    shm = "/dev/shm"  # noqa: S108 (the run's own tmpfs)
    namespaces.mount_tmpfs(shm, policy.shm_bytes, 0o1777, os.geteuid(), os.getegid())
    try:
        shutil.copytree(policy.snapshot, policy.work, symlinks=True, dirs_exist_ok=True)
    except (OSError, shutil.Error) as exc:
        fail(f"the project does not fit the run's copy ({policy.work_bytes} bytes): {exc}")
    for dirpath, dirnames, filenames in os.walk(policy.work):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def become_the_run(policy: Policy, argv: list[str]) -> NoReturn:
    """In the first process of the new PID namespace: confine it, then exec the command."""
    namespaces.mount_proc()
    for name, value in policy.rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if policy.uid is not None and policy.gid is not None:
        os.setgroups([])
        os.setresgid(policy.gid, policy.gid, policy.gid)
        os.setresuid(policy.uid, policy.uid, policy.uid)
    namespaces.die_with_parent(signal.SIGKILL)  # a credential change cleared it
    landlock.restrict_self(policy.read_only, policy.read_write)
    if policy.seccomp:
        build(policy.sockets).load()
    os.chdir(policy.cwd)
    os.execve(argv[0], argv, policy.env)  # noqa: S606 (the command itself, no shell in between)


def supervise(child: int) -> NoReturn:
    def forward(signum: int, _frame: FrameType | None) -> None:
        os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def main() -> NoReturn:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", required=True)
    parser.add_argument("--parent", type=int, required=True, help="the service's pid")
    parser.add_argument("argv", nargs="+")
    args = parser.parse_args()
    policy = Policy.read(args.policy)
    if policy.gate:
        wait_at_gate()
    namespaces.die_with_parent(signal.SIGKILL)
    if os.getppid() != args.parent:  # it died before the line above: no signal would come
        fail("the service is gone")
    uid = os.geteuid() if policy.uid is None else policy.uid
    gid = os.getegid() if policy.gid is None else policy.gid
    try:
        namespaces.unshare_all(network=policy.own_network)
        prepare_files(policy, uid, gid)
        if policy.own_network:
            namespaces.loopback_up()
    except OSError as exc:
        fail(str(exc))
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        try:
            become_the_run(policy, args.argv)
        except OSError as exc:
            fail(str(exc))
    supervise(child)


if __name__ == "__main__":
    main()
