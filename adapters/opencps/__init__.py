"""OpenCPS v2 source adapter (registered as `opencps`)."""

from isobridge.core import hookimpl

from .mapping import MappingError, OpenCPSMapping, load_mapping
from .procedures import draft_procedures
from .source import OpenCPSOptions, OpenCPSSource

__all__ = ["MappingError", "OpenCPSMapping", "OpenCPSOptions", "OpenCPSSource", "draft_procedures",
           "load_mapping"]


@hookimpl
def register_sources(register) -> None:
    """Register the `opencps` source."""
    register(OpenCPSSource)
