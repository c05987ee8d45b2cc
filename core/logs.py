"""Logging for unattended runs, and the one redaction every path out uses (logs, errors, runs table).

Secrets are registered once, wherever they come from (the settings, an adapter's credentials, a
token a login returned, a secret in a configured URL), with :func:`register_secret`; :func:`redact`
masks each of them in every form it can take in a message: as given and stripped of whitespace,
URL-encoded, JSON- or repr-escaped, HTML-escaped and base64-encoded. It also masks what looks like
a secret without being registered: secret-named URL query values (`?token=…`), `password=…` and
`"token": "…"` pairs, `Bearer …`/`Basic …` credentials and a URL's user info.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked (masking a 3-character value would garble every message)."""

SECRET_NAME = re.compile(r"(pass|pwd|secret|token|key|auth|session|sig|credential|code_verifier)", re.I)
"""Query parameter names whose values are masked in any URL."""

_QUERY_VALUE = re.compile(
    r"([?&;][^=&#\s\"'<>]*(?:pass|pwd|secret|token|key|auth|session|sig|credential|code_verifier)"
    r"[^=&#\s\"'<>]*=)[^&#\s\"'<>]*", re.I)
_PAIR = re.compile(
    r"""(?<![\w-])(["']?)(password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|id_token"""
    r"""|api_key|apikey|x-api-key|session_id|sessionid|pseudonym_key)\1(\s*[:=]\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&,;)}\]<>"']+)""", re.I)
_SCHEME_CREDENTIAL = re.compile(r"\b(Bearer|Basic)\s+(?=[a-z]*[A-Z0-9+/=_~-])[A-Za-z0-9._~+/=-]{8,}")
"""A credential after its scheme: a token has a capital, a digit or a sign; prose ("Basic authentication") has none."""
_USER_INFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@", re.I)


class SecretRegistry:
    """The secret values masked in every message (thread-safe; values are never forgotten)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Mask `value` (every escaped form of it) from now on."""
        if not value or value in self._values:  # known already (a client registers its secrets per request)
            return
        forms = escaped_forms(value) - self._forms
        with self._lock:
            self._values.add(value)
            if forms:
                self._forms |= forms
                self._pattern = None

    def mask(self, text: str) -> str:
        """`text` with every registered form replaced by the mask."""
        pattern = self._pattern
        if pattern is None:
            if not self._forms:
                return text
            with self._lock:
                ordered = sorted(self._forms, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return pattern.sub(MASK, text)

    def __len__(self) -> int:
        return len(self._forms)


def escaped_forms(value: str) -> set[str]:
    """The forms a secret can take in a message: raw, stripped, URL/JSON/repr/HTML-escaped, base64."""
    forms: set[str] = set()
    for plain in {value, value.strip()}:
        if len(plain) < MIN_SECRET_LENGTH:
            continue
        url = quote(plain, safe="")
        forms.update({
            plain, url, quote_plus(plain), re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), url),
            json.dumps(plain)[1:-1], json.dumps(plain, ensure_ascii=False)[1:-1], repr(plain)[1:-1],
            html.escape(plain), base64.b64encode(plain.encode()).decode().rstrip("="),
        })
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


SECRETS = SecretRegistry()
"""The one registry of the process."""


def register_secret(value: str | None) -> None:
    """Mask `value` in every log record, error message and stored run from now on."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every secret-looking value masked.

    Call it on everything that leaves the process or is stored: log lines, printed errors,
    `check` output, the ledger's `runs` table.
    """
    text = SECRETS.mask(text)
    if "=" in text or ":" in text:
        text = _QUERY_VALUE.sub(lambda m: m.group(1) + MASK, text)
        text = _PAIR.sub(_mask_pair, text)
        text = _USER_INFO.sub(lambda m: m.group(1) + MASK + "@", text)
    if "Bearer" in text or "Basic" in text:
        text = _SCHEME_CREDENTIAL.sub(lambda m: m.group(1) + " " + MASK, text)
    return text


def _mask_pair(match: re.Match[str]) -> str:
    quote_char, name, separator, value = match.groups()
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        value = value[0] + MASK + value[0]
    else:
        value = MASK
    return f"{quote_char}{name}{quote_char}{separator}{value}"


class RedactSecrets(logging.Filter):
    """Masks secrets (see :func:`redact`) in a record's message and traceback; never drops a record."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        for secret in secrets or []:
            register_secret(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
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
    """Send isobridge logs to stderr in `fmt` (text or json), masking `secrets` (and every registered one)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger("isobridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
