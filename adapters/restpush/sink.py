"""The `rest` evidence sink: POSTs evidence revisions in batches to a QMS endpoint.

Wire format (JSON Schema: docs/schemas/evidence-push.json): a :class:`PushBatch` body; the
request's `Idempotency-Key` header is the item key for a one-item batch, else a hash of the
batch's keys; every item also carries its own `idempotency_key` (`dossier@revision`). Only the
server's per-item answer acknowledges anything: `{"results": [{"key", "status": accepted |
duplicate | rejected, "reason"}]}`; an item it does not mention stays pending. An answer without
results (an SSO login page with 200, an empty 204, a redirect, which is never followed) acknowledges
nothing and raises SinkUnavailable; a 400/413/422 without results is retried item by item to find
the bad ones.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from isobridge.core import (
    AdapterContext, AdapterOptions, AuthenticationError, BasicAuth, BearerAuth, CheckResult, Evidence,
    EvidenceItem, HttpClient, HttpError, HttpOptions, HttpUnavailable, NoAuth, redact_url, server_reason,
    Sink, SinkUnavailable, WriteResult
)

SCHEMA_ID = "isobridge.evidence-push/1"
ITEM_STATUSES = frozenset({400, 413, 422})
"""Statuses of an answer without results that one bad item can cause: the batch is split to find it."""


class PushItem(BaseModel):
    """One evidence revision as pushed."""

    idempotency_key: str = Field(description="`dossier@revision`; the same revision always has the same key.")
    dossier: str = Field(description="Dossier code (mã hồ sơ).")
    revision: int = Field(ge=1, description="Evidence revision of the dossier; higher supersedes lower.")
    source: str = Field(description="The isobridge sink instance that sent it.")
    evidence: Evidence


class PushBatch(BaseModel):
    """The body of one POST."""

    model_config = ConfigDict(title="isobridge evidence push")

    schema_: Literal["isobridge.evidence-push/1"] = Field(SCHEMA_ID, alias="schema")
    sent_at: str = Field(description="When the batch was sent (ISO 8601, UTC).")
    items: list[PushItem]


class PushResult(BaseModel):
    """The server's answer for one item."""

    key: str = Field(description="The item's `idempotency_key`.")
    status: Literal["accepted", "duplicate", "rejected"] = Field(
        description="accepted: stored now; duplicate: stored before (same key); rejected: refused, see reason.")
    reason: str = Field("", description="Why a rejected item was refused (kept in the quarantine).")


class PushAnswer(BaseModel):
    """The body a server answers a POST with (any 2xx or 4xx status): the only acknowledgement."""

    model_config = ConfigDict(title="isobridge evidence push answer")

    results: list[PushResult] = Field(description="One entry per item; an item not listed stays pending.")


class PushAuth(BaseModel):
    """How the sink authenticates to the QMS endpoint."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "basic", "bearer"] = "none"
    username: str = ""
    password: SecretStr | None = None
    token: SecretStr | None = None


class RestPushOptions(AdapterOptions):
    """Options of a `[sinks.NAME]` table with `adapter = "rest"`."""

    adapter: Literal["rest"] = "rest"
    url: str = Field(description="The QMS evidence endpoint that takes POSTed batches.")
    auth: PushAuth = Field(default_factory=PushAuth)
    batch_size: int = Field(100, ge=1, le=5000, description="Items per POST.")
    check_url: str | None = Field(None, description="URL `check` GETs; the endpoint itself by default.")
    http: HttpOptions = Field(default_factory=HttpOptions)


def _auth(options: PushAuth) -> Any:
    if options.type == "basic":
        return BasicAuth(options.username, options.password or SecretStr(""))
    if options.type == "bearer":
        return BearerAuth(options.token or SecretStr(""))
    return NoAuth()


def batch_key(keys: list[str]) -> str:
    """The Idempotency-Key of a request: the item key alone, or a hash of all keys."""
    if len(keys) == 1:
        return keys[0]
    return "batch-" + hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


class RestPushSink(Sink):
    """Pushes evidence revisions to a REST endpoint, idempotently and item by item."""

    name = "rest"
    Options = RestPushOptions

    def __init__(self, options: RestPushOptions, context: AdapterContext):
        super().__init__(options, context)
        self.http = HttpClient(options.url, options.http, auth=_auth(options.auth))

    def check(self) -> CheckResult:
        """Reachable, authenticated, permitted (any answer below 500 other than 401/403), clock skew."""
        details: dict[str, Any] = {"reachable": False, "authenticated": False, "permissions": False}
        asked = self.options.check_url or self.options.url
        try:
            response = self.http.request("GET", asked, ok=lambda s: True)
            status = response.status_code
            details.update(reachable=True, authenticated=status != 401, permissions=status not in (401, 403),
                           status=status)
            ok, message = status not in (401, 403), f"HTTP {status}"
            if urlsplit(response.url)[:3] != urlsplit(self.http.url(asked))[:3]:
                ok, message = False, (f"HTTP {status} after a redirect to {redact_url(self.http.redact(response.url))}"
                                      " (a login page?): pushes, never redirected, would fail")
            elif 200 <= status < 300 and "html" in response.headers.get("Content-Type", "").lower():
                ok, message = False, f"HTTP {status} with an HTML page (a login page?), not the evidence endpoint"
        except AuthenticationError as exc:
            details["reachable"] = True
            ok, message = False, str(exc)
        except HttpError as exc:
            ok, message = False, str(exc)
        details["clock_skew_seconds"] = self.http.clock_skew_seconds()
        return CheckResult(ok, message, details)

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Deliver `batch` in chunks of `batch_size`; SinkUnavailable when the endpoint is down."""
        result = WriteResult()
        size = self.options.batch_size
        for offset in range(0, len(batch), size):
            self._post(batch[offset:offset + size], result)
        return result

    def _post(self, items: list[EvidenceItem], result: WriteResult) -> None:
        keys = [item.key for item in items]
        body = {"schema": SCHEMA_ID, "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "items": [{"idempotency_key": item.key, "dossier": item.dossier, "revision": item.revision,
                           "source": self.context.name, "evidence": item.evidence} for item in items]}
        try:
            response = self.http.request("POST", self.options.url, json=body,
                                         headers={"Idempotency-Key": batch_key(keys)},
                                         ok=lambda status: status < 500)
        except (HttpUnavailable, AuthenticationError) as exc:
            raise SinkUnavailable(f"evidence endpoint unavailable: {exc}") from None
        except HttpError as exc:  # a redirect, a body too large, a request that cannot be made
            raise SinkUnavailable(f"evidence endpoint failed, nothing acknowledged: {exc}") from None
        status = response.status_code
        if status in (401, 403):
            raise SinkUnavailable(f"evidence endpoint refused the credentials: HTTP {status}")
        answers = self._answers(response)
        if answers is not None:
            self._apply(keys, answers, result)
        elif status in ITEM_STATUSES:
            if len(items) > 1:
                for item in items:  # find the bad ones
                    self._post([item], result)
            else:
                result.rejected[keys[0]] = f"HTTP {status}: {self._reason(response)}"
        else:
            raise SinkUnavailable(
                f"evidence endpoint answered HTTP {status} with {describe_body(response)}, not the per-item"
                f" results of the push protocol: nothing is acknowledged, {len(keys)} item(s) stay pending"
                " (is the URL the push endpoint, not a login page or a proxy?)")

    def _apply(self, keys: list[str], answers: dict[str, tuple[str, str]], result: WriteResult) -> None:
        for key in keys:
            state, reason = answers.get(key, ("", ""))
            if state in ("accepted", "duplicate"):
                result.accepted.append(key)
            elif state == "rejected":
                result.rejected[key] = self.http.redact(reason)[:500] or "rejected by the evidence endpoint"
            else:
                self.context.log.warning("%s: no answer for %s%s; it stays pending", self.context.name, key,
                                         f" (status {state[:40]!r})" if state else "")

    @staticmethod
    def _answers(response) -> dict[str, tuple[str, str]] | None:
        """key → (status, reason) from a JSON `{"results": [...]}` body, None without one."""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            return None
        return {r["key"]: (str(r.get("status") or ""), str(r.get("reason") or ""))
                for r in results if isinstance(r, dict) and isinstance(r.get("key"), str)}

    def _reason(self, response) -> str:
        return self.http.redact(server_reason(response))

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()


def push_schema() -> dict:
    """The JSON Schema of a pushed batch (as shipped in docs/schemas/evidence-push.json)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://isobridge.example/schemas/evidence-push.json",
            **PushBatch.model_json_schema(by_alias=True)}


def describe_body(response) -> str:
    """What a body without push results is, for messages (never its text: it may echo secrets)."""
    content, kind = response.content, response.headers.get("Content-Type", "no content type")
    if not content.strip():
        return "an empty body"
    if b"<html" in content[:2048].lower() or "html" in kind:
        return f"an HTML page ({len(content)} bytes, {kind})"
    try:
        orjson.loads(content)
    except orjson.JSONDecodeError:
        return f"a body that is not JSON ({len(content)} bytes, {kind})"
    return f"JSON without `results` ({len(content)} bytes)"


def push_answer_schema() -> dict:
    """The JSON Schema of the server's answer (as shipped in docs/schemas/evidence-push-answer.json)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://isobridge.example/schemas/evidence-push-answer.json",
            **PushAnswer.model_json_schema(by_alias=True)}
