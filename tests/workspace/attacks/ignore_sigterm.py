# Attack: ignore SIGTERM and spawn a daemon that detaches; a stop must still end everything.
import os
import signal
import time

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(1)
        os._exit(0)
    print("ready", flush=True)
    while True:
        time.sleep(1)
