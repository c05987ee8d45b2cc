"""The `check` answer of an HTTP source: reachable, authenticated, permitted, clock skew."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..adapters import CheckResult
from .client import HttpClient
from .errors import AuthenticationError, HttpError


def check_reachability(http: HttpClient, probe: Callable[[], Any], **extra: Any) -> CheckResult:
    """Run a cheap authenticated request and say: reachable, authenticated, permitted, clock skew."""
    details: dict[str, Any] = {"reachable": False, "authenticated": False, "permissions": False}
    try:
        answer = probe()  # False: reached but not allowed; a dict: more details
        details.update(reachable=True, authenticated=True, permissions=answer is not False)
        if isinstance(answer, dict):
            details.update(answer)
        ok, message = True, "ok"
    except AuthenticationError as exc:
        details["reachable"] = True
        ok, message = False, str(exc)
    except HttpError as exc:
        details["reachable"] = exc.status is not None
        details["authenticated"] = exc.status == 403
        ok, message = False, str(exc)
    details["clock_skew_seconds"] = http.clock_skew_seconds()
    details.update(extra)
    return CheckResult(ok, message, details)
