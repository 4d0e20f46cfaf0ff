"""The seccomp filter for executed code: one deny list for both modes.

Built with ``pyseccomp`` (ctypes over the ``libseccomp.so.2`` every Debian ships), so nothing
outside the Python environment is needed. Bubblewrap loads it as BPF (``--seccomp FD``, written by
:func:`compile_filter`); the Landlock entry point loads it into itself right before ``execve``.

What is denied (EPERM): debugging other processes, namespaces and mounts (``unshare``, ``setns``,
``clone`` with a namespace flag; ``clone3`` answers ENOSYS so libc falls back to ``clone``, whose
flags a filter can see), kernel keyrings, BPF, perf, userfaultfd, io_uring, module loading, and
sockets by policy:

- ``none``: no socket at all (scripts and tests in the Landlock mode);
- ``tcp``: TCP only (a server listening in its own empty network namespace);
- ``any``: everything but raw, packet and UNIX sockets (``SANDBOX_ALLOW_NETWORK``).

No policy allows ``socket(AF_UNIX, ...)``: a pathname UNIX socket of the host (``/run/dbus``, a
database's, a container engine's) is reached by ``connect()`` on its path, which neither Landlock
(up to ABI 7 it mediates no ``connect()``; ABI 6 scoping covers abstract sockets only) nor a new
network namespace (abstract sockets only) stops, and the Landlock mode sees the host's whole tree
(hiding the usual socket directories would miss the ones elsewhere). Bubblewrap shows only what
it binds, but a socket beneath a bound directory (``/usr``, the packages) would be reachable
too, and with ``SANDBOX_ALLOW_NETWORK`` it shares the host's abstract sockets. Denying the
socket's creation closes all of it at once, in both modes. ``socketpair`` stays allowed: it
makes only a connected pair of the process's own (asyncio's self-pipe, ``multiprocessing.Pipe``);
what needs a UNIX socket of its own (``multiprocessing.Manager``, the ``forkserver`` start
method, ``uvicorn --uds``) gets EPERM.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Literal

import pyseccomp as seccomp  # type: ignore[import-untyped]

SocketPolicy = Literal["none", "tcp", "any"]

DENIED_CALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "mknod", "mknodat", "swapon", "swapoff", "reboot", "acct",
    "syslog", "personality", "fsopen", "fsmount", "move_mount", "open_tree",
)  # fmt: skip

AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_PACKET = 0, 1, 2, 10, 17
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


def build(sockets: SocketPolicy) -> seccomp.SyscallFilter:
    """The filter, not yet loaded or exported."""
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_CALLS:
        try:
            f.add_rule(deny, name)
        except (ValueError, RuntimeError, OSError):
            continue  # a call this kernel or libseccomp does not know cannot be made either
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        f.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))

    def socket(*args: seccomp.Arg) -> None:
        f.add_rule(deny, "socket", *args)

    if sockets == "none":
        f.add_rule(deny, "socket")
        return f
    socket(seccomp.Arg(0, seccomp.EQ, AF_UNIX))
    for family in (AF_INET, AF_INET6):
        kinds = (SOCK_RAW,) if sockets == "any" else (SOCK_DGRAM, SOCK_RAW)
        for kind in kinds:
            socket(seccomp.Arg(0, seccomp.EQ, family), seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, kind))
    socket(seccomp.Arg(0, seccomp.EQ, AF_PACKET))
    if sockets == "tcp":
        # Neither netlink, nor bluetooth, nor any other family: only INET and INET6.
        socket(seccomp.Arg(0, seccomp.EQ, AF_UNSPEC))
        for family in range(AF_INET + 1, AF_INET6):
            socket(seccomp.Arg(0, seccomp.EQ, family))
        socket(seccomp.Arg(0, seccomp.GT, AF_INET6))
    return f


def compile_filter(out: Path, sockets: SocketPolicy) -> str | None:
    """Write the BPF program to ``out``; return None, or why it could not be built."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        f = build(sockets)
        with out.open("wb") as file:
            f.export_bpf(file)
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:
        return f"libseccomp unavailable ({exc}): libseccomp.so.2 is needed"
    if out.stat().st_size == 0:
        return "libseccomp wrote an empty filter"
    return None
