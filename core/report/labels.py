"""Vietnamese wording of verdicts, channels, nonconformities and indicators."""

from __future__ import annotations

DOSSIER_VERDICT = {
    "early": "Trước hạn",
    "on_time": "Đúng hạn",
    "late": "Quá hạn",
    "open_on_time": "Đang giải quyết trong hạn",
    "open_overdue": "Đang giải quyết quá hạn",
    "paused": "Tạm dừng",
    "refused": "Từ chối tiếp nhận",
    "withdrawn": "Rút hồ sơ",
    "stopped": "Dừng giải quyết",
}
STEP_VERDICT = {
    "early": "Trước hạn",
    "on_time": "Đúng hạn",
    "late": "Quá hạn",
    "open": "Đang xử lý (trong hạn)",
    "open_overdue": "Đang xử lý (quá hạn)",
    None: "Không xác định (bước ngoài quy trình)",
}
CHANNEL = {"direct": "Trực tiếp", "online": "Trực tuyến", "post": "Bưu chính công ích"}
NONCONFORMITY = {
    "late_step": "Bước xử lý quá hạn",
    "late_dossier": "Hồ sơ quá hạn",
    "late_without_timely_apology": "Quá hạn không có văn bản xin lỗi kịp thời",
    "reschedule_limit_exceeded": "Hẹn lại quá một lần",
    "missing_step": "Thiếu bước theo quy trình",
    "out_of_order": "Thực hiện sai trình tự",
    "due_date_mismatch": "Ngày hẹn trả khác thời hạn quy định",
    "unknown_step": "Bước không có trong quy trình",
}


def channel(code: str) -> str:
    """Vietnamese name of a reception channel (the code itself when unknown)."""
    return CHANNEL.get(code, code)


def nonconformity(kind: str) -> str:
    """Vietnamese name of a nonconformity kind (the code itself when unknown)."""
    return NONCONFORMITY.get(kind, kind)
