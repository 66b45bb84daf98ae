"""The asset catalogue shipped in ``data/assets.json``: loaded and validated at start."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import msgspec

from exchange.money import MoneyFormatError, parse_price, to_decimal
from exchange.resources import shipped

N = TypeVar("N", int, Decimal)

DEFAULT_PATH = shipped("data", "assets.json")
ASSET_ID = re.compile(r"[A-Z0-9]{1,10}")
MODELS = ("gbm", "jump", "peg")
VOLATILITIES = ("peg", "low", "medium", "high", "extreme")


class CatalogueError(ValueError):
    """The catalogue file is unusable; the message names the entry and the field."""


class RawAsset(msgspec.Struct, forbid_unknown_fields=True):
    """One entry as written in the file."""

    asset_id: str
    name: str
    description: str
    category: str
    market_cap_rank: int
    reference_price: str
    circulating_supply: str
    total_supply: str
    max_supply: str | None
    ath: str
    ath_date: str
    atl: str
    atl_date: str
    volatility: str
    model: str


class RawCatalogue(msgspec.Struct):
    """The file."""

    version: int
    assets: list[RawAsset]
    snapshot_date: str = ""


class Asset(msgspec.Struct, frozen=True):
    """A catalogue entry with prices in 1e-8 USD and supplies in whole units."""

    asset_id: str
    name: str
    description: str
    category: str
    market_cap_rank: int
    reference_price: int
    circulating_supply: Decimal
    total_supply: Decimal
    max_supply: Decimal | None
    ath: int
    ath_date: str
    atl: int
    atl_date: str
    volatility: str
    model: str
    is_active: bool = True


def load_catalogue(path: Path | str | None = None) -> list[Asset]:
    """Read, validate and return the catalogue, sorted by market-cap rank."""
    source = Path(path) if path else DEFAULT_PATH
    try:
        raw = msgspec.json.decode(source.read_bytes(), type=RawCatalogue)
    except OSError as exc:
        raise CatalogueError(f"{source}: cannot read: {exc.strerror}") from None
    except msgspec.ValidationError as exc:
        raise CatalogueError(f"{source}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise CatalogueError(f"{source}: not valid JSON: {exc}") from None
    assets = [_validated(source, index, entry) for index, entry in enumerate(raw.assets)]
    if not assets:
        raise CatalogueError(f"{source}: no assets")
    _check_unique(source, assets)
    return sorted(assets, key=lambda asset: asset.market_cap_rank)


def _validated(source: Path, index: int, entry: RawAsset) -> Asset:
    where = f"{source}: entry {index} ({entry.asset_id or '?'})"

    def fail(field: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{where}: field '{field}': {problem}")

    def positive(field: str, text: str, parse: Callable[[object], N]) -> N:
        try:
            value = parse(text)
        except MoneyFormatError as exc:
            raise fail(field, str(exc)) from None
        if value <= 0:
            raise fail(field, "must be greater than 0")
        return value

    def price(field: str, text: str) -> int:
        return positive(field, text, parse_price)

    def supply(field: str, text: str) -> Decimal:
        return positive(field, text, to_decimal)

    def day(field: str, text: str) -> str:
        try:
            date.fromisoformat(text)
        except ValueError:
            raise fail(field, "must be a date YYYY-MM-DD") from None
        return text

    if not ASSET_ID.fullmatch(entry.asset_id):
        raise fail("asset_id", "must be 1-10 upper-case letters or digits")
    for field in ("name", "description", "category"):
        text = getattr(entry, field)
        if not text.strip() or "<" in text or ">" in text:
            raise fail(field, "must be non-empty plain text")
    if entry.market_cap_rank < 1:
        raise fail("market_cap_rank", "must be at least 1")
    if entry.model not in MODELS:
        raise fail("model", f"must be one of {', '.join(MODELS)}")
    if entry.volatility not in VOLATILITIES:
        raise fail("volatility", f"must be one of {', '.join(VOLATILITIES)}")
    circulating = supply("circulating_supply", entry.circulating_supply)
    total = supply("total_supply", entry.total_supply)
    maximum = None if entry.max_supply is None else supply("max_supply", entry.max_supply)
    if total < circulating:
        raise fail("total_supply", "must be at least the circulating supply")
    if maximum is not None and maximum < total:
        raise fail("max_supply", "must be at least the total supply")
    return Asset(
        asset_id=entry.asset_id,
        name=entry.name,
        description=entry.description,
        category=entry.category,
        market_cap_rank=entry.market_cap_rank,
        reference_price=price("reference_price", entry.reference_price),
        circulating_supply=circulating,
        total_supply=total,
        max_supply=maximum,
        ath=price("ath", entry.ath),
        ath_date=day("ath_date", entry.ath_date),
        atl=price("atl", entry.atl),
        atl_date=day("atl_date", entry.atl_date),
        volatility=entry.volatility,
        model=entry.model,
    )


def _check_unique(source: Path, assets: list[Asset]) -> None:
    seen_ids: dict[str, int] = {}
    seen_ranks: dict[int, str] = {}
    for index, asset in enumerate(assets):
        if asset.asset_id in seen_ids:
            raise CatalogueError(
                f"{source}: entry {index} ({asset.asset_id}): field 'asset_id': "
                f"duplicates entry {seen_ids[asset.asset_id]}"
            )
        if asset.market_cap_rank in seen_ranks:
            raise CatalogueError(
                f"{source}: entry {index} ({asset.asset_id}): field 'market_cap_rank': "
                f"{asset.market_cap_rank} is also the rank of {seen_ranks[asset.market_cap_rank]}"
            )
        seen_ids[asset.asset_id] = index
        seen_ranks[asset.market_cap_rank] = asset.asset_id
