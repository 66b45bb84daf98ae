"""Staff roles: bootstrapping the first admin, and the role checks of admin and market routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from exchange.engine import Exchange
from exchange.errors import Conflict, StorageUnavailable
from exchange.passwords import hash_password
from exchange.users import NewUser
from web.auth import ADMIN, AUTH_ATTRIBUTE, authenticated, current_claims
from web.errors import ApiError
from web.settings import WebSettings
from web.validation import Rules

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
log = logging.getLogger("web")


def admin_only(handler: F) -> F:
    """Require a valid token (401) whose role is admin (403)."""

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_claims().role != "admin":
            raise ApiError(403, "forbidden", "Admin role required")
        return await handler(*args, **kwargs)

    guarded = authenticated(cast(F, wrapper))
    setattr(guarded, AUTH_ATTRIBUTE, ADMIN)
    return guarded


# Market control is for whoever runs the class: teachers, and admins who may do everything.
MARKET_ROLES = frozenset({"admin", "teacher"})


def teacher_or_admin(handler: F) -> F:
    """Require a valid token (401) whose role is teacher or admin (403)."""

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_claims().role not in MARKET_ROLES:
            raise ApiError(403, "forbidden", "Teacher or admin role required")
        return await handler(*args, **kwargs)

    guarded = authenticated(cast(F, wrapper))
    setattr(guarded, AUTH_ATTRIBUTE, ADMIN)
    return guarded


async def bootstrap_admin(exchange: Exchange, settings: WebSettings) -> None:
    """Create the admin from ``ADMIN_USERNAME``/``ADMIN_PASSWORD`` if set and missing."""
    if not settings.admin_username or not settings.admin_password:
        return
    rules = Rules()
    username = rules.username(settings.admin_username)
    rules.password(settings.admin_password)
    if rules.errors:
        log.error("ADMIN_USERNAME/ADMIN_PASSWORD rejected: %s", [e["msg"] for e in rules.errors])
        return
    if exchange.credentials(username) is not None:
        return
    password_hash = hash_password(settings.admin_password, settings.scrypt_n)
    admin = NewUser(
        username, f"{username}@admin.invalid", password_hash, "Admin", "User", role="admin"
    )
    try:
        await exchange.register(admin)
    except Conflict:
        return  # created meanwhile: the bootstrap is idempotent
    except StorageUnavailable as failure:
        # Serve reads on a full disk rather than refuse to start; the next start creates it.
        log.error("admin user %s not created: %s", username, failure.message)
        return
    log.info("created admin user %s", username)
