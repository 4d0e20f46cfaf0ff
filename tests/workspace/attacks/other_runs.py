# Attack: read another run's files while it runs: its snapshot of the workspace, its writable
# copy (through the run directory, /proc and the path it has inside), and list the run
# directories. The test fills in the other run's real paths; every attempt must print BLOCKED.
import os

STAGE = "__OTHER_STAGE__"
READS = [
    STAGE + "/project/implementation/holder.py",
    STAGE + "/work/implementation/secret-copy.txt",
    "/proc/__OTHER_PID__/cwd/secret-copy.txt",
    "/proc/__OTHER_PID__/root__OTHER_CWD__/secret-copy.txt",
    "__OTHER_CWD__/secret-copy.txt",
]
LISTS = [os.path.dirname(STAGE), STAGE, STAGE + "/project", STAGE + "/work"]
if __name__ == "__main__":
    for target in READS:
        try:
            with open(target, "rb") as f:
                print(f"LEAK read {target}: {f.read(40)!r}")
        except OSError as exc:
            print(f"BLOCKED read {target}: {type(exc).__name__}")
    for target in LISTS:
        try:
            print(f"LEAK listed {target}: {sorted(os.listdir(target))}")
        except OSError as exc:
            print(f"BLOCKED list {target}: {type(exc).__name__}")
    print("done")
