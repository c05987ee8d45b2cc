"""isobridge.core: the one place a plugin imports from (its test kit is `isobridge.testing`).

::

    from isobridge.core import RawRecord, RecordError, Source, hookimpl

Every name in :data:`__all__` is the plugin-facing API and keeps its meaning across minor
versions. The modules under `isobridge.core` (`adapters`, `http`, `ledger`, `engine`, …) are
internal: they move and change without notice, so a plugin (and every built-in adapter, which
is held to the same rule by `tests/test_face_imports.py` and import-linter) imports the names
below from here, never from `isobridge.core.<module>`.

Names load on first use (PEP 562), so `import isobridge.core` stays cheap: a plugin module
that only needs `hookimpl` does not pay for the HTTP client or the XML parser.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name → internal module that defines it (relative to this package).
_FACE: dict[str, str] = {
    # hooks and adapter contracts
    "hookimpl": "hookspecs", "Source": "adapters", "Sink": "adapters", "Page": "adapters",
    "RawRecord": "adapters", "AdapterOptions": "adapters", "AdapterContext": "adapters",
    "CheckResult": "adapters", "EvidenceItem": "adapters", "WriteResult": "adapters",
    # optional capabilities of a source (typing.Protocol, runtime-checkable) and what uses them
    "ReportsUnmapped": "adapters", "ReportsUnconfirmed": "adapters", "DraftsProcedures": "adapters",
    "check_mapping": "mapping_check", "unmapped_codes": "mapping_check", "MappingReport": "mapping_check",
    # the error tree (see docs/plugins.md)
    "IsobridgeError": "errors", "RecordError": "errors", "UnavailableError": "errors",
    "ConfigurationError": "errors", "SinkUnavailable": "adapters",
    # HTTP: the client the built-in adapters use, its options, auth and errors
    "HttpClient": "http", "HttpOptions": "http", "HttpError": "http", "HttpUnavailable": "http",
    "AuthenticationError": "http", "MalformedResponse": "http", "NoAuth": "http", "BasicAuth": "http",
    "BearerAuth": "http", "check_reachability": "http", "register_secret": "http", "redact_url": "http",
    "server_reason": "http",
    # paging: the guard against endless listings and one strategy per paging style
    "PageGuard": "paging", "RepeatedPage": "paging", "DEFAULT_MAX_PAGES": "paging", "Paging": "paging",
    "Answer": "paging", "PageNumberPaging": "paging", "OffsetPaging": "paging", "StartEndPaging": "paging",
    "RangePaging": "paging", "NextLinkPaging": "paging", "AfterCursorPaging": "paging", "SinglePage": "paging",
    "paging_for": "paging",
    # case-log vocabulary a mapping needs
    "EVENT_KINDS": "caselog", "HEADER_FIELDS": "merge", "nfc": "merge", "PERSONAL_FIELDS": "privacy", "Evidence": "models",
    # bounded reading of files, document folders and XML
    "MAX_LINE_BYTES": "files", "LineBlock": "files", "LineTooLong": "files", "check_folder": "files",
    "read_line_blocks": "files", "changed_documents": "files", "files_in": "files", "mark": "files",
    "load_cursor": "files", "dump_cursor": "files", "BOM": "caselog",
    "DocumentSourceOptions": "documents", "document_client": "documents", "document_folder": "documents",
    "XmlLimits": "xmlsafe", "XmlRejected": "xmlsafe", "iter_elements": "xmlsafe",
    "LIBXML_MAX_DEPTH": "xmlsafe",
    "XlsxError": "workbook", "sheet_rows": "workbook",
    "minimise_fragment": "minimise", "scrub_line": "minimise", "scrub_value": "minimise",
    # evidence outputs: exactly-once append files, the bundled procedures and their names
    "CommittedFile": "committed", "KeyIndex": "committed", "index_path": "committed",
    "SinkFileError": "committed",
    "SAMPLE_PROCEDURES": "samples", "ProcedureNames": "report.names", "csv_cell": "report.cells",
}

__all__ = sorted(_FACE)

# A name that differs from its name in its module.
_RENAMED = {"SAMPLE_PROCEDURES": "PROCEDURES", "csv_cell": "cell"}


def __getattr__(name: str) -> Any:
    """Load a face name from its internal module on first use."""
    module_name = _FACE.get(name)
    if module_name is None:
        raise AttributeError(f"module 'isobridge.core' has no attribute {name!r}")
    module = import_module(f".{module_name}", __name__)
    value = getattr(module, _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from .adapters import (AdapterContext, AdapterOptions, CheckResult, DraftsProcedures, EvidenceItem, Page,
                           RawRecord, ReportsUnconfirmed, ReportsUnmapped, Sink, SinkUnavailable, Source,
                           WriteResult)
    from .caselog import BOM, EVENT_KINDS
    from .committed import CommittedFile, KeyIndex, SinkFileError, index_path
    from .documents import DocumentSourceOptions, document_client, document_folder
    from .errors import ConfigurationError, IsobridgeError, RecordError, UnavailableError
    from .files import (MAX_LINE_BYTES, LineBlock, LineTooLong, changed_documents, check_folder, dump_cursor,
                        files_in, load_cursor, mark, read_line_blocks)
    from .hookspecs import hookimpl
    from .http import (AuthenticationError, BasicAuth, BearerAuth, HttpClient, HttpError, HttpOptions,
                       HttpUnavailable, MalformedResponse, NoAuth, check_reachability, redact_url,
                       register_secret, server_reason)
    from .mapping_check import MappingReport, check_mapping, unmapped_codes
    from .merge import HEADER_FIELDS, nfc
    from .minimise import minimise_fragment, scrub_line, scrub_value
    from .models import Evidence
    from .workbook import XlsxError, sheet_rows
    from .paging import (DEFAULT_MAX_PAGES, AfterCursorPaging, Answer, NextLinkPaging, OffsetPaging, PageGuard,
                         PageNumberPaging, Paging, RangePaging, RepeatedPage, SinglePage, StartEndPaging,
                         paging_for)
    from .privacy import PERSONAL_FIELDS
    from .report.cells import cell as csv_cell
    from .report.names import ProcedureNames
    from .samples import PROCEDURES as SAMPLE_PROCEDURES
    from .xmlsafe import LIBXML_MAX_DEPTH, XmlLimits, XmlRejected, iter_elements
