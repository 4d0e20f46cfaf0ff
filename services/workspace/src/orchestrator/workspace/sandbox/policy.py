"""What the Landlock entry point is told to build for one run, written by the service to a file
only root (or the service's uid) can read: the environment of the child is scrubbed, so nothing
of it travels there."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .seccomp_filter import SocketPolicy


@dataclass(frozen=True)
class Policy:
    env: dict[str, str]
    cwd: str
    snapshot: str  # the run's read-only snapshot of the project, copied into ``work``
    work: str  # the run's writable copy: a tmpfs of ``work_bytes`` in the run's mount namespace
    tmp: str  # its scratch directory (TMPDIR, HOME): a tmpfs of ``tmp_bytes``
    work_bytes: int
    tmp_bytes: int
    shm_bytes: int
    read_only: list[str]
    read_write: list[str]
    sockets: SocketPolicy
    uid: int | None = None  # switch to this uid/gid (when the service is root)
    gid: int | None = None
    rlimits: dict[str, int] = field(default_factory=dict)  # "RLIMIT_AS" -> soft = hard limit
    gate: bool = True  # wait for one byte on stdin (the service puts the pid in a cgroup first)
    seccomp: bool = True
    own_network: bool = True  # a new, empty network namespace (off: SANDBOX_ALLOW_NETWORK)

    def write(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)

    @classmethod
    def read(cls, path: str) -> Policy:
        with open(path) as f:
            return cls(**json.load(f))
