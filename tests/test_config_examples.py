"""Every example deployment in config/ loads and every adapter in it accepts its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from isobridge.core.plugins import load_plugins
from isobridge.core.settings import load_settings

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "config").glob("*.toml"))
SECRETS = {"password": "example-password", "token": "example-token"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configuration_is_valid(path: Path) -> None:
    settings = load_settings(path)
    registry = load_plugins()
    for table, kinds in ((settings.sources, registry.source), (settings.sinks, registry.sink)):
        for name, options in table.items():
            cls = kinds(options["adapter"])
            given = dict(options)
            for field, value in SECRETS.items():  # secrets come from the environment in real life
                if field in cls.Options.model_fields and field not in given:
                    given[field] = value
            if "auth" in given and isinstance(given["auth"], dict) and given["auth"].get("type") == "bearer":
                given["auth"] = {**given["auth"], "token": "example-token"}
            cls.Options.model_validate(given)
