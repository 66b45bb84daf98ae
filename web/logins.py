"""Generated logins: passwords that meet the registration rules, hashed, shown once as CSV."""

from __future__ import annotations

import secrets
import string

import trio
from quart import Response

from exchange.passwords import hash_password
from web.state import AppState

_PASSWORD_SPECIALS = "!@#$%^&*"  # noqa: S105 - a rule, not a secret


def csv_response(data: bytes, filename: str, status: int = 200) -> Response:
    """A CSV download."""
    response = Response(data, status=status, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def generated_password() -> str:
    """A 16-character password meeting the registration rules (upper, lower, digit, special).

    It starts with a letter: the CSV would quote a cell starting with ``@`` (formula guard),
    and a student would then type the quote too.
    """
    alphabet = string.ascii_letters + string.digits + _PASSWORD_SPECIALS
    while True:
        candidate = secrets.choice(string.ascii_letters) + "".join(
            secrets.choice(alphabet) for _ in range(15)
        )
        if (
            any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in _PASSWORD_SPECIALS for c in candidate)
        ):
            return candidate


async def hash_all(state: AppState, passwords: list[str]) -> list[str]:
    """Hash passwords concurrently (in serve mode each hash runs in a worker thread)."""
    hashes = [""] * len(passwords)

    async def one(index: int) -> None:
        hashes[index] = await state.hash_off_loop(
            hash_password, passwords[index], state.settings.scrypt_n
        )

    async with trio.open_nursery() as nursery:
        for index in range(len(passwords)):
            nursery.start_soon(one, index)
    return hashes
