"""A classroom behind one address, through a real ``exchange serve`` on loopback.

Every request comes from 127.0.0.1, as a room behind a school's NAT does: one student's
mistyped passwords block that student's logins only.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import PASSWORD, user_body
from tests.live import open_server


async def test_one_student_blocked_by_mistyping_the_other_still_logs_in(tmp_path: Path) -> None:
    async with (
        open_server(tmp_path / "exchange.db") as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        for name in ("alice_01", "bob_01"):
            response = await http.post("/api/v1/auth/register", json=user_body(name))
            assert response.status_code == 201, response.text

        async def login(username: str, password: str = PASSWORD) -> httpx.Response:
            body = {"username": username, "password": password}
            return await http.post("/api/v1/auth/login", json=body)

        for _ in range(5):
            mistyped = await login("alice_01", PASSWORD + "x")
            assert mistyped.status_code == 401, mistyped.text
        refused = await login("alice_01")
        assert refused.status_code == 403
        assert refused.json()["code"] == "login_blocked"
        assert int(refused.headers["Retry-After"]) > 0
        # Bob, behind the same address, logs in and uses his token.
        answer = await login("bob_01")
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        balance = await http.get("/api/v1/balance", headers={"Authorization": f"Bearer {token}"})
        assert balance.status_code == 200
        # Still blocked for alice, even with the right password.
        assert (await login("alice_01")).status_code == 403
