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

from web.admin import teacher_or_admin
from web.errors import ApiError
from web.marketwire import ScenarioStatusResponse
from web.openapi import documented
from web.reply import json_response

blueprint = Blueprint("scenario", __name__, url_prefix="/api/v1/scenario")
EXTENSION = "scenario"


class LiveStory(Protocol):
    """What the routes need of a live scenario; refusals are ``Conflict`` (409)."""

    def status(self) -> dict[str, Any]:
        """Where the story is."""

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


def _reply(story: LiveStory) -> Response:
    return json_response(msgspec.convert(story.status(), ScenarioStatusResponse))


def _control(action: Callable[[LiveStory], None]) -> Response:
    story = _story()
    action(story)
    return _reply(story)


@blueprint.get("")
@document_response(ScenarioStatusResponse)
@documented(errors={404: ("no_scenario",)})
@teacher_or_admin
async def status() -> Response:
    """The live scenario's progress: tick, events run, the next event."""
    return _reply(_story())


@blueprint.post("/pause")
@document_response(ScenarioStatusResponse)
@documented(
    body_required=False,
    errors={404: ("no_scenario",), 409: ("scenario_paused", "scenario_finished")},
)
@teacher_or_admin
async def pause() -> Response:
    """Hold the story: no events, no bot orders (the market itself is not paused)."""
    return _control(lambda story: story.pause())


@blueprint.post("/resume")
@document_response(ScenarioStatusResponse)
@documented(
    body_required=False,
    errors={404: ("no_scenario",), 409: ("scenario_not_paused", "scenario_finished")},
)
@teacher_or_admin
async def resume() -> Response:
    """Go on with a held story."""
    return _control(lambda story: story.resume())


@blueprint.post("/skip")
@document_response(ScenarioStatusResponse)
@documented(body_required=False, errors={404: ("no_scenario",), 409: ("scenario_finished",)})
@teacher_or_admin
async def skip() -> Response:
    """Jump the story to just before its next event, which runs at the next tick."""
    return _control(lambda story: story.skip())


@blueprint.post("/stop")
@document_response(ScenarioStatusResponse)
@documented(body_required=False, errors={404: ("no_scenario",), 409: ("scenario_finished",)})
@teacher_or_admin
async def stop() -> Response:
    """End the story; the exchange goes on serving."""
    return _control(lambda story: story.stop())
