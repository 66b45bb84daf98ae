"""The seed platform's own React front end: each request it sends and the field it then reads.

Each test sends the body that front end sends (or the query it makes) and checks the field its
page reads, the way that page reads it.
"""

from __future__ import annotations

from tests.conftest import Client, signed_up
from tests.trading_helpers import call

PROFILE = "/api/v1/auth/profile"


# Profile page: the edit form sends every field and requires result.success.


async def test_profile_edit_reports_success(client: Client) -> None:
    headers = await signed_up(client)
    body = {
        "first_name": "Alicia",
        "last_name": "Smith",
        "email": "alicia@example.com",
        "phone": "5551234567",
        "date_of_birth": "1990-05-17",
    }
    status, result = await call(client, "PUT", PROFILE, headers, body)
    assert status == 200, result
    assert result["success"] is True
    assert result["user"]["first_name"] == "Alicia"
