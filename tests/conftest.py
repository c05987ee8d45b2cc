"""Shared fixtures: a Vietnamese working calendar and a small procedure book for hand-computed cases."""

from __future__ import annotations

from datetime import datetime

import pytest

from isobridge.core.calendar import VN_TZ, CalendarSpec, WorkingCalendar
from isobridge.core.engine import Evaluator
from isobridge.core.models import Procedure
from isobridge.core.procedures import ProcedureBook


def pull_and_map(source, cursor=None):
    """Read every page after `cursor` and map each record: (fragments by key, errors by key, last cursor)."""
    from isobridge.core.caselog import RecordError

    fragments, errors = {}, {}
    for page in source.pages(cursor):
        for record in page.records:
            try:
                fragments[record.key] = source.map(record)
            except RecordError as exc:
                errors[record.key] = exc.errors
        cursor = page.cursor
    return fragments, errors, cursor


def at(text: str) -> int:
    """Epoch seconds of a Vietnam-local 'YYYY-MM-DD HH:MM' (the tests' shorthand)."""
    return int(datetime.fromisoformat(text).replace(tzinfo=VN_TZ).timestamp())


def iso(text: str) -> str:
    """ISO 8601 text with +07:00 of a Vietnam-local 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ).isoformat()


@pytest.fixture(scope="session")
def vn_calendar() -> WorkingCalendar:
    """Vietnam public holidays and the bundled public-sector days, default sessions, 2024–2027."""
    return WorkingCalendar(CalendarSpec(name="VN-test", years=(2024, 2027)))


TEST_PROCEDURES = [
    {
        "code": "9.000001", "name": "Thủ tục thử nghiệm", "version": "1", "effective_from": "2024-01-01",
        "limit": {"value": 2, "unit": "working_days"}, "pauses": ["verification"],
        "steps": [
            {"code": "TN", "name": "Tiếp nhận", "limit": {"value": 2, "unit": "working_hours"}},
            {"code": "TD", "name": "Thẩm định", "limit": {"value": 1, "unit": "working_days"}},
            {"code": "LY", "name": "Lấy ý kiến", "optional": True, "limit": {"value": 2, "unit": "working_hours"}},
            {"code": "PD", "name": "Phê duyệt", "limit": {"value": 4, "unit": "working_hours"}},
        ],
    },
    {
        "code": "9.000001", "name": "Thủ tục thử nghiệm", "version": "2", "effective_from": "2026-01-01",
        "limit": {"value": 3, "unit": "working_days"}, "pauses": ["verification"],
        "steps": [
            {"code": "TN", "name": "Tiếp nhận", "limit": {"value": 2, "unit": "working_hours"}},
            {"code": "TD", "name": "Thẩm định", "limit": {"value": 2, "unit": "working_days"}},
            {"code": "PD", "name": "Phê duyệt", "limit": {"value": 4, "unit": "working_hours"}},
        ],
    },
    {
        "code": "9.000002", "name": "Thủ tục tính theo ngày", "limit": {"value": 10, "unit": "calendar_days"},
        "steps": [
            {"code": "TN", "name": "Tiếp nhận", "limit": {"value": 4, "unit": "working_hours"}},
            {"code": "XM", "name": "Xác minh", "limit": {"value": 5, "unit": "calendar_days"}},
        ],
    },
]


@pytest.fixture(scope="session")
def test_book() -> ProcedureBook:
    """Procedures 9.000001 (two versions, 2 then 3 working days) and 9.000002 (10 calendar days)."""
    return ProcedureBook.from_procedures([Procedure.model_validate(p) for p in TEST_PROCEDURES])


@pytest.fixture
def evaluator(test_book: ProcedureBook, vn_calendar: WorkingCalendar) -> Evaluator:
    """An evaluator over the test procedures, as of 2025-06-01 00:00 +07:00."""
    return Evaluator(test_book, vn_calendar, at("2025-06-01 00:00"))


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for this test session (skipped, saying why, where none can be run)."""
    from pg_support import PostgresServer, server_binaries

    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'isobridge[postgres]'")
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): install the OS package postgresql")
    server = PostgresServer(binaries).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """The URL of a new empty PostgreSQL database for one test."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Each ledger backend in turn: the same test runs on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture
def ledger_toml(backend, request, tmp_path) -> str:
    """The `[ledger]` table of a deployment on `backend` (its schema made, on PostgreSQL)."""
    if backend == "sqlite":
        return '[ledger]\npath = "ledger.db"\n'
    from isobridge.core import ledger_schema
    from isobridge.core.ledger_db import PostgresDatabase

    url = request.getfixturevalue("pg_url")
    db = PostgresDatabase(url)
    ledger_schema.migrate(db)
    db.close()
    return f'[ledger]\nurl = "{url}"\n'
