"""Inline SVG charts a person reads at a glance: on-time rate per month, lateness by step/unit."""

from __future__ import annotations

from .html import esc, percent

_FONT = 'font-family="Times New Roman, serif"'


def _svg(width: int, height: int, label: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>'
        + "".join(parts) + "</svg>"
    )


def axis_floor(values: list[float]) -> float:
    """Lowest value of the rate axis: 0, or a multiple of 5 % below the data so small gaps show."""
    if not values:
        return 0.0
    low = min(values) - 0.02
    return 0.0 if low < 0.5 else int(low * 20) / 20


def monthly_rate(points: list[tuple[str, float | None, int]], target: float | None, label: str) -> str:
    """Vertical bars of the on-time rate per month: (month label, rate, finished dossiers)."""
    width, height, left, top, bottom = 720, 260, 44, 22, 44
    plot_w, plot_h = width - left - 10, height - top - bottom
    low = axis_floor([rate for _, rate, _ in points if rate is not None] + ([target] if target is not None else []))
    scale = lambda value: plot_h * (value - low) / (1 - low)  # noqa: E731
    parts = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    for step in range(5):
        tick = low + (1 - low) * step / 4
        y = top + plot_h - scale(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ccc" stroke-width="1"/>')
        shown = f"{tick * 100:.4g}%".replace(".", ",")  # Vietnamese decimal comma, label only
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" {_FONT}>{shown}</text>')
    slot = plot_w / max(len(points), 1)
    labelled = len(points) <= 12
    for index, (month, rate, finished) in enumerate(points):
        x = left + index * slot
        value = max(rate or 0.0, low)
        bar_h = scale(value)
        colour = "#2e7d32" if target is None or (rate is not None and rate >= target) else "#c62828"
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bar_h:.1f}" fill="{colour}"><title>{esc(month)}: {esc(percent(rate))} '
            f'({finished} hồ sơ)</title></rect>'
        )
        if labelled:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_h - bar_h - 3:.1f}" font-size="10" '
                         f'text-anchor="middle" {_FONT}>{esc(percent(rate))}</text>')
        if len(points) <= 18 or index % -(-len(points) // 12) == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16}" font-size="11" '
                         f'text-anchor="middle" {_FONT}>{esc(month)}</text>')
    if target is not None:
        y = top + plot_h - scale(target)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#1565c0" '
                     f'stroke-width="2" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{width - 12}" y="14" font-size="11" text-anchor="end" fill="#1565c0" '
                     f'{_FONT}>- - - Mục tiêu {esc(percent(target))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
                 f'{_FONT}>Tháng hoàn thành giải quyết{" (trục dọc bắt đầu từ " + percent(low) + ")" if low else ""}</text>')
    return _svg(width, height, label, parts)


def lateness_bars(rows: list[tuple[str, int, int]], label: str) -> str:
    """Horizontal bars of late share per step or unit: (name, late rows, all rows)."""
    width, left, bar_height, gap = 720, 300, 18, 8
    height = 20 + len(rows) * (bar_height + gap) + 10
    plot_w = width - left - 110
    parts = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    for index, (name, late, total) in enumerate(rows):
        y = 14 + index * (bar_height + gap)
        rate = late / total if total else 0.0
        shown = name if len(name) <= 46 else name[:45] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 13}" font-size="12" text-anchor="end" {_FONT}>{esc(shown)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{bar_height}" fill="#eee"/>')
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w * rate:.1f}" height="{bar_height}" fill="#c62828">'
                     f'<title>{esc(name)}: {late}/{total}</title></rect>')
        parts.append(f'<text x="{left + plot_w + 6}" y="{y + 13}" font-size="12" {_FONT}>'
                     f'{esc(percent(rate))} ({late}/{total})</text>')
    return _svg(width, height, label, parts)
