# Attack: reach the network: the internet, the host's services on loopback, DNS over UDP.
import socket

TARGETS = [
    ("1.1.1.1", 80),
    ("8.8.8.8", 53),
    ("127.0.0.1", int("__GATEWAY_PORT__")),
    ("127.0.0.1", int("__NATS_PORT__")),
]
if __name__ == "__main__":
    for host, port in TARGETS:
        try:
            with socket.create_connection((host, port), timeout=2):
                print(f"LEAK connected to {host}:{port}")
        except OSError as exc:
            print(f"BLOCKED tcp {host}:{port}: {type(exc).__name__}")
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", ("8.8.8.8", 53))
        print("LEAK udp sent")
    except OSError as exc:
        print(f"BLOCKED udp: {type(exc).__name__}")
    try:
        socket.getaddrinfo("example.com", 80)
        print("LEAK dns resolved")
    except OSError as exc:
        print(f"BLOCKED dns: {type(exc).__name__}")
    print("done")
