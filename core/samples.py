"""Paths of the bundled sample data: procedures, calendar and a case log.

Internal module: plugins import its public names from `isobridge.core` (the face).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DATA = Path(str(files("isobridge.core") / "data"))
PROCEDURES = DATA / "procedures"
"""Folder of sample ISO procedures (TOML)."""
CALENDAR = DATA / "calendar.toml"
"""Sample working calendar (Vietnam, 2015–2035)."""
CASES = DATA / "cases.jsonl"
"""Sample case log of a few hundred dossiers."""
