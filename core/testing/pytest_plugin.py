"""The pytest plugin of the vendor kit (registered through the `pytest11` entry point).

It adds `--isobridge-record` (record HTTP exchanges against the live system instead of replaying
them) and the `http_recording` fixture. The contract suites themselves are classes a test module
subclasses (:mod:`isobridge.core.testing`); they need no plugin to run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import pytest

RECORD_OPTION = "--isobridge-record"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--isobridge-record`."""
    group = parser.getgroup("isobridge")
    group.addoption(RECORD_OPTION, action="store_true", default=False,
                    help="record HTTP exchanges against the live systems (credentials from the environment)")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `isobridge_live` marker."""
    config.addinivalue_line("markers", "isobridge_live: needs a live system (runs only with --isobridge-record)")


def recording_mode(config: pytest.Config) -> bool:
    """True when this session records against live systems."""
    return bool(config.getoption(RECORD_OPTION, default=False))


@pytest.fixture
def http_recording(request: pytest.FixtureRequest):
    """Factory: ``http_recording(file, live_url_env, secrets_env=(), personal_keys=()) -> base URL``.

    Replay (default): the recorded exchanges in `file` are served by pytest-httpserver and its URL
    is returned. With `--isobridge-record`: the live URL is read from the environment variable
    `live_url_env`, the exchanges are recorded into `file` (scrubbed) and the live URL is returned.
    """
    from .recording import Recording, record

    stack = ExitStack()

    def start(file: str | Path, live_url_env: str, secrets_env: Iterable[str] = (),
              personal_keys: Iterable[str] = ()) -> str:
        if recording_mode(request.config):
            live = os.environ.get(live_url_env)
            if not live:
                pytest.skip(f"recording needs the live URL in ${live_url_env}")
            secrets = [os.environ[name] for name in secrets_env if os.environ.get(name)]
            stack.enter_context(record(live, file, secrets, personal_keys))
            return live
        if not Path(file).is_file():
            pytest.skip(f"no recording {file}: record it once with {RECORD_OPTION}")
        return Recording.load(file).serve(request.getfixturevalue("httpserver"))

    yield start
    stack.close()
