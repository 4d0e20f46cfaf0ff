"""A seccomp filter for executed code, compiled to BPF once at start.

libseccomp's Python binding ships with Debian's ``python3-seccomp`` for the system interpreter,
not for the service's venv, so the filter is compiled by running that interpreter on the script
below; bubblewrap loads the BPF it writes (``--seccomp FD``) right before it execs the code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# EPERM for what executed code never needs: debugging other processes, namespaces and mounts,
# kernel keyrings, BPF, perf, userfaultfd, io_uring, module loading, and raw/UDP/packet sockets.
_SCRIPT = r"""
import errno, sys
import seccomp
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
deny = seccomp.ERRNO(errno.EPERM)
for name in (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "mknod", "mknodat", "swapon", "swapoff", "reboot", "acct",
    "syslog", "personality",
):
    try:
        f.add_rule(deny, name)
    except Exception:
        pass
block_udp = sys.argv[2] == "1"
for family in (2, 10):  # AF_INET, AF_INET6
    kinds = (2, 3) if block_udp else (3,)  # SOCK_DGRAM, SOCK_RAW
    for kind in kinds:
        f.add_rule(deny, "socket", seccomp.Arg(0, seccomp.EQ, family),
                   seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, kind))
f.add_rule(deny, "socket", seccomp.Arg(0, seccomp.EQ, 17))  # AF_PACKET
with open(sys.argv[1], "wb") as out:
    f.export_bpf(out)
"""


def compile_filter(python: str, out: Path, *, block_udp: bool) -> str | None:
    """Write the BPF program to ``out``; return None, or why it could not be built."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [python, "-c", _SCRIPT, str(out), "1" if block_udp else "0"],
            capture_output=True,
            timeout=20,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return f"libseccomp unavailable ({tail[0]}); install python3-seccomp"
    return None
