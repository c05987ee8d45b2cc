"""Small HTML building blocks: escaping, tables, the printable A4 page shell (no JS, no assets)."""

from __future__ import annotations

from html import escape
from collections.abc import Iterable

BASE_CSS = """
@page { size: A4; margin: 15mm 15mm 15mm 20mm; }
html { font-family: "Times New Roman", "Liberation Serif", "DejaVu Serif", serif; font-size: 13pt; color: #000; }
body { margin: 0 auto; max-width: 190mm; padding: 8mm 0; line-height: 1.35; }
h1 { font-size: 15pt; text-align: center; margin: 6mm 0 2mm; text-transform: uppercase; }
h2 { font-size: 13.5pt; margin: 6mm 0 2mm; page-break-after: avoid; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 4mm; font-size: 11pt; }
th, td { border: 1px solid #000; padding: 1.2mm 1.5mm; vertical-align: top; }
th { background: #eee; font-weight: bold; text-align: center; }
tr { page-break-inside: avoid; break-inside: avoid; }
thead { display: table-header-group; }
td.n { text-align: right; white-space: nowrap; }
table.wide { font-size: 9.5pt; table-layout: fixed; }
table.wide td:first-child { width: 22%; }
.note { font-size: 10.5pt; font-style: italic; }
.ok { color: #0a5c1a; font-weight: bold; }
.bad { color: #a10000; font-weight: bold; }
svg { display: block; max-width: 100%; height: auto; page-break-inside: avoid; break-inside: avoid; }
@media print { body { padding: 0; max-width: none; } th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def esc(value: object) -> str:
    """HTML-escaped text of a value ('' for None)."""
    return "" if value is None else escape(str(value), quote=True)


def page(title: str, body: Iterable[str], css: str = "") -> str:
    """A complete HTML document in Vietnamese with inline CSS."""
    return (
        '<!DOCTYPE html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def table(headers: list[str] | str, rows: Iterable[list[str]], numeric: set[int] = frozenset(),
          raw: bool = False, css_class: str = "") -> str:
    """A table; cells are escaped unless `raw` (then they must already be HTML).

    `headers` is a list of column titles, or ready-made `<tr>` rows of the head.
    """
    if isinstance(headers, str):
        head = headers
    else:
        head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"
    klass = f' class="{css_class}"' if css_class else ""
    lines = [f"<table{klass}><thead>{head}</thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td{" class=n" if i in numeric else ""}>{cell if raw else esc(cell)}</td>' for i, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def percent(value: float | None) -> str:
    """'98,5 %' in Vietnamese notation ('—' for None)."""
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def number(value: int) -> str:
    """'1.234.567' (Vietnamese thousands separator)."""
    return f"{value:,}".replace(",", ".")
