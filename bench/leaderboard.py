"""Leaderboard upkeep per tick for a large class, through the real engine.

Usage: ``python -m bench.leaderboard [--students 1000] [--holdings 5] [--ticks 200]``.

Builds a class of ``--students`` students (registered, joined and trading through their
account actors) who each buy ``--holdings`` assets, then lets the price feed tick and, after
every tick, computes the class's ranking at the new prices, as a live projector would force.
Reports the median, 99th percentile and maximum cost of that per-tick upkeep, and of one
committed position change reaching the board.
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

from exchange.classes import ClassRules
from exchange.engine import Exchange, open_exchange
from exchange.money import CENTS, QTY_SCALE
from exchange.orders import OrderRequest
from exchange.settings import Settings
from exchange.users import NewUser


async def _class(exchange: Exchange, students: int, holdings: int) -> str:
    classroom = exchange.classroom
    rules = ClassRules(starting_cash=100_000 * CENTS, orders_per_minute=600)
    info = await classroom.create("bench_teacher", "Bench class", rules)
    info = await classroom.set_status(info, "open", "bench_teacher")
    assets = [a.asset_id for a in exchange.assets if a.category != "stablecoin"][:holdings]
    names = [f"bench_{i:05d}" for i in range(students)]

    async def enrol(name: str) -> None:
        await exchange.register(NewUser(name, f"{name}@example.com", "x", "B", "U"))
        await classroom.join(name, info)
        for asset_id in assets:
            price = exchange.quote(asset_id).price
            # About $1,000 of each asset.
            quantity = 1_000 * CENTS * QTY_SCALE * 10**6 // price
            request = OrderRequest("market_buy", asset_id, max(quantity, QTY_SCALE // 1000))
            await exchange.place_order(name, request)

    limit = trio.CapacityLimiter(50)

    async def limited(name: str) -> None:
        async with limit:
            await enrol(name)

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(limited, name)
    return info.class_id


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            db=str(Path(directory) / "bench.db"),
            history_days=0,
            tick_interval=args.tick_interval,
            max_order_value=10**9 * CENTS,
            daily_deposit_limit=10**9 * CENTS,
        )
        async with open_exchange(settings) as exchange:
            await exchange.register(
                NewUser("bench_teacher", "t@example.com", "x", "T", "T", role="teacher")
            )
            started = time.perf_counter()
            class_id = await _class(exchange, args.students, args.holdings)
            setup = time.perf_counter() - started
            classroom = exchange.classroom
            board = classroom.leaderboard(class_id)
            positions = classroom.board(class_id).positions
            held = sum(len(p.assets) for p in positions.values())
            costs: list[float] = []
            reads: list[float] = []
            walls: list[float] = []
            ticked = trio.Event()

            def on_tick(_frame: object) -> None:
                ticked.set()

            exchange.feed.on_tick(on_tick)
            while len(costs) < args.ticks:
                await ticked.wait()
                ticked = trio.Event()
                # CPU time of this thread: on a shared machine, wall time also counts the
                # moments another process had the core.
                begin, wall = time.thread_time(), time.perf_counter()
                seq_now, prices = exchange.prices()
                classroom.board(class_id).order(seq_now, prices)
                middle = time.thread_time()
                walls.append(time.perf_counter() - wall)
                board = classroom.leaderboard(class_id)
                costs.append(middle - begin)
                reads.append(time.thread_time() - middle)
            update_costs = []
            username, position = next(iter(positions.items()))
            for _ in range(10_000):
                begin = time.perf_counter()
                classroom.standing(class_id, username, position)
                update_costs.append(time.perf_counter() - begin)
    costs.sort()
    reads.sort()
    walls.sort()
    update_costs.sort()
    ms = 1000.0
    print(f"students {len(board)}, holdings {held}, setup {setup:.1f} s, ticks {len(costs)}")
    print(
        f"upkeep per tick (totals and ranks), CPU: median {statistics.median(costs) * ms:.3f} ms, "
        f"p99 {_p99(costs) * ms:.3f} ms, max {costs[-1] * ms:.3f} ms"
    )
    print(
        f"upkeep per tick, wall clock: median {statistics.median(walls) * ms:.3f} ms, "
        f"p99 {_p99(walls) * ms:.3f} ms"
    )
    print(
        f"full ranking rows (a read of every row): median {statistics.median(reads) * ms:.3f} ms, "
        f"p99 {_p99(reads) * ms:.3f} ms (CPU)"
    )
    print(f"position update: median {statistics.median(update_costs) * 1e6:.2f} us")


def _p99(values: list[float]) -> float:
    return values[max(0, int(len(values) * 0.99) - 1)]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--holdings", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--tick-interval", type=float, default=0.05)
    args = parser.parse_args(argv)
    trio.run(_run, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
