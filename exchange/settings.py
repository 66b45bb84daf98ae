"""Engine settings, read from the environment with documented defaults."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal

from exchange.money import CENTS


class SettingError(ValueError):
    """A setting's value is unusable; the message names the setting and says what it must be."""


# Plain ASCII forms only: int() and float() would also take "1_000", "١٢" and "nan".
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
FLAGS = {"1": True, "on": True, "true": True, "yes": True}
FLAGS.update({"0": False, "off": False, "false": False, "no": False})


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _bounded(
    name: str, raw: str, value: float, minimum: float | None, maximum: float | None
) -> None:
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={raw!r}: must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={raw!r}: must be at most {maximum:g}")


def parse_int(name: str, raw: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``raw`` as an integer within bounds, or ``SettingError`` naming ``name``."""
    if not _INTEGER.fullmatch(raw) or len(raw) > 30:
        raise SettingError(f"{name}={raw!r}: not an integer")
    value = int(raw)
    _bounded(name, raw, value, minimum, maximum)
    return value


def parse_float(
    name: str, raw: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``raw`` as a finite number within bounds, or ``SettingError`` naming ``name``."""
    if not _NUMBER.fullmatch(raw) or len(raw) > 30:
        raise SettingError(f"{name}={raw!r}: not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise SettingError(f"{name}={raw!r}: not a finite number")
    _bounded(name, raw, value, minimum, maximum)
    return value


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer environment variable, or the default when unset or empty."""
    raw = _raw(name)
    return parse_int(name, raw, minimum, maximum) if raw else default


def env_float(
    name: str, default: float, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A float environment variable, or the default when unset or empty."""
    raw = _raw(name)
    return parse_float(name, raw, minimum, maximum) if raw else default


def env_decimal(name: str, minimum: Decimal | None = None) -> Decimal | None:
    """A decimal environment variable, or None when unset or empty."""
    raw = _raw(name)
    if not raw:
        return None
    if not _NUMBER.fullmatch(raw) or len(raw) > 30:
        raise SettingError(f"{name}={raw!r}: not a decimal number")
    value = Decimal(raw)
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def env_str(name: str, default: str) -> str:
    """A string environment variable, or the default when unset or empty."""
    return _raw(name) or default


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (upper case; any case accepted), or the default when unset or empty."""
    raw = _raw(name)
    if not raw:
        return default
    if raw.upper() not in choices:
        raise SettingError(f"{name}={raw!r}: must be one of {', '.join(choices)}")
    return raw.upper()


def env_flag(name: str, default: bool) -> bool:
    """An on/off environment variable (on/off, true/false, yes/no, 1/0), or the default."""
    raw = _raw(name)
    if not raw:
        return default
    value = FLAGS.get(raw.lower())
    if value is None:
        raise SettingError(f"{name}={raw!r}: must be on or off")
    return value


SYNCHRONOUS_MODES = ("NORMAL", "FULL")


@dataclass(frozen=True)
class Settings:
    """What the engine needs to run; the web face has its own settings."""

    db: str = "exchange.db"
    synchronous: str = "NORMAL"
    daily_deposit_limit: int = 10_000 * CENTS
    daily_withdraw_limit: int = 5_000 * CENTS
    max_amount: int = 1_000_000 * CENTS
    max_order_value: int = 10_000 * CENTS
    fee_bps: int = 0
    account_idle_seconds: float = 300.0
    account_inbox_size: int = 256
    store_inbox_size: int = 8192
    start_epoch: float | None = None
    catalogue: str = ""
    seed: int = 42
    tick_interval: float = 1.0
    history_days: int = 30
    frames_held: int = 600
    # Ticks whose writes the feed gathers into one; 1 (each tick durable at once) when serving.
    feed_write_ticks: int = 1
    # Step an asset only when read, paying owed ticks at each write (offline runs, no streams).
    feed_on_demand: bool = False
    # The feed ticks only when told to (``PriceFeed.advance``): offline runs drive it.
    feed_driven: bool = False
    red_pockets: str = ""
    red_pocket_default: Decimal | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``EXCHANGE_*`` variables; keyword overrides win."""
        values: dict[str, object] = {
            "db": env_str("EXCHANGE_DB", cls.db),
            "synchronous": env_choice("EXCHANGE_SYNCHRONOUS", cls.synchronous, SYNCHRONOUS_MODES),
            "daily_deposit_limit": env_int("EXCHANGE_DAILY_DEPOSIT_LIMIT", 10_000, 0, 10**12)
            * CENTS,
            "daily_withdraw_limit": env_int("EXCHANGE_DAILY_WITHDRAW_LIMIT", 5_000, 0, 10**12)
            * CENTS,
            "account_idle_seconds": env_float(
                "EXCHANGE_ACCOUNT_IDLE_SECONDS", cls.account_idle_seconds, 0.001
            ),
            "catalogue": env_str("EXCHANGE_CATALOGUE", cls.catalogue),
            "max_order_value": env_int("EXCHANGE_MAX_ORDER_VALUE", 10_000, 1, 10**12) * CENTS,
            "fee_bps": env_int("EXCHANGE_FEE_BPS", 0, 0, 10_000),
            "red_pockets": env_str("EXCHANGE_RED_POCKETS", cls.red_pockets),
            "red_pocket_default": env_decimal("EXCHANGE_RED_POCKET_DEFAULT", Decimal(0)),
            "seed": env_int("EXCHANGE_SEED", cls.seed),
            "tick_interval": env_float("EXCHANGE_TICK_INTERVAL", cls.tick_interval, 0.001),
            "history_days": env_int("EXCHANGE_HISTORY_DAYS", cls.history_days, 0, 3650),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
