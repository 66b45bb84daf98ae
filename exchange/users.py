"""User records: registration, credentials and profiles (written only through the store)."""

from __future__ import annotations

from typing import Any

import msgspec

from exchange.errors import EmailTaken, UsernameTaken
from exchange.store import Store, Write

PROFILE_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "marketing_emails_consent",
    "role",
    "created_at",
    "updated_at",
)
EDITABLE_FIELDS = frozenset(
    {"email", "first_name", "last_name", "phone", "date_of_birth", "marketing_emails_consent"}
)


class NewUser(msgspec.Struct, frozen=True):
    """A validated registration, password already hashed."""

    username: str
    email: str
    password_hash: str
    first_name: str
    last_name: str
    phone: str | None = None
    date_of_birth: str | None = None
    marketing_emails_consent: bool = False
    role: str = "customer"


class Profile(msgspec.Struct, frozen=True):
    """What a user sees of their own record."""

    username: str
    email: str
    first_name: str
    last_name: str
    phone: str | None
    date_of_birth: str | None
    marketing_emails_consent: bool
    role: str
    created_at: int
    updated_at: int


class Credentials(msgspec.Struct, frozen=True):
    """What login checks."""

    username: str
    password_hash: str
    role: str


_CONFLICTS = {
    "users.username": lambda: UsernameTaken("Username already exists"),
    "accounts.username": lambda: UsernameTaken("Username already exists"),
    "users.email": lambda: EmailTaken("Email already exists"),
}


def register_write(user: NewUser, now_ms: int) -> Write:
    """Insert the user and a zero-balance account in one transaction."""
    return Write(
        [
            (
                "INSERT INTO users (username, email, password_hash, first_name, last_name, "
                "phone, date_of_birth, marketing_emails_consent, role, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.username,
                    user.email,
                    user.password_hash,
                    user.first_name,
                    user.last_name,
                    user.phone,
                    user.date_of_birth,
                    int(user.marketing_emails_consent),
                    user.role,
                    now_ms,
                    now_ms,
                ),
            ),
            (
                "INSERT INTO accounts (username, cash, updated_at) VALUES (?, 0, ?)",
                (user.username, now_ms),
            ),
        ],
        conflicts=_CONFLICTS,
    )


def profile_write(username: str, changes: dict[str, Any], now_ms: int) -> Write:
    """Update editable profile fields; the column names come from a fixed allow-list."""
    columns = [name for name in changes if name in EDITABLE_FIELDS]
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [
        int(changes[name]) if name == "marketing_emails_consent" else changes[name]
        for name in columns
    ]
    sql = (
        f"UPDATE users SET {assignments}{', ' if columns else ''}updated_at = ? WHERE username = ?"  # noqa: S608
    )
    return Write([(sql, (*values, now_ms, username))], conflicts=_CONFLICTS)


def password_write(username: str, password_hash: str, now_ms: int) -> Write:
    """Replace a user's password hash."""
    return Write(
        [
            (
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
                (password_hash, now_ms, username),
            )
        ]
    )


def load_profile(store: Store, username: str) -> Profile | None:
    """A user's profile, or None."""
    row = store.read_one(
        f"SELECT {', '.join(PROFILE_FIELDS)} FROM users WHERE username = ?",  # noqa: S608
        (username,),
    )
    if row is None:
        return None
    values = dict(zip(PROFILE_FIELDS, row, strict=True))
    values["marketing_emails_consent"] = bool(values["marketing_emails_consent"])
    return Profile(**values)


def load_credentials(store: Store, username: str) -> Credentials | None:
    """A user's password hash and role, or None."""
    row = store.read_one(
        "SELECT username, password_hash, role FROM users WHERE username = ?", (username,)
    )
    return None if row is None else Credentials(*row)


def email_owner(store: Store, email: str) -> str | None:
    """The username that holds an email address, if any."""
    row = store.read_one("SELECT username FROM users WHERE email = ?", (email,))
    return None if row is None else str(row[0])
