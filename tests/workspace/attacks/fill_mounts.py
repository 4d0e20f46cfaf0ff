# Attack: fill every writable place (/dev/shm, the root, /etc, the scratch directory, the run's
# copy of the project) in 4 MiB files (under RLIMIT_FSIZE), far past any cap.
import os
import tempfile

CHUNK = b"x" * (4 << 20)
PLACES = ["/dev/shm", "/", "/etc", tempfile.gettempdir(), os.getcwd()]
if __name__ == "__main__":
    for place in PLACES:
        written = 0
        error = None
        for n in range(64):  # 256 MiB
            try:
                with open(os.path.join(place, f"fill-{n}"), "wb") as f:
                    f.write(CHUNK)
                written += 4
            except OSError as exc:
                error = type(exc).__name__
                break
        verdict = "LEAK" if error is None else "BLOCKED"
        print(f"{verdict} fill {place} after {written} MiB: {error}", flush=True)
        for n in range(64):
            try:
                os.unlink(os.path.join(place, f"fill-{n}"))
            except OSError:
                break
    print("done")
