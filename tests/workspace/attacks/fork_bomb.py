# Attack: a fork bomb. RLIMIT_NPROC of the sandbox uid must stop it well short of the host.
import os
import time

if __name__ == "__main__":
    children = 0
    error = None
    for _ in range(5000):
        try:
            pid = os.fork()
        except OSError as exc:
            error = type(exc).__name__
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
    print(f"forked {children} then {error}", flush=True)
    time.sleep(60)
