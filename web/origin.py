"""The public origin of a request: the scheme and host its client addressed.

That is the request's own scheme and ``Host``, unless the socket peer is a trusted proxy
(``EXCHANGE_TRUSTED_PROXIES``): then its ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` say what
the client used. Each is believed only when well formed; of a comma-separated list, the
right-most value counts, since that is what the trusted peer itself wrote (anything left of it
came from further out). The path prefix (``X-Forwarded-Prefix``, ``EXCHANGE_ROOT_PATH``) is the
request's ``root_path``, set by ``web/prefix.py`` by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from web.clientip import Network, is_trusted

SCHEMES = ("http", "https")
# A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?"
)
# Path segments of unreserved characters; no query, fragment or dot segments.
PREFIX = re.compile(r"(?:/(?!\.{1,2}(?:/|$))[A-Za-z0-9._~-]+)*")


def _last(value: str | None) -> str:
    return (value or "").rsplit(",", 1)[-1].strip()


def public_origin(
    scheme: str,
    host: str,
    peer: str,
    header: Callable[[str], str | None],
    trusted: Sequence[Network],
) -> str:
    """``scheme://host``; ``""`` when the host is malformed.

    Without a scheme and host, URLs built on the origin stay relative to whatever served them.
    """
    host = host.strip().lower()
    if trusted and is_trusted(peer, trusted):
        forwarded_scheme = _last(header("X-Forwarded-Proto")).lower()
        if forwarded_scheme in SCHEMES:
            scheme = forwarded_scheme
        forwarded_host = _last(header("X-Forwarded-Host")).lower()
        if HOST.fullmatch(forwarded_host):
            host = forwarded_host
    if scheme not in SCHEMES or not HOST.fullmatch(host):
        return ""
    return f"{scheme}://{host}"
