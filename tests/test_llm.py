"""The external LLM behind insights, against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
import trio.testing

from exchange.analyst import MODEL
from exchange.insights import Facts
from tests.conftest import signed_up
from tests.portfolios import deposit, insight, insight_app
from web.llm import MAX_PROMPT_CHARS, MAX_SUMMARY_CHARS, SYSTEM_PROMPT, bounded, prompt_of
from web.settings import web_settings_from_env

API_KEY = "sk-test-0123456789"
ANSWER = "  Your portfolio is all cash. Consider a first small trade.  "
TIMEOUT = 2.0
FAILURES = 3
COOLDOWN = 60.0


@dataclass
class Seen:
    """One request the fake server received."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeLLM:
    """A chat-completions endpoint whose next answers the test chooses (``mode``)."""

    mode: str = "ok"
    port: int = 0
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while conn.our_state is not h11.MUST_CLOSE:
                seen = await self._receive(stream, conn)
                if seen is None:
                    return
                self.seen.append(seen)
                status, body = await self._answer()
                headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
                for event in (
                    h11.Response(status_code=status, headers=headers),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                ):
                    await stream.send_all(conn.send(event) or b"")
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return  # the client gave up (a timeout): nothing to answer

    async def _receive(self, stream: trio.SocketStream, conn: h11.Connection) -> Seen | None:
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                return Seen(request.method.decode(), request.target.decode(), headers, body)
            else:
                return None  # the connection closed

    async def _answer(self) -> tuple[int, bytes]:
        if self.mode == "slow":
            await trio.sleep(10 * TIMEOUT)
        if self.mode == "error":
            return 500, b'{"error": {"message": "boom"}}'
        if self.mode == "malformed":
            return 200, b'{"choices": [{"message": '
        content = "   " if self.mode == "empty" else ANSWER
        completion = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "fake-gpt-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        }
        return 200, json.dumps(completion).encode()


@pytest.fixture
def llm_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 50 ms of real idleness, so loopback I/O completes
    before a timeout can fire (a threshold of 0 would jump while a socket is being read).
    """
    return trio.testing.MockClock(autojump_threshold=0.05)


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """The fake server, stopped at the end of the test."""
    fake = FakeLLM()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        yield fake
        nursery.cancel_scope.cancel()


def llm_settings(url: str) -> dict[str, object]:
    return {
        "llm_url": url,
        "llm_model": "fake-model",
        "llm_api_key": API_KEY,
        "llm_timeout_seconds": TIMEOUT,
        "llm_breaker_failures": FAILURES,
        "llm_breaker_cooldown_seconds": COOLDOWN,
    }


async def test_success_sends_facts_and_the_key_but_no_personal_data(
    tmp_path: Path, fake_llm: FakeLLM, llm_clock: trio.testing.MockClock
) -> None:
    async with insight_app(tmp_path, web=llm_settings(fake_llm.url)) as (_, client):
        headers = await signed_up(client)
        await deposit(client, headers, "2500")
        data = await insight(client, headers)
        assert data["summary"] == ANSWER.strip()
        assert data["model"] == "fake-gpt-1"
        assert await insight(client, headers) == data, "the LLM's answer is cached"

    (seen,) = fake_llm.seen
    assert (seen.method, seen.target) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    body = seen.json()
    assert body["model"] == "fake-model"
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    facts = json.loads(user["content"])
    assert facts["cash_usd"] == facts["total_value_usd"] == "2500.00"
    assert (facts["diversification"], facts["holdings_count"]) == ("cash-only", 0)
    raw = seen.body.decode().lower()
    for personal in ("alice", "example.com", "smith", "username", "email"):
        assert personal not in raw


async def test_slow_answer_times_out_to_the_analyst(
    tmp_path: Path, fake_llm: FakeLLM, llm_clock: trio.testing.MockClock
) -> None:
    fake_llm.mode = "slow"
    async with insight_app(tmp_path, web=llm_settings(fake_llm.url)) as (_, client):
        headers = await signed_up(client)
        start = trio.current_time()
        data = await insight(client, headers)
        assert trio.current_time() - start == pytest.approx(TIMEOUT)
    assert data["model"] == f"{MODEL} (llm unavailable: timeout)"
    assert "empty" in data["summary"]
    assert len(fake_llm.seen) == 1


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "http 500"), ("malformed", "bad response"), ("empty", "empty answer")],
)
async def test_bad_answers_fall_back_to_the_analyst(
    tmp_path: Path,
    fake_llm: FakeLLM,
    llm_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    reason: str,
) -> None:
    fake_llm.mode = mode
    caplog.set_level(logging.DEBUG)
    async with insight_app(tmp_path, web=llm_settings(fake_llm.url)) as (_, client):
        headers = await signed_up(client)
        await deposit(client, headers, "40")
        data = await insight(client, headers)
    assert data["model"] == f"{MODEL} ({'llm unavailable: ' + reason})"
    assert "You hold $40.00, all of it in cash" in data["summary"]
    assert reason in caplog.text
    assert API_KEY not in caplog.text


async def test_unreachable_llm_falls_back(
    tmp_path: Path, llm_clock: trio.testing.MockClock
) -> None:
    # A port that was just free: nothing listens there.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    async with insight_app(tmp_path, web=llm_settings(url)) as (_, client):
        data = await insight(client, await signed_up(client))
    assert data["model"] == f"{MODEL} (llm unavailable: connection failed)"


async def test_breaker_opens_then_closes_when_the_llm_recovers(
    tmp_path: Path, fake_llm: FakeLLM, llm_clock: trio.testing.MockClock
) -> None:
    fake_llm.mode = "error"
    async with insight_app(tmp_path, web=llm_settings(fake_llm.url)) as (_, client):
        headers = await signed_up(client)
        for _ in range(FAILURES):
            data = await insight(client, headers)
            assert data["model"] == f"{MODEL} (llm unavailable: http 500)"
        assert len(fake_llm.seen) == FAILURES

        fake_llm.mode = "ok"
        for _ in range(2):
            data = await insight(client, headers)
            assert data["model"] == f"{MODEL} (llm circuit open)"
            assert "empty" in data["summary"]
        assert len(fake_llm.seen) == FAILURES, "no request while the circuit is open"

        await trio.sleep(COOLDOWN)
        data = await insight(client, headers)
        assert data["model"] == "fake-gpt-1"
        assert await insight(client, headers) == data
        assert len(fake_llm.seen) == FAILURES + 1


async def test_failed_trial_reopens_the_circuit(
    tmp_path: Path, fake_llm: FakeLLM, llm_clock: trio.testing.MockClock
) -> None:
    fake_llm.mode = "error"
    async with insight_app(tmp_path, web=llm_settings(fake_llm.url)) as (_, client):
        headers = await signed_up(client)
        for _ in range(FAILURES):
            await insight(client, headers)
        await trio.sleep(COOLDOWN)
        data = await insight(client, headers)
        assert data["model"] == f"{MODEL} (llm unavailable: http 500)", "the trial call"
        data = await insight(client, headers)
        assert data["model"] == f"{MODEL} (llm circuit open)"
        assert len(fake_llm.seen) == FAILURES + 1


def test_prompt_and_answer_are_bounded() -> None:
    long_name = "X" * (2 * MAX_PROMPT_CHARS)
    facts = Facts(
        total_value_cents=150,
        cash_cents=150,
        cash_share_pct=100.0,
        holdings_count=0,
        largest_asset=None,
        largest_asset_name=long_name,
        largest_share_pct=None,
        diversification="cash-only",
        move_24h_pct=None,
        biggest_mover=None,
        biggest_mover_name=None,
        biggest_mover_pct_24h=None,
        cost_basis_cents=0,
        unrealized_pnl_cents=0,
        unrealized_pnl_pct=None,
        orders_7d=0,
        last_trade_side=None,
        last_trade_asset=None,
    )
    prompt = prompt_of(facts)
    assert len(prompt) == MAX_PROMPT_CHARS
    assert prompt.startswith('{"total_value_usd":"1.50","cash_usd":"1.50"')
    answer = bounded(("A sentence. " * MAX_SUMMARY_CHARS) + "  ")
    assert len(answer) <= MAX_SUMMARY_CHARS
    assert answer.endswith("sentence.")
    assert bounded("  \n ") == ""


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("EXCHANGE_LLM_URL", "https://llm.example/v1/chat/completions")
    monkeypatch.setenv("EXCHANGE_LLM_MODEL", "some-model")
    monkeypatch.setenv("EXCHANGE_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("EXCHANGE_LLM_TIMEOUT_SECONDS", "4.5")
    monkeypatch.setenv("EXCHANGE_LLM_BREAKER_FAILURES", "5")
    monkeypatch.setenv("EXCHANGE_LLM_BREAKER_COOLDOWN_SECONDS", "30")
    settings = web_settings_from_env(":memory:", None, None)
    assert settings.llm_url == "https://llm.example/v1/chat/completions"
    assert (settings.llm_model, settings.llm_api_key) == ("some-model", API_KEY)
    assert settings.llm_timeout_seconds == 4.5
    assert (settings.llm_breaker_failures, settings.llm_breaker_cooldown_seconds) == (5, 30.0)
    assert API_KEY not in repr(settings)
    for name in ("URL", "MODEL", "API_KEY", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"EXCHANGE_LLM_{name}")
    defaults = web_settings_from_env(":memory:", None, None)
    assert (defaults.llm_url, defaults.llm_timeout_seconds) == ("", 8.0)
