"""Pieces shared by the commands that work on a deployment (settings, plugins, ledger)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import logs
from ..ledger import Ledger
from ..plugins import Registry, load_plugins
from ..settings import Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_QUARANTINED, EXIT_LOCKED = 0, 1, 2, 3, 4


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --log-format and --log-level."""
    parser.add_argument("--config", type=Path, default=None, help="settings TOML file (environment overrides it)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format on stderr")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")


def open_deployment(args: argparse.Namespace) -> tuple[Settings, Registry, Ledger]:
    """Load settings (configuring masked logging first), plugins and the ledger."""
    settings = load_settings(args.config)
    logs.configure(args.log_format, args.log_level, settings.secrets())
    return settings, load_plugins(), Ledger(settings.ledger.path)


def base_dir(args: argparse.Namespace) -> Path:
    """The folder relative option paths are resolved against."""
    return args.config.resolve().parent if args.config else Path.cwd()
