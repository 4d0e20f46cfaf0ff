"""``python -m bench.dependencies``: a project's requirements installed with uv and with pip, the
way a run installs them (resolve, then install the pins into a fresh environment), beside the
baseline of the same wheels put in place by one plain ``pip install --target`` (what runs did
before there was a resolution step).

The index is a real HTTP server on loopback serving ``--packages`` hand-built wheels (one that
requires all the others, ``--modules`` files each, PEP 658 metadata beside them), so no network is
used and the figures measure the installers, not a mirror. Each installer is timed three ways:
cold (its own download cache empty), warm (cache full, environment new) and cached (the
environment exists: only the resolution runs, as every run of an installed project does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.workspace import installers
from orchestrator.workspace.dependencies import Requirements
from orchestrator.workspace.dependency_cache import DependencyCache
from tests.workspace.package_index import LocalIndex


def build_index(root: Path, packages: int, modules: int) -> LocalIndex:
    index = LocalIndex(root)
    body = "def f(x):\n    return x\n" * 80
    names = [f"benchpkg{i:02d}" for i in range(packages)]
    for name in names[1:]:
        index.wheel(name, "1.0", "", modules={f"m{j}.py": body for j in range(modules)})
    index.wheel(names[0], "1.0", "", requires=names[1:], modules={"m.py": body})
    return index


def env_for(home: Path, url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": url,
        "UV_CACHE_DIR": str(home / "uv-cache"),
        "PIP_CACHE_DIR": str(home / "pip-cache"),
    }


async def timed_install(cache: DependencyCache) -> float:
    started = time.perf_counter()
    await cache.environment(Requirements("requirements.txt", ("benchpkg00",)))
    return time.perf_counter() - started


async def one_round(tool: str, url: str, scratch: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(dir=scratch))
    installer = installers.find(tool, sys.executable, env_for(home, url), home / "work")  # type: ignore[arg-type]
    assert installer.name == tool
    cold = await timed_install(DependencyCache(home / "envs-a", installer, 120))
    warm = await timed_install(DependencyCache(home / "envs-b", installer, 120))
    cached = await timed_install(DependencyCache(home / "envs-b", installer, 120))
    shutil.rmtree(home, ignore_errors=True)
    return {"cold": cold, "warm": warm, "cached": cached}


def baseline(url: str, scratch: Path) -> float:
    home = Path(tempfile.mkdtemp(dir=scratch))
    argv = [sys.executable, "-m", "pip", "install", "--target", str(home / "env")]
    argv += ["--only-binary=:all:", "--no-input", "--progress-bar", "off", "--no-compile", "-q"]
    started = time.perf_counter()
    subprocess.run([*argv, "benchpkg00"], env=env_for(home, url), check=True)
    took = time.perf_counter() - started
    shutil.rmtree(home, ignore_errors=True)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=15)
    parser.add_argument("--modules", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        index = build_index(scratch / "index", args.packages, args.modules)
        with index.serving():
            figures: dict[str, dict[str, list[float]]] = {}
            for _ in range(args.rounds):
                for tool in ("uv", "pip"):
                    for step, took in (await one_round(tool, index.url, scratch)).items():
                        figures.setdefault(tool, {}).setdefault(step, []).append(took)
                base = await asyncio.to_thread(baseline, index.url, scratch)
                figures.setdefault("plain pip --target", {}).setdefault("cold", []).append(base)
    print(f"{args.packages} wheels of {args.modules} modules, median of {args.rounds} rounds (s)")
    print(f"{'':22}{'cold':>10}{'warm':>10}{'cached':>10}")
    for tool, steps in figures.items():
        cells = "".join(
            f"{statistics.median(steps[s]):>10.3f}" if s in steps else f"{'-':>10}"
            for s in ("cold", "warm", "cached")
        )
        print(f"{tool:22}{cells}")


if __name__ == "__main__":
    asyncio.run(main())
