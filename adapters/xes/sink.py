"""The `xes` sink: evidence revisions appended as traces of one IEEE 1849-2016 XES log file."""

from __future__ import annotations

from pathlib import Path

from isobridge.core import (
    AdapterContext, AdapterOptions, CommittedFile, EvidenceItem, index_path, KeyIndex, ProcedureNames,
    SAMPLE_PROCEDURES, Sink, WriteResult
)

from .document import TRAILER, header, trace

_TRAILER = TRAILER.encode()


class XesOptions(AdapterOptions):
    """Options of `[sinks.NAME]` with `adapter = "xes"`."""

    path: Path
    """The .xes file (created with its folder when missing)."""
    log_name: str = "isobridge conformity evidence"
    procedures: Path | None = SAMPLE_PROCEDURES
    """Procedure folder for step names as activities (None: step codes)."""
    fsync: bool = True

    def outputs(self) -> list[Path]:
        """The files this sink writes (no two sinks may share one)."""
        return [self.path, index_path(self.path)]


class XesSink(Sink):
    """Appends one trace per evidence revision; the file is a complete XES log after every batch."""

    name = "xes"
    Options = XesOptions

    def __init__(self, options: XesOptions, context: AdapterContext):
        super().__init__(options, context)
        self.names = ProcedureNames.from_dir(options.procedures)
        path = Path(options.path)
        self.file = CommittedFile(path, context.state.get("offset"), options.fsync)
        self.index = KeyIndex(index_path(path), options.fsync)
        self.index.forget_after(self.file.offset)
        if self.file.offset == 0:
            self._commit(self.file.append(header(options.log_name).encode(), _TRAILER))
        else:
            self.file.append(b"", _TRAILER)

    def _commit(self, offset: int) -> None:
        self.file.commit(offset)
        self.context.state["offset"] = offset

    def _step_name(self, procedure: str, step: str, received_at: str) -> str:
        return self.names.step(procedure, step, received_at)

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Append the traces of the batch's new revisions; already written keys are acknowledged."""
        result = WriteResult()
        seen = self.index.seen([item.key for item in batch])
        texts: list[str] = []
        keys: list[str] = []
        for item in batch:
            key = item.key
            if key in seen:
                result.accepted.append(key)
                continue
            try:
                texts.append(trace(item.evidence, item.revision, self._step_name))
            except KeyError as exc:
                result.rejected[key] = f"evidence {key}: missing field {exc}"
                continue
            except (TypeError, ValueError, AttributeError) as exc:
                result.rejected[key] = f"evidence {key}: cannot be written as XES: {exc}"
                continue
            seen.add(key)
            keys.append(key)
            result.accepted.append(key)
        if keys:
            end = self.file.append("".join(texts).encode(), _TRAILER)
            self.index.add(keys, end)
            self._commit(end)
        return result

    def close(self) -> None:
        """Close the log file and the key index."""
        self.file.close()
        self.index.close()
