"""The pages a person opens: each a server-rendered shell, its data fetched from the API.

Signed-in pages need the session cookie; without a valid one they redirect to the login page,
which sends the visitor back where they were going. No page reads the exchange itself: what
they show comes from ``/api/v1`` and the websockets, through the scripts in ``static/js``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from quart import Blueprint, Response, current_app, redirect, render_template, request
from quart_schema import hide

from web.prefix import root_path
from web.routes import scenario as scenario_routes
from web.routes.inventory import valid_asset_id
from web.sessions import COOKIE, csrf_token, session_claims
from web.state import app_state
from web.tokens import Claims

blueprint = Blueprint("pages", __name__)


@blueprint.app_context_processor
def _root() -> dict[str, str]:
    # Every template builds this site's URLs as ``{{ root }}/path``: "" or the prefix.
    return {"root": root_path()}


@dataclass(frozen=True)
class Link:
    """One entry of the navigation bar."""

    href: str
    label: str


PUBLIC_LINKS = (Link("/market", "Market"),)
CUSTOMER_LINKS = (
    Link("/dashboard", "Dashboard"),
    Link("/market", "Market"),
    Link("/trade", "Trade"),
    Link("/orders", "Orders"),
    Link("/portfolio", "Portfolio"),
    Link("/account", "Account"),
    Link("/profile", "Profile"),
)
STUDENT_LINKS = (*CUSTOMER_LINKS, Link("/class", "Class"))
STAFF_LINKS = (Link("/teacher", "Teacher console"), Link("/teacher/market", "Market control"))
TEACHER_LINKS = (Link("/market", "Market"), *STAFF_LINKS, Link("/profile", "Profile"))
ADMIN_LINKS = (*CUSTOMER_LINKS, *STAFF_LINKS, Link("/admin/audit", "Audit log"))
STAFF_ROLES = ("teacher", "admin")
LINKS_BY_ROLE = {"admin": ADMIN_LINKS, "teacher": TEACHER_LINKS}
ORDER_TYPES = (
    ("market_buy", "Market buy"),
    ("market_sell", "Market sell"),
    ("limit_buy", "Limit buy"),
    ("limit_sell", "Limit sell"),
    ("stop_buy", "Stop buy"),
    ("stop_sell", "Stop sell"),
    ("stop_limit_buy", "Stop-limit buy"),
    ("stop_limit_sell", "Stop-limit sell"),
)


def current_session() -> Claims | None:
    """The visitor's session, if the cookie holds a valid, unrevoked token."""
    state = app_state()
    return session_claims(
        state.settings.jwt_secret,
        request.cookies.get(COOKIE),
        state.exchange.clock.now(),
        state.exchange.is_revoked,
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site (under its prefix), never another host."""
    root = root_path()
    if not target or not target.startswith(root + "/") or target.startswith("//") or "\\" in target:
        return root + "/dashboard"
    return target


async def page(template: str, title: str, script: str, **context: object) -> Response:
    """Render a page with the navigation of the visitor's role and the session's CSRF token."""
    claims = current_session()
    links: tuple[Link, ...] = PUBLIC_LINKS
    csrf = ""
    if claims is not None:
        links = LINKS_BY_ROLE.get(claims.role, STUDENT_LINKS)
        csrf = csrf_token(app_state().settings.jwt_secret, claims.jti)
    body = await render_template(
        template,
        title=title,
        script=script,
        user=claims,
        links=links,
        csrf=csrf,
        path=request.path,
        order_types=ORDER_TYPES,
        **context,
    )
    response = Response(body, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


async def signed_in_page(template: str, title: str, script: str, **context: object) -> Response:
    """A page for signed-in visitors; others are sent to log in and brought back after."""
    if current_session() is None:
        # ``full_path`` is the path under the prefix; the browser goes back to the whole one.
        target = root_path() + request.full_path.rstrip("?")
        return redirect(f"{root_path()}/login?next={quote(target, safe='/')}", 303)  # type: ignore[return-value]
    return await page(template, title, script, **context)


async def staff_page(template: str, title: str, script: str, **context: object) -> Response:
    """A page for teachers and admins: others signed in get a 403 page, nobody a login."""
    claims = current_session()
    if claims is None:
        return await signed_in_page(template, title, script, **context)
    if claims.role not in STAFF_ROLES:
        refused = await page("forbidden.html", "Not allowed", "app")
        refused.status_code = 403
        return refused
    return await page(template, title, script, **context)


@blueprint.get("/")
@hide
async def landing() -> Response:
    """What this is, a live ticker of the top assets, and the way in."""
    return await page("landing.html", "A crypto exchange simulator", "landing")


@blueprint.get("/login")
@hide
async def login() -> Response:
    """The sign-in form."""
    return await page("login.html", "Sign in", "login", next=safe_next(request.args.get("next")))


@blueprint.get("/register")
@hide
async def register() -> Response:
    """The registration form with the contract's field rules."""
    return await page("register.html", "Create an account", "register")


@blueprint.get("/market")
@hide
async def market() -> Response:
    """All assets, live."""
    return await page("market.html", "Market", "market")


@blueprint.get("/assets/<asset_id>")
@hide
async def asset(asset_id: str) -> Response:
    """One asset: its chart, every market figure, and an order ticket."""
    symbol = valid_asset_id(asset_id)
    app_state().exchange.market(symbol)  # 404 for an asset not in the catalogue
    return await page("asset.html", symbol, "asset", asset_id=symbol)


@blueprint.get("/dashboard")
@hide
async def dashboard() -> Response:
    """Balances, total value and its 24h change, the equity curve, recent orders, more."""
    return await signed_in_page("dashboard.html", "Dashboard", "dashboard")


@blueprint.get("/trade")
@hide
async def trade() -> Response:
    """The order ticket for any asset, and the open orders."""
    symbol = valid_asset_id(request.args.get("asset") or "BTC")
    return await signed_in_page("trade.html", "Trade", "trade", asset_id=symbol)


@blueprint.get("/orders")
@hide
async def orders() -> Response:
    """Open orders with cancel, and the order history with filters."""
    return await signed_in_page("orders.html", "Orders", "orders")


@blueprint.get("/portfolio")
@hide
async def portfolio() -> Response:
    """Holdings, allocation and per-asset trades, valued live."""
    return await signed_in_page("portfolio.html", "Portfolio", "portfolio")


@blueprint.get("/account")
@hide
async def account() -> Response:
    """Deposits, withdrawals, daily limits and the cash ledger."""
    return await signed_in_page("account.html", "Account", "account")


@blueprint.get("/profile")
@hide
async def profile() -> Response:
    """The profile, viewed and edited."""
    return await signed_in_page("profile.html", "Profile", "profile")


@blueprint.get("/admin/audit")
@hide
async def audit() -> Response:
    """The audit log (admins)."""
    return await signed_in_page("audit.html", "Audit log", "audit")


@blueprint.get("/teacher")
@hide
async def teacher() -> Response:
    """The teacher console: the live scenario if any, the teacher's classes, a new class."""
    # Only whether the route has a story to answer for: its progress comes from the API.
    story = current_app.extensions.get(scenario_routes.EXTENSION) is not None
    return await staff_page("teacher.html", "Teacher console", "teacher", scenario=story)


@blueprint.get("/teacher/classes/<class_id>")
@hide
async def teacher_class(class_id: str) -> Response:
    """One class: join code, lifecycle, rules, roster and monitor, review desk, exports."""
    return await staff_page("teacher_class.html", "Class", "teacherclass", class_id=class_id)


@blueprint.get("/teacher/market")
@hide
async def market_control() -> Response:
    """Pause, halts, shocks, news, regime and the schedule of the whole market."""
    return await staff_page("market_control.html", "Market control", "marketcontrol")


@blueprint.get("/join/<code>")
@hide
async def join(code: str) -> Response:
    """Join a class by its code: register with it, or join while signed in."""
    return await page("join.html", "Join a class", "join", code=code.strip().upper()[:32])


@blueprint.get("/class")
@hide
async def my_class() -> Response:
    """The student's class: rank when shown, the rules, the headlines."""
    return await signed_in_page("class.html", "My class", "class")


@blueprint.get("/classes/<class_id>/board")
@hide
async def projector(class_id: str) -> Response:
    """The class's leaderboard full-screen for a projector, live, with the latest headline."""
    return await signed_in_page("projector.html", "Leaderboard", "projector", class_id=class_id)
