"""The exchange: supervision root, registry of account actors, and the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import msgspec
import trio

from exchange.account import (
    AccountContext,
    CancelOrder,
    ClaimRedPocket,
    Command,
    Deposit,
    GetBalance,
    GetHoldings,
    OrderEvent,
    PlaceOrder,
    Portfolio,
    Settle,
    Withdraw,
    serve_account,
)
from exchange.actor import Mailbox, Reply, open_mailbox
from exchange.audit import AuditEntry, audit_write, read_audit
from exchange.cash import Limits
from exchange.catalogue import load_catalogue
from exchange.classroom import Classroom
from exchange.clock import SECONDS_PER_DAY, Clock
from exchange.desk import MarketDesk
from exchange.errors import NotFound, Overloaded, Rejected, UnknownUser
from exchange.events import AccountEvents
from exchange.history import ValuePoint, value_history
from exchange.impact import PriceImpact
from exchange.ledger import find_mismatches, list_asset_entries, list_entries
from exchange.market import Market
from exchange.money import CENTS
from exchange.orders import Order, OrderRequest
from exchange.pricefeed import FeedSettings, PriceFeed
from exchange.pricemodel import Regime
from exchange.redpocket import Claim, load_red_pockets
from exchange.settings import Settings
from exchange.state import (
    ORDER_COLUMNS,
    AssetEntry,
    Balance,
    Entry,
    load_account,
    load_orders,
    order_from_row,
)
from exchange.store import Chain, Store, Write
from exchange.trading import Quote, Rules
from exchange.triggers import Fired, Triggers
from exchange.users import (
    Credentials,
    NewUser,
    Profile,
    load_credentials,
    load_profile,
    password_write,
    profile_write,
    register_write,
)


class Exchange:
    """The engine: start it with ``open_exchange`` (or ``nursery.start(exchange.run)``)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock(settings.start_epoch)
        self.assets = load_catalogue(settings.catalogue or None)
        self.red_pockets = load_red_pockets(
            settings.red_pockets or None, settings.red_pocket_default
        )
        self._accounts: dict[str, Mailbox[Command]] = {}
        self._feed: PriceFeed | None = None
        self._desk: MarketDesk | None = None
        self.triggers = Triggers(self._deliver)
        self._events: AccountEvents | None = None
        self._revoked: dict[str, int] = {}
        self._store: Store | None = None
        self._nursery: trio.Nursery | None = None
        self._context: AccountContext | None = None
        self._classroom: Classroom | None = None
        self._prices_at: tuple[int, dict[str, int]] = (-1, {})
        self.impact = PriceImpact()

    @property
    def store(self) -> Store:
        """The store; only valid while running."""
        assert self._store is not None, "the exchange is not running"
        return self._store

    @property
    def feed(self) -> PriceFeed:
        """The price feed; only valid while running."""
        assert self._feed is not None, "the exchange is not running"
        return self._feed

    @property
    def desk(self) -> MarketDesk:
        """Market control (pauses, halts, shocks, news, regimes); only valid while running."""
        assert self._desk is not None, "the exchange is not running"
        return self._desk

    @property
    def classroom(self) -> Classroom:
        """The classes of this market; only valid while running."""
        assert self._classroom is not None, "the exchange is not running"
        return self._classroom

    @property
    def events(self) -> AccountEvents:
        """The account event streams; only valid while running."""
        assert self._events is not None, "the exchange is not running"
        return self._events

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the store, start the price feed and supervise every actor until cancelled."""
        self.clock.anchor()
        settings = self.settings
        self._store = Store(settings.db, settings.synchronous, settings.store_inbox_size)
        self._events = AccountEvents(self._store)
        self._classroom = Classroom(self._store, self.clock, self.prices, self._call)
        self._classroom.load()
        self._context = AccountContext(
            store=self._store,
            clock=self.clock,
            limits=Limits(settings.daily_deposit_limit, settings.daily_withdraw_limit),
            rules=Rules(settings.max_order_value, settings.fee_bps),
            red_pockets=self.red_pockets,
            idle_seconds=settings.account_idle_seconds,
            quote=self.quote,
            arm=self.triggers.arm,
            disarm=self.triggers.disarm,
            publish=self._events.publish,
            retire=self._retire,
            class_info=self._classroom.info,
            categories={asset.asset_id: asset.category for asset in self.assets},
            standing=self._classroom.standing,
            filled=self._filled,
        )
        now = self.clock.now()
        self._revoked = dict(
            self._store.read(
                "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?", (int(now),)
            )
        )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._store.serve)
            self._feed = PriceFeed(
                self.assets,
                self._store,
                self.clock,
                FeedSettings(
                    seed=settings.seed,
                    tick_interval=settings.tick_interval,
                    history_days=settings.history_days,
                    frames_held=settings.frames_held,
                    write_ticks=settings.feed_write_ticks,
                    on_demand=settings.feed_on_demand,
                    driven=settings.feed_driven,
                ),
            )
            desk = self._desk = MarketDesk(self._store, self.clock, self._feed)
            desk.load()
            self._feed.steering = desk.plan
            self._feed.nudges = self.impact.moves
            self.triggers.model = self.impact.model_price
            self._feed.wanted = self.triggers.booked
            by_rank = [asset.asset_id for asset in self.assets]
            # Paused and halted assets do not trigger; resumed ones are checked at the next tick.
            self._feed.on_tick(
                lambda frame: self.triggers.on_tick(*desk.trigger_view(frame, by_rank))
            )
            for order in load_orders(self._store, "status = 'pending'", (), "ORDER BY seq"):
                self.triggers.arm(order)
            await nursery.start(self.triggers.serve)
            await nursery.start(self._feed.serve)
            await nursery.start(desk.serve)
            task_status.started()
            await trio.sleep_forever()

    # Market data

    def market(self, asset_id: str) -> Market:
        """The market of an asset (case-insensitive); ``NotFound`` if not in the catalogue."""
        market = self.feed.markets.get(asset_id.upper())
        if market is None:
            raise NotFound(f"Asset '{asset_id.upper()}' not found", "asset_not_found")
        return market

    def quote(self, asset_id: str) -> Quote:
        """An asset's price as of the latest tick; a 422 rejection for an unknown asset."""
        market = self.feed.markets.get(asset_id)
        if market is None:
            raise Rejected(f"Unknown asset '{asset_id}'", "unknown_asset")
        price = market.price
        return Quote(self.feed.seq, price, market.active, self.impact.model_price(asset_id, price))

    def prices(self) -> tuple[int, dict[str, int]]:
        """The latest tick's number and every asset's price at it (made once per tick)."""
        feed = self.feed
        if self._prices_at[0] != feed.seq:
            self._prices_at = (feed.seq, {a: m.price for a, m in feed.markets.items()})
        return self._prices_at

    def value_history(self, username: str, period: str) -> list[ValuePoint]:
        """The user's committed cash, holdings value and total over ``period`` (see PERIODS)."""
        return value_history(self.store, self.feed.markets, username, period, self.clock.now())

    def set_regime(self, regime: Regime) -> None:
        """Switch the market regime from the next tick on (unrecorded: the desk's is durable)."""
        self.feed.set_regime(regime)

    # Accounts

    def accounts_alive(self) -> int:
        """Account actors currently running."""
        return len(self._accounts)

    def _mailbox(self, username: str) -> Mailbox[Command]:
        mailbox = self._accounts.get(username)
        if mailbox is not None:
            return mailbox
        assert self._nursery is not None and self._context is not None
        state = load_account(self.store, username, self.clock.now_ms())
        if state is None:
            raise UnknownUser(f"User '{username}' not found")
        mailbox, inbox = open_mailbox(f"account {username}", self.settings.account_inbox_size)
        state.chain = Chain(lambda: _nudge(mailbox))
        self._accounts[username] = mailbox
        self._nursery.start_soon(serve_account, state, inbox, self._context)
        return mailbox

    def _retire(self, username: str) -> None:
        self._accounts.pop(username, None)

    async def _call(self, username: str, command: Command) -> Any:
        return await self._mailbox(username).call(command)

    async def deposit(self, username: str, cents: int, description: str | None = None) -> Entry:
        """Deposit cash (``description`` is the ledger row's text); answered after the commit."""
        entry: Entry = await self._call(username, Deposit(cents, description))
        return entry

    async def withdraw(self, username: str, cents: int, description: str | None = None) -> Entry:
        """Withdraw cash (``description`` is the ledger row's text); answered after the commit."""
        entry: Entry = await self._call(username, Withdraw(cents, description))
        return entry

    async def balance(self, username: str) -> Balance:
        """The user's cash balance."""
        balance: Balance = await self._call(username, GetBalance())
        return balance

    async def portfolio(self, username: str) -> Portfolio:
        """The user's cash and holdings in one snapshot."""
        portfolio: Portfolio = await self._call(username, GetHoldings())
        return portfolio

    async def claim_red_pocket(self, username: str, phrase: str) -> Claim:
        """Claim a red pocket; answered after its commit."""
        claim: Claim = await self._call(username, ClaimRedPocket(phrase))
        return claim

    # Orders

    async def place_order(self, username: str, request: OrderRequest) -> Order:
        """Place an order; answered after its commit (filled, resting or cancelled)."""
        self.desk.check_order(request.asset_id)
        now_ms = self.clock.now_ms()
        expires_at = request.expires_at
        if expires_at is not None and expires_at <= now_ms:
            raise Rejected("expires_at must be in the future", "invalid_expiry")
        if request.time_in_force == "day":
            day_end = (now_ms // (SECONDS_PER_DAY * 1000) + 1) * SECONDS_PER_DAY * 1000
            expires_at = day_end if expires_at is None else min(expires_at, day_end)
        request = msgspec.structs.replace(request, expires_at=expires_at)
        order: Order = await self._call(username, PlaceOrder(request))
        return order

    async def cancel_order(self, username: str, order_id: str) -> Order:
        """Cancel an open order; ``NotFound`` if not the user's, ``NotPending`` if closed."""
        self.order(username, order_id)
        order: Order = await self._call(username, CancelOrder(order_id))
        return order

    def order(self, username: str, order_id: str) -> Order:
        """One of the user's orders; ``NotFound`` for an unknown or another user's order."""
        found = load_orders(self.store, "order_id = ? AND username = ?", (order_id, username))
        if not found:
            raise NotFound(f"Order {order_id} not found", "order_not_found")
        return found[0]

    def orders(
        self,
        username: str,
        limit: int,
        offset: int,
        asset_id: str | None = None,
        order_type: str | None = None,
        status: str | None = None,
    ) -> tuple[list[Order], int]:
        """A page of the user's orders, newest first, and the total count."""
        filters = {
            "username": username,
            "asset_id": asset_id,
            "order_type": order_type,
            "status": status,
        }
        rows, total = self.store.page(ORDER_COLUMNS, "orders", filters, limit, offset)
        return [order_from_row(row) for row in rows], total

    def asset_transactions(
        self, username: str, asset_id: str, limit: int, offset: int
    ) -> tuple[list[AssetEntry], bool]:
        """A page of the user's trades in one asset, newest first, and whether more follow."""
        return list_asset_entries(self.store, username, asset_id, limit, offset)

    def held_since(self, username: str, asset_id: str) -> tuple[int, int] | None:
        """When the user's holding of an asset was created and last changed, if ever held."""
        row = self.store.read_one(
            "SELECT created_at, updated_at FROM holdings WHERE username = ? AND asset_id = ?",
            (username, asset_id),
        )
        return None if row is None else (int(row[0]), int(row[1]))

    async def _deliver(self, fired: Fired) -> None:
        command = OrderEvent(fired.kind, fired.order_id, fired.seq, fired.price, fired.model)
        await self._mailbox(fired.username).post(command, Reply())

    def _filled(self, order: Order) -> None:
        """A fill has committed: its signed USD value joins the asset's impact flow."""
        if self.impact.rules and order.total_amount:
            usd = order.total_amount / CENTS
            # At the fill's own time (the change's), whichever actor or tick made it.
            self.impact.record(
                order.asset_id, usd if order.is_buy else -usd, order.updated_at / 1000
            )

    def transactions(
        self, username: str, limit: int, offset: int, kind: str | None = None
    ) -> tuple[list[Entry], int]:
        """A page of the user's committed ledger, newest first, and the total count."""
        return list_entries(self.store, username, limit, offset, kind)

    # Users

    async def register(self, user: NewUser) -> None:
        """Create a user with a zero balance; ``UsernameTaken`` / ``EmailTaken`` on clashes."""
        await self.store.write(register_write(user, self.clock.now_ms()))

    def credentials(self, username: str) -> Credentials | None:
        """What login checks, or None for an unknown user."""
        return load_credentials(self.store, username)

    def profile(self, username: str) -> Profile:
        """The user's profile; ``UnknownUser`` if gone."""
        profile = load_profile(self.store, username)
        if profile is None:
            raise UnknownUser(f"User '{username}' not found")
        return profile

    async def update_profile(self, username: str, changes: dict[str, Any]) -> Profile:
        """Apply profile changes; ``EmailTaken`` when the new email belongs to someone else."""
        self.profile(username)
        await self.store.write(profile_write(username, changes, self.clock.now_ms()))
        return self.profile(username)

    async def set_password(self, username: str, password_hash: str) -> None:
        """Give a user a new password (already hashed); ``UnknownUser`` if there is none."""
        self.profile(username)
        await self.store.write(password_write(username, password_hash, self.clock.now_ms()))

    # Tokens

    async def revoke(self, jti: str, expires_at: int) -> None:
        """Refuse a token id from now until it expires; durable before returning."""
        now = int(self.clock.now())
        await self.store.write(
            Write(
                [
                    ("DELETE FROM revoked_tokens WHERE expires_at <= ?", (now,)),
                    (
                        "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
                        (jti, expires_at),
                    ),
                ]
            )
        )
        self._revoked[jti] = expires_at
        self.events.end_token(jti)

    def is_revoked(self, jti: str) -> bool:
        """True if the token id was revoked."""
        return jti in self._revoked

    # Audit

    async def audit(
        self, event: str, username: str | None, ip: str | None, detail: str = ""
    ) -> None:
        """Record a security event durably."""
        await self.store.write(audit_write(self.clock.now_ms(), event, username, ip, detail))

    def audit_log(
        self, limit: int, offset: int, event: str | None = None, username: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        """A page of the audit log, newest first, and the total count."""
        return read_audit(self.store, limit, offset, event, username)

    def mailbox_high_water(self) -> int:
        """The deepest any live account mailbox has been."""
        return max((mailbox.high_water for mailbox in self._accounts.values()), default=0)

    # Checks

    def verify(self) -> list[str]:
        """Every account whose balance disagrees with its ledger."""
        return find_mismatches(self.store.conn)


def _nudge(mailbox: Mailbox[Command]) -> None:
    """Wake an account actor whose write was refused, so that it reloads before anything else."""
    # A full inbox has commands queued already: the actor reloads before the first of them.
    with suppress(Overloaded):
        mailbox.post_nowait(Settle(), Reply())


@asynccontextmanager
async def open_exchange(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Exchange]:
    """Run an exchange for the duration of the block."""
    exchange = Exchange(settings, clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        try:
            yield exchange
        finally:
            nursery.cancel_scope.cancel()
