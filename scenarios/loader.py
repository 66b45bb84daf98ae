"""Scenario files: TOML read with ``tomllib``, checked field by field at load.

Every problem is reported at once, each naming the file, the entry (``meta``,
``timeline[2]``, ``bots[0]``, ``impact.BTC``) and the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from exchange.catalogue import Asset, load_catalogue
from exchange.control import (
    REGIMES,
    Action,
    Halt,
    News,
    Pause,
    Resume,
    ResumeAsset,
    SetRegime,
    Shock,
)
from exchange.impact import ImpactRule
from exchange.money import CENTS
from exchange.resources import shipped
from scenarios.bots import BOT_KINDS
from scenarios.model import BotSpec, Event, Scenario, parse_duration

BUNDLED = shipped("scenarios", "bundled")
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
BOT_NAME = re.compile(r"[a-z0-9]{1,16}")
MAX_DURATION = 366 * 86_400.0
MAX_TEXT = 200
MAX_BOTS = 500
MAX_CASH_USD = 100_000_000
MIN_PERCENT, MAX_PERCENT = -99.0, 1000.0
META_FIELDS = {
    "name",
    "description",
    "duration",
    "tick_interval",
    "seed",
    "starting_cash",
    "assets",
    "notes",
    "seats",
    "fee_bps",
    "max_order_value",
    "timeline",
    "bots",
    "impact",
}
EVENT_FIELDS: dict[str, set[str]] = {
    "pause": {"reason", "freeze_prices", "headline"},
    "resume": {"headline"},
    "halt": {"asset", "reason", "freeze_prices", "headline"},
    "resume_asset": {"asset", "headline"},
    "shock": {"percent", "headline", "asset", "category", "spread", "decay"},
    "news": {"headline"},
    "regime": {"regime", "headline"},
}
BOT_FIELDS = {"kind", "count", "cash", "name", "params"}


class ScenarioError(ValueError):
    """A scenario file is unusable; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


class _Checker:
    """Collects problems; each accessor returns a usable default after a problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, entry: str, name: str, message: str) -> None:
        self.problems.append(f"{entry}: field '{name}': {message}")

    def text(
        self, entry: str, raw: dict[str, Any], name: str, required: bool, limit: int = MAX_TEXT
    ) -> str | None:
        value = raw.get(name)
        if value is None:
            if required:
                self.fail(entry, name, "is required")
            return None
        if not isinstance(value, str):
            self.fail(entry, name, "must be a string")
            return None
        text = value.strip()
        if not text:
            self.fail(entry, name, "must not be blank")
        elif len(text) > limit:
            self.fail(entry, name, f"must be at most {limit} characters")
        elif "<" in text or ">" in text:
            self.fail(entry, name, "must not contain < or >")
        return text

    def number(
        self, entry: str, raw: dict[str, Any], name: str, default: float, low: float, high: float
    ) -> float:
        value = raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(entry, name, "must be a number")
            return default
        if not (math.isfinite(value) and low <= value <= high):
            self.fail(entry, name, f"must be between {low:g} and {high:g}")
            return default
        return float(value)

    def integer(
        self, entry: str, raw: dict[str, Any], name: str, default: int, low: int, high: int
    ) -> int:
        value = raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(entry, name, "must be a whole number")
            return default
        if not low <= value <= high:
            self.fail(entry, name, f"must be between {low} and {high}")
            return default
        return value

    def boolean(self, entry: str, raw: dict[str, Any], name: str) -> bool:
        value = raw.get(name, False)
        if not isinstance(value, bool):
            self.fail(entry, name, "must be true or false")
            return False
        return value

    def duration(
        self, entry: str, raw: dict[str, Any], name: str, default: float | None
    ) -> float | None:
        value = raw.get(name)
        if value is None:
            if default is None and name in ("duration", "at"):
                self.fail(entry, name, "is required")
            return default
        seconds = parse_duration(value)
        if seconds is None:
            self.fail(entry, name, "must be seconds or a duration like '90s', '15m', '1h30m', '2d'")
            return default
        if seconds > MAX_DURATION:
            self.fail(entry, name, "must be at most 366 days")
            return default
        return seconds


def _unknown(check: _Checker, entry: str, raw: dict[str, Any], allowed: set[str]) -> None:
    for name in sorted(set(raw) - allowed):
        check.fail(entry, name, "is not a known field")


def load_text(text: str, source: str, catalogue: list[Asset] | None = None) -> Scenario:
    """A scenario from TOML text; ``ScenarioError`` listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"not valid TOML: {exc}"]) from None
    assets = catalogue if catalogue is not None else load_catalogue()
    return _scenario(raw, source, {a.asset_id: a for a in assets})


def load_file(path: Path | str, catalogue: list[Asset] | None = None) -> Scenario:
    """A scenario from a file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(source), [f"cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ScenarioError(str(source), ["not UTF-8 text"]) from None
    return load_text(text, str(source), catalogue)


def bundled() -> list[str]:
    """The names of the bundled scenarios, sorted."""
    return sorted(path.stem for path in BUNDLED.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """The file of a bundled scenario's name, or the path as given."""
    candidate = BUNDLED / f"{name_or_path}.toml"
    if NAME.fullmatch(name_or_path) and candidate.exists():
        return candidate
    return Path(name_or_path)


def load(name_or_path: str, catalogue: list[Asset] | None = None) -> Scenario:
    """A bundled scenario by name, or a scenario file by path."""
    return load_file(resolve(name_or_path), catalogue)


def _scenario(raw: dict[str, Any], source: str, catalogue: dict[str, Asset]) -> Scenario:
    check = _Checker()
    meta = "meta"
    _unknown(check, meta, raw, META_FIELDS)
    name = check.text(meta, raw, "name", True) or "unnamed"
    if not NAME.fullmatch(name):
        check.fail(meta, "name", "must be 1-40 lowercase letters, digits or dashes")
    description = check.text(meta, raw, "description", True) or ""
    duration = check.duration(meta, raw, "duration", None) or 0.0
    tick = check.number(meta, raw, "tick_interval", 1.0, 0.05, 3600.0)
    if duration and duration < tick:
        check.fail(meta, "duration", "must be at least one tick")
    seed = check.integer(meta, raw, "seed", 42, 0, 2**63 - 1)
    cash = check.number(meta, raw, "starting_cash", 10_000, 0, MAX_CASH_USD)
    notes = check.text(meta, raw, "notes", True, 5000) or ""
    seats = check.integer(meta, raw, "seats", 0, 0, 1000)
    fee_bps = check.integer(meta, raw, "fee_bps", 0, 0, 1000)
    max_order = check.number(meta, raw, "max_order_value", 10_000, 1, MAX_CASH_USD)
    assets = _assets(check, raw.get("assets"), catalogue)
    in_play = assets or tuple(catalogue)
    timeline = _timeline(check, raw.get("timeline", []), duration, in_play, catalogue)
    bots = _bots(check, raw.get("bots", []), in_play, duration)
    impact = _impact(check, raw.get("impact", {}), in_play)
    if check.problems:
        raise ScenarioError(source, check.problems)
    return Scenario(
        name=name,
        description=description,
        duration=duration,
        tick_interval=tick,
        seed=seed,
        starting_cash=round(cash * CENTS),
        assets=assets,
        notes=notes,
        timeline=timeline,
        bots=bots,
        seats=seats,
        fee_bps=fee_bps,
        max_order_value=round(max_order * CENTS),
        impact=impact,
        source=source,
    )


def _assets(check: _Checker, value: object, catalogue: dict[str, Asset]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        check.fail("meta", "assets", "must be a non-empty list of asset ids")
        return ()
    chosen: list[str] = []
    for asset_id in value:
        if asset_id not in catalogue:
            check.fail("meta", "assets", f"unknown asset '{asset_id}'")
        elif asset_id in chosen:
            check.fail("meta", "assets", f"'{asset_id}' is listed twice")
        else:
            chosen.append(asset_id)
    return tuple(chosen)


def _table_list(check: _Checker, value: object, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        check.fail("meta", name, f"must be a list of tables ([[{name}]])")
        return []
    return value


def _asset_field(
    check: _Checker, entry: str, raw: dict[str, Any], in_play: tuple[str, ...]
) -> str | None:
    asset = raw.get("asset")
    if asset is None:
        return None
    if not isinstance(asset, str) or asset not in in_play:
        check.fail(entry, "asset", f"must be one of the assets in play, not {asset!r}")
        return None
    return asset


def _timeline(
    check: _Checker,
    value: object,
    duration: float,
    in_play: tuple[str, ...],
    catalogue: dict[str, Asset],
) -> tuple[Event, ...]:
    events: list[Event] = []
    for number, raw in enumerate(_table_list(check, value, "timeline")):
        entry = f"timeline[{number}]"
        kind = raw.get("kind")
        if kind not in EVENT_FIELDS:
            check.fail(entry, "kind", f"must be one of {', '.join(EVENT_FIELDS)}")
            continue
        _unknown(check, entry, raw, EVENT_FIELDS[kind] | {"at", "kind"})
        at = check.duration(entry, raw, "at", None)
        if at is None:
            continue
        if duration and at >= duration:
            check.fail(entry, "at", "must fall before the end of the scenario")
        action = _action(check, entry, kind, raw, in_play, catalogue)
        if action is not None:
            events.append(Event(at, kind, action, f"{kind} at {format_offset(at)}"))
    # A stable sort: entries at the same offset run in the file's order.
    return tuple(sorted(events, key=lambda e: e.at))


def _action(
    check: _Checker,
    entry: str,
    kind: str,
    raw: dict[str, Any],
    in_play: tuple[str, ...],
    catalogue: dict[str, Asset],
) -> Action | None:
    headline = check.text(entry, raw, "headline", kind in ("shock", "news"))
    before = len(check.problems)
    action: Action | None = None
    match kind:
        case "pause":
            reason = check.text(entry, raw, "reason", True) or ""
            action = Pause(reason, check.boolean(entry, raw, "freeze_prices"), headline)
        case "resume":
            action = Resume(headline)
        case "halt" | "resume_asset":
            asset = _asset_field(check, entry, raw, in_play)
            if asset is None and "asset" not in raw:
                check.fail(entry, "asset", "is required")
            if kind == "halt":
                reason = check.text(entry, raw, "reason", True) or ""
                freeze = check.boolean(entry, raw, "freeze_prices")
                action = Halt(asset or "", reason, freeze, headline)
            else:
                action = ResumeAsset(asset or "", headline)
        case "shock":
            action = _shock(check, entry, raw, headline or "", in_play, catalogue)
        case "news":
            action = News(headline or "")
        case "regime":
            regime = raw.get("regime")
            if regime not in REGIMES:
                check.fail(entry, "regime", f"must be one of {', '.join(REGIMES)}")
            else:
                action = SetRegime(regime, headline)
    return action if len(check.problems) == before else None


def _shock(
    check: _Checker,
    entry: str,
    raw: dict[str, Any],
    headline: str,
    in_play: tuple[str, ...],
    catalogue: dict[str, Asset],
) -> Shock | None:
    if "percent" not in raw:
        check.fail(entry, "percent", "is required")
        return None
    percent = check.number(entry, raw, "percent", 0.0, MIN_PERCENT, MAX_PERCENT)
    if percent == 0:
        check.fail(entry, "percent", "must not be 0")
    asset = _asset_field(check, entry, raw, in_play)
    category = raw.get("category")
    if category is not None:
        categories = {catalogue[a].category for a in in_play}
        if not isinstance(category, str) or category not in categories:
            check.fail(entry, "category", f"must be a category of an asset in play: {category!r}")
    if "asset" in raw and category is not None:
        check.fail(entry, "category", "give asset or category, not both")
    spread = check.duration(entry, raw, "spread", 0.0) or 0.0
    decay = check.duration(entry, raw, "decay", None)
    if "decay" in raw and decay == 0:
        check.fail(entry, "decay", "must be more than 0 (leave it out for no decay)")
    return Shock(percent, headline, asset, category, spread, decay)


def _bots(
    check: _Checker, value: object, in_play: tuple[str, ...], duration: float
) -> tuple[BotSpec, ...]:
    specs: list[BotSpec] = []
    names: set[str] = set()
    total = 0
    for number, raw in enumerate(_table_list(check, value, "bots")):
        entry = f"bots[{number}]"
        _unknown(check, entry, raw, BOT_FIELDS)
        kind = raw.get("kind")
        if kind not in BOT_KINDS:
            check.fail(entry, "kind", f"must be one of {', '.join(BOT_KINDS)}")
            continue
        count = check.integer(entry, raw, "count", 1, 1, MAX_BOTS)
        total += count
        cash = check.number(entry, raw, "cash", 10_000, 0, MAX_CASH_USD)
        name = raw.get("name", kind.replace("_", ""))
        if not isinstance(name, str) or not BOT_NAME.fullmatch(name):
            check.fail(entry, "name", "must be 1-16 lowercase letters or digits")
            name = f"bot{number}"
        elif name in names:
            check.fail(entry, "name", f"'{name}' names another bots entry")
        names.add(name)
        params = raw.get("params", {})
        if not isinstance(params, dict):
            check.fail(entry, "params", "must be a table")
            params = {}
        checked = BOT_KINDS[kind].check_params(params, in_play, duration)
        for field, message in checked.problems:
            check.fail(entry, f"params.{field}", message)
        specs.append(BotSpec(kind, count, round(cash * CENTS), name, checked.values))
    if total > MAX_BOTS:
        check.fail("meta", "bots", f"at most {MAX_BOTS} bots in all")
    return tuple(specs)


def _impact(check: _Checker, value: object, in_play: tuple[str, ...]) -> dict[str, ImpactRule]:
    if not isinstance(value, dict):
        check.fail("meta", "impact", "must be a table of assets ([impact.BTC])")
        return {}
    rules: dict[str, ImpactRule] = {}
    for asset_id, raw in value.items():
        entry = f"impact.{asset_id}"
        if asset_id not in in_play:
            check.fail(entry, "asset", f"'{asset_id}' is not an asset in play")
            continue
        if not isinstance(raw, dict):
            check.fail(entry, "usd_per_percent", "must be a table")
            continue
        _unknown(check, entry, raw, {"usd_per_percent", "half_life"})
        if "usd_per_percent" not in raw:
            check.fail(entry, "usd_per_percent", "is required")
            continue
        size = check.number(entry, raw, "usd_per_percent", 1.0, 1.0, 1e12)
        half_life = check.duration(entry, raw, "half_life", 300.0) or 0.0
        if half_life <= 0:
            check.fail(entry, "half_life", "must be more than 0")
        rules[asset_id] = ImpactRule(size, half_life)
    return rules


def format_offset(seconds: float) -> str:
    """An offset as h:mm:ss (days as a prefix)."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock
