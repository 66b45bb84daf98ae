"""The ``exchange`` command: ``serve`` runs the exchange and its web face, ``verify`` checks a db,
``scenario`` lists, validates and runs scenarios.

This entry point is the one module that composes the engine with the web face.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from exchange.catalogue import CatalogueError
from exchange.engine import Exchange
from exchange.ledger import find_mismatches
from exchange.redpocket import RedPocketError
from exchange.settings import (
    SettingError,
    Settings,
    env_choice,
    env_str,
    parse_float,
    parse_int,
)
from exchange.store import connect
from scenarios import commands as scenario_commands
from scenarios.live import LiveScenario, assets_in_play, live_settings
from scenarios.loader import ScenarioError
from scenarios.loader import load as load_scenario
from scenarios.model import Scenario
from web import logs
from web.app import create_app
from web.connections import Connections, ServeConfig
from web.connections import install as install_tracked_connections
from web.keepalive import CloseEarlyResponses
from web.prefix import normalise
from web.routes import scenario as scenario_routes
from web.routes.prices import MAX_MESSAGE_BYTES
from web.settings import LOG_LEVELS, MAX_PORT, WebSettings, web_settings_from_env
from web.validation import Rules

log = logging.getLogger("exchange")


# Kept out of the shutdown timeout for what follows the connections: the store's last commit
# (at most STORE_DRAIN_SECONDS), the engine's stop and the interpreter's exit.
SHUTDOWN_RESERVE_SECONDS = 0.5
STORE_DRAIN_SECONDS = 0.25
# hypercorn buffers a websocket message whole before the app sees it (16 MiB by default): refuse
# one larger than this at the protocol layer (close 1009). A little above the streams' own limit
# (MAX_MESSAGE_BYTES), so a message just over that still gets their explanatory error message.
PROTOCOL_MAX_MESSAGE_BYTES = 2 * MAX_MESSAGE_BYTES


async def _serve_http(
    app: object,
    config: Config,
    signals: trio.abc.ReceiveChannel[int],
    exchange: Exchange,
    connections: Connections,
    grace: float,
    task_status: trio.TaskStatus[list[str]],
) -> None:
    stopping = trio.Event()

    async def on_signal() -> None:
        async for signum in signals:
            log.info("received %s: finishing in-flight requests", signal.Signals(signum).name)
            # Streams never finish by themselves: end them so the graceful shutdown can.
            exchange.feed.close_subscriptions()
            exchange.events.close_all()
            stopping.set()
            return

    async def reset_stragglers() -> None:
        # hypercorn cancels its connections after the grace period, but a write to a client
        # that does not read cannot be cancelled: reset whatever is still open.
        await stopping.wait()
        await trio.sleep(grace)
        if count := connections.abort_all():
            log.warning("reset %d connections still open %g s after the signal", count, grace)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reset_stragglers)
        await hypercorn_serve(app, config, shutdown_trigger=on_signal, task_status=task_status)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()


def server_config(web: WebSettings, connections: Connections) -> ServeConfig:
    """hypercorn's configuration for the exchange."""
    config = ServeConfig(connections)
    config.bind = [f"{web.host}:{web.port}"]
    # The standard ASGI mount point; a trusted proxy's X-Forwarded-Prefix overrides it per request.
    config.root_path = normalise(web.root_path) or ""
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = max(web.shutdown_timeout_seconds - SHUTDOWN_RESERVE_SECONDS, 0.0)
    # No server-initiated websocket pings: hypercorn's ping task would hold a graceful shutdown
    # open for its whole timeout. Ticks flow every interval, and clients may ping either way.
    config.websocket_ping_interval = None
    config.websocket_max_message_size = PROTOCOL_MAX_MESSAGE_BYTES
    return config


async def serve(
    exchange: Exchange, web: WebSettings, story: tuple[Scenario, float] | None = None
) -> None:
    """Run the exchange and serve HTTP until SIGINT or SIGTERM, then shut down cleanly.

    With a story (a scenario and its speed), play it live while serving.

    Shutdown takes at most ``web.shutdown_timeout_seconds``: in-flight requests and streams
    get that minus ``SHUTDOWN_RESERVE_SECONDS``, connections still open then are reset, and
    the store commits what it was given and closes.
    """
    connections = Connections()
    install_tracked_connections()
    config = server_config(web, connections)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(exchange.run)
            quart_app = create_app(exchange, web, connections)
            if story is not None:
                live = LiveScenario(exchange, *story)
                scenario_routes.install(quart_app, live)
                nursery.start_soon(live.run)
            app = CloseEarlyResponses(quart_app)
            # The HTTP server returns once in-flight requests are done (or reset); then the
            # store commits what is queued, the engine stops and the store closes the database.
            async with trio.open_nursery() as http:
                grace = config.graceful_timeout
                binds = await http.start(
                    _serve_http, app, config, signals, exchange, connections, grace
                )
                print(
                    f"Exchange serving on {', '.join(binds)} (database: {exchange.settings.db})",
                    flush=True,
                )
            with trio.move_on_after(STORE_DRAIN_SECONDS):
                await exchange.store.barrier()
            nursery.cancel_scope.cancel()


def verify(db: str) -> int:
    """Check balances, holdings and reservations against ledgers and open orders.

    Exits non-zero, naming the accounts, on any mismatch.
    """
    if not Path(db).exists():
        print(f"no database at {db}", file=sys.stderr)
        return 2
    # Opening brings an older database's schema up to date, so every check has its tables.
    conn = connect(db)
    try:
        problems = find_mismatches(conn)
        (accounts,) = conn.execute("SELECT COUNT(*) FROM accounts").fetchone()
    finally:
        conn.close()
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        print(f"{len(problems)} of {accounts} accounts disagree with their ledger", file=sys.stderr)
        return 1
    print(f"ok: {accounts} accounts match their ledgers")
    return 0


def tune_gc() -> None:
    """Keep collector pauses out of request latency.

    Everything imported so far lives for the whole process: freezing it stops every full
    collection from walking it again, and a larger young generation makes collections rarer.
    Measured with ``make bench`` at 10 clients: deposit p99 40 ms -> 22 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad flag in one line (no usage block) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``exchange: <message>`` on stderr and exit 2."""
        self.exit(2, f"{self.prog}: {message}\n")


def _flag(parse: Callable[[str, str], object], name: str) -> Callable[[str], object]:
    def convert(raw: str) -> object:
        try:
            return parse(name, raw)
        except SettingError as exc:
            # argparse prefixes "argument --flag:"; the value and the rule are enough.
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    return convert


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="exchange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the exchange and serve the API")
    run.add_argument("--host", help="listen address (EXCHANGE_HOST, default 127.0.0.1)")
    run.add_argument(
        "--port",
        type=_flag(lambda name, raw: parse_int(name, raw, 0, MAX_PORT), "--port"),
        help="listen port (EXCHANGE_PORT, default 8080)",
    )
    run.add_argument("--db", help="database path or :memory: (EXCHANGE_DB, default exchange.db)")
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="log level (EXCHANGE_LOG_LEVEL, default INFO)",
    )
    run.add_argument(
        "--seed",
        type=_flag(parse_int, "--seed"),
        help="master seed of the price paths (EXCHANGE_SEED, 42)",
    )
    run.add_argument(
        "--tick-interval",
        type=_flag(lambda name, raw: parse_float(name, raw, 0.001), "--tick-interval"),
        help="seconds between price ticks (EXCHANGE_TICK_INTERVAL, 1.0)",
    )
    run.add_argument("--scenario", help="play a scenario live (a bundled name or a .toml file)")
    run.add_argument(
        "--speed",
        type=_flag(lambda name, raw: parse_float(name, raw, 0.01, 1000.0), "--speed"),
        default=1.0,
        help="with --scenario: play it X times faster (0.01 to 1000)",
    )
    check = commands.add_parser("verify", help="check every balance against its ledger")
    check.add_argument("--db", help="database path (EXCHANGE_DB, default exchange.db)")
    scenario_commands.add_parser(commands)
    return parser


def check_database(db: str) -> None:
    """Open the database once, so an unusable path is one line at start, not a traceback."""
    if db == ":memory:":
        return
    try:
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SettingError(f"database {db}: {exc}") from None


def check_listen(web: WebSettings) -> None:
    """Bind the listening address once, so a port in use is one line at start."""
    config = Config()
    config.bind = [f"{web.host}:{web.port}"]
    try:
        sockets = config.create_sockets()
    except OSError as exc:
        where = f"{web.host}:{web.port} (--host/--port, EXCHANGE_HOST/EXCHANGE_PORT)"
        raise SettingError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    for sock in sockets.insecure_sockets:
        sock.close()


def check_admin(web: WebSettings) -> None:
    """ADMIN_USERNAME and ADMIN_PASSWORD come together and follow the registration rules."""
    if not web.admin_username and not web.admin_password:
        return
    if not web.admin_username or not web.admin_password:
        raise SettingError("ADMIN_USERNAME and ADMIN_PASSWORD must be set together")
    rules = Rules()
    rules.username(web.admin_username, "ADMIN_USERNAME")
    rules.password(web.admin_password, "ADMIN_PASSWORD")
    if rules.errors:
        error = rules.errors[0]
        raise SettingError(f"{error['loc'][-1]}: {error['msg']}")


Story = tuple[Scenario, float] | None


def prepare(args: argparse.Namespace, db: str) -> tuple[Exchange, WebSettings, str, Story]:
    """Everything ``serve`` needs, checked: the exchange, web settings, log level and story.

    ``SettingError`` names the first bad setting.
    """
    level = args.log_level or env_choice("EXCHANGE_LOG_LEVEL", "INFO", LOG_LEVELS)
    settings = Settings.from_env(db=db, seed=args.seed, tick_interval=args.tick_interval)
    story: Story = None
    if args.scenario:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            raise SettingError(f"--scenario {exc}") from None
        settings = live_settings(settings, scenario, args.speed, args.seed)
        story = (scenario, args.speed)
    check_database(db)
    try:
        web = web_settings_from_env(db, args.host, args.port)
    except OSError as exc:
        raise SettingError(f"JWT secret beside {db}: {exc.strerror or exc}") from None
    if normalise(web.root_path) is None:
        raise SettingError(f"EXCHANGE_ROOT_PATH={web.root_path!r}: not a path like /class-7b")
    check_admin(web)
    check_listen(web)
    try:
        exchange = Exchange(settings)
    except CatalogueError as exc:
        named = "EXCHANGE_CATALOGUE" if settings.catalogue else "catalogue"
        raise SettingError(f"{named} {exc}") from None
    except RedPocketError as exc:
        named = "EXCHANGE_RED_POCKETS" if settings.red_pockets else "red pockets"
        raise SettingError(f"{named} {exc}") from None
    if story is not None:
        assets_in_play(exchange, story[0])
    return exchange, web, level, story


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``exchange`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "scenario":
        return scenario_commands.main(args)
    try:
        db = args.db or env_str("EXCHANGE_DB", "exchange.db")
        if args.command == "verify":
            return verify(db)
        exchange, web, level, story = prepare(args, db)
    except SettingError as exc:
        print(f"exchange: cannot start: {exc}", file=sys.stderr)
        return 2
    logs.configure(level)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve, exchange, web, story)
    print("Exchange stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
