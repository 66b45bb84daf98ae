"""Scenario files: every bundled one loads; each field rule gives a message naming its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.control import Halt, News, Pause, Resume, ResumeAsset, SetRegime, Shock
from scenarios.loader import ScenarioError, bundled, load, load_file, load_text
from scenarios.model import parse_duration

BASE = """
name = "t"
description = "d"
duration = "1h"
notes = "n"
"""
ASSETS = 'assets = ["BTC", "ETH", "USDC"]\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_text(BASE + ("" if text.startswith("assets") else ASSETS) + text, "story.toml")
    assert str(caught.value).startswith("story.toml: ")
    return caught.value.problems


def test_six_bundled_scenarios_load_with_a_teaching_note() -> None:
    names = bundled()
    for wanted in (
        "calm-day",
        "bull-run",
        "flash-crash",
        "stablecoin-depeg",
        "pump-and-dump",
        "news-week",
    ):
        assert wanted in names
    for name in names:
        scenario = load(name)
        assert scenario.name == name
        assert "Teaching note" in scenario.notes
        assert scenario.timeline and scenario.bots


def test_a_minimal_file_takes_the_defaults() -> None:
    scenario = load_text(BASE + ASSETS, "s.toml")
    assert (scenario.duration, scenario.tick_interval, scenario.seed) == (3600.0, 1.0, 42)
    assert scenario.starting_cash == 1_000_000 and scenario.fee_bps == 0
    assert scenario.max_order_value == 1_000_000
    assert scenario.ticks == 3600 and scenario.impact == {}


def test_every_event_kind_becomes_the_desks_action_in_time_order() -> None:
    scenario = load_text(
        BASE
        + ASSETS
        + """
[[timeline]]
at = "30m"
kind = "shock"
percent = -20
asset = "BTC"
spread = "5m"
decay = "10m"
headline = "crash"
[[timeline]]
at = 60
kind = "pause"
reason = "r"
freeze_prices = true
[[timeline]]
at = "2m"
kind = "resume"
[[timeline]]
at = "3m"
kind = "halt"
asset = "ETH"
reason = "h"
[[timeline]]
at = "4m"
kind = "resume_asset"
asset = "ETH"
[[timeline]]
at = "5m"
kind = "news"
headline = "hello"
[[timeline]]
at = "5m"
kind = "regime"
regime = "bear"
""",
        "s.toml",
    )
    assert [e.at for e in scenario.timeline] == [60, 120, 180, 240, 300, 300, 1800]
    actions = [e.action for e in scenario.timeline]
    assert actions[0] == Pause("r", True, None)
    assert actions[1] == Resume(None)
    assert actions[2] == Halt("ETH", "h", False, None)
    assert actions[3] == ResumeAsset("ETH", None)
    # Same offset: the file's order.
    assert actions[4] == News("hello")
    assert actions[5] == SetRegime("bear", None)
    assert actions[6] == Shock(-20.0, "crash", "BTC", None, 300.0, 600.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1", "meta: field 'colour': is not a known field"),
        ("tick_interval = 0", "meta: field 'tick_interval': must be between 0.05 and 3600"),
        ("seed = -1", "meta: field 'seed': must be between 0"),
        ("seed = 1.5", "meta: field 'seed': must be a whole number"),
        ("fee_bps = 5000", "meta: field 'fee_bps': must be between 0 and 1000"),
        ("starting_cash = 'lots'", "meta: field 'starting_cash': must be a number"),
        ("seats = true", "meta: field 'seats': must be a whole number"),
        ("[[timeline]]\nat='1m'\nkind='boom'", "timeline[0]: field 'kind': must be one of"),
        ("[[timeline]]\nkind='news'\nheadline='x'", "timeline[0]: field 'at': is required"),
        ("[[timeline]]\nat='2h'\nkind='news'\nheadline='x'", "timeline[0]: field 'at': must fall"),
        ("[[timeline]]\nat='1x'\nkind='news'\nheadline='x'", "timeline[0]: field 'at': must be"),
        ("[[timeline]]\nat='1m'\nkind='news'", "timeline[0]: field 'headline': is required"),
        ("[[timeline]]\nat='1m'\nkind='news'\nheadline=' '", "field 'headline': must not be blank"),
        ("[[timeline]]\nat='1m'\nkind='news'\nheadline='<b>'", "must not contain < or >"),
        ("[[timeline]]\nat='1m'\nkind='news'\nheadline='" + "x" * 201 + "'", "at most 200"),
        ("[[timeline]]\nat='1m'\nkind='news'\nheadline='x'\npercent=3", "'percent': is not a"),
        ("[[timeline]]\nat='1m'\nkind='pause'", "timeline[0]: field 'reason': is required"),
        ("[[timeline]]\nat='1m'\nkind='pause'\nreason='r'\nfreeze_prices=1", "true or false"),
        ("[[timeline]]\nat='1m'\nkind='halt'\nreason='r'", "field 'asset': is required"),
        ("[[timeline]]\nat='1m'\nkind='halt'\nasset='SOL'\nreason='r'", "assets in play"),
        ("[[timeline]]\nat='1m'\nkind='regime'\nregime='moon'", "field 'regime': must be one"),
        ("[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'", "field 'percent': is required"),
        ("[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'\npercent=0", "must not be 0"),
        ("[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'\npercent=-100", "between -99"),
        (
            "[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'\npercent=5\nasset='BTC'\n"
            "category='layer-1'",
            "give asset or category, not both",
        ),
        (
            "[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'\npercent=5\ncategory='meme'",
            "field 'category': must be a category of an asset in play",
        ),
        (
            "[[timeline]]\nat='1m'\nkind='shock'\nheadline='h'\npercent=5\ndecay=0",
            "field 'decay': must be more than 0",
        ),
        ("assets = []", "meta: field 'assets': must be a non-empty list"),
        ("assets = ['NOPE']", "meta: field 'assets': unknown asset 'NOPE'"),
        ("[[bots]]\nkind='genius'", "bots[0]: field 'kind': must be one of"),
        ("[[bots]]\nkind='noise'\ncount=0", "bots[0]: field 'count': must be between 1 and 500"),
        ("[[bots]]\nkind='noise'\nname='Bad Name'", "bots[0]: field 'name': must be 1-16"),
        ("[[bots]]\nkind='noise'\n[[bots]]\nkind='noise'", "bots[1]: field 'name': 'noise'"),
        ("[[bots]]\nkind='noise'\nparams={speed=1}", "field 'params.speed': is not a param"),
        ("[[bots]]\nkind='noise'\nparams={rate=2}", "'params.rate': must be between 0 and 1"),
        ("[[bots]]\nkind='dca'\nparams={asset='SOL'}", "'params.asset': must be an asset in"),
        ("[[bots]]\nkind='dca'\nparams={every='soon'}", "'params.every': must be a positive"),
        ("[[bots]]\nkind='noise'\nparams={assets=[]}", "'params.assets': must be a non-empty"),
        ("[[bots]]\nkind='whale'", "bots[0]: field 'params.orders': must be a non-empty list"),
        (
            "[[bots]]\nkind='whale'\nparams={orders=[{at='2h', side='buy', usd=1}]}",
            "'params.orders[0].at': must be a time within the scenario",
        ),
        (
            "[[bots]]\nkind='whale'\nparams={orders=[{at='1m', side='hold', usd=1}]}",
            "'params.orders[0].side': must be buy or sell",
        ),
        ("[[bots]]\nkind='noise'\ncount=300\n[[bots]]\nkind='dca'\ncount=300", "at most 500"),
        ("[impact.SOL]\nusd_per_percent=1", "impact.SOL: field 'asset': 'SOL' is not an asset"),
        ("[impact.BTC]\nhalf_life='5m'", "impact.BTC: field 'usd_per_percent': is required"),
        ("[impact.BTC]\nusd_per_percent=0", "'usd_per_percent': must be between 1"),
        ("[impact.BTC]\nusd_per_percent=10\nhalf_life=0", "'half_life': must be more than 0"),
        ("[impact.BTC]\nusd_per_percent=10\nsize=1", "impact.BTC: field 'size': is not a"),
    ],
)
def test_each_rule_names_the_entry_and_the_field(text: str, message: str) -> None:
    found = problems(text)
    assert any(message in problem for problem in found), found


def test_required_meta_fields_and_every_problem_at_once() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text('name = "Bad!"\nduration = "soon"\n', "x.toml")
    found = caught.value.problems
    assert "meta: field 'name': must be 1-40 lowercase letters, digits or dashes" in found
    assert "meta: field 'description': is required" in found
    assert "meta: field 'notes': is required" in found
    assert any(p.startswith("meta: field 'duration': must be seconds") for p in found)


def test_a_file_that_is_not_toml_or_not_there(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(ScenarioError, match=r"broken.toml: not valid TOML"):
        load_file(broken)
    with pytest.raises(ScenarioError, match=r"missing.toml: cannot read"):
        load_file(tmp_path / "missing.toml")


def test_durations() -> None:
    assert parse_duration(90) == 90.0
    assert parse_duration("90s") == 90.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("2d12h") == 216_000.0
    assert parse_duration("1.5h") == 5400.0
    for bad in ("", "1m1h", "1h1h", "h", -1, True, "1 parsec", None):
        assert parse_duration(bad) is None
