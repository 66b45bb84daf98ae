"""The exchange: supervision root, registry of account actors, and the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from exchange.account import (
    AccountContext,
    Balance,
    Command,
    Deposit,
    Entry,
    GetBalance,
    Limits,
    Withdraw,
    load_account,
    serve_account,
)
from exchange.actor import Mailbox, open_mailbox
from exchange.catalogue import load_catalogue
from exchange.clock import Clock
from exchange.errors import NotFound, UnknownUser
from exchange.ledger import find_mismatches, list_entries
from exchange.market import Market
from exchange.pricefeed import FeedSettings, PriceFeed
from exchange.pricemodel import Regime
from exchange.settings import Settings
from exchange.store import Store, Write
from exchange.users import (
    Credentials,
    NewUser,
    Profile,
    load_credentials,
    load_profile,
    profile_write,
    register_write,
)


class Exchange:
    """The engine: start it with ``open_exchange`` (or ``nursery.start(exchange.run)``)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock(settings.start_epoch)
        self.assets = load_catalogue(settings.catalogue or None)
        self._accounts: dict[str, Mailbox[Command]] = {}
        self._feed: PriceFeed | None = None
        self._revoked: dict[str, int] = {}
        self._store: Store | None = None
        self._nursery: trio.Nursery | None = None
        self._context: AccountContext | None = None

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

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the store, start the price feed and supervise every actor until cancelled."""
        self.clock.anchor()
        settings = self.settings
        self._store = Store(settings.db, settings.synchronous, settings.store_inbox_size)
        self._context = AccountContext(
            store=self._store,
            clock=self.clock,
            limits=Limits(settings.daily_deposit_limit, settings.daily_withdraw_limit),
            idle_seconds=settings.account_idle_seconds,
            retire=self._retire,
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
                ),
            )
            await nursery.start(self._feed.serve)
            task_status.started()
            await trio.sleep_forever()

    # Market data

    def market(self, asset_id: str) -> Market:
        """The market of an asset (case-insensitive); ``NotFound`` if not in the catalogue."""
        market = self.feed.markets.get(asset_id.upper())
        if market is None:
            raise NotFound(f"Asset '{asset_id.upper()}' not found", "asset_not_found")
        return market

    def set_regime(self, regime: Regime) -> None:
        """Switch the market regime from the next tick on."""
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
        self._accounts[username] = mailbox
        self._nursery.start_soon(serve_account, state, inbox, self._context)
        return mailbox

    def _retire(self, username: str) -> None:
        self._accounts.pop(username, None)

    async def _call(self, username: str, command: Command) -> Any:
        return await self._mailbox(username).call(command)

    async def deposit(self, username: str, cents: int) -> Entry:
        """Deposit cash; answered after the commit."""
        entry: Entry = await self._call(username, Deposit(cents))
        return entry

    async def withdraw(self, username: str, cents: int) -> Entry:
        """Withdraw cash; answered after the commit."""
        entry: Entry = await self._call(username, Withdraw(cents))
        return entry

    async def balance(self, username: str) -> Balance:
        """The user's cash balance."""
        balance: Balance = await self._call(username, GetBalance())
        return balance

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

    def is_revoked(self, jti: str) -> bool:
        """True if the token id was revoked."""
        return jti in self._revoked

    # Checks

    def verify(self) -> list[str]:
        """Every account whose balance disagrees with its ledger."""
        return find_mismatches(self.store.conn)


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
