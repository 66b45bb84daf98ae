"""Wire types of the /api/v1 contract (msgspec Structs), used to decode and to document."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from exchange.audit import EVENTS
from exchange.money import MAX_NUMBER_LENGTH, NUMBER
from exchange.orders import ORDER_TYPES, TIME_IN_FORCE, OrderView, one_of
from exchange.series import INTERVALS


def documented_as(**schema: Any) -> msgspec.Meta:
    """JSON Schema for the spec only: decoding stays as it is, the routes' own checks decide."""
    return msgspec.Meta(extra_json_schema=schema)


TRANSACTION_TYPES = (
    "deposit",
    "withdraw",
    "order_payment",
    "order_sale",
    "fee",
    "red_pocket",
    "adjustment",
    "class_grant",
    "class_reset",
    "class_adjustment",
)
ROLES = ("customer", "teacher", "admin")

Username = Annotated[str, documented_as(pattern="^[A-Za-z0-9_]{6,30}$")]
Password = Annotated[
    str,
    documented_as(
        minLength=12,
        maxLength=20,
        description="12-20 characters with an upper-case and a lower-case letter, a digit "
        "and one of !@#$%^&*()-_=+",
    ),
]
Email = Annotated[str, documented_as(format="email", maxLength=254)]
PersonName = Annotated[
    str, documented_as(minLength=1, maxLength=50, description="Letters, spaces, ' and -")
]
Phone = Annotated[str, documented_as(description="10-15 digits; spaces and ().+- are ignored")]
BirthDate = Annotated[str, documented_as(format="date", description="Age 13 to 120")]

_DECIMAL_DESCRIPTION = 'A decimal as a JSON number or a numeric string: 1500.50 or "1500.50"'


def _decimal_forms(**bounds: Any) -> list[dict[str, Any]]:
    return [
        {"type": "number", **bounds},
        {"type": "string", "pattern": f"^{NUMBER.pattern}$", "maxLength": MAX_NUMBER_LENGTH},
    ]


def decimal_text(description: str, nullable: bool = False, **bounds: Any) -> msgspec.Meta:
    """A money field kept as its exact JSON text, documented as a number or a decimal string.

    exchange.money parses the text (msgspec's own Decimal parsing takes spaces, underscores and
    digits of any script). msgspec takes no Raw in a union: an optional one is UNSET when left
    out, or the text null.
    """
    forms = _decimal_forms(**bounds) + ([{"type": "null"}] if nullable else [])
    return msgspec.Meta(
        description=f"{_DECIMAL_DESCRIPTION}. {description}", extra_json_schema={"anyOf": forms}
    )


_AMOUNT_RULE = "USD, at most 2 decimals, at most the per-request maximum (1000000 by default)"
_QUANTITY_RULE = "At most 8 decimals"
_PRICE_RULE = "USD, at most 8 decimals"
Amount = Annotated[msgspec.Raw, decimal_text(_AMOUNT_RULE, exclusiveMinimum=0)]
Quantity = Annotated[msgspec.Raw, decimal_text(_QUANTITY_RULE, minimum=0.001, maximum=10**10)]
NullablePrice = Annotated[
    msgspec.Raw,
    decimal_text(_PRICE_RULE, nullable=True, exclusiveMinimum=0, maximum=1_000_000),
]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /auth/register."""

    username: Username
    email: Email
    password: Password
    first_name: PersonName
    last_name: PersonName
    phone: Phone | None = None
    date_of_birth: BirthDate | None = None
    marketing_emails_consent: bool = False
    # A class's join code: the new student joins it (and gets its starting cash) at once.
    class_code: str | None = None


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /auth/login."""

    username: Username
    password: Password


class ProfileUpdateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PUT /auth/profile: only the fields present change."""

    first_name: PersonName | UnsetType = UNSET
    last_name: PersonName | UnsetType = UNSET
    email: Email | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    date_of_birth: BirthDate | UnsetType | None = UNSET
    marketing_emails_consent: bool | UnsetType = UNSET


class LogoutRequest(msgspec.Struct):
    """Body of POST /auth/logout: any JSON object, or none."""


class AmountRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /balance/deposit and /balance/withdraw: a number or numeric string.

    ``description`` (optional, at most 255 characters, no markup) becomes the ledger row's
    description; without it the row describes itself ("Deposit of $100.00").
    """

    amount: Amount
    description: str | None = None


class MessageResponse(msgspec.Struct):
    """A plain confirmation."""

    message: str


class TokenResponse(msgspec.Struct):
    """A new access token."""

    access_token: str
    token_type: Annotated[str, one_of(("bearer",))]
    expires_in: int


class SessionResponse(msgspec.Struct):
    """A browser session: who it is, its CSRF token and when it ends."""

    username: str
    role: str
    csrf_token: str
    expires_at: str


class ProfileResponse(msgspec.Struct):
    """A user's own profile."""

    username: str
    email: str
    first_name: str
    last_name: str
    phone: str | None
    date_of_birth: str | None
    marketing_emails_consent: bool
    role: Annotated[str, one_of(ROLES)]
    created_at: str
    updated_at: str


class ProfileUpdateResponse(msgspec.Struct):
    """The result of a profile update (``success`` is what the seed's own client checks)."""

    success: bool
    message: str
    user: ProfileResponse


class BalanceResponse(msgspec.Struct):
    """The cash balance."""

    current_balance: str
    updated_at: str


class MoneyMovedResponse(msgspec.Struct):
    """The result of a deposit or withdrawal."""

    success: bool
    message: str
    transaction_id: str
    timestamp: str


class TransactionResponse(msgspec.Struct):
    """One ledger row."""

    transaction_id: str
    transaction_type: Annotated[str, one_of(TRANSACTION_TYPES)]
    amount: str
    status: str
    description: str
    reference_id: str | None
    created_at: str


class TransactionsResponse(msgspec.Struct):
    """A page of the ledger."""

    transactions: list[TransactionResponse]
    total_count: int
    has_more: bool


class DailyLimit(msgspec.Struct):
    """One daily cap: the limit, what today used of it, and what remains."""

    limit: str
    used: str
    remaining: str


class DailyLimitsResponse(msgspec.Struct):
    """Today's deposit and withdrawal limits (UTC day of the exchange clock)."""

    day: str
    deposit: DailyLimit
    withdraw: DailyLimit


class HealthResponse(msgspec.Struct):
    """Liveness and a few internal checks."""

    status: Annotated[str, one_of(("healthy", "unhealthy"))]
    service: str
    version: str
    checks: dict[str, str | int]


class FieldErrorResponse(msgspec.Struct):
    """One field validation failure."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(msgspec.Struct):
    """The error shape of every 4xx and 5xx."""

    detail: str | list[FieldErrorResponse]
    code: str
    request_id: str


class Sparkline(msgspec.Struct):
    """Prices over a period, oldest first, in CoinGecko's shape (``sparkline_7d.price``)."""

    price: list[float]


class AssetResponse(msgspec.Struct):
    """A catalogue entry with its live market data (numbers, as the seed's clients expect).

    ``image`` is an absolute URL; ``market_cap_rank`` is the order of the current market caps.
    """

    asset_id: str
    name: str
    description: str
    category: str
    price_usd: float
    is_active: bool
    symbol: str
    image: str
    market_cap_rank: int
    price_change_percentage_24h: float | None
    market_cap: float | None
    total_volume_24h: float | None
    sparkline_7d: Sparkline


class AssetListResponse(msgspec.Struct):
    """A page of the catalogue, by market-cap rank."""

    data: list[AssetResponse]
    total_count: int
    active_count: int


class AssetDetail(AssetResponse):
    """One asset with every market field: the list fields, then these."""

    availability_status: Annotated[str, one_of(("available", "unavailable"))]
    price_change_24h: float | None
    price_change_percentage_7d: float | None
    price_change_percentage_30d: float | None
    high_24h: float | None
    low_24h: float | None
    circulating_supply: float | None
    total_supply: float | None
    max_supply: float | None
    ath: float | None
    ath_change_percentage: float | None
    ath_date: str | None
    atl: float | None
    atl_change_percentage: float | None
    atl_date: str | None
    last_updated: str | None


class AssetDetailResponse(msgspec.Struct):
    """One asset."""

    data: AssetDetail


class SparklinesResponse(msgspec.Struct):
    """Seven-day sparklines by asset id, each at most ``points`` prices, oldest first."""

    points: int
    data: dict[str, list[float]]


class CandleResponse(msgspec.Struct):
    """One OHLC candle; ``time`` is the start of its bucket."""

    time: str
    open: float
    high: float
    low: float
    close: float


class CandlesResponse(msgspec.Struct):
    """Candles of one asset and width, oldest first; the last may still be open."""

    asset_id: str
    interval: Annotated[str, one_of(tuple(INTERVALS))]
    data: list[CandleResponse]


class OrderRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /orders: amounts as numbers or numeric strings."""

    order_type: Annotated[str, documented_as(enum=list(ORDER_TYPES))]
    asset_id: Annotated[str, documented_as(pattern="^[A-Za-z0-9]{1,10}$")]
    quantity: Quantity
    price: NullablePrice | UnsetType = UNSET
    stop_price: NullablePrice | UnsetType = UNSET
    time_in_force: Annotated[str, documented_as(enum=list(TIME_IN_FORCE))] = "gtc"
    expires_at: Annotated[str, documented_as(format="date-time")] | None = None
    client_order_id: Annotated[str, documented_as(pattern="^[A-Za-z0-9_-]{1,64}$")] | None = None
    note: Annotated[str, documented_as(maxLength=1000)] | None = None


class TradingRulesResponse(msgspec.Struct):
    """Limits an order is checked against, for previews."""

    max_order_value: str
    fee_bps: int
    min_quantity: str
    daily_deposit_limit: str
    daily_withdraw_limit: str


class OrderResponse(msgspec.Struct):
    """One order."""

    data: OrderView


class OrderListResponse(msgspec.Struct):
    """A page of orders, newest first."""

    data: list[OrderView]
    has_more: bool
    total_count: int


class PortfolioAsset(msgspec.Struct):
    """One holding valued at the current price."""

    asset_id: str
    quantity: str
    current_price: str
    market_value: str
    percentage: float
    average_cost: str
    unrealized_pnl: str
    reserved_quantity: str


class PortfolioResponse(msgspec.Struct):
    """Cash and holdings; percentages are of the total value including cash."""

    assets: list[PortfolioAsset]
    usd_balance: str
    reserved_usd: str
    available_usd: str
    total_asset_value: str
    total_value: str


class ValuePointResponse(msgspec.Struct):
    """The account's value at one instant (decimal USD strings)."""

    time: str
    total_value: str
    cash: str
    holdings_value: str
    # Change in total value since the first point, less deposits and plus withdrawals since.
    profit_loss: str


class PortfolioHistoryResponse(msgspec.Struct):
    """The account's value over a period, oldest first; the last point is now."""

    period: str
    step_seconds: int
    base_value: str
    data: list[ValuePointResponse]


class HoldingResponse(msgspec.Struct):
    """One asset balance."""

    asset_id: str
    asset_name: str
    quantity: str
    reserved_quantity: str
    current_price: str
    total_value: str
    created_at: str
    updated_at: str


class HoldingsResponse(msgspec.Struct):
    """Every asset balance."""

    data: list[HoldingResponse]


class AssetTradeResponse(msgspec.Struct):
    """One trade in an asset."""

    asset_id: str
    transaction_type: Annotated[str, one_of(("BUY", "SELL"))]
    quantity: str
    price: str
    total: str
    order_id: str
    status: str
    timestamp: str


class AssetTradesResponse(msgspec.Struct):
    """A page of trades in one asset, newest first."""

    data: list[AssetTradeResponse]
    has_more: bool


class AuditEntryResponse(msgspec.Struct):
    """One security event."""

    seq: int
    time: str
    event: Annotated[str, one_of(EVENTS)]
    username: str | None
    ip: str | None
    detail: str


class AuditLogResponse(msgspec.Struct):
    """A page of the audit log, newest first."""

    data: list[AuditEntryResponse]
    total_count: int
    has_more: bool


class ClaimRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /cny/claim."""

    phrase: Annotated[str, documented_as(minLength=1, maxLength=200)]


class ClaimResponse(msgspec.Struct):
    """What a red-pocket claim paid."""

    success: bool
    message: str
    amount: str
    got_red_pocket: bool
    timestamp: str


class Insight(msgspec.Struct):
    """A written summary of the caller's portfolio."""

    summary: str
    generated_at: str
    model: str


class InsightResponse(msgspec.Struct):
    """The portfolio insight."""

    data: Insight
