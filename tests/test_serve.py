"""End to end: the real ``exchange serve`` process over loopback, killed and restarted."""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx
import trio

from tests.conftest import PASSWORD, user_body
from tests.live import command, open_server, read_rest, server_env


async def verify(db: Path) -> tuple[int, str]:
    done = await trio.run_process(
        command("verify", "--db", str(db)),
        capture_stdout=True,
        stderr=subprocess.STDOUT,
        check=False,
        env=server_env(),
    )
    return done.returncode, done.stdout.decode()


async def sign_up(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/register", json=user_body(username))
    assert response.status_code == 201, response.text
    response = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_sigkill_after_a_2xx_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    async with open_server(db) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            headers = await sign_up(http, "alice_01")
            response = await http.post(
                "/api/v1/balance/deposit", json={"amount": "123.45"}, headers=headers
            )
            assert response.status_code == 201
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()
    secret = tmp_path / ".exchange-jwt-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    async with open_server(db) as server, httpx.AsyncClient(base_url=server.url) as http:
        # The secret kept beside the database survives too, so the old token still works.
        response = await http.get("/api/v1/balance", headers=headers)
        assert response.status_code == 200
        assert response.json()["current_balance"] == "123.45"


async def test_sigterm_finishes_cleanly_and_verify_passes(tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    async with open_server(db) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for i in range(3):
                headers = await sign_up(http, f"user_{i:03d}")
                for amount in ("10.00", "0.01"):
                    response = await http.post(
                        "/api/v1/balance/deposit", json={"amount": amount}, headers=headers
                    )
                    assert response.status_code == 201
            assert (await http.get("/health")).json()["status"] == "healthy"
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            await server.process.wait()
        assert server.process.returncode == 0
        assert "Exchange stopped." in await read_rest(server)
    code, out = await verify(db)
    assert code == 0, out
    assert "ok: 3 accounts" in out

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE accounts SET cash = cash + 1 WHERE username = 'user_001'")
    conn.close()
    code, out = await verify(db)
    assert code == 1
    assert "user_001" in out
    assert "user_000" not in out
