"""A real ``exchange serve`` in a subprocess and the machine's Chromium, for browser tests."""

from __future__ import annotations

import base64
import os
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.live import command, server_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
START_TIMEOUT = 30.0


def chromium_args() -> list[str]:
    """Chromium's flags: quiet, and no sandbox when running as root (as CI does)."""
    return [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]


@dataclass
class LiveServer:
    """A running server process, the URL it serves, and the file it logs to."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(directory: Path, *arguments: str, **env: str) -> LiveServer:
    """Start ``exchange serve`` (with extra ``arguments``) on a free loopback port; wait for it."""
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--db",
                str(directory / "x.db"),
                *arguments,
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env(**env),
            cwd=directory,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Exchange serving on" in text:
            line = next(x for x in text.splitlines() if "Exchange serving on" in x)
            url = line.split("Exchange serving on ", 1)[1].split()[0].rstrip(",")
            return LiveServer(url, process, log)
        if process.poll() is not None:
            raise RuntimeError("server exited early:\n" + text)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start:\n" + log.read_text(errors="replace"))


def websocket_close_code(url: str, path: str, headers: dict[str, str]) -> int:
    """Open a websocket with exactly these headers; the close code the server ends it with."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        while True:
            while len(rest) < 2:
                rest += sock.recv(4096)
            opcode, length = rest[0] & 0x0F, rest[1] & 0x7F
            offset = 2
            if length == 126:
                while len(rest) < 4:
                    rest += sock.recv(4096)
                length = struct.unpack(">H", rest[2:4])[0]
                offset = 4
            while len(rest) < offset + length:
                rest += sock.recv(4096)
            payload, rest = rest[offset : offset + length], rest[offset + length :]
            if opcode == 0x8:
                code: int = struct.unpack(">H", payload[:2])[0]
                return code
