"""Exit codes, and the one line a failure prints instead of a traceback.

0    done (a watched task completed; a run exited 0)
1    a watched task failed or was cancelled; ``health`` found something down
2    bad usage (unknown option, missing argument, a gateway URL that is not one)
3    the gateway refused the request (its error code is printed)
4    the gateway cannot be reached
5    the token is missing or wrong, or the gateway refused this client (Host, Origin)
130  interrupted (Ctrl-C)
N    ``run``: the program's own exit code
"""

from __future__ import annotations

import sys

from orchestrator_client import (
    ConnectionFailed,
    Forbidden,
    InvalidGatewayUrl,
    OrchestratorError,
    Unauthorized,
)

OK = 0
NOT_OK = 1
USAGE = 2
REFUSED = 3
UNREACHABLE = 4
NOT_AUTHORIZED = 5
INTERRUPTED = 130


def code_of(error: OrchestratorError) -> int:
    if isinstance(error, InvalidGatewayUrl):
        return USAGE
    if isinstance(error, ConnectionFailed):
        return UNREACHABLE
    if isinstance(error, Unauthorized | Forbidden):
        return NOT_AUTHORIZED
    return REFUSED


def line_of(error: OrchestratorError) -> str:
    """The single line shown for ``error``."""
    if isinstance(error, ConnectionFailed):
        return f"orchestrator: cannot reach the gateway at {error.url}: is it running?"
    if isinstance(error, InvalidGatewayUrl):
        return f"orchestrator: {error.message}; set --url or ORCHESTRATOR_URL"
    if isinstance(error, Unauthorized):
        return (
            f"orchestrator: unauthorized ({error.message}); set ORCHESTRATOR_TOKEN or --token "
            "to the gateway's GATEWAY_TOKEN"
        )
    return f"orchestrator: {error.code}: {error.message}"


def fail(error: OrchestratorError) -> int:
    print(line_of(error), file=sys.stderr)
    return code_of(error)
