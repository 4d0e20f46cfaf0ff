"""The namespaces and mounts of a Landlock-mode run, through ctypes (Python 3.11 has neither
``os.unshare`` nor ``mount``).

The run gets new mount, network, PID, IPC and UTS namespaces (and a user namespace first when the
service is not root, which is what lets it make the others). In its private mount namespace the
writable copy of the project, the scratch directory and ``/dev/shm`` are tmpfs mounts of a fixed
size, gone when its last process exits; ``/proc`` shows only its own processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MS_REC, MS_PRIVATE = 0x4000, 0x40000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare_all(*, network: bool) -> None:
    """New mount, PID, IPC and UTS namespaces (and network, when ``network``); as a non-root
    user, inside a new user namespace that maps only the caller's own uid and gid."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if network:
        flags |= CLONE_NEWNET
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        _check(_libc.unshare(CLONE_NEWUSER | flags), "unshare(user)")
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        return
    _check(_libc.unshare(flags), "unshare")


def make_mounts_private() -> None:
    """Nothing mounted from here on propagates back to the host."""
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def mount_tmpfs(path: str, size: int, mode: int, uid: int, gid: int) -> None:
    options = f"size={size},mode={mode:o},uid={uid},gid={gid}".encode()
    _check(
        _libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options),
        f"mount tmpfs {path}",
    )


def mount_proc() -> None:
    """A ``/proc`` of the new PID namespace (call from its first process)."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(_libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount proc")


def loopback_up() -> None:
    """Bring up ``lo`` in the new network namespace: a server can listen on 127.0.0.1 and the
    preview relay, which joins this namespace, can reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def die_with_parent(sig: int) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PDEATHSIG)")
