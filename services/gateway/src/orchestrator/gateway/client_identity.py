"""Who a request comes from, for the rate limits: its token when it sends one, else its address.

Pure: the caller passes the TCP peer, the ``X-Forwarded-For`` values and the trusted proxies.

- The address is the TCP peer. Only when the peer is a trusted proxy
  (``GATEWAY_TRUSTED_PROXIES``) is ``X-Forwarded-For`` read, from the right (each proxy appends
  the address it received the request from): the first hop that is not itself a trusted proxy is
  the client. Everything left of it was written by the client and proves nothing. A hop that is
  not an address stops the walk at the last trusted hop: counting a proxy is safe, believing a
  word a client may have written is not.
- A token is the client only when the gateway checks tokens (``GATEWAY_TOKEN`` set): the guard in
  front has then refused any other, so the one that reaches here is genuine. An unchecked
  ``Authorization`` header is ignored, or every made-up token would buy a fresh budget.
- A token is hashed here, at once. Nothing logs it, and what reaches NATS (the key of
  :func:`orchestrator.gateway.ratelimit.counter_key`) is a hash of this identity again.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN_PEER = "unknown"
"""The address of a request without a TCP peer (a Unix socket): one budget for all of them."""


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """``GATEWAY_TRUSTED_PROXIES``: comma-separated addresses or CIDRs; ``ValueError`` names a
    bad entry. A bare address is a network of one."""
    networks: list[IPNetwork] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            raise ValueError(
                f"not an address or CIDR: {entry!r} (expected e.g. 10.0.0.5 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def parse_address(value: str) -> IPAddress | None:
    """An address as a peer or a proxy writes it (``203.0.113.7``, ``[2001:db8::1]:443``,
    ``203.0.113.7:51234``), IPv4-mapped IPv6 as the IPv4 it is; None when it is not one."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has two colons or more
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def forwarded_hops(values: Iterable[str]) -> list[str]:
    """Every hop of every ``X-Forwarded-For`` header, in order (several headers are one list)."""
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the peer, or through trusted proxies the first untrusted hop."""
    if peer is None:
        return UNKNOWN_PEER
    address = parse_address(peer)
    if address is None:
        return peer
    if not is_trusted(address, trusted):
        return str(address)
    for hop in reversed(forwarded_hops(forwarded_for)):
        parsed = parse_address(hop)
        if parsed is None:
            break
        address = parsed
        if not is_trusted(address, trusted):
            break
    return str(address)


def token_digest(token: str) -> str:
    return hashlib.sha256(b"orchestrator-rate-limit-token\0" + token.encode()).hexdigest()


def client_identity(address: str, verified_token: str | None) -> str:
    """What the limits count: ``token:<sha256>`` for a checked token, else ``address:<ip>``."""
    if verified_token:
        return f"token:{token_digest(verified_token)}"
    return f"address:{address}"
