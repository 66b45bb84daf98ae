"""Auth and profile routes: register, login, profile, logout."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec
from quart import Blueprint, Response, g
from quart_schema import document_request, document_response

from exchange.classes import check_joinable
from exchange.clock import iso_ms
from exchange.errors import DomainError, UnknownUser
from exchange.passwords import hash_password, verify_password
from exchange.users import NewUser, Profile
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import ApiError, invalid, retry_later
from web.gateway import gateway
from web.openapi import RETRY_AFTER, documented
from web.reply import json_response
from web.state import app_state
from web.tokens import Claims, issue
from web.validation import Rules
from web.wire import (
    LoginRequest,
    LogoutRequest,
    MessageResponse,
    ProfileResponse,
    ProfileUpdateRequest,
    ProfileUpdateResponse,
    RegisterRequest,
    TokenResponse,
)

blueprint = Blueprint("users", __name__, url_prefix="/api/v1/auth")

_register_body = BodyDecoder(RegisterRequest)
_login_body = BodyDecoder(LoginRequest)
_profile_body = BodyDecoder(ProfileUpdateRequest)
_logout_body = BodyDecoder(LogoutRequest, optional=True)


def _today() -> Any:
    return datetime.fromtimestamp(app_state().exchange.clock.now(), tz=UTC).date()


def profile_response(profile: Profile) -> ProfileResponse:
    """A profile on the wire."""
    return ProfileResponse(
        username=profile.username,
        email=profile.email,
        first_name=profile.first_name,
        last_name=profile.last_name,
        phone=profile.phone,
        date_of_birth=profile.date_of_birth,
        marketing_emails_consent=profile.marketing_emails_consent,
        role=profile.role,
        created_at=iso_ms(profile.created_at),
        updated_at=iso_ms(profile.updated_at),
    )


@blueprint.post("/register")
@document_request(RegisterRequest)
@document_response(MessageResponse, 201)
@documented(errors={409: ("username_taken", "email_taken")}, busy=True)
async def register() -> Response:
    """Create a customer with a zero balance."""
    body = await _register_body.read()
    rules = Rules()
    username, email, password, first_name, last_name = rules.identity(
        body.username, body.email, body.password, body.first_name, body.last_name
    )
    phone = rules.phone(body.phone)
    date_of_birth = rules.date_of_birth(body.date_of_birth, _today())
    state = app_state()
    joining = None
    if body.class_code is not None:
        try:
            joining = state.exchange.classroom.by_code(body.class_code)
            check_joinable(joining)
        except DomainError as refused:
            rules.fail("class_code", refused.message, refused.code)
    if rules.errors:
        raise invalid(rules.errors)
    password_hash = await state.hash_off_loop(hash_password, password, state.settings.scrypt_n)
    await state.exchange.register(
        NewUser(
            username=username,
            email=email,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            date_of_birth=date_of_birth,
            marketing_emails_consent=body.marketing_emails_consent,
        )
    )
    await state.exchange.audit("register", username, g.client_ip)
    if joining is not None:
        await state.exchange.classroom.join(username, joining)
    return json_response(MessageResponse("User registered successfully"), 201)


@blueprint.post("/login")
@document_request(LoginRequest)
@document_response(TokenResponse)
@documented(
    errors={
        401: ("invalid_credentials",),
        403: ("ip_blocked", "login_blocked"),
        404: ("user_not_found",),
    },
    headers={403: {"Retry-After": RETRY_AFTER}},
    busy=True,
)
async def login() -> Response:
    """Exchange a username and password for an access token."""
    token, _, ttl = await sign_in(await _login_body.read())
    return json_response(TokenResponse(token, "bearer", ttl))


async def sign_in(body: LoginRequest) -> tuple[str, Claims, int]:
    """Check a login (rules, IP block, credentials) and issue a token: token, claims, ttl."""
    rules = Rules()
    username = rules.username(body.username)
    rules.password(body.password)
    if rules.errors:
        raise invalid(rules.errors)
    state = app_state()
    exchange = state.exchange
    guard, user_guard = gateway().guard, gateway().user_guard
    ip = g.client_ip
    for unblocked in guard.expired_blocks():
        await exchange.audit("ip_unblocked", None, unblocked, "block expired")
    for pair in user_guard.expired_blocks():
        blocked_ip, _, blocked_user = pair.rpartition(" ")
        await exchange.audit("login_unblocked", blocked_user, blocked_ip, "block expired")
    left = guard.blocked_for(ip)
    if left:
        retry = max(1, math.ceil(left))
        detail = f"Too many failed logins from this address; try again in {retry} s"
        raise retry_later(403, "ip_blocked", detail, retry)
    left = user_guard.blocked_for(_pair(ip, username))
    if left:
        retry = max(1, math.ceil(left))
        detail = f"Too many failed logins for this username; try again in {retry} s"
        raise retry_later(403, "login_blocked", detail, retry)
    credentials = exchange.credentials(username)
    if credentials is None:
        await _failed_login(username, ip, "unknown user")
        raise UnknownUser("User not found")
    if not await state.hash_off_loop(verify_password, body.password, credentials.password_hash):
        await _failed_login(username, ip, "wrong password")
        raise ApiError(401, "invalid_credentials", "Incorrect username or password")
    await exchange.audit("login_success", username, ip)
    ttl = state.settings.token_ttl_seconds
    token, claims = issue(
        state.settings.jwt_secret, username, credentials.role, exchange.clock.now(), ttl
    )
    return token, claims, ttl


async def _failed_login(username: str, ip: str, reason: str) -> None:
    exchange = app_state().exchange
    await exchange.audit("login_failure", username, ip, reason)
    if gateway().user_guard.fail(_pair(ip, username)):
        await exchange.audit("login_blocked", username, ip, "too many failed logins")
    if gateway().guard.fail(ip):
        await exchange.audit("ip_blocked", None, ip, "too many failed logins")


def _pair(ip: str, username: str) -> str:
    """The key of one username's failures from one address (usernames have no spaces)."""
    return f"{ip} {username}"


@blueprint.get("/profile")
@document_response(ProfileResponse)
@documented(errors={404: ("user_not_found",)})
@authenticated
async def get_profile() -> Response:
    """The caller's profile."""
    return json_response(profile_response(app_state().exchange.profile(current_claims().sub)))


@blueprint.put("/profile")
@document_request(ProfileUpdateRequest)
@document_response(ProfileUpdateResponse)
@documented(errors={404: ("user_not_found",), 409: ("email_taken",)}, busy=True)
@authenticated
async def update_profile() -> Response:
    """Change some of the caller's profile fields."""
    body = await _profile_body.read()
    rules = Rules()
    changes: dict[str, Any] = {}
    if not isinstance(body.first_name, msgspec.UnsetType):
        changes["first_name"] = rules.person_name("first_name", body.first_name)
    if not isinstance(body.last_name, msgspec.UnsetType):
        changes["last_name"] = rules.person_name("last_name", body.last_name)
    if not isinstance(body.email, msgspec.UnsetType):
        changes["email"] = rules.email(body.email)
    if not isinstance(body.phone, msgspec.UnsetType):
        changes["phone"] = rules.phone(body.phone)
    if not isinstance(body.date_of_birth, msgspec.UnsetType):
        changes["date_of_birth"] = rules.date_of_birth(body.date_of_birth, _today())
    if not isinstance(body.marketing_emails_consent, msgspec.UnsetType):
        changes["marketing_emails_consent"] = body.marketing_emails_consent
    if rules.errors:
        raise invalid(rules.errors)
    profile = await app_state().exchange.update_profile(current_claims().sub, changes)
    return json_response(
        ProfileUpdateResponse(True, "Profile updated successfully", profile_response(profile))
    )


@blueprint.post("/logout")
@document_request(LogoutRequest)
@document_response(MessageResponse)
@documented(body_required=False, busy=True)
@authenticated
async def logout() -> Response:
    """Revoke the caller's token until it would have expired."""
    await _logout_body.read()
    claims = current_claims()
    exchange = app_state().exchange
    await exchange.revoke(claims.jti, claims.exp)
    await exchange.audit("logout", claims.sub, g.client_ip)
    return json_response(MessageResponse("Logged out successfully"))
