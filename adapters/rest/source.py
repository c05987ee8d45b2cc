"""The declarative `rest` source: any JSON REST one-stop system described by a profile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, SecretStr

from isobridge.core import (
    AdapterContext, AdapterOptions, Answer, AuthenticationError, BasicAuth, BearerAuth, check_reachability,
    CheckResult, HttpClient, HttpOptions, MalformedResponse, NoAuth, Page, PageGuard, Paging, paging_for,
    RawRecord, RecordError, register_secret, Source
)

from .allow import AllowList
from .dates import DUE_HORIZON, implausible, parse_date
from .profile import Profile, load_profile

MISSING = object()
NOT_AN_OBJECT = "__not_an_object__"
"""Key of the stand-in kept for a list item that is not a JSON object."""


def dig(data: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path (`a.b.0.c`); `default` when any part is missing."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return default
    return data


class RestSourceOptions(AdapterOptions):
    """Options of an `[sources.NAME]` table with `adapter = "rest"`."""

    adapter: Literal["rest"] = "rest"
    profile: str = Field(description="Profile TOML path, or a bundled profile name such as 'igate'.")
    base_url: str
    username: str = ""
    password: SecretStr | None = None
    token: SecretStr | None = None
    since: str | None = Field(None, description="Initial value of the incremental filter.")
    page_size: int | None = Field(None, ge=1, description="Records per page, overriding the profile's.")
    http: HttpOptions = Field(default_factory=HttpOptions)


class LoginAuth(NoAuth):
    """A token obtained from a login call, renewed once when the server refuses it."""

    def __init__(self, profile: Profile, options: RestSourceOptions):
        self.spec, self.options = profile.auth, options
        self._token: str | None = None

    def _password(self) -> str:
        return self.options.password.get_secret_value() if self.options.password else ""

    def headers(self, client: HttpClient) -> dict[str, str]:
        """The bearer header, logging in first when needed."""
        if self._token is None:
            fields = {k: v.replace("{username}", self.options.username).replace("{password}", self._password())
                      for k, v in self.spec.login_fields.items()}
            kwargs = {"json": fields} if self.spec.login_format == "json" else {"data": fields}
            body = client.request_json("POST", self.spec.login_path, authenticate=False,
                                       expected="a login answer with a token", **kwargs)
            token = dig(body, self.spec.token_path)
            if not isinstance(token, str) or not token:
                raise AuthenticationError(f"login at {self.spec.login_path}: no token at {self.spec.token_path!r}")
            self._token = token
            register_secret(token)
        return {"Authorization": f"Bearer {self._token}"}

    def refresh(self, client: HttpClient) -> bool:
        """Forget the token so the next request logs in again."""
        self._token = None
        return True

    def secrets(self) -> list[str]:
        """The password and the current token."""
        return [s for s in (self._password(), self._token) if s]


def _auth(profile: Profile, options: RestSourceOptions) -> Any:
    kind = profile.auth.type
    if kind == "basic":
        return BasicAuth(options.username, options.password or SecretStr(""))
    if kind == "bearer":
        return BearerAuth(options.token or SecretStr(""))
    if kind == "login":
        return LoginAuth(profile, options)
    return NoAuth()


def _profile_location(profile: str, context: AdapterContext) -> str | Path:
    """A profile path relative to the configuration file's folder; a bundled name (`igate`) as is."""
    return context.resolve(profile) if Path(profile).suffix or "/" in profile else profile


class RestSource(Source):
    """Pulls dossiers from a REST API as its profile describes."""

    name = "rest"
    Options = RestSourceOptions
    parallel_map = True  # map reads only the record and the mapping

    def __init__(self, options: RestSourceOptions, context: AdapterContext):
        super().__init__(options, context)
        self.profile = load_profile(_profile_location(options.profile, context))
        if options.page_size:
            paging = self.profile.paging.model_copy(update={"size": options.page_size})
            self.profile = self.profile.model_copy(update={"paging": paging})
        self.http = HttpClient(options.base_url, self._http_options(options.http, context),
                               auth=_auth(self.profile, options))
        self.allow = AllowList(self.profile)
        self.tz = datetime.strptime(self.profile.timezone.replace(":", ""), "%z").tzinfo

    @staticmethod
    def _http_options(http: HttpOptions, context: AdapterContext) -> HttpOptions:
        """The HTTP options with a relative `ca_bundle` made relative to the configuration file."""
        if http.ca_bundle is None or http.ca_bundle.is_absolute():
            return http
        return http.model_copy(update={"ca_bundle": context.resolve(http.ca_bundle)})

    # -- check --------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Reachable, authenticated, permitted to list records, clock skew."""

        def probe() -> bool:
            self._fetch(self._params(None, self._paging()), None)
            return True

        return check_reachability(self.http, probe, profile_confirmed=self.profile.profile.confirmed)

    # -- pages --------------------------------------------------------------------------------
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages after the cursor: `{"since", "page", "next", "latest"}` as JSON."""
        state = self._start(cursor)
        paging = self._paging(state["page"], state.get("next"))
        for answer in paging.walk(lambda at: self._answer(self._fetch(self._params(state["since"], at), at.url))):
            records = [self._record(item) for item in answer.items]
            state["latest"] = self._latest(state.get("latest"), answer.items)
            if paging.done:
                yield Page(records, self._dump({"since": self._next_since(state), "page": 0, "latest": None}))
                return
            state["page"] += 1
            state["next"] = paging.url
            yield Page(records, self._dump(state))

    def _paging(self, page: int = 0, url: str | None = None) -> Paging:
        """The profile's paging style, resumed after `page` pages (or at a next-page link)."""
        guard = PageGuard(f"{self.profile.records.path} (rest profile {self.profile.profile.name!r})",
                          self.profile.paging.max_pages)
        return paging_for(self.profile.paging, guard, page=page, base_url=self.http.base_url, url=url)

    def _answer(self, body: Any) -> Answer:
        """The list of records and the paging hints (total, last flag, next link) of one answer."""
        paging = self.profile.paging
        items = dig(body, self.profile.records.items, MISSING)
        if not isinstance(items, list):
            raise MalformedResponse(f"{self.profile.records.path}: expected a list at "
                                    f"{self.profile.records.items or 'the top'!r}")
        return Answer(items, total=dig(body, paging.total_path) if paging.total_path else None,
                      last=dig(body, paging.last_path) if paging.last_path else None,
                      next=dig(body, paging.next_path) if paging.style == "next_link" else None)

    def _start(self, cursor: str | None) -> dict:
        """The paging state to resume from; a checkpoint misread into the future (by an older version)
        is dropped for the configured `since`, with a warning: re-reading is harmless, skipping is not."""
        fresh = {"since": self.options.since, "page": 0, "latest": None}
        state = orjson.loads(cursor) if cursor else fresh
        spec = self.profile.incremental
        for name in ("since", "latest") if spec and cursor else ():
            moment = parse_date(state.get(name), [spec.format, *self.profile.date_formats], self.tz)
            reason = self._implausible(moment) if moment else None
            if reason:
                self.context.log.warning("%s: checkpoint %s=%r is %s: read again from since=%r", self.context.name,
                                         name, state.get(name), reason, self.options.since)
                return fresh
        return state

    def _fetch(self, params: dict, url: str | None) -> Any:
        path = url or self.profile.records.path
        return self.http.get_json(path, None if url else params, expected=f"a page of {self.profile.profile.name} records")

    def _params(self, since: str | None, paging: Paging) -> dict:
        params: dict[str, Any] = dict(self.profile.records.params)
        params.update(paging.params())
        if since and self.profile.incremental:
            params[self.profile.incremental.param] = since
        return params

    def _record(self, item: Any) -> RawRecord:
        """The record as the adapter keeps it: only the paths the profile reads, personal ones as pseudonyms."""
        key = str(dig(item, self.profile.fields.key, ""))
        if isinstance(item, dict):
            item = self.allow.apply(item, self._pseudonymise)
        else:
            item = {NOT_AN_OBJECT: type(item).__name__}  # never the value itself: it may hold anything
        return RawRecord(key, orjson.dumps(item).decode(), item)

    def _pseudonymise(self, value: Any) -> Any:
        """Every text (and number) in `value` as a pseudonym; structure kept, existing pseudonyms kept."""
        if isinstance(value, dict):
            return {key: self._pseudonymise(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [self._pseudonymise(inner) for inner in value]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            return text if text.startswith("p-") else self.context.pseudonym(text)
        return value

    # -- incremental checkpoint ---------------------------------------------------------------
    def _latest(self, latest: str | None, items: list) -> str | None:
        """The latest plausible change date of the pages so far: an absurd one never becomes the checkpoint."""
        spec = self.profile.incremental
        if spec is None:
            return None
        best = self._instant(latest) if latest else None
        for item in items:
            value = dig(item, spec.field)
            moment = self._instant(value)
            if moment is not None and self._implausible(moment) is None and (best is None or moment > best):
                best, latest = moment, value
        return latest

    def _next_since(self, state: dict) -> str | None:
        spec = self.profile.incremental
        moment = self._instant(state.get("latest")) if spec else None
        if spec is None or moment is None:
            return state.get("since")
        moment -= timedelta(seconds=spec.overlap_seconds)
        if spec.format == "iso":
            return moment.isoformat()
        if spec.format == "epoch_ms":
            return str(int(moment.timestamp() * 1000))
        return moment.astimezone(self.tz).strftime(spec.format)

    def _instant(self, value: Any) -> datetime | None:
        """A vendor date as an aware datetime (profile formats first; naive values in its timezone)."""
        return parse_date(value, self.profile.date_formats, self.tz)

    def _implausible(self, moment: datetime, due: bool = False) -> str | None:
        """Why a parsed date cannot be real (before 2000, or too far in the future), else None."""
        now = datetime.now(timezone.utc)
        ahead = DUE_HORIZON if due else timedelta(hours=self.profile.future_tolerance_hours)
        return implausible(moment, now + ahead)

    # -- mapping ------------------------------------------------------------------------------
    def map(self, record: RawRecord) -> list[dict]:
        """One case-log fragment per record; RecordError lists every problem."""
        item = record.data if record.data is not None else orjson.loads(record.payload)
        if NOT_AN_OBJECT in item:
            raise RecordError([f"record {record.key}: the record is a {item[NOT_AN_OBJECT]}, not an object"])
        fields, errors = self.profile.fields, []
        text = {name: dig(item, getattr(fields, name)) if getattr(fields, name) else None
                for name in ("dossier", "procedure", "agency")}  # dig("") is the whole record
        for name in ("dossier", "procedure"):
            if not text[name]:
                errors.append(f"{getattr(fields, name)}: missing (the {name} code)")
        vendor_procedure = str(text["procedure"] or "")
        procedure = self.profile.national_procedure(vendor_procedure) if vendor_procedure else ""
        if procedure is None:
            errors.append(f"{fields.procedure}: {vendor_procedure!r} has no national procedure code"
                          f" (rule {self.profile.procedure_code.national!r})")
        received = self._date(item, fields.received_at, errors, required=True)
        due = self._date(item, fields.due_at, errors, due=True) if fields.due_at else None
        self._check_change_date(item, errors)
        status_raw = str(dig(item, fields.status, ""))
        status = self.profile.status.get(status_raw)
        if status is None:
            errors.append(f"{fields.status}: vendor status {status_raw!r} has no mapping in the profile")
        events = self._events(item, procedure or "", received, errors) + self._milestones(item, errors)
        if errors:
            raise RecordError([f"record {record.key}: {e}" for e in errors])
        fragment = {"dossier": str(text["dossier"]), "procedure": procedure,
                    "agency": str(text["agency"] or ""), "received_at": received, "status": status,
                    "source_status": status_raw, "events": events}
        if procedure != vendor_procedure:
            fragment["source_procedure"] = vendor_procedure  # the local form, kept as provenance
        channel = str(dig(item, fields.channel, "")) if fields.channel else ""
        if channel:
            fragment["channel"] = self.profile.channels.get(channel, channel)
        if due:
            fragment["due_at"] = due
        if fields.applicant and dig(item, fields.applicant):
            fragment["applicant"] = dig(item, fields.applicant)
        return [fragment]

    def _date(self, item: Any, path: str, errors: list[str], required: bool = False, due: bool = False) -> str | None:
        value = dig(item, path)
        moment = self._instant(value)
        if moment is None:
            if value not in (None, "") or required:
                errors.append(f"{path}: {value!r} is not a date in {self.profile.date_formats}")
            return None
        reason = self._implausible(moment, due)
        if reason:
            errors.append(f"{path}: {value!r} reads as {moment.isoformat()}, {reason}: not a plausible date")
            return None
        return moment.isoformat()

    def _check_change_date(self, item: Any, errors: list[str]) -> None:
        """The incremental field, when present, must be a plausible date (it feeds the checkpoint)."""
        spec = self.profile.incremental
        if spec is not None and spec.field != self.profile.fields.received_at:
            self._date(item, spec.field, errors)

    def _events(self, item: Any, procedure: str, received: str | None, errors: list[str]) -> list[dict]:
        """The step events of a record, in time order (see `EventsSpec.reception`)."""
        spec = self.profile.events
        if spec is None:
            return []
        events = []
        for row in self._rows(item):
            at = self._date(row, spec.at, errors, required=True)
            if at is None:
                continue
            vendor = str(dig(row, spec.step, ""))
            event = {"at": at, "kind": spec.kind, "step": self.profile.iso_step(procedure, vendor) or vendor}
            for name in ("unit", "actor"):
                value = dig(row, getattr(spec, name)) if getattr(spec, name) else None
                if value not in (None, ""):
                    event[name] = str(value)
            events.append(event)
        events.sort(key=lambda e: e["at"])
        if spec.reception == "received_at":
            if received:
                events.insert(0, {"at": received, "kind": "received"})
        elif events:
            events[0]["kind"] = "received"
        return events

    def _milestones(self, item: Any, errors: list[str]) -> list[dict]:
        """Events read from dossier-level dates (`milestones`), when the record has them."""
        events = []
        for milestone in self.profile.milestones:
            at = self._date(item, milestone.at, errors)
            if at:
                events.append({"at": at, "kind": milestone.kind})
        return events

    def _rows(self, item: Any) -> list:
        """The event rows of a record (the list at the events path), [] when there is none."""
        rows = dig(item, self.profile.events.path) if self.profile.events else None
        if isinstance(rows, dict):  # an allow-listed copy keeps list indexes as keys
            rows = list(rows.values())
        return rows if isinstance(rows, list) else []

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """(category, code) pairs of this record that reach no ISO step or status.

        Categories: `status` (a vendor status with no national code), `procedure` (a vendor
        procedure code with no national form), `step` (`procedure:vendor step` with no ISO step)
        and `events` (the record has no step rows at all: the events path is wrong or empty).
        """
        item = record.data if record.data is not None else orjson.loads(record.payload)
        found: set[tuple[str, str]] = set()
        status = str(dig(item, self.profile.fields.status, ""))
        if status not in self.profile.status:
            found.add(("status", status))
        vendor = str(dig(item, self.profile.fields.procedure, ""))
        procedure = self.profile.national_procedure(vendor) if vendor else None
        if vendor and procedure is None:
            found.add(("procedure", vendor))
        spec = self.profile.events
        if spec:
            rows = self._rows(item)
            if not rows:
                found.add(("events", f"{spec.path}: no step rows"))
            for row in rows:
                code = str(dig(row, spec.step, ""))
                if code and self.profile.iso_step(procedure or vendor, code) is None:
                    found.add(("step", f"{procedure or vendor}:{code}"))
        return found

    def unconfirmed(self) -> list[str]:
        """Notes on what this profile reads that no public client or live system has confirmed."""
        return self.profile.unconfirmed_notes()

    @staticmethod
    def _dump(state: dict) -> str:
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
