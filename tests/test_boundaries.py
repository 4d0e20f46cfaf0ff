"""Architecture rules: services never import each other; the gateway holds no LLM SDK.

``orchestrator.events`` (libs/events) is the only code services share. Checked on the source with
``ast`` (every import form, including relative and ``importlib``-free ``from x import y``) and on
each service's declared dependencies.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES_DIR = ROOT / "services"
SERVICES = sorted(p.name for p in SERVICES_DIR.iterdir() if (p / "pyproject.toml").exists())
LLM_SDKS = {"anthropic", "openai"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # ``from orchestrator import agents`` names the package in the alias
            if node.module == "orchestrator":
                found += [(node.lineno, f"orchestrator.{a.name}") for a in node.names]
    return found


def relative_escapes(path: Path, package_root: Path) -> list[int]:
    """Relative imports that climb out of the service's own package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    depth = len(path.parent.relative_to(package_root).parts)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level > depth + 1
    ]


def sources(service: str) -> list[Path]:
    return sorted((SERVICES_DIR / service).rglob("*.py"))


def test_there_are_four_services() -> None:
    assert SERVICES == ["agents", "archive", "gateway", "workspace"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = {f"orchestrator.{s}" for s in SERVICES if s != service} | {"orchestrator.launcher"}
    package_root = SERVICES_DIR / service / "src" / "orchestrator" / service
    files = sources(service)
    assert files, f"no sources under services/{service}"
    violations = []
    for path in files:
        for line, module in imported_modules(path):
            if any(module == o or module.startswith(o + ".") for o in others):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
        if path.is_relative_to(package_root):
            violations += [
                f"{path.relative_to(ROOT)}:{line} relative import leaves the package"
                for line in relative_escapes(path, package_root)
            ]
    assert violations == []


def test_the_gateway_imports_no_llm_sdk() -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("gateway")
        for line, module in imported_modules(path)
        if module.split(".")[0] in LLM_SDKS
    ]
    assert violations == []


def dependency_names(service: str) -> set[str]:
    project = tomllib.loads((SERVICES_DIR / service / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project.get("dependencies", []):
        name = requirement.split(";")[0]
        for stop in "<>=!~[ ":
            name = name.split(stop)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_depends_on_no_other_service(service: str) -> None:
    distributions = {
        tomllib.loads((SERVICES_DIR / s / "pyproject.toml").read_text())["project"]["name"]
        for s in SERVICES
        if s != service
    }
    deps = dependency_names(service)
    assert "orchestrator-events" in deps
    assert deps & distributions == set()
    assert "orchestrator-launcher" not in deps
    if service == "gateway":
        assert deps & LLM_SDKS == set()


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    """The rule itself can fail: a file importing another service is flagged."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import orchestrator.agents.x\n"
        "from orchestrator import workspace\n"
        "from anthropic import Anthropic\n"
    )
    modules = {m for _, m in imported_modules(bad)}
    assert {"orchestrator.agents.x", "orchestrator.workspace", "anthropic"} <= modules
