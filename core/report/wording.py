"""Nonconformity details in Vietnamese, from the nonconformity's kind and fields and its evidence.

The engine's `detail` is English machine text ("appointment 2025-10-24T17:00:00+07:00 differs from
computed due …"); documents say the same in Vietnamese with Vietnamese dates and times. Only the
instants, counts and step codes are read from it, where the evidence has no field for them.
"""

from __future__ import annotations

import re

from .timefmt import vn_datetime

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
QUOTED = re.compile(r"'([^']*)'")
COUNT = re.compile(r"^\s*(\d+)")


def _step(names, evidence: dict, code: str | None) -> str:
    if not code:
        return ""
    name = names.step(evidence["procedure"], code, evidence["received_at"]) if names is not None else code
    return name if name == code else f"{name} ({code})"


def _late_step(nc: dict, evidence: dict, names) -> str:
    rows = [r for r in evidence.get("steps") or [] if r.get("step") == nc.get("step")
            and r.get("verdict") in ("late", "open_overdue")]
    found = INSTANT.search(nc.get("detail") or "")
    due = found.group(0) if found else (rows[0].get("due_at") if rows else None)
    row = next((r for r in rows if r.get("due_at") == due), rows[0] if rows else {})
    state = "vẫn đang xử lý" if row.get("verdict") == "open_overdue" else "hoàn thành"
    return f"Bước {_step(names, evidence, nc.get('step'))} {state} sau thời hạn {vn_datetime(due) or 'không rõ'}"


def _late_dossier(nc: dict, evidence: dict, names) -> str:
    found = INSTANT.search(nc.get("detail") or "")
    due = found.group(0) if found else evidence.get("due_at")
    state = "đang giải quyết quá hạn" if evidence.get("verdict") == "open_overdue" else "giải quyết quá hạn"
    return f"Hồ sơ {state} so với hạn trả kết quả {vn_datetime(due) or 'không rõ'}"


def _mismatch(nc: dict, evidence: dict, names) -> str:
    instants = INSTANT.findall(nc.get("detail") or "")
    appointment = instants[0] if instants else evidence.get("due_at")
    computed = instants[1] if len(instants) > 1 else evidence.get("computed_due_at")
    return (f"Ngày hẹn trả kết quả {vn_datetime(appointment)} khác thời hạn tính theo quy định "
            f"{vn_datetime(computed)}")


def _reschedules(nc: dict, evidence: dict, names) -> str:
    found = COUNT.match(nc.get("detail") or "")
    count = found.group(1) if found else "Nhiều"
    return f"{count} lần xin lỗi, hẹn lại ngày trả kết quả; chỉ được hẹn lại một lần"


def _out_of_order(nc: dict, evidence: dict, names) -> str:
    found = QUOTED.search(nc.get("detail") or "")
    after = f" sau bước {_step(names, evidence, found.group(1))}" if found else ""
    return f"Bước {_step(names, evidence, nc.get('step'))} được thực hiện{after} khi chưa có bước trả lại hồ sơ"


DETAILS = {
    "late_step": _late_step,
    "late_dossier": _late_dossier,
    "due_date_mismatch": _mismatch,
    "reschedule_limit_exceeded": _reschedules,
    "out_of_order": _out_of_order,
    "late_without_timely_apology": lambda nc, evidence, names: (
        "Hồ sơ quá hạn không có văn bản xin lỗi ban hành trước hạn trả kết quả ít nhất 01 ngày làm việc"),
    "missing_step": lambda nc, evidence, names: (
        f"Bước {_step(names, evidence, nc.get('step'))} của quy trình không được thực hiện"),
    "unknown_step": lambda nc, evidence, names: (
        f"Bước {nc.get('step') or ''} không có trong quy trình của thủ tục {evidence['procedure']}"),
}


def nonconformity_detail(nc: dict, evidence: dict, names=None) -> str:
    """The Vietnamese description of one nonconformity of `evidence` (names: a ProcedureNames or None)."""
    describe = DETAILS.get(nc.get("kind", ""))
    if describe is None:
        return f"Điểm không phù hợp loại {nc.get('kind', '')}"
    return describe(nc, evidence, names)
