"""Finding a project's requirements: the closest declaration wins, and what a generated file
could use to steer pip (options, direct URLs) is refused rather than obeyed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.workspace.dependencies import DependencyError, find, install_env


def test_the_closest_requirements_file_wins_and_is_normalised(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "requirements.txt").write_text("outer==1\n")
    (tmp_path / "app" / "requirements.txt").write_text("# pinned\nRequests>=2  # http\n\nsix\n")
    found = find(tmp_path, "app/main.py")
    assert found is not None and found.source == "app/requirements.txt"
    assert found.specifiers == ("Requests>=2", "six")
    outer = find(tmp_path, "other/main.py")
    assert outer is not None and outer.specifiers == ("outer==1",)


def test_pyproject_dependencies_count_and_no_declaration_means_none(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["attrs"]\n')
    found = find(tmp_path, "main.py")
    assert found is not None and found.specifiers == ("attrs",)
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert find(tmp_path, "main.py") is None


@pytest.mark.parametrize(
    "line",
    [
        "--index-url https://evil.example/simple",
        "-e git+https://evil.example/x.git",
        "-r other.txt",
        "pkg @ https://evil.example/pkg.whl",
        "not a requirement!!",
    ],
)
def test_pip_options_and_direct_urls_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"{line}\n")
    with pytest.raises(DependencyError):
        find(tmp_path, "main.py")


def test_pip_gets_index_settings_but_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    env = install_env()
    assert env["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert "ANTHROPIC_API_KEY" not in env
