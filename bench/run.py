"""Start a fresh ``exchange serve`` on loopback, run the load driver against it, stop it.

Usage: ``python -m bench.run [load options]`` (``make bench``). Options after the command are
passed to ``bench.load`` (for example ``--clients 50,10 --duration 10 --workload health,deposit``);
``--url`` and ``--server-pid`` are filled in. The server gets its own temporary database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from bench import load

START_LINE = "Exchange serving on "


def start_server(workdir: str, env_extra: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A server on a free loopback port with a database in ``workdir``, and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env.update({"EXCHANGE_LOG_LEVEL": "WARNING"}, **env_extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", "0", "--db", f"{workdir}/bench.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=workdir,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if START_LINE in line:
            return process, line.split(START_LINE, 1)[1].split()[0].rstrip(",")
    raise SystemExit(f"the server did not start (exit {process.wait()})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one benchmark against a fresh server."""
    args = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as workdir:
        process, url = start_server(workdir, {})
        try:
            print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
            return load.main([*args, "--url", url, "--server-pid", str(process.pid)])
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    sys.exit(main())
