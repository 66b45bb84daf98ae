"""The insights of one app: cached summaries from the external LLM if configured, else (and
whenever the LLM fails) from the built-in analyst.
"""

from __future__ import annotations

from exchange.account import Portfolio
from exchange.analyst import MODEL, write_summary
from exchange.breaker import Breaker
from exchange.engine import Exchange
from exchange.insights import (
    RECENT_ORDERS,
    AssetView,
    Facts,
    Summary,
    SummaryCache,
    portfolio_facts,
    state_key,
)
from web.llm import LLMClient, LLMUnavailable
from web.settings import WebSettings


class Advisor:
    """Writes portfolio insights; one per app, holding its cache, LLM client and breaker."""

    def __init__(self, exchange: Exchange, settings: WebSettings) -> None:
        self.exchange = exchange
        self.cache = SummaryCache()
        self.llm: LLMClient | None = None
        if settings.llm_url:
            breaker = Breaker(
                settings.llm_breaker_failures,
                settings.llm_breaker_cooldown_seconds,
                exchange.clock.now,
            )
            self.llm = LLMClient(
                settings.llm_url,
                settings.llm_model,
                settings.llm_api_key,
                settings.llm_timeout_seconds,
                breaker,
            )

    async def portfolio(self, username: str) -> Summary:
        """The user's portfolio summary: cached for the same state, else written now."""
        exchange = self.exchange
        snapshot = await exchange.portfolio(username)
        orders, _ = exchange.orders(username, RECENT_ORDERS, 0)
        key = state_key(snapshot, orders)
        cached = self.cache.get(username, key, exchange.clock.now())
        if cached is not None:
            return cached
        facts = portfolio_facts(snapshot, orders, self._assets(snapshot), exchange.clock.now_ms())
        summary, lasting = await self._write(facts)
        if lasting:
            self.cache.put(username, key, summary, exchange.clock.now())
        return summary

    def _assets(self, snapshot: Portfolio) -> dict[str, AssetView]:
        assets = {}
        for holding in snapshot.holdings:
            market = self.exchange.market(holding.asset_id)
            assets[holding.asset_id] = AssetView(
                market.asset.name, market.price, market.stats().pct_24h
            )
        return assets

    async def _write(self, facts: Facts) -> tuple[Summary, bool]:
        """A summary and whether it may be cached."""
        clock = self.exchange.clock
        if self.llm is None:
            return Summary(write_summary(facts), MODEL, clock.now_ms()), True
        try:
            text, model = await self.llm.summarize(facts)
        except LLMUnavailable as failure:
            # Not cached: the analyst is cheap, and once the LLM is back the next request should
            # get its answer. The breaker is what spares a failing LLM from being hammered.
            fallback = f"{MODEL} ({failure.label})"
            return Summary(write_summary(facts), fallback, clock.now_ms()), False
        return Summary(text, model, clock.now_ms()), True

    async def aclose(self) -> None:
        """Release the LLM client's connections."""
        if self.llm is not None:
            await self.llm.aclose()
