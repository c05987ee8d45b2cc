"""The declarative `rest` source: any JSON REST one-stop system described by a profile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import orjson
from pydantic import Field, SecretStr

from isobridge.core.adapters import AdapterContext, AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.http import (
    AuthenticationError, BasicAuth, BearerAuth, HttpClient, HttpOptions, MalformedResponse, NoAuth,
    check_reachability, register_secret,
)

from .profile import Profile, load_profile

MISSING = object()


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
        self.http = HttpClient(options.base_url, options.http, auth=_auth(self.profile, options))
        self.tz = datetime.strptime(self.profile.timezone.replace(":", ""), "%z").tzinfo

    # -- check --------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Reachable, authenticated, permitted to list records, clock skew."""

        def probe() -> bool:
            self._fetch(self._params(None, 0), None)
            return True

        return check_reachability(self.http, probe, profile_confirmed=self.profile.profile.confirmed)

    # -- pages --------------------------------------------------------------------------------
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages after the cursor: `{"since", "page", "next", "latest"}` as JSON."""
        state = orjson.loads(cursor) if cursor else {"since": self.options.since, "page": 0, "latest": None}
        previous: list[str] = []
        while True:
            url = state.get("next")
            body = self._fetch(self._params(state["since"], state["page"]), url)
            items = dig(body, self.profile.records.items, MISSING)
            if not isinstance(items, list):
                raise MalformedResponse(f"{self.profile.records.path}: expected a list at "
                                        f"{self.profile.records.items or 'the top'!r}")
            records = [self._record(item) for item in items]
            keys = [record.key for record in records]
            if keys and keys == previous:
                raise MalformedResponse(f"{self.profile.records.path}: page {state['page']} repeats the page"
                                        " before it; does the server take the profile's paging parameters?")
            previous = keys
            state["latest"] = self._latest(state.get("latest"), items)
            if self._last(body, items, state["page"]):
                yield Page(records, self._dump({"since": self._next_since(state), "page": 0, "latest": None}))
                return
            state["page"] += 1
            state["next"] = self._next_link(body) if self.profile.paging.style == "next_link" else None
            yield Page(records, self._dump(state))

    def _next_link(self, body: Any) -> str | None:
        """The next page's URL, only on the configured server: credentials never go elsewhere."""
        link = dig(body, self.profile.paging.next_path)
        if not link:
            return None
        url = urljoin(self.http.base_url, str(link))
        base, target = urlsplit(self.http.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise MalformedResponse(f"{self.profile.records.path}: the next-page link leads to another server"
                                    f" ({target.scheme}://{target.netloc}); refused, the credentials stay here")
        return url

    def _fetch(self, params: dict, url: str | None) -> Any:
        path = url or self.profile.records.path
        return self.http.get_json(path, None if url else params, expected=f"a page of {self.profile.profile.name} records")

    def _params(self, since: str | None, page: int) -> dict:
        paging = self.profile.paging
        params: dict[str, Any] = dict(self.profile.records.params)
        if paging.style == "page":
            params.update({paging.page_param: paging.first_page + page, paging.size_param: paging.size})
        elif paging.style == "offset":
            params.update({paging.offset_param: page * paging.size, paging.limit_param: paging.size})
        elif paging.style in ("start_end", "next_link"):
            params.update({paging.start_param: page * paging.size, paging.end_param: (page + 1) * paging.size})
        if since and self.profile.incremental:
            params[self.profile.incremental.param] = since
        return params

    def _last(self, body: Any, items: list, page: int) -> bool:
        paging = self.profile.paging
        if not items or paging.style == "none":
            return True
        if paging.last_path and isinstance(dig(body, paging.last_path), bool):
            return dig(body, paging.last_path)
        if paging.style == "next_link":
            return not dig(body, paging.next_path)
        total = dig(body, paging.total_path) if paging.total_path else None
        if isinstance(total, int):
            return (page + 1) * paging.size >= total
        return len(items) < paging.size

    def _record(self, item: Any) -> RawRecord:
        key = str(dig(item, self.profile.fields.key, ""))
        if isinstance(item, dict) and (self.profile.fields.applicant or self.profile.personal):
            item = self._scrub(item)
        return RawRecord(key, orjson.dumps(item).decode(), item)

    def _scrub(self, item: dict) -> dict:
        """A copy of the record whose applicant identifier and `personal` paths hold only pseudonyms."""
        item = orjson.loads(orjson.dumps(item))
        for dotted in filter(None, [self.profile.fields.applicant, *self.profile.personal]):
            path = dotted.split(".")
            parent = dig(item, ".".join(path[:-1])) if len(path) > 1 else item
            if isinstance(parent, dict) and parent.get(path[-1]) is not None:
                parent[path[-1]] = self._pseudonymise(parent[path[-1]])
        return item

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
        spec = self.profile.incremental
        if spec is None:
            return None
        best = self._instant(latest) if latest else None
        for item in items:
            moment = self._instant(dig(item, spec.field))
            if moment is not None and (best is None or moment > best):
                best, latest = moment, dig(item, spec.field)
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
        """A vendor date as an aware datetime (profile formats; naive values are in its timezone)."""
        if value in (None, ""):
            return None
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value) / 1000, timezone.utc)
        for pattern in self.profile.date_formats:
            try:
                moment = datetime.fromisoformat(value) if pattern == "iso" else datetime.strptime(value, pattern)
            except (TypeError, ValueError):
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=self.tz)
        return None

    # -- mapping ------------------------------------------------------------------------------
    def map(self, record: RawRecord) -> list[dict]:
        """One case-log fragment per record; RecordError lists every problem."""
        item = record.data if record.data is not None else orjson.loads(record.payload)
        fields, errors = self.profile.fields, []
        text = {name: dig(item, getattr(fields, name)) for name in ("dossier", "procedure", "agency")}
        for name in ("dossier", "procedure"):
            if not text[name]:
                errors.append(f"{getattr(fields, name)}: missing (the {name} code)")
        received = self._date(item, fields.received_at, errors, required=True)
        due = self._date(item, fields.due_at, errors) if fields.due_at else None
        status_raw = str(dig(item, fields.status, ""))
        status = self.profile.status.get(status_raw)
        if status is None:
            errors.append(f"{fields.status}: vendor status {status_raw!r} has no mapping in the profile")
        events = self._events(item, str(text["procedure"] or ""), errors)
        if errors:
            raise RecordError([f"record {record.key}: {e}" for e in errors])
        fragment = {"dossier": str(text["dossier"]), "procedure": str(text["procedure"]),
                    "agency": str(text["agency"] or ""), "received_at": received, "status": status,
                    "source_status": status_raw, "events": events}
        channel = str(dig(item, fields.channel, "")) if fields.channel else ""
        if channel:
            fragment["channel"] = self.profile.channels.get(channel, channel)
        if due:
            fragment["due_at"] = due
        if fields.applicant and dig(item, fields.applicant):
            fragment["applicant"] = dig(item, fields.applicant)
        return [fragment]

    def _date(self, item: Any, path: str, errors: list[str], required: bool = False) -> str | None:
        value = dig(item, path)
        moment = self._instant(value)
        if moment is None and (value not in (None, "") or required):
            errors.append(f"{path}: {value!r} is not a date in {self.profile.date_formats}")
        return moment.isoformat() if moment else None

    def _events(self, item: Any, procedure: str, errors: list[str]) -> list[dict]:
        spec = self.profile.events
        if spec is None:
            return []
        rows = dig(item, spec.path) or []
        events = []
        for index, row in enumerate(rows if isinstance(rows, list) else []):
            at = self._date(row, spec.at, errors, required=True)
            vendor = str(dig(row, spec.step, ""))
            if at is None:
                continue
            event = {"at": at, "kind": "received" if not events else spec.kind,
                     "step": self.profile.iso_step(procedure, vendor) or vendor}
            if spec.unit and dig(row, spec.unit):
                event["unit"] = str(dig(row, spec.unit))
            events.append(event)
        events.sort(key=lambda e: e["at"])
        if events:
            for event in events:
                event["kind"] = spec.kind
            events[0]["kind"] = "received"
        return events

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """(category, code) pairs of this record missing from the profile's maps."""
        item = record.data if record.data is not None else orjson.loads(record.payload)
        found: set[tuple[str, str]] = set()
        status = str(dig(item, self.profile.fields.status, ""))
        if status not in self.profile.status:
            found.add(("status", status))
        spec = self.profile.events
        if spec:
            procedure = str(dig(item, self.profile.fields.procedure, ""))
            for row in dig(item, spec.path) or []:
                code = str(dig(row, spec.step, ""))
                if code and self.profile.iso_step(procedure, code) is None:
                    found.add(("step", f"{procedure}:{code}"))
        return found

    @staticmethod
    def _dump(state: dict) -> str:
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
