"""A simulated day in virtual time: the feed, the desk, and bots trading through the engine.

Usage: ``python -m bench.day [--ticks 86400] [--bots 50] [--assets 112] [--profile]``.

Runs a scenario of ``--ticks`` one-second ticks over the first ``--assets`` catalogue assets
with ``--bots`` bots (noise, momentum, mean reversion, DCA, panic and a whale, in turn) on an
in-memory database under trio's MockClock, with a shock and news on the timeline. The last line
reads ``day: wall=<seconds>s ticks=<n> bots=<n> assets=<n> speedup=<simulated/wall>``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence

from exchange.catalogue import load_catalogue
from exchange.control import News, Shock
from exchange.money import CENTS
from scenarios.bots import BOT_KINDS
from scenarios.model import BotSpec, Event, Scenario
from scenarios.offline import run_offline

KINDS = ("noise", "momentum", "mean_reversion", "dca", "panic", "noise", "noise", "whale")


def _bot_params(kind: str, assets: tuple[str, ...], ticks: int) -> dict[str, object]:
    watched = list(assets[:3])
    shapes: dict[str, dict[str, object]] = {
        "noise": {"assets": watched, "rate": 0.002},
        "momentum": {"assets": watched, "lookback": "10m", "every": "5m"},
        "mean_reversion": {"assets": watched, "window": "30m", "every": "5m"},
        "dca": {"asset": assets[0], "every": "1h"},
        "panic": {"asset": assets[0], "drawdown": 3},
        "whale": {
            "orders": [
                {"at": ticks // 3, "side": "buy", "usd": 50_000, "asset": assets[1], "over": 60},
                {"at": 2 * ticks // 3, "side": "sell", "usd": 50_000, "asset": assets[1]},
            ]
        },
    }
    checked = BOT_KINDS[kind].check_params(shapes[kind], assets, float(ticks))
    assert not checked.problems, checked.problems
    return checked.values


def day(ticks: int, bots: int, assets: int) -> Scenario:
    """The benchmark's scenario."""
    chosen = tuple(a.asset_id for a in load_catalogue()[:assets])
    specs = []
    for number in range(bots):
        kind = KINDS[number % len(KINDS)]
        cash = 200_000 if kind == "whale" else 10_000
        params = _bot_params(kind, chosen, ticks)
        specs.append(BotSpec(kind, 1, cash * CENTS, f"b{number}", params))
    timeline = (
        Event(ticks * 0.25, "news", News("Midday: markets steady"), "news"),
        Event(ticks * 0.5, "shock", Shock(-10.0, "Sell-off", None, None, 60.0, 3600.0), "shock"),
    )
    return Scenario(
        name="bench-day",
        description="benchmark",
        duration=float(ticks),
        tick_interval=1.0,
        seed=7,
        starting_cash=10_000 * CENTS,
        assets=chosen,
        notes="",
        timeline=timeline,
        bots=tuple(specs),
        seats=0,
        fee_bps=10,
        max_order_value=10_000 * CENTS,
        impact={},
        source="bench",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the day and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.day", description=__doc__)
    parser.add_argument("--ticks", type=int, default=86_400)
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--assets", type=int, default=112)
    parser.add_argument("--profile", action="store_true", help="print the top costs")
    args = parser.parse_args(argv)
    scenario = day(args.ticks, args.bots, args.assets)
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profiler is not None:
        profiler.enable()
    result = run_offline(scenario)
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    orders = sum(p.orders for p in result.participants)
    verdict = "ok" if not result.problems else "FAIL"
    print(
        f"fills={len(result.fills)} orders={orders} verify={verdict} "
        f"ticks/s={args.ticks / wall:,.0f} ms/tick={wall * 1000 / args.ticks:.3f} "
        f"cpu={cpu:.2f}s (the machine is shared: cpu is what this process used)"
    )
    print(
        f"day: wall={wall:.2f}s ticks={args.ticks} bots={args.bots} assets={args.assets} "
        f"speedup={args.ticks / wall:.0f}"
    )
    return 0 if not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
