# Attack: find the server's secrets through the environment and /proc.
import os

CANARY = "__CANARY__"
if __name__ == "__main__":
    if CANARY in str(os.environ):
        print("LEAK own environment")
    print("env keys:", sorted(os.environ))
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    print("visible pids:", len(pids), "ppid", os.getppid())
    for pid in [*pids, str(os.getppid()), "1"]:
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    data = f.read()
            except OSError as exc:
                print(f"BLOCKED /proc/{pid}/{name}: {type(exc).__name__}")
                continue
            if CANARY.encode() in data:
                print(f"LEAK /proc/{pid}/{name}")
    for number in range(1, 200):
        try:
            with open(f"/proc/{number}/environ", "rb") as f:
                if CANARY.encode() in f.read():
                    print(f"LEAK /proc/{number}/environ by scan")
        except OSError:
            pass
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_ATTACH = 16
    if libc.ptrace(PTRACE_ATTACH, os.getppid(), 0, 0) == 0:
        print("LEAK ptrace attach to parent")
    else:
        print("BLOCKED ptrace:", os.strerror(ctypes.get_errno()))
    CLONE_NEWUSER = 0x10000000
    if libc.unshare(CLONE_NEWUSER) == 0:
        print("LEAK unshare(CLONE_NEWUSER)")
    else:
        print("BLOCKED unshare:", os.strerror(ctypes.get_errno()))
    print("done")
