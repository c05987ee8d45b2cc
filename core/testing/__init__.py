"""The vendor kit: contract suites every adapter passes, fault injection, recordings, an end-to-end run.

::

    from isobridge.core.testing import SourceContract   # or: from isobridge.testing import …

    class TestMySource(SourceContract):
        adapter = MySource
        ...fixtures: options, bad_options, plant_malformed, plant_personal

See docs/writing-an-adapter.md.
"""

import pytest

pytest.register_assert_rewrite(
    "isobridge.core.testing.source", "isobridge.core.testing.sink", "isobridge.core.testing.http")

from ._support import KIT_PSEUDONYM_KEY, make_context, make_options, sample_evidence  # noqa: E402
from .e2e import KitPlugin, SyncOutcome, run_sync  # noqa: E402
from .http import (  # noqa: E402
    FaultInjector, HttpSinkContract, HttpSourceContract, KitTimeout, gzip_bomb, hostile_response, time_limit,
)
from .recording import Recording, Scrubber, record  # noqa: E402
from .sink import SinkContract  # noqa: E402
from .source import PERSONAL_VALUES, Pull, SourceContract  # noqa: E402

__all__ = [
    "FaultInjector", "HttpSinkContract", "HttpSourceContract", "KIT_PSEUDONYM_KEY", "KitPlugin", "KitTimeout",
    "PERSONAL_VALUES", "Pull", "Recording", "Scrubber", "SinkContract", "SourceContract", "SyncOutcome",
    "gzip_bomb", "hostile_response", "make_context", "make_options", "record", "run_sync", "sample_evidence",
    "time_limit",
]
