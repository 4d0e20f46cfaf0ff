"""A project's Python dependencies: the requirements declared next to the file being run.

Only plain requirement specifiers are accepted: a requirements file is generated code, so its pip
options (``--index-url``, ``-e``, ``-r``) and direct URLs are refused rather than obeyed. The
installer (:mod:`.installers`, into :mod:`.dependency_cache`) gets the service's index settings
(``PIP_*``, ``UV_*``, proxies) and nothing else of its environment; none of it ever reaches the
sandbox.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement

PASSED_ENV_PREFIXES = ("PIP_", "UV_")
PASSED_ENV = (
    "PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip


class DependencyError(Exception):
    """The project's dependencies cannot be had: the message names the package and why."""


@dataclass(frozen=True)
class Requirements:
    source: str  # the workspace path of the file that declared them
    specifiers: tuple[str, ...]


def find(root: Path, file_path: str) -> Requirements | None:
    """The requirements closest to ``file_path``: its folder first, then each parent up to the
    workspace root; ``requirements.txt`` before ``pyproject.toml``'s ``[project].dependencies``."""
    folder = PurePosixPath(file_path).parent
    for candidate in (folder, *folder.parents):
        for name in ("requirements.txt", "pyproject.toml"):
            path = root / candidate / name
            if path.is_symlink() or not path.is_file():
                continue
            source = str(candidate / name).removeprefix("./")
            text = path.read_text(errors="replace")
            specifiers = (
                _from_requirements(text) if name.endswith(".txt") else _from_pyproject(text)
            )
            if specifiers is not None:
                return (
                    Requirements(source, tuple(_checked(source, specifiers)))
                    if specifiers
                    else None
                )
    return None


def _from_requirements(text: str) -> list[str]:
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _from_pyproject(text: str) -> list[str] | None:
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(dependencies, list):
        return None
    return [str(d) for d in dependencies]


def _checked(source: str, specifiers: list[str]) -> list[str]:
    checked = []
    for line in specifiers:
        if line.startswith("-"):
            raise DependencyError(f"{source}: pip options are not allowed ({line.split()[0]})")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise DependencyError(f"{source}: not a requirement: {line!r} ({exc})") from exc
        if requirement.url:
            raise DependencyError(f"{source}: {requirement.name}: direct URLs are not allowed")
        checked.append(str(requirement))
    return sorted(set(checked))


def install_env() -> dict[str, str]:
    """The service's index settings for the installer, and nothing else of its environment."""
    return {
        key: value
        for key, value in os.environ.items()
        if key.startswith(PASSED_ENV_PREFIXES) or key in PASSED_ENV
    }
