"""Installing a project's requirements, with the real uv and the real pip against a package index
on loopback: what the requirements resolve to keys the cache, the index comes from either
installer's variable, and what cannot be had says which package and why."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.workspace import installers
from orchestrator.workspace.dependencies import DependencyError, Requirements
from orchestrator.workspace.dependency_cache import DependencyCache

from .package_index import LocalIndex, silent_index, unreachable_index

INSTALLERS = ["uv", "pip"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    built = LocalIndex(tmp_path_factory.mktemp("index"))
    built.wheel("tinydep", "1.0", "VALUE = '1.0'\n")
    built.wheel("okdep", "2.0", "VALUE = 'ok'\n")
    built.sdist("sdistonly", "1.0")
    with built.serving() as served:
        yield served


def base_env(home: Path) -> dict[str, str]:
    """What the service passes an installer besides index settings; this machine's pip.conf
    is left out so that only the index a test names is there."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PIP_CONFIG_FILE": os.devnull,
        "UV_CACHE_DIR": str(home / "uv-cache"),
        "UV_HTTP_RETRIES": "0",
        "PIP_RETRIES": "0",
    }


def cache_for(
    tool: str, tmp_path: Path, index_env: dict[str, str], *, timeout: float = 60
) -> DependencyCache:
    env = {**base_env(tmp_path), **index_env}
    installer = installers.find(tool, sys.executable, env, tmp_path / "work")  # type: ignore[arg-type]
    assert installer.name == tool
    return DependencyCache(tmp_path / "envs", installer, timeout)


def requirements(*specifiers: str) -> Requirements:
    return Requirements("app/requirements.txt", specifiers)


async def install(cache: DependencyCache, *specifiers: str) -> tuple[Path, list[str]]:
    said: list[str] = []
    target = await cache.environment(requirements(*specifiers), said.append)
    return target, said


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_two_spellings_that_resolve_alike_share_one_environment(
    tool: str, index: LocalIndex, tmp_path: Path
) -> None:
    cache = cache_for(tool, tmp_path, {"PIP_INDEX_URL": index.url})
    first, said_first = await install(cache, "tinydep")
    second, said_second = await install(cache, "tinydep>=1")
    assert first == second
    assert said_first[0].startswith("[dependencies from app/requirements.txt: installing")
    assert "tinydep==1.0" in said_first[0]
    assert said_second == ["[dependencies from app/requirements.txt: cached (tinydep==1.0)]"]
    assert (first / "tinydep" / "__init__.py").read_text() == "VALUE = '1.0'\n"


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_a_new_upstream_release_makes_a_new_environment(tool: str, tmp_path: Path) -> None:
    moving = LocalIndex(tmp_path / "index")
    moving.wheel("movingdep", "1.0", "VALUE = '1.0'\n")
    with moving.serving():
        cache = cache_for(tool, tmp_path, {"PIP_INDEX_URL": moving.url})
        before, _ = await install(cache, "movingdep")
        moving.wheel("movingdep", "1.1", "VALUE = '1.1'\n")
        after, said = await install(cache, "movingdep")
    assert after != before
    assert "installing movingdep==1.1" in said[0]
    assert (after / "movingdep" / "__init__.py").read_text() == "VALUE = '1.1'\n"
    assert (before / "movingdep" / "__init__.py").read_text() == "VALUE = '1.0'\n"


@pytest.mark.parametrize("tool", INSTALLERS)
@pytest.mark.parametrize("variable", ["PIP_INDEX_URL", "UV_INDEX_URL"])
async def test_the_index_given_by_either_variable_is_used(
    tool: str, variable: str, index: LocalIndex, tmp_path: Path
) -> None:
    before = len(index.requests)
    cache = cache_for(tool, tmp_path, {variable: index.url})
    target, _ = await install(cache, "tinydep==1.0")
    assert (target / "tinydep" / "__init__.py").is_file()
    asked = index.requests[before:]
    assert any(path.rstrip("/").endswith("/simple/tinydep") for path in asked), asked
    assert "/files/tinydep-1.0-py3-none-any.whl" in asked


@pytest.mark.parametrize("tool", INSTALLERS)
@pytest.mark.parametrize(
    "case",
    [
        ("nosuchpkg", "nosuchpkg", "no such package on the package index"),
        ("sdistonly", "sdistonly", "no wheel for this machine's Python"),
        ("tinydep==9.9", "tinydep", "no version matches"),
    ],
    ids=["unknown", "sdist-only", "no-version"],
)
async def test_what_the_index_cannot_give_is_named_with_its_reason(
    tool: str, case: tuple[str, str, str], index: LocalIndex, tmp_path: Path
) -> None:
    specifier, package, reason = case
    cache = cache_for(tool, tmp_path, {"PIP_INDEX_URL": index.url})
    with pytest.raises(DependencyError) as caught:
        await install(cache, "okdep", specifier)
    message = str(caught.value)
    assert message.startswith(
        f"could not install the dependencies of app/requirements.txt: {package}: "
    )
    assert reason in message
    assert not (tmp_path / "envs").exists() or not any((tmp_path / "envs").glob("*/.complete"))
    assert not Path("/tmp/SDIST-WAS-BUILT").exists()  # noqa: ASYNC240 (one stat)


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_an_unreachable_index_is_said_so_naming_the_package(
    tool: str, tmp_path: Path
) -> None:
    cache = cache_for(tool, tmp_path, {"PIP_INDEX_URL": unreachable_index()})
    with pytest.raises(DependencyError) as caught:
        await install(cache, "tinydep")
    message = str(caught.value)
    assert "tinydep: the package index is unreachable" in message, message
    assert "refused" in message.lower(), message


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_an_install_past_its_time_is_stopped_and_said_so(tool: str, tmp_path: Path) -> None:
    with silent_index() as url:
        cache = cache_for(tool, tmp_path, {"PIP_INDEX_URL": url}, timeout=2)
        started = time.monotonic()
        with pytest.raises(DependencyError) as caught:
            await install(cache, "tinydep")
        took = time.monotonic() - started
    assert "tinydep: the install did not finish in time (2s)" in str(caught.value)
    assert took < 10


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_offline_the_environment_resolved_before_is_used(
    tool: str, index: LocalIndex, tmp_path: Path
) -> None:
    online = cache_for(tool, tmp_path, {"PIP_INDEX_URL": index.url})
    target, _ = await install(online, "tinydep")
    offline = cache_for(tool, tmp_path, {"PIP_INDEX_URL": unreachable_index()})
    again, said = await install(offline, "tinydep")
    assert again == target
    assert "cached (tinydep==1.0): the index is unreachable" in said[0]
    with pytest.raises(DependencyError, match="unreachable"):
        await install(offline, "tinydep", "sdistonly")  # never resolved: nothing to fall back on
