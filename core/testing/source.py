"""The source contract suite: subclass :class:`SourceContract` in a test module and give fixtures.

::

    class TestMySource(SourceContract):
        adapter = MySource

        @pytest.fixture
        def options(self, tmp_path):          # a working source over sample data (≥ 2 pages)
            ...
        @pytest.fixture
        def bad_options(self, options):       # what check() must refuse (bad token, no folder)
            ...
        @pytest.fixture
        def plant_malformed(self, ...):       # () -> how many malformed records were added
            ...
        @pytest.fixture
        def plant_personal(self, ...):        # (values: dict[str, str]) -> None, a record holding them
            ...
        @pytest.fixture
        def nfd_options(self, ...):           # the same sample served in Unicode NFD (folder sources:
            ...                               # the kit derives it; others skip without it)

A source reading a `folder` also runs "rewrite in place": its files rewritten with the same inode
must be read again, never resumed in the middle of what they now hold.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from isobridge.core.adapters import CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import EVENT_KINDS, RecordError
from isobridge.core.merge import check_fragment

from ._support import KIT_PSEUDONYM_KEY, Transcript, canonical, leaks, make_context, make_options, option_values, transcript

PERSONAL_VALUES = {
    "applicant_name": "Nguyễn Thị Kiểm Thử",
    "applicant_id": "079199012345",
    "phone": "0912 345 678",
    "email": "kiem.thu.cong.dan@example.vn",
    "address": "12 Đường Thử Nghiệm, Phường Kiểm Tra",
    "officer": "Trần Văn Cán Bộ Thử",
}
"""Known personal values the privacy check plants (roles → values); none may leave the adapter."""


@dataclass
class Pull:
    """What one pass over `pages(cursor)` gave: pages, per-record outcomes, the last cursor."""

    pages: list[Page] = field(default_factory=list)
    outcomes: dict[str, list[dict] | RecordError] = field(default_factory=dict)
    records: list[RawRecord] = field(default_factory=list)
    cursor: str | None = None

    @property
    def quarantined(self) -> dict[str, RecordError]:
        """Records whose mapping raised RecordError, by key."""
        return {key: out for key, out in self.outcomes.items() if isinstance(out, RecordError)}

    @property
    def fragments(self) -> list[dict]:
        """Every fragment mapped from the pulled records."""
        return [f for out in self.outcomes.values() if not isinstance(out, RecordError) for f in out]

    def counted(self) -> Counter:
        """Multiset of record outcomes: fragments, or the quarantined payload."""
        return Counter(outcome_of(record, self.outcomes[record.key]) for record in self.records)


def outcome_of(record: RawRecord, outcome: list[dict] | RecordError) -> bytes:
    """A comparable form of one record's outcome."""
    if isinstance(outcome, RecordError):
        return b"quarantined:" + record.payload.encode()
    return canonical(outcome)


def map_record(source: Source, record: RawRecord) -> list[dict] | RecordError:
    """`source.map(record)`; a RecordError is returned, any other exception fails the test."""
    try:
        fragments = source.map(record)
    except RecordError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors), (
            f"map({record.key!r}) raised RecordError without reasons: {exc.errors!r}")
        return exc
    except Exception as exc:
        pytest.fail(f"map({record.key!r}) raised {type(exc).__name__}: {exc} — a record that cannot be"
                    " mapped must raise RecordError([reasons]) so it is quarantined", pytrace=False)
    assert isinstance(fragments, list), f"map({record.key!r}) returned {type(fragments).__name__}, not a list"
    return fragments


class SourceContract:
    """Contract suite every source adapter passes (see the module docstring for the fixtures)."""

    adapter: ClassVar[type[Source]]
    page_cap: ClassVar[int] = 1000
    """Hard cap of pages in one pull: more means paging does not terminate."""
    min_pages: ClassVar[int] = 2
    """The sample must span this many pages, or the resume check proves nothing."""
    rereads_overlap: ClassVar[bool] = False
    """True for sources that read an overlap window again by design (e.g. a statistic window
    reopened a day back): a record read again must map exactly as before; still none may be lost."""

    # -- fixtures a test class overrides ----------------------------------------------------------
    @pytest.fixture
    def options(self) -> dict[str, Any]:
        """Options of a working source over sample data spanning several pages."""
        pytest.fail(f"{type(self).__name__}: define an `options` fixture", pytrace=False)

    @pytest.fixture
    def bad_options(self, options: dict) -> dict[str, Any] | None:
        """Options that check() must refuse (wrong credentials, missing folder); None skips."""
        return None

    @pytest.fixture
    def plant_malformed(self) -> Callable[[], int] | None:
        """A function adding malformed records to the sample data, returning how many; None skips."""
        return None

    @pytest.fixture
    def plant_personal(self) -> Callable[[dict[str, str]], None] | None:
        """A function adding one record holding the given personal values; None skips."""
        return None

    @pytest.fixture
    def nfd_options(self, options: dict, tmp_path_factory) -> dict[str, Any] | None:
        """Options of the same source over the sample in Unicode NFD (Vietnamese letters as base
        letter plus combining marks). For a `folder` source the kit writes an NFD copy of every
        UTF-8 text file; other sources override this (None skips)."""
        folder = options.get("folder")
        if folder is None:
            return None
        copy = tmp_path_factory.mktemp("nfd") / "sample"
        shutil.copytree(folder, copy)
        for path in _text_files(copy):
            path.write_text(unicodedata.normalize("NFD", path.read_text("utf-8")), "utf-8", newline="")
        return {**options, "folder": str(copy)}

    @pytest.fixture
    def secret(self) -> str:
        """A secret value: put it into `options` (token, password) so the leak check can look for it."""
        return "kit-secret-" + secrets.token_hex(8)

    # -- helpers ----------------------------------------------------------------------------------
    def open(self, options: dict[str, Any]) -> Source:
        """A fresh source instance, as the host opens one per run."""
        return self.adapter(make_options(self.adapter, options), make_context())

    def pull(self, options: dict[str, Any], cursor: str | None = None, pages: int | None = None) -> Pull:
        """Read pages after `cursor` (at most `pages`, default all up to the cap) and map every record."""
        source = self.open(options)
        result = Pull(cursor=cursor)
        try:
            for page in source.pages(cursor):
                assert isinstance(page, Page), f"pages() yielded {type(page).__name__}, not a Page"
                result.pages.append(page)
                assert len(result.pages) <= self.page_cap, (
                    f"paging did not terminate within {self.page_cap} pages (last cursor {page.cursor!r})")
                for record in page.records:
                    assert record.key not in result.outcomes, (
                        f"record {record.key!r} came twice in one pull (page {len(result.pages)})")
                    result.records.append(record)
                    result.outcomes[record.key] = map_record(source, record)
                result.cursor = page.cursor
                if pages is not None and len(result.pages) >= pages:
                    break
        finally:
            source.close()
        return result

    def resume_page_by_page(self, options: dict[str, Any]) -> Pull:
        """Pull one page per run, each run a fresh instance resuming from the committed cursor."""
        total, cursor = Pull(), None
        for _ in range(self.page_cap):
            step = self.pull(options, cursor, pages=1)
            if not step.pages:
                return total
            fresh = False
            for record in step.records:
                if record.key in total.outcomes:
                    self._assert_reread(record, step.outcomes[record.key], total, cursor)
                    continue
                total.records.append(record)
                total.outcomes[record.key] = step.outcomes[record.key]
                fresh = True
            if not fresh and step.pages[0].cursor == cursor:
                return total
            total.pages.extend(step.pages)
            cursor = total.cursor = step.cursor
        pytest.fail(f"resuming page by page did not finish within {self.page_cap} runs: does the cursor"
                    " after the last page stay put?", pytrace=False)

    def _assert_reread(self, record: RawRecord, outcome, earlier: Pull, cursor: str | None) -> None:
        assert self.rereads_overlap, f"record {record.key!r} read again after resuming from cursor {cursor!r}"
        before = earlier.outcomes[record.key]
        assert outcome_of(record, outcome) == outcome_of(record, before), (
            f"record {record.key!r} read again (overlap) maps differently than the first time")

    # -- check ------------------------------------------------------------------------------------
    def test_check_accepts_good_options(self, options):
        """Contract: check accepts good options."""
        result = self.open(options).check()
        assert isinstance(result, CheckResult), f"check() returned {type(result).__name__}"
        assert result.ok, f"check() refused working options: {result.message}"

    def test_check_refuses_bad_options_without_raising(self, bad_options):
        """Contract: check refuses bad options without raising."""
        if bad_options is None:
            pytest.skip("no `bad_options` fixture")
        source = self.open(bad_options)
        try:
            result = source.check()
        except Exception as exc:
            pytest.fail(f"check() raised {type(exc).__name__}: {exc}; it must return CheckResult(ok=False)",
                        pytrace=False)
        assert isinstance(result, CheckResult) and not result.ok, "check() accepted bad options"
        assert result.message, "check() refused without saying why (empty message)"

    # -- mapping shape ----------------------------------------------------------------------------
    def test_fragments_have_case_log_shape(self, options):
        """Contract: fragments have case log shape."""
        pull = self.pull(options)
        assert pull.fragments, "the sample produced no fragments at all"
        for fragment in pull.fragments:
            try:
                check_fragment(fragment)
            except RecordError as exc:
                pytest.fail(f"fragment {fragment!r:.200} is malformed: {exc}", pytrace=False)
            for event in fragment.get("events", []):
                assert event.get("kind") in EVENT_KINDS, f"{fragment['dossier']}: unknown event kind {event.get('kind')!r}"
                at = datetime.fromisoformat(str(event.get("at")))
                assert at.tzinfo is not None, f"{fragment['dossier']}: event time {event['at']!r} has no offset"

    def test_parallel_map_needs_only_what_reaches_a_worker(self, options):
        """Contract: with `parallel_map`, a record as the sync's workers get it maps the same."""
        if not self.adapter.parallel_map:
            pytest.skip("parallel_map is off: map runs in the main process")
        pull = self.pull(options)
        source = self.open(options)
        try:
            for record in pull.records:
                shipped = pickle.loads(pickle.dumps(
                    RawRecord(record.key, record.payload if record.data is None else "", record.data)))
                assert outcome_of(record, map_record(source, shipped)) == outcome_of(record, pull.outcomes[record.key]), (
                    f"record {record.key!r} maps differently without its payload or after pickling")
        finally:
            source.close()

    # -- paging and cursors -----------------------------------------------------------------------
    def test_sample_spans_several_pages(self, options):
        """Contract: sample spans several pages."""
        pull = self.pull(options)
        full = [page for page in pull.pages if page.records]
        assert len(full) >= self.min_pages, (
            f"the sample fills {len(full)} page(s); give options with a small page size so it spans"
            f" at least {self.min_pages} (the resume check needs them)")

    def test_paging_terminates_and_cursor_advances(self, options):
        """Contract: paging terminates and cursor advances."""
        pull = self.pull(options)
        previous = None
        for number, page in enumerate(pull.pages, 1):
            if page.records:
                assert page.cursor is not None, f"page {number} has records but no cursor to resume after"
                assert page.cursor != previous, (
                    f"page {number} repeats the cursor of the page before: resuming there reads it again")
                previous = page.cursor

    def test_resume_from_final_cursor_reads_nothing(self, options):
        """Contract: resume from final cursor reads nothing."""
        first = self.pull(options)
        again = self.pull(options, first.cursor)
        if self.rereads_overlap:
            for record in again.records:
                assert record.key in first.outcomes, f"{record.key!r} is new after the final cursor"
                self._assert_reread(record, again.outcomes[record.key], first, first.cursor)
            return
        assert not again.records, (
            f"{len(again.records)} record(s) read again after the final cursor, e.g. {again.records[0].key!r}")

    def test_resume_page_by_page_loses_and_repeats_nothing(self, options):
        """Contract: resume page by page loses and repeats nothing."""
        whole = self.pull(options).counted()
        stepped = self.resume_page_by_page(options).counted()
        missing, extra = whole - stepped, stepped - whole
        assert not missing and not extra, (
            f"resuming page by page lost {sum(missing.values())} and repeated {sum(extra.values())} record"
            f" outcome(s); e.g. lost {next(iter(missing), b'')[:160]!r}, extra {next(iter(extra), b'')[:160]!r}")

    # -- quarantine -------------------------------------------------------------------------------
    def test_malformed_records_are_quarantined_not_dropped(self, options, plant_malformed):
        """Contract: malformed records are quarantined not dropped."""
        if plant_malformed is None:
            pytest.skip("no `plant_malformed` fixture")
        before = self.pull(options)
        planted = plant_malformed()
        assert planted > 0, "plant_malformed() planted nothing"
        after = self.pull(options)
        new = {key: error for key, error in after.quarantined.items() if key not in before.quarantined}
        assert len(new) == planted, (
            f"{planted} malformed record(s) planted, {len(new)} quarantined (RecordError from map):"
            " the others were dropped or mapped as if valid")
        payloads = {record.key: record.payload for record in after.records}
        for key in new:
            assert isinstance(payloads[key], str) and payloads[key], f"quarantined {key!r} keeps no payload"

    # -- Unicode forms and rewritten files ----------------------------------------------------------
    def test_nfd_then_nfc_of_the_same_records_map_alike(self, options, nfd_options):
        """Contract: the same records in NFD and in NFC give the same fragments once normalised
        to NFC (the sync normalises centrally; a source must not map them differently, e.g. miss
        a mapped value or a column header written in NFD)."""
        if nfd_options is None:
            pytest.skip("no `nfd_options` fixture (and no `folder` option to derive it from)")
        nfd, nfc = self.pull(nfd_options), self.pull(options)
        assert nfc.fragments, "the sample produced no fragments at all"
        mapped = [_nfc_outcomes(pull) for pull in (nfd, nfc)]
        missing, extra = mapped[1] - mapped[0], mapped[0] - mapped[1]
        assert not missing and not extra, (
            f"the sample in NFD maps differently from NFC: {sum(missing.values())} outcome(s) only in NFC,"
            f" {sum(extra.values())} only in NFD; e.g. NFC {next(iter(missing), '')[:200]!r},"
            f" NFD {next(iter(extra), '')[:200]!r}")

    def test_rewrite_in_place_is_read_again(self, options):
        """Contract (folder sources): a file rewritten in place (same inode, same size, its first
        line kept, the lines after it reordered) is read again: nothing a fresh read of it gives
        is lost, and no record is read from the middle of a line."""
        folder = options.get("folder")
        if folder is None:
            pytest.skip("not a folder source")
        first = self.pull(options)
        rewritten = [path for path in _text_files(Path(folder)) if _reorder_in_place(path)]
        if not rewritten:
            pytest.skip("no text file of four lines or more in the sample to rewrite")
        resumed, fresh = self.pull(options, first.cursor), self.pull(options)
        seen = {(record.key, outcome_of(record, pull.outcomes[record.key]))
                for pull in (first, resumed) for record in pull.records}
        lost = [record.key for record in fresh.records
                if (record.key, outcome_of(record, fresh.outcomes[record.key])) not in seen]
        assert not lost, (f"after {rewritten[0].name} was rewritten in place, {len(lost)} record(s) a fresh"
                          f" read gives were never read, e.g. {lost[0]!r}")
        fresh_quarantine = {outcome_of(r, fresh.outcomes[r.key]) for r in fresh.records if r.key in fresh.quarantined}
        broken = [record.key for record in resumed.records if record.key in resumed.quarantined
                  and outcome_of(record, resumed.outcomes[record.key]) not in fresh_quarantine]
        assert not broken, f"after a rewrite in place, {broken[0]!r} was read from the middle of the file's new content"

    # -- secrets and personal data ----------------------------------------------------------------
    def test_secrets_never_in_logs_or_errors(self, options, bad_options, secret):
        """Contract: secrets never in logs or errors."""
        planted = [KIT_PSEUDONYM_KEY] + ([secret] if any(secret in v for v in option_values(options)) else [])
        with transcript() as seen:
            self._exercise(options, bad_options, seen)
        found = leaks(seen.text, planted)
        assert not found, f"secret value(s) appear in logs, errors or reprs: {['***' + v[-4:] for v in found]}"

    def _exercise(self, options: dict, bad_options: dict | None, seen: Transcript) -> None:
        for opts in filter(None, (options, bad_options)):
            try:
                source = self.open(opts)
                seen.add(repr(source), repr(source.options), source.options.model_dump_json(), source.check())
                pull = self.pull(opts)
                seen.add(json.dumps(pull.fragments, ensure_ascii=False), *pull.quarantined.values())
            except Exception as exc:  # bad options may fail the pull: its text must be clean too
                seen.error(exc)

    def test_personal_data_pseudonymised_before_leaving(self, options, plant_personal):
        """Contract: personal data pseudonymised before leaving."""
        if plant_personal is None:
            pytest.skip("no `plant_personal` fixture")
        plant_personal(dict(PERSONAL_VALUES))
        with transcript() as seen:
            pull = self.pull(options)
        text = json.dumps(pull.fragments, ensure_ascii=False) + seen.text
        found = leaks(text, list(PERSONAL_VALUES.values()))
        assert not found, f"personal value(s) left the adapter in clear: {found}"
        context = make_context()
        pseudonyms = [context.pseudonym(value) for value in PERSONAL_VALUES.values()]
        assert any(p in text for p in pseudonyms), (
            "no pseudonym of the planted values in the fragments: was the planted record dropped?")


def _text_files(folder: Path) -> list[Path]:
    """The UTF-8 text files under `folder`, in order (binary and legacy-encoded ones left out)."""
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def _reorder_in_place(path: Path) -> bool:
    """Rewrite a file of four lines or more in place: same inode and size, first and last line
    kept, the lines between in reverse order; its modification time moves on. False: too short."""
    lines = path.read_bytes().splitlines(keepends=True)
    if len(lines) < 4 or not lines[-2].endswith(b"\n"):
        return False
    data = b"".join([lines[0], *reversed(lines[1:-1]), lines[-1]])
    if data == path.read_bytes():
        return False
    before = path.stat()
    with open(path, "r+b") as handle:  # truncate and write: an editor saving over the file
        handle.truncate(0)
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert path.stat().st_ino == before.st_ino
    return True


def _nfc_outcomes(pull: Pull) -> Counter:
    """The pull's record outcomes, each normalised to NFC."""
    return Counter(unicodedata.normalize("NFC", outcome_of(record, pull.outcomes[record.key]).decode("utf-8", "replace"))
                   for record in pull.records)
