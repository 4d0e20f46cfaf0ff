"""Localhost safety: Host allow-list, Origin checks, bearer token (to be filled in).

``authorize_websocket`` is called by every WebSocket route before ``accept``; it returns False
(after closing the socket) when the handshake must be refused.
"""

from __future__ import annotations

from fastapi import WebSocket


async def authorize_websocket(websocket: WebSocket) -> bool:
    return True
