"""The bundled sample data follows the two-level local government from 1 July 2025."""

from __future__ import annotations

from datetime import date

import orjson

from isobridge.core import samples
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.engine import Evaluator
from isobridge.core.generate import CaseLogGenerator, GeneratorSettings
from isobridge.core.procedures import ProcedureBook

REFORM = "2025-07-01"
OLD_NAMES = ("huyện", "Hòa Phú", "Quảng Nam")  # district level, the communes merged into xã Hòa Vang, the merged province


def test_no_sample_dossier_from_july_2025_goes_to_a_district():
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    calendar = WorkingCalendar.from_file(samples.CALENDAR)
    evaluator = Evaluator(book, calendar)
    for line in samples.CASES.read_bytes().splitlines():
        case = orjson.loads(line)
        if case["received_at"][:10] < REFORM:
            continue
        version = book.lookup(case["procedure"], date.fromisoformat(case["received_at"][:10]))
        units = {e.get("unit") for e in case["events"]} | {e.get("from_unit") for e in case["events"]}
        for name in (case["agency"], version.agency, *filter(None, units)):
            assert not any(old in name for old in OLD_NAMES), (case["dossier"], name)
        assert evaluator.evaluate_record(case)["agency"] == version.agency


def test_procedures_in_force_after_the_reform_name_communes_and_the_merged_city():
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    agencies = {procedure.agency for procedure in book if (procedure.effective_from or date.min) >= date(2025, 7, 1)
                or procedure.code != "1.001612"}
    assert agencies == {"UBND xã Hòa Vang", "Sở Tư pháp thành phố Đà Nẵng"}


def test_the_generator_uses_only_the_version_in_force():
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    calendar = WorkingCalendar.from_file(samples.CALENDAR)
    settings = GeneratorSettings(start=date(2025, 7, 1), end=date(2025, 12, 31))
    for record in CaseLogGenerator(book, calendar, 7, settings).records(300):
        version = book.lookup(record["procedure"], date.fromisoformat(record["received_at"][:10]))
        assert record["agency"] == version.agency, record["dossier"]
