"""The edXML mapping file (`mappings/edxml.toml`) and the packet → case-log fragment mapping."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from functools import lru_cache
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from isobridge.core import EVENT_KINDS, RecordError

from .packet import Packet

TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y/%m/%d %H:%M", "%d/%m/%Y %H:%M",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%d/%m/%Y", "%Y-%m-%d")
"""Timestamp forms seen: yyyy/MM/dd HH:mm:ss (QCVN 102), dd/MM/yyyy HH:mm:ss (SOAP status senders)."""
DOC_TYPES = {"0": "new", "1": "revoke", "2": "update", "3": "replace"}
BUSINESS_DOC_TYPE = ("TraceHeaderList/Bussiness/BussinessDocType", "TraceHeaderList/Business/BusinessDocType")
"""QCVN 102 spells it "Bussiness"; SOAP builders (edoc-integrator XmlUtil) write "Business"."""
DOCUMENT_STAFF = ("TraceHeaderList/Bussiness/StaffInfo/Staff", "TraceHeaderList/Business/StaffInfo/Staff")
STATUS_STAFF = "Status/StaffInfo/Staff"
READ_PATHS = frozenset({
    "MessageHeader/From/OrganId", "MessageHeader/To/OrganId", "MessageHeader/ResponseFor/DocumentId",
    "MessageHeader/PromulgationInfo/PromulgationDate", "TraceHeaderList/TraceHeader/Timestamp",
    "Status/StatusCode", "Status/From/OrganId", "Status/ResponseFor/OrganId", "Status/Timestamp",
    *BUSINESS_DOC_TYPE, *DOCUMENT_STAFF, STATUS_STAFF,
})
"""Header paths the mapping reads (besides the dossier lookup fields): the allow-list."""
IDENTIFIERS = frozenset({
    "OrganId", "DocumentId", "Code", "CodeNumber", "CodeNotation", "StatusCode", "BussinessDocType",
    "BusinessDocType", "Timestamp", "PromulgationDate",
})
"""Leaf names of allowed paths kept as they are (codes, ids, times); any other allowed text is a
free text that may name a person: kept only as the dossier code found in it, or as a pseudonym."""


class Rule(BaseModel):
    """What one packet type becomes: an event kind ("" = none), a step reference, a reason."""

    model_config = ConfigDict(extra="forbid")
    kind: str = ""
    step: str | None = None
    reason: str | None = None

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind and kind not in EVENT_KINDS:
            raise ValueError(f"{kind!r} is not an event kind ({', '.join(sorted(EVENT_KINDS))})")
        return kind


class DossierLookup(BaseModel):
    """Where and how the dossier code is found in a packet."""

    model_config = ConfigDict(extra="forbid")
    document_fields: list[str]
    status_fields: list[str]
    pattern: re.Pattern
    unmatched: Literal["quarantine", "skip"] = "quarantine"


class Steps(BaseModel):
    """Step codes of inter-agency hand-offs."""

    model_config = ConfigDict(extra="forbid")
    inter_agency: str
    back: str
    by_organ: dict[str, str] = Field(default_factory=dict)


class EdxmlMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "+07:00"
    officer_names: Literal["pseudonym", "keep", "drop"] = "pseudonym"
    dossier: DossierLookup
    steps: Steps
    document: dict[Literal["new", "reply", "revoke", "update", "replace"], Rule]
    status: dict[str, Rule]

    @classmethod
    def load(cls, path: Path | None = None) -> "EdxmlMapping":
        """Load a mapping file (None: the bundled `isobridge.mappings/edxml.toml`)."""
        if path is None:
            text = resources.files("isobridge.mappings").joinpath("edxml.toml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.model_validate(tomllib.loads(text))

    def tz(self) -> timezone:
        """The fixed offset of packet timestamps."""
        sign = -1 if self.timezone.startswith("-") else 1
        hours, minutes = self.timezone.lstrip("+-").split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def status_code(text: str | None) -> str:
    """The two-digit form of a status code ("1" and "001" are "01"); other text as it is."""
    text = (text or "").strip()
    return f"{int(text):02d}" if text.isdigit() else text


def parse_time(text: str | None, tz: timezone) -> str | None:
    """ISO 8601 (with offset) of an edXML timestamp, or None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
        for fmt in TIME_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).isoformat()


class PacketMapper:
    """Maps packets to case-log fragments under one mapping."""

    def __init__(self, mapping: EdxmlMapping, pseudonym: Callable[[str | None], str | None]):
        self.mapping, self.tz = mapping, mapping.tz()
        self.pseudonym = lru_cache(maxsize=65536)(pseudonym)
        self._lookup_paths = frozenset(mapping.dossier.document_fields) | frozenset(mapping.dossier.status_fields)

    def fragments(self, packet: Packet) -> list[dict]:
        """Fragments of one packet; raises RecordError naming every problem."""
        kind = packet.kind
        rule, organs, at_text, errors = self._document(packet) if kind == "document" else self._status(packet)
        dossier = self._dossier(packet, kind)
        if dossier is None:
            if self.mapping.dossier.unmatched == "skip":
                return []
            fields = self.mapping.dossier.document_fields if kind == "document" else self.mapping.dossier.status_fields
            errors.append(f"no dossier code matching the mapping's pattern in {', '.join(fields)}")
        if rule is not None and rule.kind:
            at = parse_time(at_text, self.tz)
            if at is None:
                errors.append(f"timestamp {at_text!r} is missing or not yyyy/MM/dd HH:mm:ss")
        if errors:
            raise RecordError(errors)
        if rule is None or not rule.kind:
            return []
        return [{"dossier": dossier, "events": [self._event(rule, at, organs, packet, kind)]}]

    def minimise(self, packet: Packet) -> Packet:
        """The packet reduced to what the mapping needs: identifiers as they are, the dossier
        code of a free-text lookup field (Subject, Description), pseudonyms for the rest (officer
        names, unmatched free text); every other field dropped. Mapping it gives the same result."""
        lookup = self._lookup_paths
        kept: dict[str, list[str]] = {}
        for path, values in packet.fields.items():
            if path not in READ_PATHS and path not in lookup:
                continue
            if path.rpartition("/")[2] in IDENTIFIERS:
                kept[path] = values
            elif path in lookup:
                kept[path] = [self._code(value) or self.pseudonym(value) or "" for value in values]
            else:
                kept[path] = [self.pseudonym(value) or "" for value in values]
        return Packet(kept, packet.layout)

    def _code(self, text: str) -> str | None:
        match = self.mapping.dossier.pattern.search(text)
        return (match.groupdict().get("dossier") or match.group(0)) if match else None

    def _document(self, packet: Packet):
        errors: list[str] = []
        doc_type = DOC_TYPES.get(_first(packet, BUSINESS_DOC_TYPE) or "0", "new")
        if doc_type == "new" and packet.first("MessageHeader/ResponseFor/DocumentId"):
            doc_type = "reply"
        rule = self.mapping.document.get(doc_type)  # type: ignore[call-overload]
        sender = packet.first("MessageHeader/From/OrganId")
        receiver = packet.first("MessageHeader/To/OrganId")
        if not sender:
            errors.append("MessageHeader/From/OrganId: missing")
        if not receiver:
            errors.append("MessageHeader/To/OrganId: missing")
        at_text = packet.first("TraceHeaderList/TraceHeader/Timestamp") or packet.first(
            "MessageHeader/PromulgationInfo/PromulgationDate")
        # (the other agency, the one-stop side): the receiver of a new document, the sender of a reply
        organs = (receiver, sender) if doc_type != "reply" else (sender, receiver)
        return rule, organs, at_text, errors

    def _status(self, packet: Packet):
        errors: list[str] = []
        code = status_code(packet.first("Status/StatusCode"))
        rule = self.mapping.status.get(code)
        if rule is None:
            errors.append(f"Status/StatusCode {code!r} is not in the mapping ({', '.join(sorted(self.mapping.status))})")
        organ = packet.first("Status/From/OrganId")
        if not organ:
            errors.append("Status/From/OrganId: missing")
        organs = (organ, packet.first("Status/ResponseFor/OrganId"))
        return rule, organs, packet.first("Status/Timestamp"), errors

    def _dossier(self, packet: Packet, kind: str) -> str | None:
        lookup = self.mapping.dossier
        for path in lookup.document_fields if kind == "document" else lookup.status_fields:
            for text in packet.all(path):
                code = self._code(text)
                if code:
                    return code
        return None

    def _event(self, rule: Rule, at: str | None, organs: tuple, packet: Packet, kind: str) -> dict:
        organ, counterpart = organs
        step = self._step(rule.step, organ)
        event: dict = {"at": at, "kind": rule.kind}
        if step:
            event["step"] = step
        if rule.step == "@organ":
            event["from_unit"], event["unit"] = counterpart, organ
        else:
            event["from_unit"], event["unit"] = organ, counterpart
        event = {key: value for key, value in event.items() if value is not None}
        if rule.reason:
            event["reason"] = rule.reason
        actor = self._actor(packet, kind)
        if actor:
            event["actor"] = actor
        return event

    def _step(self, reference: str | None, organ: str | None) -> str | None:
        steps = self.mapping.steps
        if reference == "@organ":
            return steps.by_organ.get(organ or "", steps.inter_agency)
        if reference == "@back":
            return steps.back
        return reference

    def _actor(self, packet: Packet, kind: str) -> str | None:
        name = packet.first(STATUS_STAFF) if kind == "status" else _first(packet, DOCUMENT_STAFF)
        policy = self.mapping.officer_names
        if not name or policy == "drop":
            return None
        return name if policy == "keep" else self.pseudonym(name)


def _first(packet: Packet, paths: tuple[str, ...]) -> str | None:
    """The first text at the first of `paths` the packet has."""
    return next((value for value in map(packet.first, paths) if value), None)
