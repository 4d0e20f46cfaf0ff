"""Joining another process's network namespace (ctypes: Python 3.11 has no ``os.setns``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def enter_network_of(pid: int) -> None:
    """Move this (single-threaded) process into ``pid``'s network namespace.

    Root can join it directly; an unprivileged owner first joins the user namespace that owns
    it, which is only allowed to a single-threaded process, so call this before starting threads.
    """
    net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.geteuid() != 0:
            user = fcntl.ioctl(net, NS_GET_USERNS)
            try:
                _setns(user, CLONE_NEWUSER)
            finally:
                os.close(user)
        _setns(net, CLONE_NEWNET)
    finally:
        os.close(net)


def die_with_parent(sig: int) -> None:
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
