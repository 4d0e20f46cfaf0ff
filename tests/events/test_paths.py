"""The path policy every service applies (pure): what may name a file in the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.events.paths import UnsafePath, model_path, safe_relative_path, under


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        "a\\..\\b",
        "%2e%2e/x",
        "a/%2fb",
        "a\x00b",
        "a\nb",
        "~/x",
        "x/",
        "x" * 600,
    ],
)
def test_unsafe_paths_are_refused(raw: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relative_path(raw)


@pytest.mark.parametrize("raw", ["a.py", "implementation/app/main.py", "x-y_z.1/é.txt"])
def test_plain_relative_paths_pass_unchanged(raw: str) -> None:
    assert safe_relative_path(raw) == raw


def test_model_paths_are_tidied_then_held_to_the_policy() -> None:
    assert model_path("./app/main.py") == "app/main.py"
    assert model_path("a\\b.py") == "a/b.py"
    for bad in ("/etc/passwd", "../x.py", "a/../../x", "", "C:/x.py", "."):
        with pytest.raises(UnsafePath):
            model_path(bad)


def test_paths_on_disk_cannot_escape_their_root(tmp_path: Path) -> None:
    root = tmp_path
    assert under(root, "implementation/app.py") == root / "implementation" / "app.py"
    for bad in ("../x", "/etc/passwd", "a/../../x", "a\\..\\x", "", "a/\x00"):
        try:
            under(root, bad)
        except UnsafePath:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_a_link_planted_on_the_way_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        under(tmp_path / "root", "link/secret")
