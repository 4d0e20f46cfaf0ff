"""A real, tiny HTTP server standing where the gateway should be: a reverse proxy whose upstream
is down, answering every request with its multi-line HTML error page (status 502)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS = 502
FILLER = "Please try again later. " * 60  # a page far longer than one line of a terminal
PAGE = f"""<!DOCTYPE html>
<html>
<head>
  <title>502 Bad Gateway</title>
  <style>
    body {{ font-family: sans-serif; }}
  </style>
</head>
<body>
  <center><h1>502 Bad Gateway</h1></center>
  <hr><center>nginx/1.22.1</center>
  <p>{FILLER}</p>
</body>
</html>
"""


class _ProxyErrorPage(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = PAGE.encode()
        self.send_response(STATUS)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test's output is the client's, not this server's access log


@contextmanager
def proxy_error_page() -> Iterator[str]:
    """Serve :data:`PAGE` with :data:`STATUS` on a free loopback port: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyErrorPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
