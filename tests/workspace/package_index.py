"""A package index on loopback for the dependency tests: wheels and sdists written by hand (no
build tool, no network), served as a PEP 503 simple index by a real HTTP server in a thread, and
the two broken indexes an install meets (nothing listening; a server that never answers)."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    module: str,
    *,
    requires: Sequence[str] = (),
    modules: Mapping[str, str] | None = None,
) -> Path:
    """A pure-Python wheel, written by hand (``modules``: more files of the package)."""
    info = f"{name}-{version}.dist-info"
    depends = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": module.encode(),
        **{f"{name}/{path}": text.encode() for path, text in (modules or {}).items()},
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{depends}"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
    return wheel


def build_sdist(folder: Path, name: str, version: str) -> Path:
    """An sdist whose build would leave a mark: it must never be built."""
    sdist = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for path, text in {
            "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "setup.py": f"open('/tmp/SDIST-WAS-BUILT', 'w')\nfrom setuptools import setup\n"
            f"setup(name='{name}', version='{version}')\n",
        }.items():
            data = text.encode()
            member = tarfile.TarInfo(f"{name}-{version}/{path}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return sdist


class LocalIndex:
    """``root/files`` holds the distributions, ``root/simple/<name>/`` lists them (rewritten by
    :meth:`publish`), wheels with their metadata beside them (PEP 658); every request path is
    kept in ``requests``. ``file_delay`` holds each wheel download back that many seconds (an
    install that takes a while, after a quick resolution)."""

    def __init__(self, root: Path, file_delay: float = 0.0) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.file_delay = file_delay
        self.requests: list[str] = []
        self.url = ""

    def wheel(
        self,
        name: str,
        version: str,
        module: str,
        *,
        requires: Sequence[str] = (),
        modules: Mapping[str, str] | None = None,
    ) -> None:
        wheel = build_wheel(self.files, name, version, module, requires=requires, modules=modules)
        with zipfile.ZipFile(wheel) as whl:
            metadata = whl.read(f"{name}-{version}.dist-info/METADATA")
        # PEP 658: installers resolve from this, and download the wheel only to install it.
        Path(f"{wheel}.metadata").write_bytes(metadata)
        self.publish()

    def sdist(self, name: str, version: str) -> None:
        build_sdist(self.files, name, version)
        self.publish()

    def publish(self) -> None:
        names = sorted({f.name.split("-")[0] for f in self.files.iterdir()})
        for name in names:
            page = self.root / "simple" / name
            page.mkdir(parents=True, exist_ok=True)
            links = "".join(
                f'<a href="../../files/{f.name}#sha256={_sha256(f)}"{_core_metadata(f)}>'
                f"{f.name}</a>\n"
                for f in sorted(self.files.iterdir())
                if f.name.startswith(f"{name}-") and not f.name.endswith(".metadata")
            )
            (page / "index.html").write_text(f"<!doctype html><html><body>{links}</body></html>")

    @contextmanager
    def serving(self) -> Iterator[LocalIndex]:
        index = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(index.root), **kwargs)

            def do_GET(self) -> None:
                index.requests.append(self.path)
                if self.path.endswith(".whl") and index.file_delay:
                    time.sleep(index.file_delay)
                super().do_GET()

            def end_headers(self) -> None:
                # A new release must be seen at once, not after an installer's cache expires.
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        server = _Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


class _Server(ThreadingHTTPServer):
    # uv asks for every page at once: a backlog of 5 drops SYNs, each retried after a second.
    request_queue_size = 128
    daemon_threads = True


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _core_metadata(dist: Path) -> str:
    metadata = Path(f"{dist}.metadata")
    if not metadata.exists():
        return ""
    digest = _sha256(metadata)
    return f' data-core-metadata="sha256={digest}" data-dist-info-metadata="sha256={digest}"'


def unreachable_index() -> str:
    """An index URL on a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"


@contextmanager
def silent_index() -> Iterator[str]:
    """An index that accepts connections and never answers (an install that cannot finish)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/simple"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
