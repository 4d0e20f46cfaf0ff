"""The workspace on disk: written so that nothing outside its root is ever touched.

Every path is walked one directory at a time with ``O_NOFOLLOW`` relative to the directory before
it, so a symlink planted anywhere under the root (by executed code, or by hand) is replaced, never
followed; files are written to a temporary name and renamed over the target, which replaces a
symlink at the target itself instead of writing through it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from orchestrator.events.paths import safe_relative_path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _parent_dir(root: Path, rel: str, *, create: bool) -> Iterator[tuple[int, str] | None]:
    """An fd of ``rel``'s parent directory under ``root`` and the final name, or None if absent."""
    parts = safe_relative_path(rel).split("/")
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                os.mkdir(part, 0o755, dir_fd=fd)
            else:
                if not stat.S_ISDIR(st.st_mode):
                    if not create:
                        yield None
                        return
                    os.unlink(part, dir_fd=fd)  # a symlink or file squatting on a directory
                    os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd, parts[-1]
    finally:
        os.close(fd)


def write_file(root: Path, rel: str, data: bytes) -> None:
    with _parent_dir(root, rel, create=True) as parent:
        assert parent is not None
        fd, name = parent
        with suppress(FileNotFoundError):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                _rmtree_at(fd, name)
        tmp = f".{name}.{uuid.uuid4().hex}.tmp"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
            os.fchmod(out, 0o644)
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)


def remove_file(root: Path, rel: str) -> None:
    with _parent_dir(root, rel, create=False) as parent:
        if parent is None:
            return
        fd, name = parent
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)


def _rmtree_at(dir_fd: int, name: str) -> None:
    path = f"/proc/self/fd/{dir_fd}/{name}"
    shutil.rmtree(path)


def digest_on_disk(root: Path, rel: str) -> str | None:
    """sha256 of the regular file at ``rel`` (never through a symlink), None if not one."""
    with _parent_dir(root, rel, create=False) as parent:
        if parent is None:
            return None
        fd, name = parent
        try:
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(f).st_mode):
                return None
            h = hashlib.sha256()
            while chunk := os.read(f, 1 << 20):
                h.update(chunk)
            return h.hexdigest()
        finally:
            os.close(f)


def files_on_disk(root: Path) -> set[str]:
    """Every entry that is not a directory under ``root`` (symlinks included), without following
    symlinks, as relative paths."""
    found: set[str] = set()
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath).relative_to(root)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            found.add((base / name).as_posix())
    return found


def remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False, followlinks=False):
        if Path(dirpath) != root:
            with suppress(OSError):
                os.rmdir(dirpath)


def remove_entry(root: Path, rel: str) -> None:
    """Remove a stray entry (file or symlink) found under the root, whatever its name."""
    path = root / rel
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
