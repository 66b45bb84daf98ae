"""The market desk: runs, schedules, persists and announces market control actions.

Decisions are ``exchange.control``'s; this is their shell. An action runs at once or at a time
on the exchange clock (a scheduler task sleeps until the earliest one is due). Running it
decides the next control state synchronously, takes it into memory (so two actions never
decide against the same state), and writes the action's row, the new state, its headline and an
audit row in one transaction; the caller is answered after the commit, and a headline is
offered to every news subscriber then. The price feed reads the state at each tick boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import trio

from exchange.audit import audit_write
from exchange.clock import Clock
from exchange.control import (
    Action,
    Context,
    ControlState,
    SetRegime,
    TickPlan,
    check_order,
    decide,
    headline_of,
    kind_of,
    plan,
    triggers_stopped,
)
from exchange.errors import Conflict, DomainError, NotFound
from exchange.fanout import Fanout, Subscription
from exchange.ids import new_id
from exchange.pricefeed import Frame, PriceFeed
from exchange.pricemodel import Regime
from exchange.store import Statement, Store, Write

STATUSES = ("scheduled", "done", "cancelled", "failed")
# How long a due action waits before another try when the store refused its write.
RETRY_SECONDS = 1.0

_action_encoder = msgspec.json.Encoder()
_action_decoder = msgspec.json.Decoder(Action)
_state_decoder = msgspec.json.Decoder(ControlState)

_COLUMNS = (
    "seq, action_id, kind, params, status, run_at, created_by, created_at, applied_at, "
    "cancelled_by, cancelled_at, failure"
)
_SAVE_STATE = "INSERT OR REPLACE INTO market_state (id, state) VALUES (1, ?)"


class ActionRecord(msgspec.Struct, frozen=True):
    """One market action as stored: what, when it runs or ran, who asked, what became of it."""

    seq: int
    action_id: str
    kind: str
    action: Action
    status: str
    run_at: int | None  # ms; None for an action run at once
    created_by: str
    created_at: int
    applied_at: int | None
    cancelled_by: str | None
    cancelled_at: int | None
    failure: str | None


class NewsItem(msgspec.Struct, frozen=True):
    """A headline: from a news action or any other action that carried one."""

    seq: int
    news_id: str
    headline: str
    kind: str
    action_id: str | None
    created_at: int


def _record(row: tuple[Any, ...]) -> ActionRecord:
    (seq, action_id, kind, params, status, run_at, by, created_at, applied_at, *rest) = row
    cancelled_by, cancelled_at, failure = rest
    return ActionRecord(
        seq,
        action_id,
        kind,
        _action_decoder.decode(params),
        status,
        run_at,
        by,
        created_at,
        applied_at,
        cancelled_by,
        cancelled_at,
        failure,
    )


class MarketDesk:
    """The market's control state and the actions that change it."""

    def __init__(self, store: Store, clock: Clock, feed: PriceFeed) -> None:
        self.store = store
        self.clock = clock
        self.feed = feed
        self.state = ControlState()
        self._scheduled: dict[str, ActionRecord] = {}
        self._recheck: set[str] = set()
        self._wake = trio.Event()
        self._news: Fanout[NewsItem] = Fanout()
        self.applied = 0
        # The latest headline, for whoever shows only that one (a projector).
        self.latest_news: NewsItem | None = None

    # Start-up

    def load(self) -> None:
        """Continue from the database: the control state and every pending scheduled action."""
        row = self.store.read_one("SELECT state FROM market_state WHERE id = 1")
        if row is not None:
            self.state = _state_decoder.decode(row[0])
        for found in self.store.read(
            f"SELECT {_COLUMNS} FROM market_actions WHERE status = 'scheduled' ORDER BY seq"  # noqa: S608
        ):
            record = _record(found)
            self._scheduled[record.action_id] = record
        latest = self.store.read_one(
            "SELECT seq, news_id, headline, kind, action_id, created_at FROM news "
            "ORDER BY seq DESC LIMIT 1"
        )
        self.latest_news = None if latest is None else NewsItem(*latest)
        # Resting orders may have been crossed while the process was down: check them all.
        self._recheck = {a for a in self.feed.markets if not triggers_stopped(self.state, a)}

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run each scheduled action when the exchange clock reaches its time."""
        task_status.started()
        while True:
            self._wake = trio.Event()
            due = min(self._scheduled.values(), key=lambda r: (r.run_at or 0, r.seq), default=None)
            if due is None:
                await self._wake.wait()
                continue
            assert due.run_at is not None
            with trio.move_on_at(self.clock.trio_time(due.run_at / 1000)):
                await self._wake.wait()
                continue
            if self._scheduled.pop(due.action_id, None) is None:
                continue
            try:
                await self._run(due.action, due.action_id, due.created_by, None, due)
            except DomainError:
                # The store could not take it (overloaded, disk full): still due, try again.
                self._scheduled[due.action_id] = due
                await trio.sleep(RETRY_SECONDS)

    # Actions

    async def submit(
        self, action: Action, by: str, ip: str | None, run_at: int | None = None
    ) -> ActionRecord:
        """Run an action now, or schedule it for ``run_at`` (ms) when that is in the future."""
        now = self.clock.now_ms()
        if run_at is not None and run_at > now:
            return await self._schedule(action, by, ip, run_at)
        return await self._run(action, new_id(), by, ip, None)

    async def _schedule(self, action: Action, by: str, ip: str | None, run_at: int) -> ActionRecord:
        now = self.clock.now_ms()
        action_id = new_id()
        kind = kind_of(action)
        params = _action_encoder.encode(action).decode()
        statements: list[Statement] = [
            (
                "INSERT INTO market_actions (action_id, kind, params, status, run_at, created_by, "
                "created_at) VALUES (?, ?, ?, 'scheduled', ?, ?, ?)",
                (action_id, kind, params, run_at, by, now),
            ),
            *_audit(now, "market_action_scheduled", by, ip, f"{kind} {action_id} at {run_at}"),
        ]
        await self.store.write(Write(statements))
        record = self._stored(action_id)
        self._scheduled[action_id] = record
        self._wake.set()
        return record

    async def cancel(self, action_id: str, by: str, ip: str | None) -> ActionRecord:
        """Cancel a scheduled action before it runs."""
        record = self._scheduled.pop(action_id, None)
        if record is None:
            self._stored(action_id)
            raise Conflict(f"Action {action_id} is not scheduled", "action_not_scheduled")
        self._wake.set()
        now = self.clock.now_ms()
        statements: list[Statement] = [
            (
                "UPDATE market_actions SET status = 'cancelled', cancelled_by = ?, "
                "cancelled_at = ? WHERE action_id = ?",
                (by, now, action_id),
            ),
            *_audit(now, "market_action_cancelled", by, ip, f"{record.kind} {action_id}"),
        ]
        try:
            await self.store.write(Write(statements))
        except DomainError:
            self._scheduled[action_id] = record
            self._wake.set()
            raise
        return self._stored(action_id)

    async def _run(
        self,
        action: Action,
        action_id: str,
        by: str,
        ip: str | None,
        scheduled: ActionRecord | None,
    ) -> ActionRecord:
        now = self.clock.now_ms()
        if scheduled is not None and scheduled.run_at is not None:
            # Woken at its time; the float clock may read a millisecond early.
            now = max(now, scheduled.run_at)
        kind = kind_of(action)
        before = self.state
        context = Context(
            self._tradable(), now, self.feed.ticked_at, self.feed.settings.tick_interval, by
        )
        try:
            decision = decide(before, action, action_id, context)
        except Conflict as refusal:
            if scheduled is None:
                raise
            # A scheduled action that no longer applies is kept, marked failed, with why.
            await self.store.write(
                Write(
                    [
                        (
                            "UPDATE market_actions SET status = 'failed', applied_at = ?, "
                            "failure = ? WHERE action_id = ?",
                            (now, refusal.message, action_id),
                        ),
                        *_audit(now, "market_action_failed", by, None, f"{kind} {action_id}"),
                    ]
                )
            )
            return self._stored(action_id)
        self.state = decision.state
        self._recheck |= decision.recheck
        regime_before = self.feed.regime
        if isinstance(action, SetRegime):
            self.feed.set_regime(Regime(action.regime))
        headline = headline_of(action)
        news = None
        statements: list[Statement] = []
        if scheduled is None:
            statements.append(
                (
                    "INSERT INTO market_actions (action_id, kind, params, status, created_by, "
                    "created_at, applied_at) VALUES (?, ?, ?, 'done', ?, ?, ?)",
                    (action_id, kind, _action_encoder.encode(action).decode(), by, now, now),
                )
            )
        else:
            statements.append(
                (
                    "UPDATE market_actions SET status = 'done', applied_at = ? WHERE action_id = ?",
                    (now, action_id),
                )
            )
        statements.append((_SAVE_STATE, (_action_encoder.encode(decision.state).decode(),)))
        if headline:
            news_id = new_id()
            statements.append(
                (
                    "INSERT INTO news (news_id, headline, kind, action_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (news_id, headline, kind, action_id, now),
                )
            )
            news = news_id
        statements.extend(_audit(now, "market_action", by, ip, f"{kind} {action_id}"))
        try:
            await self.store.write(Write(statements))
        except DomainError:
            # Not durable, so not done: take the change back unless a later action built on it.
            if self.state is decision.state:
                self.state = before
                self.feed.set_regime(regime_before)
            raise
        self.applied += 1
        if news is not None:
            item = self._news_item(news)
            if item is not None:
                self.latest_news = item
                self._news.publish(item)
        return self._stored(action_id)

    def _stored(self, action_id: str) -> ActionRecord:
        row = self.store.read_one(
            f"SELECT {_COLUMNS} FROM market_actions WHERE action_id = ?",  # noqa: S608
            (action_id,),
        )
        if row is None:
            raise NotFound(f"Action {action_id} not found", "action_not_found")
        return _record(row)

    def _news_item(self, news_id: str) -> NewsItem | None:
        row = self.store.read_one(
            "SELECT seq, news_id, headline, kind, action_id, created_at FROM news "
            "WHERE news_id = ?",
            (news_id,),
        )
        return None if row is None else NewsItem(*row)

    def _tradable(self) -> dict[str, str]:
        return {a: m.asset.category for a, m in self.feed.markets.items() if m.active}

    # Reads

    def action(self, action_id: str) -> ActionRecord:
        """One action; ``NotFound`` if unknown."""
        return self._stored(action_id)

    def actions(
        self, limit: int, offset: int, status: str | None = None, kind: str | None = None
    ) -> tuple[list[ActionRecord], int]:
        """A page of actions, newest first, and the total count."""
        rows, total = self.store.page(
            _COLUMNS, "market_actions", {"status": status, "kind": kind}, limit, offset
        )
        return [_record(row) for row in rows], total

    def scheduled(self) -> list[ActionRecord]:
        """The pending scheduled actions, soonest first."""
        return sorted(self._scheduled.values(), key=lambda r: (r.run_at or 0, r.seq))

    def news(self, limit: int, offset: int) -> tuple[list[NewsItem], int]:
        """A page of headlines, newest first, and the total count."""
        rows, total = self.store.page(
            "seq, news_id, headline, kind, action_id, created_at", "news", {}, limit, offset
        )
        return [NewsItem(*row) for row in rows], total

    def subscribe_news(self, size: int) -> Subscription[NewsItem]:
        """A subscription to every following headline."""
        return self._news.subscribe(size)

    def unsubscribe_news(self, subscription: Subscription[NewsItem]) -> None:
        """Stop sending headlines to a subscription."""
        self._news.unsubscribe(subscription)

    # Hooks of the order path and the price feed

    def check_order(self, asset_id: str) -> None:
        """Refuse a new order while the market is paused or the asset halted (409)."""
        check_order(self.state, asset_id)

    def plan(self, prev: float, at: float) -> TickPlan:
        """The shocks and freezes of the tick from ``prev`` to ``at``."""
        return plan(self.state, prev, at)

    def trigger_view(self, frame: Frame, order: Iterable[str]) -> tuple[Frame, list[str]]:
        """What the triggers see of a tick: the assets that may trigger, and their prices.

        Paused or halted assets are left out. An asset resumed since the last tick is checked
        at its current price even when the tick did not change it.
        """
        state = self.state
        if state.pause is None and not state.halts:
            tradable = order if isinstance(order, list) else list(order)
        else:
            tradable = [a for a in order if not triggers_stopped(state, a)]
        recheck, self._recheck = self._recheck, set()
        recheck.intersection_update(tradable)
        if not recheck:
            return frame, tradable
        prices = {a: self.feed.markets[a].price for a in recheck if self.feed.markets[a].active}
        prices.update(frame.prices)
        return Frame(frame.seq, frame.time, prices), tradable


def _audit(now: int, event: str, by: str, ip: str | None, detail: str) -> list[Statement]:
    return list(audit_write(now, event, by, ip, detail).statements)
