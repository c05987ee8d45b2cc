"""The `opencps` source: incremental pull from the OpenCPS v2 REST API (`/o/rest/v2`).

OpenCPS has no modified-since filter, so each run lists the dossiers "open in the period"
(`top=statistic`) from the checkpoint day minus an overlap to today, then fetches every listed
dossier's detail and `/sequences` (its DossierAction chain). Unchanged dossiers map to identical
fragments, which the host's ledger recognises, so they produce no new evidence revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, SecretStr

from isobridge.core import (
    AdapterContext, AdapterOptions, Answer, AuthenticationError, BasicAuth, check_reachability, CheckResult,
    HttpClient, HttpError, HttpOptions, MalformedResponse, nfc, Page, PageGuard, RawRecord, Source, StartEndPaging
)

from .mapping import load_mapping
from .timeline import map_dossier, unmapped

VN = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
DETAIL_FIELDS = ("dossierId", "dossierNo", "serviceCode", "govAgencyCode", "processNo", "dossierStatus",
                 "dossierSubStatus", "receiveDate", "dueDate", "releaseDate", "finishDate", "online",
                 "originality", "lockState", "stepCode")
"""Detail fields the mapping reads; every other field (names, notes, addresses…) is never stored."""
PSEUDONYMISED = ("applicantIdNo",)
"""Person fields kept only as keyed pseudonyms (the applicant's identity links a citizen's dossiers)."""
SEQUENCE_FIELDS = ("processNo", "durationUnit", "durationCount", "total")
PHASE_FIELDS = ("sequenceNo", "sequenceName", "sequenceRole", "durationCount", "startDate")
ACTION_FIELDS = ("fromStepCode", "sequenceNo", "dossierId", "serviceProcessId", "previousActionId",
                 "nextActionId", "actionCode", "createDate", "modifiedDate", "dueDate", "state", "stepCode")
"""Fields of /sequences kept; notes, payloads, files and assigned users' names are dropped."""
RECORD_STATUSES = frozenset({400, 403, 404, 410})
"""Answers about one dossier that quarantine it (OpenCPS answers any server-side exception with 403)."""


class OpenCPSOptions(AdapterOptions):
    """Options of an `[sources.NAME]` table with `adapter = "opencps"`."""

    adapter: Literal["opencps"] = "opencps"
    base_url: str = Field(description="API root, e.g. https://motcua.example.gov.vn/o/rest/v2")
    username: str = Field(description="Liferay login (usually an e-mail address).")
    password: SecretStr
    group_id: int = Field(description="Liferay site id sent as the `groupId` header.")
    agency: str = Field("", description="govAgencyCode filter; empty = the account's scope.")
    since: date = Field(description="First day to pull when there is no checkpoint yet.")
    overlap_days: int = Field(2, ge=0, le=60, description="Days re-read before the checkpoint day.")
    page_size: int = Field(100, ge=1, le=1000)
    page_overlap: int = Field(2, ge=0, le=50, description="List items re-read at each page start.")
    mapping: Path | None = Field(None, description="Mapping file; the bundled opencps.toml by default.")
    http: HttpOptions = Field(default_factory=HttpOptions)


def _kept(body: dict, fields: tuple[str, ...]) -> dict:
    """The listed fields of `body`, text in Unicode NFC (one spelling of each unit and step name)."""
    return {key: nfc(body[key]) for key in fields if key in body}


def _marker(value: Any) -> str:
    """What stands in the stored record for a part of the wrong shape (its text is never kept)."""
    return f"<not an object: {type(value).__name__}>"


def vn_today() -> date:
    """Today in Vietnam."""
    return datetime.now(VN).date()


def _ddmmyyyy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


class OpenCPSSource(Source):
    """Pulls dossiers with their action chain from OpenCPS."""

    name = "opencps"
    Options = OpenCPSOptions
    parallel_map = True  # map reads only the record and the mapping

    def __init__(self, options: OpenCPSOptions, context: AdapterContext, today=vn_today):
        super().__init__(options, context)
        self.mapping = load_mapping(options.mapping)
        self.http = HttpClient(
            options.base_url, options.http, auth=BasicAuth(options.username, options.password),
            headers={"groupId": str(options.group_id)}, auth_statuses=frozenset({203, 401}),
        )
        self.today = today
        self._processes: dict[str, str] | None = None
        self._steps: dict[str, dict[str, list[str]]] = {}

    # -- check --------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Reachable, authenticated, allowed to list dossiers, and the server's clock skew."""

        def probe() -> dict | bool:
            body = self.http.get_json("dossiers", {"start": 0, "end": 1}, expected="a dossier list")
            return {"dossiers_visible": body.get("total")} if isinstance(body, dict) else False

        return check_reachability(self.http, probe)

    # -- pages --------------------------------------------------------------------------------
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of dossiers (detail + sequences + step table), window by window up to today.

        Re-reading the overlap of a checkpoint that is already today's keeps that checkpoint on
        every page: the re-read is idempotent, and a run that finds nothing new leaves it put.
        """
        state = self._load(cursor)
        today = self.today()
        while True:
            kept = None
            if "done" in state:
                if date.fromisoformat(state["done"]) >= today:
                    kept = self._dump(state)
                start_day = date.fromisoformat(state["done"]) - timedelta(days=self.options.overlap_days)
                state = {"from": start_day.isoformat(), "to": today.isoformat(), "start": 0}
            for records, last in self._window(state):
                if last:
                    state = {"done": state["to"]}
                yield Page(records, kept or self._dump(state))
            if date.fromisoformat(state["done"]) >= today:
                return

    def _window(self, state: dict) -> Iterator[tuple[list[RawRecord], bool]]:
        """Page through one statistic window; `state["start"]` advances as pages are yielded."""
        seen: set[str] = set()
        guard = PageGuard(f"GET dossiers (statistic window {state['from']} to {state['to']})")
        paging = StartEndPaging(guard, self.options.page_size, state["start"], overlap=self.options.page_overlap)
        for answer in paging.walk(lambda at: self._list(state["from"], state["to"], at.params())):
            fresh = [item for item in answer.items if str(item.get("dossierId")) not in seen]
            records = [self._record(item) for item in fresh]
            seen.update(record.key for record in records)
            state["start"] = paging.offset
            yield records, paging.done

    def _list(self, first: str, last: str, paging: dict[str, int]) -> Answer:
        """One page of the statistic window: its dossiers and the window's `total`."""
        params = {
            "top": "statistic", "fromStatisticDate": _ddmmyyyy(date.fromisoformat(first)),
            "toStatisticDate": _ddmmyyyy(date.fromisoformat(last)), **paging, "order": "false",
        }
        if self.options.agency:
            params["agency"] = self.options.agency
        body = self.http.get_json("dossiers", params, expected='{"total", "data": [dossiers]}')
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, (list, type(None))) or not all(isinstance(i, dict) for i in data or []):
            raise MalformedResponse(f"GET dossiers: expected {{total, data: [dossiers]}}, got {type(body).__name__}")
        try:
            return Answer(data or [], total=int(body.get("total") or 0))
        except (TypeError, ValueError):
            raise MalformedResponse("GET dossiers: `total` is not a number") from None

    def _record(self, item: dict) -> RawRecord:
        """Detail + sequences + step table of one dossier, allow-listed and pseudonymised.

        A dossier the server will not describe (404, 403, a body of the wrong shape) becomes a
        record that `map` quarantines with the reason; the run goes on.
        """
        dossier_id = str(item.get("dossierId"))
        try:
            detail = self.http.get_json(f"dossiers/{dossier_id}", expected=f"the detail of dossier {dossier_id}")
            sequences = self.http.get_json(f"dossiers/{dossier_id}/sequences",
                                           expected=f"the sequences of dossier {dossier_id}")
        except HttpError as exc:
            if isinstance(exc, AuthenticationError) or exc.status not in RECORD_STATUSES:
                raise
            return self._failed(dossier_id, f"the server answered HTTP {exc.status} for this dossier")
        if not isinstance(detail, dict):
            return self._failed(dossier_id, f"the detail is a {type(detail).__name__}, not an object")
        kept = self._detail(detail)
        sequences = self._sequences(sequences)
        data = {"dossier": kept, "sequences": sequences, "steps": self._step_table(kept, sequences)}
        return RawRecord(dossier_id, orjson.dumps(data).decode(), data)

    def _failed(self, dossier_id: str, reason: str) -> RawRecord:
        data = {"dossier": {"dossierId": dossier_id}, "_error": reason}
        return RawRecord(dossier_id, orjson.dumps(data).decode(), data)

    def _detail(self, detail: dict) -> dict:
        """The allow-listed detail fields; person fields as pseudonyms."""
        kept = _kept(detail, DETAIL_FIELDS)
        for key in PSEUDONYMISED:
            if detail.get(key):
                kept[key] = self.context.pseudonym(str(detail[key]))
        return kept

    def _sequences(self, sequences: Any) -> Any:
        """The allow-listed /sequences body; a part of the wrong shape becomes a marker naming its type."""
        if not isinstance(sequences, dict):
            return f"<not an object: {type(sequences).__name__}>"
        phases = sequences.get("data")
        kept: dict[str, Any] = _kept(sequences, SEQUENCE_FIELDS)
        kept["data"] = [self._phase(p) for p in phases] if isinstance(phases, list) else _marker(phases)
        return kept

    def _phase(self, phase: Any) -> Any:
        if not isinstance(phase, dict):
            return _marker(phase)
        kept = _kept(phase, PHASE_FIELDS)
        actions = phase.get("actions") or []
        kept["actions"] = [self._action(a) for a in actions] if isinstance(actions, list) else _marker(actions)
        return kept

    def _action(self, action: Any) -> Any:
        """An action's allow-listed fields; the acting officer's name as a pseudonym."""
        if not isinstance(action, dict):
            return _marker(action)
        kept = _kept(action, ACTION_FIELDS)
        if action.get("actionUser"):
            kept["actionUser"] = self.context.pseudonym(str(action["actionUser"]))
        return kept

    # -- process step tables ------------------------------------------------------------------
    def _step_table(self, detail: dict, sequences: Any) -> dict[str, list[str]]:
        """stepCode → [dossierStatus, dossierSubStatus] of the dossier's service process."""
        process_id = self._process_id(detail, sequences)
        if process_id is None:
            return {}
        if process_id not in self._steps:
            body = self.http.get_json(f"serviceprocesses/{process_id}/steps", {"start": 0, "end": 0},
                                      expected="the steps of a service process")
            rows = body.get("data", []) if isinstance(body, dict) else []
            self._steps[process_id] = {
                str(row.get("stepCode")): [row.get("dossierStatus") or "", row.get("dossierSubStatus") or ""]
                for row in rows if isinstance(row, dict)
            }
        return self._steps[process_id]

    def _process_id(self, detail: dict, sequences: Any) -> str | None:
        phases = sequences.get("data") if isinstance(sequences, dict) else None
        for phase in phases if isinstance(phases, list) else []:
            actions = phase.get("actions") if isinstance(phase, dict) else None
            for action in actions if isinstance(actions, list) else []:
                if isinstance(action, dict) and action.get("serviceProcessId"):
                    return str(action["serviceProcessId"])
        if self._processes is None:
            body = self.http.get_json("serviceprocesses", {"start": 0, "end": 0},
                                      expected="the service process list")
            rows = body.get("data", []) if isinstance(body, dict) else []
            self._processes = {str(r.get("processNo")): str(r.get("serviceProcessId"))
                               for r in rows if isinstance(r, dict)}
        return self._processes.get(str(detail.get("processNo") or ""))

    # -- mapping ------------------------------------------------------------------------------
    def map(self, record: RawRecord) -> list[dict]:
        """One case-log fragment per dossier (none while it is not received yet)."""
        data = record.data if record.data is not None else orjson.loads(record.payload)
        return map_dossier(data, self.mapping, record.key)

    def draft_procedures(self) -> list[str]:
        """Draft ISO procedure TOML texts from the configured service processes."""
        from .procedures import draft_procedures

        return draft_procedures(self)

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """(category, vendor code) pairs of this record that the mapping file does not cover."""
        data = record.data if record.data is not None else orjson.loads(record.payload)
        return unmapped(data, self.mapping)

    # -- cursor -------------------------------------------------------------------------------
    def _load(self, cursor: str | None) -> dict:
        if not cursor:
            return {"from": self.options.since.isoformat(), "to": self.today().isoformat(), "start": 0}
        state = orjson.loads(cursor)
        if not isinstance(state, dict) or not ({"done"} <= state.keys() or {"from", "to", "start"} <= state.keys()):
            raise ValueError(f"not an opencps cursor: {cursor[:80]!r}")
        return state

    @staticmethod
    def _dump(state: dict) -> str:
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
