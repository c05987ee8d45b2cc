"""Evidence and step rows for spreadsheets: columns, cell values and formula neutralising."""

from __future__ import annotations

import csv
import io

from isobridge.core import csv_cell as cell

__all__ = ["EVIDENCE_COLUMNS", "STEP_COLUMNS", "cell", "evidence_row", "header", "step_rows", "to_csv"]

EVIDENCE_COLUMNS = (
    "key", "dossier", "revision", "procedure", "agency", "channel", "received_at", "status", "verdict",
    "due_at", "computed_due_at", "finished_at", "paused_minutes", "steps", "late_steps",
    "nonconformities", "nonconformity_kinds", "calendar",
)
STEP_COLUMNS = (
    "key", "dossier", "revision", "row", "step", "from_unit", "unit", "started_at", "finished_at",
    "due_at", "allowed_minutes", "used_minutes", "verdict",
)


def evidence_row(key: str, revision: int, evidence: dict) -> list:
    """The evidence row of one revision; raises KeyError/TypeError on a malformed record."""
    steps = evidence["steps"]
    kinds = sorted({nc["kind"] for nc in evidence["nonconformities"]})
    calendar = evidence.get("calendar") or {}
    late = sum(1 for row in steps if row.get("verdict") in ("late", "open_overdue"))
    values = (
        key, evidence["dossier"], revision, evidence["procedure"], evidence.get("agency"),
        evidence.get("channel"), evidence["received_at"], evidence.get("status"), evidence["verdict"],
        evidence.get("due_at"), evidence.get("computed_due_at"), evidence.get("finished_at"),
        evidence.get("paused_minutes", 0), len(steps), late, len(evidence["nonconformities"]),
        ";".join(kinds), f"{calendar.get('name', '')}@{calendar.get('version', '')}" if calendar else "",
    )
    return [cell(value) for value in values]


def step_rows(key: str, revision: int, evidence: dict) -> list[list]:
    """One row per step row of the evidence."""
    dossier = evidence["dossier"]
    return [
        [cell(value) for value in (
            key, dossier, revision, number, row["step"], row.get("from_unit"), row.get("unit"),
            row["started_at"], row.get("finished_at"), row.get("due_at"), row.get("allowed_minutes"),
            row.get("used_minutes"), row.get("verdict"),
        )]
        for number, row in enumerate(evidence["steps"], 1)
    ]


def to_csv(rows: list[list], delimiter: str) -> bytes:
    """Rows as UTF-8 CSV text (CRLF line ends, as spreadsheets expect)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def header(columns: tuple[str, ...], delimiter: str) -> bytes:
    """The byte-order mark (so Excel reads UTF-8 Vietnamese correctly) and the header row."""
    return b"\xef\xbb\xbf" + to_csv([list(columns)], delimiter)
