"""Account actors through the engine: limits, concurrency, idling, durability."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from exchange.engine import Exchange, open_exchange
from exchange.errors import DailyLimitExceeded, InsufficientFunds, Overloaded, UnknownUser
from exchange.users import NewUser
from tests.conftest import engine_settings

DOLLAR = 100
# 2026-03-14T23:59:00Z: one minute before a UTC midnight.
BEFORE_MIDNIGHT = 1_773_532_740.0


async def add_user(exchange: Exchange, username: str) -> None:
    await exchange.register(NewUser(username, f"{username}@example.com", "x", "A", "B"))


async def test_deposit_and_withdraw_move_cash_and_ledger(exchange: Exchange) -> None:
    await add_user(exchange, "alice_01")
    entry = await exchange.deposit("alice_01", 150 * DOLLAR)
    assert (entry.amount, entry.balance_after, entry.transaction_type) == (15000, 15000, "deposit")
    entry = await exchange.withdraw("alice_01", 20 * DOLLAR)
    assert (entry.amount, entry.balance_after) == (-2000, 13000)
    assert (await exchange.balance("alice_01")).cash == 13000
    entries, total = exchange.transactions("alice_01", 10, 0)
    assert total == 2
    assert [e.transaction_type for e in entries] == ["withdraw", "deposit"]
    assert exchange.verify() == []


async def test_rejections_change_nothing(exchange: Exchange) -> None:
    await add_user(exchange, "alice_01")
    await exchange.deposit("alice_01", 10 * DOLLAR)
    with pytest.raises(InsufficientFunds, match=r"available \$10.00, requested \$10.01"):
        await exchange.withdraw("alice_01", 10 * DOLLAR + 1)
    with pytest.raises(UnknownUser):
        await exchange.deposit("nobody_here", DOLLAR)
    assert (await exchange.balance("alice_01")).cash == 10 * DOLLAR
    assert exchange.transactions("alice_01", 10, 0)[1] == 1


async def test_daily_limits_state_limit_used_and_requested(exchange: Exchange) -> None:
    await add_user(exchange, "alice_01")
    await exchange.deposit("alice_01", 9_000 * DOLLAR)
    with pytest.raises(DailyLimitExceeded) as caught:
        await exchange.deposit("alice_01", 1_000 * DOLLAR + 1)
    assert caught.value.message == (
        "Daily deposit limit exceeded: limit $10000.00, used today $9000.00, requested $1000.01"
    )
    await exchange.deposit("alice_01", 1_000 * DOLLAR)
    await exchange.withdraw("alice_01", 5_000 * DOLLAR)
    with pytest.raises(DailyLimitExceeded, match="withdrawal limit"):
        await exchange.withdraw("alice_01", 1)


async def test_daily_limits_roll_over_at_utc_midnight(
    tmp_path: Path, autojump_clock: object
) -> None:
    settings = engine_settings(tmp_path, start_epoch=BEFORE_MIDNIGHT)
    async with open_exchange(settings) as exchange:
        await add_user(exchange, "alice_01")
        await exchange.deposit("alice_01", 10_000 * DOLLAR)
        await exchange.withdraw("alice_01", 5_000 * DOLLAR)
        await trio.sleep(59.9)
        with pytest.raises(DailyLimitExceeded):
            await exchange.deposit("alice_01", 1)
        with pytest.raises(DailyLimitExceeded):
            await exchange.withdraw("alice_01", 1)
        await trio.sleep(0.1)
        assert exchange.clock.now() == pytest.approx(BEFORE_MIDNIGHT + 60)
        await exchange.deposit("alice_01", 10_000 * DOLLAR)
        await exchange.withdraw("alice_01", 5_000 * DOLLAR)
        assert (await exchange.balance("alice_01")).cash == 10_000 * DOLLAR


async def test_daily_totals_survive_a_restart(tmp_path: Path) -> None:
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        await add_user(exchange, "alice_01")
        await exchange.deposit("alice_01", 9_000 * DOLLAR)
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        with pytest.raises(DailyLimitExceeded, match=r"used today \$9000.00"):
            await exchange.deposit("alice_01", 1_001 * DOLLAR)
        assert (await exchange.balance("alice_01")).cash == 9_000 * DOLLAR


async def test_a_second_exchange_sees_everything_acknowledged(tmp_path: Path) -> None:
    acknowledged = 0
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        await add_user(exchange, "alice_01")
        async with trio.open_nursery() as nursery:
            for cents in range(1, 101):

                async def one(amount: int = cents) -> None:
                    nonlocal acknowledged
                    await exchange.deposit("alice_01", amount)
                    acknowledged += amount

                nursery.start_soon(one)
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        assert (await exchange.balance("alice_01")).cash == acknowledged == 5050
        assert exchange.transactions("alice_01", 1, 0)[1] == 100
        assert exchange.verify() == []


async def test_concurrent_deposits_and_withdrawals_end_exact(tmp_path: Path) -> None:
    users = [f"user_{i:03d}" for i in range(4)]
    done: dict[str, int] = dict.fromkeys(users, 0)
    refused = 0
    settings = engine_settings(tmp_path, account_inbox_size=1024)
    async with open_exchange(settings) as exchange:
        for user in users:
            await add_user(exchange, user)

        async def deposit(user: str) -> None:
            await exchange.deposit(user, 3 * DOLLAR)
            done[user] += 3 * DOLLAR

        async def withdraw(user: str) -> None:
            nonlocal refused
            try:
                await exchange.withdraw(user, 2 * DOLLAR)
                done[user] -= 2 * DOLLAR
            except InsufficientFunds:
                refused += 1

        async with trio.open_nursery() as nursery:
            for round_ in range(150):
                for user in users:
                    nursery.start_soon(deposit, user)
                    if round_ % 2:
                        nursery.start_soon(withdraw, user)
        for user in users:
            assert (await exchange.balance(user)).cash == done[user]
        rows = sum(exchange.transactions(user, 1, 0)[1] for user in users)
        assert rows == 4 * 150 + 4 * 75 - refused
        assert exchange.verify() == []
        assert exchange.store.stats.commits < exchange.store.stats.writes


async def test_a_full_mailbox_answers_overloaded(tmp_path: Path) -> None:
    async with open_exchange(engine_settings(tmp_path, account_inbox_size=4)) as exchange:
        await add_user(exchange, "alice_01")
        outcomes: list[str] = []

        async def deposit() -> None:
            try:
                await exchange.deposit("alice_01", DOLLAR)
                outcomes.append("ok")
            except Overloaded:
                outcomes.append("busy")

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(deposit)
        assert outcomes.count("busy") == 6
        assert (await exchange.balance("alice_01")).cash == outcomes.count("ok") * DOLLAR
        assert exchange.verify() == []


async def test_idle_actors_stop_and_reload(tmp_path: Path, autojump_clock: object) -> None:
    settings = engine_settings(tmp_path, account_idle_seconds=30.0)
    async with open_exchange(settings) as exchange:
        await add_user(exchange, "alice_01")
        assert exchange.accounts_alive() == 0
        await exchange.deposit("alice_01", DOLLAR)
        assert exchange.accounts_alive() == 1
        await trio.sleep(29)
        assert exchange.accounts_alive() == 1
        await exchange.deposit("alice_01", DOLLAR)
        await trio.sleep(29)
        assert exchange.accounts_alive() == 1
        await trio.sleep(2)
        assert exchange.accounts_alive() == 0
        await exchange.deposit("alice_01", DOLLAR)
        assert exchange.accounts_alive() == 1
        assert (await exchange.balance("alice_01")).cash == 3 * DOLLAR
