"""Browser sessions over the API: sign in to a session cookie, read it, end it.

``POST /api/v1/auth/session`` checks a login exactly as ``/auth/login`` does and sets the
session cookie, whose token the API then accepts (with the CSRF header on changes) in place of
a Bearer token. ``DELETE`` revokes it like ``/auth/logout`` and clears the cookie.
"""

from __future__ import annotations

from quart import Blueprint, Response, g, request
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import ApiError
from web.openapi import RETRY_AFTER, documented
from web.reply import json_response
from web.routes.users import sign_in
from web.sessions import (
    clear_session_cookie,
    csrf_token,
    same_origin,
    set_session_cookie,
)
from web.state import app_state
from web.tokens import Claims
from web.wire import LoginRequest, MessageResponse, SessionResponse

blueprint = Blueprint("session", __name__, url_prefix="/api/v1/auth")

_login_body = BodyDecoder(LoginRequest)


def _secure() -> bool:
    return request.scheme == "https"


def session_response(claims: Claims) -> SessionResponse:
    """What a page needs to know about its session."""
    secret = app_state().settings.jwt_secret
    return SessionResponse(
        username=claims.sub,
        role=claims.role,
        csrf_token=csrf_token(secret, claims.jti),
        expires_at=iso_ms(claims.exp * 1000),
    )


@blueprint.post("/session")
@document_request(LoginRequest)
@document_response(SessionResponse, 201)
@documented(
    errors={
        401: ("invalid_credentials",),
        403: ("ip_blocked", "login_blocked", "forbidden_origin"),
        404: ("user_not_found",),
    },
    headers={403: {"Retry-After": RETRY_AFTER}},
    busy=True,
)
async def open_session() -> Response:
    """Sign in to a browser session: sets the HttpOnly session cookie, answers its CSRF token.

    Refused (403 ``forbidden_origin``) when an ``Origin`` header names another site, so no other
    site can sign a visitor in to an account of its choosing.
    """
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin, request.scheme, request.host):
        raise ApiError(403, "forbidden_origin", "Sign-in from another site is not allowed")
    token, claims, ttl = await sign_in(await _login_body.read())
    response = json_response(session_response(claims), 201)
    set_session_cookie(response, token, ttl, _secure())
    return response


@blueprint.get("/session")
@document_response(SessionResponse)
@documented()
@authenticated
async def read_session() -> Response:
    """The caller's session (or Bearer token): user, role, CSRF token and expiry."""
    return json_response(session_response(current_claims()))


@blueprint.delete("/session")
@document_response(MessageResponse)
@documented(busy=True)
@authenticated
async def close_session() -> Response:
    """Log out: revoke the session's token (as ``/auth/logout`` does) and clear the cookie."""
    claims = current_claims()
    exchange = app_state().exchange
    await exchange.revoke(claims.jti, claims.exp)
    await exchange.audit("logout", claims.sub, g.client_ip)
    response = json_response(MessageResponse("Logged out successfully"))
    clear_session_cookie(response, _secure())
    return response
