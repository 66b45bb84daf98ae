"""Shared fixtures: a real exchange on a temporary database and its app's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol

from exchange.engine import Exchange, open_exchange
from exchange.settings import Settings
from web.app import create_app
from web.settings import WebSettings

Client = TestClientProtocol

# 2026-03-14T12:00:00Z: a fixed start for the exchange clock, so dates in tests are exact.
START_EPOCH = 1_773_489_600.0
PASSWORD = "Secret-Passw0rd"


def engine_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Engine settings on a fresh database file."""
    values: dict[str, object] = {
        "db": str(tmp_path / "exchange.db"),
        "start_epoch": START_EPOCH,
        # Most tests need prices but not history; long virtual sleeps stay cheap with slow ticks.
        "history_days": 0,
        "tick_interval": 60.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def web_settings(**overrides: object) -> WebSettings:
    """Web settings for in-process tests: cheap password hashing on the Trio thread."""
    values: dict[str, object] = {"jwt_secret": "test-secret-" + "x" * 32, "scrypt_n": 2**4}
    values.update(overrides)
    values["hash_in_thread"] = False
    return WebSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[Exchange]:
    """A running exchange on a temporary database."""
    async with open_exchange(engine_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def client(exchange: Exchange) -> AsyncIterator[Client]:
    """A test client of the app over the running exchange."""
    app = create_app(exchange, web_settings())
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    async with app.test_app() as test_app:
        yield test_app.test_client()


def user_body(username: str = "alice_01", **overrides: object) -> dict[str, object]:
    """A valid registration body."""
    body: dict[str, object] = {
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
        "first_name": "Alice",
        "last_name": "Smith",
    }
    body.update(overrides)
    return body


async def register(client: Client, username: str = "alice_01") -> None:
    """Register a user, asserting success."""
    response = await client.post("/api/v1/auth/register", json=user_body(username))
    assert response.status_code == 201, await response.get_data()


async def login(client: Client, username: str = "alice_01") -> dict[str, str]:
    """Log in and return the Authorization header."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, await response.get_data()
    token = (await response.get_json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def signed_up(client: Client, username: str = "alice_01") -> dict[str, str]:
    """Register and log in; return the Authorization header."""
    await register(client, username)
    return await login(client, username)
