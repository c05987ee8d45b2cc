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

from isobridge.core.adapters import AdapterContext, AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.http import BasicAuth, HttpClient, HttpError, HttpOptions, check_reachability

from .mapping import load_mapping
from .timeline import map_dossier, unmapped

VN = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
PERSONAL = ("applicantName", "applicantIdNo", "address", "contactName", "contactTelNo", "contactEmail",
            "delegateName", "delegateIdNo", "delegateTelNo", "delegateEmail", "delegateAddress",
            "postalAddress", "postalTelNo", "applicantNote")
"""Citizens' personal fields, pseudonymised before a record leaves the adapter."""


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
        """Pages of dossiers (detail + sequences + step table), window by window up to today."""
        state = self._load(cursor)
        today = self.today()
        while True:
            if "done" in state:
                start_day = date.fromisoformat(state["done"]) - timedelta(days=self.options.overlap_days)
                state = {"from": start_day.isoformat(), "to": today.isoformat(), "start": 0}
            for records, last in self._window(state):
                if last:
                    state = {"done": state["to"]}
                yield Page(records, self._dump(state))
            if date.fromisoformat(state["done"]) >= today:
                return

    def _window(self, state: dict) -> Iterator[tuple[list[RawRecord], bool]]:
        """Page through one statistic window; `state["start"]` advances as pages are yielded."""
        seen: set[str] = set()
        size, overlap = self.options.page_size, self.options.page_overlap
        while True:
            start = state["start"]
            ask = max(0, start - overlap)
            items, total = self._list(state["from"], state["to"], ask, start + size)
            fresh = [item for item in items if str(item.get("dossierId")) not in seen]
            records = [self._record(item) for item in fresh]
            seen.update(record.key for record in records)
            state["start"] = start + size
            last = not items or state["start"] >= total
            yield records, last
            if last:
                return

    def _list(self, first: str, last: str, start: int, end: int) -> tuple[list[dict], int]:
        params = {
            "top": "statistic", "fromStatisticDate": _ddmmyyyy(date.fromisoformat(first)),
            "toStatisticDate": _ddmmyyyy(date.fromisoformat(last)), "start": start, "end": end,
            "order": "false",
        }
        if self.options.agency:
            params["agency"] = self.options.agency
        body = self.http.get_json("dossiers", params, expected='{"total", "data": [dossiers]}')
        if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
            raise HttpError(f"GET dossiers: expected {{total, data: [...]}}, got {type(body).__name__}")
        return body.get("data") or [], int(body.get("total") or 0)

    def _record(self, item: dict) -> RawRecord:
        dossier_id = str(item.get("dossierId"))
        detail = self.http.get_json(f"dossiers/{dossier_id}", expected=f"the detail of dossier {dossier_id}")
        sequences = self.http.get_json(f"dossiers/{dossier_id}/sequences",
                                       expected=f"the sequences of dossier {dossier_id}")
        if not isinstance(detail, dict):
            detail = {"dossierId": dossier_id, "_error": f"detail is a {type(detail).__name__}"}
        for key in PERSONAL:
            if detail.get(key):
                detail[key] = self.context.pseudonym(str(detail[key]))
        self._pseudonymise_officers(sequences)
        data = {"dossier": detail, "sequences": sequences, "steps": self._step_table(detail, sequences)}
        return RawRecord(dossier_id, orjson.dumps(data).decode(), data)

    def _pseudonymise_officers(self, sequences: Any) -> None:
        """Officers' names in the action chain become pseudonyms too (units stay readable)."""
        phases = sequences.get("data", []) if isinstance(sequences, dict) else []
        for phase in phases if isinstance(phases, list) else []:
            for action in phase.get("actions", []) if isinstance(phase, dict) else []:
                if isinstance(action, dict) and action.get("actionUser"):
                    action["actionUser"] = self.context.pseudonym(str(action["actionUser"]))

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
        for phase in (sequences or {}).get("data", []) if isinstance(sequences, dict) else []:
            for action in phase.get("actions") or []:
                if action.get("serviceProcessId"):
                    return str(action["serviceProcessId"])
        if self._processes is None:
            body = self.http.get_json("serviceprocesses", {"start": 0, "end": 0},
                                      expected="the service process list")
            rows = body.get("data", []) if isinstance(body, dict) else []
            self._processes = {str(r.get("processNo")): str(r.get("serviceProcessId")) for r in rows}
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
