"""One workbook row as a CSV line, so a quarantined row shows its original values (the bounded
workbook reader itself is the core's: `isobridge.core.sheet_rows`)."""

from __future__ import annotations

import csv
import io

from isobridge.core import XlsxError, sheet_rows

__all__ = ["XlsxError", "row_line", "sheet_rows"]


def row_line(cells: list[str], delimiter: str) -> str:
    """One row as a CSV line (no line break) with the mapping's delimiter."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()
