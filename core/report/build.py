"""The report as a whole: aggregate evidence, write the full ledger and nonconformity CSVs, render HTML."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from . import labels
from .agencies import CountingRules
from .cells import safe_row
from .aggregate import Aggregator, Period, ReportData
from .names import ProcedureNames
from .objectives import Objectives
from .quality import render_report
from .timefmt import vn_short

LEDGER_COLUMNS = {"dossier": "Mã hồ sơ", "procedure": "Mã thủ tục", "procedure_name": "Tên thủ tục",
                  "agency": "Cơ quan chủ trì giải quyết", "channel": "Kênh tiếp nhận", "received_at": "Nhận hồ sơ",
                  "due_at": "Hẹn trả kết quả", "finished_at": "Trả kết quả", "outcome": "Kết quả",
                  "nonconformities": "Số điểm không phù hợp"}
"""Field of a ledger row → its Vietnamese column title in the CSV list."""
NONCONFORMITY_COLUMNS = {"dossier": "Mã hồ sơ", "procedure": "Mã thủ tục", "agency": "Cơ quan",
                         "kind": "Loại điểm không phù hợp", "step": "Bước", "detail": "Mô tả"}
"""Field of a nonconformity row → its Vietnamese column title in the CSV list."""


@dataclass
class ReportFiles:
    """Where a report was written."""

    html: Path
    ledger_csv: Path
    nonconformities_csv: Path


def _csv_writer(stack: ExitStack, path: Path, columns: dict[str, str], row: Callable[[dict], dict]):
    handle = stack.enter_context(open(path, "w", encoding="utf-8-sig", newline=""))
    writer = csv.DictWriter(handle, list(columns.values()), lineterminator="\r\n")
    writer.writeheader()
    return lambda entry: writer.writerow(safe_row(row(entry)))


def ledger_row(names: ProcedureNames) -> Callable[[dict], dict]:
    """A ledger entry as a CSV row in Vietnamese words and date forms."""
    def row(entry: dict) -> dict:
        return {
            "Mã hồ sơ": entry["dossier"], "Mã thủ tục": entry["procedure"],
            "Tên thủ tục": names.procedure(entry["procedure"], entry["received_at"]),
            "Cơ quan chủ trì giải quyết": entry["agency"], "Kênh tiếp nhận": labels.channel(entry["channel"]),
            "Nhận hồ sơ": vn_short(entry["received_at"]), "Hẹn trả kết quả": vn_short(entry["due_at"]),
            "Trả kết quả": vn_short(entry["finished_at"]),
            "Kết quả": labels.DOSSIER_VERDICT.get(entry["outcome"], entry["outcome"]),
            "Số điểm không phù hợp": entry["nonconformities"],
        }
    return row


def nonconformity_row(names: ProcedureNames) -> Callable[[dict], dict]:
    """A nonconformity entry as a CSV row in Vietnamese."""
    def row(entry: dict) -> dict:
        step = entry["step"]
        return {"Mã hồ sơ": entry["dossier"], "Mã thủ tục": entry["procedure"], "Cơ quan": entry["agency"],
                "Loại điểm không phù hợp": labels.nonconformity(entry["kind"]),
                "Bước": names.step(entry["procedure"], step) if step else "", "Mô tả": entry["detail"]}
    return row


def write_report(evidence: Iterable[tuple[str, dict]] | Iterable[dict], out: str | Path,
                 period: Period | None = None, agency: str | None = None,
                 objectives: Objectives | None = None, names: ProcedureNames | None = None,
                 limit: int = 200, rules: CountingRules | None = None) -> tuple[ReportData, ReportFiles]:
    """Stream evidence into `out` (HTML) plus the full ledger and nonconformity CSVs beside it.

    `evidence` yields evidence dicts, or (where, dict) pairs whose `where` names the record in
    rejections. Memory stays bounded whatever the number of dossiers.
    """
    html = Path(out)
    html.parent.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(html, html.with_suffix(".so-theo-doi.csv"), html.with_suffix(".khong-phu-hop.csv"))
    with ExitStack() as stack:
        names = names or ProcedureNames()
        aggregator = Aggregator(
            period or Period(), agency, limit,
            ledger_out=_csv_writer(stack, files.ledger_csv, LEDGER_COLUMNS, ledger_row(names)),
            nonconformity_out=_csv_writer(stack, files.nonconformities_csv, NONCONFORMITY_COLUMNS,
                                          nonconformity_row(names)),
            rules=rules, names=names,
        )
        for item in evidence:
            if isinstance(item, tuple):
                aggregator.add(item[1], item[0])
            else:
                aggregator.add(item)
    data = aggregator.data
    text = render_report(data, objectives, names, files.ledger_csv.name, files.nonconformities_csv.name)
    html.write_text(text, encoding="utf-8")
    return data, files
