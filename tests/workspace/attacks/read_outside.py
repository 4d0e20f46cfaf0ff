# Attack: read files outside the run's copy of the project and write outside it (other runs:
# other_runs.py). Every attempt must print BLOCKED; writing into its own copy works (discarded).
import os

HERE = os.getcwd()
TARGETS = [
    "/etc/shadow",
    "/etc/passwd",
    "/root/.bashrc",
    "__DATA_DIR__/nats/nats-server.conf",
    "__DATA_DIR__/workspace/implementation/read_outside.py",
    "__REPO__/pyproject.toml",
    "/proc/1/root/etc/shadow",
    HERE + "/../../../../../../etc/shadow",
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
        with open("__DATA_DIR__/workspace/implementation/written.txt", "w") as f:
            f.write("x")
        print("LEAK wrote into the workspace")
    except OSError as exc:
        print(f"BLOCKED write workspace: {type(exc).__name__}")
    with open("written.txt", "w") as f:
        f.write("into its own copy")
    with open("written.txt") as f:
        print("wrote own copy:", f.read())
    try:
        print("visible root:", sorted(os.listdir("/")))
    except OSError as exc:
        print(f"visible root: none ({type(exc).__name__})")
    print("uid", os.getuid(), "euid", os.geteuid())
