"""Settings of the web face: listening address, tokens, body limits, password cost."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from exchange.passwords import DEFAULT_N
from exchange.settings import SettingError, env_flag, env_float, env_int, env_str
from web.clientip import parse_networks

VERSION = "0.1.0"


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WebSettings:
    """What ``create_app`` needs."""

    jwt_secret: str
    host: str = "127.0.0.1"
    port: int = 8080
    token_ttl_seconds: int = 3600
    max_body_bytes: int = 64 * 1024
    scrypt_n: int = DEFAULT_N
    # Serve mode hashes passwords on a worker thread (scrypt releases the GIL); tests under the
    # virtual clock hash inline, since a thread would let the clock jump mid-hash.
    hash_in_thread: bool = True
    # Password hashes that run at once (each holds ~16 MiB): more than the cores cannot go faster.
    hash_concurrency: int = field(default_factory=usable_cores)
    rate_limit_per_minute: int = 10_000
    order_rate_per_second: float = 1000.0
    trusted_proxies: str = ""
    # The path prefix this market is served under behind a proxy (web/prefix.py).
    root_path: str = ""
    # Failed logins are counted per (address, username); a much higher count per address
    # alone catches spraying many usernames, without one student's typos locking out a room.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 50
    login_failure_window_seconds: float = 300.0
    login_block_seconds: float = 300.0
    request_timeout_seconds: float = 30.0
    max_websockets: int = 10_000
    # One address (a school's NAT, say) may hold this many streams: a class of 30 with a prices
    # and an account stream each fits; one client cannot take every slot.
    max_websockets_per_ip: int = 100
    # A websocket write not taken within the send timeout drops the client; its close frame
    # then has the close timeout, after which the connection is reset.
    websocket_send_timeout_seconds: float = 5.0
    websocket_close_timeout_seconds: float = 2.0
    # SIGINT/SIGTERM: how long the server may take to stop, whatever its clients do.
    shutdown_timeout_seconds: float = 5.0
    metrics: bool = True
    admin_username: str = ""
    admin_password: str = ""
    # The optional external LLM for insights (an OpenAI-compatible chat-completions URL).
    llm_url: str = ""
    llm_model: str = ""
    # A secret: left out of the repr so that printing or logging the settings never shows it.
    llm_api_key: str = field(default="", repr=False)
    llm_timeout_seconds: float = 8.0
    llm_breaker_failures: int = 3
    llm_breaker_cooldown_seconds: float = 60.0


def secret_beside(db: str) -> str:
    """The JWT secret kept beside the database (mode 0600), generated on first use."""
    base = Path.cwd() if db == ":memory:" else Path(db).resolve().parent
    path = base / ".exchange-jwt-secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_PORT = 65_535


def scrypt_cost(name: str, value: int) -> int:
    """scrypt's N must be a power of two above 1; ``SettingError`` otherwise."""
    if value < 2 or value & (value - 1):
        raise SettingError(f"{name}={value}: must be a power of two (16, 1024, 16384, ...)")
    return value


def trusted_proxies(name: str, raw: str) -> str:
    """A list of addresses or CIDR networks; ``SettingError`` naming the bad entry."""
    for part in raw.split(","):
        try:
            parse_networks(part)
        except ValueError:
            raise SettingError(f"{name}: {part.strip()!r} is not an address or network") from None
    return raw


def llm_url(name: str, raw: str) -> str:
    """Empty, or an http(s) URL; ``SettingError`` otherwise."""
    if raw and urlsplit(raw).scheme not in ("http", "https"):
        raise SettingError(f"{name}={raw!r}: must be an http:// or https:// URL")
    return raw


def web_settings_from_env(db: str, host: str | None, port: int | None) -> WebSettings:
    """Web settings from ``EXCHANGE_*`` variables; a missing JWT secret is kept beside the db.

    A variable that is set to something unusable raises ``SettingError`` naming it.
    """
    secret = os.environ.get("EXCHANGE_JWT_SECRET", "").strip() or secret_beside(db)
    return WebSettings(
        jwt_secret=secret,
        host=host or env_str("EXCHANGE_HOST", "127.0.0.1"),
        port=port if port is not None else env_int("EXCHANGE_PORT", 8080, 0, MAX_PORT),
        token_ttl_seconds=env_int("EXCHANGE_TOKEN_TTL_SECONDS", 3600, 1),
        max_body_bytes=env_int("EXCHANGE_MAX_BODY_BYTES", 64 * 1024, 1),
        scrypt_n=scrypt_cost("EXCHANGE_SCRYPT_N", env_int("EXCHANGE_SCRYPT_N", DEFAULT_N, 2)),
        rate_limit_per_minute=env_int("EXCHANGE_RATE_LIMIT_PER_MINUTE", 10_000, 0),
        order_rate_per_second=env_float("EXCHANGE_ORDER_RATE_PER_SECOND", 1000.0, 0),
        trusted_proxies=trusted_proxies(
            "EXCHANGE_TRUSTED_PROXIES", env_str("EXCHANGE_TRUSTED_PROXIES", "")
        ),
        root_path=env_str("EXCHANGE_ROOT_PATH", ""),
        login_max_failures=env_int("EXCHANGE_LOGIN_MAX_FAILURES", 5, 1),
        login_max_failures_per_address=env_int("EXCHANGE_LOGIN_MAX_FAILURES_PER_ADDRESS", 50, 1),
        login_failure_window_seconds=env_float(
            "EXCHANGE_LOGIN_FAILURE_WINDOW_SECONDS", 300.0, 0.001
        ),
        login_block_seconds=env_float("EXCHANGE_LOGIN_BLOCK_SECONDS", 300.0, 0),
        request_timeout_seconds=env_float("EXCHANGE_REQUEST_TIMEOUT_SECONDS", 30.0, 0.001),
        max_websockets=env_int("EXCHANGE_MAX_WEBSOCKETS", 10_000, 0),
        max_websockets_per_ip=env_int("EXCHANGE_MAX_WEBSOCKETS_PER_IP", 100, 0),
        websocket_send_timeout_seconds=env_float(
            "EXCHANGE_WEBSOCKET_SEND_TIMEOUT_SECONDS", 5.0, 0.001
        ),
        websocket_close_timeout_seconds=env_float(
            "EXCHANGE_WEBSOCKET_CLOSE_TIMEOUT_SECONDS", 2.0, 0.001
        ),
        shutdown_timeout_seconds=env_float("EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS", 5.0, 1.0),
        metrics=env_flag("EXCHANGE_METRICS", True),
        admin_username=env_str("ADMIN_USERNAME", ""),
        admin_password=os.environ.get("ADMIN_PASSWORD", ""),
        llm_url=llm_url("EXCHANGE_LLM_URL", env_str("EXCHANGE_LLM_URL", "")),
        llm_model=env_str("EXCHANGE_LLM_MODEL", ""),
        llm_api_key=env_str("EXCHANGE_LLM_API_KEY", ""),
        llm_timeout_seconds=env_float("EXCHANGE_LLM_TIMEOUT_SECONDS", 8.0, 0.001),
        llm_breaker_failures=env_int("EXCHANGE_LLM_BREAKER_FAILURES", 3, 1),
        llm_breaker_cooldown_seconds=env_float("EXCHANGE_LLM_BREAKER_COOLDOWN_SECONDS", 60.0, 0),
    )
