"""The one exception tree of isobridge: what went wrong decides what happens next.

Internal module: plugins import its public names from `isobridge.core` (the face).

::

    IsobridgeError                 every expected failure; the CLI prints one line, no traceback
    ├── RecordError                one record cannot be processed: quarantine it, go on
    ├── UnavailableError           a source or sink cannot be used now: stop the run, keep the checkpoint
    │   ├── HttpError …            (isobridge.core.http)
    │   └── SinkUnavailable        (isobridge.core.adapters)
    ├── ConfigurationError         the settings, a mapping, a procedure or a calendar is wrong
    └── LockHeld                   another run holds the lock (exit 4)

The groups also derive from the built-in class they used to be (``ValueError`` or
``RuntimeError``), so code catching those keeps working.
"""

from __future__ import annotations


class IsobridgeError(Exception):
    """Root of every failure isobridge expects; anything else is a bug."""


class RecordError(IsobridgeError, ValueError):
    """A record cannot be processed; `errors` lists every reason. The record is quarantined."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class UnavailableError(IsobridgeError, RuntimeError):
    """A source or sink cannot be used now: the run stops and keeps its checkpoint."""


class ConfigurationError(IsobridgeError, ValueError):
    """The configuration (settings, mapping, profile, procedure, calendar) is invalid."""


class LockHeld(IsobridgeError, RuntimeError):
    """Another sync of the same deployment holds the lock."""
