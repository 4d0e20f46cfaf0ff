"""The web-preview relay: ``python -m orchestrator.workspace.sandbox.relay``.

A sandboxed web server listens on the loopback of its own network namespace, which nobody
outside can reach. The workspace service binds the preview port on the host and hands the
listening socket to this process, which then joins the sandbox's network namespace: sockets it
creates from then on live inside it. Each accepted user connection (host side) is piped to a new
connection to the server's port (sandbox side). It dies with the service (PDEATHSIG) and is
killed when the run ends, which frees the port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
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
        with suppress(Exception):
            writer.close()


async def _serve(listener: socket.socket, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=5
            )
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True, help="a process inside the sandbox")
    parser.add_argument("--port", type=int, required=True, help="the server's port inside")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    args = parser.parse_args()
    die_with_parent(signal.SIGKILL)
    listener = socket.socket(fileno=args.fd)  # bound on the host before we move
    enter_network_of(args.pid)
    asyncio.run(_serve(listener, args.port))


if __name__ == "__main__":
    main()
