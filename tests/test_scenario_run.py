"""Scenario runs: each event's effect on the next tick, strategies, impact, reports, verify."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import trio

from exchange.engine import Exchange
from exchange.pricemodel import Regime
from scenarios.loader import load_text
from scenarios.model import Scenario
from scenarios.offline import in_play, run_settings, running
from scenarios.report import EVENT_COLUMNS, LEADERBOARD_COLUMNS, TRADE_COLUMNS
from scenarios.runner import Runner, RunResult
from scenarios.strategy import (
    Base,
    Buy,
    Cancel,
    Request,
    Sell,
    Strategy,
    StrategyLoadError,
    View,
    load_strategy,
)
from web.cli import main, verify

HEAD = """
name = "t"
description = "d"
notes = "n"
duration = "{duration}"
assets = ["BTC", "ETH"]
seed = 5
"""


def story(body: str, duration: str = "20s") -> Scenario:
    return load_text(HEAD.format(duration=duration) + body, "t.toml")


async def play(
    tmp_path: Path,
    scenario: Scenario,
    strategies: Sequence[tuple[str, Callable[[], Strategy]]] = (),
    seed: int | None = None,
    check: Callable[[Exchange, Runner], None] | None = None,
) -> RunResult:
    """Run a scenario on the test's (autojump) clock and return the results."""
    settings = run_settings(scenario, scenario.seed if seed is None else seed, ":memory:")
    exchange = Exchange(settings)
    in_play(exchange, scenario)
    async with running(exchange):
        runner = Runner(exchange, scenario, settings.seed, strategies)
        await runner.setup()
        await runner.run_offline()
        await runner.finish()
        if check is not None:
            check(exchange, runner)
        result = runner.result(0.0)
    assert result.problems == []
    return result


def prices(result: RunResult, asset: str = "BTC") -> dict[int, float]:
    return dict(result.prices[asset])


NOISE_BTC = """
[[bots]]
kind = "noise"
params = { assets = ["BTC"], rate = 1.0, usd_min = 10, usd_max = 10 }
"""


async def test_a_shock_moves_the_next_tick_by_its_percent(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    result = await play(
        tmp_path,
        story(
            """
[[timeline]]
at = 5
kind = "shock"
asset = "BTC"
percent = -50
headline = "half"
"""
        ),
    )
    path = prices(result)
    assert path[6] == pytest.approx(path[5] * 0.5, rel=1e-9)
    assert path[5] != pytest.approx(path[4] * 0.5, rel=1e-3)
    assert result.events[0].tick == 5 and result.events[0].status == "done"
    assert result.headlines == [(5, "half")]


async def test_a_pause_refuses_orders_until_the_resume_and_freezes_prices(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    result = await play(
        tmp_path,
        story(
            """
[[timeline]]
at = 5
kind = "pause"
reason = "lunch"
freeze_prices = true
[[timeline]]
at = 10
kind = "resume"
"""
            + NOISE_BTC
        ),
    )
    (bot,) = result.participants
    assert bot.rejected == 5  # the bot tried at ticks 5..9
    assert bot.last_rejection is not None and bot.last_rejection.startswith("market_paused")
    assert sorted({f.tick for f in result.fills} & set(range(5, 10))) == []
    path = prices(result)
    assert path[6] == path[7] == path[8] == path[9] == path[10]
    assert path[11] != path[10]


async def test_a_halt_refuses_that_asset_only(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    result = await play(
        tmp_path,
        story(
            """
[[timeline]]
at = 3
kind = "halt"
asset = "BTC"
reason = "r"
[[timeline]]
at = 6
kind = "resume_asset"
asset = "BTC"
"""
            + NOISE_BTC
            + """
[[bots]]
kind = "noise"
name = "eth"
params = { assets = ["ETH"], rate = 1.0, usd_min = 10, usd_max = 10 }
"""
        ),
    )
    btc, eth = result.participants
    assert btc.rejected == 3 and btc.last_rejection is not None
    assert btc.last_rejection.startswith("asset_halted")
    assert eth.rejected == 0


async def test_news_regime_and_a_refused_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def check(exchange: Exchange, runner: Runner) -> None:
        assert exchange.feed.regime is Regime.CRASH
        news, _ = exchange.desk.news(10, 0)
        assert [item.headline for item in news] == ["doom", "extra"]
        actions, _ = exchange.desk.actions(10, 0)
        assert {a.created_by for a in actions} == {"scenario"}
        # The feed writes once a minute of ticks in a run, and what is left at the end.
        assert exchange.feed.settings.write_ticks == 60
        assert exchange.store.read_one("SELECT seq FROM feed") == (exchange.feed.seq,)

    result = await play(
        tmp_path,
        story(
            """
[[timeline]]
at = 2
kind = "news"
headline = "extra"
[[timeline]]
at = 4
kind = "regime"
regime = "crash"
headline = "doom"
[[timeline]]
at = 6
kind = "resume"
"""
        ),
        check=check,
    )
    assert [(e.tick, e.kind, e.status) for e in result.events] == [
        (2, "news", "done"),
        (4, "regime", "done"),
        (6, "resume", "failed"),
    ]
    assert "not paused" in result.events[2].detail


class PlaceAndCancel(Base):
    """Buys at the start, rests a limit far below, cancels it at tick 3, sells at tick 5."""

    def on_start(self, view: View) -> list[Request] | None:
        price = view.price("BTC")
        assert price is not None
        return [Buy("BTC", usd=1000), Buy("ETH", quantity=0.01, limit=1.0)]

    def on_tick(self, view: View) -> list[Request] | None:
        if view.tick == 3:
            assert len(view.open_orders) == 1
            return [Cancel(view.open_orders[0].order_id)]
        if view.tick == 5:
            assert not view.open_orders and view.holdings["BTC"] > 0
            return [Sell("BTC")]
        return None


class Raises(Base):
    def on_tick(self, view: View) -> list[Request] | None:
        if view.tick == 3:
            raise RuntimeError("oops")
        return [Buy("BTC", usd=10)]


class Invalid(Base):
    def on_tick(self, view: View) -> list[Request] | None:
        return [Buy("NOPE", usd=10)] if view.tick == 2 else None


async def test_a_strategy_places_cancels_and_sells(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def check(exchange: Exchange, runner: Runner) -> None:
        orders, _ = exchange.orders("strategy_00", 10, 0)
        statuses = sorted((o.order_type, o.status) for o in orders)
        assert statuses == [
            ("limit_buy", "cancelled"),
            ("market_buy", "completed"),
            ("market_sell", "completed"),
        ]

    result = await play(tmp_path, story(""), [("pc", PlaceAndCancel)], check=check)
    (strategy,) = result.participants
    assert strategy.failure is None and strategy.holdings.get("BTC", 0) == 0
    assert [(f.tick, f.side) for f in result.fills] == [(0, "buy"), (5, "sell")]


async def test_a_failing_strategy_is_reported_and_the_run_goes_on(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    result = await play(
        tmp_path,
        story(NOISE_BTC),
        [("raises", Raises), ("invalid", Invalid)],
    )
    bot, raises, invalid = result.participants
    assert raises.failure == "tick 3: on_tick raised RuntimeError('oops')"
    assert invalid.failure is not None
    assert invalid.failure.startswith("tick 2: invalid order Buy(asset='NOPE'")
    assert "is not in play" in invalid.failure
    assert {f.tick for f in result.fills if f.participant == raises.username} == {1, 2}
    assert max(f.tick for f in result.fills if f.participant == bot.username) == 20


class BuysOnce(Base):
    def on_tick(self, view: View) -> list[Request] | None:
        if view.tick == 1:
            return [Buy("BTC", usd=5000)]
        if view.tick == 5:
            return [Buy("BTC", usd=100)]
        return None


async def test_impact_moves_the_price_by_the_flow_and_decays(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    plain = await play(tmp_path, story(""), [("b", BuysOnce)])
    impact = """
[impact.BTC]
usd_per_percent = 1000
half_life = 10
"""
    moved = await play(tmp_path, story(impact), [("b", BuysOnce)])
    before, after = prices(plain), prices(moved)
    assert after[1] == before[1]  # the buy fills at tick 1's price
    buy = moved.fills[0]
    flow = buy.total / 100 / 1000 / 100  # $5000 at $1000 per 1%: 5%
    assert flow == pytest.approx(0.05, rel=1e-3)
    second = moved.fills[1]
    # Each order went out half a tick after its tick; each tick shows the decayed levels.
    small = second.total / 100 / 1000 / 100
    for tick in (2, 3, 5, 6, 10, 20):
        level = flow * 0.5 ** ((tick - 1.5) / 10)
        if tick > 5:
            level += small * 0.5 ** ((tick - 5.5) / 10)
        assert after[tick] / before[tick] == pytest.approx(1 + level, rel=1e-6)
    assert second.tick == 5
    paid = second.price / second.model_price - 1
    assert paid == pytest.approx(flow * 0.5 ** (3.5 / 10), rel=1e-4)
    assert plain.fills[1].price == plain.fills[1].model_price


class RestsThenFills(Base):
    """A market buy, then a limit buy far below that the shock at tick 5 crosses at tick 6."""

    def on_tick(self, view: View) -> list[Request] | None:
        if view.tick == 1:
            return [Buy("BTC", usd=5000)]
        price = view.price("BTC")
        if view.tick == 2 and price is not None:
            return [Buy("BTC", usd=2000, limit=price * 0.7)]
        return None


async def test_a_resting_fill_moves_the_next_ticks_by_its_flow_and_keeps_its_model_price(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    shock = """
[[timeline]]
at = 5
kind = "shock"
asset = "BTC"
percent = -50
headline = "half"
"""
    impact = """
[impact.BTC]
usd_per_percent = 1000
half_life = 10
"""
    rows: dict[str, tuple[int, int | None]] = {}

    def check(exchange: Exchange, runner: Runner) -> None:
        for fill in runner.result(0.0).fills:
            order = exchange.order(fill.participant, fill.order_id)
            assert order.filled_price is not None
            rows[fill.order_id] = (order.filled_price, order.model_price)

    plain = await play(tmp_path, story(shock), [("r", RestsThenFills)])
    moved = await play(tmp_path, story(shock + impact), [("r", RestsThenFills)], check=check)
    before, after = prices(plain), prices(moved)
    bought, rested = moved.fills
    assert (bought.tick, bought.order_type) == (1, "market_buy")
    assert (rested.tick, rested.order_type) == (6, "limit_buy")
    assert [f.order_type for f in plain.fills] == ["market_buy", "limit_buy"]
    first = bought.total / 100 / 1000 / 100
    second = rested.total / 100 / 1000 / 100  # the resting fill's own flow, from tick 6 on
    for tick in (2, 5, 6, 7, 8, 10, 16, 20):
        level = first * 0.5 ** ((tick - 1.5) / 10)
        if tick > 6:
            level += second * 0.5 ** ((tick - 6) / 10)
        assert after[tick] / before[tick] == pytest.approx(1 + level, rel=1e-6), tick
    # Each fill keeps the model price of its own tick: what the run without impact shows.
    assert rested.price / 1e8 == pytest.approx(after[6], rel=1e-12)
    assert rested.model_price / 1e8 == pytest.approx(before[6], rel=1e-6)
    assert rested.price / rested.model_price == pytest.approx(
        1 + first * 0.5 ** (4.5 / 10), rel=1e-6
    )
    assert bought.model_price == bought.price  # nothing had moved BTC before tick 1
    # trades.csv's figures are the order rows'.
    for fill in moved.fills:
        assert rows[fill.order_id] == (fill.price, fill.model_price)
    assert [f.model_price for f in plain.fills] == [f.price for f in plain.fills]


def test_run_writes_every_report_file_and_the_db_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        HEAD.format(duration="2m")
        + """
fee_bps = 10
[[timeline]]
at = 30
kind = "shock"
percent = -10
headline = "drop"
[[bots]]
kind = "noise"
count = 2
params = { assets = ["BTC", "ETH"], rate = 0.3 }
[[bots]]
kind = "panic"
params = { asset = "BTC", drawdown = 5 }
"""
    )
    db = tmp_path / "run.db"
    out = tmp_path / "out"
    assert main(["scenario", "run", str(path), "--out", str(out), "--db", str(db), "--quiet"]) == 0
    assert verify(str(db)) == 0
    assert "ok: 4 accounts match their ledgers" in capsys.readouterr().out
    with (out / "trades.csv").open() as f:
        trades = list(csv.reader(f))
    assert tuple(trades[0]) == TRADE_COLUMNS and len(trades) > 10
    assert {row[2] for row in trades[1:]} <= {"bot_noise_000", "bot_noise_001", "bot_panic_000"}
    with (out / "leaderboard.csv").open() as f:
        board = list(csv.reader(f))
    assert tuple(board[0]) == LEADERBOARD_COLUMNS and len(board) == 4
    panic = next(row for row in board if row[1] == "bot_panic_000")
    assert panic[7] == "2"  # bought at the start, sold into the -10% drop
    with (out / "events.csv").open() as f:
        events = list(csv.reader(f))
    assert tuple(events[0]) == EVENT_COLUMNS
    assert events[1] == ["30", "30", "0:00:30", "shock", "done", "drop"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verify"] == "ok" and summary["ticks"] == 120
    assert set(summary["digests"]["per_user"]) == {
        "scenario",
        "bot_noise_000",
        "bot_noise_001",
        "bot_panic_000",
    }
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2 + 2  # a price chart per asset, an equity chart per kind
    assert "drop" in page and "<script" not in page and "http" not in page


def test_validate_and_show_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list"]) == 0
    assert "flash-crash" in capsys.readouterr().out
    assert main(["scenario", "show", "flash-crash"]) == 0
    assert "Teaching note" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n')
    assert main(["scenario", "validate", str(bad)]) == 2
    assert f"{bad}: meta: field 'description': is required" in capsys.readouterr().err


def test_strategy_files_are_checked_when_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "class Ok:\n    def on_start(self, view): ...\n    def on_tick(self, view): ...\n"
    )
    (tmp_path / "bad.py").write_text("raise ValueError('no')\n")
    (tmp_path / "half.py").write_text("class Half:\n    def on_tick(self, view): ...\n")
    assert load_strategy(f"{good}:Ok")[0] == "Ok"
    for spec, message in (
        (str(good), "expected path/to/file.py:ClassName"),
        (f"{tmp_path}/none.py:Ok", "no file"),
        (f"{good}:Missing", "has no class Missing"),
        (f"{tmp_path}/bad.py:X", "importing failed: ValueError('no')"),
        (f"{tmp_path}/half.py:Half", "Half has no on_start method"),
    ):
        with pytest.raises(StrategyLoadError, match=re.escape(message)):
            load_strategy(spec)
    code = main(["scenario", "run", "calm-day", "--strategy", f"{good}:Missing", "--quiet"])
    assert code == 2
    assert "cannot load strategy" in capsys.readouterr().err
