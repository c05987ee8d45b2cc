"""A fake VNPT iGate 2.x dossier search (`/pa/dossier/search`), shaped as public traces show.

Spring paging (`content[]`, `last`, `totalElements`, `number`, `size`), Bearer tokens (401 when
missing or expired), ISO 8601 dates with +07:00, an optional login endpoint issuing tokens.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timedelta, timezone

from werkzeug import Response

VN = timezone(timedelta(hours=7))


def make_igate_dossiers(count: int, start: datetime | None = None) -> list[dict]:
    """`count` dossiers in iGate's JSON shape."""
    start = start or datetime(2025, 7, 1, 8, tzinfo=VN)
    rows = []
    for index in range(count):
        accepted = start + timedelta(hours=5 * index)
        rows.append({
            "id": f"66a{index:05d}", "code": f"H40.22-250701-{index:04d}", "nationCode": f"G22.99-{index:06d}",
            "procedure": {"id": "p1", "code": "1.001612", "translate": [{"name": "Đăng ký hộ kinh doanh"}]},
            "agency": {"id": "a1", "code": "000.00.12.H40"},
            "applicant": {"data": {"fullname": f"Lê Thị {index}", "identityNumber": f"0380950{index:05d}",
                                   "phoneNumber": "0987654321"}},
            "acceptedDate": accepted.isoformat(timespec="milliseconds"),
            "appointmentDate": (accepted + timedelta(days=3)).isoformat(timespec="milliseconds"),
            "updatedDate": (accepted + timedelta(hours=1)).isoformat(timespec="milliseconds"),
            "dossierStatus": {"id": 3 if index % 4 else 9, "name": [{"languageId": 228, "name": "Đang xử lý"}]},
            "applyMethod": {"id": index % 2},
            "task": [
                {"activitiDefinitionKey": "tiep_nhan", "assignedDate": accepted.isoformat(), "agency": {"code": "MC"}},
                {"activitiDefinitionKey": "tham_dinh", "assignedDate": (accepted + timedelta(hours=2)).isoformat(),
                 "agency": {"code": "PKT"}},
            ],
        })
    return rows


class FakeIGate:
    """Request handler for pytest-httpserver."""

    def __init__(self, dossiers: list[dict], token: str = "igate-T0KEN-abc"):
        self.dossiers, self.tokens = dossiers, {token}
        self.counter = itertools.count(1)
        self.logins = 0
        self.seen_params: list[dict] = []

    def install(self, httpserver) -> str:
        """Serve search (and login) on `httpserver`; returns the base URL."""
        httpserver.expect_request("/pa/dossier/search").respond_with_handler(self.search)
        httpserver.expect_request("/auth/token", method="POST").respond_with_handler(self.login)
        return httpserver.url_for("/")

    def expire_tokens(self) -> None:
        """Every issued token stops working (the next call answers 401)."""
        self.tokens.clear()

    def login(self, request) -> Response:
        if request.form.get("username") != "officer" or request.form.get("password") != "igate-Pa55":
            return Response(json.dumps({"error": "invalid_grant"}), 400, content_type="application/json")
        self.logins += 1
        token = f"issued-{next(self.counter)}-tok"
        self.tokens.add(token)
        return Response(json.dumps({"access_token": token, "expires_in": 300}), content_type="application/json")

    def search(self, request) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return Response(json.dumps({"error": "invalid_token"}), 401, content_type="application/json")
        self.seen_params.append(dict(request.args))
        rows = sorted(self.dossiers, key=lambda d: d["updatedDate"])
        since = request.args.get("updated-date-from")
        if since:
            rows = [d for d in rows if datetime.fromisoformat(d["updatedDate"]) >= datetime.fromisoformat(since)]
        if "offset" in request.args:
            offset, size = int(request.args["offset"]), int(request.args["limit"])
        else:
            size = int(request.args.get("size", 20))
            offset = int(request.args.get("page", 0)) * size
        content = rows[offset:offset + size]
        body = {"content": content, "number": offset // size, "size": size, "totalElements": len(rows),
                "last": offset + size >= len(rows), "numberOfElements": len(content)}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


TOKEN_RE = re.compile(r"issued-\d+-tok")
