"""The same scenario, seed and strategy give byte-identical outputs in separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STORY = """
name = "same"
description = "determinism"
notes = "n"
duration = "10m"
assets = ["BTC", "ETH", "DOGE"]
seed = 11
fee_bps = 10

[impact.DOGE]
usd_per_percent = 5000
half_life = "2m"

[[timeline]]
at = "2m"
kind = "shock"
category = "layer-1"
percent = -8
spread = "30s"
decay = "3m"
headline = "dip"

[[timeline]]
at = "4m"
kind = "pause"
reason = "r"

[[timeline]]
at = "4m30s"
kind = "resume"

[[bots]]
kind = "noise"
count = 4
params = { assets = ["BTC", "ETH", "DOGE"], rate = 0.2 }

[[bots]]
kind = "momentum"
count = 2
params = { assets = ["BTC", "ETH"], lookback = "1m", threshold = 0.1, every = "10s" }

[[bots]]
kind = "mean_reversion"
count = 2
params = { assets = ["DOGE"], window = "1m", threshold = 0.2, every = "10s" }

[[bots]]
kind = "whale"
cash = 100000
params = { orders = [{ at = "1m", side = "buy", usd = 50000, asset = "DOGE", over = "30s" }] }
"""

STRATEGY = """
from scenarios.strategy import Base, Buy, Cancel, Sell


class Jittery(Base):
    def on_tick(self, view):
        if view.open_orders and self.rng.random() < 0.3:
            return [Cancel(view.open_orders[0].order_id)]
        price = view.price("ETH")
        if self.rng.random() < 0.1:
            return [Buy("ETH", usd=200, limit=price * 0.999)]
        if view.holdings.get("ETH") and self.rng.random() < 0.05:
            return [Sell("ETH")]
        return None
"""


def _run(tmp_path: Path, name: str, hash_seed: str, *extra: str) -> Path:
    out = tmp_path / name
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "scenario",
            "run",
            str(tmp_path / "same.toml"),
            "--strategy",
            f"{tmp_path / 'jittery.py'}:Jittery",
            "--out",
            str(out),
            "--quiet",
            *extra,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    return out


def test_same_seed_same_bytes_across_hash_seeds_and_another_seed_differs(
    tmp_path: Path,
) -> None:
    (tmp_path / "same.toml").write_text(STORY)
    (tmp_path / "jittery.py").write_text(STRATEGY)
    first = _run(tmp_path, "a", "1")
    second = _run(tmp_path, "b", "4242")
    other = _run(tmp_path, "c", "1", "--seed", "12")
    for name in ("summary.json", "trades.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
        assert (first / name).read_bytes() != (other / name).read_bytes(), name
    trades = (first / "trades.csv").read_text().splitlines()
    assert len(trades) > 100
    assert any(",strategy_00," in row for row in trades)
    assert any(",limit_buy," in row for row in trades)
