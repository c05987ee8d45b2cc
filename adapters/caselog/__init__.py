"""`caselog` source: case-log JSON Lines files in a folder, read incrementally.

New files and lines appended to known files are picked up by the next sync; each line is one
dossier (or a later, fuller copy of it: the ledger merges them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from isobridge.core.adapters import AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.files import check_folder, read_line_blocks
from isobridge.core.hookspecs import hookimpl


class LineRecord(RawRecord):
    """A case-log line: `data` holds its bytes; the payload text is decoded only when asked for
    (by the quarantine), which spares the sync's main process a decode per line."""

    def __init__(self, key: str, data: bytes):  # the dataclass __init__ would set `payload`
        self.key, self.data = key, data

    @property  # type: ignore[override]
    def payload(self) -> str:
        """The line as text (undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")


class CaselogOptions(AdapterOptions):
    """`[sources.NAME]` options of the caselog source."""

    folder: Path
    pattern: str = "*.jsonl"
    page_lines: int = 2000
    settle_seconds: float = 5.0


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
            yield Page([self._record(block.path, at, line) for at, line in zip(block.offsets, block.lines)], after)

    @staticmethod
    def _record(path: str, offset: int, line: bytes) -> RawRecord:
        return LineRecord(f"{path}:{offset}", line.rstrip(b"\r\n"))

    def map(self, record: RawRecord) -> list[dict]:
        """One line is one dossier in the canonical case-log shape, personal fields pseudonymised."""
        try:
            data = orjson.loads(record.data if record.data is not None else record.payload)
        except orjson.JSONDecodeError as exc:
            raise RecordError([f"invalid JSON: {exc}"]) from None
        if not isinstance(data, dict):
            raise RecordError([f"expected a JSON object, got {type(data).__name__}"])
        return [self.context.pseudonymizer.scrub_fragment(data)]

    def quarantine_payload(self, record: RawRecord) -> str:
        """The line with its personal fields pseudonymised (in a line that is not a JSON object,
        wherever a personal field can be found in its text)."""
        try:
            data = orjson.loads(record.payload)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return self.context.pseudonymizer.scrub_text(record.payload)
        return orjson.dumps(self.context.pseudonymizer.scrub_fragment(data)).decode()


@hookimpl
def register_sources(register) -> None:
    """Register the caselog source."""
    register(CaselogSource)
