"""Access tokens: HS256 JWTs with sub, role, exp, iat, type and jti.

Expiry is checked against the exchange clock, not the host's, so it runs in virtual time too.
"""

from __future__ import annotations

import uuid

import jwt
import msgspec

ALGORITHM = "HS256"
TOKEN_TYPE = "access_token"  # noqa: S105 - a claim value, not a secret


class Claims(msgspec.Struct, frozen=True):
    """The claims of a valid token."""

    sub: str
    role: str
    exp: int
    iat: int
    jti: str
    type: str = TOKEN_TYPE


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong type."""


def issue(secret: str, username: str, role: str, now: float, ttl: int) -> tuple[str, Claims]:
    """A signed token for the user, and its claims."""
    issued = int(now)
    claims = Claims(sub=username, role=role, exp=issued + ttl, iat=issued, jti=uuid.uuid4().hex)
    token = jwt.encode(msgspec.structs.asdict(claims), secret, algorithm=ALGORITHM)
    return token, claims


def verify(secret: str, token: str, now: float) -> Claims:
    """The claims of a token signed with ``secret`` and not yet expired at ``now``."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["exp", "sub", "jti", "type"],
            },
        )
        claims = msgspec.convert(payload, Claims)
    except (jwt.PyJWTError, msgspec.ValidationError):
        raise InvalidToken("Invalid token") from None
    if claims.type != TOKEN_TYPE:
        raise InvalidToken("Invalid token type")
    if claims.exp <= now:
        raise InvalidToken("Token has expired")
    return claims
