"""Pieces shared by the commands that work on a deployment (settings, plugins, ledger)."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from .. import logs
from ..errors import IsobridgeError, UnavailableError
from ..ledger import Ledger
from ..plugins import Registry, load_plugins
from ..settings import LedgerSettings, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_QUARANTINED, EXIT_LOCKED = 0, 1, 2, 3, 4

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
log = logging.getLogger("isobridge.cli")


def iso_day(text: str) -> str:
    """An argparse type: a day given as YYYY-MM-DD (its ISO text)."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def add_period_arguments(parser: argparse.ArgumentParser, what: str = "day of the period") -> None:
    """--from and --to: the first and last day of a period (into `start` and `end`)."""
    parser.add_argument("--from", dest="start", type=iso_day, default=None, help=f"first {what} (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=iso_day, default=None, help=f"last {what} (YYYY-MM-DD)")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --log-format and --log-level."""
    parser.add_argument("--config", type=Path, default=None, help="settings TOML file (environment overrides it)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format on stderr")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="DEBUG, INFO, WARNING or ERROR")


def open_deployment(args: argparse.Namespace) -> tuple[Settings, Registry, Ledger]:
    """Load settings (configuring masked logging first), plugins and the ledger."""
    settings = load_settings(args.config)
    logs.configure(getattr(args, "log_format", "text"), getattr(args, "log_level", "INFO"), settings.secrets())
    return settings, load_plugins(), open_ledger(settings.ledger, args)


def open_settings(config: Path | None, args: argparse.Namespace | None = None) -> Settings:
    """Settings for a command without logging options; their secrets are masked in all output."""
    settings = load_settings(config)
    logs.configure("text", getattr(args, "log_level", "INFO"), settings.secrets())
    return settings


def open_ledger(where: "LedgerSettings | Path", args: argparse.Namespace | None = None) -> Ledger:
    """The configured ledger (or the SQLite file at a path); a fault names it. `args` remembers
    it for later faults."""
    settings = where if isinstance(where, LedgerSettings) else LedgerSettings(path=where)
    if args is not None:
        args.ledger_path = settings.where()
    try:
        return Ledger.open(settings)
    except sqlite3.Error as exc:
        raise UnavailableError(f"ledger {settings.where()}: {_sqlite_reason(exc)}") from None
    except OSError as exc:
        raise UnavailableError(f"ledger {settings.where()}: {_os_reason(exc)}") from None


def base_dir(args: argparse.Namespace) -> Path:
    """The folder relative option paths are resolved against."""
    return args.config.resolve().parent if args.config else Path.cwd()


def describe(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """One redacted line naming what failed and why (never a traceback; bugs say they are bugs)."""
    if isinstance(exc, ValidationError):
        text = "; ".join(f"{'.'.join(map(str, e['loc'])) or exc.title}: {e['msg']}"
                         for e in exc.errors(include_input=False, include_url=False))
    elif isinstance(exc, (IsobridgeError, ValueError)):
        text = str(exc) or type(exc).__name__
    elif isinstance(exc, OSError):
        text = _os_reason(exc)
    elif isinstance(exc, sqlite3.Error):
        where = getattr(args, "ledger_path", None)
        text = f"ledger{f' {where}' if where else ''}: {_sqlite_reason(exc)}"
    elif type(exc).__module__.startswith("psycopg"):  # a PostgreSQL ledger's fault
        where = getattr(args, "ledger_path", None)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        text = f"ledger{f' {where}' if where else ''}: {reason}"
    else:
        log.debug("unexpected failure", exc_info=exc)
        text = (f"unexpected {type(exc).__name__}: {exc} (a bug; please report it,"
                " with the output of --log-level DEBUG where the command takes it)")
    return " ".join(logs.redact(text).split())


def _os_reason(exc: OSError) -> str:
    if exc.filename is None or not exc.strerror:
        return str(exc)
    if isinstance(exc, FileExistsError):
        return f"{exc.filename}: exists and is not a folder"
    target = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{exc.filename}{target}: {exc.strerror}"


def _sqlite_reason(exc: sqlite3.Error) -> str:
    reason = str(exc) or type(exc).__name__
    if "readonly" in reason or "unable to open" in reason:
        reason += " (check that the ledger file and its folder are writable by this user)"
    return reason


class _Redacting:
    """A text stream whose every write is masked by :func:`isobridge.core.logs.redact`."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` with every known secret masked."""
        return self._stream.write(logs.redact(text))

    def writelines(self, lines: Any) -> None:
        """Write each line masked."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_output() -> Iterator[None]:
    """While a command runs, stdout and stderr mask every secret of the loaded settings."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Redacting(saved[0]), _Redacting(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
