"""Start a fresh ``exchange serve`` on loopback, run the load driver against it, stop it.

Usage: ``python -m bench.run [--gateway on|off] [load options]`` (``make bench``). Options are
passed to ``bench.load`` (for example ``--clients 50,10 --duration 10 --workload health,deposit``);
``--url`` and ``--server-pid`` are filled in. The server gets its own temporary database.

``--gateway on`` (the default) runs the server as shipped: rate limiting, the per-user order
rate and metrics all on, with the per-IP limit raised so that the benchmark (every client on
127.0.0.1) is counted but never refused. ``--gateway off`` turns all three off, to measure their
overhead.
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
GATEWAY = {
    "on": {"EXCHANGE_RATE_LIMIT_PER_MINUTE": str(10**9)},
    "off": {
        "EXCHANGE_RATE_LIMIT_PER_MINUTE": "0",
        "EXCHANGE_ORDER_RATE_PER_SECOND": "0",
        "EXCHANGE_METRICS": "off",
    },
}


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


def stop_server(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    """Stop a server with SIGTERM (SIGKILL if it hangs); its exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one benchmark against a fresh server."""
    args = list(sys.argv[1:] if argv is None else argv)
    gateway = "on"
    if "--gateway" in args:
        at = args.index("--gateway")
        gateway = args[at + 1] if at + 1 < len(args) else ""
        del args[at : at + 2]
    if gateway not in GATEWAY:
        raise SystemExit("--gateway takes on or off")
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as workdir:
        process, url = start_server(workdir, GATEWAY[gateway])
        try:
            print(
                f"server pid {process.pid} at {url} (gateway {gateway})",
                file=sys.stderr,
                flush=True,
            )
            return load.main([*args, "--url", url, "--server-pid", str(process.pid)])
        finally:
            stop_server(process)


if __name__ == "__main__":
    sys.exit(main())
