"""Credentials an adapter plugs into the client: none, HTTP Basic, a bearer token."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

if TYPE_CHECKING:
    from .client import HttpClient


class Auth(Protocol):
    """Credentials an adapter plugs into the client."""

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """Headers to send with every request (may log in first)."""

    def refresh(self, client: "HttpClient") -> bool:
        """Drop cached credentials after a refusal; True if retrying can help."""

    def secrets(self) -> list[str]:
        """Secret values to mask in every message."""


class NoAuth:
    """No credentials."""

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """No headers."""
        return {}

    def refresh(self, client: "HttpClient") -> bool:
        """Nothing to refresh."""
        return False

    def secrets(self) -> list[str]:
        """No secrets."""
        return []


class BasicAuth(NoAuth):
    """HTTP Basic credentials (a password's trailing line break, as a secret file has, is dropped)."""

    def __init__(self, username: str, password: SecretStr):
        self.given = password.get_secret_value()
        self.username, self.password = username.strip(), SecretStr(self.given.rstrip("\r\n"))

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """The Authorization header."""
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def secrets(self) -> list[str]:
        """The password (as given and as sent) and the encoded header value."""
        header = self.headers(None)["Authorization"][6:]  # type: ignore[arg-type]
        return [self.given, self.password.get_secret_value(), header]

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


class BearerAuth(NoAuth):
    """A fixed bearer token (surrounding whitespace, such as a secret file's line break, is dropped)."""

    def __init__(self, token: SecretStr):
        self.given = token.get_secret_value()
        self.token = SecretStr(self.given.strip())

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    def secrets(self) -> list[str]:
        """The token, as given and as sent."""
        return [self.given, self.token.get_secret_value()]

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"
