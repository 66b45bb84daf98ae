"""The live scenario's progress and controls (roles teacher and admin).

The story itself is composed in by the command line (``exchange serve --scenario``); the web
face knows it only through the ``LiveStory`` protocol, so web never imports the scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from quart import Blueprint, Response, current_app
from quart_schema import document_response

from exchange.exports import to_csv
from web.admin import teacher_or_admin
from web.errors import ApiError
from web.logins import csv_response, generated_password, hash_all
from web.marketwire import ScenarioStatusResponse
from web.openapi import documented
from web.reply import json_response
from web.state import app_state

blueprint = Blueprint("scenario", __name__, url_prefix="/api/v1/scenario")
EXTENSION = "scenario"


class LiveStory(Protocol):
    """What the routes need of a live scenario; refusals are ``Conflict`` (409)."""

    async def status(self) -> dict[str, Any]:
        """Where the story is, and its standings."""

    def seat_names(self) -> list[str]:
        """The human seats' account names."""

    async def set_password(self, username: str, password_hash: str) -> None:
        """Give a seat a new password."""

    def pause(self) -> None:
        """Hold it."""

    def resume(self) -> None:
        """Go on."""

    def skip(self) -> None:
        """Jump to the next event."""

    def stop(self) -> None:
        """End it."""


def install(app: Any, story: LiveStory) -> None:
    """Attach a live story to an app (the command line does this)."""
    app.extensions[EXTENSION] = story


def _story() -> LiveStory:
    story: LiveStory | None = current_app.extensions.get(EXTENSION)
    if story is None:
        raise ApiError(404, "no_scenario", "No scenario is running on this exchange")
    return story


async def _reply(story: LiveStory) -> Response:
    return json_response(msgspec.convert(await story.status(), ScenarioStatusResponse))


async def _control(action: Callable[[LiveStory], None]) -> Response:
    story = _story()
    action(story)
    return await _reply(story)


@blueprint.get("")
@document_response(ScenarioStatusResponse)
@documented(errors={404: ("no_scenario",)})
@teacher_or_admin
async def status() -> Response:
    """The live scenario's progress: tick, events run, the next event."""
    return await _reply(_story())


@blueprint.post("/pause")
@document_response(ScenarioStatusResponse)
@documented(
    body_required=False,
    errors={404: ("no_scenario",), 409: ("scenario_paused", "scenario_finished")},
)
@teacher_or_admin
async def pause() -> Response:
    """Hold the story: no events, no bot orders (the market itself is not paused)."""
    return await _control(lambda story: story.pause())


@blueprint.post("/resume")
@document_response(ScenarioStatusResponse)
@documented(
    body_required=False,
    errors={404: ("no_scenario",), 409: ("scenario_not_paused", "scenario_finished")},
)
@teacher_or_admin
async def resume() -> Response:
    """Go on with a held story."""
    return await _control(lambda story: story.resume())


@blueprint.post("/skip")
@document_response(ScenarioStatusResponse)
@documented(body_required=False, errors={404: ("no_scenario",), 409: ("scenario_finished",)})
@teacher_or_admin
async def skip() -> Response:
    """Jump the story to just before its next event, which runs at the next tick."""
    return await _control(lambda story: story.skip())


@blueprint.post("/stop")
@document_response(ScenarioStatusResponse)
@documented(body_required=False, errors={404: ("no_scenario",), 409: ("scenario_finished",)})
@teacher_or_admin
async def stop() -> Response:
    """End the story; the exchange goes on serving."""
    return await _control(lambda story: story.stop())


@blueprint.post("/seats/logins")
@documented(
    body_required=False,
    busy=True,
    errors={404: ("no_scenario", "no_seats")},
    content=(201, "text/csv"),
)
@teacher_or_admin
async def seat_logins() -> Response:
    """Issue every human seat a new password; the CSV of logins is shown once.

    Earlier passwords stop working; sessions already open stay open until they expire.
    """
    story = _story()
    seats = story.seat_names()
    if not seats:
        raise ApiError(404, "no_seats", "This scenario has no human seats (or has not started)")
    state = app_state()
    passwords = [generated_password() for _ in seats]
    hashes = await hash_all(state, passwords)
    for username, password_hash in zip(seats, hashes, strict=True):
        await story.set_password(username, password_hash)
    return csv_response(
        to_csv(("username", "password"), list(zip(seats, passwords, strict=True))),
        "seat-logins.csv",
        201,
    )
