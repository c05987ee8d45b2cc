"""Record HTTP exchanges against a live system once; replay them through pytest-httpserver in CI.

Recording patches `requests` (every adapter's HTTP goes through it) for the exchanges whose URL
starts with the live base URL. What is stored is scrubbed: request headers are not kept at all,
query parameters and JSON fields with secret-like names become `***`, known secret values are
masked wherever they appear, and JSON fields holding personal data get stable placeholders
(`redacted-1`, …), so a recording can be committed. Replay answers each (method, path, query)
with its recorded responses in order (the last one repeats).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from isobridge.core.logs import redact, register_secret
from isobridge.core.privacy import PERSONAL_FIELDS
from isobridge.core.settings import SECRET_HINTS

MASK = "***"


def _secret_name(name: str) -> bool:
    return name.lower().endswith(SECRET_HINTS) or name.lower() in {"access_token", "refresh_token", "sig"}


@dataclass
class Scrubber:
    """Masks secrets and replaces personal values in recorded text."""

    secrets: list[str] = field(default_factory=list)
    personal_keys: frozenset[str] = PERSONAL_FIELDS
    placeholders: dict[str, str] = field(default_factory=dict)

    def text(self, text: str) -> str:
        """Known secret values masked in every escaped form, and secret-looking values (one redaction:
        :func:`isobridge.core.logs.redact`)."""
        for secret in self.secrets:
            register_secret(secret)
        return redact(text)

    def body(self, text: str) -> str:
        """A response body: JSON fields scrubbed by name, then secret values masked."""
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text)
        return self.text(json.dumps(self._walk(document), ensure_ascii=False))

    def _walk(self, value: Any, name: str = "") -> Any:
        if isinstance(value, dict):
            return {key: self._walk(item, key) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item, name) for item in value]
        if isinstance(value, str) and _secret_name(name):
            return MASK
        if isinstance(value, (str, int)) and name in self.personal_keys and value != "":
            return self.placeholders.setdefault(str(value), f"redacted-{len(self.placeholders) + 1}")
        return value


def _key(method: str, path: str, query: Iterable[tuple[str, str]]) -> str:
    kept = sorted((name, value) for name, value in query if not _secret_name(name))
    return f"{method.upper()} {path}?" + "&".join(f"{n}={v}" for n, v in kept)


@dataclass
class Recording:
    """Recorded exchanges, relative to the live system's base path."""

    base_path: str = "/"
    exchanges: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> "Recording":
        """Read a recording file."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data.get("base_path", "/"), data["exchanges"])

    def save(self, path: str | Path) -> None:
        """Write the recording file (UTF-8 JSON, one exchange per entry)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"base_path": self.base_path, "exchanges": self.exchanges}, ensure_ascii=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    def serve(self, server) -> str:
        """Answer the recorded exchanges on a pytest-httpserver; returns the base URL to use."""
        from werkzeug import Response

        queues: dict[str, list[dict]] = defaultdict(list)
        for exchange in self.exchanges:
            queues[exchange["key"]].append(exchange)
        served: dict[str, int] = defaultdict(int)

        def answer(request):
            path = request.path.removeprefix(self.base_path.rstrip("/")) or "/"
            key = _key(request.method, path, parse_qsl(request.query_string.decode()))
            queue = queues.get(key)
            if not queue:
                return Response(f"not in the recording: {key}", status=599)
            exchange = queue[min(served[key], len(queue) - 1)]
            served[key] += 1
            return Response(exchange["body"], status=exchange["status"],
                            headers={"Content-Type": exchange.get("content_type", "application/json")})

        server.expect_request(re.compile(".*")).respond_with_handler(answer)
        return server.url_for(self.base_path)


@contextmanager
def record(base_url: str, path: str | Path, secrets: Iterable[str] = (),
           personal_keys: Iterable[str] = ()) -> Iterator[Recording]:
    """Record the `requests` exchanges under `base_url` into `path` when the block ends."""
    import requests.adapters

    base = urlsplit(base_url)
    recording = Recording(base.path or "/")
    scrub = Scrubber(list(secrets), PERSONAL_FIELDS | frozenset(personal_keys))
    original = requests.adapters.HTTPAdapter.send

    def send(adapter, request, *args, **kwargs):
        response = original(adapter, request, *args, **kwargs)
        url = urlsplit(request.url)
        if url.netloc == base.netloc and url.path.startswith(base.path.rstrip("/")):
            relative = url.path.removeprefix(base.path.rstrip("/")) or "/"
            recording.exchanges.append({
                "key": scrub.text(_key(request.method, relative, parse_qsl(url.query))),
                "status": response.status_code,
                "content_type": response.headers.get("Content-Type", ""),
                "body": scrub.body(response.text),
            })
        return response

    requests.adapters.HTTPAdapter.send = send
    try:
        yield recording
    finally:
        requests.adapters.HTTPAdapter.send = original
        recording.save(path)
