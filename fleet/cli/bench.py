"""`fleet bench` (benchmarks with same-run baselines) and `fleet agent` (the on-device agent)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from fleet.cli.common import EXIT_OK, Commands, err, json_flag, out, print_json, yes_no

# The TUI's benchmark lives in tui/: nothing in fleet/ but this entry point imports tui.
BENCHMARKS = {**{name: f"fleet.bench.{name}"
                 for name in ("pack", "ingest", "agent", "liveness", "deploy", "push",
                              "stack")},
              "tui": "tui.bench"}


def register_agent(commands: Commands) -> None:
    agent = commands.add("agent", cmd_agent, "run the on-device agent (`fleet agent --help`)")
    agent.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def register(commands: Commands) -> None:
    bench = commands.add("bench", cmd_bench, "run a benchmark: figures and same-run baselines")
    bench.add_argument("name", choices=sorted(BENCHMARKS), metavar="NAME",
                       help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    bench.add_argument("--seed", type=int, default=1, help="instance generator seed (default 1)")
    json_flag(bench)


def cmd_agent(args: argparse.Namespace) -> int:
    """Reached only through cli.main: `fleet agent` itself skips the CLI (fleet/__main__.py)."""
    from fleet.agent.main import main as agent

    return agent(args.args)


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    bench = importlib.import_module(BENCHMARKS[args.name])
    with err.status(f"fleet bench {args.name}: running (figures and baselines)"):
        result: dict[str, Any] = bench.run(seed=args.seed)
    if args.json:
        print_json(result)
        return EXIT_OK
    table = Table("family", "figure", "value", "target", "met", title=f"fleet bench {args.name}")
    for family, figures in result.items():
        if not isinstance(figures, dict):
            continue
        for name, value in figures.items():
            if name in ("targets", "met"):
                continue
            target = figures.get("targets", {}).get(name, "")
            met = figures.get("met", {}).get(name)
            table.add_row(family, name, str(value), target, "" if met is None else yes_no(met))
    out.print(table)
    out.print(f"all targets met: {yes_no(bool(result.get('met')))}")
    return EXIT_OK
