"""Password hashing with scrypt (memory-hard, in the standard library).

A hash records its own parameters (``scrypt$N$r$p$salt$key``), so the cost can be raised
later without invalidating stored passwords. scrypt releases the GIL, so the web layer runs it
on a worker thread in serve mode, at most one per CPU core at a time: each run holds about
``128 * n * r`` bytes (16 MiB at the defaults).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

DEFAULT_N = 2**14
DEFAULT_R = 8
DEFAULT_P = 1
KEY_BYTES = 32


def hash_password(password: str, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A salted scrypt hash of the password, with its parameters."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=KEY_BYTES
    )
    return "$".join(
        ("scrypt", str(n), str(r), str(p), _b64(salt), _b64(key)),
    )


def verify_password(password: str, stored: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.urlsafe_b64decode(key_text + "==")
    key = hashlib.scrypt(
        password.encode(),
        salt=base64.urlsafe_b64decode(salt_text + "=="),
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r,
        dklen=len(expected),
    )
    return hmac.compare_digest(key, expected)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
