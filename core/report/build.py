"""The report as a whole: aggregate evidence, write the full ledger and nonconformity CSVs, render HTML."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .cells import safe_row
from .aggregate import Aggregator, Period, ReportData
from .names import ProcedureNames
from .objectives import Objectives
from .quality import render_report

LEDGER_COLUMNS = ("dossier", "procedure", "agency", "channel", "received_at", "due_at", "finished_at",
                  "outcome", "nonconformities")
NONCONFORMITY_COLUMNS = ("dossier", "procedure", "agency", "kind", "step", "detail")


@dataclass
class ReportFiles:
    """Where a report was written."""

    html: Path
    ledger_csv: Path
    nonconformities_csv: Path


def _csv_writer(stack: ExitStack, path: Path, columns: tuple[str, ...]):
    handle = stack.enter_context(open(path, "w", encoding="utf-8-sig", newline=""))
    writer = csv.DictWriter(handle, columns, lineterminator="\r\n")
    writer.writeheader()
    return lambda row: writer.writerow(safe_row(row))


def write_report(evidence: Iterable[tuple[str, dict]] | Iterable[dict], out: str | Path,
                 period: Period | None = None, agency: str | None = None,
                 objectives: Objectives | None = None, names: ProcedureNames | None = None,
                 limit: int = 200) -> tuple[ReportData, ReportFiles]:
    """Stream evidence into `out` (HTML) plus the full ledger and nonconformity CSVs beside it.

    `evidence` yields evidence dicts, or (where, dict) pairs whose `where` names the record in
    rejections. Memory stays bounded whatever the number of dossiers.
    """
    html = Path(out)
    html.parent.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(html, html.with_suffix(".so-theo-doi.csv"), html.with_suffix(".khong-phu-hop.csv"))
    with ExitStack() as stack:
        aggregator = Aggregator(
            period or Period(), agency, limit,
            ledger_out=_csv_writer(stack, files.ledger_csv, LEDGER_COLUMNS),
            nonconformity_out=_csv_writer(stack, files.nonconformities_csv, NONCONFORMITY_COLUMNS),
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
