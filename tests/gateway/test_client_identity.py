"""Who a request comes from, for the rate limits, without a gateway: peer, headers and the
trusted proxies passed in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.gateway.client_identity import (
    UNKNOWN_PEER,
    client_address,
    client_identity,
    parse_address,
    parse_networks,
)
from orchestrator.gateway.settings import GatewaySettings

PROXIES = parse_networks("127.0.0.1, 10.0.0.0/8, ::1")


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_through_trusted_proxies_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # Two proxies: the outer one (10.1.2.3) appended what it saw, and it is trusted too.
    assert client_address("127.0.0.1", ["198.51.100.1, 10.1.2.3"], PROXIES) == "198.51.100.1"
    # Whatever the client wrote itself, left of what our proxy appended, proves nothing.
    spoofed = ["192.0.2.99, 10.9.9.9, 198.51.100.1"]
    assert client_address("127.0.0.1", spoofed, PROXIES) == "198.51.100.1"
    # Several headers are one list, in order.
    assert client_address("::1", ["192.0.2.99", "198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_trusted_peer_without_forwarded_hops_is_the_client() -> None:
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", ["10.0.0.2, 10.0.0.3"], PROXIES) == "10.0.0.2"


def test_a_hop_that_is_no_address_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1, unknown"], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", ["garbage, 10.0.0.4"], PROXIES) == "10.0.0.4"


def test_addresses_as_proxies_and_servers_write_them() -> None:
    assert str(parse_address("203.0.113.7:51234")) == "203.0.113.7"
    assert str(parse_address("[2001:db8::1]:443")) == "2001:db8::1"
    assert str(parse_address("2001:db8::1")) == "2001:db8::1"
    assert str(parse_address(" ::ffff:203.0.113.7 ")) == "203.0.113.7"
    assert parse_address("unknown") is None
    assert client_address(None, ["198.51.100.1"], PROXIES) == UNKNOWN_PEER


def test_a_token_is_its_own_client_and_never_appears_in_the_identity() -> None:
    token = "s3cret-token-0123456789"
    by_token = client_identity("203.0.113.7", token)
    assert token not in by_token
    assert by_token == client_identity("198.51.100.1", token)  # whatever address it comes from
    assert by_token != client_identity("203.0.113.7", None)
    assert by_token != client_identity("203.0.113.7", "another-token")
    assert client_identity("203.0.113.7", None) == "address:203.0.113.7"


def test_trusted_proxies_setting_takes_addresses_and_cidrs_and_refuses_anything_else() -> None:
    settings = GatewaySettings(gateway_trusted_proxies="10.0.0.0/8, 192.0.2.1,[::1]")
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert GatewaySettings().trusted_proxies == ()
    with pytest.raises(ValidationError, match=r"proxy\.example\.com"):
        GatewaySettings(gateway_trusted_proxies="10.0.0.1, proxy.example.com")
