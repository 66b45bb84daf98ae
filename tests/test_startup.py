"""Start-up: every bad flag, variable or file is one line on stderr naming it, and exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from exchange.settings import SettingError, env_flag, env_float, env_int
from tests.live import command, server_env
from web.cli import _parser, prepare

# (extra arguments, environment, what the error must name)
BAD_SETTINGS: list[tuple[list[str], dict[str, str], str]] = [
    ([], {"EXCHANGE_PORT": "abc"}, "EXCHANGE_PORT"),
    ([], {"EXCHANGE_PORT": "70000"}, "EXCHANGE_PORT"),
    ([], {"EXCHANGE_SYNCHRONOUS": "bogus"}, "EXCHANGE_SYNCHRONOUS"),
    ([], {"EXCHANGE_TICK_INTERVAL": "nan"}, "EXCHANGE_TICK_INTERVAL"),
    ([], {"EXCHANGE_FEE_BPS": "1_000"}, "EXCHANGE_FEE_BPS"),
    ([], {"EXCHANGE_DAILY_DEPOSIT_LIMIT": "-5"}, "EXCHANGE_DAILY_DEPOSIT_LIMIT"),
    ([], {"EXCHANGE_METRICS": "maybe"}, "EXCHANGE_METRICS"),
    ([], {"EXCHANGE_LOG_LEVEL": "loud"}, "EXCHANGE_LOG_LEVEL"),
    ([], {"EXCHANGE_SCRYPT_N": "1000"}, "EXCHANGE_SCRYPT_N"),
    ([], {"EXCHANGE_TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, "EXCHANGE_TRUSTED_PROXIES"),
    ([], {"EXCHANGE_RED_POCKET_DEFAULT": "lots"}, "EXCHANGE_RED_POCKET_DEFAULT"),
    ([], {"EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS": "0"}, "EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS"),
    ([], {"EXCHANGE_WEBSOCKET_SEND_TIMEOUT_SECONDS": "-1"}, "EXCHANGE_WEBSOCKET_SEND"),
    ([], {"EXCHANGE_LLM_URL": "ftp://model"}, "EXCHANGE_LLM_URL"),
    ([], {"EXCHANGE_CATALOGUE": "missing.json"}, "EXCHANGE_CATALOGUE"),
    ([], {"ADMIN_USERNAME": "admin_01"}, "ADMIN_PASSWORD"),
    (["--db", "no/such/dir/exchange.db"], {}, "no/such/dir/exchange.db"),
]


@pytest.mark.parametrize(("args", "env", "named"), BAD_SETTINGS)
def test_a_bad_setting_is_refused_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith(("EXCHANGE_", "ADMIN_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parsed = _parser().parse_args(["serve", "--port", "0", "--db", "exchange.db", *args])
    if "EXCHANGE_PORT" in env:
        parsed.port = None
    with pytest.raises(SettingError) as refused:
        prepare(parsed, parsed.db)
    message = str(refused.value)
    assert named in message
    assert "\n" not in message


# End to end: (extra arguments, environment, what the one line must name)
BAD_STARTS: list[tuple[list[str], dict[str, str], str]] = [
    ([], {"EXCHANGE_PORT": "abc"}, "EXCHANGE_PORT"),
    ([], {"EXCHANGE_SYNCHRONOUS": "bogus"}, "EXCHANGE_SYNCHRONOUS"),
    (["--port", "http"], {}, "--port"),
    (["--tick-interval", "-1"], {}, "--tick-interval"),
    (["--no-such-flag"], {}, "--no-such-flag"),
]


async def start(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    argv = ["serve", "--host", "127.0.0.1", "--db", str(tmp_path / "exchange.db"), *args]
    if "--port" not in args and "EXCHANGE_PORT" not in env:
        argv += ["--port", "0"]
    # A bad setting that is not refused would start a server: it is killed, and the test fails.
    with trio.fail_after(15):
        done = await trio.run_process(
            command(*argv),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=server_env(**env),
            cwd=tmp_path,
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_a_bad_start_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    results: dict[int, tuple[int, str, str]] = {}
    limiter = trio.CapacityLimiter(3)

    async def run(index: int, args: list[str], env: dict[str, str]) -> None:
        async with limiter:
            where = tmp_path / str(index)
            where.mkdir()
            results[index] = await start(where, args, env)

    async with trio.open_nursery() as nursery:
        for index, (args, env, _) in enumerate(BAD_STARTS):
            nursery.start_soon(run, index, args, env)
    for index, (args, env, named) in enumerate(BAD_STARTS):
        code, out, err = results[index]
        case = f"{args} {env}"
        assert code == 2, (case, out, err)
        assert out == "", case
        lines = err.splitlines()
        assert len(lines) == 1, (case, err)
        assert named in lines[0], (case, err)
        assert "Traceback" not in err


async def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await start(tmp_path, ["--port", str(port)], {})
    assert code == 2, err
    assert err.splitlines() == [
        f"exchange: cannot start: cannot listen on 127.0.0.1:{port} "
        "(--host/--port, EXCHANGE_HOST/EXCHANGE_PORT): Address already in use"
    ]


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "exchange.db").write_text("not a database\n")
    code, _, err = await start(tmp_path, [], {})
    assert code == 2
    assert err.splitlines() == [
        f"exchange: cannot start: database {tmp_path / 'exchange.db'}: file is not a database"
    ]


def test_numbers_and_flags_are_read_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in ("12", "+12", " 12 "):
        monkeypatch.setenv("EXCHANGE_X", raw)
        assert env_int("EXCHANGE_X", 0) == 12
    for raw in ("1_2", "١٢", "12.0", "0x10", "1e3"):
        monkeypatch.setenv("EXCHANGE_X", raw)
        with pytest.raises(SettingError, match="EXCHANGE_X"):
            env_int("EXCHANGE_X", 0)
    monkeypatch.setenv("EXCHANGE_X", "")
    assert env_int("EXCHANGE_X", 7) == 7
    monkeypatch.setenv("EXCHANGE_X", "0.5")
    assert env_float("EXCHANGE_X", 1.0, 0.1) == 0.5
    for raw in ("inf", "nan", "1e999", "0.05"):
        monkeypatch.setenv("EXCHANGE_X", raw)
        with pytest.raises(SettingError, match="EXCHANGE_X"):
            env_float("EXCHANGE_X", 1.0, 0.1)
    for raw, value in (("off", False), ("ON", True), ("0", False), ("yes", True)):
        monkeypatch.setenv("EXCHANGE_X", raw)
        assert env_flag("EXCHANGE_X", not value) is value
