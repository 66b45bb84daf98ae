"""A real ``exchange serve`` process on an ephemeral loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

START_TIMEOUT = 20.0


@dataclass
class Server:
    """A running server process and the URL it serves."""

    url: str
    process: trio.Process
    output: list[str]


def command(*args: str) -> list[str]:
    """The ``exchange`` command line, run with this interpreter."""
    return [sys.executable, "-m", "web.cli", *args]


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a test server: cheap password hashing, no inherited secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env.update({"EXCHANGE_SCRYPT_N": "16", "EXCHANGE_LOG_LEVEL": "WARNING"}, **extra)
    return env


def serve_args(db: Path) -> list[str]:
    """``serve`` on an ephemeral loopback port with this database."""
    return ["serve", "--host", "127.0.0.1", "--port", "0", "--db", str(db)]


def open_server(db: Path, **env: str) -> AbstractAsyncContextManager[Server]:
    """Start ``exchange serve`` on 127.0.0.1:0 and stop it (SIGKILL) when the block ends."""
    return open_program(db, command(*serve_args(db)), server_env(**env))


@asynccontextmanager
async def open_program(
    db: Path, argv: list[str], environment: dict[str, str]
) -> AsyncIterator[Server]:
    """Start ``argv`` (an ``exchange serve`` command line) in ``db``'s directory."""
    process = await trio.lowlevel.open_process(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=db.parent,
    )
    assert process.stdout is not None
    output: list[str] = []
    buffer = b""
    try:
        with trio.fail_after(START_TIMEOUT):
            while "Exchange serving on" not in "".join(output):
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise RuntimeError("server exited early:\n" + "".join(output))
                buffer += chunk
                *lines, rest = buffer.split(b"\n")
                buffer = rest
                output.extend(line.decode() + "\n" for line in lines)
        line = next(line for line in output if "Exchange serving on" in line)
        url = line.split("Exchange serving on ", 1)[1].split()[0].rstrip(",")
        yield Server(url, process, output)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()


async def read_rest(server: Server) -> str:
    """Everything the server printed after start-up, once it has exited."""
    stdout = server.process.stdout
    assert stdout is not None
    chunks = []
    while chunk := await stdout.receive_some():
        chunks.append(chunk)
    return "".join(server.output) + b"".join(chunks).decode()
