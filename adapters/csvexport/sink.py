"""The `csv` sink: evidence rows and step rows appended to two UTF-8 (BOM) CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from isobridge.core import (
    AdapterContext, AdapterOptions, CommittedFile, EvidenceItem, index_path, KeyIndex, Sink, WriteResult
)

from .rows import EVIDENCE_COLUMNS, STEP_COLUMNS, evidence_row, header, step_rows, to_csv


class CsvOptions(AdapterOptions):
    """Options of `[sinks.NAME]` with `adapter = "csv"`."""

    directory: Path
    """Folder of the two files (created when missing)."""
    evidence_file: str = "evidence.csv"
    steps_file: str = "steps.csv"
    delimiter: Literal[",", ";", "\t"] = ","
    """`;` suits spreadsheets set to a Vietnamese locale (decimal comma)."""
    fsync: bool = True

    def outputs(self) -> list[Path]:
        """The files this sink writes (no two sinks may share one)."""
        evidence = self.directory / self.evidence_file
        return [evidence, self.directory / self.steps_file, index_path(evidence)]


class CsvSink(Sink):
    """Appends an evidence row and its step rows per new revision; header written once per file."""

    name = "csv"
    Options = CsvOptions

    def __init__(self, options: CsvOptions, context: AdapterContext):
        super().__init__(options, context)
        folder = Path(options.directory)
        state = context.state
        self.evidence = CommittedFile(folder / options.evidence_file, state.get("evidence_offset"), options.fsync)
        marker = index_path(self.evidence.path)
        self.steps = CommittedFile(folder / options.steps_file, state.get("steps_offset"), options.fsync, marker)
        self.index = KeyIndex(index_path(self.evidence.path), options.fsync)
        self.index.forget_after(self.evidence.offset)
        if self.evidence.offset == 0:
            self.evidence.commit(self.evidence.append(header(EVIDENCE_COLUMNS, options.delimiter)))
        if self.steps.offset == 0:
            self.steps.commit(self.steps.append(header(STEP_COLUMNS, options.delimiter)))
        self._save_state()

    def _save_state(self) -> None:
        self.context.state["evidence_offset"] = self.evidence.offset
        self.context.state["steps_offset"] = self.steps.offset

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Append the rows of the batch's new revisions; already written keys are acknowledged."""
        result = WriteResult()
        seen = self.index.seen([item.key for item in batch])
        evidence_rows: list[list] = []
        steps: list[list] = []
        keys: list[str] = []
        for item in batch:
            key = item.key
            if key not in seen:
                try:
                    row, rows = evidence_row(key, item.revision, item.evidence), step_rows(key, item.revision, item.evidence)
                except KeyError as exc:
                    result.rejected[key] = f"evidence {key}: missing field {exc}"
                    continue
                except (TypeError, AttributeError) as exc:
                    result.rejected[key] = f"evidence {key}: malformed: {exc}"
                    continue
                seen.add(key)
                keys.append(key)
                evidence_rows.append(row)
                steps.extend(rows)
            result.accepted.append(key)
        if keys:
            self._append(evidence_rows, steps, keys)
        return result

    def _append(self, evidence_rows: list[list], steps: list[list], keys: list[str]) -> None:
        delimiter = self.options.delimiter
        evidence_end = self.evidence.append(to_csv(evidence_rows, delimiter))
        steps_end = self.steps.append(to_csv(steps, delimiter)) if steps else self.steps.offset
        self.index.add(keys, evidence_end)
        self.evidence.commit(evidence_end)
        self.steps.commit(steps_end)
        self._save_state()

    def close(self) -> None:
        """Close both files and the key index."""
        self.evidence.close()
        self.steps.close()
        self.index.close()
