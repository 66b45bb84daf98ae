"""Wire types of market control and headlines (msgspec Structs), to decode and to document."""

from __future__ import annotations

from typing import Any

import msgspec


class PauseBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/pause. ``at``: an ISO-8601 time to schedule it for."""

    reason: str
    freeze_prices: bool = False
    headline: str | None = None
    at: str | None = None


class ResumeBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/resume and /market/assets/{asset_id}/resume (``{}`` is fine)."""

    headline: str | None = None
    at: str | None = None


class HaltBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/assets/{asset_id}/halt."""

    reason: str
    freeze_prices: bool = False
    headline: str | None = None
    at: str | None = None


class ShockBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/shock: ``asset_id`` or ``category`` (neither: every asset)."""

    percent: float
    headline: str
    asset_id: str | None = None
    category: str | None = None
    spread_seconds: float = 0.0
    decay_seconds: float | None = None
    at: str | None = None


class NewsBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/news."""

    headline: str
    at: str | None = None


class RegimeBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /market/regime: calm, bull, bear or crash."""

    regime: str
    headline: str | None = None
    at: str | None = None


class ActionResponse(msgspec.Struct):
    """One market action: what, when it runs or ran, who asked, and what became of it."""

    action_id: str
    kind: str
    status: str
    params: dict[str, Any]
    run_at: str | None
    created_by: str
    created_at: str
    applied_at: str | None
    cancelled_by: str | None
    cancelled_at: str | None
    failure: str | None


class ActionListResponse(msgspec.Struct):
    """A page of market actions."""

    data: list[ActionResponse]
    total_count: int
    has_more: bool


class StopView(msgspec.Struct):
    """A pause or a halt: why, whether prices are frozen, since when and by whom."""

    reason: str
    freeze_prices: bool
    since: str
    by: str


class HaltView(StopView):
    """A halted asset."""

    asset_id: str


class ShockView(msgspec.Struct):
    """A shock still moving prices."""

    action_id: str
    assets: list[str]
    percent: float
    starts_at: str
    ends_at: str


class MarketStatusResponse(msgspec.Struct):
    """The market's control state now."""

    paused: bool
    pause: StopView | None
    halts: list[HaltView]
    regime: str
    shocks: list[ShockView]
    scheduled: list[ActionResponse]
    tick_seq: int


class NewsResponse(msgspec.Struct):
    """One headline; ``source`` is the kind of action that announced it (news, shock, ...)."""

    news_id: str
    headline: str
    source: str
    action_id: str | None
    time: str


class NewsListResponse(msgspec.Struct):
    """A page of headlines, newest first."""

    data: list[NewsResponse]
    total_count: int
    has_more: bool


# The live scenario (web/routes/scenario.py)


class NextEvent(msgspec.Struct):
    """The next timeline entry: its offset from the start and what it is."""

    at_s: float
    label: str


class StoryEvent(msgspec.Struct):
    """A timeline entry that has run: at which tick, and what became of it."""

    tick: int
    at_s: float
    kind: str
    status: str
    detail: str


class StandingLine(msgspec.Struct):
    """One participant of a live story, ranked by equity (cash and holdings now, USD)."""

    rank: int
    participant: str
    label: str
    kind: str  # bot:<kind>, strategy or seat
    equity: float
    return_pct: float


class ScenarioStatusResponse(msgspec.Struct):
    """The live scenario: its state, progress, what ran and what comes next."""

    name: str
    state: str
    speed: float
    tick: int
    ticks: int
    elapsed_s: float
    duration_s: float
    next_event: NextEvent | None
    events: list[StoryEvent]
    bots: int
    seats: int
    standings: list[StandingLine]
