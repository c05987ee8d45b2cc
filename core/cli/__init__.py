"""The `isobridge` command line: one module per command, each with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import IsobridgeError, LockHeld
from ..logs import redact
from . import calendar, demo, evaluate, generate, ledger, plugins, report, scaffold, schema, sheet, sync, vendor

COMMANDS = [demo, evaluate, sync, ledger, report, sheet, vendor, calendar, generate, schema, plugins, scaffold]
"""Built-in command modules, in the order `--help` lists them."""


def build_parser(plugin_commands: bool = True) -> argparse.ArgumentParser:
    """The argument parser with every command registered (plugins' too, unless told not to)."""
    return _parser(plugin_commands)[0]


def _parser(plugin_commands: bool) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="isobridge",
        description="ISO 9001 conformity evidence from one-stop and e-office case logs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    if plugin_commands:
        from ..plugins import load_plugins

        load_plugins().hook.register_commands(commands=commands)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `isobridge` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _parser(plugin_commands=False)
    if not argv or argv[0] not in commands.choices:
        parser = build_parser()  # a plugin's command, or help: load every plugin
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("isobridge: interrupted", file=sys.stderr)
        return 130
    except LockHeld as exc:
        print(f"isobridge {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 4
    except (IsobridgeError, ValueError, OSError) as exc:
        print(f"isobridge {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
