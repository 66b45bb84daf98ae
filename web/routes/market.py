"""Market control routes (roles teacher and admin) and the public list of headlines.

Every action runs at once, or at ``at`` (an ISO-8601 time on the exchange clock) when given;
each answers 201 with the stored action. Authentication (401) and the role (403) are checked
before the body is read; every body problem is one 422 listing each field.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import msgspec
from quart import Blueprint, Response, g
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.control import (
    ACTION_KINDS,
    REGIMES,
    Action,
    Halt,
    News,
    Pause,
    Resume,
    ResumeAsset,
    SetRegime,
    Shock,
)
from exchange.desk import STATUSES, ActionRecord, NewsItem
from web.admin import teacher_or_admin
from web.auth import current_claims
from web.body import BodyDecoder
from web.errors import field_error, invalid
from web.marketwire import (
    ActionListResponse,
    ActionResponse,
    HaltBody,
    HaltView,
    MarketStatusResponse,
    NewsBody,
    NewsListResponse,
    NewsResponse,
    PauseBody,
    RegimeBody,
    ResumeBody,
    ShockBody,
    ShockView,
    StopView,
)
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery
from web.reply import json_response
from web.routes.inventory import ASSET_ID, ASSET_PATH
from web.state import app_state
from web.validation import Rules

blueprint = Blueprint("market", __name__, url_prefix="/api/v1/market")
news_blueprint = Blueprint("news", __name__, url_prefix="/api/v1/news")

ACTIONS_LIMIT = IntQuery("limit", 50, 1, 500, "Actions per page")
NEWS_LIMIT = IntQuery("limit", 50, 1, 100, "Headlines per page")
OFFSET = IntQuery("offset", 0, 0, description="Rows to skip")
STATUS = ChoiceQuery("status", STATUSES, "Only actions in this status")
KIND = ChoiceQuery("kind", ACTION_KINDS, "Only actions of this kind")

ACTION_ID = re.compile(r"[A-Za-z0-9_-]{10,64}")
ACTION_PATH = {"action_id": ACTION_ID}
MAX_REASON = 200
MAX_HEADLINE = 200
MIN_PERCENT, MAX_PERCENT = -99.0, 1000.0
MAX_SPREAD_SECONDS = 86_400.0
MAX_DECAY_SECONDS = 7 * 86_400.0
# How far ahead an action may be scheduled: a school year.
MAX_AHEAD_MS = 366 * 86_400_000

_pause_body = BodyDecoder(PauseBody)
_resume_body = BodyDecoder(ResumeBody)
_halt_body = BodyDecoder(HaltBody)
_shock_body = BodyDecoder(ShockBody)
_news_body = BodyDecoder(NewsBody)
_regime_body = BodyDecoder(RegimeBody)


class _Fields(Rules):
    """The field rules of market bodies."""

    def text(self, name: str, value: str, limit: int) -> str:
        """Required free text: trimmed, not blank, at most ``limit`` characters, no markup."""
        if not self.no_markup(name, value):
            return value
        text = value.strip()
        if not text:
            self.fail(name, "Must not be empty or blank", "string_too_short")
        elif len(text) > limit:
            self.fail(name, f"Must be at most {limit} characters", "string_too_long")
        return text

    def optional_text(self, name: str, value: str | None, limit: int) -> str | None:
        """Optional free text; blank is none."""
        if value is None or not value.strip():
            return None
        return self.text(name, value, limit)

    def at(self, value: str | None, now_ms: int) -> int | None:
        """An ISO-8601 time with a zone, later than now and at most a year ahead."""
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail("at", "Must be an ISO-8601 time", "datetime_parsing")
            return None
        if moment.tzinfo is None:
            self.fail("at", "Must include a time zone (e.g. Z)", "timezone")
            return None
        run_at = round(moment.timestamp() * 1000)
        if run_at <= now_ms:
            self.fail("at", "Must be in the future on the exchange clock", "greater_than")
        elif run_at > now_ms + MAX_AHEAD_MS:
            self.fail("at", "Must be at most 366 days ahead", "less_than_equal")
        return run_at

    def number(self, name: str, value: float, low: float, high: float) -> float:
        """A finite number within ``[low, high]``."""
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(name, f"Must be between {low:g} and {high:g}", "range")
        return value

    def check(self) -> None:
        """Raise the 422 listing every problem found."""
        if self.errors:
            raise invalid(self.errors)


def _asset(asset_id: str) -> str:
    """A catalogue asset id from the path (422 malformed, 404 unknown)."""
    if not ASSET_ID.fullmatch(asset_id):
        message = "Must be 1-10 letters or digits"
        raise invalid([field_error(["path", "asset_id"], message, "string_pattern_mismatch")])
    return app_state().exchange.market(asset_id).asset.asset_id


def _action_view(record: ActionRecord) -> ActionResponse:
    params = msgspec.to_builtins(record.action)
    params.pop("type", None)
    return ActionResponse(
        action_id=record.action_id,
        kind=record.kind,
        status=record.status,
        params=params,
        run_at=None if record.run_at is None else iso_ms(record.run_at),
        created_by=record.created_by,
        created_at=iso_ms(record.created_at),
        applied_at=None if record.applied_at is None else iso_ms(record.applied_at),
        cancelled_by=record.cancelled_by,
        cancelled_at=None if record.cancelled_at is None else iso_ms(record.cancelled_at),
        failure=record.failure,
    )


def _news_view(item: NewsItem) -> NewsResponse:
    return NewsResponse(
        item.news_id, item.headline, item.kind, item.action_id, iso_ms(item.created_at)
    )


async def _submit(action: Action, run_at: int | None) -> Response:
    desk = app_state().exchange.desk
    record = await desk.submit(action, current_claims().sub, g.client_ip, run_at)
    return json_response(_action_view(record), 201)


def _now_ms() -> int:
    return app_state().exchange.clock.now_ms()


@blueprint.post("/pause")
@document_request(PauseBody)
@document_response(ActionResponse, 201)
@documented(busy=True, errors={409: ("market_already_paused",)})
@teacher_or_admin
async def pause() -> Response:
    """Pause the market: new orders get 409 ``market_paused``; cancels still work."""
    body = await _pause_body.read()
    fields = _Fields()
    reason = fields.text("reason", body.reason, MAX_REASON)
    headline = fields.optional_text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(Pause(reason, body.freeze_prices, headline), run_at)


@blueprint.post("/resume")
@document_request(ResumeBody)
@document_response(ActionResponse, 201)
@documented(busy=True, errors={409: ("market_not_paused",)})
@teacher_or_admin
async def resume() -> Response:
    """Resume the market; resting orders are checked against the next tick."""
    body = await _resume_body.read()
    fields = _Fields()
    headline = fields.optional_text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(Resume(headline), run_at)


@blueprint.post("/assets/<asset_id>/halt")
@document_request(HaltBody)
@document_response(ActionResponse, 201)
@documented(
    path=ASSET_PATH,
    busy=True,
    errors={404: ("asset_not_found",), 409: ("asset_already_halted", "asset_not_tradable")},
)
@teacher_or_admin
async def halt(asset_id: str) -> Response:
    """Halt one asset: its new orders get 409 ``asset_halted``; cancels still work."""
    asset = _asset(asset_id)
    body = await _halt_body.read()
    fields = _Fields()
    reason = fields.text("reason", body.reason, MAX_REASON)
    headline = fields.optional_text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(Halt(asset, reason, body.freeze_prices, headline), run_at)


@blueprint.post("/assets/<asset_id>/resume")
@document_request(ResumeBody)
@document_response(ActionResponse, 201)
@documented(
    path=ASSET_PATH,
    busy=True,
    errors={404: ("asset_not_found",), 409: ("asset_not_halted", "asset_not_tradable")},
)
@teacher_or_admin
async def resume_asset(asset_id: str) -> Response:
    """End an asset's halt; its resting orders are checked against the next tick."""
    asset = _asset(asset_id)
    body = await _resume_body.read()
    fields = _Fields()
    headline = fields.optional_text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(ResumeAsset(asset, headline), run_at)


@blueprint.post("/shock")
@document_request(ShockBody)
@document_response(ActionResponse, 201)
@documented(
    busy=True,
    errors={404: ("asset_not_found",), 409: ("asset_not_tradable", "category_not_tradable")},
)
@teacher_or_admin
async def shock() -> Response:
    """Move an asset, a category or every asset by a percentage, with a headline."""
    body = await _shock_body.read()
    exchange = app_state().exchange
    fields = _Fields()
    percent = fields.number("percent", body.percent, MIN_PERCENT, MAX_PERCENT)
    if percent == 0:
        fields.fail("percent", "Must not be 0", "range")
    headline = fields.text("headline", body.headline, MAX_HEADLINE)
    asset_id = None
    if body.asset_id is not None and body.category is not None:
        fields.fail("category", "Give asset_id or category, not both", "extra_forbidden")
    if body.asset_id is not None:
        if not ASSET_ID.fullmatch(body.asset_id):
            fields.fail("asset_id", "Must be 1-10 letters or digits", "string_pattern_mismatch")
        elif body.asset_id.upper() not in exchange.feed.markets:
            fields.fail("asset_id", f"Unknown asset '{body.asset_id.upper()}'", "unknown_asset")
        else:
            asset_id = body.asset_id.upper()
    categories = sorted({asset.category for asset in exchange.assets})
    if body.category is not None and body.category not in categories:
        fields.fail("category", f"Must be one of: {', '.join(categories)}", "enum")
    fields.number("spread_seconds", body.spread_seconds, 0, MAX_SPREAD_SECONDS)
    if body.decay_seconds is not None:
        fields.number("decay_seconds", body.decay_seconds, 0, MAX_DECAY_SECONDS)
        if body.decay_seconds == 0:
            fields.fail("decay_seconds", "Must be greater than 0 (or null: no decay)", "range")
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    action = Shock(
        percent, headline, asset_id, body.category, body.spread_seconds, body.decay_seconds
    )
    return await _submit(action, run_at)


@blueprint.post("/news")
@document_request(NewsBody)
@document_response(ActionResponse, 201)
@documented(busy=True)
@teacher_or_admin
async def news() -> Response:
    """Announce a headline to every client, with no price move."""
    body = await _news_body.read()
    fields = _Fields()
    headline = fields.text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(News(headline), run_at)


@blueprint.post("/regime")
@document_request(RegimeBody)
@document_response(ActionResponse, 201)
@documented(busy=True)
@teacher_or_admin
async def regime() -> Response:
    """Switch the market regime (calm, bull, bear, crash) from the next tick on."""
    body = await _regime_body.read()
    fields = _Fields()
    if body.regime not in REGIMES:
        fields.fail("regime", f"Must be one of: {', '.join(REGIMES)}", "enum")
    headline = fields.optional_text("headline", body.headline, MAX_HEADLINE)
    run_at = fields.at(body.at, _now_ms())
    fields.check()
    return await _submit(SetRegime(body.regime, headline), run_at)  # type: ignore[arg-type]


@blueprint.get("/status")
@document_response(MarketStatusResponse)
@documented()
@teacher_or_admin
async def status() -> Response:
    """The pause, halts, regime, shocks in progress and pending scheduled actions."""
    exchange = app_state().exchange
    desk = exchange.desk
    state = desk.state
    pause = state.pause
    ticked = exchange.feed.ticked_at
    shocks = [
        ShockView(
            d.action_id,
            list(d.assets),
            round(math.expm1(d.move) * 100, 6),
            iso_ms(round(d.start * 1000)),
            iso_ms(round(d.end * 1000)),
        )
        for d in state.drives
        if d.end > ticked or d.start >= ticked
    ]
    return json_response(
        MarketStatusResponse(
            paused=pause is not None,
            pause=None
            if pause is None
            else StopView(pause.reason, pause.freeze_prices, iso_ms(pause.since), pause.by),
            halts=[
                HaltView(h.reason, h.freeze_prices, iso_ms(h.since), h.by, asset_id)
                for asset_id, h in sorted(state.halts.items())
            ],
            regime=exchange.feed.regime.value,
            shocks=shocks,
            scheduled=[_action_view(r) for r in desk.scheduled()],
            tick_seq=exchange.feed.seq,
        )
    )


@blueprint.get("/actions")
@document_response(ActionListResponse)
@documented(query=(ACTIONS_LIMIT, OFFSET, STATUS, KIND))
@teacher_or_admin
async def list_actions() -> Response:
    """Every market action, newest first: filter by ``status`` and ``kind``."""
    limit = ACTIONS_LIMIT.read()
    offset = OFFSET.read()
    status = STATUS.read()
    kind = KIND.read()
    records, total = app_state().exchange.desk.actions(limit, offset, status, kind)
    rows = [_action_view(r) for r in records]
    return json_response(ActionListResponse(rows, total, offset + len(rows) < total))


@blueprint.get("/schedule")
@document_response(ActionListResponse)
@documented()
@teacher_or_admin
async def schedule() -> Response:
    """The scheduled actions still to run, soonest first."""
    rows = [_action_view(r) for r in app_state().exchange.desk.scheduled()]
    return json_response(ActionListResponse(rows, len(rows), False))


def _action_id(action_id: str) -> str:
    if not ACTION_ID.fullmatch(action_id):
        message = "Action id must be 10-64 letters, digits, '_' or '-'"
        raise invalid([field_error(["path", "action_id"], message, "string_pattern_mismatch")])
    return action_id


@blueprint.get("/actions/<action_id>")
@document_response(ActionResponse)
@documented(path=ACTION_PATH, errors={404: ("action_not_found",)})
@teacher_or_admin
async def get_action(action_id: str) -> Response:
    """One market action."""
    record = app_state().exchange.desk.action(_action_id(action_id))
    return json_response(_action_view(record))


@blueprint.delete("/actions/<action_id>")
@document_response(ActionResponse)
@documented(
    path=ACTION_PATH, busy=True, errors={404: ("action_not_found",), 409: ("action_not_scheduled",)}
)
@teacher_or_admin
async def cancel_action(action_id: str) -> Response:
    """Cancel a scheduled action before it runs; 409 ``action_not_scheduled`` after."""
    desk = app_state().exchange.desk
    record = await desk.cancel(_action_id(action_id), current_claims().sub, g.client_ip)
    return json_response(_action_view(record))


@news_blueprint.get("")
@document_response(NewsListResponse)
@documented(query=(NEWS_LIMIT, OFFSET))
async def list_news() -> Response:
    """Every headline, newest first (public, like prices)."""
    limit = NEWS_LIMIT.read()
    offset = OFFSET.read()
    items, total = app_state().exchange.desk.news(limit, offset)
    rows = [_news_view(item) for item in items]
    return json_response(NewsListResponse(rows, total, offset + len(rows) < total))
