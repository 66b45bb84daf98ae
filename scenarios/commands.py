"""``exchange scenario list|show|run|validate``: the scenario subcommands of the console script."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenarios.loader import ScenarioError, bundled, format_offset, load, load_file
from scenarios.offline import Progress, run_offline
from scenarios.report import write
from scenarios.strategy import StrategyLoadError, load_strategy


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``scenario`` and its subcommands to the console script's parser."""
    scenario = commands.add_parser("scenario", help="list, show, validate and run scenarios")
    sub = scenario.add_subparsers(dest="scenario_command", required=True)
    sub.add_parser("list", help="the bundled scenarios")
    show = sub.add_parser("show", help="a scenario's meta, timeline and participants")
    show.add_argument("name", help="a bundled scenario's name or a .toml file")
    check = sub.add_parser("validate", help="check a scenario file")
    check.add_argument("file")
    run = sub.add_parser("run", help="run a scenario offline in virtual time")
    run.add_argument("name", help="a bundled scenario's name or a .toml file")
    run.add_argument("--seed", type=int, help="master seed (default: the scenario's)")
    run.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="FILE.py:Class",
        help="a strategy to trade the story (repeatable)",
    )
    run.add_argument("--out", default="scenario-out", help="directory for the report files")
    run.add_argument("--db", default=":memory:", help="database path (default in memory)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Run one scenario subcommand; the exit status."""
    try:
        match args.scenario_command:
            case "list":
                for name in bundled():
                    print(f"{name:24} {load(name).description}")
                return 0
            case "show":
                return _show(args.name)
            case "validate":
                scenario = load_file(args.file)
                print(
                    f"ok: {scenario.name}: {len(scenario.timeline)} events, "
                    f"{sum(b.count for b in scenario.bots)} bots, {scenario.ticks} ticks"
                )
                return 0
            case "run":
                return _run(args)
    except ScenarioError as problem:
        print(problem, file=sys.stderr)
        return 2
    raise AssertionError(args.scenario_command)


def _show(name: str) -> int:
    scenario = load(name)
    print(f"{scenario.name}: {scenario.description}")
    print(
        f"duration {format_offset(scenario.duration)} at {scenario.tick_interval:g} s ticks, "
        f"seed {scenario.seed}, starting cash ${scenario.starting_cash / 100:,.2f}, "
        f"fee {scenario.fee_bps} bps"
    )
    print(f"assets: {', '.join(scenario.assets) or 'all'}")
    print("timeline:")
    for event in scenario.timeline:
        detail = getattr(event.action, "headline", None) or ""
        print(f"  {format_offset(event.at):>10}  {event.kind:12} {detail}")
    print("bots:")
    for bot in scenario.bots:
        print(f"  {bot.count} x {bot.kind} ({bot.name}), ${bot.cash / 100:,.2f} each: {bot.params}")
    for asset, rule in scenario.impact.items():
        print(
            f"impact {asset}: ${rule.usd_per_percent:,.0f} moves 1%, half-life {rule.half_life:g} s"
        )
    print("notes:")
    print(scenario.notes.strip())
    return 0


def _run(args: argparse.Namespace) -> int:
    scenario = load(args.name)
    try:
        strategies = [load_strategy(spec) for spec in args.strategy]
    except StrategyLoadError as refused:
        print(f"cannot load strategy: {refused}", file=sys.stderr)
        return 2
    progress = None if args.quiet else Progress(scenario)
    result = run_offline(scenario, args.seed, strategies, args.db, progress)
    files = write(result, Path(args.out), list(args.strategy))
    for participant in result.participants:
        if participant.failure:
            print(f"{participant.label} stopped: {participant.failure}", file=sys.stderr)
    fills = len(result.fills)
    print(f"{scenario.name}: {result.ticks} ticks, {fills} fills, wall {result.wall:.1f} s")
    for path in files:
        print(f"  {path}")
    if result.problems:
        for problem in result.problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        return 1
    return 0
