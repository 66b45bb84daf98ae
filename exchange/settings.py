"""Engine settings, read from the environment with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from exchange.money import CENTS


def env_int(name: str, default: int) -> int:
    """An integer environment variable, or the default when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    """A float environment variable, or the default when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def env_decimal(name: str) -> Decimal | None:
    """A decimal environment variable, or None when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return Decimal(raw) if raw else None


def env_str(name: str, default: str) -> str:
    """A string environment variable, or the default when unset or empty."""
    return os.environ.get(name, "").strip() or default


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
    red_pockets: str = ""
    red_pocket_default: Decimal | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``EXCHANGE_*`` variables; keyword overrides win."""
        values: dict[str, object] = {
            "db": env_str("EXCHANGE_DB", cls.db),
            "synchronous": env_str("EXCHANGE_SYNCHRONOUS", cls.synchronous),
            "daily_deposit_limit": env_int("EXCHANGE_DAILY_DEPOSIT_LIMIT", 10_000) * CENTS,
            "daily_withdraw_limit": env_int("EXCHANGE_DAILY_WITHDRAW_LIMIT", 5_000) * CENTS,
            "account_idle_seconds": env_float(
                "EXCHANGE_ACCOUNT_IDLE_SECONDS", cls.account_idle_seconds
            ),
            "catalogue": env_str("EXCHANGE_CATALOGUE", cls.catalogue),
            "max_order_value": env_int("EXCHANGE_MAX_ORDER_VALUE", 10_000) * CENTS,
            "fee_bps": env_int("EXCHANGE_FEE_BPS", 0),
            "red_pockets": env_str("EXCHANGE_RED_POCKETS", cls.red_pockets),
            "red_pocket_default": env_decimal("EXCHANGE_RED_POCKET_DEFAULT"),
            "seed": env_int("EXCHANGE_SEED", cls.seed),
            "tick_interval": env_float("EXCHANGE_TICK_INTERVAL", cls.tick_interval),
            "history_days": env_int("EXCHANGE_HISTORY_DAYS", cls.history_days),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
