# Attack: allocate far more memory than allowed.
if __name__ == "__main__":
    try:
        hog = bytearray(4 * 1024 * 1024 * 1024)
        print("LEAK allocated 4 GiB")
    except MemoryError:
        print("BLOCKED MemoryError")
    blocks = []
    try:
        for _ in range(64):
            # bytes(n) is calloc'd, so its pages are not touched: the address-space limit is hit
            # as with bytearray (which zeroes its blocks), without spending the CPU limit (3 s in
            # these tests) on page faults; under load that ran out first (SIGKILL, no line).
            blocks.append(bytes(64 * 1024 * 1024))
        print("LEAK allocated 4 GiB in blocks")
    except MemoryError:
        print(f"BLOCKED MemoryError after {len(blocks) * 64} MiB")
