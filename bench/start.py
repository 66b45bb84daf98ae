"""Start-up time of ``exchange serve``: from exec to ``/health`` answering, wall and CPU.

    python -m bench.start [--program dist/exchange] [--runs 3]

Each run starts the program in an empty temporary directory (a fresh database: the back-history
is synthesized) and then once more on the database it left. Wall time depends on what else the
machine runs; the CPU seconds the process tree used until ``/health`` answered (user + system,
the one-file build's bootloader and its Python child together) are what the start costs, and
are close to the wall time of a start on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` and its children still running, from ``/proc``."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def one_start(program: list[str], where: Path) -> tuple[float, float]:
    """(wall s, CPU s) from exec to the first answer of ``/health``; then SIGTERM."""
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(where), "EXCHANGE_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [*program, "serve", "--port", str(port)],
        cwd=where,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None:
                    raise SystemExit(f"{program[0]} exited with {process.returncode}") from None
                time.sleep(0.005)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return wall, cpu


def main(argv: Sequence[str] | None = None) -> int:
    """Print wall and CPU time to ``/health`` for fresh and existing databases."""
    parser = argparse.ArgumentParser(prog="bench.start", description=__doc__.split("\n")[0])
    parser.add_argument("--program", help="the executable (default: this venv's exchange)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.program:
        program = [str(Path(args.program).resolve())]
    else:
        program = [sys.executable, "-m", "web.cli"]
    print(f"{'run':>3}  {'database':<9} {'wall s':>7} {'cpu s':>6}")
    for run in range(1, args.runs + 1):
        where = Path(tempfile.mkdtemp(prefix="exchange-start-"))
        try:
            for database in ("fresh", "existing"):
                wall, cpu = one_start(program, where)
                print(f"{run:>3}  {database:<9} {wall:7.2f} {cpu:6.2f}", flush=True)
        finally:
            shutil.rmtree(where)
    with open("/proc/loadavg") as loadavg:
        print(f"load average: {loadavg.read().split()[0]} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
