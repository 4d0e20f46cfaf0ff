# Attack: plant symlinks pointing outside the run (in its copy of the project and its scratch
# directory), then read through them. Planting may work; nothing outside may be read.
import os
import tempfile

if __name__ == "__main__":
    links = {
        "escape/etc/shadow": ("escape", "/"),
        "shadow_link": ("shadow_link", "/etc/shadow"),
        "../escape_root/nats/nats-server.conf": ("../escape_root", "__DATA_DIR__"),
        os.path.join(tempfile.gettempdir(), "conf_link"): (
            os.path.join(tempfile.gettempdir(), "conf_link"),
            "__DATA_DIR__/nats/nats-server.conf",
        ),
    }
    for through, (link, target) in links.items():
        try:
            os.symlink(target, link)
        except OSError as exc:
            print(f"could not plant {link}: {type(exc).__name__}")
        try:
            with open(through, "rb") as f:
                print(f"LEAK read through {link}: {f.read(20)!r}")
        except OSError as exc:
            print(f"BLOCKED read through {link}: {type(exc).__name__}")
    print("done")
