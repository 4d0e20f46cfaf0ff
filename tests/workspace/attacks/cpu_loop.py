# Attack: burn CPU forever. RLIMIT_CPU must kill it.
if __name__ == "__main__":
    print("spinning", flush=True)
    n = 0
    while True:
        n += 1
