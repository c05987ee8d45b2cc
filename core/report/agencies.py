"""Per-agency headers of the documents and the counting rules of the report (`[documents]`).

Settings shape::

    [documents]
    place = "Đà Nẵng"                       # default place of the place-and-date line

    [documents.agencies."UBND xã Hòa Vang"]
    governing_body = "UBND thành phố Đà Nẵng"      # upper line of the two-level header
    department = "Trung tâm Phục vụ hành chính công xã Hòa Vang"   # lower line: the receiving department
    number_suffix = "PKS-TTPVHCC"                  # "Số: …/PKS-TTPVHCC"
    place = "Hòa Vang"
    own_units = ["Sở Xây dựng (tổ công tác)"]      # units named like an agency that are the agency's own
    partner_units = ["Điện lực Hòa Vang"]          # other agencies whose names do not say so

    [documents.counting]                           # Decision 766 counting (defaults: the national portal)
    withdrawn = "on_time"
    refused = "excluded"
    granularity = "day"

An agency without a table gets a fallback header: its own name above "Bộ phận Một cửa". On the
control sheet, "Cơ quan, đơn vị phối hợp" lists the units of the dossier's steps that are other
agencies: named as one ("Sở …", "UBND …", "Công an …", …) or listed in `partner_units`, and
neither the agency, its header lines nor one of its `own_units`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FALLBACK_DEPARTMENT = "Bộ phận Một cửa"


class AgencyHeader(BaseModel):
    """How the documents of one agency are headed."""

    model_config = ConfigDict(extra="forbid")
    governing_body: str | None = Field(default=None, description="Upper header line (the agency itself when omitted).")
    department: str = Field(default=FALLBACK_DEPARTMENT, description="Lower header line: the receiving department.")
    number_suffix: str = Field(default="PKS", description="Suffix of the number line 'Số: …/<suffix>'.")
    place: str | None = Field(default=None, description="Place of the place-and-date line.")
    own_units: list[str] = Field(default_factory=list,
                                 description="The agency's own departments (not inter-agency partners).")
    partner_units: list[str] = Field(default_factory=list,
                                     description="Other agencies whose names the sheet cannot tell from a department.")


class CountingRules(BaseModel):
    """How the report counts dossiers for Decision 766 (defaults: the national portal's practice).

    - withdrawn (national status 7): `on_time` counts it among the dossiers processed, on time
      (the portal); `by_date` counts it processed, early / on time / late by its dates;
      `excluded` leaves it out of the on-time rate (listed with refused and stopped ones).
    - refused at reception (status 3): `excluded` from every count (the portal: never received);
      `listed` in the refused / withdrawn / stopped column, outside the rate.
    - granularity: `day` compares the local dates of finishing and due (the portal); `minute`
      makes a dossier finished after its due instant late even on the due day.
    """

    model_config = ConfigDict(extra="forbid")
    withdrawn: Literal["on_time", "by_date", "excluded"] = "on_time"
    refused: Literal["excluded", "listed"] = "excluded"
    granularity: Literal["day", "minute"] = "day"


class DocumentSettings(BaseModel):
    """`[documents]`: headers per agency and the report's counting rules."""

    model_config = ConfigDict(extra="forbid")
    place: str | None = None
    agencies: dict[str, AgencyHeader] = Field(default_factory=dict)
    counting: CountingRules = CountingRules()

    def header(self, agency: str) -> AgencyHeader:
        """The header of an agency (a fallback built from its name when not configured)."""
        found = self.agencies.get(agency)
        if found is None:
            found = AgencyHeader(governing_body=agency or None)
        if found.governing_body is None:
            found = found.model_copy(update={"governing_body": agency})
        if found.place is None and self.place is not None:
            found = found.model_copy(update={"place": self.place})
        return found
