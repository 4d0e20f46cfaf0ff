"""The one way a failure is allowed to be swallowed: logged, with what failed and for whom.

Everything else either handles a named failure or lets it propagate. Some steps are best-effort
by nature (an ack whose message will be redelivered anyway, a consumer the server deletes when
idle, a live token frame nobody needs again); :func:`carry_on` is for exactly those, so that even
then an operator can read what went wrong and for which task or request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def carry_on(
    log: logging.Logger,
    what: str,
    *,
    correlation_id: str | None = None,
    level: int = logging.WARNING,
) -> Iterator[None]:
    """Run the block; if it raises an ``Exception``, log it and go on (never a cancellation)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one place a failure is logged, then dropped
        where = f" [{correlation_id}]" if correlation_id else ""
        log.log(level, "%s failed%s: %r", what, where, exc)


__all__ = ["carry_on"]
