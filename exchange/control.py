"""Market control decisions: pauses, halts, shocks, news and regimes, pure and synchronous.

An action is a tagged Struct. ``decide`` checks it against the current ``ControlState`` and
returns the next state (a rejection leaves the state alone); the market desk persists the
result and tells the price feed. The feed asks ``plan`` at every tick boundary which assets a
shock drives (by how much, in log price) and which are frozen, so every price move is a tick.

A shock of ``percent`` over ``spread`` seconds moves log price by ``ln(1 + percent / 100)``
linearly in time from the tick before it applied (a spread shorter than one tick is all done at
the first tick); with ``decay`` it then unwinds the same move linearly over ``decay`` seconds.
While a shock drives an asset, that asset's random step is suspended, so the price moves by
exactly the stated amount.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import msgspec

from exchange.errors import Conflict

REGIMES = ("calm", "bull", "bear", "crash")


class MarketPaused(Conflict):
    """The market is paused: no new orders (cancels still work)."""

    code = "market_paused"


class AssetHalted(Conflict):
    """Trading in this asset is halted: no new orders for it (cancels still work)."""

    code = "asset_halted"


# Actions: what a teacher or admin asks for. ``headline`` is shown to every client.


class Pause(msgspec.Struct, frozen=True, tag="pause", forbid_unknown_fields=True):
    """Refuse new orders and stop resting orders triggering; optionally freeze prices."""

    reason: str
    freeze_prices: bool = False
    headline: str | None = None


class Resume(msgspec.Struct, frozen=True, tag="resume", forbid_unknown_fields=True):
    """End a pause; resting orders are checked against the next tick."""

    headline: str | None = None


class Halt(msgspec.Struct, frozen=True, tag="halt", forbid_unknown_fields=True):
    """A pause of one asset."""

    asset_id: str
    reason: str
    freeze_prices: bool = False
    headline: str | None = None


class ResumeAsset(msgspec.Struct, frozen=True, tag="resume_asset", forbid_unknown_fields=True):
    """End an asset's halt."""

    asset_id: str
    headline: str | None = None


class Shock(msgspec.Struct, frozen=True, tag="shock", forbid_unknown_fields=True):
    """Move an asset, a category or (neither given) every asset by ``percent``."""

    percent: float
    headline: str
    asset_id: str | None = None
    category: str | None = None
    spread_seconds: float = 0.0
    decay_seconds: float | None = None


class News(msgspec.Struct, frozen=True, tag="news", forbid_unknown_fields=True):
    """A headline, no price move."""

    headline: str


class SetRegime(msgspec.Struct, frozen=True, tag="regime", forbid_unknown_fields=True):
    """Switch the market regime from the next tick on."""

    regime: Literal["calm", "bull", "bear", "crash"]
    headline: str | None = None


Action = Pause | Resume | Halt | ResumeAsset | Shock | News | SetRegime
ACTION_KINDS = ("pause", "resume", "halt", "resume_asset", "shock", "news", "regime")


def kind_of(action: Action) -> str:
    """The action's tag."""
    tag = type(action).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def headline_of(action: Action) -> str | None:
    """The headline an action announces, if any."""
    return action.headline


# State


class Stop(msgspec.Struct, frozen=True):
    """A pause of the market or a halt of one asset: why, whether prices freeze, who, when."""

    reason: str
    freeze_prices: bool
    since: int  # exchange clock, ms
    by: str


class Drive(msgspec.Struct, frozen=True):
    """A shock in progress: the assets it moves and its shape in time (exchange seconds)."""

    action_id: str
    assets: tuple[str, ...]
    move: float  # log-price move at full strength
    start: float  # the tick before the shock applied
    spread: float  # at least one tick: an instant shock is all done at the first tick
    decay: float | None

    @property
    def end(self) -> float:
        """When the shock has done all it will."""
        return self.start + self.spread + (self.decay or 0.0)

    def _elapsed(self, at: float) -> float:
        # Tick times are sums of floats: round off their last-bit noise so that a tick that
        # lands on a phase boundary counts as on it, not a hair before.
        return round(at - self.start, 6)

    def offset(self, at: float) -> float:
        """The log move this shock has made by time ``at``."""
        elapsed = self._elapsed(at)
        if elapsed <= 0:
            return 0.0
        total = self.move * min(1.0, elapsed / self.spread)
        if self.decay is not None and elapsed > self.spread:
            total -= self.move * min(1.0, (elapsed - self.spread) / self.decay)
        return total

    def drives(self, prev: float, at: float) -> bool:
        """True when the tick from ``prev`` to ``at`` falls within this shock."""
        span = self.spread + (self.decay or 0.0)
        return self._elapsed(at) > 0 and self._elapsed(prev) < span


class ControlState(msgspec.Struct, frozen=True):
    """The market's pause, its halts and its shocks in progress."""

    pause: Stop | None = None
    halts: dict[str, Stop] = {}
    drives: tuple[Drive, ...] = ()


class TickPlan(NamedTuple):
    """What the control layer asks of one tick: log moves of driven assets, frozen assets."""

    moves: dict[str, float]
    frozen: frozenset[str]
    freeze_all: bool = False

    def is_frozen(self, asset_id: str) -> bool:
        """True when the tick holds ``asset_id``'s price still (no random step)."""
        return self.freeze_all or asset_id in self.frozen


class Context(NamedTuple):
    """What a decision needs to know about the market and the moment."""

    assets: dict[str, str]  # asset id -> category, for every asset that trades
    now_ms: int
    ticked_at: float  # exchange time of the latest tick
    tick_interval: float
    by: str


class Decision(NamedTuple):
    """The next state, and the assets whose resting orders must be checked at the next tick."""

    state: ControlState
    recheck: frozenset[str]


def check_order(state: ControlState, asset_id: str) -> None:
    """Refuse a new order while the market is paused or its asset halted."""
    if state.pause is not None:
        raise MarketPaused(f"The market is paused: {state.pause.reason}")
    halt = state.halts.get(asset_id)
    if halt is not None:
        raise AssetHalted(f"Trading in {asset_id} is halted: {halt.reason}")


def triggers_stopped(state: ControlState, asset_id: str) -> bool:
    """True when resting orders in ``asset_id`` must not trigger now."""
    return state.pause is not None or asset_id in state.halts


def plan(state: ControlState, prev: float, at: float) -> TickPlan:
    """The moves and freezes of the tick from ``prev`` to ``at`` (exchange seconds)."""
    moves: dict[str, float] = {}
    for drive in state.drives:
        if not drive.drives(prev, at):
            continue
        step = drive.offset(at) - drive.offset(prev)
        for asset_id in drive.assets:
            moves[asset_id] = moves.get(asset_id, 0.0) + step
    frozen = frozenset(a for a, halt in state.halts.items() if halt.freeze_prices)
    freeze_all = state.pause is not None and state.pause.freeze_prices
    return TickPlan(moves, frozen, freeze_all)


def shock_targets(shock: Shock, assets: dict[str, str]) -> tuple[str, ...]:
    """The assets a shock moves, in catalogue order; a rejection for unknown targets."""
    if shock.asset_id is not None:
        if shock.asset_id not in assets:
            raise Conflict(f"Asset {shock.asset_id} does not trade", "asset_not_tradable")
        return (shock.asset_id,)
    if shock.category is not None:
        chosen = tuple(a for a, category in assets.items() if category == shock.category)
        if not chosen:
            raise Conflict(
                f"No trading asset in category {shock.category}", "category_not_tradable"
            )
        return chosen
    return tuple(assets)


def decide(state: ControlState, action: Action, action_id: str, ctx: Context) -> Decision:
    """Apply one action to the state, or raise the ``Conflict`` that refuses it."""
    none: frozenset[str] = frozenset()
    live = tuple(d for d in state.drives if d.end > ctx.ticked_at or d.start >= ctx.ticked_at)
    state = msgspec.structs.replace(state, drives=live)
    match action:
        case Pause(reason=reason, freeze_prices=freeze):
            if state.pause is not None:
                raise Conflict("The market is already paused", "market_already_paused")
            stop = Stop(reason, freeze, ctx.now_ms, ctx.by)
            return Decision(msgspec.structs.replace(state, pause=stop), none)
        case Resume():
            if state.pause is None:
                raise Conflict("The market is not paused", "market_not_paused")
            recheck = frozenset(a for a in ctx.assets if a not in state.halts)
            return Decision(msgspec.structs.replace(state, pause=None), recheck)
        case Halt(asset_id=asset_id, reason=reason, freeze_prices=freeze):
            if asset_id not in ctx.assets:
                raise Conflict(f"Asset {asset_id} does not trade", "asset_not_tradable")
            if asset_id in state.halts:
                raise Conflict(f"{asset_id} is already halted", "asset_already_halted")
            halts = {**state.halts, asset_id: Stop(reason, freeze, ctx.now_ms, ctx.by)}
            return Decision(msgspec.structs.replace(state, halts=halts), none)
        case ResumeAsset(asset_id=asset_id):
            if asset_id not in state.halts:
                raise Conflict(f"{asset_id} is not halted", "asset_not_halted")
            halts = {a: stop for a, stop in state.halts.items() if a != asset_id}
            recheck = none if state.pause is not None else frozenset([asset_id])
            return Decision(msgspec.structs.replace(state, halts=halts), recheck)
        case Shock():
            targets = shock_targets(action, ctx.assets)
            drive = Drive(
                action_id,
                targets,
                math.log1p(action.percent / 100),
                ctx.ticked_at,
                max(action.spread_seconds, ctx.tick_interval),
                action.decay_seconds,
            )
            return Decision(msgspec.structs.replace(state, drives=(*live, drive)), none)
        case News() | SetRegime():
            return Decision(state, none)
    raise AssertionError(f"unknown action {action!r}")
