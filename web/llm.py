"""An optional external LLM for insights: a client of an OpenAI-compatible chat completions URL.

It sends only a portfolio's facts (compact JSON, bounded) under a fixed system prompt, with
the API key as ``Authorization: Bearer`` (never logged). Every failure is one exception:

    LLMUnavailable      no usable answer; ``reason`` says why (timeout, http 500, ...)
    └── CircuitOpen     not even tried: the breaker is open after repeated failures
"""

from __future__ import annotations

import logging

import httpx
import msgspec
import trio

from exchange.breaker import Breaker
from exchange.insights import Facts
from exchange.money import format_usd

log = logging.getLogger("web.llm")

SYSTEM_PROMPT = (
    "You are the portfolio analyst of a crypto trading simulator. The user message holds facts "
    "about one portfolio as JSON: amounts in US dollars, shares and moves in percent. Write 2 "
    "to 4 plain sentences on its allocation, concentration, cash share, recent performance and "
    "activity. Use only these facts, invent no numbers, give no personal financial advice, and "
    "write no lists, headings or markdown."
)
MAX_PROMPT_CHARS = 2_000
MAX_SUMMARY_CHARS = 1_200
MAX_MODEL_CHARS = 100
MAX_RESPONSE_BYTES = 256 * 1024
MAX_TOKENS = 300
TEMPERATURE = 0.2


class LLMUnavailable(Exception):
    """The LLM gave no usable answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def label(self) -> str:
        """How the fallback answer names this failure."""
        return f"llm unavailable: {self.reason}"


class CircuitOpen(LLMUnavailable):
    """The breaker is open: the LLM was not called."""

    def __init__(self) -> None:
        super().__init__("circuit open")

    @property
    def label(self) -> str:
        """How the fallback answer names this failure."""
        return "llm circuit open"


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Completion(msgspec.Struct):
    choices: list[_Choice]
    model: str | None = None


_completion = msgspec.json.Decoder(_Completion)


def prompt_of(facts: Facts) -> str:
    """The user message: the facts as compact JSON with USD decimal strings, bounded."""
    plain: dict[str, object] = {}
    for name, value in msgspec.structs.asdict(facts).items():
        if name.endswith("_cents"):
            plain[name.removesuffix("_cents") + "_usd"] = format_usd(value)
        else:
            plain[name] = value
    return msgspec.json.encode(plain).decode()[:MAX_PROMPT_CHARS]


def bounded(text: str) -> str:
    """An answer stripped and cut to ``MAX_SUMMARY_CHARS``, at a sentence end when there is one."""
    text = text.strip()
    if len(text) <= MAX_SUMMARY_CHARS:
        return text
    cut = text[:MAX_SUMMARY_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > 0 else cut.rstrip()


class LLMClient:
    """Asks the configured model to summarize facts, under a deadline and a circuit breaker."""

    def __init__(self, url: str, model: str, api_key: str, timeout: float, breaker: Breaker):
        self.url = url
        self.model = model
        self.timeout = timeout
        self.breaker = breaker
        self._api_key = api_key
        self._client: httpx.AsyncClient | None = None

    async def summarize(self, facts: Facts) -> tuple[str, str]:
        """The model's summary and the model's name; ``LLMUnavailable`` on any failure."""
        if not self.breaker.allow():
            raise CircuitOpen()
        try:
            answer = await self._ask(facts)
        except LLMUnavailable as exc:
            self.breaker.failed()
            log.warning("insights LLM unavailable: %s (breaker %s)", exc.reason, self.breaker.state)
            raise
        except Exception as exc:
            # Whatever else goes wrong (a bug included), insights still answer from the analyst.
            self.breaker.failed()
            log.warning("insights LLM failed: %s", type(exc).__name__)
            raise LLMUnavailable("error") from None
        self.breaker.succeeded()
        return answer

    async def _ask(self, facts: Facts) -> tuple[str, str]:
        payload: dict[str, object] = {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt_of(facts)},
            ],
            "max_tokens": MAX_TOKENS,
            "temperature": TEMPERATURE,
        }
        if self.model:
            payload["model"] = self.model
        try:
            # httpx's own timeouts are per phase; this bounds the whole exchange.
            with trio.fail_after(self.timeout):
                status, body = await self._post(msgspec.json.encode(payload))
        except (trio.TooSlowError, httpx.TimeoutException):
            raise LLMUnavailable("timeout") from None
        except httpx.TransportError:
            raise LLMUnavailable("connection failed") from None
        if not 200 <= status < 300:
            raise LLMUnavailable(f"http {status}")
        try:
            completion = _completion.decode(body)
        except msgspec.DecodeError:
            raise LLMUnavailable("bad response") from None
        content = completion.choices[0].message.content if completion.choices else None
        text = bounded(content or "")
        if not text:
            raise LLMUnavailable("empty answer")
        named = (completion.model or "").strip()[:MAX_MODEL_CHARS]
        return text, named or self.model or "llm"

    async def _post(self, payload: bytes) -> tuple[int, bytes]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        async with self._client.stream("POST", self.url, content=payload, headers=headers) as reply:
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise LLMUnavailable("response too large")
            return reply.status_code, bytes(body)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
