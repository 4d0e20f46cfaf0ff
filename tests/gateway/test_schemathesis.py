"""Schemathesis against the real gateway's OpenAPI document: no 5xx, every error in the
envelope, every response matching its documented status, content type, headers and schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import System, running

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
        "error_envelope",
    ]
)


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
            "--workers",
            "2",
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
