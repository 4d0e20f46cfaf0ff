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
            blocks.append(bytearray(64 * 1024 * 1024))
        print("LEAK allocated 4 GiB in blocks")
    except MemoryError:
        print(f"BLOCKED MemoryError after {len(blocks) * 64} MiB")
