"""Insights routes: a short written summary of the caller's portfolio."""

from __future__ import annotations

from flask.sansio.blueprints import BlueprintSetupState
from quart import Blueprint, Response, current_app
from quart_schema import document_response

from exchange.clock import iso_ms
from web.advisor import Advisor
from web.auth import authenticated, current_claims
from web.openapi import documented
from web.reply import json_response
from web.wire import Insight, InsightResponse

blueprint = Blueprint("insights", __name__, url_prefix="/api/v1")
EXTENSION = "advisor"


@blueprint.record_once
def _install(setup: BlueprintSetupState) -> None:
    # Per app, never module-level: two apps (tests) keep separate caches and breakers.
    state = setup.app.extensions["exchange_state"]
    setup.app.extensions[EXTENSION] = Advisor(state.exchange, state.settings)


@blueprint.after_app_serving
async def _close() -> None:
    advisor: Advisor = current_app.extensions[EXTENSION]
    await advisor.aclose()


@blueprint.get("/insights/portfolio")
@document_response(InsightResponse)
@documented(busy=True)
@authenticated
async def portfolio_insight() -> Response:
    """A 2-4 sentence summary of the caller's portfolio; never fails because an LLM did."""
    advisor: Advisor = current_app.extensions[EXTENSION]
    summary = await advisor.portfolio(current_claims().sub)
    return json_response(
        InsightResponse(Insight(summary.text, iso_ms(summary.generated_at), summary.model))
    )
