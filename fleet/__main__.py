"""`fleet` and `python -m fleet`: the CLI; `fleet agent` goes straight to the agent.

The agent must not load what the CLI imports (rich, ruamel.yaml, ...): on a
512 MB board every megabyte of its resident memory counts.
"""

import sys


def main() -> int:
    if sys.argv[1:2] == ["agent"]:
        from fleet.agent.main import main as agent

        return agent(sys.argv[2:])
    from fleet.cli import main as cli

    return cli()


if __name__ == "__main__":
    raise SystemExit(main())
