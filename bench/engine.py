"""In-process engine benchmarks (no HTTP): orders through the actors and store, and tick cost.

Usage: ``python -m bench.engine [--users 100] [--orders 20000] [--resting 10000]``.

* Orders/s: ``--users`` accounts each place their share of ``--orders`` market orders, with
  ``--in-flight`` outstanding per user, through ``Exchange.place_order`` (account actor,
  trading logic, store group commit, events).
* Tick cost: ``--resting`` limit orders resting across the catalogue's assets, then the time of
  one price tick including the triggers' scan (median and max over ``--ticks`` ticks).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from exchange.engine import Exchange, open_exchange
from exchange.money import CENTS, QTY_SCALE
from exchange.orders import OrderRequest
from exchange.settings import Settings
from exchange.users import NewUser


async def _users(exchange: Exchange, count: int) -> list[str]:
    names = [f"bench_{i:05d}" for i in range(count)]
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(
                exchange.register, NewUser(name, f"{name}@example.com", "x", "B", "U")
            )
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(exchange.deposit, name, 10_000 * CENTS)
    return names


async def order_throughput(
    exchange: Exchange, users: list[str], orders: int, in_flight: int
) -> float:
    """Market orders per second through the actors and the store."""
    per_task = orders // (len(users) * in_flight)
    request = OrderRequest("market_buy", "XRP", QTY_SCALE)  # 1 XRP, a couple of dollars

    async def trader(name: str) -> None:
        for _ in range(per_task):
            await exchange.place_order(name, request)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for name in users:
            for _ in range(in_flight):
                nursery.start_soon(trader, name)
    return per_task * len(users) * in_flight / (time.perf_counter() - started)


async def tick_cost(exchange: Exchange, users: list[str], resting: int, ticks: int) -> list[float]:
    """Milliseconds per tick (model steps, candles, triggers scan) with resting orders."""
    assets = [a.asset_id for a in exchange.assets if a.model != "peg"][:100]
    async with trio.open_nursery() as nursery:
        for i in range(resting):
            asset = assets[i % len(assets)]
            price = exchange.market(asset).price
            # Far below the market, so they rest and keep resting: the scan is the cost.
            level = max(1, price // 2 - i)
            quantity = max(QTY_SCALE // 1000, 2 * CENTS * QTY_SCALE * 10**6 // level // 10**6)
            request = OrderRequest("limit_buy", asset, quantity, price=level)
            nursery.start_soon(exchange.place_order, users[i % len(users)], request)
    feed = exchange.feed
    costs = []
    for _ in range(ticks):
        started = time.perf_counter()
        feed.publish(feed.tick(exchange.clock.now(), 1.0))
        costs.append((time.perf_counter() - started) * 1000)
        await trio.lowlevel.checkpoint()
    return costs


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as workdir:
        settings = Settings(
            db=str(Path(workdir) / "bench.db"),
            history_days=0,
            tick_interval=3600.0,
            account_inbox_size=4096,
        )
        async with open_exchange(settings) as exchange:
            users = await _users(exchange, args.users)
            rate = await order_throughput(exchange, users, args.orders, args.in_flight)
            stats = exchange.store.stats
            print(
                f"orders/s through actors and store: {rate:,.0f} ({args.orders} orders, "
                f"{args.users} users x {args.in_flight} in flight)"
            )
            print(
                f"  store: {stats.commits} commits, {stats.writes} writes, "
                f"max batch {stats.max_batch}"
            )
            costs = await tick_cost(exchange, users, args.resting, args.ticks)
            print(
                f"tick with {len(exchange.triggers)} resting orders across 100 assets: "
                f"median {statistics.median(costs):.2f} ms, max {max(costs):.2f} ms "
                f"over {len(costs)} ticks"
            )
            problems = exchange.verify()
            print("verify:", "ok" if not problems else problems[:3])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the in-process benchmarks."""
    parser = argparse.ArgumentParser(prog="bench.engine", description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=1, help="concurrent orders per user")
    parser.add_argument("--resting", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=50)
    trio.run(run, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
