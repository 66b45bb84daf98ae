"""The client's IP: the socket peer, or what a trusted proxy says it forwarded for."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """Comma-separated addresses or CIDR networks (``EXCHANGE_TRUSTED_PROXIES``)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    """True when ``address`` is one of the trusted proxies."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The peer, unless it is a trusted proxy: then the nearest untrusted hop it forwarded.

    ``X-Forwarded-For`` is read from the right: each trusted proxy appends the address it got
    the request from, so the first address from the right that is not a trusted proxy is the
    client. A header from an untrusted peer is ignored (anyone can write one).
    """
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: trust nothing in it
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
