"""A run's files: report.html (self-contained, inline SVG), CSVs and summary.json.

``summary.json`` and ``trades.csv`` hold nothing that depends on the machine or the wall
clock, so the same scenario, seed and strategies give the same bytes.
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from exchange.money import format_price, format_quantity, format_usd
from scenarios.loader import format_offset
from scenarios.offline import START_EPOCH
from scenarios.runner import Participant, RunResult

TRADE_COLUMNS = (
    "tick",
    "offset_s",
    "participant",
    "asset",
    "side",
    "order_type",
    "quantity",
    "price",
    "model_price",
    "impact",
    "impact_pct",
    "fee",
    "total",
)
LEADERBOARD_COLUMNS = (
    "rank",
    "participant",
    "label",
    "kind",
    "start_equity",
    "final_equity",
    "return_pct",
    "orders",
    "rejected",
    "status",
)
EVENT_COLUMNS = ("tick", "offset_s", "offset", "kind", "status", "detail")
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def _csv(rows: list[list[Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _seconds(value: float) -> str:
    """Seconds as written in the CSVs: whole when whole, else to the millisecond."""
    return str(int(value)) if value == int(value) else f"{value:.3f}"


def final_equity(participant: Participant) -> float:
    """The participant's last recorded equity in USD."""
    return participant.equity[-1][1] if participant.equity else participant.funded / 100


def leaderboard(result: RunResult) -> list[list[Any]]:
    """Participants by final equity, best first (ties by account name)."""
    ranked = sorted(result.participants, key=lambda p: (-final_equity(p), p.username))
    rows = []
    for rank, participant in enumerate(ranked, start=1):
        start = participant.funded / 100
        end = final_equity(participant)
        change = round((end / start - 1) * 100, 4) if start else 0.0
        rows.append(
            [
                rank,
                participant.username,
                participant.label,
                participant.kind,
                f"{start:.2f}",
                f"{end:.2f}",
                f"{change:.4f}",
                participant.orders,
                participant.rejected,
                "ok" if participant.failure is None else f"stopped: {participant.failure}",
            ]
        )
    return rows


def trades(result: RunResult) -> list[list[Any]]:
    """One row per fill: tick, price, the model price, the impact paid, the fee."""
    rows = []
    for fill in result.fills:
        impact = fill.price - fill.model_price
        share = impact * 100 / fill.model_price if fill.model_price else 0.0
        rows.append(
            [
                fill.tick,
                _seconds(fill.time),
                fill.participant,
                fill.asset,
                fill.side,
                fill.order_type,
                format_quantity(fill.quantity),
                format_price(fill.price),
                format_price(fill.model_price),
                format_price(impact) if impact >= 0 else "-" + format_price(-impact),
                f"{share:.4f}",
                format_usd(fill.fee),
                format_usd(fill.total),
            ]
        )
    return rows


def events(result: RunResult) -> list[list[Any]]:
    """One row per timeline entry run."""
    return [
        [e.tick, _seconds(e.at), format_offset(e.at), e.kind, e.status, e.detail]
        for e in result.events
    ]


def summary(result: RunResult, strategies: list[str]) -> dict[str, Any]:
    """The run in numbers, with a digest of every ledger and order."""
    scenario = result.scenario
    return {
        "scenario": scenario.name,
        "seed": result.seed,
        "ticks": result.ticks,
        "tick_interval": scenario.tick_interval,
        "duration_s": scenario.duration,
        "start": START_EPOCH,
        "strategies": strategies,
        "assets": list(result.final_prices),
        "final_prices": {a: format_price(p) for a, p in result.final_prices.items()},
        "events": len(result.events),
        "fills": len(result.fills),
        "leaderboard": [
            dict(zip(LEADERBOARD_COLUMNS, row, strict=True)) for row in leaderboard(result)
        ],
        "digests": result.digests,
        "verify": "ok" if not result.problems else result.problems,
    }


def write(result: RunResult, out: Path, strategies: list[str]) -> list[Path]:
    """Write every file of the run into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.json": json.dumps(summary(result, strategies), indent=2, sort_keys=True) + "\n",
        "trades.csv": _csv(trades(result), TRADE_COLUMNS),
        "leaderboard.csv": _csv(leaderboard(result), LEADERBOARD_COLUMNS),
        "events.csv": _csv(events(result), EVENT_COLUMNS),
        "report.html": page(result),
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# The page


def _polyline(
    points: list[tuple[int, float]], x0: int, x1: int, low: float, high: float, w: int, h: int
) -> str:
    span = high - low or 1.0
    width = x1 - x0 or 1
    return " ".join(
        f"{40 + (x - x0) * (w - 50) / width:.1f},{10 + (high - y) * (h - 30) / span:.1f}"
        for x, y in points
    )


def _chart(
    title: str,
    series: list[tuple[str, list[tuple[int, float]]]],
    ticks: int,
    marks: list[tuple[int, str]],
    w: int = 760,
    h: int = 220,
) -> str:
    values = [y for _, points in series for _, y in points]
    if not values:
        return ""
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.01 or 1.0
    low, high = low - pad, high + pad
    parts = [
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">',
        f'<rect x="40" y="10" width="{w - 50}" height="{h - 30}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="36" y="16" text-anchor="end" font-size="10">{high:,.4g}</text>',
        f'<text x="36" y="{h - 20}" text-anchor="end" font-size="10">{low:,.4g}</text>',
    ]
    for tick, label in marks:
        x = 40 + tick * (w - 50) / (ticks or 1)
        parts.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{h - 20}" stroke="#e39" '
            f'stroke-dasharray="3,3"><title>{html.escape(label)}</title></line>'
        )
    for number, (name, points) in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" '
            f'points="{_polyline(points, 0, ticks, low, high, w, h)}"><title>{html.escape(name)}'
            "</title></polyline>"
        )
    parts.append(
        f'<text x="40" y="{h - 5}" font-size="10">0</text>'
        f'<text x="{w - 10}" y="{h - 5}" font-size="10" text-anchor="end">tick {ticks}</text>'
    )
    parts.append("</svg>")
    if len(series) > 1:
        legend = " ".join(
            f'<span style="color:{PALETTE[n % len(PALETTE)]}">&#9632; {html.escape(name)}</span>'
            for n, (name, _) in enumerate(series)
        )
        parts.append(f"<div class=legend>{legend}</div>")
    parts.append("</figure>")
    return "".join(parts)


def _table(columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(result: RunResult) -> str:
    """The report: one HTML file with inline SVG, no scripts, nothing fetched."""
    scenario = result.scenario
    marks = [(e.tick, f"{e.kind}: {e.detail}") for e in result.events]
    charts = "".join(
        _chart(f"{asset} price (USD)", [(asset, points)], result.ticks, marks)
        for asset, points in result.prices.items()
    )
    by_kind: dict[str, list[Participant]] = {}
    for participant in result.participants:
        by_kind.setdefault(participant.kind, []).append(participant)
    equity = "".join(
        _chart(
            f"Equity (USD): {kind}",
            [(p.username, p.equity) for p in group],
            result.ticks,
            marks,
        )
        for kind, group in by_kind.items()
    )
    headlines = (
        "".join(
            f"<li><b>tick {tick}</b> ({format_offset(tick * scenario.tick_interval)}): "
            f"{html.escape(text)}</li>"
            for tick, text in result.headlines
        )
        or "<li>none</li>"
    )
    failures = "".join(
        f"<li>{html.escape(p.username)}: {html.escape(p.failure)}</li>"
        for p in result.participants
        if p.failure
    )
    verify = (
        "ok: every balance matches its ledger"
        if not result.problems
        else "; ".join(result.problems)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Scenario {html.escape(scenario.name)}: report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:820px;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
figure{{margin:1em 0}}figcaption{{font-weight:bold}}.legend{{font-size:12px}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1em}}
</style></head><body>
<h1>{html.escape(scenario.name)}</h1>
<p>{html.escape(scenario.description)}</p>
<p>Seed {result.seed}, {result.ticks} ticks of {scenario.tick_interval:g} s,
{len(result.participants)} participants, {len(result.fills)} fills.
Ledger check: {html.escape(verify)}.</p>
<h2>Teaching note</h2><pre>{html.escape(scenario.notes.strip())}</pre>
<h2>Leaderboard</h2>{_table(LEADERBOARD_COLUMNS, leaderboard(result))}
{f"<h2>Stopped participants</h2><ul>{failures}</ul>" if failures else ""}
<h2>Headlines</h2><ul>{headlines}</ul>
<h2>Prices</h2><p>Dashed lines mark the timeline's events (hover for what).</p>{charts}
<h2>Equity</h2>{equity}
<h2>Timeline</h2>{_table(EVENT_COLUMNS, events(result))}
</body></html>
"""
