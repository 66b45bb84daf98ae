"""Authentication, decided before anything else a protected route does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from quart import current_app, g, request

from web.errors import ApiError, unauthorized
from web.sessions import COOKIE, CSRF_HEADER, SAFE_METHODS, csrf_matches
from web.tokens import Claims, InvalidToken, verify

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Marks a protected handler, so the spec documents its security from the check itself.
AUTH_ATTRIBUTE = "_exchange_auth"
BEARER = "bearer"
ADMIN = "admin"


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 for anything else."""
    if not header:
        raise unauthorized("Not authenticated")
    scheme, _, value = header.partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized("Invalid authorization header")
    return token


class RevokedToken(ApiError):
    """A well-formed, unexpired token that was revoked by logout."""

    def __init__(self, username: str) -> None:
        super().__init__(
            401, "unauthorized", "Token has been revoked", {"WWW-Authenticate": "Bearer"}
        )
        self.username = username


def csrf_refused() -> ApiError:
    """A 403 for a cookie-authenticated change without this session's CSRF token."""
    return ApiError(403, "csrf_failed", f"Missing or invalid {CSRF_HEADER} header")


def authenticate() -> Claims:
    """The current request's verified claims; 401 when missing, bad, expired or revoked.

    A request without an ``Authorization`` header may authenticate with the session cookie
    instead; then a state-changing method must also carry the session's CSRF token (403).
    """
    state = current_app.extensions["exchange_state"]
    header = request.headers.get("Authorization")
    cookie = request.cookies.get(COOKIE) if header is None else None
    token = cookie or bearer_token(header)
    try:
        claims = verify(state.settings.jwt_secret, token, state.exchange.clock.now())
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None
    if state.exchange.is_revoked(claims.jti):
        raise RevokedToken(claims.sub)
    if (
        cookie
        and request.method not in SAFE_METHODS
        and not csrf_matches(state.settings.jwt_secret, claims, request.headers.get(CSRF_HEADER))
    ):
        raise csrf_refused()
    return claims


def authenticated(handler: F) -> F:
    """Require a valid token before the handler (and so before any validation) runs."""

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            g.claims = authenticate()
        except RevokedToken as refused:
            exchange = current_app.extensions["exchange_state"].exchange
            ip = getattr(g, "client_ip", None)
            await exchange.audit("token_refused", refused.username, ip, "revoked")
            raise
        return await handler(*args, **kwargs)

    setattr(wrapper, AUTH_ATTRIBUTE, BEARER)
    return cast(F, wrapper)


def current_claims() -> Claims:
    """The claims checked by ``authenticated`` for this request."""
    claims: Claims = g.claims
    return claims
