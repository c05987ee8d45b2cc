"""Declarative REST source adapter (registered as the source `rest`) and mapping checks."""

from isobridge.core import hookimpl

from .check import unmapped_codes
from .profile import Profile, ProfileError, load_profile
from .source import RestSource, RestSourceOptions

__all__ = ["Profile", "ProfileError", "RestSource", "RestSourceOptions", "load_profile", "unmapped_codes"]


@hookimpl
def register_sources(register) -> None:
    """Register the `rest` source."""
    register(RestSource)
