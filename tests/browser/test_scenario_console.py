"""A live scenario in Chromium: the teacher console follows it, pauses, resumes, skips, stops."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DESKTOP,
    PHONE,
    Visit,
    admin_token,
    create_teacher,
    open_visit,
    sign_in,
)
from tests.browser.harness import LiveServer, start_server

# calm-day's first event is news at 1:00:00: an hour away, so only Skip brings it.
SCENARIO = "calm-day"
FIRST_NEWS = "Markets quiet ahead of the weekend"
SEATS = 30  # calm-day's human seats
BOTS = 10  # and its bots
STATUS = "**/api/v1/scenario"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def story_server() -> Iterator[LiveServer]:
    """An ``exchange serve --scenario calm-day --speed 20``: a tick every 50 ms."""
    directory = Path(tempfile.mkdtemp(prefix="exchange-browser-scenario-"))
    running = start_server(
        directory,
        "--scenario",
        SCENARIO,
        "--speed",
        "20",
        EXCHANGE_HISTORY_DAYS="1",
        EXCHANGE_RATE_LIMIT_PER_MINUTE="100000",
        ADMIN_USERNAME=ADMIN_USERNAME,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    yield running
    running.stop()


@pytest.fixture
def desk(
    browser: Browser, story_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Visit]:
    opened = open_visit(browser, story_server, DESKTOP)
    request.node.visit = opened
    yield opened
    opened.context.close()


def _next_poll(page: Page) -> None:
    """Wait for the section's next refresh to be answered (and rendered)."""
    with page.expect_request_finished(lambda r: r.url.endswith("/api/v1/scenario")):
        pass
    page.wait_for_timeout(100)  # its answer is rendered in the same task, a moment later


def test_the_teacher_follows_and_controls_the_live_scenario(desk: Visit) -> None:
    sign_in(desk, create_teacher(desk))
    page = desk.go("/teacher")
    expect(page.get_by_role("heading", name=f"Scenario {SCENARIO}")).to_be_visible()
    state = page.get_by_label("Scenario state")
    tick = page.get_by_label("Tick")
    controls = page.get_by_role("group", name="Scenario controls")
    pause = controls.get_by_role("button", name="Pause")
    resume = controls.get_by_role("button", name="Resume")
    skip = controls.get_by_role("button", name="Skip to next event")
    stop = controls.get_by_role("button", name="Stop")
    expect(state).to_have_text("running")
    expect(page.get_by_label("Next event")).to_contain_text("at 1:00:00")
    expect(resume).to_be_disabled()

    # The tick moves with each refresh.
    first = tick.inner_text()
    expect(tick).not_to_have_text(first)

    pause.click()
    expect(state).to_have_text("paused")
    expect(pause).to_be_disabled()
    expect(skip).to_be_disabled()
    held = tick.inner_text()
    _next_poll(page)
    expect(tick).to_have_text(held)

    resume.click()
    expect(state).to_have_text("running")
    expect(tick).not_to_have_text(held)

    events = page.get_by_role("table", name="Events run")
    expect(events).to_contain_text("No events yet.")
    skip.click()
    news = events.get_by_role("row").filter(has_text=FIRST_NEWS)
    expect(news).to_contain_text("1:00:00")
    expect(news).to_contain_text("done")
    expect(page.get_by_label("Next event")).to_contain_text("at 3:00:00")

    # A refusal (the story was paused elsewhere, and this page has not seen it yet) shows its
    # detail next to the buttons. Holding the refreshes keeps the page from seeing it.
    held_polls: list[Route] = []
    page.route(STATUS, lambda route: held_polls.append(route))
    paused = desk.context.request.post(
        "/api/v1/scenario/pause", headers={"Authorization": f"Bearer {admin_token(desk)}"}
    )
    assert paused.ok, paused.text()
    pause.click()
    expect(
        page.get_by_role("alert").filter(has_text="The scenario is already paused")
    ).to_be_visible()
    for _ in range(100):  # the refresh after the refusal comes within the poll interval
        if held_polls:
            break
        page.wait_for_timeout(50)
    assert held_polls, "the refresh after the refusal waits"
    page.unroute(STATUS)  # which lets the held refreshes through
    expect(state).to_have_text("paused")
    resume.click()
    expect(state).to_have_text("running")

    stop.click()
    dialog = page.get_by_role("dialog", name="Stop the scenario?")
    dialog.get_by_role("button", name="Stop the scenario").click()
    expect(state).to_have_text("stopped")
    for button in (pause, resume, skip, stop):
        expect(button).to_be_disabled()
    assert [e for e in desk.watch.errors if "status of 409" not in e] == []
    assert len(desk.watch.errors) == 1
    assert desk.watch.foreign == []


def test_standings_chart_and_seat_logins_on_a_phone(
    browser: Browser, story_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    phone = open_visit(browser, story_server, PHONE)
    request.node.visit = phone
    page = phone.page
    sign_in(phone, create_teacher(phone))
    phone.go("/teacher")
    standings = page.get_by_role("table", name="Standings")
    seat = page.get_by_role("cell", name="Seat 1", exact=True)
    expect(standings.get_by_role("row").filter(has=seat)).to_have_count(1)
    expect(standings).to_contain_text("bot:noise")
    expect(standings.get_by_role("row")).to_have_count(1 + SEATS + BOTS)
    chart = page.get_by_role("img", name="Equity by participant")
    expect(chart).to_contain_text("Seat 1")
    # Bars from zero, in proportion to the equity each one shows (read in one moment).
    shown = chart.locator(".bar-row").evaluate_all(
        """(rows) => rows.map((row) => [
            row.querySelector(".bar").getBoundingClientRect().width,
            Number(row.querySelector(".bar-value").textContent.split(" (")[0]
                .replace(/[^0-9.]/g, "")),
        ])"""
    )
    widest = max(width for width, _ in shown)
    richest = max(equity for _, equity in shown)
    assert widest > 0 and richest > 0
    for width, equity in shown:
        assert abs(width / widest - equity / richest) < 0.01, shown

    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("^Seat logins")).click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "username,password" and len(lines) == 1 + SEATS
    username, password = lines[1].split(",", 1)
    assert username == "seat_001"
    # The login works: a person can take the seat.
    signed = phone.context.request.post(
        "/api/v1/auth/login", data={"username": username, "password": password}
    )
    assert signed.status == 200, signed.text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the console is {width}px wide on a phone"
    assert phone.watch.errors == [] and phone.watch.foreign == []
    phone.context.close()
