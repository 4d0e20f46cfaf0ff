"""The web-preview relay: ``python -m orchestrator.workspace.sandbox.relay``.

A sandboxed web server listens on the loopback of its own network namespace, which nobody
outside can reach. The workspace service binds the preview port on the host and hands the
listening socket to this process, which then joins the sandbox's network namespace: sockets it
creates from then on live inside it. Each accepted user connection (host side) is piped to a new
connection to the server's port (sandbox side). It dies with the service (PDEATHSIG) and is
killed when the run ends, which frees the port.

Like the gateway, it refuses a request whose ``Host`` is not a local name (403): a web page the
user visits must not reach the preview through DNS rebinding. Browsers open a connection per
origin, so the first request's ``Host`` decides for the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from contextlib import suppress

from .netns import die_with_parent, enter_network_of


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with suppress(ConnectionError, OSError):  # the peer is gone already
            writer.close()


MAX_HEAD = 16 * 1024
FORBIDDEN = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
    b"Connection: close\r\n\r\nHost not allowed.\n"
)


def host_allowed(head: bytes, allowed: set[str]) -> bool:
    """Whether the request head names an allowed host (the name part of ``Host``)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            return _host_name(value.strip().decode("latin-1").lower()) in allowed
    return False


def _host_name(host: str) -> str:
    """``[::1]:8000`` -> ``[::1]``; ``localhost:8000`` -> ``localhost``."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0]


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
        chunk = await reader.read(MAX_HEAD - len(head))
        if not chunk:
            break
        head += chunk
    return head


async def _serve(listener: socket.socket, port: int, allowed: set[str]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(_read_head(reader), timeout=10)
        except (OSError, TimeoutError):
            writer.close()
            return
        if not host_allowed(head, allowed):
            with suppress(OSError):
                writer.write(FORBIDDEN)
                await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=5
            )
        except (OSError, TimeoutError):
            writer.close()
            return
        up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True, help="a process inside the sandbox")
    parser.add_argument("--port", type=int, required=True, help="the server's port inside")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--allowed-hosts", default="127.0.0.1,localhost,[::1]")
    parser.add_argument("--parent", type=int, required=True, help="the service's pid")
    args = parser.parse_args()
    allowed = {h.strip().lower() for h in args.allowed_hosts.split(",") if h.strip()}
    die_with_parent(signal.SIGKILL)
    if os.getppid() != args.parent:
        # The service died before the line above (while this interpreter started): no signal
        # will come, and a relay left running would hold the preview's port for good.
        sys.exit("the workspace service is gone")
    listener = socket.socket(fileno=args.fd)  # bound on the host before we move
    enter_network_of(args.pid)
    asyncio.run(_serve(listener, args.port, allowed))


if __name__ == "__main__":
    main()
