# Attack: reach UNIX sockets of the host by their paths (a system bus, a database, a container
# engine, a socket the test serves from a directory the sandbox can see) and send them something.
# A connected pair of its own and asyncio's event loop (whose self-pipe is one) must still work.
import asyncio
import socket

STREAMS = [
    "__STREAM_SOCKET__",
    "/run/dbus/system_bus_socket",
    "/var/run/docker.sock",
    "/run/postgresql/.s.PGSQL.5432",
]
DATAGRAMS = ["__DATAGRAM_SOCKET__", "/dev/log", "/run/systemd/journal/socket"]


async def loop_runs() -> str:
    await asyncio.sleep(0)
    return "ran"


if __name__ == "__main__":
    for path in STREAMS:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(path)
                s.sendall(b"hello from the sandbox\n")
                print(f"LEAK connected to {path}")
        except OSError as exc:
            print(f"BLOCKED stream {path}: {type(exc).__name__}")
    for path in DATAGRAMS:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(b"hello from the sandbox\n", path)
                print(f"LEAK sent to {path}")
        except OSError as exc:
            print(f"BLOCKED datagram {path}: {type(exc).__name__}")
    a, b = socket.socketpair()
    a.sendall(b"ping")
    print("socketpair:", b.recv(4).decode())
    print("asyncio:", asyncio.run(loop_runs()))
    print("done")
