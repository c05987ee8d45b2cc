"""The `isobridge` command line: one module per command, each with `add_parser` and `run`.

Exit codes: 0 ok, 1 failed, 2 usage, 3 finished with quarantined records, 4 another run holds the
lock. Every failure ends in one line on stderr naming the file, key or record and the reason;
everything a command writes (and every log line) goes through :func:`isobridge.core.logs.redact`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ..errors import LockHeld
from .common import EXIT_FAILED, EXIT_LOCKED, describe, redacted_output
from . import (audit, calendar, coverage, demo, evaluate, explain, generate, ledger, plugins, procedures, report,
               scaffold, schema, sheet, sync, vendor)

COMMANDS = [demo, evaluate, sync, ledger, report, audit, coverage, sheet, explain, vendor, procedures, calendar, generate,
            schema, plugins, scaffold]
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

        try:
            load_plugins().hook.register_commands(commands=commands)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the command line down
            logging.getLogger("isobridge.plugins").warning("a plugin failed to register its commands: %s", exc)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `isobridge` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _parser(plugin_commands=False)
    if not argv or argv[0] not in commands.choices:
        parser = build_parser()  # a plugin's command, or help: load every plugin
    args = parser.parse_args(argv)
    with redacted_output():
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print("isobridge: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - the one place every failure becomes one line
            print(f"isobridge {args.command}: {describe(exc, args)}", file=sys.stderr)
            return EXIT_LOCKED if isinstance(exc, LockHeld) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
