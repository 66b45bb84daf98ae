"""Browser sessions: the session cookie, its CSRF token, and same-origin checks.

The cookie carries the same access token the API issues as a Bearer token, so logout and
expiry revoke a session exactly as they revoke a token. The CSRF token is derived from the
token's ``jti`` with the server's secret (a synchronizer token that needs no storage): a page
is rendered with it, and every state-changing request made with the cookie must send it back
in the ``X-CSRF-Token`` header. The design is written down in ``docs/sessions.md``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from quart import Response

from web.prefix import cookie_path
from web.tokens import Claims, InvalidToken, verify

COOKIE = "exchange_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(secret: str, jti: str) -> str:
    """The CSRF token of the session whose access token has id ``jti``."""
    mac = hmac.new(secret.encode(), b"csrf:" + jti.encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def csrf_matches(secret: str, claims: Claims, given: str | None) -> bool:
    """Whether ``given`` is this session's CSRF token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(csrf_token(secret, claims.jti), given or "")


def session_claims(
    secret: str, token: str | None, now: float, is_revoked: Callable[[str], bool]
) -> Claims | None:
    """The claims of a cookie's token when it is valid, unexpired and not revoked, else None."""
    if not token:
        return None
    try:
        claims = verify(secret, token, now)
    except InvalidToken:
        return None
    return None if is_revoked(claims.jti) else claims


def set_session_cookie(response: Response, token: str, ttl: int, secure: bool) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Lax, Secure over https, this market only.

    Its ``Path`` is the market's prefix (``/`` without one), so markets on one host never share it.
    """
    response.set_cookie(
        COOKIE, token, max_age=ttl, path=cookie_path(), httponly=True, samesite="Lax", secure=secure
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    """Tell the browser to forget the session cookie (the path it was set with)."""
    response.delete_cookie(COOKIE, path=cookie_path(), httponly=True, samesite="Lax", secure=secure)


def own_origin(scheme: str, host: str) -> str:
    """This server's origin as a browser names it, for a request's scheme and Host header."""
    web_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{web_scheme}://{host}".lower()


def same_origin(origin: str | None, scheme: str, host: str) -> bool:
    """Whether an ``Origin`` header names this server itself."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin.lower())
    return f"{parts.scheme}://{parts.netloc}" == own_origin(scheme, host)
