"""The teacher console's scenario section: staff get it when a story plays, students never."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

from exchange.engine import open_exchange
from exchange.passwords import hash_password
from exchange.users import NewUser
from scenarios.live import LiveScenario, live_settings
from scenarios.loader import load_text
from tests.conftest import PASSWORD, Client, engine_settings, web_settings
from tests.trading_helpers import small_catalogue
from web.app import create_app
from web.routes import scenario as scenario_routes

STORY = """
name = "console"
description = "d"
notes = "n"
duration = "1h"
assets = ["BTC"]
seed = 5

[[timeline]]
at = "10m"
kind = "news"
headline = "later"
"""
CONTROLS = ("Pause", "Resume", "Skip to next event", "Stop the scenario")


async def _session(client: Client, username: str) -> dict[str, str]:
    """Sign in to a browser session; the headers a page request (and a change) carries."""
    response = await client.post(
        "/api/v1/auth/session", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 201, await response.get_data()
    cookie = SimpleCookie(response.headers["Set-Cookie"])["exchange_session"]
    csrf = (await response.get_json())["csrf_token"]
    return {"Cookie": f"exchange_session={cookie.value}", "X-CSRF-Token": csrf}


async def _page(client: Client, headers: dict[str, str]) -> tuple[int, str]:
    response = await client.get("/teacher", headers=headers)
    return response.status_code, await response.get_data(as_text=True)


async def test_staff_get_the_scenario_section_and_students_neither_it_nor_its_routes(
    tmp_path: Path,
) -> None:
    scenario = load_text(STORY, "console.toml")
    catalogue = small_catalogue(tmp_path, "BTC")
    settings = live_settings(engine_settings(tmp_path, catalogue=catalogue), scenario, 1.0, None)
    async with open_exchange(settings) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            client = test_app.test_client()
            client.cookie_jar = None
            digest = hash_password(PASSWORD, 2**4)
            for name, role in (
                ("teacher_01", "teacher"),
                ("admin_01", "admin"),
                ("alice_01", "customer"),
            ):
                await exchange.register(
                    NewUser(name, f"{name}@example.com", digest, "A", "B", role=role)
                )
            teacher = await _session(client, "teacher_01")
            admin = await _session(client, "admin_01")
            alice = await _session(client, "alice_01")

            # No story: a note, and no section whose script would ask for one.
            status, body = await _page(client, teacher)
            assert status == 200
            assert "No scenario is running" in body and 'id="scenario"' not in body

            live = LiveScenario(exchange, scenario)
            scenario_routes.install(app, live)
            for staff in (teacher, admin):
                status, body = await _page(client, staff)
                assert status == 200 and 'id="scenario"' in body
                assert all(f">{label}</button>" in body for label in CONTROLS)
                assert 'aria-label="Scenario controls"' in body

            status, body = await _page(client, alice)
            assert status == 403
            assert 'id="scenario"' not in body
            assert not any(f">{label}</button>" in body for label in CONTROLS)
            response = await client.get("/api/v1/scenario", headers=alice)
            assert response.status_code == 403
            for action in ("pause", "resume", "skip", "stop"):
                response = await client.post(f"/api/v1/scenario/{action}", headers=alice)
                assert response.status_code == 403, action
                assert (await response.get_json())["code"] == "forbidden"
            assert not live.runner.paused and not live.runner.stopped
            # The same session of a teacher is let through (the refusal is the role's).
            response = await client.post("/api/v1/scenario/pause", headers=teacher)
            assert response.status_code == 200 and live.runner.paused
