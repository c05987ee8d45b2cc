"""A fake VNPT iGate 2.x dossier search (`/pa/dossier/search`), shaped as public clients read it.

Built from public client code of deployed iGate systems, found in the public code index (which
names no repository or commit for these files; cited by index id, host and the file's own path):
- index id 24149379858 (a Telegram bot against apidvc.cantho.gov.vn): `content[]`, `code`,
  `appointmentDate` sent as `…T08:00:00.000+0700`, `accepter.fullname`,
  `applicant.data.noidungyeucaugiaiquyet`, `procedure.id`, `currentTask[0].id`;
- index id 40947834833 (`src/components/DossierTable.tsx`, a dashboard of motcua.moh.gov.vn and
  motcuabxd.moc.gov.vn): `currentTask[0].dueDate` (the step deadline), `appointmentDate`,
  `applicant.data.ownerFullname` / `applicant.data.fullname` / `applicant.fullname`,
  `procedure.code` / `procedure.translate.name`, `dossierStatus.name`, `dossierTaskStatus.name`;
- index id 47616232829 (apiigate.tuyenquang.gov.vn client): `applicant.data.fullname`,
  `appliedDate`, `completedDate`, Keycloak password grant, `spec=page`, `sort=updatedDate,desc`;
- index ids 5767722257 / 35169937524 (dvcapi.daklak / apiigate.gialai): `nationCode`, `eForm.data`.
Fields marked unconfirmed in mappings/igate.toml (acceptedDate, updatedDate, dossierStatus.id,
agency.code, applyMethod.id, returnedDate, currentTask[].assignedDate/activitiDefinitionKey/agency/
assignee)
are our guesses, kept only so the profile has something to read; the local procedure form
`1.001612.000.00.00.H48` is reported from a deployment (issue 13).

Spring paging (`content[]`, `last`, `totalElements`, `number`, `size`), Bearer tokens (401 when
missing or expired), an optional login endpoint issuing tokens. `currentTask[]` holds only the
tasks open now (a finished dossier has none).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timedelta, timezone

from werkzeug import Response

VN = timezone(timedelta(hours=7))


def stamp(moment: datetime) -> str:
    """A date as iGate sends it: milliseconds and a `+0700` offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def make_igate_dossiers(count: int, start: datetime | None = None) -> list[dict]:
    """`count` dossiers in iGate's JSON shape; odd ones carry the local procedure code form."""
    start = start or datetime(2025, 7, 1, 8, tzinfo=VN)
    rows = []
    for index in range(count):
        accepted = start + timedelta(hours=5 * index)
        finished = index % 4 == 0
        rows.append({
            "id": f"66a{index:05d}", "code": f"H40.22-250701-{index:04d}", "nationCode": f"G22.99-{index:06d}",
            "procedure": {"id": "p1", "code": "1.001612.000.00.00.H48" if index % 2 else "1.001612",
                          "name": "Đăng ký hộ kinh doanh", "translate": {"name": "Đăng ký hộ kinh doanh"}},
            "agency": {"id": "a1", "code": "000.00.12.H40"},
            "applicant": {"fullname": f"Lê Thị {index}",
                          "data": {"fullname": f"Lê Thị {index}", "ownerFullname": f"Lê Thị {index}",
                                   "identityNumber": f"0380950{index:05d}", "phoneNumber": "0987654321",
                                   "noidungyeucaugiaiquyet": "Đăng ký hộ kinh doanh cho bà Lê Thị"}},
            "accepter": {"fullname": "Trần Văn Tiếp Nhận"},
            "eForm": {"data": {"loaiHTTP": "1", "diaChi": "12 Lê Lợi"}},
            "appliedDate": stamp(accepted - timedelta(minutes=20)),
            "acceptedDate": stamp(accepted),
            "appointmentDate": stamp(accepted + timedelta(days=3)),
            "updatedDate": stamp(accepted + timedelta(hours=1)),
            "dossierStatus": {"id": 9 if finished else 3, "name": "Đã trả kết quả" if finished else "Đang xử lý"},
            "dossierTaskStatus": {"name": "Đang xử lý"},
            **({"completedDate": stamp(accepted + timedelta(days=1, hours=2)),
                "returnedDate": stamp(accepted + timedelta(days=1, hours=4))} if finished else {}),
            "applyMethod": {"id": index % 2},
            "currentTask": [] if finished else [{
                "id": f"t{index:05d}", "activitiDefinitionKey": "tham_dinh",
                "assignedDate": stamp(accepted + timedelta(hours=2)),
                "dueDate": stamp(accepted + timedelta(days=2)),
                "agency": {"code": "PKT"},
                "assignee": {"id": "u7", "fullname": "Nguyễn Văn Thẩm Định"},
            }],
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
