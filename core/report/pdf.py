"""Print an HTML document to PDF with headless Chromium (the page size comes from the CSS @page).

The browser the sheet is designed and tested in prints it; no HTML-to-PDF Python library (and its
native dependencies) is needed, and what a clerk sees on Ctrl+P is what the file holds.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ConfigurationError, IsobridgeError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-pdf-header-footer")
TIMEOUT = 120


class PdfError(IsobridgeError):
    """Chromium did not print the PDF (the message has the end of its output)."""


def browser() -> str | None:
    """Path of an installed Chromium (None when there is none)."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, timeout: int = TIMEOUT) -> Path:
    """Print the HTML file `html` to `pdf` with headless Chromium; raises when it cannot."""
    chromium = browser()
    if chromium is None:
        raise ConfigurationError("--pdf needs Chromium: install it (apt-get install -y chromium)")
    pdf = pdf.resolve()
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="isobridge-chromium-") as profile:
        try:
            done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf}",
                                   html.resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{html}: Chromium did not print within {timeout} s") from None
    if not pdf.is_file() or not pdf.read_bytes().startswith(b"%PDF"):
        raise PdfError(f"{html}: Chromium printed no PDF (exit {done.returncode}): {done.stderr[-300:].strip()}")
    return pdf
