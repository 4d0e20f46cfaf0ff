"""Schemathesis against the real gateway's OpenAPI document with all of its checks: no 5xx, every
error in the envelope, every response matching its documented status, content type, headers and
schema, schema-valid requests accepted and invalid ones rejected, a 405 with its Allow header."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import System, running

# Every check Schemathesis has (positive data accepted, negative data rejected, the 405's Allow
# header, use after free, ...) and ours (``error_envelope``, loaded from the hooks module).
CHECKS = "all"


@pytest.fixture(scope="module")
def fuzzed_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {
        # Generous limits so the run exercises the routes, not mostly the limiter.
        "RATE_LIMIT_REQUIREMENTS": "100000",
        "RATE_LIMIT_FILES": "100000",
        "RATE_LIMIT_ARCHIVE": "100000",
        "GATEWAY_REQUEST_TIMEOUT": "20",
    }
    with running(
        tmp_path_factory.mktemp("schemathesis"), ("gateway", "workspace", "archive"), env
    ) as system:
        yield system


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzzed_system: System, tmp_path: Path
) -> None:
    cli = shutil.which("st", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.gateway.schemathesis_hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        [
            cli,
            "run",
            f"{fuzzed_system.base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--max-time",
            "35",
            "--seed",
            "1",
            "--request-timeout",
            "40",
            # One worker: with two, Hypothesis threads call ast.parse concurrently, which the
            # CPython 3.11 here fails now and then with "SystemError: AST constructor recursion
            # depth mismatch" (seen in this run's coverage phase; the counter is not per thread).
            "--workers",
            "1",
            "--no-color",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout[-12000:] + result.stderr[-3000:]
    assert result.returncode == 0, output + "\n" + fuzzed_system.log("gateway")
