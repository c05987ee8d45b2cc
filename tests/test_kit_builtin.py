"""Every built-in adapter passes the vendor kit's contract suites (the same ones vendors run)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest

from isobridge.adapters.caselog import CaselogSource
from isobridge.adapters.csv import CsvSource
from isobridge.adapters.dvcqg import DvcqgSource
from isobridge.adapters.edxml import EdxmlSource
from isobridge.adapters.jsonl import JsonlSink
from isobridge.adapters.ledger import LedgerSink
from isobridge.core import samples
from isobridge.core.adapters import EvidenceItem
from isobridge.testing import HttpSourceContract, SinkContract, SourceContract

DOCSRC = Path(__file__).parent / "fixtures" / "docsrc"
TOKEN = "kit-docsrc-token-5f1c2a"
FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 4,
        "read_timeout": 2}


def copy(name: str, target: Path) -> Path:
    return Path(shutil.copytree(DOCSRC / name, target / name))


class FolderSourceContract(SourceContract):
    """The source contract for a source reading a folder: a missing folder is the bad option."""

    @pytest.fixture
    def bad_options(self, tmp_path):
        return {"folder": str(tmp_path / "missing")}


class TestCaselogContract(FolderSourceContract):
    adapter = CaselogSource

    @pytest.fixture
    def options(self, tmp_path):
        (tmp_path / "in").mkdir()
        lines = samples.CASES.read_bytes().splitlines(keepends=True)
        (tmp_path / "in" / "a.jsonl").write_bytes(b"".join(lines[:70]))
        (tmp_path / "in" / "b.jsonl").write_bytes(b"".join(lines[70:130]))
        return {"folder": str(tmp_path / "in"), "page_lines": 25, "settle_seconds": 0}

    @pytest.fixture
    def plant_malformed(self, tmp_path):
        def plant():
            with open(tmp_path / "in" / "b.jsonl", "ab") as out:
                out.write(b'{"dossier": "X-1", "events": [\n[1, 2]\n')
            return 2
        return plant

    @pytest.fixture
    def plant_personal(self, tmp_path):
        def plant(values):
            record = orjson.loads(samples.CASES.read_bytes().splitlines()[0])
            record.update(dossier="KIT-PRIVACY-1", applicant_name=values["applicant_name"],
                          applicant_id=values["applicant_id"], phone=values["phone"], email=values["email"],
                          address=values["address"])
            record["events"][0]["actor"] = values["officer"]
            (tmp_path / "in" / "c.jsonl").write_bytes(orjson.dumps(record) + b"\n")
        return plant


class TestCsvContract(FolderSourceContract):
    adapter = CsvSource

    @pytest.fixture
    def options(self, tmp_path):
        return {"folder": str(copy("csv", tmp_path)), "page_lines": 3, "settle_seconds": 0}

    @pytest.fixture
    def plant_malformed(self, tmp_path):
        def plant():
            with open(tmp_path / "csv" / "mot-cua-2025-07.csv", "ab") as out:
                out.write("000.00.31.H37-250701-0009,1.001612,chỉ ba cột\n".encode())
            return 1
        return plant

    @pytest.fixture
    def plant_personal(self, tmp_path):
        def plant(values):
            path = tmp_path / "csv" / "mot-cua-2025-07.csv"
            header, row = path.read_text(encoding="utf-8-sig").splitlines()[:2]
            cells = row.split(",")
            cells[0], cells[7], cells[13] = "000.00.31.H37-250701-0777", values["applicant_id"], values["officer"]
            (tmp_path / "csv" / "rieng-tu.csv").write_text(header + "\n" + ",".join(cells) + "\n", encoding="utf-8")
        return plant


class TestDvcqgContract(FolderSourceContract):
    adapter = DvcqgSource

    @pytest.fixture
    def options(self, tmp_path):
        return {"folder": str(copy("dvcqg", tmp_path)), "page_size": 1}

    @pytest.fixture
    def plant_malformed(self, tmp_path):
        def plant():
            (tmp_path / "dvcqg" / "hong.json").write_text('{"service": "DongBoHoSoMC", "data": [', encoding="utf-8")
            return 1
        return plant

    @pytest.fixture
    def plant_personal(self, tmp_path):
        def plant(values):
            body = json.loads((DOCSRC / "dvcqg" / "2025-07-01" / "dongbo-hoso.json").read_text(encoding="utf-8"))
            item = body["data"][0]
            item.update(MaHoSo="000.00.31.H37-250701-0888", ChuHoSo=values["applicant_name"],
                        SoGiayToChuHoSo=values["applicant_id"], Email=values["email"],
                        SoDienThoai=values["phone"], DiaChiChuHoSo=values["address"])
            body["data"] = [item]
            (tmp_path / "dvcqg" / "rieng-tu.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        return plant


class TestEdxmlContract(FolderSourceContract):
    adapter = EdxmlSource

    @pytest.fixture
    def options(self, tmp_path):
        return {"folder": str(copy("edxml", tmp_path)), "page_size": 2}

    @pytest.fixture
    def plant_malformed(self, tmp_path):
        def plant():
            (tmp_path / "edxml" / "hong.xml").write_text("<edXML:edXML><chua-dong", encoding="utf-8")
            (tmp_path / "edxml" / "xxe.xml").write_bytes((DOCSRC / "edxml-hostile" / "xxe-passwd.xml").read_bytes())
            return 2
        return plant

    @pytest.fixture
    def plant_personal(self, tmp_path):
        def plant(values):
            text = (DOCSRC / "edxml" / "2025-07" / "trangthai-0001-06.xml").read_text(encoding="utf-8")
            text = text.replace("Phạm Quốc Việt", values["officer"])
            (tmp_path / "edxml" / "rieng-tu.xml").write_text(text, encoding="utf-8")
        return plant


class FakeDocumentEndpoint:
    """A bearer-protected endpoint serving documents (pytest-httpserver handler)."""

    def __init__(self, answer):
        self.answer = answer

    def __call__(self, request):
        from werkzeug import Response
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response('{"error": "invalid token"}', status=401, content_type="application/json")
        return Response(json.dumps(self.answer(request.args), ensure_ascii=False), content_type="application/json")


class FakeEdxmlList:
    """`GET ?after=<id>&limit=<n>`: the packets after that id (ids sort in order), at most n."""

    def __init__(self):
        paths = sorted((DOCSRC / "edxml").rglob("*.xml"))
        self.packets = [(f"{n:06d}", path.read_text(encoding="utf-8")) for n, path in enumerate(paths, 1)]

    def add(self, text: str) -> None:
        self.packets.append((f"{len(self.packets) + 1:06d}", text))

    def __call__(self, args) -> list[dict]:
        after, limit = args.get("after", ""), int(args.get("limit", 100))
        return [{"id": ident, "edxml": text} for ident, text in self.packets if ident > after][:limit]


class BearerDocumentContract(HttpSourceContract):
    """The HTTP contract for a document endpoint behind the test bearer token."""

    @pytest.fixture
    def secret(self):
        return TOKEN

    @pytest.fixture
    def bad_options(self, options):
        return {**options, "token": "wrong-token"}


class TestEdxmlHttpContract(BearerDocumentContract):
    adapter = EdxmlSource

    @pytest.fixture
    def fake(self, httpserver):
        packets = FakeEdxmlList()
        httpserver.expect_request("/edxml/received").respond_with_handler(FakeDocumentEndpoint(packets))
        return packets

    @pytest.fixture
    def options(self, fake, httpserver):
        return {"url": httpserver.url_for("/edxml/received"), "token": TOKEN, "page_size": 3, "http": FAST}

    @pytest.fixture
    def plant_malformed(self, fake):
        def plant():
            fake.add("<edXML:edXML><chua-dong")
            fake.add((DOCSRC / "edxml-hostile" / "xxe-passwd.xml").read_text(encoding="utf-8"))
            return 2
        return plant

    @pytest.fixture
    def plant_personal(self, fake):
        def plant(values):
            text = (DOCSRC / "edxml" / "2025-07" / "trangthai-0001-06.xml").read_text(encoding="utf-8")
            fake.add(text.replace("Phạm Quốc Việt", values["officer"]))
        return plant


class TestDvcqgHttpContract(BearerDocumentContract):
    adapter = DvcqgSource

    @pytest.fixture
    def fake(self, httpserver):
        items = []
        for name in ("2025-07-01/dongbo-hoso.json", "2025-07-01/tien-do.json", "2025-07-03/tien-do-phe-duyet.json"):
            body = json.loads((DOCSRC / "dvcqg" / name).read_text(encoding="utf-8"))
            items += body["data"] if isinstance(body, dict) else body
        httpserver.expect_request("/dvcqg/payload").respond_with_handler(FakeDocumentEndpoint(lambda args: items))
        return items

    @pytest.fixture
    def options(self, fake, httpserver):
        return {"url": httpserver.url_for("/dvcqg/payload"), "token": TOKEN, "page_size": 2, "http": FAST}

    @pytest.fixture
    def plant_malformed(self, fake):
        def plant():
            fake.extend([42, {"TenTTHC": "neither a dossier nor a progress row"}])
            return 2
        return plant

    @pytest.fixture
    def plant_personal(self, fake):
        def plant(values):
            fake.append({"MaHoSo": "000.00.31.H37-250701-0888", "MaTTHC": "1.001612",
                         "NgayTiepNhan": "20250701080000", "TrangThaiHoSo": "2",
                         "ChuHoSo": values["applicant_name"], "SoGiayToChuHoSo": values["applicant_id"],
                         "Email": values["email"], "SoDienThoai": values["phone"],
                         "DiaChiChuHoSo": values["address"]})
            fake.append({"MaHoSo": "000.00.31.H37-250701-0888", "ThoiDiemXuLy": "20250701090000",
                         "PhongBanXuLy": "Bộ phận Một cửa", "TrangThai": "4", "NguoiXuLy": values["officer"]})
        return plant


class TestJsonlContract(SinkContract):
    adapter = JsonlSink
    dedupes_by_key = False  # truncates to its committed offset instead of remembering keys

    @pytest.fixture
    def options(self, tmp_path):
        return {"path": str(tmp_path / "out" / "evidence.jsonl"), "fsync": False}

    @pytest.fixture
    def delivered(self, tmp_path):
        def keys():
            path = tmp_path / "out" / "evidence.jsonl"
            lines = path.read_bytes().splitlines() if path.exists() else []
            return [f"{line['dossier']}@{line['revision']}" for line in map(orjson.loads, lines)]
        return keys


class TestLedgerSinkContract(SinkContract):
    adapter = LedgerSink

    @pytest.fixture
    def options(self, tmp_path):
        return {"path": str(tmp_path / "evidence.db")}

    @pytest.fixture
    def delivered(self, tmp_path):
        def keys():
            with sqlite3.connect(tmp_path / "evidence.db") as db:
                return [f"{d}@{r}" for d, r in db.execute("SELECT dossier, revision FROM evidence")]
        return keys

    @pytest.fixture
    def rejectable(self):
        return EvidenceItem("KIT-NO-VERDICT", 1, {"dossier": "KIT-NO-VERDICT"})

