"""The path prefix the app is served under (``/class-7b``): ASGI's ``root_path``, set in one place.

A market behind a reverse proxy lives under a prefix. It comes from a trusted proxy's
``X-Forwarded-Prefix`` (peer in ``EXCHANGE_TRUSTED_PROXIES``), else from ``EXCHANGE_ROOT_PATH``
(hypercorn's ``Config.root_path`` carries it into every scope). ``scoped`` writes it into the
scope's ``root_path`` as the app is called (``ExchangeApp.__call__``), before Quart reads it:
Quart strips it from ``request.path`` for routing, and ``url_for``, redirects, the OpenAPI
``servers`` entry, image URLs and cookie paths all take it from ``request.root_path``: code that
builds a URL or sets a cookie reads ``root_path()`` / ``cookie_path()`` here, never a header.

A request whose path lacks the prefix (a proxy that strips it, or a health check sent straight
to the port) is served as if it had it, and the bare prefix (``/class-7b``) as ``/class-7b/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quart import has_request_context, has_websocket_context, request, websocket

from web.clientip import Network, is_trusted
from web.origin import PREFIX

HEADER = b"x-forwarded-prefix"


def normalise(prefix: str) -> str | None:
    """``/a/b`` from ``/a/b/`` or ``a/b``; ``""`` for none; None when not a plain path."""
    prefix = prefix.strip().rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix if PREFIX.fullmatch(prefix) else None


def forwarded_prefix(
    headers: Sequence[tuple[bytes, bytes]], peer: str, trusted: Sequence[Network]
) -> str | None:
    """The prefix a trusted peer forwarded (its right-most value), or None."""
    if not trusted or not is_trusted(peer, trusted):
        return None
    values = [value for name, value in headers if name.lower() == HEADER]
    if not values:
        return None
    last = values[-1].decode("latin-1").rsplit(",", 1)[-1]
    return normalise(last)


def scoped(scope: dict[str, Any], configured: str, trusted: Sequence[Network]) -> dict[str, Any]:
    """The scope with ``root_path`` set and ``path`` under it."""
    if scope["type"] not in ("http", "websocket"):
        return scope
    client = scope.get("client") or ("", 0)
    prefix = forwarded_prefix(scope.get("headers", ()), str(client[0]), trusted)
    if prefix is None:
        prefix = normalise(scope.get("root_path") or "") or configured
    if not prefix:
        return {**scope, "root_path": ""} if scope.get("root_path") else scope
    path: str = scope["path"]
    raw: bytes = scope.get("raw_path") or path.encode("utf-8")
    if path == prefix:
        path, raw = path + "/", raw + b"/"
    elif not path.startswith(prefix + "/"):
        path, raw = prefix + path, prefix.encode("ascii") + raw
    return {**scope, "root_path": prefix, "path": path, "raw_path": raw}


def root_path() -> str:
    """The current request's (or websocket's) prefix, ``""`` at the root."""
    if has_request_context():
        return request.root_path
    if has_websocket_context():
        return websocket.root_path
    return ""


def cookie_path() -> str:
    """The ``Path`` of any cookie this app sets: its prefix, so markets never share cookies."""
    return root_path() + "/"
