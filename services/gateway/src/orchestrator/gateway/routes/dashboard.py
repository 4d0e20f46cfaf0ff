"""The web dashboard and the offline API docs: static files from the ``dashboard`` package folder.

Everything is plain HTML, ES modules and CSS committed in the repo (Swagger UI is vendored under
``dashboard/vendor/swagger-ui``), so nothing is built at run time and nothing is fetched from
another host. Every response carries a strict Content-Security-Policy: scripts and styles only
from this origin, WebSockets only to this host, no framing.

These files hold no data, so :class:`~orchestrator.gateway.security.LocalhostGuard` serves them
without the bearer token (Host and Origin are still checked); the dashboard asks for the token
itself and sends it on every API call. ``/dashboard/config.json`` tells it whether to ask.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request, Response

from orchestrator.events.error_codes import ErrorCode

from .. import errors

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).resolve().parent.parent / "dashboard"
PREFIX = "/dashboard/"
STATIC_PATHS = frozenset({"/", "/docs", "/index.html"})
"""Paths besides ``PREFIX``'s that are static and served without the token."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


def is_static(path: str) -> bool:
    """Whether ``path`` is one of the dashboard's own files (served without a token)."""
    return path in STATIC_PATHS or path.startswith(PREFIX)


def content_security_policy(host: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"connect-src 'self' ws://{host} wss://{host}",
            "img-src 'self' data:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(request: Request, *, cache: bool) -> dict[str, str]:
    # The guard already refused a Host outside the allow-list, so it is safe to echo here.
    host = request.headers.get("host", "127.0.0.1")
    return {
        "Content-Security-Policy": content_security_policy(host),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache" if not cache else "public, max-age=300",
    }


def _file(relative: str) -> Path:
    pure = PurePosixPath(relative)
    if (
        not relative
        or pure.is_absolute()
        or any(part in ("..", "") or part.startswith(".") for part in pure.parts)
        or "\\" in relative
        or "\x00" in relative
        or pure.suffix not in MEDIA_TYPES
    ):
        raise errors.NotFound(ErrorCode.NOT_FOUND, f"No dashboard file {relative[:200]}")
    path = ROOT.joinpath(*pure.parts)
    if not path.is_file():
        raise errors.NotFound(ErrorCode.NOT_FOUND, f"No dashboard file {relative[:200]}")
    return path


def _serve(request: Request, relative: str, *, cache: bool = False) -> Response:
    path = _file(relative)
    return Response(
        path.read_bytes(),
        media_type=MEDIA_TYPES[path.suffix],
        headers=_headers(request, cache=cache),
    )


@router.get("/")
async def dashboard(request: Request) -> Response:
    return _serve(request, "index.html")


@router.get("/index.html")
async def dashboard_index(request: Request) -> Response:
    return _serve(request, "index.html")


@router.get("/docs")
async def docs(request: Request) -> Response:
    return _serve(request, "docs.html")


@router.get("/dashboard/config.json")
async def dashboard_config(request: Request) -> Response:
    """Whether the dashboard must ask for the token: the only fact it needs before asking."""
    required = bool(request.app.state.settings.gateway_token)
    return Response(
        b'{"token_required": true}' if required else b'{"token_required": false}',
        media_type="application/json",
        headers=_headers(request, cache=False),
    )


@router.get("/dashboard/{asset:path}")
async def dashboard_asset(asset: str, request: Request) -> Response:
    return _serve(request, asset, cache=asset.startswith("vendor/"))
