"""The `csv` sink plugin: evidence and step rows as CSV files for spreadsheet users."""

from isobridge.core import hookimpl


@hookimpl
def register_sinks(register) -> None:
    """Register :class:`~isobridge.adapters.csvexport.sink.CsvSink` as `csv`."""
    from .sink import CsvSink

    register(CsvSink)
