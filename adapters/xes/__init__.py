"""The `xes` sink plugin: conformity evidence as an IEEE 1849-2016 XES event log."""

from isobridge.core import hookimpl


@hookimpl
def register_sinks(register) -> None:
    """Register :class:`~isobridge.adapters.xes.sink.XesSink` as `xes`."""
    from .sink import XesSink

    register(XesSink)
