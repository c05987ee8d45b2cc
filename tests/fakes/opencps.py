"""A fake OpenCPS v2 server: real paths, field names, date formats, paging and error behaviour.

Shapes follow VietOpenCPS/opencps-v2, branch release-candidate-3.0, commit
242803f4bccd763bd15a86f5d58389caa02bdf5b (read, not copied):
- `/dossiers/{id}/sequences`: modules/backend-api-rest/src/main/java/org/opencps/api/controller/impl/
  DossierManagementImpl.java (getDossierProcessSequencesJSON): each phase lists the actions done
  *from* it (fromSequenceNo), so the first action (empty from-step) is never listed; the field
  names and order of the action objects are those of that method; `startDate` is the createDate of
  the last action into the phase, `statusText` marks the current phase, `assignUsers` names users.
- the action chain: modules/backend-dossiermgt/backend-dossiermgt-service/src/main/java/org/opencps/
  dossiermgt/service/impl/CPSDossierBusinessLocalServiceImpl.java (createActionAndAssignUser: the new
  action has state 0 and the previous one gets state 1, nextActionId and modifiedDate; rollback,
  action code 9000: NO new action, the current one gets state 2 and the previous one state 0 with
  nextActionId 0, DossierActionLocalServiceImpl.updateState stamping modifiedDate);
  state values from backend-dossiermgt-api/.../constants/DossierActionTerm.java.
- `/dossiers/{id}`: modules/backend-api-rest/src/main/java/org/opencps/api/controller/util/
  DossierUtils.java (mappingForGetDetail) field names; stepCode/stepName are the current action's.
The process (step codes, names, statuses, durations) is our own example: no public process
definition was found; 400 "Hoàn thành" is DossierActionTerm.DONE_STEP.

`FakeOpenCPS.handle` is plain logic (method, path, query, headers → status, headers, body), served
either by pytest-httpserver (`install`) or by a threaded `http.server` (`serve`, for the bench).
Faults are injected with `fail(path_prefix, times, status, body, headers, delay)`.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import orjson

VN = timezone(timedelta(hours=7))
NOT_AUTHENTICATED = {"message": "Non-Authoritative Information.", "code": 203,
                     "description": "Non-Authoritative Information."}
PROCESS = {"serviceProcessId": 3301, "processNo": "QT_GPXD_15N", "processName": "Cấp giấy phép xây dựng",
           "durationCount": 15.0, "durationUnit": 0, "createDate": "20240101080000", "modifiedDate": "20240101080000"}
SEQUENCES = [("01", "Tiếp nhận", "Bộ phận một cửa", 0.5), ("02", "Thẩm định", "Phòng QLĐT", 10.0),
             ("03", "Phê duyệt", "Lãnh đạo UBND", 3.0), ("04", "Trả kết quả", "Bộ phận một cửa", 0.5)]
STEPS = {  # stepCode: (name, sequenceNo, status, substatus, durationCount)
    "110": ("Tiếp nhận hồ sơ", "01", "new", "new_0", "0.5"),
    "200": ("Thẩm định hồ sơ", "02", "processing", "processing_1", "10.0"),
    "210": ("Yêu cầu bổ sung", "02", "waiting", "waiting_4", "0.0"),
    "250": ("Chờ thanh toán", "02", "paying", "paying_1", "0.0"),
    "300": ("Phê duyệt", "03", "processing", "processing_2", "3.0"),
    "310": ("Trả kết quả", "04", "releasing", "releasing_0", "0.5"),
    "400": ("Hoàn thành", "04", "done", "", "0.0"),
    "500": ("Từ chối", "01", "denied", "", "0.0"),
}
ROLLBACK = "9000"
"""In PATHS: roll the current action back (OpenCPS stores no action for it)."""
PATHS = [  # action code, target step, hours after the previous move; the first action has no from-step
    [("1000", "110", 0), ("1100", "200", 1), ("2000", "300", 30), ("3000", "310", 20), ("4000", "400", 5)],
    [("1100", "200", 0), ("2100", "210", 8), ("2200", "200", 48), ("2000", "300", 20), ("3000", "310", 9)],
    [("1000", "110", 0), ("1100", "200", 1), ("8282", "250", 6), ("8283", "300", 26), ("3000", "310", 4),
     ("4000", "400", 2)],
    [("1000", "110", 0), ("1100", "200", 3), (ROLLBACK, "", 0.5), ("1100", "200", 4), ("2000", "300", 2)],
    [("1000", "110", 0), ("5000", "500", 2)],
]
ACTION_NAMES = {"1000": "Tiếp nhận hồ sơ", "1100": "Chuyển thẩm định", "2000": "Trình phê duyệt",
                "2100": "Yêu cầu bổ sung", "2200": "Nhận bổ sung", "3000": "Phê duyệt, chuyển trả kết quả",
                "4000": "Trả kết quả", "5000": "Từ chối tiếp nhận", "8282": "Yêu cầu thanh toán",
                "8283": "Xác nhận thanh toán"}


def ddmmyyyy(moment: datetime | None) -> str:
    """OpenCPS payload date: dd/MM/yyyy HH:mm:ss Vietnam time, "" for none."""
    return moment.astimezone(VN).strftime("%d/%m/%Y %H:%M:%S") if moment else ""


def ms(moment: datetime | None) -> int:
    """Epoch milliseconds, 0 for none."""
    return int(moment.timestamp() * 1000) if moment else 0


@dataclass
class FakeDossier:
    """One dossier with its DossierAction rows (rolled-back ones included, as OpenCPS keeps them)."""

    id: int
    no: str
    service: str
    received: datetime
    due: datetime
    applicant: str
    id_no: str
    actions: list[dict] = field(default_factory=list)
    online: bool = False
    phone: str = "0912345678"
    address: str = "Số 1 đường A"
    email: str = ""
    officer: str = "Trần Thị B"
    receive_text: str | None = None
    """Overrides the receiveDate text (a malformed date for quarantine tests)."""
    current: dict | None = None
    """The dossier's current action (Dossier.dossierActionId)."""

    @property
    def step(self) -> str:
        return self.current["stepCode"] if self.current else "110"

    @property
    def status(self) -> tuple[str, str]:
        return STEPS[self.step][2], STEPS[self.step][3]

    @property
    def released(self) -> datetime | None:
        for action in self.actions:
            if action["state"] != 2 and STEPS[action["stepCode"]][2] in ("releasing", "done", "denied"):
                return action["at"]
        return None

    def act(self, code: str, step: str, at: datetime) -> None:
        """Perform an action moving the dossier into `step` at `at` (a new DossierAction row)."""
        previous = self.current
        action = {"id": self.id * 100 + len(self.actions) + 1, "actionCode": code, "stepCode": step, "at": at,
                  "modified": at, "fromStepCode": previous["stepCode"] if previous else "",
                  "previous": previous["id"] if previous else 0, "next": 0, "state": 0}
        if previous:
            previous.update(next=action["id"], state=1, modified=at)
        self.actions.append(action)
        self.current = action

    def rollback(self, at: datetime) -> None:
        """Action 9000: the current action gets state 2, the previous one is reinstated."""
        undone = self.current
        undone.update(state=2, modified=at)
        previous = next(a for a in self.actions if a["id"] == undone["previous"])
        previous.update(state=0, next=0, modified=at)
        self.current = previous


def make_dossiers(count: int, first_day: date, seed: int = 7) -> list[FakeDossier]:
    """`count` dossiers received from `first_day` on, following varied realistic paths."""
    rng = random.Random(seed)
    dossiers = []
    for index in range(count):
        received = datetime(first_day.year, first_day.month, first_day.day, 8, tzinfo=VN) + timedelta(
            minutes=37 * index)
        dossier = FakeDossier(40000 + index, f"000.00.12.H40-{received:%y%m%d}-{index:04d}", "1.004227",
                              received, received + timedelta(days=21), f"NGUYỄN VĂN {index}",
                              f"0010870{index:05d}", online=index % 3 == 0)
        path = PATHS[index % len(PATHS)]
        length = len(path) if (index // len(PATHS)) % 2 == 0 else rng.randint(1, len(path))
        follow(dossier, path[:length])
        dossiers.append(dossier)
    return dossiers


def follow(dossier: FakeDossier, path: list[tuple[str, str, float]]) -> None:
    """Perform `path` (action code, target step, hours after the previous move) from `received`."""
    at = dossier.received
    for code, step, hours in path:
        at += timedelta(hours=hours)
        if code == ROLLBACK:
            dossier.rollback(at)
        else:
            dossier.act(code, step, at)


@dataclass
class Fault:
    """An injected failure for requests whose path starts with `prefix`."""

    prefix: str
    times: int
    status: int = 500
    body: bytes = b'{"message":"No Content.","code":500,"description":"boom"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenCPS:
    """The server state and request logic."""

    def __init__(self, dossiers: list[FakeDossier], username: str = "officer@example.gov.vn",
                 password: str = "pw-FAKE-0001", group_id: int = 35417, base: str = "/o/rest/v2"):
        self.dossiers = {d.id: d for d in dossiers}
        self.username, self.password, self.group_id, self.base = username, password, group_id, base
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.on_list: Callable[[int], None] | None = None
        """Called with the `start` of each list request (to change data while it is paged)."""
        self.lock = threading.Lock()

    def fail(self, prefix: str, times: int = 1, **kwargs: Any) -> None:
        """Make the next `times` requests under `prefix` fail."""
        self.faults.append(Fault(prefix, times, **kwargs))

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]):
        """(status, headers, body) of one request."""
        with self.lock:
            self.requests.append(path)
            fault = next((f for f in self.faults if path.startswith(self.base + f.prefix) and f.times > 0), None)
            if fault:
                fault.times -= 1
        if fault:
            time.sleep(fault.delay)
            return fault.status, fault.headers, fault.body
        if not self._authenticated(headers):
            return 203, {"Content-Type": "application/json"}, orjson.dumps(NOT_AUTHENTICATED)
        rest = path[len(self.base):].strip("/").split("/")
        try:
            body = self._route(rest, query)
        except KeyError:
            return 404, {}, b'{"message":"Not Found","code":404}'
        return 200, {"Content-Type": "application/json"}, orjson.dumps(body)

    def _authenticated(self, headers: dict[str, str]) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        lower = {k.lower(): v for k, v in headers.items()}
        return lower.get("authorization") == expected and lower.get("groupid") == str(self.group_id)

    def _route(self, rest: list[str], query: dict[str, str]) -> Any:
        if rest == ["dossiers"]:
            return self._list(query)
        if len(rest) == 2 and rest[0] == "dossiers":
            return self._detail(self.dossiers[int(rest[1])])
        if len(rest) == 3 and rest[0] == "dossiers" and rest[2] == "sequences":
            return self._sequences(self.dossiers[int(rest[1])])
        if rest == ["serviceprocesses"]:
            return {"total": 1, "data": [PROCESS]}
        if rest[:1] == ["serviceprocesses"] and rest[1] == str(PROCESS["serviceProcessId"]):
            if rest[2:] == ["steps"]:
                return {"total": len(STEPS), "data": [self._step(code) for code in STEPS]}
            if rest[2:] == ["sequences"]:
                return {"total": len(SEQUENCES), "data": [
                    {"sequenceNo": n, "sequenceName": name, "sequenceRole": role, "durationCount": d}
                    for n, name, role, d in SEQUENCES]}
        raise KeyError(rest)

    # -- bodies -------------------------------------------------------------------------------
    def _list(self, query: dict[str, str]) -> dict:
        start = int(query.get("start") or 0)
        end = int(query.get("end") or 0) or start + 10
        if self.on_list:
            self.on_list(start)
        rows = sorted(self.dossiers.values(), key=lambda d: d.received, reverse=query.get("order") == "true")
        if query.get("top") == "statistic":
            first = datetime.strptime(query["fromStatisticDate"], "%d/%m/%Y").replace(tzinfo=VN)
            last = datetime.strptime(query["toStatisticDate"], "%d/%m/%Y").replace(tzinfo=VN) + timedelta(days=1)
            rows = [d for d in rows if first <= d.received < last
                    or (d.received < first and (d.released is None or d.released >= first))]
        return {"total": len(rows), "data": [self._item(d) for d in rows[start:end]]}

    def _item(self, d: FakeDossier) -> dict:
        status, sub = d.status
        return {"dossierId": d.id, "groupId": self.group_id, "dossierNo": d.no, "serviceCode": d.service,
                "govAgencyCode": "UBND_HUYEN_A", "processNo": PROCESS["processNo"],
                "applicantName": d.applicant, "applicantIdNo": d.id_no, "contactTelNo": d.phone,
                "contactEmail": d.email, "address": d.address, "createDate": ddmmyyyy(d.received),
                "modifiedDate": "", "receiveDate": d.receive_text or ddmmyyyy(d.received), "dueDate": ddmmyyyy(d.due),
                "releaseDate": ddmmyyyy(d.released), "finishDate": "", "dossierStatus": status,
                "dossierSubStatus": sub, "stepCode": d.step, "stepName": STEPS[d.step][0],
                "online": "true" if d.online else "false", "originality": 3, "lockState": "",
                "durationCount": 15.0, "durationUnit": 0}

    def _detail(self, d: FakeDossier) -> dict:
        """DossierUtils.mappingForGetDetail field names (personal fields included, as the server sends)."""
        item = self._item(d)
        last = d.current
        item.update(
            dossierIdCTN="", userId=5021, userName=d.officer, counter=0, serviceName="Cấp giấy phép xây dựng",
            govAgencyName="UBND huyện A", dossierTemplateNo="TP_GPXD_01", applicantIdType="citizen",
            applicantIdDate="01/01/2015 00:00:00", cityCode="40", cityName="Nghệ An", districtCode="412",
            districtName="Huyện A", wardCode="17000", wardName="Xã B", contactName=d.applicant,
            delegateName=d.applicant, delegateIdNo=d.id_no, delegateTelNo=d.phone, delegateEmail=d.email,
            delegateAddress=d.address, dossierNote="Hồ sơ của " + d.applicant, briefNote="Nhà ở " + d.address,
            applicantNote="SĐT " + d.phone, submissionNote="", referenceUid=f"ref-{d.id}",
            submitDate=ddmmyyyy(d.received), stepInstruction="", stepDuedate="", stepOverdue="true",
            lastActionCode=last["actionCode"] if last else "", lastActionUser=d.officer.upper(),
            lastActionDate=ddmmyyyy(last["at"]) if last else "", lastActionNote="",
            metaData=orjson.dumps({"nguoi_nop": d.applicant}).decode(), specialNo=0, viaPostal=0,
            postalAddress=d.address, postalTelNo=d.phone, modifiedDate=ddmmyyyy(last["modified"] if last else
                                                                               d.received))
        return item

    def _sequences(self, d: FakeDossier) -> dict:
        """getDossierProcessSequencesJSON: actions under the phase they were done *from*."""
        phases = {n: {"sequenceNo": n, "sequenceName": name, "sequenceRole": role, "durationCount": dur}
                  for n, name, role, dur in SEQUENCES}
        if d.current:
            phases[STEPS[d.current["stepCode"]][1]]["statusText"] = \
                f"Đang thực hiện: {STEPS[d.current['stepCode']][0]}"
        for action in d.actions:
            phases[STEPS[action["stepCode"]][1]]["startDate"] = ms(action["at"])
        for number, phase in phases.items():
            listed = [a for a in d.actions if a["fromStepCode"] and STEPS[a["fromStepCode"]][1] == number]
            phase["assignUsers"] = [{"userId": 5021, "userName": d.officer}] if listed else []
            phase["actions"] = [self._action(d, a) for a in listed]
        data = [] if len(d.actions) == 1 and d.actions[0]["stepCode"] == "400" else list(phases.values())
        return {"processNo": PROCESS["processNo"], "durationUnit": 0, "durationCount": 15.0,
                "total": len(SEQUENCES), "data": data}

    @staticmethod
    def _action(d: FakeDossier, action: dict) -> dict:
        source, target = STEPS[action["fromStepCode"]], STEPS[action["stepCode"]]
        return {
            "userId": 5021, "fromStepCode": action["fromStepCode"], "fromStepName": source[0],
            "sequenceNo": target[1], "dossierId": d.id, "serviceProcessId": PROCESS["serviceProcessId"],
            "previousActionId": action["previous"], "actionCode": action["actionCode"],
            "actionName": ACTION_NAMES.get(action["actionCode"], action["actionCode"]),
            "actionNote": f"Gửi ông {d.applicant}", "actionUser": d.officer, "actionOverdue": 0,
            "payload": orjson.dumps({"applicantName": d.applicant}).decode(), "pending": False,
            "rollbackable": True, "createDate": ms(action["at"]), "modifiedDate": ms(action["modified"]),
            "dueDate": 0, "nextActionId": action["next"], "state": action["state"],
            "stepCode": action["stepCode"], "stepName": target[0]}

    @staticmethod
    def _step(code: str) -> dict:
        name, seq, status, sub, duration = STEPS[code]
        return {"stepCode": code, "processStepId": 7700 + int(code), "stepName": name, "sequenceNo": seq,
                "dossierStatus": status, "dossierStatusText": "", "dossierSubStatus": sub,
                "dossierSubStatusText": "", "durationCount": duration, "stepInstruction": "",
                "customProcessUrl": "", "editable": "false", "lockState": "", "checkInput": 0,
                "roleAsStep": "", "briefNote": ""}

    # -- serving ------------------------------------------------------------------------------
    def install(self, httpserver) -> str:
        """Serve on a pytest-httpserver; returns the API base URL."""
        from werkzeug import Response

        def handler(request):
            status, headers, body = self.handle(request.method, request.path, dict(request.args),
                                                dict(request.headers))
            return Response(body, status, headers=headers)

        httpserver.expect_request(self.base, method="GET").respond_with_handler(handler)
        import re
        httpserver.expect_request(re.compile("^" + re.escape(self.base) + "/.*")).respond_with_handler(handler)
        return httpserver.url_for(self.base)

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        """Serve on a threaded http.server in a background thread; returns (server, base URL)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response: no delayed-ACK stalls
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                parts = urlsplit(self.path)
                status, headers, body = fake.handle("GET", parts.path, dict(parse_qsl(parts.query)),
                                                    dict(self.headers))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}{self.base}"
