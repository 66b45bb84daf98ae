"""Helpers of the class tests: an app with an admin, teachers, classes and students."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.engine import Exchange, open_exchange
from tests.conftest import Client, engine_settings, login, user_body, web_settings
from tests.trading_helpers import call
from web.app import create_app

ADMIN = "admin_01"
ADMIN_PASSWORD = "Admin-Passw0rd!"
CLASSES = "/api/v1/classes"
Headers = dict[str, str]


@dataclass
class Room:
    """A running app with its admin signed in."""

    exchange: Exchange
    client: Client
    admin: Headers

    async def call(
        self, method: str, path: str, headers: Headers | None, body: Any = None
    ) -> tuple[int, Any]:
        """One request: its status and JSON body."""
        return await call(self.client, method, path, headers or {}, body)

    async def ok(
        self, method: str, path: str, headers: Headers, body: Any = None, status: int = 200
    ) -> Any:
        """One request that must answer ``status``; its JSON body."""
        got, answer = await self.call(method, path, headers, body)
        assert got == status, answer
        return answer

    async def teacher(self, username: str = "teacher_01") -> Headers:
        """Create a teacher (as the admin) and log them in."""
        body = user_body(username)
        await self.ok("POST", "/api/v1/admin/teachers", self.admin, body, 201)
        return await login(self.client, username)

    async def new_class(self, teacher: Headers, status: str = "open", **rules: Any) -> Any:
        """Create a class with rules, opened unless told otherwise; its view."""
        body = {"name": "Economics 101", "rules": rules}
        info = (await self.ok("POST", CLASSES, teacher, body, 201))["data"]
        if status != "draft":
            path = f"{CLASSES}/{info['class_id']}/status"
            info = (await self.ok("POST", path, teacher, {"status": status}))["data"]
        return info

    async def student(self, username: str, code: str | None = None, **fields: Any) -> Headers:
        """Register a student (joining with ``code`` if given) and log them in."""
        body = user_body(username, **fields)
        if code is not None:
            body["class_code"] = code
        status, answer = await self.call("POST", "/api/v1/auth/register", None, body)
        assert status == 201, answer
        return await login(self.client, username)

    async def order(self, headers: Headers, **body: Any) -> tuple[int, Any]:
        """Place an order."""
        return await self.call("POST", "/api/v1/orders", headers, body)

    async def cash(self, headers: Headers) -> str:
        """The caller's cash balance."""
        return str((await self.ok("GET", "/api/v1/balance", headers))["current_balance"])


@asynccontextmanager
async def open_room(tmp_path: Path, **overrides: object) -> AsyncIterator[Room]:
    """An exchange and app with an admin; ``overrides`` are engine settings."""
    async with open_exchange(engine_settings(tmp_path, **overrides)) as exchange:
        app = create_app(
            exchange, web_settings(admin_username=ADMIN, admin_password=ADMIN_PASSWORD)
        )
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            client = test_app.test_client()
            response = await client.post(
                "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
            )
            token = (await response.get_json())["access_token"]
            yield Room(exchange, client, {"Authorization": f"Bearer {token}"})
