"""`caselog` source: case-log JSON Lines files in a folder, read incrementally.

New files and lines appended to known files are picked up by the next sync; each line is one
dossier (or a later, fuller copy of it: the ledger merges them). Only the canonical case-log
fields are kept, personal ones as pseudonyms (:mod:`isobridge.core.minimise`); a line that is
not UTF-8 is quarantined, never decoded with replacement characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from isobridge.core import (
    AdapterOptions, BOM, check_folder, CheckResult, hookimpl, LineTooLong, minimise_fragment, Page,
    RawRecord, read_line_blocks, RecordError, scrub_line, scrub_value, Source
)


class LineRecord(RawRecord):
    """A case-log line: `data` holds its bytes; the payload text is decoded only when asked for
    (by the quarantine), which spares the sync's main process a decode per line."""

    def __init__(self, key: str, data: bytes):  # the dataclass __init__ would set `payload`
        self.key, self.data = key, data

    @property  # type: ignore[override]
    def payload(self) -> str:
        """The line as text; bytes that are not UTF-8 are kept as `\\xNN` escapes (which no JSON
        decoder accepts, so a replayed line with them stays quarantined)."""
        return self.data.decode("utf-8", "backslashreplace")


class CaselogOptions(AdapterOptions):
    """`[sources.NAME]` options of the caselog source."""

    folder: Path
    pattern: str = "*.jsonl"
    page_lines: int = 2000
    settle_seconds: float = 5.0
    """A last line without its line break is never read; once the file has been still this long
    a warning says it is waiting."""


class CaselogSource(Source):
    """Reads case-log JSON Lines from a folder."""

    name = "caselog"
    Options = CaselogOptions
    parallel_map = True  # a line maps on its own
    options: CaselogOptions

    @property
    def folder(self) -> Path:
        """The folder, relative to the configuration file."""
        return self.context.resolve(self.options.folder)

    def check(self) -> CheckResult:
        """The folder exists and is readable."""
        return check_folder(self.folder, self.options.pattern, "case-log")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of new lines, each with the folder cursor after it."""
        opts = self.options
        for block, after in read_line_blocks(self.folder, opts.pattern, cursor, opts.page_lines, opts.settle_seconds):
            records = [self._record(block.path, at, line) for at, line in zip(block.offsets, block.lines)]
            for index, at in enumerate(block.offsets if block.long else ()):
                if at in block.long:
                    key = f"{block.path}:{at}"
                    records[index] = RawRecord(key, f"{key} ({block.long[at]} bytes)", LineTooLong(block.long[at]))
            yield Page(records, after)

    @staticmethod
    def _record(path: str, offset: int, line: bytes) -> RawRecord:
        if offset == 0 and line.startswith(BOM):  # a UTF-8 byte order mark before the first line
            line = line[3:]
        return LineRecord(f"{path}:{offset}", line.rstrip(b"\r\n"))

    def map(self, record: RawRecord) -> list[dict]:
        """One line is one dossier in the canonical case-log shape: allow-listed fields only,
        personal ones pseudonymised."""
        if record.data.__class__ is LineTooLong:
            raise RecordError([str(record.data)])
        try:
            data = orjson.loads(record.data if record.data is not None else _replayed(record.payload))
        except orjson.JSONDecodeError as exc:
            raise RecordError([_not_json(record, exc)]) from None
        if not isinstance(data, dict):
            raise RecordError([f"expected a JSON object, got {type(data).__name__}"])
        return [minimise_fragment(data, self.context.pseudonymizer.pseudonym)]

    def quarantine_payload(self, record: RawRecord) -> str:
        """The line for the quarantine: the canonical fields in clear, every other value (personal
        fields, unknown fields, anything in a line that is not JSON) as a pseudonym."""
        text = record.payload
        if isinstance(record.data, LineTooLong):
            return text  # our own note of the line's place and size
        pseudonym = self.context.pseudonymizer.pseudonym
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return scrub_line(text, pseudonym)
        return orjson.dumps(scrub_value(data, pseudonym)).decode()


def _replayed(payload: str) -> str:
    """A payload replayed from the quarantine; one holding U+FFFD was decoded with replacement
    characters (by an older release) and lost its bytes: it stays quarantined."""
    if "\ufffd" in payload:
        raise RecordError(["not valid UTF-8: the line holds U+FFFD replacement characters where bytes"
                           " that are not UTF-8 stood; fix the file and read it again"])
    return payload


def _not_json(record: RawRecord, exc: orjson.JSONDecodeError) -> str:
    """The reason a line does not decode: bytes that are not UTF-8 are named as such."""
    if isinstance(record.data, bytes):
        try:
            record.data.decode()
        except UnicodeDecodeError as bad:
            return f"not valid UTF-8: byte 0x{record.data[bad.start]:02x} at position {bad.start}"
    return f"invalid JSON: {exc}"


@hookimpl
def register_sources(register) -> None:
    """Register the caselog source."""
    register(CaselogSource)
