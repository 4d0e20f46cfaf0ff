"""The live feed's wire: frames go out uncompressed, so fan-out encodes a frame once for all."""

from __future__ import annotations

from websockets.sync.client import connect

from tests.harness import System


def test_the_gateway_declines_per_message_deflate_that_a_client_offers(
    gateway_system: System,
) -> None:
    # websockets' client offers permessage-deflate by default; a server that accepted it would
    # compress every frame once per client and keep a zlib context per connection.
    with connect(f"{gateway_system.ws_url}/ws", compression="deflate", open_timeout=10) as ws:
        offered = ws.request.headers.get("Sec-WebSocket-Extensions", "") if ws.request else ""
        assert "permessage-deflate" in offered
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send('{"type": "ping"}')
        assert '"pong"' in str(ws.recv(timeout=10))
