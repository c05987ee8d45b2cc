"""Logging for unattended runs: text or JSON lines on stderr, secrets always masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

MASK = "***"
_ACTIVE: list[str] = []


def redact(text: str) -> str:
    """`text` with every secret of the loaded settings masked (for error messages)."""
    for secret in _ACTIVE:
        text = text.replace(secret, MASK)
    return text


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a log record's final message with `***`."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the record's message and traceback; never drops a record."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, MASK)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, MASK)
        record.msg, record.args = message, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: str = "text", level: str = "INFO", secrets: list[str] | None = None) -> None:
    """Send isobridge logs to stderr in `fmt` (text or json), masking `secrets`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactor = RedactSecrets(secrets or [])
    _ACTIVE[:] = redactor.secrets
    handler.addFilter(redactor)
    root = logging.getLogger("isobridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
