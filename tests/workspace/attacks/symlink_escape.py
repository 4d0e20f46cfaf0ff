# Attack: plant symlinks pointing outside the workspace, then read through them.
import os

if __name__ == "__main__":
    for link, target in (
        ("/workspace/implementation/escape", "/"),
        ("/workspace/implementation/shadow_link", "/etc/shadow"),
        ("/workspace/escape_root", "__DATA_DIR__"),
    ):
        try:
            os.symlink(target, link)
            print(f"LEAK planted {link}")
        except OSError as exc:
            print(f"BLOCKED plant {link}: {type(exc).__name__}")
    os.symlink("__DATA_DIR__/nats/nats-server.conf", "/tmp/conf_link")
    try:
        with open("/tmp/conf_link") as f:
            print("LEAK read through /tmp link:", f.read(20))
    except OSError as exc:
        print(f"BLOCKED read through /tmp link: {type(exc).__name__}")
    print("done")
