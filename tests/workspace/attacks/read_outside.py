# Attack: read files outside the workspace. Every attempt must print BLOCKED.
import os

TARGETS = [
    "/etc/shadow",
    "/etc/passwd",
    "/root/.bashrc",
    "__DATA_DIR__/nats/nats-server.conf",
    "__DATA_DIR__/workspace/implementation/read_outside.py",
    "__REPO__/pyproject.toml",
    "/proc/1/root/etc/shadow",
    "/workspace/../etc/shadow",
]
if __name__ == "__main__":
    for target in TARGETS:
        try:
            with open(target, "rb") as f:
                data = f.read(64)
            print(f"LEAK read {target}: {data[:20]!r}")
        except OSError as exc:
            print(f"BLOCKED read {target}: {type(exc).__name__}")
    try:
        with open("/workspace/implementation/written.txt", "w") as f:
            f.write("x")
        print("LEAK wrote into the workspace")
    except OSError as exc:
        print(f"BLOCKED write workspace: {type(exc).__name__}")
    print("visible root:", sorted(os.listdir("/")))
    print("uid", os.getuid(), "euid", os.geteuid())
