"""Make the screenshots of docs/quality-work.md: run `isobridge demo` in a scratch folder, then
photograph each document it writes with headless Chromium (the same flags the tests use).

Usage: python docs/make_screenshots.py   (writes docs/images/*.png; needs /usr/bin/chromium)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
SHOTS = {
    "report.html": ("report.png", 1600),
    "audit-sample.html": ("audit-sample.png", 1400),
    "coverage.html": ("coverage.png", 1400),
    "rollup.html": ("rollup.png", 1600),
}
"""Demo output → (image name, page height in pixels)."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """The browser's path, or exit saying it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit("make_screenshots: no chromium on PATH (apt-get install chromium)")
    return found


def shoot(browser: str, page: Path, image: Path, height: int) -> None:
    """One PNG of `page` at 1280 px wide."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}",
                        f"--screenshot={image}", page.as_uri()], check=True, capture_output=True, timeout=120)


def main() -> int:
    """Run the demo, then photograph its documents; the first control sheet too."""
    browser = chromium()
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        demo = Path(scratch) / "demo"
        subprocess.run([sys.executable, "-c", "import sys; from isobridge.core.cli import main; sys.exit(main())",
                        "demo", "--out", str(demo)], check=True,
                       capture_output=True)
        pages = {name: shot for name, shot in SHOTS.items() if (demo / name).exists()}
        sheet = sorted(demo.glob("phieu-kiem-soat-*.html"))[:1]
        pages.update({path.name: ("control-sheet.png", 1100) for path in sheet})
        for name, (image, height) in pages.items():
            shoot(browser, demo / name, IMAGES / image, height)
            print(f"docs/images/{image}  <- {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
