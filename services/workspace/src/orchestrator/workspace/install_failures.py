"""Why a project's dependencies could not be had, read from what uv or pip printed.

Pure: lines in, a :class:`Failure` out. The reasons a person can act on are told apart (the
package does not exist, no version matches, it has no wheel, the index cannot be reached, the
install ran out of time), each naming the package; anything else keeps the installer's own words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.version import InvalidVersion, Version

Reason = Literal[
    "unknown package",
    "no matching version",
    "no wheel",
    "index unreachable",
    "install timeout",
    "install failed",
    "no distribution",  # pip's word for the first three: an index look-up tells which
]

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_UV_UNKNOWN = re.compile(rf"\b({_NAME}) was not found in the package registry")
_UV_NO_WHEEL = re.compile(rf"\b({_NAME})(?:[=<>!~]=?\S*)? has no (?:usable )?wheels")
_UV_WHEELS_REQUIRED = re.compile(rf"Wheels are required for `({_NAME})`")
_UV_NO_VERSION = re.compile(rf"there is no version of ({_NAME})(\S*)")
_UV_ONLY_AVAILABLE = re.compile(
    rf"only ({_NAME})\S* (?:is|are) available and you require ({_NAME})"
)
_FETCH_URL = re.compile(r"Failed to fetch: `?(\S+?)`?$")
_SIMPLE_PAGE = re.compile(rf"/({_NAME})/?$")
_PIP_NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")
_PIP_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have conflicting")
_PIP_NOT_FETCHED = re.compile(
    r"Could not fetch URL (\S+): connection error: (.+?)(?: - skipping)?$"
)
_PIP_RETRY_PATH = re.compile(r"Retrying .*?: (\S+)$")
_PIP_CONNECT_ERROR = re.compile(r"(?:new connection|Connection to \S+ timed out)[^:]*: ([^\"')]+)")
_UNREACHABLE = (
    "Connection refused",
    "connection refused",
    "Failed to establish a new connection",
    "NewConnectionError",
    "ConnectTimeoutError",
    "tcp connect error",
    "dns error",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "Network is unreachable",
    "timed out",
)


@dataclass(frozen=True)
class Failure:
    reason: Reason
    package: str | None
    detail: str = ""

    def message(self, source: str) -> str:
        """What the run's EXECUTION_FAILED says: the file, the package, the reason."""
        who = f"{self.package}: " if self.package else ""
        return f"could not install the dependencies of {source}: {who}{self._explained()}"

    def _explained(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        match self.reason:
            case "unknown package":
                return f"no such package on the package index{detail}"
            case "no matching version":
                return f"no version matches the requirement{detail}"
            case "no wheel":
                return (
                    "no wheel for this machine's Python, only a source distribution, which is "
                    f"never built here (its build script would run outside the sandbox){detail}"
                )
            case "index unreachable":
                return f"the package index is unreachable{detail}"
            case "install timeout":
                return f"the install did not finish in time{detail}"
            case _:
                return self.detail or "the installer failed"


def from_uv(lines: Sequence[str]) -> Failure:
    text = "\n".join(lines)
    if fetch := _unreachable_fetch(lines):
        return fetch
    if m := _UV_UNKNOWN.search(text):
        return Failure("unknown package", m.group(1))
    if m := _UV_NO_WHEEL.search(text) or _UV_WHEELS_REQUIRED.search(text):
        return Failure("no wheel", m.group(1))
    if m := _UV_NO_VERSION.search(text):
        return Failure("no matching version", m.group(1), f"{m.group(1)}{m.group(2)}")
    if m := _UV_ONLY_AVAILABLE.search(text):
        return Failure("no matching version", m.group(2))
    return Failure("install failed", None, _errors(lines, prefix="error:"))


def from_pip(lines: Sequence[str]) -> Failure:
    missing = next((m for line in lines if (m := _PIP_NO_DISTRIBUTION.search(line))), None)
    requirement = missing.group(1) if missing else None
    if any(any(s in line for s in _UNREACHABLE) for line in lines if "Retrying" in line):
        return Failure(
            "index unreachable", requirement_name(requirement) or _retried(lines), _why(lines)
        )
    if requirement is not None:
        return Failure("no distribution", requirement)
    if conflict := next((m for line in lines if (m := _PIP_CONFLICT.search(line))), None):
        wanted = conflict.group(1).replace(" and ", ", ")
        first = requirement_name(wanted.split(",")[0].strip())
        return Failure("no matching version", first, f"conflicting requirements: {wanted}")
    return Failure("install failed", None, _errors(lines, prefix="ERROR:"))


def without_distribution(requirement: str, looked_up: Sequence[str]) -> Failure:
    """pip found nothing installable for ``requirement``; ``looked_up``: what ``pip index
    versions -vv`` said of its package (every version the index lists, sdists included, and
    whether the index page could be fetched at all)."""
    name = requirement_name(requirement) or requirement
    for line in looked_up:
        if m := _PIP_NOT_FETCHED.search(line):
            return Failure("index unreachable", name, f"{m.group(1)}: {m.group(2)}")
    found = next(
        (
            [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
            for line in looked_up
            if line.startswith("Available versions:")
        ),
        [],
    )
    if not found:
        return Failure("unknown package", name)
    try:
        specifier = Requirement(requirement).specifier
        matching = [v for v in found if specifier.contains(Version(v), prereleases=True)]
    except (InvalidRequirement, InvalidSpecifier, InvalidVersion):
        matching = found
    if not matching:
        return Failure("no matching version", name, f"{requirement}; available: {', '.join(found)}")
    return Failure("no wheel", name)


def timed_out(packages: Sequence[str], seconds: float) -> Failure:
    names = ", ".join(packages)
    return Failure("install timeout", names or None, f"{seconds:g}s")


def _unreachable_fetch(lines: Sequence[str]) -> Failure | None:
    urls = [m.group(1) for line in lines if (m := _FETCH_URL.search(line.strip()))]
    if not urls or not any(any(s in line for s in _UNREACHABLE) for line in lines):
        return None
    page = _SIMPLE_PAGE.search(urls[0])
    why = next((line.strip().removeprefix("cause: ") for line in reversed(lines)), "")
    return Failure("index unreachable", page.group(1) if page else None, f"{urls[0]}: {why}")


def _retried(lines: Sequence[str]) -> str | None:
    for line in lines:
        if (m := _PIP_RETRY_PATH.search(line)) and (page := _SIMPLE_PAGE.search(m.group(1))):
            return page.group(1)
    return None


def _why(lines: Sequence[str]) -> str:
    found = [m.group(1).strip() for line in lines if (m := _PIP_CONNECT_ERROR.search(line))]
    return found[-1] if found else "the connection failed"


def requirement_name(requirement: str | None) -> str | None:
    """The package a requirement names (``tinydep`` of ``tinydep[x]==1``), None if unreadable."""
    if requirement is None:
        return None
    try:
        return Requirement(requirement).name
    except InvalidRequirement:
        return None


def _errors(lines: Sequence[str], *, prefix: str) -> str:
    errors = [line.removeprefix(prefix).strip() for line in lines if line.startswith(prefix)]
    return ("; ".join(errors) or (lines[-1] if lines else "no output"))[:600]
