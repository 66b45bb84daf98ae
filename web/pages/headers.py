"""Headers for what a browser loads: security headers on every response, gzip where it pays."""

from __future__ import annotations

import gzip
import time

from quart import Response, g, request
from quart_trio import QuartTrio

# Only this origin's scripts and styles, no inline script, no framing by any site.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The API viewer's React components set style attributes, so only its styles may be inline.
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
API_PREFIX = "/api/"
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_COMPRESS_BYTES = 1024
GZIP_LEVEL = 6
# Compressed static files, by path and ETag: each is compressed once.
_static_cache: dict[tuple[str, str], bytes] = {}
STATIC_CACHE_ENTRIES = 256


def install(app: QuartTrio) -> None:
    """Add the headers (and compression) to every response of ``app``."""
    app.after_request(_finish)


def _policy(path: str) -> str:
    return DOCS_POLICY if path == "/docs" else PAGE_POLICY


async def _finish(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Content-Security-Policy", _policy(request.path))
    await _compress(response)
    started = getattr(g, "started", None)
    if started is not None and not request.path.startswith(API_PREFIX):
        # The time this process spent on a page, for browsers' devtools and the benchmark.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


async def _compress(response: Response) -> None:
    kind = response.mimetype or ""
    if (
        response.status_code != 200
        or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
        or not kind.startswith(COMPRESSIBLE)
        or "Content-Encoding" in response.headers
        or request.method == "HEAD"
    ):
        return
    response.vary.add("Accept-Encoding")
    etag = response.headers.get("ETag")
    key = (request.path, etag) if etag and request.path.startswith("/static/") else None
    packed = _static_cache.get(key) if key else None
    if packed is None:
        body = await response.get_data(as_text=False)
        if len(body) < MIN_COMPRESS_BYTES:
            return
        packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
        if key and len(_static_cache) < STATIC_CACHE_ENTRIES:
            _static_cache[key] = packed
    response.set_data(packed)
    response.headers["Content-Encoding"] = "gzip"
