"""The HTTP adapters under the same contract suites (opencps source, rest push sink).

The opencps and rest sources and the rest push sink, against their fake servers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

pytest.importorskip("isobridge.adapters.restpush", reason="the HTTP adapters (branch h-http) are not merged yet")
pytest.importorskip("isobridge.adapters.opencps", reason="the HTTP adapters (branch h-http) are not merged yet")

from isobridge.adapters.restpush import RestPushSink  # noqa: E402
from isobridge.adapters.opencps import OpenCPSSource  # noqa: E402
from isobridge.core.adapters import EvidenceItem  # noqa: E402
from isobridge.testing import HttpSinkContract, HttpSourceContract, make_context, make_options, sample_evidence  # noqa: E402
from fakes.igate import VN, FakeIGate, make_igate_dossiers  # noqa: E402
from fakes.opencps import FakeOpenCPS, make_dossiers  # noqa: E402
from isobridge.adapters.rest import RestSource  # noqa: E402
from test_http_rest import FAST as IGATE_FAST  # noqa: E402
from test_http_opencps import FAST as OPENCPS_FAST, FIRST, TODAY  # noqa: E402
from test_http_restpush import FAST, TOKEN, FakeQMS  # noqa: E402


IGATE_TOKEN = "igate-T0KEN-abc"


class TestRestPushContract(HttpSinkContract):
    adapter = RestPushSink

    @pytest.fixture
    def fake(self, httpserver):
        qms = FakeQMS()
        httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
        return qms

    @pytest.fixture
    def secret(self):
        return TOKEN

    @pytest.fixture
    def options(self, fake, httpserver):
        httpserver.expect_request("/qms/evidence", method="GET").respond_with_data("", status=405)
        return {"url": httpserver.url_for("/qms/evidence"), "auth": {"type": "bearer", "token": TOKEN},
                "batch_size": 3, "http": FAST}

    @pytest.fixture
    def delivered(self, fake):
        return lambda: list(fake.stored)

    @pytest.fixture
    def rejectable(self):
        item = sample_evidence(1, start=10)[0]
        return EvidenceItem("BAD-1", 1, {**item.evidence, "dossier": "BAD-1"})



class TestOpenCPSContract(HttpSourceContract):
    adapter = OpenCPSSource
    rereads_overlap = True  # statistic windows reopen a day back by design

    def open(self, options):
        return OpenCPSSource(make_options(OpenCPSSource, options), make_context(), today=lambda: TODAY)

    @pytest.fixture
    def fake(self, httpserver):
        fake = FakeOpenCPS(make_dossiers(25, FIRST))
        self.base = fake.install(httpserver)
        return fake

    @pytest.fixture
    def secret(self, fake):
        return fake.password

    @pytest.fixture
    def options(self, fake):
        return {"base_url": self.base, "username": fake.username, "password": fake.password,
                "group_id": fake.group_id, "since": FIRST.isoformat(), "page_size": 10, "http": OPENCPS_FAST}

    @pytest.fixture
    def bad_options(self, options):
        return {**options, "password": "wrong-password"}

    @pytest.fixture
    def plant_malformed(self, fake):
        def plant():
            broken = make_dossiers(1, FIRST + timedelta(days=2), seed=3)[0]
            broken.id, broken.receive_text = 49001, "31/02/2024 25:61:00"
            fake.dossiers[broken.id] = broken
            return 1
        return plant

    @pytest.fixture
    def plant_personal(self, fake):
        def plant(values):
            person = make_dossiers(1, FIRST + timedelta(days=3), seed=4)[0]
            person.id = 49002
            person.applicant, person.id_no = values["applicant_name"], values["applicant_id"]
            person.phone, person.email, person.address = values["phone"], values["email"], values["address"]
            person.officer = values["officer"]
            fake.dossiers[person.id] = person
        return plant


class TestRestIGateContract(HttpSourceContract):
    """The declarative `rest` source with the bundled iGate profile, under the same suite."""

    adapter = RestSource
    rereads_overlap = True  # the incremental filter reopens an overlap window by design

    @pytest.fixture
    def fake(self, httpserver):
        fake = FakeIGate(make_igate_dossiers(25))
        self.base = fake.install(httpserver)
        return fake

    @pytest.fixture
    def secret(self):
        return IGATE_TOKEN

    @pytest.fixture
    def options(self, fake):
        return {"profile": "igate", "base_url": self.base, "token": IGATE_TOKEN, "page_size": 10,
                "http": IGATE_FAST}

    @pytest.fixture
    def bad_options(self, options):
        return {**options, "token": "not-a-valid-token"}

    @pytest.fixture
    def plant_personal(self, fake):
        def plant(values):
            row = make_igate_dossiers(1, datetime(2025, 7, 9, 8, tzinfo=VN))[0]
            row.update(id="66aPRIV", code="H40.22-250709-9999")
            row["applicant"]["data"].update(fullname=values["applicant_name"], identityNumber=values["applicant_id"],
                                            phoneNumber=values["phone"], email=values["email"],
                                            address=values["address"])
            row["accepter"] = {"fullname": values["officer"]}
            fake.dossiers.append(row)
        return plant

    @pytest.fixture
    def plant_malformed(self, fake):
        def plant():
            row = make_igate_dossiers(1, datetime(2025, 7, 9, 9, tzinfo=VN))[0]
            row.update(id="66aBAD", code="H40.22-250709-9998", acceptedDate="not a date")
            fake.dossiers.append(row)
            return 1
        return plant
