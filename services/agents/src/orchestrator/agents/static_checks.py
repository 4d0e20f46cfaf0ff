"""Checks that actually run on the implementation's files before any model reviews them. Pure.

Every Python file must compile; JSON must parse; TOML must parse; text must be UTF-8. Each
problem is a finding the next implementation round is given.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[str, ...]
    checked: int
    compiled: int

    @property
    def passed(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        state = "passed" if self.passed else f"{len(self.findings)} problem(s)"
        return f"checks {state}: {self.checked} file(s), {self.compiled} Python file(s) compiled"


def run_checks(files: dict[str, bytes], *, deleted: bool = False) -> CheckReport:
    """Check the files a round wrote; ``deleted``: it deleted files too (so writing none is a
    change all the same)."""
    findings: list[str] = []
    compiled = 0
    if not files and not deleted:
        findings.append("no files were produced")
    for path, data in sorted(files.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            findings.append(f"{path}: not UTF-8 text")
            continue
        if path.endswith(".py"):
            try:
                compile(text, path, "exec", dont_inherit=True)
            except SyntaxError as exc:
                findings.append(f"{path}:{exc.lineno or 0}: SyntaxError: {exc.msg}")
            except ValueError as exc:  # e.g. a NUL byte in the source
                findings.append(f"{path}: cannot compile: {exc}")
            else:
                compiled += 1
        elif path.endswith(".json"):
            try:
                json.loads(text)
            except ValueError as exc:
                findings.append(f"{path}: invalid JSON: {exc}")
        elif path.endswith(".toml"):
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                findings.append(f"{path}: invalid TOML: {exc}")
    return CheckReport(tuple(findings), len(files), compiled)
